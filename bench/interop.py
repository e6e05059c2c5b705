"""PyTorch next to ONNX Runtime: the per-call cost of one model with torch tensors in and
out, in PyTorch itself and through ONNX Runtime.

The model is examples/pytorch_to_ortnative.py's TinyNet (three conv-BN-ReLU blocks, global
pooling, a linear head; 3x64x64 inputs, 10 logits), exported once with
``torch.onnx.export`` (dynamic batch). Cases: batch 1 and batch 16. Every variant takes a
torch tensor and gives a torch tensor, as a service running a PyTorch model next to an
ONNX one would; one thread everywhere (``torch.set_num_threads(1)``, ORT intra-op 1):

- ``PyTorch eager``: ``model(x)`` under ``torch.inference_mode()``, the baseline.
- ``torch.compile``: the same model compiled (inductor); where it cannot run here the
  table says so and why.
- ``onnxruntime, .numpy() round trip``: ``torch.from_numpy(sess.run(None, {"x":
  x.numpy()})[0])`` (``.numpy()`` and ``from_numpy`` share memory: no copies, but Python
  work per call).
- ``onnxruntime IOBinding, torch pointers``: onnxruntime at its best with torch tensors:
  input and a preallocated output bound by their data pointers, ``run_with_iobinding``.
- ``ortnative, .numpy() round trip``: ``torch.from_numpy(s.run({"x": x.numpy()})[name])``.
- ``ortnative, DLPack in and out``: ``torch.from_dlpack(s.run({"x": x})[name])``.
- ``ortnative, DLPack in, out= tensor``: ``s.run({"x": x}, out={name: y})`` into a
  preallocated torch tensor.

Fair comparisons: rows with the same ``output`` column (new tensor per call against new
tensor per call, preallocated against preallocated); all on one thread. Before timing,
every variant's logits are compared with PyTorch's (the example's tolerance).

Method otherwise as bench/common.py. ``--quick`` writes bench/results/interop.quick.*
(never the committed interop.json/.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import ortnative as ortn
from common import ROOT, Row, plot_ratios, time_interleaved, write_results

EXAMPLE = os.path.join(ROOT, "examples", "pytorch_to_ortnative.py")
BASELINE = "PyTorch eager"
COMPILED = "torch.compile"
CASES = {"TinyNet b1": 1, "TinyNet b16": 16}
BUDGET = {1: (20, 300, 300), 16: (20, 40, 40)}  # rounds, calls per round, warm-up
NEW, PRE = "new tensor", "preallocated"


def example() -> Any:
    spec = importlib.util.spec_from_file_location("pytorch_to_ortnative", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build() -> tuple[Any, bytes, Any]:
    """(the torch model, its ONNX bytes, the example module)."""
    for needed in ("torch", "onnxscript"):
        if importlib.util.find_spec(needed) is None:
            raise SystemExit(f"the interop benchmark needs {needed}: pip install -e '.[test]'")
    ex = example()
    model = ex.make_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tinynet.onnx")
        ex.export(model, path)
        with open(path, "rb") as f:
            return model, f.read(), ex


def _compiled(model: Any, x: Any) -> tuple[Callable[[], Any] | None, str]:
    """torch.compile(model) warmed up on X, or None and why it cannot run here."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn = torch.compile(model)
            with torch.inference_mode():
                fn(x)
    except Exception as exc:  # noqa: BLE001 - any failure means: does not run here
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, f"did not run here: {type(exc).__name__}: {text[:120]}"

    def call() -> Any:
        with torch.inference_mode():
            return fn(x)

    return call, ""


def bench_case(case: str, model: Any, onnx: bytes, ex: Any, batch: int, scale: int) -> list[Row]:
    import onnxruntime as ort
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, ex.SIZE, ex.SIZE, generator=gen)
    name = "logits"
    with torch.inference_mode():
        want = model(x)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    plain = ort.InferenceSession(onnx, so, providers=["CPUExecutionProvider"])
    s = ortn.Session(onnx, intra_op_threads=1, inter_op_threads=1, backend="native")
    y_ort = torch.empty(batch, ex.CLASSES)
    y_ortn = torch.empty(batch, ex.CLASSES)
    binding = plain.io_binding()
    binding.bind_input("x", "cpu", 0, np.float32, list(x.shape), x.data_ptr())
    binding.bind_output(name, "cpu", 0, np.float32, list(y_ort.shape), y_ort.data_ptr())

    def eager() -> Any:
        with torch.inference_mode():
            return model(x)

    def iobinding() -> Any:
        plain.run_with_iobinding(binding)
        return y_ort

    variants: dict[str, Callable[[], Any]] = {BASELINE: eager}
    compiled, why = _compiled(model, x)
    if compiled is not None:
        variants[COMPILED] = compiled
    variants.update(
        {
            "onnxruntime, .numpy() round trip": lambda: torch.from_numpy(
                plain.run(None, {"x": x.numpy()})[0]
            ),
            "onnxruntime IOBinding, torch pointers": iobinding,
            "ortnative, .numpy() round trip": lambda: torch.from_numpy(
                s.run({"x": x.numpy()})[name]
            ),
            "ortnative, DLPack in and out": lambda: torch.from_dlpack(s.run({"x": x})[name]),
            "ortnative, DLPack in, out= tensor": lambda: s.run({"x": x}, out={name: y_ortn})[name],
        }
    )
    for variant, fn in variants.items():
        got = fn()
        if not torch.allclose(got, want, atol=ex.ATOL, rtol=ex.RTOL):
            raise SystemExit(f"{case}: {variant} disagrees with PyTorch; not timing it")
    rounds, calls, warmup = BUDGET[batch]
    stats = time_interleaved(
        variants, rounds=rounds, calls=max(1, calls // scale), warmup=warmup // scale, progress=case
    )
    rows = []
    for variant, st in stats.items():
        out = PRE if "IOBinding" in variant or "out=" in variant else NEW
        rows.append(Row(case, variant, st, threads="1", output=out))
        if variant == BASELINE and compiled is None:
            rows.append(Row(case, COMPILED, None, note=why, threads="1", output=NEW))
    s.close()
    return rows


def summarize(rows: list[Row]) -> list[str]:
    med = {(r.case, r.variant): r.stats.median_us for r in rows if r.stats}
    notes = []
    for case in dict.fromkeys(r.case for r in rows):
        base = med.get((case, BASELINE))
        dl = med.get((case, "ortnative, DLPack in and out"))
        rt = med.get((case, "ortnative, .numpy() round trip"))
        plain = med.get((case, "onnxruntime, .numpy() round trip"))
        if base and dl:
            part = (
                f"{case}: ortnative with DLPack in and out runs at {base / dl:.2f}x PyTorch eager"
            )
            if plain:
                part += f", {plain / dl:.2f}x onnxruntime's run with .numpy() round trips"
            if rt:
                part += f" (DLPack vs .numpy() round trip through ortnative: {rt - dl:+.2f} us)"
            notes.append(part + ".")
        skipped = next((r for r in rows if r.case == case and r.stats is None), None)
        if skipped is not None:
            notes.append(f"{case}: {skipped.variant} {skipped.note}.")
    return notes


def plot(rows: list[Row], quick: bool) -> Any:
    groups: dict[str, list[tuple[str, float, str]]] = {}
    for case in dict.fromkeys(r.case for r in rows):
        rs = [r for r in rows if r.case == case and r.stats]
        base = next((r.stats.median_us for r in rs if r.variant == BASELINE), None)
        if base:
            groups[case] = [
                (
                    r.variant,
                    base / r.stats.median_us,
                    "ortnative" if "ortnative" in r.variant else "baseline",
                )
                for r in rs
            ]
    return lambda path: plot_ratios(
        path,
        title="torch tensors in and out: speed vs PyTorch eager (one thread)",
        xlabel="speed vs PyTorch eager (ratio of medians; > 1 is faster)",
        groups=groups,
        quick=quick,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a tenth of the samples (smoke run)")
    p.add_argument("--cases", nargs="*", help="only cases whose name contains one of these")
    args = p.parse_args(argv)
    if ortn.backend != "native":
        raise SystemExit(f"the interop benchmark needs the native backend: {ortn.native_error}")
    scale = 10 if args.quick else 1
    model, onnx, ex = build()
    rows: list[Row] = []
    for case, batch in CASES.items():
        if args.cases and not any(c in case for c in args.cases):
            continue
        rows += bench_case(case, model, onnx, ex, batch, scale)
        print(f"  {case}: done", file=sys.stderr)
    method = (
        "Per-call latency with torch tensors in and out, one thread everywhere; method: "
        "bench/common.py (check against PyTorch first, warm-up, interleaved rounds, each "
        "call timed alone, timer cost subtracted, median/p99/IQR over a fixed sample count)."
    )
    cmd = "python bench/run.py interop" + (" --quick" if args.quick else "")
    paths = write_results(
        "interop",
        rows,
        method=method,
        baseline=BASELINE,
        notes=summarize(rows),
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
