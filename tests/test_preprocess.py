"""ImagePreprocessor and Pipeline, on both backends.

- Parity with OpenCV (the reference): ``nearest`` equals ``INTER_NEAREST``; ``bilinear``
  and ``area`` are within 1.0 of ``INTER_LINEAR`` / ``INTER_AREA`` in uint8 units,
  before scaling, for shrinking and enlarging, odd sizes, 1-pixel images, strided crops;
  letterbox equals the usual YOLO letterbox. The largest differences seen are printed in
  the session summary.
- Values, colour orders, layouts and dtypes are exact against a numpy reference applied
  to the resized image.
- The two backends give bit-identical tensors; threads change nothing; ``out=`` is
  written in place; Pipeline equals preprocessing + Session.run by hand.
Bad inputs are in test_preprocess_errors.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import ortnative as ortn
import pytest
from conftest import SUMMARY, require_backend, run_threads
from ortnative import models
from ortnative.cli import synthetic_frame

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
F32 = np.float32
CV_MODES = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}
TOLERANCE = {"nearest": 0.0, "bilinear": 1.0, "area": 1.0}


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Uniform noise: the worst case for interpolation differences."""
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def pre(backend: str, size: Any = (224, 224), **kw: Any) -> ortn.ImagePreprocessor:
    return ortn.ImagePreprocessor(size, backend=backend, **kw)


def raw(backend: str, size: Any, resize: str, channels: int = 3, **kw: Any):
    """A preprocessor giving the resized image itself: float32 NHWC, values 0..255, the
    input's channel order."""
    order = {1: "gray", 3: "bgr", 4: "bgra"}[channels]
    return pre(
        backend,
        size,
        resize=resize,
        input_order=order,
        output_order="gray" if channels == 1 else "bgr",
        scale=1,
        layout="nhwc",
        **kw,
    )


def cv_resize(img: np.ndarray, size: tuple[int, int], resize: str) -> np.ndarray:
    """OpenCV's resize to (height, width), as float32 HxWxC without alpha."""
    out = cv2.resize(img, (size[1], size[0]), interpolation=CV_MODES[resize])
    if out.ndim == 2:
        out = out[:, :, None]
    return out[:, :, :3].astype(F32)


@pytest.fixture(scope="module")
def parity() -> Iterator[dict[tuple[str, str], float]]:
    """Largest |ortnative - OpenCV| per (backend, mode), reported at the end."""
    worst: dict[tuple[str, str], float] = {}
    yield worst
    for backend in ("native", "python"):
        modes = [m for m in CV_MODES if (backend, m) in worst]
        if modes:
            SUMMARY.append(
                f"preprocess parity vs OpenCV {cv2.__version__} [{backend}]: max |diff| "
                + ", ".join(f"{m} {worst[(backend, m)]:.3f}" for m in modes)
                + " (uint8 units, before scaling)"
            )


def record(parity: dict[tuple[str, str], float], backend: str, resize: str, diff: float) -> None:
    key = (backend, resize)
    parity[key] = max(parity.get(key, 0.0), diff)


# --- parity with OpenCV ------------------------------------------------------------------

PARITY_CASES = [
    # (source shape, output (height, width))
    ((1080, 1920, 3), (224, 224)),  # the usual camera frame to a classifier
    ((480, 640, 3), (640, 640)),  # enlarging
    ((37, 53, 3), (224, 224)),  # odd sizes, enlarging
    ((224, 224, 3), (37, 51)),  # odd sizes, shrinking
    ((64, 64, 3), (32, 32)),  # exactly half (OpenCV's fast area path)
    ((100, 100, 3), (100, 100)),  # same size
    ((50, 300, 3), (200, 20)),  # one axis grows, the other shrinks
    ((1, 1, 3), (7, 5)),  # one pixel
    ((1, 9, 3), (4, 4)),  # one row
    ((9, 1, 3), (4, 4)),  # one column
    ((13, 17, 3), (1, 1)),  # to one pixel
    ((300, 200, 1), (64, 96)),  # gray
    ((120, 160, 4), (60, 45)),  # bgra
]


@pytest.mark.parametrize("resize", list(CV_MODES))
@pytest.mark.parametrize(
    ("shape", "size"), PARITY_CASES, ids=[f"{s}->{d}" for s, d in PARITY_CASES]
)
def test_parity_with_opencv(backend, parity, resize, shape, size):
    img = noise(shape, seed=sum(shape))
    got = raw(backend, size, resize, channels=shape[2])(img)[0]
    want = cv_resize(img, size, resize)
    assert got.shape == want.shape
    diff = float(np.abs(got - want).max())
    record(parity, backend, resize, diff)
    assert diff <= TOLERANCE[resize], f"{resize}: max |diff| {diff} vs OpenCV"


@pytest.mark.parametrize("resize", list(CV_MODES))
def test_parity_on_a_camera_frame(backend, parity, resize):
    frame = synthetic_frame(1080, 1920)
    got = raw(backend, (224, 224), resize)(frame)[0]
    diff = float(np.abs(got - cv_resize(frame, (224, 224), resize)).max())
    record(parity, backend, resize, diff)
    assert diff <= TOLERANCE[resize]


@pytest.mark.parametrize("resize", list(CV_MODES))
def test_strided_crop_is_read_as_is(backend, parity, resize):
    frame = noise((200, 300, 3), seed=5)
    crop = frame[31:170, 45:251]  # a view: rows 900 bytes apart, not contiguous
    assert not crop.flags.c_contiguous
    p = raw(backend, (57, 83), resize)
    got = p(crop)[0]
    np.testing.assert_array_equal(got, p(np.ascontiguousarray(crop))[0])
    diff = float(np.abs(got - cv_resize(crop, (57, 83), resize)).max())
    record(parity, backend, resize, diff)
    assert diff <= TOLERANCE[resize]


@pytest.mark.parametrize(
    "view",
    [
        lambda f: f[::-1],  # rows upside down: a negative stride, read in place
        lambda f: f[::2, ::3],  # pixels not packed: one copy
        lambda f: f[..., ::-1],  # channels reversed: one copy
        lambda f: np.asfortranarray(f),
    ],
    ids=["flipped-rows", "every-other-pixel", "reversed-channels", "fortran"],
)
def test_any_strides(backend, view):
    frame = noise((90, 120, 3), seed=6)
    img = view(frame)
    p = pre(backend, (40, 50), mean=MEAN, std=STD)
    np.testing.assert_array_equal(p(img), p(np.ascontiguousarray(img)))


def test_area_when_enlarging_follows_opencv(backend, parity):
    # INTER_AREA that grows an axis uses OpenCV's bilinear-like area weights.
    img = noise((20, 30, 3), seed=7)
    for size in ((45, 61), (10, 70), (41, 12)):
        got = raw(backend, size, "area")(img)[0]
        diff = float(np.abs(got - cv_resize(img, size, "area")).max())
        record(parity, backend, "area", diff)
        assert diff <= 1.0, size


# --- geometry: letterbox, center crop ----------------------------------------------------


def yolo_letterbox(
    img: np.ndarray, new_shape: tuple[int, int], center: bool, interpolation: int
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The usual YOLO letterbox (as in ultralytics' LetterBox with auto=False,
    scale_fill=False, scaleup=True): returns the image and (left, top, width, height)."""
    shape = img.shape[:2]
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    new_unpad = round(shape[1] * r), round(shape[0] * r)
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if center:
        dw, dh = dw / 2, dh / 2
    if shape[::-1] != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=interpolation)
    top, bottom = (round(dh - 0.1) if center else 0), round(dh + 0.1)
    left, right = (round(dw - 0.1) if center else 0), round(dw + 0.1)
    out = cv2.copyMakeBorder(
        img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114)
    )
    return out, (left, top, new_unpad[0], new_unpad[1])


LETTERBOX_SHAPES = [(1080, 1920), (1920, 1080), (333, 500), (480, 640), (640, 640), (7, 3), (1, 1)]


@pytest.mark.parametrize("align", ["center", "top_left"])
@pytest.mark.parametrize("shape", LETTERBOX_SHAPES, ids=[f"{h}x{w}" for h, w in LETTERBOX_SHAPES])
def test_letterbox_is_the_yolo_letterbox(backend, parity, shape, align):
    img = noise((*shape, 3), seed=shape[0])
    for resize in ("nearest", "bilinear"):
        p = raw(backend, (640, 640), resize, fit="letterbox", align=align)
        got = p(img)[0]
        want, (left, top, w, h) = yolo_letterbox(
            img, (640, 640), align == "center", CV_MODES[resize]
        )
        t = p.transforms[0]
        assert (t.left, t.top, t.width, t.height) == (left, top, w, h)
        assert t.source_width == shape[1]
        assert t.source_height == shape[0]
        diff = float(np.abs(got - want.astype(F32)).max())
        record(parity, backend, resize, diff)
        assert diff <= TOLERANCE[resize]
        # The padding is exactly pad_value.
        mask = np.ones((640, 640), bool)
        mask[top : top + h, left : left + w] = False
        assert np.all(got[mask] == 114)


def test_letterbox_other_sizes_and_pad_values(backend):
    img = noise((300, 500, 3), seed=8)
    p = pre(backend, (256, 320), fit="letterbox", pad_value=(0, 128, 255), scale=1, dtype="uint8")
    x = p(img)[0]  # NCHW uint8, RGB
    t = p.transforms[0]
    assert (t.left, t.top, t.width, t.height) == (0, 32, 320, 192)  # 500x300 -> 320x192
    assert np.all(x[0, :32] == 0)
    assert np.all(x[1, :32] == 128)
    assert np.all(x[2, 224:] == 255)
    assert np.array_equal(x[:, 32:224], pre(backend, (192, 320), scale=1, dtype="uint8")(img)[0])


def test_center_crop(backend, parity):
    img = noise((300, 500, 3), seed=9)
    for resize in CV_MODES:
        p = raw(backend, (224, 224), resize, fit="center_crop")
        got = p(img)[0]
        # Shorter side to 224 (500 * 224 / 300 = 373.3 -> 373), then the centre.
        full = cv_resize(img, (224, 373), resize)
        diff = float(np.abs(got - full[:, 74 : 74 + 224]).max())
        record(parity, backend, resize, diff)
        assert diff <= TOLERANCE[resize]
        t = p.transforms[0]
        assert (t.left, t.top, t.width, t.height) == (0, 0, 224, 224)
        assert t.offset_x == -74.0
        assert t.scale_y == 224 / 300


def test_transform_maps_boxes_back(backend):
    p = pre(backend, (640, 640), fit="letterbox")
    x, (t,) = p.run(np.zeros((1080, 1920, 3), np.uint8))
    assert x.shape == (1, 3, 640, 640)
    assert t == p.transforms[0] == p.transform(1080, 1920)
    # The whole source image lands on the image region of the output.
    np.testing.assert_allclose(t.to_output([0, 0, 1920, 1080]), [0, 140, 640, 500])
    boxes = np.array([[100.0, 200.0, 300.0, 400.0], [0, 0, 1920, 1080]], np.float32)
    back = t.to_source(t.to_output(boxes))
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, boxes, rtol=1e-6, atol=1e-3)
    # Points in the padding clip to the image with clip=True.
    np.testing.assert_allclose(t.to_source([[-5, 10]], clip=True), [[0, 0]])
    assert t.to_source([3, 4]).dtype == np.float64


# --- values, colour, layouts and dtypes --------------------------------------------------


def reference(resized_bgr: np.ndarray, output_order: str, scale, mean, std) -> np.ndarray:
    """Step 4 of the documented semantics in numpy, on the resized BGR image (HxWx3
    float32): planar (C, H, W) float32."""
    planes = resized_bgr.transpose(2, 0, 1)
    if output_order == "rgb":
        planes = planes[::-1]
    elif output_order == "gray":
        b, g, r = planes
        planes = ((b * F32(0.114) + g * F32(0.587)) + r * F32(0.299))[None]
    n = planes.shape[0]
    a = np.array([F32(scale / std[c]) for c in range(n)], F32)[:, None, None]
    o = np.array([F32(-mean[c] / std[c]) for c in range(n)], F32)[:, None, None]
    return planes * a + o


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("output_order", ["rgb", "bgr", "gray"])
@pytest.mark.parametrize("resize", ["nearest", "bilinear", "area"])
def test_values_exact_against_numpy(backend, resize, output_order, layout, dtype):
    img = noise((45, 67, 3), seed=11)
    size = (31, 29)
    resized = raw(backend, size, resize)(img)[0]  # the resized image, unrounded
    if resize == "nearest":
        np.testing.assert_array_equal(resized, cv_resize(img, size, "nearest"))
    n = 1 if output_order == "gray" else 3
    if dtype == "uint8":
        scale, mean, std = 1.0, (10.0, 20.0, 30.0)[:n], (1.0, 2.0, 0.5)[:n]
    else:
        scale, mean, std = 1 / 255, MEAN[:n], STD[:n]
    p = pre(
        backend,
        size,
        resize=resize,
        output_order=output_order,
        scale=scale,
        mean=mean,
        std=std,
        layout=layout,
        dtype=dtype,
    )
    got = p(img)[0]
    want = reference(resized, output_order, scale, mean, std)
    if dtype == "float16":
        want = want.astype(np.float16)
    elif dtype == "uint8":
        want = np.rint(np.clip(want, 0, 255)).astype(np.uint8)
    if layout == "nhwc":
        want = want.transpose(1, 2, 0)
    want = np.ascontiguousarray(want)
    assert got.dtype == np.dtype(dtype)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))  # bit for bit
    if dtype == "float32":
        # And close to the textbook formula (v * scale - mean) / std.
        textbook = (reference(resized, output_order, 1.0, [0] * 3, [1] * 3) * scale) - np.array(
            mean, F32
        )[:, None, None]
        textbook = textbook / np.array(std, F32)[:, None, None]
        if layout == "nhwc":
            textbook = textbook.transpose(1, 2, 0)
        np.testing.assert_allclose(got, textbook, rtol=1e-5, atol=1e-5)


def test_default_scale_per_dtype(backend):
    img = noise((10, 10, 3), seed=12)
    assert pre(backend).scale == 1 / 255
    assert pre(backend, dtype="uint8").scale == 1.0
    u8 = pre(backend, (10, 10), resize="nearest", dtype="uint8", layout="nhwc")(img)[0]
    np.testing.assert_array_equal(u8, img[..., ::-1])  # raw pixels, RGB
    f = pre(backend, (10, 10), resize="nearest")(img)[0]
    np.testing.assert_array_equal(f, (img[..., ::-1].transpose(2, 0, 1) * F32(1 / 255)))


def test_input_orders(backend):
    bgra = noise((33, 47, 4), seed=13)
    bgr = np.ascontiguousarray(bgra[..., :3])
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    kw = {"mean": MEAN, "std": STD, "resize": "bilinear"}
    want = pre(backend, (20, 30), input_order="bgr", **kw)(bgr)
    np.testing.assert_array_equal(pre(backend, (20, 30), input_order="rgb", **kw)(rgb), want)
    np.testing.assert_array_equal(pre(backend, (20, 30), input_order="bgra", **kw)(bgra), want)
    rgba = np.concatenate([rgb, bgra[..., 3:]], axis=2)
    np.testing.assert_array_equal(pre(backend, (20, 30), input_order="rgba", **kw)(rgba), want)
    # output bgr is output rgb reversed
    as_bgr = pre(backend, (20, 30), output_order="bgr", scale=1)(bgr)
    as_rgb = pre(backend, (20, 30), output_order="rgb", scale=1)(bgr)
    np.testing.assert_array_equal(as_bgr, as_rgb[:, ::-1])


def test_gray(backend):
    gray = noise((40, 50), seed=14)
    p = pre(backend, (20, 25), input_order="gray", resize="bilinear", scale=1)
    x = p(gray)[0]  # replicated to rgb
    np.testing.assert_array_equal(x[0], x[1])
    np.testing.assert_array_equal(x[0], x[2])
    np.testing.assert_array_equal(p(gray[:, :, None]), p(gray))  # HxWx1 is HxW
    g = pre(backend, (20, 25), input_order="gray", output_order="gray", scale=1)(gray)
    assert g.shape == (1, 1, 20, 25)
    np.testing.assert_array_equal(g[0, 0], x[0])
    # colour to gray, against OpenCV's cvtColor after its resize (1.0 for the resize, 0.5
    # for cvtColor rounding to uint8)
    bgr = noise((40, 50, 3), seed=15)
    for resize, flag in CV_MODES.items():
        got = pre(backend, (20, 25), resize=resize, output_order="gray", scale=1)(bgr)[0, 0]
        want = cv2.cvtColor(cv2.resize(bgr, (25, 20), interpolation=flag), cv2.COLOR_BGR2GRAY)
        assert np.abs(got - want).max() <= 1.5, resize


# --- backends, batches, threads, out= ----------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8"])
@pytest.mark.parametrize("fit", ["stretch", "letterbox", "center_crop"])
@pytest.mark.parametrize("resize", list(CV_MODES))
def test_backends_agree_bit_for_bit(resize, fit, dtype):
    require_backend("native")
    images = [
        noise((97, 131, 3), seed=16),
        noise((131, 97, 4), seed=17),
        synthetic_frame(72, 128),
        noise((5, 3, 3), seed=18),
    ]
    orders = ["bgr", "rgba", "bgr", "bgr"]
    for k, (img, order) in enumerate(zip(images, orders, strict=False)):
        kw = {
            "resize": resize,
            "fit": fit,
            "dtype": dtype,
            "input_order": order,
            "output_order": ("rgb", "bgr", "gray")[k % 3],
            "layout": ("nchw", "nhwc")[k % 2],
            "mean": 0.3 if dtype != "uint8" else None,
            "std": 0.2 if dtype != "uint8" else None,
        }
        size = (64, 48) if k % 2 else (37, 80)
        native = pre("native", size, **kw)(img)
        python = pre("python", size, **kw)(img)
        np.testing.assert_array_equal(native.view(np.uint8), python.view(np.uint8))


def test_batches_of_different_sizes(backend):
    images = [noise((40 + 17 * i, 90 - 11 * i, 3), seed=20 + i) for i in range(5)]
    p = pre(backend, (48, 64), fit="letterbox", mean=MEAN, std=STD)
    batch = p(images)
    assert batch.shape == (5, 3, 48, 64)
    for i, img in enumerate(images):
        np.testing.assert_array_equal(batch[i], p(img)[0])
    # an NxHxWxC array is a batch too; a tuple works like a list
    stack = np.stack([images[0], images[0]])
    np.testing.assert_array_equal(p(stack), p((images[0], images[0])))
    assert [t.source_height for t in p.transforms] == [40, 40]


def test_threads_change_nothing(backend):
    images = [noise((100 + 60 * i, 380 - 50 * i, 3), seed=30 + i) for i in range(6)]
    frame = synthetic_frame(1080, 1920)
    results = []
    for threads in (1, 2, 0):
        p = pre(backend, (640, 640), fit="letterbox", threads=threads, mean=MEAN, std=STD)
        results.append((p(images), p(frame)))
    for batch, single in results[1:]:
        np.testing.assert_array_equal(batch, results[0][0])
        np.testing.assert_array_equal(single, results[0][1])


def test_out_is_written_in_place(backend):
    images = [noise((60, 80, 3), seed=40), noise((90, 70, 3), seed=41)]
    p = pre(backend, (32, 48), mean=MEAN, std=STD)
    want = p(images)
    big = np.full((6, 3, 32, 48), -9.0, F32)
    res = p(images, out=big[2:4])  # a slice of a bigger batch
    assert res.base is big
    assert np.shares_memory(res, big)
    np.testing.assert_array_equal(big[2:4], want)
    assert np.all(big[:2] == -9)
    assert np.all(big[4:] == -9)
    buf = p.empty(2)
    assert p(images, out=buf) is buf
    np.testing.assert_array_equal(buf, want)
    # a strided window (last axis contiguous) of a bigger NHWC tensor
    q = pre(backend, (32, 48), layout="nhwc", mean=MEAN, std=STD)
    canvas = np.full((2, 40, 60, 3), -9.0, F32)
    q(images, out=canvas[:, 4:36, 6:54])
    np.testing.assert_array_equal(canvas[:, 4:36, 6:54], q(images))
    assert np.all(canvas[:, :4] == -9)
    assert np.all(canvas[:, :, :6] == -9)


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8"])
def test_out_with_spaced_pixels(backend, dtype):
    # NHWC into the first three channels of an RGBA-like buffer: pixels 4 elements apart.
    img = noise((70, 90, 3), seed=42)
    kw = {"layout": "nhwc", "dtype": dtype, "scale": 1.0 if dtype == "uint8" else 1 / 255}
    p = pre(backend, (24, 40), **kw)
    canvas = np.full((1, 24, 40, 4), 7, np.dtype(dtype))
    p(img, out=canvas[..., :3])
    np.testing.assert_array_equal(canvas[..., :3], p(img))
    assert np.all(canvas[..., 3] == 7)
    g = pre(backend, (24, 40), output_order="gray", **kw)
    g(img, out=canvas[..., 3:])
    np.testing.assert_array_equal(canvas[..., 3:], g(img))


def test_simd_and_portable_kernels_agree():
    """Native only: the AVX2 kernels against the portable ones (where there is no AVX2,
    both runs use the portable kernels)."""
    require_backend("native")
    core = ortn._backend.native_module()
    frame = synthetic_frame(480, 640)
    results = []
    for simd in (True, False):
        old = core._set_preprocess_simd(simd)
        try:
            out = []
            for resize, fit, dtype in itertools.product(
                CV_MODES, ("stretch", "letterbox"), ("float32", "float16", "uint8")
            ):
                p = pre("native", (224, 320), resize=resize, fit=fit, dtype=dtype, mean=0.5)
                out.append(p([frame, frame[::2, ::3], frame[:, :, :1].repeat(3, 2)]).tobytes())
            results.append(out)
        finally:
            core._set_preprocess_simd(old)
    assert results[0] == results[1]


def test_native_reads_images_in_place():
    """Native only: a crop is not copied (tracemalloc sees no allocation near its size),
    while an image whose pixels are not packed costs exactly one copy."""
    import tracemalloc

    require_backend("native")
    frame = noise((1000, 1500, 3), seed=50)
    p = pre("native", (224, 224))
    out = p.empty()
    crops = {"crop": frame[100:900, 200:1300], "strided": frame[::2, ::2]}
    peaks = {}
    for name, img in crops.items():
        p(img, out=out)  # warm
        tracemalloc.start()
        p(img, out=out)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks["crop"] < 64 * 1024
    assert peaks["strided"] >= crops["strided"].size


def test_concurrent_calls_and_per_thread_transforms(backend):
    p = pre(backend, (128, 128), fit="letterbox", threads=2)
    images = [noise((80 + 40 * i, 300 - 35 * i, 3), seed=60 + i) for i in range(4)]
    want = [p(img) for img in images]

    def body(i: int) -> bool:
        ok = True
        for _ in range(5):
            x = p(images[i])
            t = p.transforms  # this thread's last call, whatever the others did
            ok = ok and np.array_equal(x, want[i])
            ok = ok and t[0].source_height == images[i].shape[0]
        return ok

    assert all(run_threads(4, body))
    assert p.transforms[0].source_height == images[-1].shape[0]  # main thread's own


# --- Pipeline, for_session ---------------------------------------------------------------


def image_model(
    layout: str = "nchw", size: tuple[int, int] = (32, 48), channels: int = 3, dtype=F32
) -> bytes:
    """``mean = ReduceMean(float(image))`` over the spatial axes: [N, C] out, for any
    layout, size, channel count and input dtype."""
    import onnx

    h = onnx.helper
    elem = h.np_dtype_to_tensor_dtype(np.dtype(dtype))
    shape = ["N", channels, *size] if layout == "nchw" else ["N", *size, channels]
    axes = [2, 3] if layout == "nchw" else [1, 2]
    graph = h.make_graph(
        [
            h.make_node("Cast", ["image"], ["f"], to=onnx.TensorProto.FLOAT),
            h.make_node("ReduceMean", ["f"], ["mean"], axes=axes, keepdims=0),
        ],
        "image_mean",
        [h.make_tensor_value_info("image", elem, shape)],
        [h.make_tensor_value_info("mean", onnx.TensorProto.FLOAT, ["N", channels])],
    )
    return models._model(graph)


def test_pipeline_equals_preprocess_then_run(make_session, backend):
    sess = make_session(models.small_cnn(classes=10, size=64))
    p = ortn.ImagePreprocessor.for_session(sess, mean=MEAN, std=STD)
    assert (p.size, p.layout, p.dtype, p.backend) == ((64, 64), "nchw", np.float32, backend)
    pipe = ortn.Pipeline(p, sess)
    frames = [synthetic_frame(360, 640, seed=s) for s in range(3)]
    for batch in (frames[0], frames, np.stack(frames[:2])):
        got = pipe(batch)
        want = sess.run({"image": p(batch)})
        assert got.keys() == want.keys() == {"probs"}
        np.testing.assert_array_equal(got["probs"], want["probs"])
    # Results stay valid after later calls (the input buffer is reused, outputs are not).
    first = pipe(frames[0])["probs"].copy()
    kept = pipe(frames[0])["probs"]
    pipe(frames[1])
    np.testing.assert_array_equal(kept, first)
    outs, transforms = pipe.run(frames[1])
    assert transforms == pipe.transforms
    assert transforms[0].source_width == 640
    assert outs["probs"].shape == (1, 10)
    assert "Pipeline(ImagePreprocessor(" in repr(pipe)


def test_pipeline_extra_feeds_outputs_and_out(make_session):
    sess = make_session(image_model())
    p = ortn.ImagePreprocessor.for_session(sess)
    pipe = ortn.Pipeline(p, sess, input_name="image", outputs=["mean"])
    img = noise((64, 96, 3), seed=70)
    out = {"mean": np.empty((1, 3), F32)}
    res = pipe(img, out=out)
    assert res["mean"] is out["mean"]
    np.testing.assert_allclose(res["mean"][0], p(img)[0].mean(axis=(1, 2)), rtol=1e-5)


def test_pipeline_with_other_inputs(make_session):
    """A model with a second input (a gain): given per call through feeds=."""
    import onnx

    h = onnx.helper
    graph = h.make_graph(
        [
            h.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=0),
            h.make_node("Mul", ["m", "gain"], ["y"]),
        ],
        "gain",
        [
            h.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["N", 3, 16, 16]),
            h.make_tensor_value_info("gain", onnx.TensorProto.FLOAT, [1]),
        ],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3])],
    )
    sess = make_session(models._model(graph))
    p = ortn.ImagePreprocessor.for_session(sess, "image")
    pipe = ortn.Pipeline(p, sess, input_name="image")
    img = noise((30, 40, 3), seed=72)
    y1 = pipe(img, feeds={"gain": np.array([1.0], F32)})["y"]
    y3 = pipe(img, feeds={"gain": np.array([3.0], F32)})["y"]
    np.testing.assert_allclose(y3, 3 * y1, rtol=1e-6)
    with pytest.raises(ortn.InvalidInputError, match="missing input 'gain'"):
        pipe(img)


@pytest.mark.parametrize(
    ("layout", "channels", "dtype"),
    [("nhwc", 3, np.uint8), ("nchw", 1, np.float16), ("nhwc", 1, np.float32)],
)
def test_for_session_reads_layout_size_dtype(make_session, layout, channels, dtype):
    sess = make_session(image_model(layout, (20, 30), channels, dtype))
    p = ortn.ImagePreprocessor.for_session(sess, resize="area")
    assert p.layout == layout
    assert p.size == (20, 30)
    assert p.dtype == dtype
    assert p.output_order == ("gray" if channels == 1 else "rgb")
    assert p.resize == "area"
    x = p(noise((40, 60, 3), seed=71))
    assert x.shape == (1, *((channels, 20, 30) if layout == "nchw" else (20, 30, channels)))
    res = ortn.Pipeline(p, sess)(noise((40, 60, 3), seed=71))
    np.testing.assert_allclose(res["mean"], sess.run({"image": x})["mean"], rtol=1e-6, atol=1e-6)


def test_for_session_free_dims_need_a_size(make_session):
    sess = make_session(image_model(size=("H", "W")))
    p = ortn.ImagePreprocessor.for_session(sess, size=(16, 24))
    assert p.size == (16, 24)
    assert p.layout == "nchw"
    assert ortn.Pipeline(p, sess)(noise((30, 30, 3)))["mean"].shape == (1, 3)


def test_concurrent_pipelines(make_session):
    sess = make_session(image_model())
    pipe = ortn.Pipeline(ortn.ImagePreprocessor.for_session(sess), sess)
    images = [noise((50 + 10 * i, 70, 3), seed=80 + i) for i in range(4)]
    want = [pipe(img)["mean"] for img in images]
    got = run_threads(4, lambda i: [pipe(images[i])["mean"] for _ in range(10)])
    for i, runs in enumerate(got):
        for r in runs:
            np.testing.assert_array_equal(r, want[i])


# --- facts ---------------------------------------------------------------------------


def test_repr_and_properties(backend):
    p = pre(backend, 224, mean=MEAN, std=STD)
    assert repr(p) == (
        "ImagePreprocessor(size=(224, 224), resize='bilinear', fit='stretch', "
        "input_order='bgr', output_order='rgb', scale=1/255, mean=(0.485, 0.456, 0.406), "
        f"std=(0.229, 0.224, 0.225), layout='nchw', dtype='float32', threads=0, "
        f"backend='{backend}')"
    )
    q = pre(backend, (640, 480), fit="letterbox", output_order="gray", dtype=np.uint8, threads=1)
    assert repr(q) == (
        "ImagePreprocessor(size=(640, 480), resize='bilinear', fit='letterbox', "
        "input_order='bgr', output_order='gray', scale=1.0, layout='nchw', dtype='uint8', "
        f"pad_value=(114.0,), align='center', threads=1, backend='{backend}')"
    )
    assert q.output_shape(4) == (4, 1, 640, 480)
    assert q.output_channels == 1
    assert (q.fit, q.align, q.input_order, q.mean, q.std) == (
        "letterbox",
        "center",
        "bgr",
        None,
        None,
    )
    assert q.transforms == []


def test_pickle(make_session, backend):
    import pickle

    p = pre(backend, (40, 60), fit="letterbox", mean=MEAN, std=STD, pad_value=(1, 2, 3))
    q = pickle.loads(pickle.dumps(p))
    assert repr(q) == repr(p)
    img = noise((50, 90, 3), seed=90)
    np.testing.assert_array_equal(q(img), p(img))
    sess = make_session(image_model(), keep_model=True)
    pipe = pickle.loads(pickle.dumps(ortn.Pipeline(ortn.ImagePreprocessor.for_session(sess), sess)))
    assert pipe(img)["mean"].shape == (1, 3)
    pipe.session.close()


def test_exports():
    assert {"ImagePreprocessor", "Pipeline", "Transform"} <= set(ortn.__all__)
    assert ortn.ImagePreprocessor.__module__ == "ortnative.preprocess"
    assert ortn.Pipeline.__module__ == "ortnative.pipeline"
    # Pipeline moved out of ortnative.preprocess: the old name (and old pickles) still work.
    from ortnative.preprocess import Pipeline

    assert Pipeline is ortn.Pipeline


def test_transform_cache_is_bounded(backend):
    p = pre(backend, 16)
    for h in range(1, 100):
        assert p.transform(h, 10).source_height == h
    assert len(p._geometry_cache) <= 64
