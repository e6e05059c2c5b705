"""The C++ core on its own: builds the C++ tests and the example host program with
CMake (no Python in them), runs ctest, and checks the example's output against the
Python API on a model made on the fly.

Needs the source checkout and a C++ toolchain; the build is cached in build/ctest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import ortnative as ortn
import pytest
from ortnative import _ortlib, models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "ctest")


def require_tool(*names: str) -> str:
    """The path of the first of NAMES on PATH. When none is there: a skip saying so, or,
    under CI, a failure (CI must run the C++ suite, as it must the native backend)."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    what = " or ".join(names)
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the C++ suite, but {what} is not on PATH")
    pytest.skip(f"{what} is not on PATH")


@pytest.fixture(scope="module")
def built() -> str:
    if not os.path.exists(os.path.join(ROOT, "CMakeLists.txt")):
        pytest.skip("needs the source checkout (e.g. when testing an installed wheel)")
    require_tool("cmake")
    require_tool("ctest")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    lib = _ortlib.candidates()
    cfg = [
        "cmake",
        "-S",
        ROOT,
        "-B",
        BUILD,
        *gen,
        "-DCMAKE_BUILD_TYPE=Release",
        "-DORTNATIVE_BUILD_PYTHON=OFF",
        "-DORTNATIVE_BUILD_TESTS=ON",
        "-DORTNATIVE_BUILD_EXAMPLES=ON",
        "-DORTNATIVE_WERROR=ON",
        f"-DPython3_EXECUTABLE={sys.executable}",
    ]
    if lib:
        cfg.append(f"-DORTNATIVE_TEST_ORT_LIBRARY={lib[0]}")
    for cmd in (cfg, ["cmake", "--build", BUILD, "--parallel"]):
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return BUILD


def test_ctest(built):
    proc = subprocess.run(
        ["ctest", "--test-dir", built, "--output-on-failure", "--timeout", "300"],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "100% tests passed" in proc.stdout


def _example(built: str) -> str:
    for sub in ("cpp/examples/ortnative-run", "cpp/examples/ortnative-run.exe"):
        path = os.path.join(built, sub)
        if os.path.exists(path):
            return path
    raise AssertionError("ortnative-run was not built")


def test_example_matches_python(built, tmp_path):
    path = tmp_path / "mlp.onnx"
    path.write_bytes(models.mlp())
    lib = _ortlib.candidates()
    cmd = [_example(built), str(path), "--bench", "20"]
    if lib:
        cmd += ["--ort-library", lib[0]]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"^y: float32 \(1, 10\) \[([^\]]*)\]", proc.stdout, re.MULTILINE)
    assert m, proc.stdout
    printed = [float(v) for v in m.group(1).split(",") if v.strip() != "..."]
    # The example feeds x = (i % 7) as float32, free dims 1.
    x = (np.arange(256) % 7).astype(np.float32)[None]
    want = ortn.Session(models.mlp()).run({"x": x})["y"][0, : len(printed)]
    np.testing.assert_allclose(printed, want, rtol=1e-5)
    assert re.search(r"bench: 20 runs, median [\d.]+ us, p99 [\d.]+ us", proc.stdout)


@pytest.fixture(scope="module")
def installed(built) -> str:
    """`cmake --install` of the C++ package (component cpp) into a prefix."""
    prefix = os.path.join(ROOT, "build", "ctest-install")
    shutil.rmtree(prefix, ignore_errors=True)
    proc = subprocess.run(
        ["cmake", "--install", built, "--prefix", prefix, "--component", "cpp"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for rel in (
        "include/ortnative/ortnative.hpp",
        "lib/cmake/ortnative/ortnativeConfig.cmake",
        "lib/pkgconfig/ortnative.pc",
    ):
        assert os.path.exists(os.path.join(prefix, rel)) or os.path.exists(
            os.path.join(prefix, rel.replace("lib/", "lib64/"))
        ), rel
    return prefix


def _run_example(exe: str, model: str) -> str:
    lib = _ortlib.candidates()
    cmd = [exe, model, *(["--ort-library", lib[0]] if lib else [])]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_example_against_installed_package(installed, tmp_path):
    # The example as a project of its own: find_package(ortnative CONFIG) from the
    # install prefix, not the build tree.
    build = tmp_path / "example-build"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    for cmd in (
        [
            "cmake",
            "-S",
            os.path.join(ROOT, "cpp", "examples"),
            "-B",
            str(build),
            *gen,
            f"-DCMAKE_PREFIX_PATH={installed}",
            "-DCMAKE_BUILD_TYPE=Release",
        ],
        ["cmake", "--build", str(build)],
    ):
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    model = tmp_path / "two.onnx"
    model.write_bytes(models.two_inputs())
    exe = str(build / "ortnative-run")
    out = _run_example(exe, str(model))
    # Inputs a, b are float32 [1, 3] filled with i % 7: a = b = (0, 1, 2).
    a = (np.arange(3) % 7).astype(np.float32)[None]
    want = ortn.Session(models.two_inputs()).run({"a": a, "b": a})
    assert f"sum: float32 (1, 3) [{', '.join(f'{v:g}' for v in want['sum'][0])}]" in out
    assert f"prod: float32 (1, 3) [{', '.join(f'{v:g}' for v in want['prod'][0])}]" in out


def test_pkg_config_build(installed, tmp_path):
    require_tool("pkg-config")
    compiler = require_tool("c++", "g++")
    pc_dir = os.path.join(installed, "lib", "pkgconfig")
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "ortnative"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PKG_CONFIG_PATH": pc_dir},
    ).stdout.split()
    exe = str(tmp_path / "ortnative-run-pc")
    src = os.path.join(ROOT, "cpp", "examples", "ortnative_run.cpp")
    proc = subprocess.run(
        [compiler, "-O1", src, "-o", exe, *flags],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = tmp_path / "mlp.onnx"
    model.write_bytes(models.mlp())
    assert "y: float32 (1, 10)" in _run_example(exe, str(model))


def test_example_reports_errors(built, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    lib = _ortlib.candidates()
    extra = ["--ort-library", lib[0]] if lib else []
    proc = subprocess.run(
        [_example(built), str(bad), *extra], check=False, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "ModelLoadError" in proc.stderr
    proc = subprocess.run(
        [_example(built), str(bad), "--ort-library", str(bad)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "RuntimeLoadError" in proc.stderr


@pytest.mark.parametrize("ci", ["", "true"])
def test_missing_cmake_fails_under_ci(ci, tmp_path):
    # The C++ suite in a child pytest whose PATH holds no cmake: a skip naming cmake
    # outside CI, a failure under CI.
    env = {**os.environ, "PATH": str(tmp_path), "CI": ci}
    test = f"{os.path.abspath(__file__)}::test_ctest"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    if ci:
        assert proc.returncode == 1, out
        assert "CI must run the C++ suite, but cmake is not on PATH" in out
        assert "1 error" in out
    else:
        assert proc.returncode == 0, out
        assert "SKIPPED" in out
        assert "cmake is not on PATH" in out
        assert "1 skipped" in out
