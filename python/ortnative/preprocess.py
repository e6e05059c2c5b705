"""Fused image preprocessing: camera frames in, a model's input tensor out.

``ImagePreprocessor`` does what a typical service does step by step (resize, colour
order, ``astype(float32)``, ``/ 255``, ``(x - mean) / std``, ``transpose``, ``np.stack``)
in one native pass per output pixel, writing straight into the tensor the session reads.
``Pipeline`` ties one to a :class:`~ortnative.Session`: frame in, outputs out.

Both backends compute bit-identical tensors (the fallback repeats the core's arithmetic
in numpy); the native one is many times faster.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import _backend
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from .session import Session

__all__ = ["ImagePreprocessor", "Pipeline", "Transform"]

Images = np.ndarray | Sequence[np.ndarray]
PerChannel = float | Sequence[float] | None

_RESIZE = ("nearest", "bilinear", "area")
_FIT = ("stretch", "letterbox", "center_crop")
_ALIGN = ("center", "top_left")
_INPUT_ORDERS = ("bgr", "rgb", "bgra", "rgba", "gray")
_OUTPUT_ORDERS = ("rgb", "bgr", "gray")
_LAYOUTS = ("nchw", "nhwc")
_DTYPES = ("float32", "float16", "uint8")
_F32_MAX = 3.4028234663852886e38  # float(numpy.finfo(numpy.float32).max)


class Transform(NamedTuple):
    """Where one image landed in the output, and how to map coordinates back.

    An output coordinate ``u`` (pixels, continuous, corner-based, like box corners)
    shows the source coordinate ``(u - offset) / scale`` on each axis. The image covers
    the output region ``left, top, width, height``; the rest is padding (letterbox).
    """

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    left: int
    top: int
    width: int
    height: int
    source_width: int
    source_height: int

    def to_source(self, coords: Any, *, clip: bool = False) -> np.ndarray:
        """Maps output coordinates to source ones. COORDS: an array-like whose last axis
        holds (x, y) pairs: points ``(..., 2)``, boxes ``(..., 4)`` as x1, y1, x2, y2, or
        more pairs. ``clip=True`` clamps to the source image. Returns a new float array
        (float64, or the input's float dtype)."""
        a = _coords(coords)
        a[..., 0::2] = (a[..., 0::2] - self.offset_x) / self.scale_x
        a[..., 1::2] = (a[..., 1::2] - self.offset_y) / self.scale_y
        if clip:
            np.clip(a[..., 0::2], 0, self.source_width, out=a[..., 0::2])
            np.clip(a[..., 1::2], 0, self.source_height, out=a[..., 1::2])
        return a

    def to_output(self, coords: Any) -> np.ndarray:
        """The inverse of :meth:`to_source`: source coordinates to output ones."""
        a = _coords(coords)
        a[..., 0::2] = a[..., 0::2] * self.scale_x + self.offset_x
        a[..., 1::2] = a[..., 1::2] * self.scale_y + self.offset_y
        return a


def _coords(coords: Any) -> np.ndarray:
    a = np.asarray(coords)
    a = np.array(a, dtype=a.dtype if a.dtype.kind == "f" else np.float64, copy=True)
    if a.ndim == 0 or a.shape[-1] % 2:
        raise InvalidArgumentError(
            "coordinates must be (x, y) pairs along the last axis, got shape "
            f"{tuple(int(d) for d in a.shape)}"
        )
    return a


# --- argument checks (shared by both backends) ------------------------------------------


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidArgumentError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}"
        )
    return value


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _size(size: Any) -> tuple[int, int]:
    if _is_int(size):
        hw = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_int(v) for v in size):
        hw = (int(size[0]), int(size[1]))
    else:
        hw = (0, 0)
    if hw[0] <= 0 or hw[1] <= 0:
        raise InvalidArgumentError(
            f"size must be a positive int or a (height, width) pair of positive ints, got {size!r}"
        )
    return hw


def _dtype(dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _DTYPES:
        shown = dtype if isinstance(dtype, str) or name is None else name
        raise InvalidArgumentError(
            f"dtype must be one of {', '.join(repr(d) for d in _DTYPES)}, got {shown!r}"
        )
    return str(name)


def _per_channel(name: str, value: PerChannel, n: int) -> tuple[float, ...] | None:
    """VALUE as N floats (a number applies to every channel); None stays None."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        values = None
    elif isinstance(value, (int, float, np.number)):
        values = [float(value)] * n
    else:
        try:
            values = [float(v) for v in value]
        except (TypeError, ValueError):
            values = None
    if values is None:
        raise InvalidArgumentError(
            f"{name} must be a number or a sequence of {n} numbers (one per output channel), "
            f"got {value!r}"
        )
    if len(values) != n:
        raise InvalidArgumentError(
            f"{name} must be a number or {n} number{'' if n == 1 else 's'} (one per output "
            f"channel, in output_order), got {len(values)}"
        )
    for c, v in enumerate(values):
        if not math.isfinite(v):
            raise InvalidArgumentError(f"{name} must be finite, got {v!r} for output channel {c}")
    return tuple(values)


def _pad3(values: tuple[float, ...] | None, default: float) -> tuple[float, float, float]:
    v = list(values) if values is not None else []
    v += [default] * (3 - len(v))
    return (v[0], v[1], v[2])


def _fmt_values(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(repr(v) for v in values) + ("," if len(values) == 1 else "") + ")"


class ImagePreprocessor:
    """Turns 8-bit images into a model's input tensor in one fused pass.

    ``pre = ImagePreprocessor(size=(224, 224), resize="bilinear", fit="stretch",
    input_order="bgr", output_order="rgb", scale=1/255, mean=None, std=None,
    layout="nchw", dtype="float32")``, then ``x = pre(image_or_images, out=None)``.

    - ``size``: output ``(height, width)``, or one int for a square.
    - ``resize``: ``"nearest"`` (== OpenCV ``INTER_NEAREST``), ``"bilinear"`` (OpenCV
      ``INTER_LINEAR``: half-pixel centres, clamped borders) or ``"area"`` (OpenCV
      ``INTER_AREA``: the area-weighted mean when shrinking: no aliasing on large
      reductions, at several times bilinear's cost).
    - ``fit``: ``"stretch"`` (ignore the aspect ratio), ``"letterbox"`` (keep it; pad
      with ``pad_value``, image centred or, with ``align="top_left"``, in the corner: the
      YOLO letterbox) or ``"center_crop"`` (keep it; the shorter side fills the output,
      the rest is cropped evenly).
    - ``input_order``: the images' channels: ``"bgr"`` (OpenCV's), ``"rgb"``,
      ``"bgra"``, ``"rgba"`` (alpha is dropped) or ``"gray"`` (HxW or HxWx1).
    - ``output_order``: ``"rgb"``, ``"bgr"`` or ``"gray"`` (gray input is replicated to
      three channels; colour to gray is 0.299 R + 0.587 G + 0.114 B).
    - ``scale``, ``mean``, ``std``: the output is ``(v * scale - mean) / std`` per output
      channel (in output order), where v is the resized pixel value (0..255, unrounded).
      ``scale`` defaults to 1/255 for float outputs and 1 for uint8; ``mean`` and
      ``std`` to none (0 and 1); each may be one number or one per channel.
    - ``layout``: ``"nchw"`` or ``"nhwc"``; ``dtype``: ``"float32"``, ``"float16"`` or
      ``"uint8"`` (rounded to nearest even and saturated).
    - ``pad_value``: letterbox padding in pixel units, before scale/mean/std (default 114,
      YOLO's gray); one number or one per output channel.
    - ``threads``: threads one call may use: 0 (default) every core, 1 the calling
      thread only. Batches are split by image, single large images by rows; calls too
      small to gain run on the calling thread.
    - ``backend``: ``"native"``, ``"python"`` or ``None`` (:data:`ortnative.backend`).

    Images are uint8 numpy arrays, HxWxC (or HxW gray), of any row stride: a crop
    ``frame[y0:y1, x0:x1]`` is read in place; images whose pixels are not packed (e.g.
    ``frame[:, ::2]`` or ``frame[..., ::-1]``) cost one copy. A list of images (sizes may
    differ) or an NxHxWxC array gives an N-batch tensor. Nothing is ever cast: other
    dtypes raise :class:`~ortnative.InvalidTypeError`.

    Thread-safety: one preprocessor may be called from many threads at once; the native
    backend releases the GIL for the whole pass. :attr:`transforms` is per thread: it
    holds the transforms of the last call made *by the reading thread*; :meth:`run`
    returns a call's transforms with its tensor, for code that must not rely on that.
    """

    __slots__ = (
        "__weakref__",
        "_align",
        "_backend",
        "_dtype",
        "_fit",
        "_geometry_cache",
        "_impl",
        "_input_order",
        "_layout",
        "_local",
        "_mean",
        "_output_order",
        "_pad_value",
        "_requested",
        "_resize",
        "_run",
        "_scale",
        "_size",
        "_std",
        "_threads",
    )

    def __init__(
        self,
        size: int | tuple[int, int] = (224, 224),
        resize: str = "bilinear",
        fit: str = "stretch",
        input_order: str = "bgr",
        output_order: str = "rgb",
        scale: float | None = None,
        mean: PerChannel = None,
        std: PerChannel = None,
        layout: str = "nchw",
        dtype: Any = "float32",
        *,
        pad_value: PerChannel = 114.0,
        align: str = "center",
        threads: int = 0,
        backend: str | None = None,
    ) -> None:
        self._size = _size(size)
        self._resize = _choice("resize", resize, _RESIZE)
        self._fit = _choice("fit", fit, _FIT)
        self._align = _choice("align", align, _ALIGN)
        self._input_order = _choice("input_order", input_order, _INPUT_ORDERS)
        self._output_order = _choice("output_order", output_order, _OUTPUT_ORDERS)
        self._layout = _choice("layout", layout, _LAYOUTS)
        self._dtype = _dtype(dtype)
        if not _is_int(threads) or threads < 0:
            raise InvalidArgumentError(f"threads must be an int >= 0, got {threads!r}")
        self._threads = int(threads)
        if scale is None:
            scale = 1.0 if self._dtype == "uint8" else 1 / 255
        if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.number)):
            raise InvalidArgumentError(f"scale must be a finite number, got {scale!r}")
        if not math.isfinite(float(scale)):
            raise InvalidArgumentError(f"scale must be a finite number, got {float(scale)!r}")
        self._scale = float(scale)
        n = 1 if self._output_order == "gray" else 3
        self._mean = _per_channel("mean", mean, n)
        self._std = _per_channel("std", std, n)
        self._pad_value = _per_channel("pad_value", pad_value, n)
        for c, s in enumerate(self._std or ()):
            if s == 0:
                raise InvalidArgumentError(f"std must be non-zero, got 0 for output channel {c}")
        mean3, std3 = _pad3(self._mean, 0.0), _pad3(self._std, 1.0)
        for c in range(n):
            a, b = self._scale / std3[c], -mean3[c] / std3[c]
            if not (abs(a) <= _F32_MAX and abs(b) <= _F32_MAX):
                raise InvalidArgumentError(
                    f"scale / std and mean / std must fit in float32 (output channel {c})"
                )
        self._requested = backend
        self._backend = _backend.resolve(backend)
        args = (
            self._size[0],
            self._size[1],
            self._resize,
            self._fit,
            self._align,
            self._input_order,
            self._output_order,
            self._scale,
            mean3,
            std3,
            _pad3(self._pad_value, 114.0),
            self._dtype,
            self._layout,
            self._threads,
        )
        if self._backend == "native":
            self._impl = _backend.native_module().ImagePreprocessor(*args)
        else:
            from ._fallback_preprocess import PythonPreprocessor

            self._impl = PythonPreprocessor(*args)
        self._run = self._impl.run
        self._local = threading.local()
        self._geometry_cache: dict[tuple[int, int], Transform] = {}

    # -- running -------------------------------------------------------------------------
    def __call__(self, images: Images, out: np.ndarray | None = None) -> np.ndarray:
        """Preprocesses one image (HxWxC or HxW), an NxHxWxC array, or a list of images
        into an N-batch tensor (N = 1 for one image) and returns it.

        ``out``: the array to write into, e.g. a slice ``batch[8:16]`` of a bigger batch
        or a session's preallocated input; it must have the preprocessor's dtype and
        :meth:`output_shape`, be writeable and have a contiguous last dimension. The same
        object is returned. Every element is written.

        Raises :class:`~ortnative.InvalidTypeError` (an image not uint8, ``out`` of
        another dtype, not arrays at all) or :class:`~ortnative.InvalidInputError` (a
        wrong rank or channel count, an empty image, no images, ``out`` of the wrong
        shape or layout); nothing is written then.
        """
        result: np.ndarray = self._run(images, out)
        self._local.sizes = _sizes(images)
        return result

    def run(
        self, images: Images, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[Transform]]:
        """Like calling the preprocessor, but returns ``(tensor, transforms)``: this
        call's transform per image, whatever other threads do meanwhile."""
        result = self(images, out)
        return result, self._transforms(self._local.sizes)

    @property
    def transforms(self) -> list[Transform]:
        """The transform of each image of the last call made by this thread (empty before
        the first). Map boxes back with ``pre.transforms[i].to_source(boxes)``."""
        return self._transforms(getattr(self._local, "sizes", ()))

    def transform(self, height: int, width: int) -> Transform:
        """The transform for a source image of HEIGHT x WIDTH pixels, without running."""
        key = (int(height), int(width))
        t = self._geometry_cache.get(key)
        if t is None:
            sx, sy, ox, oy, left, top, w, h = self._impl.geometry(key[0], key[1])
            t = Transform(sx, sy, ox, oy, left, top, w, h, key[1], key[0])
            if len(self._geometry_cache) < 64:
                self._geometry_cache[key] = t
        return t

    def _transforms(self, sizes: Sequence[tuple[int, int]]) -> list[Transform]:
        return [self.transform(h, w) for h, w in sizes]

    def output_shape(self, n: int = 1) -> tuple[int, int, int, int]:
        """The tensor shape for N images: (N, C, H, W) or (N, H, W, C)."""
        s = self._impl.output_shape(n)
        return (int(s[0]), int(s[1]), int(s[2]), int(s[3]))

    def empty(self, n: int = 1) -> np.ndarray:
        """A new uninitialised array of :meth:`output_shape` (N) and the output dtype:
        a buffer to reuse with ``out=``."""
        return np.empty(self.output_shape(n), self._dtype)

    # -- construction from a model ----------------------------------------------------
    @classmethod
    def for_session(
        cls, session: Session, input_name: str | None = None, **overrides: Any
    ) -> ImagePreprocessor:
        """A preprocessor for an image input of SESSION (its only input by default):
        layout, size, dtype and channel count come from the input's shape and type where
        the model fixes them (NCHW when dimension 1 is 1 or 3, NHWC when dimension 3 is);
        one channel means gray output. The session's backend is used. Everything else
        (resize, fit, mean, std, input_order, ...) is the constructor's default unless
        given in OVERRIDES, which also override what was read."""
        info = _image_input(session, input_name)
        shape = info.shape
        layout = overrides.get("layout")
        if layout is None:
            ch1, ch3 = _is_channels(shape[1]), _is_channels(shape[3])
            if ch1:
                layout = "nchw"
            elif ch3:
                layout = "nhwc"
            else:
                raise InvalidArgumentError(
                    f"cannot tell the layout of input '{info.name}' {_fmt_shape(shape)}: "
                    "pass layout='nchw' or layout='nhwc'"
                )
        layout = _choice("layout", layout, _LAYOUTS)
        channels, h, w = (
            (shape[1], shape[2], shape[3]) if layout == "nchw" else (shape[3], shape[1], shape[2])
        )
        kwargs: dict[str, Any] = {"layout": layout, "backend": session.backend}
        if isinstance(h, int) and isinstance(w, int):
            kwargs["size"] = (h, w)
        elif "size" not in overrides:
            raise InvalidArgumentError(
                f"input '{info.name}' {_fmt_shape(shape)} has free spatial dimensions: pass "
                "size=(height, width)"
            )
        if isinstance(channels, int):
            if channels not in (1, 3):
                raise InvalidArgumentError(
                    f"input '{info.name}' {_fmt_shape(shape)} has {channels} channels; "
                    "ImagePreprocessor makes 1 (gray) or 3"
                )
            kwargs["output_order"] = "gray" if channels == 1 else "rgb"
        dtype = None if info.dtype is None else info.dtype.name
        if dtype not in _DTYPES:
            raise InvalidArgumentError(
                f"input '{info.name}' takes {dtype or 'an unsupported type'}; ImagePreprocessor "
                f"makes {', '.join(_DTYPES)}"
            )
        kwargs["dtype"] = dtype
        kwargs.update(overrides)
        return cls(**kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its options; the backend travels only if it was asked for by name.
        kwargs = {
            "size": self._size,
            "resize": self._resize,
            "fit": self._fit,
            "input_order": self._input_order,
            "output_order": self._output_order,
            "scale": self._scale,
            "mean": self._mean,
            "std": self._std,
            "layout": self._layout,
            "dtype": self._dtype,
            "pad_value": self._pad_value,
            "align": self._align,
            "threads": self._threads,
            "backend": self._requested,
        }
        return (_restore_preprocessor, (kwargs,))

    # -- facts -------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def resize(self) -> str:
        return self._resize

    @property
    def fit(self) -> str:
        return self._fit

    @property
    def align(self) -> str:
        return self._align

    @property
    def input_order(self) -> str:
        return self._input_order

    @property
    def output_order(self) -> str:
        return self._output_order

    @property
    def scale(self) -> float:
        return self._scale

    @property
    def mean(self) -> tuple[float, ...] | None:
        return self._mean

    @property
    def std(self) -> tuple[float, ...] | None:
        return self._std

    @property
    def pad_value(self) -> tuple[float, ...] | None:
        return self._pad_value

    @property
    def layout(self) -> str:
        return self._layout

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._dtype)

    @property
    def threads(self) -> int:
        return self._threads

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def output_channels(self) -> int:
        return 1 if self._output_order == "gray" else 3

    def __repr__(self) -> str:
        scale = "1/255" if self._scale == 1 / 255 else repr(self._scale)
        parts = [
            f"size={self._size}",
            f"resize={self._resize!r}",
            f"fit={self._fit!r}",
            f"input_order={self._input_order!r}",
            f"output_order={self._output_order!r}",
            f"scale={scale}",
        ]
        if self._mean is not None:
            parts.append(f"mean={_fmt_values(self._mean)}")
        if self._std is not None:
            parts.append(f"std={_fmt_values(self._std)}")
        parts += [f"layout={self._layout!r}", f"dtype={self._dtype!r}"]
        if self._fit == "letterbox":
            parts.append(f"pad_value={_fmt_values(self._pad_value or ())}")
            parts.append(f"align={self._align!r}")
        parts += [f"threads={self._threads}", f"backend={self._backend!r}"]
        return f"ImagePreprocessor({', '.join(parts)})"


def _restore_preprocessor(kwargs: dict[str, Any]) -> ImagePreprocessor:
    return ImagePreprocessor(**kwargs)


def _sizes(images: Any) -> Sequence[tuple[int, int]]:
    """(height, width) of each image of a call that succeeded."""
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return [(images.shape[1], images.shape[2])] * images.shape[0]
        return [(images.shape[0], images.shape[1])]
    return [(im.shape[0], im.shape[1]) for im in images]


def _is_channels(d: Any) -> bool:
    return isinstance(d, int) and d in (1, 3)


def _fmt_shape(shape: Sequence[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _image_input(session: Session, input_name: str | None) -> Any:
    names = [i.name for i in session.inputs]
    if input_name is None:
        if len(names) != 1:
            raise InvalidArgumentError(
                f"the model has {len(names)} inputs ({', '.join(repr(n) for n in names)}): "
                "pass input_name"
            )
        input_name = names[0]
    for info in session.inputs:
        if info.name == input_name:
            if len(info.shape) != 4:
                raise InvalidArgumentError(
                    f"input '{info.name}' {_fmt_shape(info.shape)} is not an image batch: "
                    "ImagePreprocessor makes 4-D NCHW or NHWC tensors"
                )
            return info
    raise InvalidArgumentError(
        f"unknown input name {input_name!r} (the model has: {', '.join(repr(n) for n in names)})"
    )


class Pipeline:
    """Preprocessing and inference in one call: images in, the model's outputs out.

    ``Pipeline(preprocessor, session, input_name=None, outputs=None)``, then
    ``pipe(frame_or_frames)`` -> ``{output name: array}``. The preprocessor writes
    straight into an input buffer the pipeline keeps and reuses (one per batch size and
    concurrent caller), and the session reads it in place: no intermediate arrays. The
    preprocessor's output must fit the input (dtype, layout, fixed dimensions); that is
    checked here, once.

    ``input_name``: the image input (default: the model's only input). ``outputs``: the
    outputs to compute (default: all). Calls may come from many threads at once; each
    gets its own buffer. :attr:`transforms` (per thread) and :meth:`run` give the
    images' transforms, to map boxes back.
    """

    __slots__ = ("_free", "_input", "_lock", "_outputs", "preprocessor", "session")

    _MAX_FREE = 4  # buffers kept per batch size

    def __init__(
        self,
        preprocessor: ImagePreprocessor,
        session: Session,
        input_name: str | None = None,
        outputs: Sequence[str] | None = None,
    ) -> None:
        info = _image_input(session, input_name)
        want = preprocessor.output_shape(1)
        if info.dtype != preprocessor.dtype:
            raise InvalidArgumentError(
                f"the preprocessor makes {preprocessor.dtype}, but input '{info.name}' takes "
                f"{info.dtype}"
            )
        for d, (got, need) in enumerate(zip(info.shape, want, strict=False)):
            if d > 0 and isinstance(got, int) and got != need:
                raise InvalidArgumentError(
                    f"the preprocessor makes {_fmt_shape(['N', *want[1:]])} "
                    f"({preprocessor.layout}), but input '{info.name}' is "
                    f"{_fmt_shape(info.shape)}"
                )
        self.preprocessor = preprocessor
        self.session = session
        self._input = info.name
        self._outputs = list(outputs) if outputs is not None else None
        self._free: dict[int, list[np.ndarray]] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        images: Images,
        *,
        feeds: Mapping[str, Any] | None = None,
        out: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Preprocesses IMAGES (as the preprocessor takes them) into the reused input
        buffer and runs the session. ``feeds``: other inputs of the model, by name.
        ``out``: as :meth:`Session.run`'s. Returns ``{output name: array}``."""
        if isinstance(images, np.ndarray):
            n = images.shape[0] if images.ndim == 4 else 1
        elif isinstance(images, (list, tuple)):
            n = len(images)
        else:
            n = 0
        if n == 0:
            self.preprocessor(images)  # raises what is wrong: no images, or not images
        buf = self._take(n)
        try:
            self.preprocessor(images, out=buf)
            all_feeds = {self._input: buf} if not feeds else {**feeds, self._input: buf}
            return self.session.run(all_feeds, self._outputs, out=out)
        finally:
            self._give(n, buf)

    def run(
        self,
        images: Images,
        *,
        feeds: Mapping[str, Any] | None = None,
        out: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[dict[str, np.ndarray], list[Transform]]:
        """Like calling the pipeline, but returns ``(outputs, transforms)`` of this call."""
        result = self(images, feeds=feeds, out=out)
        return result, self.preprocessor.transforms

    @property
    def transforms(self) -> list[Transform]:
        """The transforms of the last call made by this thread (see ImagePreprocessor)."""
        return self.preprocessor.transforms

    def _take(self, n: int) -> np.ndarray:
        with self._lock:
            free = self._free.get(n)
            if free:
                return free.pop()
        return self.preprocessor.empty(n)

    def _give(self, n: int, buf: np.ndarray) -> None:
        with self._lock:
            free = self._free.setdefault(n, [])
            if len(free) < self._MAX_FREE:
                free.append(buf)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Pipeline, (self.preprocessor, self.session, self._input, self._outputs))

    def __repr__(self) -> str:
        return f"Pipeline({self.preprocessor!r}, {self.session!r}, input_name={self._input!r})"
