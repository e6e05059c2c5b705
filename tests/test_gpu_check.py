"""tools/gpu_check.py: on a machine with an NVIDIA GPU (onnxruntime-gpu and a CUDA build
of PyTorch) every check passes; anywhere else it says what is missing, writes
``{"ran": false, "reason": ...}`` and exits with status 2, without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import onnxruntime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "gpu_check.py")


def _cuda_machine() -> bool:
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def test_gpu_check(tmp_path):
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, SCRIPT, "--json", str(out), "--quick"]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=1800)
    data = json.loads(out.read_text())
    if _cuda_machine():
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert data["ran"] is True
        assert data["failed"] == []
        assert {"device_feed", "no_host_round_trip", "stream_default"} <= set(
            data["checks"]["native"]
        )
    else:
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert data["ran"] is False
        assert "cannot run here" in proc.stderr
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            assert "install onnxruntime-gpu" in data["reason"]
