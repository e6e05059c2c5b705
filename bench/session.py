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

What is fair: every row computes on one intra-op thread. Rows that allocate their
output per call (``onnxruntime run``, ``ortnative``, ``ortnative fallback``, ``C++
floor: core, fresh output``, ``C++ floor: ORT C API, ORT-allocated output``) compare
with each other; rows that write into an output made once (``onnxruntime iobinding``,
``ortnative out=``, ``C++ floor: core, same output (out=)``, ``C++ floor: ORT C API,
pre-bound output``) with each other. The table's output column says which is which.
The C++ floor rows are timed in the same rounds as the Python rows: the floor binary
runs beside the benchmark (``--serve``) and, on its turn in each round, times CALLS
calls and sends their times back (bench/common.py, ``external``), so that a floor and
what it bounds see the same machine. A floor slower than the row it bounds (machine
noise) is called out in the notes.

Also: the time to ``import ortnative`` and ``import onnxruntime`` in a fresh
interpreter (median of several).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np
import ortnative as ortn
from common import (
    ROOT,
    Row,
    plot_ratios,
    time_interleaved,
    write_results,
)
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
    "big": (30, 10, 20),  # many short rounds: the variants take turns more often
}
BASELINE = "onnxruntime run"
THREADS = "1 (intra-op)"
FRESH = "new array per call"
KEPT = "made once, reused"
# variant -> (what it writes its output into, plot group)
OUTPUTS = {
    "onnxruntime run": ("new arrays per call (ORT-allocated)", "Python, allocates per call"),
    "onnxruntime iobinding": (
        f"pre-bound OrtValue {KEPT} (not fetched)",
        "Python, output made once",
    ),
    "ortnative": (FRESH, "Python, allocates per call"),
    "ortnative out=": (f"out= array {KEPT}", "Python, output made once"),
    "ortnative fallback": ("new arrays per call (onnxruntime's)", "Python, allocates per call"),
    "C++ floor: core, fresh output": ("new buffer per call", "C++ floor, allocates per call"),
    "C++ floor: core, same output (out=)": (f"buffer {KEPT}", "C++ floor, output made once"),
    "C++ floor: ORT C API, ORT-allocated output": (
        "ORT-allocated, released per call",
        "C++ floor, allocates per call",
    ),
    "C++ floor: ORT C API, pre-bound output": (
        f"pre-bound OrtValue {KEPT}",
        "C++ floor, output made once",
    ),
}
FLOOR_MODES = [
    ("C++ floor: core, fresh output", "core-fresh"),
    ("C++ floor: core, same output (out=)", "core-prealloc"),
    ("C++ floor: ORT C API, ORT-allocated output", "c-ort"),
    ("C++ floor: ORT C API, pre-bound output", "c-prealloc"),
]
# (floor, the row it bounds): the same work with nothing of Python's on top.
BOUNDS = [
    ("C++ floor: core, fresh output", "ortnative"),
    ("C++ floor: core, same output (out=)", "ortnative out="),
    ("C++ floor: ORT C API, pre-bound output", "ortnative out="),
    ("C++ floor: ORT C API, pre-bound output", "onnxruntime iobinding"),
    ("C++ floor: ORT C API, ORT-allocated output", "onnxruntime run"),
]
# The hot-path target (issue 10): out= within this factor of the C API, pre-bound.
HOT_PATH_TARGET = 1.2


class FloorServer:
    """The C++ floor (bench/cpp/floor.cpp) running beside the benchmark in ``--serve``
    mode: it times calls on request, so its rows share the Python rows' rounds."""

    def __init__(self, binary: str, model: str, dims: dict[str, int], threads: int = 1):
        args = [binary, model, "--serve", "--threads", str(threads)]
        args += [a for k, v in dims.items() for a in ("--dim", f"{k}={v}")]
        lib = ortn._ortlib.candidates()
        if lib:
            args += ["--ort-library", lib[0]]
        # stderr carries an error message or the final checksum line: small enough
        # for the pipe, read when the process has ended.
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def ask(self, line: str) -> dict[str, Any]:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        try:
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
            reply = self._proc.stdout.readline()
        except BrokenPipeError:
            reply = ""
        if not reply:
            _, err = self._proc.communicate(timeout=10)
            raise RuntimeError(f"C++ floor failed on {line!r}: {err.strip()}")
        return json.loads(reply)  # type: ignore[no-any-return]

    def check(self, mode: str) -> np.ndarray:
        return np.asarray(self.ask(f"check {mode}")["out"], np.float32)

    def timer(self, mode: str) -> Any:
        """A bench/common.py ``external`` variant: n -> n per-call times in ns."""
        return lambda n: np.asarray(self.ask(f"time {mode} {n}")["ns"], np.float64)

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write("quit\n")
                self._proc.stdin.flush()
            except BrokenPipeError:
                pass
            self._proc.communicate(timeout=30)


def floor_feeds(plain: Any, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The floor's inputs (bench/cpp/floor.cpp: input i, element j = i + (j % 97) * 0.01,
    in float32 arithmetic), to check its outputs against onnxruntime's."""
    feeds = {}
    for i, inp in enumerate(plain.get_inputs()):
        shape = shapes[inp.name]
        j = (np.arange(int(np.prod(shape))) % 97).astype(np.float32)
        feeds[inp.name] = (np.float32(i) + j * np.float32(0.01)).reshape(shape)
    return feeds


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
    server = None
    external: dict[str, Any] = {}
    if floor is not None:
        server = FloorServer(floor, path, dims)
        floor_want = plain.run(None, floor_feeds(plain, shapes))[0].ravel()
        for label, mode in FLOOR_MODES:
            if not np.allclose(server.check(mode), floor_want, rtol=1e-5, atol=1e-6):
                server.close()
                raise SystemExit(f"{case}: {label} disagrees with onnxruntime; not timing it")
            external[label] = server.timer(mode)
    rounds, calls, warmup = BUDGET[size]
    try:
        stats = time_interleaved(
            variants,
            rounds=rounds,
            calls=max(1, calls // scale),
            warmup=warmup // scale,
            progress=case,
            external=external,
        )
    finally:
        if server is not None:
            server.close()
    native.close()
    fallback.close()
    return [
        Row(case, name, st, threads=THREADS, output=OUTPUTS[name][0]) for name, st in stats.items()
    ]


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
        m = {v: t for (c, v), t in med.items() if c == case}
        ort_run, iob = m.get("onnxruntime run"), m.get("onnxruntime iobinding")
        nat, nat_out, fb = m.get("ortnative"), m.get("ortnative out="), m.get("ortnative fallback")
        f_fresh = m.get("C++ floor: core, fresh output")
        f_pre = m.get("C++ floor: core, same output (out=)")
        c_pre = m.get("C++ floor: ORT C API, pre-bound output")
        parts = []
        if ort_run and nat:
            parts.append(f"allocating: ortnative is {ort_run / nat:.2f}x onnxruntime run's speed")
        if iob and nat_out:
            parts.append(
                f"output made once: ortnative out= is {iob / nat_out:.2f}x onnxruntime "
                "iobinding's speed"
            )
        if f_fresh and nat:
            parts.append(f"ortnative takes {nat / f_fresh:.2f}x the C++ core floor (fresh output)")
        if f_pre and nat_out:
            parts.append(f"out= {nat_out / f_pre:.2f}x the C++ core floor (same output)")
        if c_pre and nat_out:
            verdict = "within" if nat_out <= HOT_PATH_TARGET * c_pre else "NOT within"
            parts.append(
                f"out= {nat_out / c_pre:.2f}x the ORT C API with a pre-bound output, {verdict} "
                f"the {HOT_PATH_TARGET}x target"
            )
        if ort_run and fb:
            parts.append(f"the fallback takes {fb / ort_run:.2f}x onnxruntime's time")
        if parts:
            notes.append(f"{case}: " + "; ".join(parts) + ".")
        for fl, bounded in BOUNDS:
            if fl in m and bounded in m and m[fl] > m[bounded]:
                notes.append(
                    f"{case}: WARNING: the floor '{fl}' ({m[fl]:.2f} us) is slower than "
                    f"'{bounded}' ({m[bounded]:.2f} us), which it bounds, by "
                    f"{m[fl] / m[bounded] - 1:.1%}: machine noise (compare the p25-p75 "
                    "spreads); do not quote this pair from this run."
                )
    if imports:
        notes.append(
            "import time (fresh interpreter, median of 7, -X importtime): "
            + ", ".join(f"`import {k}` {v:.1f} ms" for k, v in imports.items())
            + "."
        )
    return notes


def plot(rows: list[Row], quick: bool) -> Any:
    """The PNG: every row's speed against onnxruntime run, per case."""
    med = {(r.case, r.variant): r.stats.median_us for r in rows if r.stats}
    groups: dict[str, list[tuple[str, float, str]]] = {}
    for r in rows:
        base = med.get((r.case, BASELINE))
        if r.stats and base:
            groups.setdefault(r.case, []).append(
                (r.variant, base / r.stats.median_us, OUTPUTS[r.variant][1])
            )
    return lambda path: plot_ratios(
        path,
        title="Session.run per-call latency, 1 intra-op thread: speed vs onnxruntime run",
        xlabel="speed vs InferenceSession.run (ratio of medians; > 1 is faster)",
        groups=groups,
        quick=quick,
    )


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
        "bench/cpp/floor.cpp, same model, its output checked against onnxruntime, timed "
        "with steady_clock in a helper process that takes its turn in the same rounds as "
        "the Python rows. Compare rows with the same output column kind: allocating per "
        "call with allocating, output made once with output made once."
    )
    cmd = "python bench/run.py session" + (" --quick" if args.quick else "")
    paths = write_results(
        "session",
        rows,
        method=method,
        baseline=BASELINE,
        notes=notes,
        meta={"command": cmd, "imports_ms": imports},
        quick=args.quick,
        plot=plot(rows, args.quick),
    )
    with open(paths[1]) as f:
        print(f.read())
    print("wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
