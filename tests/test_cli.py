"""The ortnative command: demo, info, version. (Its bad inputs: tests/test_cli_errors.py.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
from ortnative import models


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ortnative", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.smoke
def test_demo_runs_end_to_end(backend):
    proc = _cli("demo", "--runs", "5", "--warmup", "1", "--backend", backend)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"backend {backend}" in out
    assert "top-5 classes:" in out
    assert "results agree with onnxruntime: yes" in out
    assert "onnxruntime InferenceSession.run" in out
    assert "ortnative Session.run" in out


@pytest.mark.smoke
def test_info(backend, tmp_path):
    path = tmp_path / "mlp.onnx"
    path.write_bytes(models.mlp())
    proc = _cli("info", str(path), "--backend", backend)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "producer:   ortnative.models" in out
    assert "opsets:     ai.onnx 17" in out
    assert "x: float32 [N, 256]" in out
    assert "y: float32 [N, 10]" in out
    assert "ONNX Runtime 1." in out


def test_version():
    proc = _cli("version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ortnative ")
    assert "backend:" in proc.stdout
