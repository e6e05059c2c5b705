"""Per-call latency of Session.run: ortnative against the plain onnxruntime ways.

Cases: (a) y = x + 1 on float32 [1, 4] (pure per-call overhead); (b) an MLP
256-256-256-10 at batch 1 and 32; (c) a small CNN on 1x3x224x224. Every runtime uses
one intra-op thread.

Variants:
- ``onnxruntime run``: ``InferenceSession.run(None, feeds)``, the usual way.
- ``onnxruntime iobinding``: ``run_with_iobinding`` with input and output OrtValues
  bound once (no per-call conversion at all: the best plain onnxruntime offers).
- ``ortnative``: ``ortnative.Session.run(feeds)`` (native backend).
- ``ortnative out=``: the same writing into a preallocated output.
- ``ortnative fallback``: the pure-Python backend (``backend="python"``).
- ``C++ floor: ...``: the same loop in C++ with no Python in the process
  (bench/cpp/floor.cpp): through the ortnative core into a fresh output buffer per
  call (what ``ortnative`` does), into the same buffer (what ``out=`` does), and
  through ORT's C API alone with ORT-allocated or pre-bound outputs.

Also: the time to ``import ortnative`` and ``import onnxruntime`` in a fresh
interpreter (median of several).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np
import ortnative as ortn
from common import ROOT, Row, Stats, run_json, time_interleaved, write_results
from ortnative import models

CASES = {
    "y=x+1 [1,4]": (lambda: models.add_one((1, 4)), {"x": (1, 4)}, {}, "tiny"),
    "MLP b1": (lambda: models.mlp(), {"x": (1, 256)}, {"N": 1}, "small"),
    "MLP b32": (lambda: models.mlp(), {"x": (32, 256)}, {"N": 32}, "small"),
    "CNN 1x3x224x224": (lambda: models.small_cnn(), {"image": (1, 3, 224, 224)}, {"N": 1}, "big"),
}
BUDGET = {  # rounds, calls per round, warm-up
    "tiny": (20, 2000, 2000),
    "small": (20, 1000, 1000),
    "big": (10, 30, 20),
}
FLOOR_MODES = [
    ("C++ floor: core, fresh output", "core-fresh"),
    ("C++ floor: core, same output (out=)", "core-prealloc"),
    ("C++ floor: ORT C API, ORT-allocated output", "c-ort"),
    ("C++ floor: ORT C API, pre-bound output", "c-prealloc"),
]


def build_floor(target: str = "ortnative-floor") -> str | None:
    """Builds TARGET of bench/cpp (default floor.cpp) against the core; returns the binary
    or None."""
    build = os.path.join(ROOT, "build", "bench")
    cmake = shutil.which("cmake")
    if cmake is None:
        return None
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    try:
        subprocess.run(
            [
                cmake,
                "-S",
                ROOT,
                "-B",
                build,
                *gen,
                "-DCMAKE_BUILD_TYPE=Release",
                "-DORTNATIVE_BUILD_BENCH=ON",
                "-DORTNATIVE_BUILD_PYTHON=OFF",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [cmake, "--build", build, "--target", target],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        print(f"  (C++ floor not built: {exc.stderr.strip()[-500:]})", file=sys.stderr)
        return None
    for sub in (f"bench/cpp/{target}", f"bench/cpp/{target}.exe"):
        path = os.path.join(build, sub)
        if os.path.exists(path):
            return path
    return None


def import_time(module: str, repeats: int = 7) -> float:
    """Median milliseconds to import MODULE in a fresh interpreter (-X importtime)."""
    times = []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in proc.stderr.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 3 and parts[2] == module:
                times.append(int(parts[1]) / 1000)
    return float(np.median(times))


def bench_case(
    case: str,
    model: bytes,
    shapes: dict[str, tuple[int, ...]],
    dims: dict[str, int],
    size: str,
    scale: int,
    floor: str | None,
    tmp: str,
) -> list[Row]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    path = os.path.join(tmp, "model.onnx")
    with open(path, "wb") as f:
        f.write(model)
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}
    plain = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    native = ortn.Session(model, intra_op_threads=1, backend="native")
    fallback = ortn.Session(model, intra_op_threads=1, backend="python")
    out_name = plain.get_outputs()[0].name
    want = plain.run(None, feeds)[0]
    out = {out_name: np.empty_like(want)}
    io = plain.io_binding()
    for k, v in feeds.items():
        io.bind_ortvalue_input(k, ort.OrtValue.ortvalue_from_numpy(v))
    bound_out = ort.OrtValue.ortvalue_from_numpy(np.empty_like(want))
    io.bind_ortvalue_output(out_name, bound_out)
    variants: dict[str, Any] = {
        "onnxruntime run": lambda: plain.run(None, feeds),
        "onnxruntime iobinding": lambda: plain.run_with_iobinding(io),
        "ortnative": lambda: native.run(feeds),
        "ortnative out=": lambda: native.run(feeds, out=out),
        "ortnative fallback": lambda: fallback.run(feeds),
    }
    # Check first: every variant must give plain onnxruntime's answer.
    checks = {
        "onnxruntime iobinding": lambda: (plain.run_with_iobinding(io), bound_out.numpy())[1],
        "ortnative": lambda: native.run(feeds)[out_name],
        "ortnative out=": lambda: native.run(feeds, out=out)[out_name],
        "ortnative fallback": lambda: fallback.run(feeds)[out_name],
    }
    for name, check in checks.items():
        if not np.allclose(check(), want, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"{case}: {name} disagrees with onnxruntime; not timing it")
    rounds, calls, warmup = BUDGET[size]
    stats = time_interleaved(
        variants,
        rounds=rounds,
        calls=max(1, calls // scale),
        warmup=warmup // scale,
        progress=case,
    )
    rows = [Row(case, name, st) for name, st in stats.items()]
    if floor is not None:
        dim_args = [a for k, v in dims.items() for a in ("--dim", f"{k}={v}")]
        env = dict(os.environ)
        lib = ortn._ortlib.candidates()
        if lib:
            env["ORTNATIVE_ORT_LIBRARY"] = lib[0]
        for label, mode in FLOOR_MODES:
            res = run_json(
                [
                    floor,
                    path,
                    "--mode",
                    mode,
                    "--iters",
                    str(rounds * calls // scale),
                    "--warmup",
                    str(warmup // scale),
                    "--threads",
                    "1",
                    *dim_args,
                ],
                env=env,
            )
            rows.append(
                Row(
                    case,
                    label,
                    Stats(
                        n=res["n"],
                        median_us=res["median_ns"] / 1e3,
                        p99_us=res["p99_ns"] / 1e3,
                        p25_us=res["p25_ns"] / 1e3,
                        p75_us=res["p75_ns"] / 1e3,
                        mean_us=res["mean_ns"] / 1e3,
                    ),
                )
            )
    native.close()
    fallback.close()
    return rows


def run(args: argparse.Namespace) -> list[Row]:
    scale = 10 if args.quick else 1
    rows: list[Row] = []
    floor = None if args.no_floor else build_floor()
    tmp = tempfile.mkdtemp(prefix="ortnative-bench-")
    try:
        for case, (build, shapes, dims, size) in CASES.items():
            if args.cases and not any(c in case for c in args.cases):
                continue
            rows += bench_case(case, build(), shapes, dims, size, scale, floor, tmp)
            print(f"  {case}: done", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def summarize(rows: list[Row], imports: dict[str, float]) -> list[str]:
    med = {(r.case, r.variant): r.stats.median_us for r in rows if r.stats}
    notes = []
    for case in dict.fromkeys(r.case for r in rows):
        ort_run = med.get((case, "onnxruntime run"))
        nat, nat_out = med.get((case, "ortnative")), med.get((case, "ortnative out="))
        fb = med.get((case, "ortnative fallback"))
        f_fresh = med.get((case, "C++ floor: core, fresh output"))
        f_pre = med.get((case, "C++ floor: core, same output (out=)"))
        parts = []
        if ort_run and nat:
            parts.append(f"ortnative is {ort_run / nat:.2f}x onnxruntime's speed")
        if f_fresh and nat:
            parts.append(f"{nat / f_fresh:.2f}x the C++ core floor (fresh output)")
        if f_pre and nat_out:
            parts.append(f"out= {nat_out / f_pre:.2f}x the C++ core floor (same output)")
        if ort_run and fb:
            parts.append(f"the fallback takes {fb / ort_run:.2f}x onnxruntime's time")
        if parts:
            notes.append(f"{case}: " + "; ".join(parts) + ".")
    if imports:
        notes.append(
            "import time (fresh interpreter, median of 7, -X importtime): "
            + ", ".join(f"`import {k}` {v:.1f} ms" for k, v in imports.items())
            + "."
        )
    return notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a tenth of the samples (smoke run)")
    p.add_argument("--no-floor", action="store_true", help="skip building the C++ floor")
    p.add_argument("--cases", nargs="*", help="only cases whose name contains one of these")
    args = p.parse_args(argv)
    if ortn.backend != "native":
        raise SystemExit(f"the session benchmark needs the native backend: {ortn.native_error}")
    rows = run(args)
    imports = {m: import_time(m) for m in ("ortnative", "onnxruntime")}
    notes = summarize(rows, imports)
    method = (
        "Per-call latency, one intra-op thread everywhere. Method: bench/common.py (check "
        "against onnxruntime first, warm-up, interleaved rounds, each call timed alone, "
        "timer cost subtracted, median/p99/IQR over a fixed sample count). C++ floor rows: "
        "bench/cpp/floor.cpp, same model and input, timed with steady_clock in a separate "
        "process."
    )
    cmd = "python bench/run.py session" + (" --quick" if args.quick else "")
    j, m = write_results(
        "session",
        rows,
        method=method,
        baseline="onnxruntime run",
        notes=notes,
        meta={"command": cmd, "imports_ms": imports},
    )
    with open(m) as f:
        print(f.read())
    print(f"wrote {j} and {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
