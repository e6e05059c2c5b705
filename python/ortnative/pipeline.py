"""Pipeline: preprocessing and inference in one call, images in, the model's outputs out."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _messages as msg
from .preprocess import ImagePreprocessor, Images, Transform, _image_input

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Pipeline"]


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
            raise msg.pipeline_dtype(preprocessor.dtype, info.name, info.dtype)
        for d, (got, need) in enumerate(zip(info.shape, want, strict=False)):
            if d > 0 and isinstance(got, int) and got != need:
                raise msg.pipeline_shape(
                    ["N", *want[1:]], preprocessor.layout, info.name, info.shape
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
            result: dict[str, np.ndarray] = self.session.run(all_feeds, self._outputs, out=out)
            return result
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
