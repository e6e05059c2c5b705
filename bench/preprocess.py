"""Image preprocessing: ortnative's fused pass against the usual Python ways.

Cases: a 1920x1080 BGR uint8 camera frame (``ortnative.cli.synthetic_frame``) to
(a) 224x224 RGB float32 NCHW, ImageNet-normalised, and (b) a 640x640 YOLO letterbox
(RGB float32 NCHW, / 255, gray 114 padding); each as a single image and as a batch of
32 frames; and (c) end to end: frame -> outputs of a small CNN classifier
(``models.small_cnn``, 1x3x224x224).

Variants (each row's label says its threads; ORT sessions use one intra-op thread):
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
- Every OpenCV variant runs twice: ``1 thread`` (``cv2.setNumThreads(1)``) and
  ``OpenCV default threads (N)`` (the thread count OpenCV picks by itself, which a
  service that never calls ``setNumThreads`` gets). OpenCV's setting is process-wide:
  it is set before each variant's turn in every round, followed by one untimed call.
- ``Pillow+numpy``: ``Image.resize(BILINEAR)`` then numpy (Pillow resizes on one
  thread). Pillow's BILINEAR filters (antialiased) when shrinking, so its values differ
  by design: checked loosely.
- ``ortnative, 1 thread`` / ``ortnative, all threads (N)``: ``ImagePreprocessor`` with
  threads=1 / threads=0 (every core), each ``allocating`` (a new array per call,
  ``pre(frame)``) and ``out=`` (writing into an array made once, ``pre(frame,
  out=buf)``).
- ``ortnative fallback``: the same on the pure-Python backend (numpy, one thread,
  allocating).
- ``cv2.resize alone``: just the resize to the same size, uint8 HWC, on 1 and OpenCV's
  default threads: a reference for what the fused pass costs, not a competitor.
- End to end: ``numpy+OpenCV`` -> ``onnxruntime.InferenceSession.run`` against
  ortnative preprocessing (allocating) -> ``ortnative.Session.run``, and
  ``ortnative.Pipeline`` (preprocessing into the reused input buffer, then the native
  Session); all on one thread.

What is fair: every competitor allocates its result per call, so the fair rows are
the allocating ones at equal thread counts: ``ortnative, 1 thread, allocating``
against the ``1 thread`` OpenCV rows and Pillow, ``ortnative, all threads (N),
allocating`` against the ``OpenCV default threads (N)`` rows. The ratio column takes
each row against ``numpy+OpenCV`` at the same thread setting; the ``out=`` rows show
what reusing the output buffer adds on top (no competitor here offers that).

Method: bench/common.py. Deviation: the slow variants (fallback, Pillow) are timed in
interleaved rounds of their own with fewer samples, so they do not stretch the run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import ortnative as ortn
from common import Row, Stats, plot_ratios, time_interleaved, write_results
from ortnative import models
from ortnative.cli import synthetic_frame

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
# OpenCV's own choice of threads, read before anything sets it.
CV_THREADS = cv2.getNumThreads()
CORES = ortn._backend.native_module().available_cores() if ortn.backend == "native" else 1
ONE = "1 thread"
CV_MANY = f"OpenCV default threads ({CV_THREADS})"
ORTN_MANY = f"all threads ({CORES})"
BASELINE = f"numpy+OpenCV, {ONE}"
BASELINE_MANY = f"numpy+OpenCV, {CV_MANY}"
SLOW = ("ortnative fallback", "Pillow+numpy")
FRESH = "new array per call"
REUSED = "out= array made once, reused"
# Largest difference from ortnative allowed for an OpenCV variant: the 1.0 uint8 units
# of resize parity, through the value step.
NORM_TOL = 1.0 / 255 / float(STD.min()) + 1e-5
SCALE_TOL = 1.0 / 255 + 1e-6


@dataclass
class Variant:
    """A variant: how to call it, whether and how closely its result is checked against
    ortnative's, and what it uses: THREADS and OUTPUT are the table's columns; MANY is
    True when it runs on more than one thread (its ratio is then against BASELINE_MANY);
    SETUP runs before its turn in each round (OpenCV's process-wide thread count)."""

    fn: Callable[[], Any]
    tol: float
    threads: str
    output: str = FRESH
    many: bool = False
    checked: bool = True
    setup: Callable[[], Any] | None = None
    reference: bool = False


def opencv(name: str, fn: Callable[[], Any], tol: float = NORM_TOL) -> dict[str, Variant]:
    """NAME on one thread and on OpenCV's default threads."""
    return {
        f"{name}, {ONE}": Variant(fn, tol, "1", setup=lambda: cv2.setNumThreads(1)),
        f"{name}, {CV_MANY}": Variant(
            fn,
            tol,
            f"OpenCV default ({CV_THREADS})",
            many=True,
            setup=lambda: cv2.setNumThreads(CV_THREADS),
        ),
    }


def resize_alone(frame: np.ndarray, size: tuple[int, int]) -> dict[str, Variant]:
    """cv2.resize alone, a reference (unchecked: it does a part of the work)."""
    out = opencv("cv2.resize alone (uint8 HWC)", lambda: cv2.resize(frame, size))
    for v in out.values():
        v.checked, v.reference = False, True
    return out


def ortnative(one: Any, many: Any, images: Any, out: np.ndarray, tol: float) -> dict[str, Variant]:
    """ortnative on 1 thread and on all threads, each allocating and with out=."""
    all_cores = f"all cores ({CORES})"
    return {
        f"ortnative, {ONE}, allocating": Variant(lambda: one(images), tol, "1"),
        f"ortnative, {ONE}, out=": Variant(lambda: one(images, out=out), tol, "1", REUSED),
        f"ortnative, {ORTN_MANY}, allocating": Variant(
            lambda: many(images), tol, all_cores, many=True
        ),
        f"ortnative, {ORTN_MANY}, out=": Variant(
            lambda: many(images, out=out), tol, all_cores, REUSED, many=True
        ),
    }


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
    if name.startswith("Pillow+numpy"):
        # A different filter: require the same picture (the mean difference within 5
        # uint8 levels), not the same values.
        mean = float(np.abs(got.astype(np.float64) - want).mean())
        return "" if mean <= 5 * tol else f"mean |diff| {mean:.4f} > {5 * tol:.4f}"
    return "" if diff <= tol else f"max |diff| {diff:.6f} > {tol:.6f}"


def time_case(
    case: str,
    variants: dict[str, Variant],
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
    setup = {name: v.setup for name, v in variants.items() if v.setup is not None}
    for name, v in variants.items():
        if v.checked:
            if v.setup is not None:
                v.setup()
            why = check(case, name, v.fn(), want, v.tol)
            if why:
                print(f"  {case}: {name} disagrees ({why}); not timed", file=sys.stderr)
                rows.append(Row(case, name, None, f"disagrees: {why}", threads=v.threads))
                continue
        (slow if name.startswith(SLOW) else fast)[name] = v.fn
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
                    setup={k: f for k, f in setup.items() if k in group},
                )
            )
    cv2.setNumThreads(1)
    for name, v in variants.items():
        if name in stats:
            extra = {"many_threads": v.many, "reference": v.reference}
            rows.append(
                Row(case, name, stats[name], threads=v.threads, output=v.output, extra=extra)
            )
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

    def pillow(fn: Callable[[], Any], tol: float = NORM_TOL) -> dict[str, Variant]:
        return {f"Pillow+numpy, {ONE}": Variant(fn, tol, "1")}

    def fallback(fn: Callable[[], Any]) -> dict[str, Variant]:
        return {f"ortnative fallback, {ONE}, allocating": Variant(fn, 0.0, "1")}

    case = "1080p -> 224 NCHW f32 normalised, 1 image"
    # The recipe does less; it is checked against ortnative doing the same.
    why = check(case, "recipe", recipe_224(frame), raw(frame, out=raw_out), SCALE_TOL)
    if why:
        raise SystemExit(f"{case}: the recipe disagrees with ortnative ({why})")
    recipe = opencv("numpy+OpenCV recipe (no RGB, no mean/std)", lambda: recipe_224(frame))
    for v in recipe.values():
        v.checked = False
    rows += time_case(
        case,
        {
            **opencv("numpy+OpenCV", lambda: numpy_opencv_224(frame)),
            **recipe,
            **opencv(
                "cv2.dnn.blobFromImage", lambda: cv2.dnn.blobFromImageWithParams(frame, blob224)
            ),
            **pillow(lambda: pillow_224(frame)),
            **ortnative(one, all_, frame, out1, NORM_TOL),
            **fallback(lambda: fb(frame)),
            **resize_alone(frame, (224, 224)),
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
            **opencv("numpy+OpenCV", lambda: np.concatenate([numpy_opencv_224(f) for f in frames])),
            **opencv(
                "cv2.dnn.blobFromImage",
                lambda: cv2.dnn.blobFromImagesWithParams(frames, blob224),
            ),
            **pillow(lambda: np.concatenate([pillow_224(f) for f in frames])),
            **ortnative(one, all_, frames, outb, NORM_TOL),
            **fallback(lambda: fb(frames)),
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
            **opencv("numpy+OpenCV", lambda: numpy_opencv_letterbox([frame]), SCALE_TOL),
            **opencv(
                "cv2.dnn.blobFromImage",
                lambda: cv2.dnn.blobFromImageWithParams(frame, blob640),
                SCALE_TOL,
            ),
            **pillow(lambda: pillow_letterbox(frame), SCALE_TOL),
            **ortnative(lb1, lb_all, frame, lout1, SCALE_TOL),
            **fallback(lambda: lb_fb(frame)),
            **resize_alone(frame, (640, 360)),
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
            **opencv("numpy+OpenCV", lambda: numpy_opencv_letterbox(frames), SCALE_TOL),
            **opencv(
                "cv2.dnn.blobFromImage",
                lambda: cv2.dnn.blobFromImagesWithParams(frames, blob640),
                SCALE_TOL,
            ),
            **pillow(lambda: np.concatenate([pillow_letterbox(f) for f in frames]), SCALE_TOL),
            **ortnative(lb1, lb_all, frames, loutb, SCALE_TOL),
            **fallback(lambda: lb_fb(frames)),
        },
        lb1(frames).copy(),
        (5, 4, 2),
        (2, 1, 1),
        scale,
    )
    return rows


E2E = "end to end: 1080p frame -> small CNN (1x3x224x224) outputs"
E2E_ALLOC = f"ortnative preprocess -> Session.run, {ONE}, allocating"
E2E_PIPE = f"ortnative Pipeline, {ONE}"


def end_to_end(scale: int) -> list[Row]:
    import onnxruntime as ort

    model = models.small_cnn(classes=1000, size=224)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    plain = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    sess = ortn.Session(model, intra_op_threads=1, backend="native")
    pre = ortn.ImagePreprocessor.for_session(sess, mean=MEAN.tolist(), std=STD.tolist(), threads=1)
    pipe = ortn.Pipeline(pre, sess)
    frame = synthetic_frame(1080, 1920)
    cv2.setNumThreads(1)
    want = plain.run(None, {"image": numpy_opencv_224(frame)})[0]
    # The two preprocessings differ by < 1 uint8 unit per pixel; the classifier's
    # probabilities must agree closely, and exactly with ORT on ortnative's tensor.
    got = pipe(frame)["probs"]
    exact = plain.run(None, {"image": pipe.preprocessor(frame)})[0]
    if not np.allclose(got, exact, rtol=1e-5, atol=1e-7):
        raise SystemExit("end to end: Pipeline disagrees with onnxruntime on the same tensor")
    if not np.allclose(sess.run({"image": pre(frame)})["probs"], got, rtol=1e-6, atol=1e-8):
        raise SystemExit("end to end: preprocess -> Session.run disagrees with Pipeline")
    if not np.allclose(got, want, rtol=0.02, atol=1e-4) or got.argmax() != want.argmax():
        raise SystemExit("end to end: Pipeline disagrees with numpy+OpenCV -> onnxruntime")
    threads = "1 (preprocessing and ORT intra-op)"
    rows = time_case(
        E2E,
        {
            BASELINE: Variant(
                lambda: plain.run(None, {"image": numpy_opencv_224(frame)}),
                0.0,
                threads,
                "new tensor and outputs per call",
                checked=False,
                setup=lambda: cv2.setNumThreads(1),
            ),
            E2E_ALLOC: Variant(
                lambda: sess.run({"image": pre(frame)}),
                0.0,
                threads,
                "new tensor and outputs per call",
                checked=False,
            ),
            E2E_PIPE: Variant(
                lambda: pipe(frame),
                0.0,
                threads,
                "input tensor made once, reused; new outputs per call",
                checked=False,
            ),
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


def baseline_of(row: Row) -> str:
    """The row a ratio is taken against: numpy+OpenCV at the same thread setting."""
    return BASELINE_MANY if row.extra.get("many_threads") else BASELINE


def summarize(rows: list[Row]) -> list[str]:
    med = {(r.case, r.variant): r.stats.median_us for r in rows if r.stats}
    notes = []
    for case in dict.fromkeys(r.case for r in rows):
        if case == E2E:
            continue
        m = {v: t for (c, v), t in med.items() if c == case}
        parts = []
        for mine_name, suffix, who in (
            (f"ortnative, {ONE}, allocating", ONE, "1 thread"),
            (
                f"ortnative, {ORTN_MANY}, allocating",
                CV_MANY,
                f"all threads ({CORES}) against OpenCV's default ({CV_THREADS})",
            ),
        ):
            mine = m.get(mine_name)
            if not mine:
                continue
            vs = [
                f"{m[f'{name}, {suffix}'] / mine:.2f}x {label}"
                for name, label in (
                    ("numpy+OpenCV", "numpy+OpenCV"),
                    ("cv2.dnn.blobFromImage", "cv2.dnn.blobFromImage"),
                    ("numpy+OpenCV recipe (no RGB, no mean/std)", "the shorter recipe"),
                    ("Pillow+numpy", "Pillow+numpy"),
                )
                if f"{name}, {suffix}" in m
            ]
            parts.append(f"allocating, {who}: ortnative's speed is " + ", ".join(vs))
        a1, o1 = m.get(f"ortnative, {ONE}, allocating"), m.get(f"ortnative, {ONE}, out=")
        am = m.get(f"ortnative, {ORTN_MANY}, allocating")
        if a1 and o1:
            parts.append(f"out= (1 thread) takes {o1 / a1:.2f}x the allocating call's time")
        if a1 and am:
            parts.append(f"all threads ({CORES}) run {a1 / am:.2f}x as fast as 1 thread")
        resize = m.get(f"cv2.resize alone (uint8 HWC), {ONE}")
        if a1 and resize:
            parts.append(
                f"1 thread allocating takes {a1 / resize:.2f}x the time of cv2.resize alone"
            )
        if parts:
            notes.append(f"{case}: " + "; ".join(parts) + ".")
    base, alloc, pipe = (
        med.get((E2E, BASELINE)),
        med.get((E2E, E2E_ALLOC)),
        med.get((E2E, E2E_PIPE)),
    )
    if base and alloc and pipe:
        notes.append(
            f"{E2E}: ortnative preprocess -> Session.run {alloc / 1000:.3f} ms, Pipeline "
            f"{pipe / 1000:.3f} ms, against {base / 1000:.3f} ms for numpy+OpenCV -> "
            f"onnxruntime ({base / alloc:.2f}x and {base / pipe:.2f}x)."
        )
    return notes


def plot(rows: list[Row], quick: bool) -> Callable[[str], None]:
    """The PNG: every row's speed against numpy+OpenCV at the same threads, per case."""
    med = {(r.case, r.variant): r.stats.median_us for r in rows if r.stats}
    groups: dict[str, list[tuple[str, float, str]]] = {}
    for r in rows:
        base = med.get((r.case, baseline_of(r)))
        if r.stats is None or base is None:
            continue
        if r.extra.get("reference"):
            kind = "reference: cv2.resize alone"
        else:
            threads = f"{CORES} threads" if r.extra.get("many_threads") else "1 thread"
            kind = f"{threads}, " + ("out= (reused)" if r.output == REUSED else "allocates")
        groups.setdefault(r.case, []).append((r.variant, base / r.stats.median_us, kind))
    return lambda path: plot_ratios(
        path,
        title=(
            "Image preprocessing, 1080p BGR frame: speed vs numpy+OpenCV on the same threads "
            "(fair: allocating vs allocating)"
        ),
        xlabel="speed vs numpy+OpenCV at the same thread setting (ratio of medians)",
        groups=groups,
        quick=quick,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a tenth of the samples (smoke run)")
    args = p.parse_args(argv)
    if ortn.backend != "native":
        raise SystemExit(f"the preprocess benchmark needs the native backend: {ortn.native_error}")
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
        f"Per-call latency. Every OpenCV variant on 1 thread and on OpenCV's default "
        f"threads ({CV_THREADS}); ortnative on 1 thread and on all cores ({CORES}), each "
        "allocating its output per call and writing into out=; ORT on one intra-op thread. "
        "Fair comparisons: allocating rows at equal thread counts (every competitor "
        "allocates); the ratio column takes each row against numpy+OpenCV at the same "
        "thread setting. Method: bench/common.py (every variant checked against "
        "ortnative's output first, warm-up, interleaved rounds, each call timed alone, "
        "timer cost subtracted, median/p99/IQR over a fixed sample count); OpenCV's "
        "process-wide thread count is set before each variant's turn (then one untimed "
        "call); the slow variants (fallback, Pillow) are interleaved among themselves "
        "with fewer samples."
    )
    cmd = "python bench/run.py preprocess" + (" --quick" if args.quick else "")
    paths = write_results(
        "preprocess",
        rows,
        method=method,
        baseline=baseline_of,
        ratio_label="speed vs numpy+OpenCV, same threads",
        notes=notes,
        meta={
            "command": cmd,
            "opencv": cv2.__version__,
            "opencv_default_threads": CV_THREADS,
            "ortnative_all_threads": CORES,
            "load_average": [load_before, load_after],
        },
        quick=args.quick,
        plot=plot(rows, args.quick),
    )
    with open(paths[1]) as f:
        print(f.read())
    print("wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
