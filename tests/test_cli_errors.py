"""Bad input to the ``ortnative`` command: a one-line error on stderr that names what was
wrong, a non-zero exit status (2 for usage, 1 for a model or runtime error), never a
traceback, and the same words on both backends.

CASES is the CLI's part of the catalogue in docs/bad-inputs.md (see tools/catalogue.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
from conftest import require_backend


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the bad input, in words
    args: tuple[str, ...]  # "{bad}" is replaced by the path of a file of garbage bytes
    status: int  # exit status
    exc: str  # the error's type as printed ("usage" for an argument error)
    match: str  # regular expression the last line of stderr must match


CASES = [
    Case(
        "cli-no-command",
        "no subcommand",
        (),
        2,
        "usage",
        r"^ortnative: error: the following arguments are required: command$",
    ),
    Case(
        "cli-unknown-command",
        "a subcommand that does not exist",
        ("bogus",),
        2,
        "usage",
        r"^ortnative: error: argument command: invalid choice: 'bogus' "
        r"\(choose from '?demo'?, '?info'?, '?version'?, '?run'?, '?serve'?\)$",
    ),
    Case(
        "cli-runs",
        "demo --runs 0",
        ("demo", "--runs", "0"),
        2,
        "usage",
        r"^ortnative demo: error: argument --runs: must be an int >= 1, got '0'$",
    ),
    Case(
        "cli-warmup",
        "demo --warmup -1",
        ("demo", "--warmup", "-1"),
        2,
        "usage",
        r"^ortnative demo: error: argument --warmup: must be an int >= 0, got '-1'$",
    ),
    Case(
        "cli-threads",
        "demo --threads that is not a number",
        ("demo", "--threads", "many"),
        2,
        "usage",
        r"^ortnative demo: error: argument --threads: must be an int >= 0, got 'many'$",
    ),
    Case(
        "cli-backend",
        "a backend that does not exist",
        ("demo", "--backend", "gpu"),
        2,
        "usage",
        r"^ortnative demo: error: argument --backend: invalid choice: 'gpu' "
        r"\(choose from '?native'?, '?python'?\)$",
    ),
    Case(
        "cli-info-no-model",
        "info without a model path",
        ("info",),
        2,
        "usage",
        r"^ortnative info: error: the following arguments are required: model$",
    ),
    Case(
        "cli-info-missing",
        "info on a file that does not exist",
        ("info", "no-such-model.onnx"),
        1,
        "ModelLoadError",
        r"^ortnative: ModelLoadError: model 'no-such-model\.onnx': model file "
        r"'no-such-model\.onnx' does not exist$",
    ),
    Case(
        "cli-info-corrupt",
        "info on a file that is not a model",
        ("info", "{bad}"),
        1,
        "ModelLoadError",
        r"^ortnative: ModelLoadError: model 'garbage\.onnx': loading '.*garbage\.onnx' failed: ",
    ),
    Case(
        "cli-run-no-program",
        "run without a program",
        ("run",),
        2,
        "usage",
        r"^ortnative: error: run: name a script, or -m and a module$",
    ),
    Case(
        "cli-run-missing-script",
        "run with a script that does not exist",
        ("run", "no-such-script.py", "--flag"),
        2,
        "usage",
        r"^ortnative: error: run: can't open file '.*no-such-script\.py': no such file or "
        r"directory$",
    ),
    Case(
        "cli-run-missing-module",
        "run -m with a module that cannot be found",
        ("run", "-m", "no_such_module.main"),
        2,
        "usage",
        r"^ortnative: error: run: no module named 'no_such_module\.main'$",
    ),
    Case(
        "cli-run-m-without-module",
        "run -m with no module name",
        ("run", "-m"),
        2,
        "usage",
        r"^ortnative: error: run: -m needs a module name$",
    ),
    Case(
        "cli-run-option-before-program",
        "run with an option before the program",
        ("run", "--fast", "script.py"),
        2,
        "usage",
        r"^ortnative: error: run: unknown option '--fast' \(the program's options go after it\)$",
    ),
]


def _run(case: Case, backend: str, tmp: str) -> subprocess.CompletedProcess[str]:
    bad = f"{tmp}/garbage.onnx"
    with open(bad, "wb") as f:
        f.write(b"\x00garbage, not a model")
    args = [a.replace("{bad}", bad) for a in case.args]
    return subprocess.run(
        [sys.executable, "-m", "ortnative", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
        env={**os.environ, "ORTNATIVE_BACKEND": backend},  # the backend the command uses
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, backend: str, tmp_path) -> None:
    proc = _run(case, backend, str(tmp_path))
    assert proc.returncode == case.status, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert re.search(case.match, last), last
    if case.exc != "usage":
        assert last.startswith(f"ortnative: {case.exc}: ")


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.status == 1], ids=[c.id for c in CASES if c.status == 1]
)
def test_same_message_on_both_backends(case: Case, tmp_path) -> None:
    require_backend("native")
    native = _run(case, "native", str(tmp_path)).stderr
    python = _run(case, "python", str(tmp_path)).stderr
    # ORT's own words after "failed: " come from one library in both backends, but the
    # Python package words a parse failure its own way; the part that is ours must match.
    assert native.split(" failed: ")[0] == python.split(" failed: ")[0]
