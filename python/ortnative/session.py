"""ortnative.Session: a loaded model, on either backend."""

from __future__ import annotations

import operator
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from . import _backend
from . import _messages as msg
from ._types import TensorInfo
from .options import RunOptions, SessionOptions

if TYPE_CHECKING:  # asyncio and concurrent.futures load on first use (import time)
    import concurrent.futures

    from typing_extensions import Self

    from ._impl import SessionImpl

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
        if isinstance(model, memoryview) and not model.c_contiguous:
            raise msg.model_bytes_not_contiguous()
        return model, "<bytes>"
    raise msg.model_source(type(model).__name__)


def _make_impl(backend: str, source: Any, opts: SessionOptions, name: str) -> SessionImpl:
    if backend == "native":
        core = _backend.native_runtime()
        native: SessionImpl = (
            core.Session.from_file(source, opts, name)
            if isinstance(source, str)
            else core.Session.from_bytes(source, opts, name)
        )
        return native
    from ._fallback import PythonSession

    if isinstance(source, (bytearray, memoryview)):
        source = bytes(source)
    return PythonSession(source, opts, name)


class Session:
    """A loaded ONNX model.

    ``Session(model, *, options=None, backend=None, keep_model=False, **options)``:
    ``model`` is a path or the model's bytes. The options are the fields of
    :class:`ortnative.SessionOptions`, as keywords or as a record (keywords replace its
    fields): ``providers``, ``intra_op_threads`` / ``inter_op_threads`` (0: the pools all
    sessions share), ``graph_optimization``, ``execution_mode``, ``config``, memory
    (``enable_cpu_mem_arena``, ``enable_mem_pattern``), ``optimized_model_filepath``,
    profiling (``enable_profiling``, ``profile_file_prefix``; see :meth:`end_profiling`),
    ``free_dimension_overrides`` (by name and by denotation), ``custom_op_libraries``,
    weights from memory (``initializers``, ``external_initializers``, ``external_data``),
    logging (``log_severity_level``, ``log_verbosity_level``, ``logid``) and
    ``use_deterministic_compute``.
    ``backend``: ``"native"``, ``"python"`` or ``None`` for :data:`ortnative.backend`.

    Loading (parsing and graph optimisation) releases the GIL on the native backend,
    so other threads keep running. A session may be used from many threads at once.

    Sessions pickle (for ``multiprocessing``): unpickling loads the model again. A
    session loaded from a path pickles its path. One loaded from bytes keeps no copy of
    them unless ``keep_model=True`` (which costs the model's size in memory for the
    session's lifetime: an immutable copy, unless the bytes given already were
    ``bytes``); pickling it without raises ``TypeError``.
    """

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def __init__(
        self,
        model: ModelSource,
        *,
        options: SessionOptions | None = None,
        backend: str | None = None,
        keep_model: bool = False,
        **kwargs: Any,
    ) -> None:
        opts = SessionOptions.of(options, kwargs, "Session")
        chosen = _backend.resolve(backend)
        source, name = _source(model)
        self._impl = _make_impl(chosen, source, opts, name)
        # The per-call path: the backend's own run (on the native backend a builtin bound
        # to the session, which skips pybind11's dispatch), read by the `run` property.
        self._run = self._impl.bound_run()
        self._backend = chosen
        self._requested = backend
        # What pickling needs to load the model again: its path, or (keep_model) bytes.
        self._reload: str | bytes | None = None
        if isinstance(source, str):
            self._reload = source
        elif keep_model:
            self._reload = source if isinstance(source, bytes) else bytes(source)
        self._options = opts
        self.inputs = [TensorInfo(n, d, s) for n, d, s, _k in self._impl.inputs]
        self.outputs = [TensorInfo(n, d, s) for n, d, s, _k in self._impl.outputs]

    # -- running -------------------------------------------------------------------
    run = property(
        operator.attrgetter("_run"),
        doc="""``run(feeds, outputs=None, *, out=None, run_options=None) -> dict[str, numpy.ndarray]``

        Runs the model and returns ``{output name: array}``.

        ``feeds``: ``{input name: array}``, a list of arrays in input order, or one
        array for a single-input model. Arrays must have the input's dtype exactly
        (:class:`TypeError` otherwise: nothing is cast). On the native backend a
        C-contiguous array is read in place; any other array costs one copy. Any
        tensor with ``__dlpack__`` (torch, JAX, CuPy) is taken too, by the same rules;
        one that requires grad is an :class:`InvalidInputError` (pass
        ``tensor.detach()``); CUDA tensors need a session on ``CUDAExecutionProvider``.

        ``outputs``: names of the outputs to compute (default: all).

        ``out``: ``{output name: array}`` to write outputs into (NumPy arrays or DLPack
        tensors such as torch's). Each must have the output's dtype and shape and be
        C-contiguous and writeable; the same objects are returned. On the native
        backend ORT writes into them directly.

        ``run_options``: an :class:`ortnative.RunOptions` (a tag and log levels for
        ORT's log, run config entries, and ``terminate()`` from another thread).

        Outputs the native backend returns are arrays over ORT's memory (no copy),
        kept alive by the array; ``torch.from_dlpack`` / ``numpy.from_dlpack`` share
        them without a copy. With ``output_device="cuda"`` they are DeviceTensor
        objects in GPU memory, for ``torch.from_dlpack``. Map outputs are dicts and
        sequences of maps lists of dicts (int or str keys, float values: what onnxruntime
        returns for scikit-learn's ZipMap). Raises :class:`InvalidInputError` /
        :class:`InvalidTypeError` for bad feeds, :class:`SessionClosedError` after
        :meth:`close`, :class:`RunTerminatedError` when its ``run_options`` were
        terminated, :class:`OrtError` when ORT fails.

        (A property whose value is the backend's own run, so a call costs no Python
        frame; a subclass may define ``run`` as a method and call ``super().run(...)``,
        and ``mock.patch.object(Session, "run")`` reaches every instance.)
        """,
    )

    def run_async(
        self,
        feeds: Feeds,
        outputs: Sequence[str] | None = None,
        *,
        out: Mapping[str, Any] | None = None,
        run_options: RunOptions | None = None,
    ) -> concurrent.futures.Future[dict[str, np.ndarray]]:
        """Like :meth:`run`, on a shared thread pool; returns a Future.

        Don't modify the feed arrays until the future is done: they are read in place.
        Cancelling the future stops the run only before it starts; to stop a running
        one, give ``run_options`` and call its ``terminate()``.
        """
        if run_options is None:
            return _shared_executor().submit(self.run, feeds, outputs, out=out)
        return _shared_executor().submit(self.run, feeds, outputs, out=out, run_options=run_options)

    async def arun(
        self,
        feeds: Feeds,
        outputs: Sequence[str] | None = None,
        *,
        out: Mapping[str, Any] | None = None,
        run_options: RunOptions | None = None,
    ) -> dict[str, np.ndarray]:
        """``await session.arun(feeds)``: :meth:`run` without blocking the event loop.

        Cancelling the awaiting task leaves a run that has started to finish; with
        ``run_options``, call its ``terminate()`` to stop it."""
        import asyncio

        return await asyncio.wrap_future(
            self.run_async(feeds, outputs, out=out, run_options=run_options)
        )

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

    @property
    def options(self) -> SessionOptions:
        """The :class:`SessionOptions` the session was loaded with."""
        return self._options

    # -- profiling -----------------------------------------------------------------
    def end_profiling(self) -> str:
        """Ends profiling (``enable_profiling=True``) and returns the path of the JSON
        trace ONNX Runtime wrote (Chrome's trace event format); ``""`` when the session
        was not profiling, or profiling was already ended. Later runs are not profiled."""
        return str(self._impl.end_profiling())

    @property
    def profiling_start_time_ns(self) -> int:
        """When profiling started, in nanoseconds of ONNX Runtime's clock (the trace's
        times are relative to it); 0 when the session does not profile."""
        return int(self._impl.profiling_start_time_ns())

    def __repr__(self) -> str:
        def sig(infos: list[TensorInfo]) -> str:
            return ", ".join(msg.format_tensor(*i) for i in infos)

        state = " closed" if self.closed else ""
        return (
            f"<ortnative.Session {self.name!r} backend={self._backend}{state} "
            f"inputs=({sig(self.inputs)}) outputs=({sig(self.outputs)})>"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        if self._reload is None:
            raise msg.cannot_pickle_session(self.name)
        # The backend travels only if it was asked for by name: an unpickling process
        # without the native module still gets a working session.
        return (_restore, (self._reload, self._options, self._requested))


def _restore(model: Any, options: SessionOptions, backend: str | None) -> Session:
    return Session(model, options=options, backend=backend, keep_model=isinstance(model, bytes))
