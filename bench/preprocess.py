"""Image preprocessing: ortnative's fused pass against the usual Python ways.

Cases: a 1920x1080 BGR uint8 camera frame (``ortnative.cli.synthetic_frame``) to
(a) 224x224 RGB float32 NCHW, ImageNet-normalised, and (b) a 640x640 YOLO letterbox
(RGB float32 NCHW, / 255, gray 114 padding); each as a single image and as a batch of
32 frames; and (c) end to end: frame -> outputs of a small CNN classifier
(``models.small_cnn``, 1x3x224x224).

Variants (OpenCV set to one thread, ``cv2.setNumThreads(1)``; ORT sessions to one
intra-op thread):
- ``numpy+OpenCV`` (the baseline): the step-by-step pipeline a service writes:
  ``cv2.resize`` -> ``cv2.cvtColor`` -> ``astype(float32)`` -> ``/ 255`` ->
  ``(x - mean) / std`` -> ``transpose`` -> ``[None]`` -> ``np.ascontiguousarray``
  (``np.stack`` for a batch); for the letterbox, YOLO's: ``cv2.resize`` ->
  ``cv2.copyMakeBorder`` -> ``[..., ::-1].transpose`` -> ``np.ascontiguousarray`` ->
  ``astype(float32) / 255``.
- ``numpy+OpenCV recipe``: the common shorter recipe ``cv2.resize`` -> ``transpose`` ->
  ``/ 255.0`` -> ``astype(float32)`` -> ``expand_dims``; it does less (no BGR->RGB, no
  mean/std) and is checked against ortnative doing the same.
- ``cv2.dnn.blobFromImage``: ``blobFromImageWithParams`` (per-channel scale for std;
  OpenCV's own letterbox mode for (b)); ``blobFromImagesWithParams`` for a batch.
- ``Pillow+numpy``: ``Image.resize(BILINEAR)`` then numpy. Pillow's BILINEAR filters
  (antialiased) when shrinking, so its values differ by design: checked loosely.
- ``ortnative, 1 thread`` / ``ortnative, all threads``: ``ImagePreprocessor`` writing
  into a preallocated ``out=`` (threads=1 / threads=0, which is 2 on this machine).
- ``ortnative fallback``: the same on the pure-Python backend.
- ``cv2.resize alone``: just the resize to the same size, uint8 HWC: a reference for
  what the fused pass costs, not a competitor.
- End to end: ``numpy+OpenCV`` -> ``onnxruntime.InferenceSession.run`` against
  ``ortnative.Pipeline`` (preprocessing into the reused input buffer, then the native
  Session).

Method: bench/common.py. Deviation: the slow variants (fallback, Pillow) are timed in
interleaved rounds of their own with fewer samples, so they do not stretch the run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import ortnative as ortn
from common import Row, Stats, time_interleaved, write_results
from ortnative import models
from ortnative.cli import synthetic_frame

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
BASELINE = "numpy+OpenCV"
SLOW = ("ortnative fallback", "Pillow+numpy")
# Largest difference from ortnative allowed for an OpenCV variant: the 1.0 uint8 units
# of resize parity, through the value step.
NORM_TOL = 1.0 / 255 / float(STD.min()) + 1e-5
SCALE_TOL = 1.0 / 255 + 1e-6


# --- the competitors -------------------------------------------------------------------


def numpy_opencv_224(frame: np.ndarray) -> np.ndarray:
    x = cv2.resize(frame, (224, 224), interpolation=cv2.INTER_LINEAR)
    x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB)
    x = x.astype(np.float32)
    x = x / 255.0
    x = (x - MEAN) / STD
    x = x.transpose(2, 0, 1)[None]
    return np.ascontiguousarray(x)


def recipe_224(frame: np.ndarray) -> np.ndarray:
    x = cv2.resize(frame, (224, 224))
    return np.expand_dims((x.transpose(2, 0, 1) / 255.0).astype(np.float32), 0)


def yolo_letterbox(frame: np.ndarray, size: int = 640) -> np.ndarray:
    h, w = frame.shape[:2]
    r = min(size / h, size / w)
    nw, nh = round(w * r), round(h * r)
    dw, dh = (size - nw) / 2, (size - nh) / 2
    img = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    return cv2.copyMakeBorder(
        img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114)
    )


def numpy_opencv_letterbox(frames: list[np.ndarray]) -> np.ndarray:
    im = np.stack([yolo_letterbox(f) for f in frames])
    im = im[..., ::-1].transpose(0, 3, 1, 2)
    im = np.ascontiguousarray(im)
    return im.astype(np.float32) / 255.0


def blob_params(letterbox: bool) -> Any:
    p = cv2.dnn.Image2BlobParams()
    p.ddepth = cv2.CV_32F
    p.swapRB = True
    if letterbox:
        p.size = (640, 640)
        p.scalefactor = (1 / 255,) * 4
        p.paddingmode = cv2.dnn.DNN_PMODE_LETTERBOX
        p.borderValue = (114, 114, 114, 0)
    else:
        p.size = (224, 224)
        p.mean = (*(MEAN * 255).tolist(), 0)
        p.scalefactor = (*(1 / (255 * STD)).tolist(), 0)
    return p


def pillow_224(frame: np.ndarray) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(frame[..., ::-1]).resize((224, 224), Image.BILINEAR)
    x = np.asarray(img, np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def pillow_letterbox(frame: np.ndarray) -> np.ndarray:
    from PIL import Image

    h, w = frame.shape[:2]
    r = min(640 / h, 640 / w)
    nw, nh = round(w * r), round(h * r)
    canvas = Image.new("RGB", (640, 640), (114, 114, 114))
    canvas.paste(
        Image.fromarray(frame[..., ::-1]).resize((nw, nh), Image.BILINEAR),
        ((640 - nw) // 2, (640 - nh) // 2),
    )
    x = np.asarray(canvas).transpose(2, 0, 1)
    return np.ascontiguousarray(x)[None].astype(np.float32) / 255.0


# --- cases -------------------------------------------------------------------------------


def check(case: str, name: str, got: np.ndarray, want: np.ndarray, tol: float) -> str:
    """'' when GOT agrees with WANT (max |diff| <= TOL), else why not."""
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    diff = float(np.abs(got.astype(np.float64) - want).max())
    if name == "Pillow+numpy":
        # A different filter: require the same picture (the mean difference within 5
        # uint8 levels), not the same values.
        mean = float(np.abs(got.astype(np.float64) - want).mean())
        return "" if mean <= 5 * tol else f"mean |diff| {mean:.4f} > {5 * tol:.4f}"
    return "" if diff <= tol else f"max |diff| {diff:.6f} > {tol:.6f}"


def time_case(
    case: str,
    variants: dict[str, tuple[Callable[[], Any], Callable[[], np.ndarray] | None, float]],
    want: np.ndarray,
    budget: tuple[int, int, int],
    slow_budget: tuple[int, int, int],
    scale: int,
) -> list[Row]:
    """Checks every variant against WANT (those with a checker), then times the ones
    that agree: fast and slow variants each interleaved among themselves."""
    rows: list[Row] = []
    fast: dict[str, Callable[[], Any]] = {}
    slow: dict[str, Callable[[], Any]] = {}
    for name, (fn, result, tol) in variants.items():
        if result is not None:
            why = check(case, name, result(), want, tol)
            if why:
                print(f"  {case}: {name} disagrees ({why}); not timed", file=sys.stderr)
                rows.append(Row(case, name, None, f"disagrees: {why}"))
                continue
        (slow if name in SLOW else fast)[name] = fn
    stats: dict[str, Stats] = {}
    for group, (rounds, calls, warmup) in ((fast, budget), (slow, slow_budget)):
        if group:
            stats.update(
                time_interleaved(
                    group,
                    rounds=rounds,
                    calls=max(1, calls // scale),
                    warmup=max(1, warmup // scale),
                    progress=case,
                )
            )
    for name in variants:
        if name in stats:
            rows.append(Row(case, name, stats[name]))
    print(f"  {case}: done", file=sys.stderr)
    return rows


def image_cases(scale: int) -> list[Row]:
    frame = synthetic_frame(1080, 1920)
    frames = [synthetic_frame(1080, 1920, seed=s) for s in range(32)]
    kw = {"mean": MEAN.tolist(), "std": STD.tolist()}
    one = ortn.ImagePreprocessor(224, threads=1, **kw)
    all_ = ortn.ImagePreprocessor(224, threads=0, **kw)
    fb = ortn.ImagePreprocessor(224, backend="python", **kw)
    raw = ortn.ImagePreprocessor(224, output_order="bgr", threads=1)
    lb1 = ortn.ImagePreprocessor(640, fit="letterbox", threads=1)
    lb_all = ortn.ImagePreprocessor(640, fit="letterbox", threads=0)
    lb_fb = ortn.ImagePreprocessor(640, fit="letterbox", backend="python")
    out1, outb = one.empty(1), one.empty(32)
    raw_out = raw.empty(1)
    lout1, loutb = lb1.empty(1), lb1.empty(32)
    blob224, blob640 = blob_params(False), blob_params(True)
    rows: list[Row] = []

    def v(fn: Callable[[], Any], tol: float = NORM_TOL, checked: bool = True) -> Any:
        return (fn, fn if checked else None, tol)

    case = "1080p -> 224 NCHW f32 normalised, 1 image"
    # The recipe does less; it is checked against ortnative doing the same.
    why = check(case, "recipe", recipe_224(frame), raw(frame, out=raw_out), SCALE_TOL)
    if why:
        raise SystemExit(f"{case}: the recipe disagrees with ortnative ({why})")
    rows += time_case(
        case,
        {
            BASELINE: v(lambda: numpy_opencv_224(frame)),
            "numpy+OpenCV recipe (no RGB, no mean/std)": (
                lambda: recipe_224(frame),
                None,
                0.0,
            ),
            "cv2.dnn.blobFromImage": v(lambda: cv2.dnn.blobFromImageWithParams(frame, blob224)),
            "Pillow+numpy": v(lambda: pillow_224(frame)),
            "ortnative, 1 thread": v(lambda: one(frame, out=out1)),
            "ortnative, all threads": v(lambda: all_(frame, out=out1)),
            "ortnative fallback": v(lambda: fb(frame), tol=0.0),
            "cv2.resize alone (uint8 HWC)": v(lambda: cv2.resize(frame, (224, 224)), checked=False),
        },
        one(frame).copy(),
        (20, 100, 100),
        (5, 10, 2),
        scale,
    )
    case = "1080p -> 224 NCHW f32 normalised, batch 32"
    rows += time_case(
        case,
        {
            BASELINE: v(lambda: np.concatenate([numpy_opencv_224(f) for f in frames])),
            "cv2.dnn.blobFromImage": v(lambda: cv2.dnn.blobFromImagesWithParams(frames, blob224)),
            "Pillow+numpy": v(lambda: np.concatenate([pillow_224(f) for f in frames])),
            "ortnative, 1 thread": v(lambda: one(frames, out=outb)),
            "ortnative, all threads": v(lambda: all_(frames, out=outb)),
            "ortnative fallback": v(lambda: fb(frames), tol=0.0),
        },
        one(frames).copy(),
        (10, 10, 5),
        (3, 2, 1),
        scale,
    )

    case = "1080p -> 640 letterbox NCHW f32, 1 image"
    rows += time_case(
        case,
        {
            BASELINE: v(lambda: numpy_opencv_letterbox([frame]), tol=SCALE_TOL),
            "cv2.dnn.blobFromImage": v(
                lambda: cv2.dnn.blobFromImageWithParams(frame, blob640), tol=SCALE_TOL
            ),
            "Pillow+numpy": v(lambda: pillow_letterbox(frame), tol=SCALE_TOL),
            "ortnative, 1 thread": v(lambda: lb1(frame, out=lout1), tol=SCALE_TOL),
            "ortnative, all threads": v(lambda: lb_all(frame, out=lout1), tol=SCALE_TOL),
            "ortnative fallback": v(lambda: lb_fb(frame), tol=0.0),
            "cv2.resize alone (uint8 HWC)": v(lambda: cv2.resize(frame, (640, 360)), checked=False),
        },
        lb1(frame).copy(),
        (20, 30, 30),
        (5, 4, 2),
        scale,
    )

    case = "1080p -> 640 letterbox NCHW f32, batch 32"
    rows += time_case(
        case,
        {
            BASELINE: v(lambda: numpy_opencv_letterbox(frames), tol=SCALE_TOL),
            "cv2.dnn.blobFromImage": v(
                lambda: cv2.dnn.blobFromImagesWithParams(frames, blob640), tol=SCALE_TOL
            ),
            "Pillow+numpy": v(
                lambda: np.concatenate([pillow_letterbox(f) for f in frames]), tol=SCALE_TOL
            ),
            "ortnative, 1 thread": v(lambda: lb1(frames, out=loutb), tol=SCALE_TOL),
            "ortnative, all threads": v(lambda: lb_all(frames, out=loutb), tol=SCALE_TOL),
            "ortnative fallback": v(lambda: lb_fb(frames), tol=0.0),
        },
        lb1(frames).copy(),
        (5, 4, 2),
        (2, 1, 1),
        scale,
    )
    return rows


def end_to_end(scale: int) -> list[Row]:
    import onnxruntime as ort

    model = models.small_cnn(classes=1000, size=224)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    plain = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    sess = ortn.Session(model, intra_op_threads=1, backend="native")
    pipe = ortn.Pipeline(
        ortn.ImagePreprocessor.for_session(sess, mean=MEAN.tolist(), std=STD.tolist(), threads=1),
        sess,
    )
    frame = synthetic_frame(1080, 1920)
    want = plain.run(None, {"image": numpy_opencv_224(frame)})[0]
    # The two preprocessings differ by < 1 uint8 unit per pixel; the classifier's
    # probabilities must agree closely, and exactly with ORT on ortnative's tensor.
    got = pipe(frame)["probs"]
    exact = plain.run(None, {"image": pipe.preprocessor(frame)})[0]
    if not np.allclose(got, exact, rtol=1e-5, atol=1e-7):
        raise SystemExit("end to end: Pipeline disagrees with onnxruntime on the same tensor")
    if not np.allclose(got, want, rtol=0.02, atol=1e-4) or got.argmax() != want.argmax():
        raise SystemExit("end to end: Pipeline disagrees with numpy+OpenCV -> onnxruntime")
    case = "end to end: 1080p frame -> small CNN (1x3x224x224) outputs"
    rows = time_case(
        case,
        {
            BASELINE: (lambda: plain.run(None, {"image": numpy_opencv_224(frame)}), None, 0.0),
            "ortnative Pipeline, 1 thread": (lambda: pipe(frame), None, 0.0),
        },
        want,
        (20, 30, 20),
        (1, 1, 1),
        scale,
    )
    for r in rows:
        if r.variant == BASELINE:
            r.note = "-> onnxruntime InferenceSession.run"
    sess.close()
    return rows


def summarize(rows: list[Row]) -> list[str]:
    med = {(r.case, r.variant): r.stats.median_us for r in rows if r.stats}
    notes = []
    case = "1080p -> 224 NCHW f32 normalised, 1 image"
    one = med.get((case, "ortnative, 1 thread"))
    if one:
        parts = [f"ortnative (1 thread, out=) takes {one:.1f} us"]
        for name, label in (
            (BASELINE, "faster than step-by-step numpy+OpenCV"),
            ("cv2.dnn.blobFromImage", "faster than cv2.dnn.blobFromImage"),
            ("numpy+OpenCV recipe (no RGB, no mean/std)", "faster than the shorter recipe"),
            ("Pillow+numpy", "faster than Pillow+numpy"),
        ):
            if (case, name) in med:
                parts.append(f"{med[(case, name)] / one:.2f}x {label}")
        if (case, "cv2.resize alone (uint8 HWC)") in med:
            parts.append(
                f"{one / med[(case, 'cv2.resize alone (uint8 HWC)')]:.2f}x the time of "
                "cv2.resize alone"
            )
        notes.append(f"{case}: " + "; ".join(parts) + ".")
    for case in (
        "1080p -> 224 NCHW f32 normalised, batch 32",
        "1080p -> 640 letterbox NCHW f32, batch 32",
        "1080p -> 640 letterbox NCHW f32, 1 image",
    ):
        t1, t2 = med.get((case, "ortnative, 1 thread")), med.get((case, "ortnative, all threads"))
        base = med.get((case, BASELINE))
        if t1 and t2 and base:
            notes.append(
                f"{case}: all threads ({ortn._backend.native_module().available_cores()}) run "
                f"{t1 / t2:.2f}x as fast as 1 thread; 1 thread is {base / t1:.2f}x faster "
                "than numpy+OpenCV."
            )
    case = "end to end: 1080p frame -> small CNN (1x3x224x224) outputs"
    base, pipe = med.get((case, BASELINE)), med.get((case, "ortnative Pipeline, 1 thread"))
    if base and pipe:
        notes.append(
            f"{case}: Pipeline {pipe / 1000:.3f} ms against {base / 1000:.3f} ms for "
            f"numpy+OpenCV -> onnxruntime ({base / pipe:.2f}x)."
        )
    return notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a tenth of the samples (smoke run)")
    args = p.parse_args(argv)
    if ortn.backend != "native":
        raise SystemExit(f"the preprocess benchmark needs the native backend: {ortn.native_error}")
    cv2.setNumThreads(1)
    scale = 10 if args.quick else 1
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = image_cases(scale) + end_to_end(scale)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    notes = summarize(rows)
    if load_before is not None and load_after is not None:
        # Thread scaling needs idle cores: on a shared machine, say how busy it was.
        notes.append(
            f"1-minute load average before / after the run: {load_before:.2f} / "
            f"{load_after:.2f} on {os.cpu_count()} CPUs (this run's own threads included)."
        )
    method = (
        "Per-call latency. OpenCV and ORT on one thread; ortnative on 1 thread and on all "
        "cores. Method: bench/common.py (every variant checked against ortnative's output "
        "first, warm-up, interleaved rounds, each call timed alone, timer cost subtracted, "
        "median/p99/IQR over a fixed sample count); the slow variants (fallback, Pillow) are "
        "interleaved among themselves with fewer samples."
    )
    cmd = "python bench/run.py preprocess" + (" --quick" if args.quick else "")
    j, m = write_results(
        "preprocess",
        rows,
        method=method,
        baseline=BASELINE,
        notes=notes,
        meta={
            "command": cmd,
            "opencv": cv2.__version__,
            "load_average": [load_before, load_after],
        },
    )
    with open(m) as f:
        print(f.read())
    print(f"wrote {j} and {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
