"""Real libraries, unchanged, on ortnative: each program in tests/compat_programs/ uses a
library from the package registry that ships an ONNX model in its wheel (silero-vad,
magika) or makes one locally (scikit-learn + skl2onnx) and calls
``onnxruntime.InferenceSession`` itself. Each runs three ways in a fresh interpreter:
plain, under ``python -m ortnative run``, and after ``ortnative.compat.install()``, on
both backends; the outputs must equal plain onnxruntime's, and the sessions must be
ortnative's (on ortnative itself, except where the README's table says onnxruntime).

The libraries are test extras; nothing is downloaded at test time (their models are
inside their wheels, the scikit-learn data is synthetic).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest

PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compat_programs")

# program -> (modules it needs, expected delegation per session on the native backend)
CASES = {
    "silero_vad": (("silero_vad", "torch"), [None]),
    "magika": (("magika",), [None]),
    "sklearn": (("sklearn", "skl2onnx"), [None, None, None]),
}


def _require(modules: tuple[str, ...]) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        why = f"{', '.join(missing)} not installed (test extra: pip install '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the library compat tests: {why}")
        pytest.skip(why)


_INSTALL_THEN_RUN = (
    "import runpy, sys; from ortnative import compat; compat.install(); "
    "sys.argv = [sys.argv[1]]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def _run(name: str, how: str, backend: str | None) -> dict[str, Any]:
    script = os.path.join(PROGRAMS, f"{name}_prog.py")
    args = {
        "plain": [script],
        "run": ["-m", "ortnative", "run", script],
        "install": ["-c", _INSTALL_THEN_RUN, script],
    }[how]
    env = dict(os.environ)
    env.pop("ORTNATIVE_BACKEND", None)
    if backend is not None:
        env["ORTNATIVE_BACKEND"] = backend
    proc = subprocess.run(
        [sys.executable, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=PROGRAMS,
    )
    assert proc.returncode == 0, f"{name} ({how}, {backend}) failed:\n{proc.stderr[-4000:]}"
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def _same(a: Any, b: Any, path: str = "") -> None:
    """Equal structures; floats equal to 1e-6 relative (the same ORT build computes
    them, so they are normally identical)."""
    if isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7), f"{path}: {a} != {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict), path
        assert sorted(a) == sorted(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list), path
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


_plain: dict[str, dict[str, Any]] = {}


@pytest.mark.parametrize("how", ["run", "install"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_library_runs_unchanged(name: str, how: str, backend: str) -> None:
    modules, delegations = CASES[name]
    _require(modules)
    if name not in _plain:
        _plain[name] = _run(name, "plain", None)
    plain = _plain[name]
    assert all(mod.startswith("onnxruntime") for mod, _ in plain["sessions"]), plain["sessions"]
    got = _run(name, how, backend)
    assert [mod for mod, _ in got["sessions"]] == ["ortnative.compat"] * len(delegations)
    for (_, reason), want in zip(got["sessions"], delegations, strict=True):
        if backend == "native" and want is not None:
            assert want in (reason or ""), got["sessions"]
        else:
            assert reason is None, got["sessions"]
    _same(plain["result"], got["result"])
