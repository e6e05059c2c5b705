"""From PyTorch to ortnative: the first step of the ONNX deployment flow.

A small image classifier written with torch.nn is exported to ONNX with
``torch.onnx.export`` (the torch.export-based exporter, with a dynamic batch dimension),
loaded by ortnative, and run on torch tensors through DLPack (no copies in or out); its
outputs must equal PyTorch's within the tolerance below, for several batch sizes.

    python examples/pytorch_to_ortnative.py [--out model.onnx] [--backend native|python]

Needs ``torch`` and ``onnxscript`` (the exporter's ONNX builder); nothing is downloaded.
Exit status 0 when every batch matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from typing import Any

import ortnative as ortn
import torch
from torch import nn

#: How close ortnative's outputs must be to PyTorch's: float32 results of the same
#: network computed by other kernels (ONNX Runtime's MLAS vs PyTorch's oneDNN) differ in
#: the last bits, so equal means |ort - torch| <= ATOL + RTOL * |torch|, elementwise.
ATOL = 1e-5
RTOL = 1e-4
#: Input images: 3 x SIZE x SIZE, float32 (already preprocessed).
SIZE = 64
CLASSES = 10


class TinyNet(nn.Module):
    """Conv-BN-ReLU blocks, global average pooling, a linear head: a small CNN of the
    kind that preprocessed camera frames feed (about 25k parameters)."""

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

        self.features = nn.Sequential(block(3, 16), block(16, 32), block(32, 64))
        self.head = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(x.mean(dim=(2, 3)))


def make_model(seed: int = 0) -> TinyNet:
    """TinyNet with fixed random weights (and non-trivial BatchNorm statistics), in
    inference mode."""
    torch.manual_seed(seed)
    model = TinyNet()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def export(model: nn.Module, path: str) -> None:
    """Writes MODEL to PATH as ONNX with a dynamic batch dimension: input "x"
    (batch, 3, SIZE, SIZE), output "logits" (batch, CLASSES)."""
    example = (torch.randn(2, 3, SIZE, SIZE),)
    with warnings.catch_warnings():
        # torch's exporter warns about its own internals (deprecated pytree helpers).
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            example,
            dynamo=True,  # torch.export, then onnxscript builds the graph: offline
            input_names=["x"],
            output_names=["logits"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1024)}},
            opset_version=18,
            optimize=True,
        )
    assert program is not None
    program.save(path)


def compare(
    session: ortn.Session, model: nn.Module, batches: tuple[int, ...]
) -> list[dict[str, Any]]:
    """Runs both on random batches of each size; one row per batch: the largest absolute
    difference and whether every element is within the tolerance."""
    rows = []
    gen = torch.Generator().manual_seed(1)
    for n in batches:
        x = torch.randn(n, 3, SIZE, SIZE, generator=gen)
        with torch.inference_mode():
            want = model(x)
        got = torch.empty(n, CLASSES)
        # Torch tensors straight in and out: ortnative reads x and writes got in place.
        session.run({"x": x}, out={"logits": got})
        diff = float((got - want).abs().max())
        ok = bool(torch.allclose(got, want, atol=ATOL, rtol=RTOL))
        rows.append({"batch": n, "max_abs_diff": diff, "ok": ok})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the .onnx file (default: a temp dir)")
    parser.add_argument("--backend", choices=["native", "python"], default=None)
    parser.add_argument("--batches", default="1,4,9,32")
    args = parser.parse_args(argv)
    batches = tuple(int(b) for b in args.batches.split(","))
    model = make_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.out or os.path.join(tmp, "tinynet.onnx")
        export(model, path)
        session = ortn.Session(path, backend=args.backend)
        print(f"exported {path} ({os.path.getsize(path)} bytes); ortnative {session.backend}:")
        print(f"  inputs  {session.inputs}\n  outputs {session.outputs}")
        rows = compare(session, model, batches)
        session.close()
    print(f"  tolerance: |ortnative - torch| <= {ATOL} + {RTOL} * |torch|")
    for r in rows:
        print(
            f"  batch {r['batch']:>4}: max |diff| {r['max_abs_diff']:.2e}  {'ok' if r['ok'] else 'FAIL'}"
        )
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
