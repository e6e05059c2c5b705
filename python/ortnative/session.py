"""ortnative.Session: a loaded model, on either backend."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from . import _backend
from ._options import ProviderSpec, SessionOptions, normalize
from ._types import TensorInfo
from .errors import InvalidTypeError

if TYPE_CHECKING:  # asyncio and concurrent.futures load on first use (import time)
    import concurrent.futures

    from typing_extensions import Self

ModelSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]
Feeds = Mapping[str, Any] | Sequence[Any] | np.ndarray

_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _shared_executor() -> concurrent.futures.ThreadPoolExecutor:
    """Threads for run_async/arun (runs release the GIL, so they overlap)."""
    global _executor
    if _executor is None:
        import concurrent.futures

        with _executor_lock:
            if _executor is None:
                _executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=max(4, (os.cpu_count() or 1) * 2),
                    thread_name_prefix="ortnative-run",
                )
    return _executor


def _source(model: Any) -> tuple[str | bytes | bytearray | memoryview, str]:
    """(what to load, name used in messages)."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        return path, os.path.basename(path) or path
    if isinstance(model, (bytes, bytearray, memoryview)):
        return model, "<bytes>"
    raise InvalidTypeError(
        f"model must be a path (str or os.PathLike) or the model's bytes, got {type(model).__name__}"
    )


def _make_impl(backend: str, source: Any, opts: SessionOptions, name: str) -> Any:
    if backend == "native":
        core = _backend.native_runtime()
        args = (
            opts.providers,
            opts.intra_op_threads,
            opts.inter_op_threads,
            opts.graph_optimization,
            opts.execution_mode,
            opts.config,
            name,
        )
        if isinstance(source, str):
            return core.Session.from_file(source, *args)
        return core.Session.from_bytes(source, *args)
    from ._fallback import PythonSession

    if isinstance(source, (bytearray, memoryview)):
        source = bytes(source)
    return PythonSession(source, opts, name)


class Session:
    """A loaded ONNX model.

    ``model`` is a path or the model's bytes. Options:

    - ``providers``: execution providers in priority order, each a name or a
      ``(name, {option: value})`` pair; ``None`` means CPU. A provider this ONNX
      Runtime build lacks is an :class:`InvalidArgumentError`, not a silent fallback.
    - ``intra_op_threads`` / ``inter_op_threads``: 0 (default) uses the thread pools
      all sessions share (see :func:`ortnative.set_global_thread_pools`); > 0 gives this
      session pools of its own of that size.
    - ``graph_optimization``: ``"disable"``, ``"basic"``, ``"extended"`` or ``"all"``.
    - ``execution_mode``: ``"sequential"`` or ``"parallel"``.
    - ``config``: ORT session config entries, ``{key: value}``.
    - ``backend``: ``"native"``, ``"python"`` or ``None`` for :data:`ortnative.backend`.

    Loading (parsing and graph optimisation) releases the GIL on the native backend,
    so other threads keep running. A session may be used from many threads at once.
    Sessions pickle: unpickling loads the model again from the same path or bytes.
    """

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def __init__(
        self,
        model: ModelSource,
        *,
        providers: Sequence[ProviderSpec] | None = None,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        graph_optimization: str = "all",
        execution_mode: str = "sequential",
        config: Mapping[str, str] | None = None,
        backend: str | None = None,
    ) -> None:
        opts = normalize(
            providers,
            intra_op_threads,
            inter_op_threads,
            graph_optimization,
            execution_mode,
            config,
        )
        chosen = _backend.resolve(backend)
        source, name = _source(model)
        self._impl = _make_impl(chosen, source, opts, name)
        # The per-call path: the backend's own run, installed on the instance so that a
        # call skips this class's Python-level run() below (one frame less per call).
        # On the native backend it is a builtin bound to the session; both take
        # (feeds, outputs=None, out=None) like run().
        self._run = self._impl.bound_run() if chosen == "native" else self._impl.run
        self.run = self._run  # type: ignore[method-assign]
        self._backend = chosen
        self._requested = backend
        self._model = model
        self._options = opts
        self.inputs = [TensorInfo(n, d, s) for n, d, s, _k in self._impl.inputs]
        self.outputs = [TensorInfo(n, d, s) for n, d, s, _k in self._impl.outputs]

    # -- running -------------------------------------------------------------------
    def run(
        self,
        feeds: Feeds,
        outputs: Sequence[str] | None = None,
        *,
        out: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs the model and returns ``{output name: array}``.

        ``feeds``: ``{input name: array}``, a list of arrays in input order, or one
        array for a single-input model. Arrays must have the input's dtype exactly
        (:class:`TypeError` otherwise: nothing is cast). On the native backend a
        C-contiguous array is read in place; any other array costs one copy.

        ``outputs``: names of the outputs to compute (default: all).

        ``out``: ``{output name: array}`` to write outputs into. Each must have the
        output's dtype and shape and be C-contiguous and writeable; the same array
        objects are returned. On the native backend ORT writes into them directly.

        Outputs the native backend returns are arrays over ORT's memory (no copy),
        kept alive by the array. Raises :class:`InvalidInputError` /
        :class:`InvalidTypeError` for bad feeds, :class:`SessionClosedError` after
        :meth:`close`, :class:`OrtError` when ORT fails.

        (Each instance replaces this method with its backend's run, which behaves
        the same; this one documents it and serves subclasses that call it.)
        """
        result: dict[str, np.ndarray] = self._run(feeds, outputs, out)
        return result

    def run_async(
        self,
        feeds: Feeds,
        outputs: Sequence[str] | None = None,
        *,
        out: Mapping[str, np.ndarray] | None = None,
    ) -> concurrent.futures.Future[dict[str, np.ndarray]]:
        """Like :meth:`run`, on a shared thread pool; returns a Future.

        Don't modify the feed arrays until the future is done: they are read in place.
        """
        return _shared_executor().submit(self._run, feeds, outputs, out)

    async def arun(
        self,
        feeds: Feeds,
        outputs: Sequence[str] | None = None,
        *,
        out: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """``await session.arun(feeds)``: :meth:`run` without blocking the event loop."""
        import asyncio

        return await asyncio.wrap_future(self.run_async(feeds, outputs, out=out))

    # -- lifetime ------------------------------------------------------------------
    def close(self) -> None:
        """Releases the model. Waits for runs in flight; later runs raise
        :class:`SessionClosedError`. Arrays already returned stay valid. Idempotent."""
        self._impl.close()

    @property
    def closed(self) -> bool:
        return bool(self._impl.closed)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- facts ---------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """``"native"`` or ``"python"``: which backend runs this session."""
        return self._backend

    @property
    def name(self) -> str:
        """The model's name in messages: its file name, or ``<bytes>``."""
        return str(self._impl.name)

    def metadata(self) -> dict[str, Any]:
        """The model's metadata: producer, graph name, domain, descriptions, version,
        and custom ``{key: value}`` entries."""
        return dict(self._impl.metadata())

    def __repr__(self) -> str:
        def sig(infos: list[TensorInfo]) -> str:
            return ", ".join(
                f"{i.name}: {'str' if i.dtype == np.dtype(object) else i.dtype} "
                f"[{', '.join('?' if d is None else str(d) for d in i.shape)}]"
                for i in infos
            )

        state = " closed" if self.closed else ""
        return (
            f"<ortnative.Session {self.name!r} backend={self._backend}{state} "
            f"inputs=({sig(self.inputs)}) outputs=({sig(self.outputs)})>"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        model = self._model
        if isinstance(model, (bytearray, memoryview)):
            model = bytes(model)
        elif isinstance(model, os.PathLike):
            model = os.fspath(model)
        # The backend travels only if it was asked for by name: an unpickling process
        # without the native module still gets a working session.
        return (_restore, (model, self._options, self._requested))


def _restore(model: Any, options: SessionOptions, backend: str | None) -> Session:
    providers: list[ProviderSpec] = [
        (name, dict(popts)) if popts else name for name, popts in options.providers
    ]
    return Session(
        model,
        providers=providers or None,
        intra_op_threads=options.intra_op_threads,
        inter_op_threads=options.inter_op_threads,
        graph_optimization=options.graph_optimization,
        execution_mode=options.execution_mode,
        config=options.config,
        backend=backend,
    )
