"""Fused image preprocessing: camera frames in, a model's input tensor out.

``ImagePreprocessor`` does what a typical service does step by step (resize, colour
order, ``astype(float32)``, ``/ 255``, ``(x - mean) / std``, ``transpose``, ``np.stack``)
in one native pass per output pixel, writing straight into the tensor the session reads.
``Pipeline`` (pipeline.py) ties one to a :class:`~ortnative.Session`: frame in, outputs
out.

Both backends compute bit-identical tensors (the fallback repeats the core's arithmetic
in numpy); the native one is many times faster.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import _backend
from . import _messages as msg
from .errors import InvalidArgumentError
from .options import LAYOUTS, PREPROCESS_DTYPES, PreprocessOptions, _choice

if TYPE_CHECKING:
    from ._impl import PreprocessorImpl
    from ._types import TensorInfo
    from .session import Session

__all__ = ["ImagePreprocessor", "Transform"]

Images = np.ndarray | Sequence[np.ndarray]
PerChannel = float | Sequence[float] | None


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
        raise msg.coordinates(a.shape)
    return a


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
        "_backend",
        "_geometry_cache",
        "_impl",
        "_local",
        "_opts",
        "_requested",
        "_run",
    )

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        *,
        options: PreprocessOptions | None = None,
        backend: str | None = None,
        **kwargs: Any,
    ) -> None:
        if size is not None:
            kwargs["size"] = size
        self._opts = PreprocessOptions.of(options, kwargs, "ImagePreprocessor")
        self._requested = backend
        self._backend = _backend.resolve(backend)
        self._impl: PreprocessorImpl
        if self._backend == "native":
            self._impl = _backend.native_module().ImagePreprocessor(self._opts)
        else:
            from ._fallback_preprocess import PythonPreprocessor

            self._impl = PythonPreprocessor(self._opts)
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
            if key[0] <= 0 or key[1] <= 0:
                raise InvalidArgumentError(msg.image_size(*key))
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
        return np.empty(self.output_shape(n), self._opts.dtype)

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
                raise msg.image_layout_unknown(info.name, shape)
        layout = _choice("layout", layout, LAYOUTS)
        channels, h, w = (
            (shape[1], shape[2], shape[3]) if layout == "nchw" else (shape[3], shape[1], shape[2])
        )
        kwargs: dict[str, Any] = {"layout": layout, "backend": session.backend}
        if isinstance(h, int) and isinstance(w, int):
            kwargs["size"] = (h, w)
        elif "size" not in overrides:
            raise msg.image_size_free(info.name, shape)
        if isinstance(channels, int):
            if channels not in (1, 3):
                raise msg.image_channel_count(info.name, shape, channels)
            kwargs["output_order"] = "gray" if channels == 1 else "rgb"
        dtype = None if info.dtype is None else info.dtype.name
        if dtype not in PREPROCESS_DTYPES:
            raise msg.image_input_dtype(info.name, dtype, PREPROCESS_DTYPES)
        kwargs["dtype"] = dtype
        kwargs.update(overrides)
        return cls(**kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its options; the backend travels only if it was asked for by name.
        return (_restore_preprocessor, (self._opts, self._requested))

    # -- facts -------------------------------------------------------------------------
    @property
    def options(self) -> PreprocessOptions:
        """The options record (see :class:`ortnative.PreprocessOptions`)."""
        return self._opts

    size = property(lambda self: self._opts.size, doc="Output (height, width).")
    resize = property(lambda self: self._opts.resize)
    fit = property(lambda self: self._opts.fit)
    align = property(lambda self: self._opts.align)
    input_order = property(lambda self: self._opts.input_order)
    output_order = property(lambda self: self._opts.output_order)
    scale = property(lambda self: self._opts.scale)
    mean = property(lambda self: self._opts.mean)
    std = property(lambda self: self._opts.std)
    pad_value = property(lambda self: self._opts.pad_value)
    layout = property(lambda self: self._opts.layout)
    threads = property(lambda self: self._opts.threads)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(str(self._opts.dtype))

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def output_channels(self) -> int:
        return self._opts.channels

    def __repr__(self) -> str:
        o = self._opts
        scale = "1/255" if o.scale == 1 / 255 else repr(o.scale)
        parts = [
            f"size={o.size}",
            f"resize={o.resize!r}",
            f"fit={o.fit!r}",
            f"input_order={o.input_order!r}",
            f"output_order={o.output_order!r}",
            f"scale={scale}",
        ]
        for name in ("mean", "std"):
            values = o.per_channel(name)
            if values is not None:
                parts.append(f"{name}={msg.format_values(values)}")
        parts += [f"layout={o.layout!r}", f"dtype={o.dtype!r}"]
        if o.fit == "letterbox":
            parts.append(f"pad_value={msg.format_values(o.per_channel('pad_value') or ())}")
            parts.append(f"align={o.align!r}")
        parts += [f"threads={o.threads}", f"backend={self._backend!r}"]
        return f"ImagePreprocessor({', '.join(parts)})"


def _restore_preprocessor(options: PreprocessOptions, backend: str | None) -> ImagePreprocessor:
    return ImagePreprocessor(options=options, backend=backend)


def _sizes(images: Any) -> Sequence[tuple[int, int]]:
    """(height, width) of each image of a call that succeeded."""
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return [(images.shape[1], images.shape[2])] * images.shape[0]
        return [(images.shape[0], images.shape[1])]
    return [(im.shape[0], im.shape[1]) for im in images]


def _is_channels(d: Any) -> bool:
    return isinstance(d, int) and d in (1, 3)


def _image_input(session: Session, input_name: str | None) -> TensorInfo:
    """SESSION's image input INPUT_NAME (default: its only input), checked to be 4-D (for
    for_session, and for Pipeline in pipeline.py)."""
    names = [i.name for i in session.inputs]
    if input_name is None:
        if len(names) != 1:
            raise msg.which_image_input(names)
        input_name = names[0]
    for info in session.inputs:
        if info.name == input_name:
            if len(info.shape) != 4:
                raise msg.not_an_image_batch(info.name, info.shape)
            return info
    raise msg.unknown_image_input(input_name, names)


def __getattr__(name: str) -> Any:
    # Pipeline lived here before pipeline.py: ortnative.preprocess.Pipeline (and pickles
    # that name it) still find it.
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
