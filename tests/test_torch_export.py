"""The conversion step (examples/pytorch_to_ortnative.py): a torch.nn model exported with
torch.onnx.export (dynamic batch), loaded by ortnative, its outputs equal to PyTorch's
within the example's stated tolerance, for batch sizes other than the one it was
exported with; the script itself runs as a user runs it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from types import ModuleType

import numpy as np
import ortnative as ortn
import pytest
from conftest import require_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "pytorch_to_ortnative.py")


@pytest.fixture(scope="module")
def example() -> ModuleType:
    require_module("torch", "the example is a PyTorch model")
    require_module("onnxscript", "torch.onnx.export's exporter builds the graph with it")
    spec = importlib.util.spec_from_file_location("pytorch_to_ortnative", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exported(example, tmp_path_factory) -> tuple[str, object]:
    path = str(tmp_path_factory.mktemp("export") / "tinynet.onnx")
    model = example.make_model()
    example.export(model, path)
    return path, model


def test_exported_model_matches_pytorch(backend, example, exported):
    path, model = exported
    s = ortn.Session(path, backend=backend)
    assert [i.shape for i in s.inputs] == [("batch", 3, example.SIZE, example.SIZE)]
    assert [o.shape for o in s.outputs] == [("batch", example.CLASSES)]
    rows = example.compare(s, model, (1, 3, 17))  # exported with batch 2
    assert [r["batch"] for r in rows] == [1, 3, 17]
    assert all(r["ok"] for r in rows), rows


def test_numpy_feeds_give_the_same_logits(backend, example, exported):
    import torch

    path, model = exported
    s = ortn.Session(path, backend=backend)
    x = np.random.default_rng(0).standard_normal((5, 3, example.SIZE, example.SIZE))
    x = x.astype(np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(
        s.run({"x": x})["logits"], want, atol=example.ATOL, rtol=example.RTOL
    )


def test_example_script_runs(tmp_path):
    require_module("torch", "the example is a PyTorch model")
    require_module("onnxscript", "torch.onnx.export's exporter builds the graph with it")
    out = tmp_path / "m.onnx"
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--out", str(out), "--batches", "1,7"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.stat().st_size > 0
    lines = [line for line in proc.stdout.splitlines() if line.strip().startswith("batch")]
    assert len(lines) == 2, proc.stdout
    assert all(line.endswith("ok") for line in lines), proc.stdout
