"""Real programs end, promptly, whatever they hold: each script in tests/exit_scripts/ is
run as a program of its own (``python SCRIPT``) on each backend and must exit as Python
does, within 10 s, with nothing lost and no noise from ortnative's threads.

What each script leaves behind at exit is in its docstring: a Session, an
ImagePreprocessor, a Scheduler in a module global (open, closed, with requests queued,
running, futures nobody waits for), daemon threads inside ``Session.run`` and
``Scheduler.run``, an asyncio loop closed with ``infer()`` calls pending, ``sys.exit()``
in a done-callback, ``close()`` from a signal handler, an ``atexit`` handler, a weakref
callback and the scheduler's own thread, a scheduler made after ortnative's exit
handler, and SIGTERM / SIGINT while requests are in flight. The rules they prove are in
python/ortnative/_exit.py and cpp/python/gil.hpp; README "Exit" sums them up.

``tools/exit_matrix.py`` runs this module on every other Python on the machine that the
wheels are built for.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "exit_scripts")
LIMIT_S = 10.0
# Never acceptable on stderr: an abort, a crash, a hang report.
FATAL = ("terminate called", "Fatal Python error", "Segmentation fault", "core dumped")

# script -> what its stdout must match (regular expressions, each somewhere in it).
EXPECT: dict[str, list[str]] = {
    "session_global": [r"\[\[1\.0, 1\.0, 1\.0, 1\.0\]\]"],
    "preprocessor_global": [r"^7$"],
    "scheduler_open": [r"\[\[1\.0, 1\.0, 1\.0, 1\.0\]\]"],
    "scheduler_closed": [r"closed True"],
    # Queued at exit: closed without drain (the first one may have started).
    "scheduler_queued": [
        r"submitted 50",
        r"ended 50 of 50: (SchedulerClosedError \d+)?(, )?(result \d+)?$",
    ],
    # (running 0 only if the machine was too busy to start it within 5 s: then it
    # still ends with its result)
    "scheduler_running": [r"running [01]", r"ended 1 of 1: result 1$"],
    "futures_unwaited": [r"ended 1000 of 1000: (SchedulerClosedError \d+)?(, )?(result \d+)?$"],
    "daemon_session_run": [r"main thread done"],
    "daemon_scheduler_run": [r"main thread done"],
    "asyncio_pending": [r"first done True", r"loop closed"],
    "sys_exit_callback": [r"results 200 not done 0", r"sys.exit\(\) on a scheduler thread [1-9]"],
    "signal_close": [r"closed by the handler True", r"ended (\d+) of \1: result \1$"],
    "atexit_close": [r"ended 300 of 300: result 300$"],
    "weakref_close": [
        r"closed by weakref callback True",
        r"result \[\[1\.0, 1\.0, 1\.0, 1\.0\]\]",
        r"ended 20 of 20: result 20$",
    ],
    "created_late": [r"main done", r"late result \[\[1\.0, 1\.0, 1\.0, 1\.0\]\]"],
}


def run_script(
    name: str, backend: str, *args: str, signal_after_ready: int | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Runs tests/exit_scripts/NAME.py on BACKEND; optionally sends a signal once it
    prints "ready". Returns the finished process and its wall time. A script still
    running after LIMIT_S gets SIGABRT (faulthandler then prints every thread's stack)."""
    env = dict(os.environ, ORTNATIVE_BACKEND=backend, PYTHONFAULTHANDLER="1")
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, os.path.join(SCRIPTS, f"{name}.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    if signal_after_ready is not None:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready": requests are in flight
        assert line.strip() == "ready", line
        proc.send_signal(signal_after_ready)
    try:
        out, err = proc.communicate(timeout=max(0.1, LIMIT_S - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"{name}.py did not exit within {LIMIT_S} s on {backend}; stacks:\n{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), (
        time.monotonic() - start
    )


def assert_quiet(proc: subprocess.CompletedProcess[str], tracebacks: int = 0) -> None:
    for bad in FATAL:
        assert bad not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.count("Traceback") == tracebacks, proc.stderr[-3000:]
    assert "Exception in thread" not in proc.stderr, proc.stderr[-3000:]
    assert "Exception ignored" not in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_script_exits(backend, name):
    proc, took = run_script(name, backend)
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stderr[-3000:]}"
    assert_quiet(proc)
    for pattern in EXPECT[name]:
        assert re.search(pattern, proc.stdout, re.MULTILINE), (pattern, proc.stdout)
    assert took < LIMIT_S


def python_own_status(sig: int) -> int:
    """How a plain Python program (no ortnative) ends on SIG while it sleeps."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    return proc.returncode


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_while_requests_in_flight(backend, sig):
    proc, took = run_script("signal_inflight", backend, signal_after_ready=sig)
    assert proc.returncode == python_own_status(sig), proc.stderr[-3000:]
    # SIGTERM kills at once; SIGINT is KeyboardInterrupt in the main thread: Python's
    # own traceback of it, and no other.
    assert_quiet(proc, tracebacks=1 if sig == signal.SIGINT else 0)
    if sig == signal.SIGINT:
        assert proc.stderr.rstrip().endswith("KeyboardInterrupt"), proc.stderr[-3000:]
    assert took < LIMIT_S


def test_every_script_is_tested():
    scripts = {f[:-3] for f in os.listdir(SCRIPTS) if f.endswith(".py") and f != "exitlib.py"}
    assert scripts == {*EXPECT, "signal_inflight"}
