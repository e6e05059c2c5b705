"""Runs the exit suite (tests/test_exit.py) on every Python on this machine that the
wheels are built for, not only the one running this script.

  python tools/exit_matrix.py [--python PATH ...] [--keep DIR]

Which Pythons: the CPython versions `[tool.cibuildwheel] build` names in pyproject.toml
other than the one running this script (the README's test command covers it), found as `python3.X` on PATH or under pyenv's versions directory (or those given with
--python). For each: a fresh virtualenv, ortnative built and installed from this
checkout with the test dependencies the suite needs, then the exit suite run from the
source tree with CI=true (so the native backend must load). How a program ends differs
between Python versions (3.14 hangs the threads that 3.10-3.13 end with pthread_exit),
which is why this runs on each of them. Exit status 1 if any fails; a Python the
project supports but the machine lacks is listed, not counted.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def supported_versions() -> list[str]:
    """'3.10', '3.11', ... from [tool.cibuildwheel] build = "cp310-* cp311-* ..."."""
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r'^build\s*=\s*"([^"]*)"', text, re.MULTILINE)
    assert m, "pyproject.toml has no [tool.cibuildwheel] build line"
    return [f"{t[0]}.{t[1:]}" for t in re.findall(r"cp(\d{3,4})-", m.group(1))]


def find_python(version: str) -> str | None:
    candidates = [shutil.which(f"python{version}")]
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(
        glob.glob(os.path.join(pyenv, "versions", f"{version}.*", "bin", "python3"))
    )
    for c in candidates:
        if not c:
            continue
        proc = subprocess.run(
            [c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip() == version:
            return c
    return None


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]


def check(python: str, work: str) -> tuple[bool, str]:
    venv = os.path.join(work, "venv")
    steps = [
        [python, "-m", "venv", venv],
        [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet", "-U", "pip"],
        [
            os.path.join(venv, "bin", "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            ROOT,
            "pytest",
            "onnx",
        ],
    ]
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    for cmd in steps:
        proc = run(cmd, env=env, timeout=1800)
        if proc.returncode != 0:
            return False, f"{' '.join(cmd[:4])} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    # From a copy of tests/ outside the source tree, so `import ortnative` is the
    # installed package, built for this Python.
    tests = os.path.join(work, "tests")
    shutil.copytree(os.path.join(ROOT, "tests"), tests, ignore=shutil.ignore_patterns("fuzz"))
    proc = run(
        [
            os.path.join(venv, "bin", "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            work,
            "-c",
            os.devnull,
            os.path.join(tests, "test_exit.py"),
        ],
        env=dict(env, CI="true"),
        cwd=work,
        timeout=1800,
    )
    return proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", action="append", help="an interpreter to test (repeatable)")
    p.add_argument("--keep", help="keep the virtualenvs in this directory")
    args = p.parse_args()
    if args.python:
        pythons = [(None, path) for path in args.python]
    else:
        here = f"{sys.version_info[0]}.{sys.version_info[1]}"  # the main suite runs on it
        pythons = [(v, find_python(v)) for v in supported_versions() if v != here]
    work_root = args.keep or tempfile.mkdtemp(prefix="ortnative-exit-matrix-")
    failed = []
    for version, path in pythons:
        if path is None:
            print(f"python {version}: not on this machine (supported, not tested here)")
            continue
        t0 = time.monotonic()
        work = os.path.join(work_root, os.path.basename(os.path.dirname(os.path.dirname(path))))
        os.makedirs(work, exist_ok=True)
        ok, log = check(path, work)
        tail = log.strip().splitlines()[-1] if log.strip() else ""
        print(f"{path}: {'ok' if ok else 'FAILED'} in {time.monotonic() - t0:.0f} s: {tail}")
        if not ok:
            print(log)
            failed.append(path)
    if not args.keep:
        shutil.rmtree(work_root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
