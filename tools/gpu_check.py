"""The CUDA path, checked and measured on a machine with an NVIDIA GPU.

    python tools/gpu_check.py [--json gpu_check.json] [--quick] [--backend native python]

Needs ``onnxruntime-gpu`` (instead of ``onnxruntime``: the CUDA execution provider) and a
producer of CUDA tensors: PyTorch built with CUDA (or CuPy). On a machine without them it
says what is missing, writes ``{"ran": false, "reason": ...}`` to the JSON file and exits
with status 2; it never crashes for want of a GPU.

Checks (each backend; all must pass, exit status 1 otherwise):

- ``device_feed``: a CUDA tensor fed to a session on CUDAExecutionProvider gives the
  CPU session's outputs.
- ``no_host_round_trip``: a 512 MB CUDA tensor in and a 512 MB CUDA out= tensor: the
  process's peak resident memory grows by far less than 512 MB (a device -> host -> device
  trip needs host memory of that size, pinned staging included).
- ``out_device``: out= a CUDA tensor is written in place (same address, right values).
- ``output_device``: ``output_device="cuda"`` returns DeviceTensor outputs on the GPU that
  ``torch.from_dlpack`` takes without a copy (same address).
- ``stream_user``: ``user_compute_stream`` set to the producer's stream; the producer
  fills the input asynchronously right before each run: every run sees its fill.
- ``stream_default``: the same without a session stream (ortnative synchronises the
  device before ORT reads a device feed).
- ``cpu_session_refuses``: a CUDA tensor for a CPU-only session is a typed error.

Bench (native backend; method of bench/common.py, one process): a CNN on one 224x224
image and on a batch of 8 preprocessed frames already on the GPU, outputs wanted on the
GPU: ``onnxruntime, host copies`` (``x.cpu().numpy()`` in, ``torch.from_numpy(y).cuda()``
out), ``onnxruntime IOBinding`` (device pointers bound, output preallocated on the GPU),
``ortnative, out= device tensor`` and ``ortnative, output_device=cuda``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1024 * 1024
CUDA = "CUDAExecutionProvider"


def _write(path: str, data: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")


def preconditions() -> tuple[Any, str]:
    """(torch or cupy module, "") when this machine can run the checks; else (None, why)."""
    try:
        import onnxruntime
    except ImportError as exc:
        return None, f"onnxruntime is not installed ({exc})"
    providers = onnxruntime.get_available_providers()
    if CUDA not in providers:
        return None, (
            f"this onnxruntime ({onnxruntime.__version__}) has no {CUDA} (providers: "
            f"{', '.join(providers)}): install onnxruntime-gpu instead of onnxruntime"
        )
    try:
        import torch

        if torch.cuda.is_available():
            return torch, ""
        why = f"torch {torch.__version__} sees no CUDA device"
    except ImportError:
        why = "torch is not installed"
    return None, f"no producer of CUDA tensors: {why} (a CUDA build of PyTorch is needed)"


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def checks(torch: Any, backend: str) -> dict[str, dict[str, Any]]:
    import ortnative as ortn
    from ortnative import models

    dev = torch.device("cuda", 0)
    cuda = [CUDA, "CPUExecutionProvider"]
    results: dict[str, dict[str, Any]] = {}

    def check(name: str, fn: Callable[[], Any]) -> None:
        try:
            detail = fn()
            results[name] = {"ok": True, **({"detail": detail} if detail else {})}
        except Exception as exc:  # noqa: BLE001 - recorded, the other checks still run
            results[name] = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
        print(f"  [{backend}] {name}: {'ok' if results[name]['ok'] else 'FAILED'}", flush=True)

    cnn = models.small_cnn(classes=10, size=64)
    x_host = np.random.default_rng(0).standard_normal((4, 3, 64, 64)).astype(np.float32)
    want = ortn.Session(cnn, backend=backend).run({"image": x_host})
    out_name = next(iter(want))

    def device_feed() -> None:
        s = ortn.Session(cnn, providers=cuda, backend=backend)
        got = s.run({"image": torch.from_numpy(x_host).to(dev)})[out_name]
        np.testing.assert_allclose(got, want[out_name], rtol=1e-3, atol=1e-4)

    def no_host_round_trip() -> dict[str, Any]:
        n = 128 * MB  # float32 elements: 512 MB
        s = ortn.Session(models.add_one(("N",)), providers=cuda, backend=backend)
        small = torch.zeros(16, device=dev)
        s.run({"x": small}, out={"y": torch.empty(16, device=dev)})  # ORT's lazy setup
        x = torch.ones(n, device=dev)
        y = torch.empty(n, device=dev)
        torch.cuda.synchronize()
        before = _peak()
        s.run({"x": x}, out={"y": y})
        growth = _peak() - before
        assert bool((y == 2).all()), "wrong values"
        assert growth < 64 * MB, f"peak RSS grew {growth / MB:.0f} MB for a 512 MB tensor"
        return {"rss_growth_mb": round(growth / MB, 1), "tensor_mb": 512}

    def out_device() -> None:
        s = ortn.Session(cnn, providers=cuda, backend=backend)
        y = torch.empty(want[out_name].shape, device=dev)
        ptr = y.data_ptr()
        r = s.run({"image": torch.from_numpy(x_host).to(dev)}, out={out_name: y})
        assert r[out_name] is y
        assert y.data_ptr() == ptr
        np.testing.assert_allclose(y.cpu().numpy(), want[out_name], rtol=1e-3, atol=1e-4)

    def output_device() -> None:
        s = ortn.Session(cnn, providers=cuda, backend=backend, output_device="cuda")
        t = s.run({"image": torch.from_numpy(x_host).to(dev)})[out_name]
        assert t.__dlpack_device__() == (2, 0), t
        y = torch.from_dlpack(t)
        assert y.is_cuda
        y2 = torch.from_dlpack(t)
        assert y.data_ptr() == y2.data_ptr()  # both views of ORT's device buffer
        np.testing.assert_allclose(y.cpu().numpy(), want[out_name], rtol=1e-3, atol=1e-4)

    def stream(user: bool) -> None:
        side = torch.cuda.Stream(device=dev)
        opts = {"user_compute_stream": str(side.cuda_stream)} if user else {}
        s = ortn.Session(models.add_one(("N",)), providers=[(CUDA, opts)], backend=backend)
        x = torch.empty(1 << 22, device=dev)
        with torch.cuda.stream(side):
            for i in range(20):
                x.fill_(float(i))  # queued on SIDE, not waited for
                y = s.run({"x": x})["y"]
                first, last = float(y[0]), float(y[-1])
                if first != i + 1 or last != i + 1:
                    raise AssertionError(f"run {i} read a stale input: {first}, {last}")

    def cpu_session_refuses() -> None:
        s = ortn.Session(cnn, backend=backend)
        try:
            s.run({"image": torch.from_numpy(x_host).to(dev)})
        except ortn.InvalidInputError as exc:
            if "is in CUDA memory" not in str(exc):
                raise AssertionError(f"unexpected message: {exc}") from None
        else:
            raise AssertionError("a CUDA tensor was taken by a CPU session")

    check("device_feed", device_feed)
    check("no_host_round_trip", no_host_round_trip)
    check("out_device", out_device)
    check("output_device", output_device)
    check("stream_user", lambda: stream(True))
    check("stream_default", lambda: stream(False))
    check("cpu_session_refuses", cpu_session_refuses)
    return results


def bench_case(torch: Any, case: str, batch: int, quick: bool) -> list[dict[str, Any]]:
    import onnxruntime as ort
    import ortnative as ortn
    from common import time_interleaved
    from ortnative import models

    dev = torch.device("cuda", 0)
    cnn = models.small_cnn(classes=1000, size=224)
    x = torch.randn(batch, 3, 224, 224, device=dev)
    plain = ort.InferenceSession(cnn, providers=[CUDA])
    name = plain.get_outputs()[0].name
    want = plain.run(None, {"image": x.cpu().numpy()})[0]
    y_ort = torch.empty(want.shape, device=dev)
    binding = plain.io_binding()
    binding.bind_input("image", "cuda", 0, np.float32, list(x.shape), x.data_ptr())
    binding.bind_output(name, "cuda", 0, np.float32, list(y_ort.shape), y_ort.data_ptr())
    s = ortn.Session(cnn, providers=[CUDA], backend="native")
    keep = ortn.Session(cnn, providers=[CUDA], backend="native", output_device="cuda")
    y_ortn = torch.empty(want.shape, device=dev)

    def host_copies() -> Any:
        return torch.from_numpy(plain.run(None, {"image": x.cpu().numpy()})[0]).to(dev)

    def iobinding() -> Any:
        plain.run_with_iobinding(binding)
        return y_ort

    variants: dict[str, Callable[[], Any]] = {
        "onnxruntime, host copies": host_copies,
        "onnxruntime IOBinding": iobinding,
        "ortnative, out= device tensor": lambda: s.run({"image": x}, out={name: y_ortn})[name],
        "ortnative, output_device=cuda": lambda: torch.from_dlpack(keep.run({"image": x})[name]),
    }
    for variant, fn in variants.items():
        got = fn().cpu().numpy()
        if not np.allclose(got, want, rtol=1e-3, atol=1e-4):
            raise SystemExit(f"{case}: {variant} disagrees with onnxruntime; not timing it")
    calls, rounds = (20, 5) if quick else (100, 20)
    stats = time_interleaved(variants, rounds=rounds, calls=calls, warmup=calls)
    base = stats["onnxruntime, host copies"].median_us
    s.close()
    keep.close()
    return [
        {
            "case": case,
            "variant": variant,
            "median_us": st.median_us,
            "p99_us": st.p99_us,
            "p25_us": st.p25_us,
            "p75_us": st.p75_us,
            "speed_vs_host_copies": base / st.median_us,
        }
        for variant, st in stats.items()
    ]


def bench(torch: Any, quick: bool) -> list[dict[str, Any]]:
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    rows: list[dict[str, Any]] = []
    for case, batch in (("CNN, 1 image 224x224", 1), ("CNN, batch of 8 preprocessed frames", 8)):
        rows += bench_case(torch, case, batch, quick)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", default="gpu_check.json", help="where to write the results")
    p.add_argument("--quick", action="store_true", help="fewer bench samples")
    p.add_argument("--backend", nargs="*", default=["native", "python"])
    p.add_argument("--no-bench", action="store_true")
    args = p.parse_args(argv)
    data: dict[str, Any] = {
        "ran": False,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    torch, why = preconditions()
    if torch is None:
        data["reason"] = why
        _write(args.json, data)
        print(f"gpu_check: cannot run here: {why}", file=sys.stderr)
        print(f"gpu_check: wrote {args.json}", file=sys.stderr)
        return 2
    import onnxruntime
    import ortnative

    data.update(
        ran=True,
        onnxruntime=onnxruntime.__version__,
        ortnative_backend=ortnative.backend,
        torch=torch.__version__,
        gpu=torch.cuda.get_device_name(0),
        checks={},
    )
    for backend in args.backend:
        data["checks"][backend] = checks(torch, backend)
    if not args.no_bench:
        data["bench"] = bench(torch, args.quick)
        for row in data["bench"]:
            print(
                f"  {row['case']:<40} {row['variant']:<32} {row['median_us']:>10.1f} us "
                f"{row['speed_vs_host_copies']:.2f}x"
            )
    failed = [f"{b}:{n}" for b, cs in data["checks"].items() for n, c in cs.items() if not c["ok"]]
    data["failed"] = failed
    _write(args.json, data)
    print(
        f"gpu_check: {'FAILED ' + ', '.join(failed) if failed else 'all checks passed'}; "
        f"wrote {args.json}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
