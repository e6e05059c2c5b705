"""The compat layer's cost: ``ortnative.compat.InferenceSession.run`` against
``onnxruntime.InferenceSession.run``, per call and on a real library end to end.

Per-call cases, one intra-op thread everywhere: (a) y = x + 1 on float32 [1, 4] (pure
per-call overhead: the issue's bar is compat >= 1.8x onnxruntime here), (b) an MLP
256-256-256-10 at batch 1 and 32, (c) silero-vad's model on one chunk (its 3 inputs and
2 outputs, in one process: the per-call part of the end-to-end case). Variants:

- ``onnxruntime run``: ``onnxruntime.InferenceSession.run(None, feeds)``, the baseline.
- ``compat run``: ``ortnative.compat.InferenceSession.run(None, feeds)`` (native backend),
  the same call the same program makes after ``compat.install()``.
- ``compat run [names]``: with the output names given, ``run(["y"], feeds)``.
- ``ortnative Session.run``: ``ortnative.Session.run(feeds)`` (dict out), for reference:
  the gap to it is what the list-returning wrapper costs.

End to end: silero-vad over 60 s of synthetic audio (bench/compat_silero.py: 1,875
``session.run`` calls per pass, each with silero's own torch pre/post-processing), run
as is and under ``python -m ortnative run``, each in fresh processes alternating A B A B
(ROUNDS processes each, PASSES timed passes per process after a warm-up). The
statistic is per pass (60 s of audio); per call = pass / 1,875. Before timing, both
give the same probabilities (compared exactly).

Method otherwise as bench/common.py. ``--quick`` writes bench/results/compat.quick.*
(never the committed compat.json/.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import ortnative as ortn
from common import ROOT, Row, Stats, plot_ratios, time_interleaved, write_results
from ortnative import compat, models


def _normal(shapes: dict[str, tuple[int, ...]]) -> Callable[[], dict[str, np.ndarray]]:
    def make() -> dict[str, np.ndarray]:
        rng = np.random.default_rng(0)
        return {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}

    return make


def _silero_model() -> bytes | None:
    try:
        import silero_vad
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(silero_vad.__file__), "data", "silero_vad.onnx")
    with open(path, "rb") as f:
        return f.read()


def _silero_chunk() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "input": (0.1 * rng.standard_normal((1, 576))).astype(np.float32),
        "state": np.zeros((2, 1, 128), np.float32),
        "sr": np.array(16000, np.int64),
    }


CASES: dict[str, tuple[Callable[[], bytes | None], Callable[[], dict[str, np.ndarray]], str]] = {
    "y=x+1 [1,4]": (lambda: models.add_one((1, 4)), _normal({"x": (1, 4)}), "tiny"),
    "MLP b1": (lambda: models.mlp(), _normal({"x": (1, 256)}), "small"),
    "MLP b32": (lambda: models.mlp(), _normal({"x": (32, 256)}), "small"),
    # the model of the end-to-end case, one 32 ms chunk: 3 inputs, 2 outputs
    "silero-vad model, one chunk": (_silero_model, _silero_chunk, "medium"),
}
BUDGET = {  # rounds, calls per round, warm-up
    "tiny": (20, 2000, 2000),
    "small": (20, 1000, 1000),
    "medium": (20, 200, 200),
}
SILERO = os.path.join(ROOT, "bench", "compat_silero.py")
E2E = "silero-vad, 60 s audio (per pass)"
SILERO_ROUNDS, SILERO_PASSES = 6, 3


def bench_case(
    case: str, model: bytes, feeds: dict[str, np.ndarray], size: str, scale: int
) -> list[Row]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    cso = compat.SessionOptions()
    cso.intra_op_num_threads = 1
    cso.log_severity_level = 3
    plain = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    shim = compat.InferenceSession(model, cso, providers=["CPUExecutionProvider"], backend="native")
    if shim.ortnative_session is None:
        raise SystemExit(
            f"{case}: the compat session went to onnxruntime ({shim.ortnative_delegation})"
        )
    native = ortn.Session(model, intra_op_threads=1, backend="native")
    out_name = plain.get_outputs()[0].name
    want = plain.run(None, feeds)[0]
    checks = {
        "compat run": lambda: shim.run(None, feeds)[0],
        "compat run [names]": lambda: shim.run([out_name], feeds)[0],
        "ortnative Session.run": lambda: native.run(feeds)[out_name],
    }
    for name, check in checks.items():
        if not np.allclose(check(), want, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"{case}: {name} disagrees with onnxruntime; not timing it")
    names = [out_name]
    variants: dict[str, Any] = {
        "onnxruntime run": lambda: plain.run(None, feeds),
        "compat run": lambda: shim.run(None, feeds),
        "compat run [names]": lambda: shim.run(names, feeds),
        "ortnative Session.run": lambda: native.run(feeds),
    }
    rounds, calls, warmup = BUDGET[size]
    stats = time_interleaved(
        variants, rounds=rounds, calls=max(1, calls // scale), warmup=warmup // scale, progress=case
    )
    native.close()
    return [Row(case, name, st) for name, st in stats.items()]


def _silero(args: list[str], passes: int, probs: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, *args, SILERO, str(passes)] + (["--probs", probs] if probs else [])
    env = dict(os.environ)
    env.pop("ORTNATIVE_BACKEND", None)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def bench_silero(quick: bool) -> list[Row]:
    try:
        import silero_vad  # noqa: F401
    except ImportError:
        print(
            "  (silero-vad not installed: pip install '.[test]'; end-to-end case skipped)",
            file=sys.stderr,
        )
        return []
    # "onnxruntime run": the program as is (the table's baseline).
    ways = {"onnxruntime run": [], "python -m ortnative run": ["-m", "ortnative", "run"]}
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, args in ways.items():
            path = os.path.join(tmp, f"{len(results)}.npy")
            info = _silero(args, 1, path)
            results[name] = (np.load(path), info)
        (a, _), (b, ib) = results.values()
        if not np.array_equal(a, b):
            raise SystemExit("silero-vad: ortnative run's probabilities differ; not timing it")
        if ib["session"] != "ortnative.compat" or ib["delegation"] is not None:
            raise SystemExit(f"silero-vad under ortnative run did not run on ortnative: {ib}")
    rounds, passes = (2, 1) if quick else (SILERO_ROUNDS, SILERO_PASSES)
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    calls = 0
    for r in range(rounds):
        for name, args in ways.items():
            info = _silero(args, passes)
            seconds[name] += info["seconds"]
            calls = info["calls"]
        print(f"  silero-vad: round {r + 1}/{rounds}", file=sys.stderr)
    case = E2E
    rows = []
    for name, secs in seconds.items():
        st = Stats.of(np.asarray(secs) * 1e9)
        rows.append(
            Row(
                case, name, st, extra={"calls_per_pass": calls, "per_call_us": st.median_us / calls}
            )
        )
    return rows


def run_case(case: str) -> bool:
    """The end-to-end case (whole program runs), not a per-call one."""
    return case == E2E


def summarize(rows: list[Row]) -> list[str]:
    med = {(r.case, r.variant): r.stats.median_us for r in rows if r.stats}
    notes = []
    for case in dict.fromkeys(r.case for r in rows):
        base = med.get((case, "onnxruntime run"))
        shim, native = med.get((case, "compat run")), med.get((case, "ortnative Session.run"))
        if base and shim and not run_case(case):
            part = f"{case}: compat run is {base / shim:.2f}x onnxruntime's speed"
            if native:
                part += f" (ortnative Session.run {base / native:.2f}x; the list wrapper costs {shim - native:+.2f} us)"
            notes.append(part + ".")
        plain = med.get((case, "onnxruntime run"))
        run = med.get((case, "python -m ortnative run"))
        if plain and run and run_case(case):
            calls = next(r.extra["calls_per_pass"] for r in rows if r.case == case)
            notes.append(
                f"{case}: under `python -m ortnative run` {plain / run:.3f}x as fast "
                f"({(plain - run) / calls:+.2f} us per call of {plain / calls:.1f} us; the "
                "rest is silero's own torch work per chunk and the model itself)."
            )
    return notes


def plot(rows: list[Row], quick: bool) -> Any:
    """The suite's PNG: speed vs onnxruntime's run per case (bench/common.plot_ratios)."""
    groups: dict[str, list[tuple[str, float, str]]] = {}
    for case in dict.fromkeys(r.case for r in rows):
        rs = [r for r in rows if r.case == case and r.stats]
        base = next((r.stats.median_us for r in rs if r.variant == "onnxruntime run"), None)
        if base:
            groups[case] = [
                (
                    r.variant,
                    base / r.stats.median_us,
                    "ortnative" if "ortn" in r.variant or "compat" in r.variant else "baseline",
                )
                for r in rs
            ]
    return lambda path: plot_ratios(
        path,
        title="compat.InferenceSession.run: speed vs onnxruntime's InferenceSession.run",
        xlabel="speed vs onnxruntime (ratio of medians; > 1 is faster)",
        groups=groups,
        quick=quick,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a tenth of the samples (smoke run)")
    p.add_argument("--cases", nargs="*", help="only cases whose name contains one of these")
    p.add_argument("--no-silero", action="store_true", help="skip the end-to-end case")
    args = p.parse_args(argv)
    if ortn.backend != "native":
        raise SystemExit(f"the compat benchmark needs the native backend: {ortn.native_error}")
    scale = 10 if args.quick else 1
    rows: list[Row] = []
    for case, (build, make_feeds, size) in CASES.items():
        if args.cases and not any(c in case for c in args.cases):
            continue
        model = build()
        if model is None:
            print(f"  ({case}: silero-vad not installed: pip install '.[test]')", file=sys.stderr)
            continue
        rows += bench_case(case, model, make_feeds(), size, scale)
        print(f"  {case}: done", file=sys.stderr)
    if not args.no_silero and (not args.cases or any("silero" in c for c in args.cases)):
        rows += bench_silero(args.quick)
    notes = summarize(rows)
    method = (
        "Per-call latency, one intra-op thread everywhere; method: bench/common.py (check "
        "against onnxruntime first, warm-up, interleaved rounds, each call timed alone, "
        "timer cost subtracted, median/p99/IQR over a fixed sample count). silero-vad: "
        "wall time of one pass over 60 s of audio (1,875 calls) in fresh processes, plain "
        "and under `python -m ortnative run` alternately (bench/compat_silero.py)."
    )
    cmd = "python bench/run.py compat" + (" --quick" if args.quick else "")
    paths = write_results(
        "compat",
        rows,
        method=method,
        baseline="onnxruntime run",
        notes=notes,
        meta={"command": cmd},
        quick=args.quick,
        plot=plot(rows, args.quick),
    )
    md = next(p for p in paths if p.endswith(".md"))
    with open(md) as f:
        print(f.read())
    print("wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
