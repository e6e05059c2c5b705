"""The ``ortnative`` command (also ``python -m ortnative``).

- ``ortnative demo``: the classic deployment flow end to end on a model made on the
  fly: load, preprocess a 1080p frame with ``ImagePreprocessor``, infer, top-5, then
  latency tables of ortnative against plain onnxruntime on the same model and input,
  with and without the preprocessing.
- ``ortnative info MODEL``: inputs, outputs, opsets, producer, ONNX Runtime in use.
- ``ortnative version``: versions, backend, and where ONNX Runtime was loaded from.
- ``ortnative run SCRIPT [ARGS...]`` / ``ortnative run -m MODULE [ARGS...]``: runs a
  program unchanged with ``ortnative.compat`` installed (its ``onnxruntime.InferenceSession``
  is ortnative's).
- ``ortnative serve MODEL.onnx ...``: serve models over HTTP with the Open Inference
  Protocol (``ortnative.serve``; needs the ``serve`` extra).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _backend, _ortlib
from .errors import Error
from .pipeline import Pipeline
from .preprocess import ImagePreprocessor
from .session import Session

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def _say(msg: str = "") -> None:
    print(msg, flush=True)


class _Progress:
    """A one-line progress display on stderr (only when stderr is a terminal)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.tty = sys.stderr.isatty()
        self.last = -1

    def update(self, done: int) -> None:
        pct = 100 * done // max(1, self.total)
        if self.tty and pct != self.last:
            sys.stderr.write(f"\r  {self.label}: {pct:3d}%")
            sys.stderr.flush()
            self.last = pct

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * (len(self.label) + 10) + "\r")
            sys.stderr.flush()


def synthetic_frame(height: int = 1080, width: int = 1920, seed: int = 0) -> np.ndarray:
    """A camera-like BGR uint8 frame: gradients, a few shapes, sensor noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    frame = np.empty((height, width, 3), np.float32)
    frame[..., 0] = 200 * x * (1 - y) + 30
    frame[..., 1] = 160 * y + 40 * np.sin(12 * x)
    frame[..., 2] = 120 + 100 * np.cos(6 * (x + y))
    cy, cx = height // 2, width // 3
    yy, xx = np.ogrid[:height, :width]
    frame[(yy - cy) ** 2 + (xx - cx) ** 2 < (height // 5) ** 2] = (40, 200, 240)
    frame[height // 6 : height // 3, width // 2 : width // 2 + width // 5] = (220, 60, 60)
    frame += rng.normal(0, 6, frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def numpy_preprocess(frame: np.ndarray, size: int = 224) -> np.ndarray:
    """BGR uint8 HxWx3 -> RGB float32 [1, 3, size, size], ImageNet-normalised, step by
    step in numpy (nearest-neighbour resize): the plain way the demo compares with."""
    h, w = frame.shape[:2]
    ys = ((np.arange(size) + 0.5) * h / size).astype(np.intp)
    xs = ((np.arange(size) + 0.5) * w / size).astype(np.intp)
    rgb = frame[ys[:, None], xs[None, :], ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(((rgb - MEAN) / STD).transpose(2, 0, 1)[None])


def _time_calls(
    fns: Sequence[Callable[[], Any]], runs: int, warmup: int, label: str
) -> list[np.ndarray]:
    """Times each fn RUNS times after WARMUP calls, interleaved in rounds so that
    machine noise hits all of them alike. Returns seconds per call, one array each."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [np.empty(runs) for _ in fns]
    progress = _Progress(label, runs)
    clock = time.perf_counter
    for i in range(runs):
        for k, fn in enumerate(fns):
            t0 = clock()
            fn()
            times[k][i] = clock() - t0
        progress.update(i + 1)
    progress.close()
    return times


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.2f} us"
    return f"{seconds * 1e3:8.3f} ms"


def _table(rows: list[tuple[str, np.ndarray]]) -> None:
    base = float(np.median(rows[0][1]))
    _say(f"    {'':34s} {'median':>11s} {'p99':>11s}  {'vs onnxruntime':>14s}")
    for name, t in rows:
        med, p99 = float(np.median(t)), float(np.percentile(t, 99))
        ratio = base / med
        _say(f"    {name:34s} {_fmt(med)} {_fmt(p99)}  {ratio:12.2f}x")


def cmd_demo(args: argparse.Namespace) -> int:
    import onnxruntime as ort

    from . import models

    backend = _backend.resolve(args.backend)
    _say(
        f"ortnative demo: backend {backend}, ONNX Runtime {_backend.ort_version(backend)} "
        f"(plain onnxruntime {ort.__version__} for comparison)"
    )
    with tempfile.TemporaryDirectory(prefix="ortnative-demo-") as tmp:
        path = os.path.join(tmp, "classifier.onnx")
        t0 = time.perf_counter()
        with open(path, "wb") as f:
            f.write(models.small_cnn(classes=1000, size=224))
        _say(
            f"[1/4] model: a small image classifier (4 conv stages, 1000 classes), written "
            f"with onnx.helper to {path} ({os.path.getsize(path) / 1e6:.1f} MB, "
            f"{(time.perf_counter() - t0) * 1e3:.0f} ms)"
        )
        t0 = time.perf_counter()
        sess = Session(path, backend=backend, intra_op_threads=args.threads)
        load_ms = (time.perf_counter() - t0) * 1e3
        i, o = sess.inputs[0], sess.outputs[0]
        _say(
            f"[2/4] load: {load_ms:.1f} ms; input {i.name} {i.dtype} {_fmt_shape(i.shape)} -> "
            f"output {o.name} {o.dtype} {_fmt_shape(o.shape)}"
        )
        frame = synthetic_frame()
        pre = ImagePreprocessor.for_session(sess, mean=MEAN, std=STD, threads=1)
        t0 = time.perf_counter()
        x = pre(frame)
        _say(
            f"[3/4] image: synthetic {frame.shape[1]}x{frame.shape[0]} BGR frame -> 224x224 RGB "
            f"float32 NCHW, normalised, by ImagePreprocessor in one pass "
            f"({(time.perf_counter() - t0) * 1e3:.2f} ms)"
        )
        probs = sess.run({i.name: x})[o.name][0]
        top = np.argsort(probs)[::-1][:5]
        _say("[4/4] top-5 classes:")
        for rank, k in enumerate(top, 1):
            _say(f"    {rank}. class {int(k):4d}  p = {float(probs[k]):.4f}")

        so = ort.SessionOptions()
        if args.threads:
            so.intra_op_num_threads = args.threads
        plain = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        want = plain.run(None, {i.name: x})[0][0]
        agree = np.allclose(want, probs, rtol=1e-4, atol=1e-6)
        _say(
            f"\nlatency: {args.runs} runs each after {args.warmup} warm-up, interleaved; "
            f"results agree with onnxruntime: {'yes' if agree else 'NO'}"
        )
        feeds = {i.name: x}
        out = {o.name: np.empty((1, 1000), np.float32)}
        t_ort, t_ortn, t_out = _time_calls(
            [
                lambda: plain.run(None, feeds),
                lambda: sess.run(feeds),
                lambda: sess.run(feeds, out=out),
            ],
            args.runs,
            args.warmup,
            "classifier",
        )
        _say("  classifier, 1x3x224x224:")
        _table(
            [
                ("onnxruntime InferenceSession.run", t_ort),
                ("ortnative Session.run", t_ortn),
                ("ortnative Session.run(out=)", t_out),
            ]
        )
        pipe = Pipeline(pre, sess)
        t_plain, t_pipe = _time_calls(
            [
                lambda: plain.run(None, {i.name: numpy_preprocess(frame)}),
                lambda: pipe(frame),
            ],
            args.runs,
            args.warmup,
            "frame to probabilities",
        )
        _say("  frame to probabilities, 1080p BGR frame, preprocessing included:")
        _table(
            [
                ("numpy preprocessing + onnxruntime", t_plain),
                ("ortnative Pipeline", t_pipe),
            ]
        )
        tiny = models.add_one((1, 4))
        plain_tiny = ort.InferenceSession(tiny, so, providers=["CPUExecutionProvider"])
        sess_tiny = Session(tiny, backend=backend, intra_op_threads=args.threads)
        xt = {"x": np.ones((1, 4), np.float32)}
        small_runs = args.runs * 50
        t_ort, t_ortn = _time_calls(
            [lambda: plain_tiny.run(None, xt), lambda: sess_tiny.run(xt)],
            small_runs,
            args.warmup * 10,
            "per-call overhead",
        )
        _say(f"  per-call overhead, y = x + 1 on float32 [1, 4] ({small_runs} runs):")
        _table([("onnxruntime InferenceSession.run", t_ort), ("ortnative Session.run", t_ortn)])
        sess.close()
        sess_tiny.close()
    return 0 if agree else 1


def _fmt_shape(shape: Sequence[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def cmd_info(args: argparse.Namespace) -> int:
    from ._modelfile import ProtoError, read_header

    sess = Session(args.model, backend=args.backend)
    md = sess.metadata()
    try:
        header = read_header(args.model)
    except (ProtoError, OSError) as exc:
        header = {"opsets": {}, "error": str(exc)}
    _say(f"model:      {args.model}")
    producer = md.get("producer_name") or header.get("producer_name") or "?"
    version = header.get("producer_version")
    _say(f"producer:   {producer}{' ' + version if version else ''}")
    _say(f"graph:      {md.get('graph_name') or '?'}")
    _say(f"ir_version: {header.get('ir_version', '?')}")
    opsets = ", ".join(f"{d} {v}" for d, v in header["opsets"].items()) or "?"
    _say(f"opsets:     {opsets}")
    _say("inputs:")
    for t in sess.inputs:
        _say(
            f"  {t.name}: {'str' if t.dtype == np.dtype(object) else t.dtype} {_fmt_shape(t.shape)}"
        )
    _say("outputs:")
    for t in sess.outputs:
        _say(
            f"  {t.name}: {'str' if t.dtype == np.dtype(object) else t.dtype} {_fmt_shape(t.shape)}"
        )
    if md.get("custom"):
        _say("metadata:")
        for k, v in md["custom"].items():
            _say(f"  {k}: {v}")
    _say(f"runtime:    ONNX Runtime {_backend.ort_version(sess.backend)} (backend {sess.backend})")
    sess.close()
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    from . import __version__

    _say(f"ortnative {__version__}")
    _say(f"backend:    {_backend.backend}")
    if _backend.native_error:
        _say(f"native:     unavailable ({_backend.native_error})")
    try:
        _say(f"ORT:        {_backend.ort_version()}")
    except Error as exc:
        _say(f"ORT:        failed to load ({exc})")
    libs = _ortlib.candidates()
    _say(f"library:    {libs[0] if libs else 'system default (libonnxruntime.so.1)'}")
    return 0


def _int_from(low: int) -> Callable[[str], int]:
    """An argparse type: an int >= LOW, or a usage error that says so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an int >= {low}, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ortnative", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="end-to-end demo and latency table on a built-in model")
    demo.add_argument(
        "--runs", type=_int_from(1), default=200, help="timed runs per variant (default 200)"
    )
    demo.add_argument("--warmup", type=_int_from(0), default=20, help="warm-up runs (default 20)")
    demo.add_argument(
        "--threads",
        type=_int_from(0),
        default=1,
        help="intra-op threads for both runtimes (default 1; 0 = ortnative's shared pools "
        "and onnxruntime's default)",
    )
    demo.add_argument("--backend", choices=["native", "python"], default=None)
    demo.set_defaults(fn=cmd_demo)
    info = sub.add_parser("info", help="describe a model: inputs, outputs, opsets, producer")
    info.add_argument("model")
    info.add_argument("--backend", choices=["native", "python"], default=None)
    info.set_defaults(fn=cmd_info)
    ver = sub.add_parser("version", help="versions, backend, ONNX Runtime library")
    ver.set_defaults(fn=cmd_version)
    # Parsed by ortnative.compat._runner (see main): everything after "run" is the program's.
    sub.add_parser(
        "run",
        help="run a Python program with onnxruntime.InferenceSession on ortnative: "
        "run SCRIPT [ARGS...] | run -m MODULE [ARGS...]",
        add_help=False,
    )
    from .serve.cli import add_parser  # argparse only: no server library is imported

    add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        # The program's arguments are its own (argparse would read its -m, --help, ...);
        # its exceptions and exit status too.
        from .compat._runner import main as run_main

        return run_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except Error as exc:
        print(f"ortnative: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
