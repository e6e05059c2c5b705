"""The pure-Python ImagePreprocessor: the native core's arithmetic on numpy alone.

Every formula mirrors cpp/src/preprocess.cpp step for step (the same float64 and float32
operations, in the same order, the same fixed-point bilinear weights), so both backends
give bit-identical tensors; the tests check that. It checks inputs in the same order and
words errors the same way. It is slower (whole-array numpy passes and temporaries) but
needs nothing beyond numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _messages as msg
from .errors import InvalidInputError, InvalidTypeError
from .options import PreprocessOptions

ALPHA_ONE = 1 << 14  # bilinear horizontal weights: 14-bit fixed point
_F32 = np.float32
_CHANNELS = {"bgr": 3, "rgb": 3, "bgra": 4, "rgba": 4, "gray": 1}
_INT32_ROW_LIMIT = 2**31 - 1 - 16


# --- per-axis tables ---------------------------------------------------------------------


def _axis(length: int, resized: int) -> tuple[float, float]:
    """(inv, scale): OpenCV's inverse scale resized / length, and 1 / inv."""
    inv = resized / length
    return inv, 1.0 / inv


def linear_taps(
    first: int, count: int, length: int, resized: int, area_mode: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps (s0, s1, f) for resized indices first .. first + count - 1."""
    inv, scale = _axis(length, resized)
    dx = np.arange(first, first + count, dtype=np.float64)
    if not area_mode:
        f = ((dx + 0.5) * scale - 0.5).astype(_F32)
        sf = np.floor(f)
        f = f - sf
        s = sf.astype(np.int64)
    else:
        s = np.floor(dx * scale).astype(np.int64)
        f = ((dx + 1.0) - (s + 1).astype(np.float64) * inv).astype(_F32)
        f = np.where(f <= 0, _F32(0), f - np.floor(f)).astype(_F32)
    neg = s < 0
    s[neg] = 0
    f[neg] = 0
    right = s >= length - 1
    if length >= 2:
        s[right] = length - 2
        f[right] = 1
    else:
        s[right] = 0
        f[right] = 0
    return s, np.minimum(s + 1, length - 1), f


def area_taps(dx: int, length: int, scale: float) -> tuple[list[int], list[float]]:
    """INTER_AREA taps (shrinking) for resized index DX: source indices and weights."""
    idx: list[int] = []
    w: list[float] = []
    fs1 = dx * scale
    fs2 = fs1 + scale
    cell = min(scale, length - fs1)
    s1 = math.ceil(fs1)
    s2 = math.floor(fs2)
    s2 = min(s2, length - 1)
    s1 = min(s1, s2)
    if s1 - fs1 > 1e-3:
        idx.append(s1 - 1)
        w.append(float(_F32((s1 - fs1) / cell)))
    for s in range(s1, s2):
        idx.append(s)
        w.append(float(_F32(1.0 / cell)))
    if fs2 - s2 > 1e-3:
        idx.append(s2)
        w.append(float(_F32(min(min(fs2 - s2, 1.0), cell) / cell)))
    return idx, w


def area_table(first: int, count: int, length: int, resized: int) -> tuple[np.ndarray, np.ndarray]:
    """Tap-major (taps, count) index and weight tables, padded with zero weights."""
    _inv, scale = _axis(length, resized)
    per = [area_taps(first + i, length, scale) for i in range(count)]
    taps = max(len(i) for i, _ in per)
    idx = np.empty((taps, count), np.int64)
    w = np.zeros((taps, count), _F32)
    for x, (ix, wx) in enumerate(per):
        for j in range(taps):
            idx[j, x] = ix[j] if j < len(ix) else ix[0]
            if j < len(ix):
                w[j, x] = wx[j]
    return idx, w


def nearest_taps(first: int, count: int, length: int, resized: int) -> np.ndarray:
    _inv, scale = _axis(length, resized)
    dx = np.arange(first, first + count, dtype=np.float64)
    return np.minimum(np.floor(dx * scale).astype(np.int64), length - 1)


def geometry(
    height: int, width: int, out_h: int, out_w: int, fit: str, align: str
) -> tuple[int, int, int, int, int, int]:
    """(resized_w, resized_h, crop_x, crop_y, left, top), as the core computes them."""
    crop_x = crop_y = left = top = 0
    if fit == "stretch":
        rw, rh = out_w, out_h
    elif fit == "letterbox":
        r = min(out_h / height, out_w / width)
        rw = min(max(round(width * r), 1), out_w)
        rh = min(max(round(height * r), 1), out_h)
        if align == "center":
            left, top = (out_w - rw) // 2, (out_h - rh) // 2
    else:  # center_crop
        s = max(out_h / height, out_w / width)
        rw = max(round(width * s), out_w)
        rh = max(round(height * s), out_h)
        crop_x, crop_y = (rw - out_w) // 2, (rh - out_h) // 2
    return rw, rh, crop_x, crop_y, left, top


def to_uint8(v: np.ndarray) -> np.ndarray:
    """Float32 to uint8 as the core does it: saturate, then round half to even."""
    res: np.ndarray = np.rint(np.clip(v, _F32(0), _F32(255))).astype(np.uint8)
    return res


# --- the preprocessor --------------------------------------------------------------------


class PythonPreprocessor:
    """Same constructor and methods as ortnative._core.ImagePreprocessor."""

    def __init__(self, o: PreprocessOptions) -> None:
        (height, width), resize, fit, align = o.hw, o.resize, o.fit, o.align
        input_order, output_order, dtype, layout = o.input_order, o.output_order, o.dtype, o.layout
        scale, mean, std, pad_value = (
            float(o.scale or 0),
            o.padded("mean"),
            o.padded("std"),
            o.padded("pad_value"),
        )
        self.height, self.width = height, width
        self.resize, self.fit, self.align = resize, fit, align
        self.input_order, self.output_order = input_order, output_order
        self.dtype = np.dtype(dtype)
        self.layout = layout
        self.out_c = 1 if output_order == "gray" else 3
        # Step 4's coefficients, from double to float once, as in the core.
        self.a = [_F32(scale / std[c]) for c in range(3)]
        self.b = [_F32(-mean[c] / std[c]) for c in range(3)]
        self.pad = [_F32(pad_value[c]) * self.a[c] + self.b[c] for c in range(3)]
        # Positions of B, G, R in a source pixel, and the source channel per output one.
        bgr_in = input_order in ("bgr", "bgra")
        self.bgr_pos = (0, 1, 2) if bgr_in else (2, 1, 0)
        b, g, r = self.bgr_pos
        if _CHANNELS[input_order] == 1:
            self.src_ch = (0, 0, 0)
        elif output_order == "rgb":
            self.src_ch = (r, g, b)
        else:
            self.src_ch = (b, g, r)
        self.gray_mix = _CHANNELS[input_order] != 1 and output_order == "gray"

    # -- facts --------------------------------------------------------------------------
    def output_shape(self, n: int) -> tuple[int, int, int, int]:
        if self.layout == "nchw":
            return (n, self.out_c, self.height, self.width)
        return (n, self.height, self.width, self.out_c)

    def geometry(
        self, height: int, width: int
    ) -> tuple[float, float, float, float, int, int, int, int]:
        rw, rh, cx, cy, left, top = geometry(
            height, width, self.height, self.width, self.fit, self.align
        )
        return (
            rw / width,
            rh / height,
            float(left - cx),
            float(top - cy),
            left,
            top,
            min(rw, self.width),
            min(rh, self.height),
        )

    # -- checks (the core's order and words) --------------------------------------------
    def _check_out(self, out: Any, n: int) -> np.ndarray:
        if not isinstance(out, np.ndarray):
            raise msg.preprocess_out_not_array(type(out).__name__)
        if out.dtype != self.dtype:
            raise InvalidTypeError(msg.preprocess_out_dtype(str(out.dtype), str(self.dtype)))
        want = self.output_shape(n)
        if out.shape != want:
            raise InvalidInputError(msg.preprocess_out_shape(out.shape, want, self.layout, n))
        if (
            not out.flags.writeable
            or not out.flags.aligned
            or any(s % out.itemsize for s in out.strides)
            or (out.strides[3] != out.itemsize and out.shape[3] != 1)
        ):
            raise InvalidInputError(msg.preprocess_out_layout())
        return out

    def _check_image(self, i: int, im: Any) -> np.ndarray:
        if not isinstance(im, np.ndarray):
            raise msg.image_not_array(i, type(im).__name__)
        if im.dtype != np.uint8:
            raise InvalidTypeError(msg.image_dtype(i, str(im.dtype)))
        if im.ndim not in (2, 3):
            raise InvalidInputError(msg.image_shape(i, im.shape))
        want = _CHANNELS[self.input_order]
        got = 1 if im.ndim == 2 else im.shape[2]
        if got != want:
            raise InvalidInputError(msg.image_channels(i, im.shape, got, want, self.input_order))
        if im.shape[0] <= 0 or im.shape[1] <= 0:
            raise InvalidInputError(msg.image_empty(i, im.shape))
        if im.shape[1] * got > _INT32_ROW_LIMIT:
            raise InvalidInputError(msg.image_rows_too_long(i, im.shape[1] * got))
        return im if im.ndim == 3 else im[:, :, None]

    # -- running ------------------------------------------------------------------------
    def run(self, images: Any, out: Any = None) -> np.ndarray:
        if isinstance(images, np.ndarray):
            items: Sequence[Any] = list(images) if images.ndim == 4 else [images]
        elif isinstance(images, (list, tuple)):
            items = images
        else:
            raise msg.images_container(type(images).__name__)
        n = len(items)
        if n == 0:
            raise InvalidInputError(msg.no_images())
        if out is None:
            out = np.empty(self.output_shape(n), self.dtype)
        else:
            out = self._check_out(out, n)
        checked = [self._check_image(i, im) for i, im in enumerate(items)]
        for i, im in enumerate(checked):
            planes = self._image(im)
            if self.dtype == np.float16:
                conv = planes.astype(np.float16)
            elif self.dtype == np.uint8:
                conv = to_uint8(planes)
            else:
                conv = planes
            out[i] = conv if self.layout == "nchw" else conv.transpose(1, 2, 0)
        result: np.ndarray = out
        return result

    def _image(self, im: np.ndarray) -> np.ndarray:
        """Planar float32 (C, H, W) values of one image: resized, coloured, scaled, padded."""
        h, w = im.shape[:2]
        rw, rh, cx, cy, left, top = geometry(h, w, self.height, self.width, self.fit, self.align)
        vw, vh = min(rw, self.width), min(rh, self.height)
        planes = np.empty((self.out_c, self.height, self.width), _F32)
        for c in range(self.out_c):
            planes[c] = self.pad[c]
        mode, area_mode = self.resize, False
        _, sx = _axis(w, rw)
        _, sy = _axis(h, rh)
        if mode == "area" and not (sx >= 1.0 and sy >= 1.0):
            mode, area_mode = "bilinear", True

        resized_all: np.ndarray | None = None
        if mode == "area":
            # Shrinking both axes: vertical first, then horizontal (tap-major), every
            # channel at once (the arithmetic is per element, as in the core).
            yidx, yw = area_table(cy, vh, h, rh)
            xidx, xw = area_table(cx, vw, w, rw)
            acc = im[yidx[0]].astype(_F32) * yw[0][:, None, None]
            for j in range(1, yidx.shape[0]):
                acc = acc + im[yidx[j]].astype(_F32) * yw[j][:, None, None]
            resized_all = acc[:, xidx[0]] * xw[0][None, :, None]
            for j in range(1, xidx.shape[0]):
                resized_all = resized_all + acc[:, xidx[j]] * xw[j][None, :, None]

        def channel(s: int) -> np.ndarray:
            """The resized values v (vh, vw) of source channel S."""
            if resized_all is not None:
                v: np.ndarray = resized_all[:, :, s]
                return v
            if mode == "nearest":
                ys = nearest_taps(cy, vh, h, rh)
                xs = nearest_taps(cx, vw, w, rw)
                return np.asarray(im[ys][:, xs, s], _F32)
            ys0, ys1, fy = linear_taps(cy, vh, h, rh, area_mode)
            xs0, xs1, fx = linear_taps(cx, vw, w, rw, area_mode)
            a1 = np.rint(fx * _F32(ALPHA_ONE)).astype(np.int32)
            a0 = ALPHA_ONE - a1
            w0 = (_F32(1) - fy) / _F32(ALPHA_ONE)
            w1 = fy / _F32(ALPHA_ONE)
            # Whole rows first (contiguous copies), then the columns: numpy gathers these
            # faster than (row, column) pairs.
            r0 = im[ys0][:, :, s].astype(np.int32)
            r1 = im[ys1][:, :, s].astype(np.int32)
            h0 = r0[:, xs0] * a0 + r0[:, xs1] * a1
            h1 = r1[:, xs0] * a0 + r1[:, xs1] * a1
            out: np.ndarray = h0.astype(_F32) * w0[:, None] + h1.astype(_F32) * w1[:, None]
            return out

        region = (slice(top, top + vh), slice(left, left + vw))
        if self.gray_mix:
            b, g, r = (channel(p) for p in self.bgr_pos)
            v = (b * _F32(0.114) + g * _F32(0.587)) + r * _F32(0.299)
            planes[0][region] = v * self.a[0] + self.b[0]
        else:
            cache: dict[int, np.ndarray] = {}
            for c in range(self.out_c):
                s = self.src_ch[c]
                if s not in cache:
                    cache[s] = channel(s)
                planes[c][region] = cache[s] * self.a[c] + self.b[c]
        return planes
