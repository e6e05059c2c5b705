"""ortnative.Scheduler: many models and many callers in one process, with per-model
queues, replicas, dynamic batching, priorities, timeouts and backpressure."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import re
import threading
import weakref
from typing import TYPE_CHECKING, Any, TypedDict, cast

import numpy as np

from . import _backend, _exit
from . import _messages as msg
from .options import (
    ModelConfig,
    SessionOptions,
    check_int,
    check_priority,
    milliseconds_to_us,
)
from .session import Feeds, ModelSource, _make_impl, _source

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._impl import SchedulerImpl


class LatencyStats(TypedDict):
    """Latency in microseconds: percentiles over the most recent requests (up to 4096
    per model; NaN before the first), and the all-time count and sum."""

    p50: float
    p90: float
    p99: float
    count: int
    sum: float


class ModelStats(TypedDict):
    """One model's counters (see :meth:`Scheduler.stats`)."""

    queued: int
    running: int
    submitted: int
    completed: int
    failed: int
    rejected: int
    timed_out: int
    cancelled: int
    closed: int
    batches: int
    rows: int
    retried_batches: int
    warmup_runs: int
    batch_sizes: dict[int, int]
    queue_us: LatencyStats
    compute_us: LatencyStats
    total_us: LatencyStats


_METRIC_PREFIX = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _resolve_async(items: list[tuple[Any, Any, BaseException | None]]) -> None:
    """Resolves asyncio futures of one batch, in their event loop (the scheduler hands
    each loop its batch's futures with one ``call_soon_threadsafe``)."""
    for fut, result, exc in items:
        if fut.done():  # its task was cancelled
            continue
        if exc is None:
            fut.set_result(result)
        elif isinstance(exc, concurrent.futures.CancelledError):
            fut.cancel()
        else:
            fut.set_exception(exc)


def _cancel_future(fut: concurrent.futures.Future[Any]) -> None:
    """Cancels a queued request's future the way an executor does: ``Future.cancel``,
    then ``set_running_or_notify_cancel``. (``cancel`` alone leaves the future CANCELLED
    but not notified: ``concurrent.futures.wait`` and ``as_completed`` would wait for it
    forever.)"""
    if not fut.cancelled() and concurrent.futures.Future.cancel(fut):
        fut.set_running_or_notify_cancel()


_PENDING = "PENDING"  # concurrent.futures' state names


class _Future(concurrent.futures.Future["dict[str, np.ndarray]"]):
    """The future :meth:`Scheduler.submit` returns: a real ``concurrent.futures.Future``
    (``result``, ``exception``, ``done``, ``add_done_callback``, ``wait``,
    ``as_completed`` all work), whose ``cancel()`` takes a request that is still queued
    out of its queue, and stops a running one's run (the other requests of its batch run
    again without it). (It refers to its scheduler weakly: futures kept around don't keep
    a dropped scheduler's threads alive.)

    On the native backend the scheduler's thread completes it without the GIL: the
    outcome waits in ``_native`` (a ``_core.FutureState``), and ``result()`` waits for it
    natively (GIL released) and returns it. The Python-level Future is settled when
    something needs it (``done()``, ``exception()``, ``repr``), on that thread, with the
    GIL it holds. Once Python code asks to be told (a done-callback, a
    ``concurrent.futures.wait``/``as_completed`` waiter), the scheduler's thread settles it
    itself, with the GIL, as a plain Future would be. Its ``threading.Condition`` is made
    on first use."""

    _scheduler: weakref.ref[SchedulerImpl[Any]] | None = None
    _request_id = 0
    # The request's _core.FutureState (native backend), set by the bindings' submit
    # before anyone else can see the future; None on the python backend.
    _native: Any = None

    def __init__(self) -> None:
        # concurrent.futures.Future.__init__'s fields, except the Condition and the lists
        # of waiters and done-callbacks, made on first use (__getattr__, _waiters): a
        # native future whose caller only calls result() needs none of them, and making
        # them was a fifth of submit()'s Python cost, plus objects for the cyclic GC to
        # walk while 64 requests are in flight.
        d = self.__dict__
        d["_state"] = _PENDING
        d["_result"] = d["_exception"] = None

    def __getattr__(self, name: str) -> Any:
        # Made on first use, the same object for every thread (setdefault is atomic).
        if name == "_condition":
            return self.__dict__.setdefault("_condition", threading.Condition())
        if name == "_done_callbacks":
            return self.__dict__.setdefault("_done_callbacks", [])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- how a request's future ends (both backends; GIL held) --------------------------
    def _end(self, result: Any, error: BaseException | None) -> None:
        try:
            if error is None:
                concurrent.futures.Future.set_result(self, result)
            elif isinstance(error, concurrent.futures.CancelledError):
                _cancel_future(self)
            else:
                concurrent.futures.Future.set_exception(self, error)
        except concurrent.futures.InvalidStateError:
            pass  # ended already: settled on another thread, or cancelled by its owner

    def _settle(self) -> None:
        """The native outcome (done) as this future's result (idempotent)."""
        if self._state == _PENDING:
            result, error = self._native.outcome()
            self._end(result, error)

    # -- concurrent.futures.Future, with the native outcome ----------------------------
    def cancel(self) -> bool:
        impl = self._scheduler() if self._scheduler is not None else None
        if impl is not None and impl.cancel(self._request_id):
            # Queued: the scheduler cancelled this future before returning. Running: its
            # run is being stopped, and the request ends cancelled; the future is now.
            _cancel_future(self)
            return True
        return self.cancelled()

    def done(self) -> bool:
        native = self._native
        if native is not None and self._state == _PENDING and native.done():
            self._settle()
        return super().done()

    def result(self, timeout: float | None = None) -> dict[str, np.ndarray]:
        native = self._native
        if native is None or self._state != _PENDING:
            return super().result(timeout)
        # The common call, kept short (64 threads calling it contend for the GIL): wait
        # natively and return the outputs. The Python-level state is settled when
        # something needs it (done(), a waiter, a callback, exception()).
        outcome = native.wait_outcome(-1.0 if timeout is None else max(0.0, timeout))
        if outcome is None:
            raise concurrent.futures.TimeoutError()
        if outcome[1] is None:
            return cast("dict[str, np.ndarray]", outcome[0])
        self._settle()  # an error or a cancellation: concurrent.futures' own path
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return super().exception(self._await_native(timeout))

    def _await_native(self, timeout: float | None) -> float | None:
        """Waits for the native outcome (GIL released) and settles; returns the timeout
        left for concurrent.futures' own wait (0 once settled)."""
        native = self._native
        if native is None:
            return timeout
        if self._state == _PENDING:
            if not native.wait(-1.0 if timeout is None else max(0.0, timeout)):
                raise concurrent.futures.TimeoutError()
            self._settle()
        return 0

    def add_done_callback(self, fn: Any) -> None:
        native = self._native
        if native is not None and self._state == _PENDING and native.want_notify(self):
            self._settle()
        super().add_done_callback(fn)

    # concurrent.futures.wait and as_completed install their waiters with
    # ``f._waiters.append(waiter)``: that is where a native future learns it must notify.
    @property
    def _waiters(self) -> Any:
        return _Waiters(self, self.__dict__.setdefault("_waiter_list", []))

    @_waiters.setter
    def _waiters(self, value: list[Any]) -> None:
        self.__dict__["_waiter_list"] = value

    def __repr__(self) -> str:
        self.done()
        return super().__repr__()


class _Waiters:
    """A native future's ``_waiters`` list, as concurrent.futures uses it."""

    __slots__ = ("_future", "_list")

    def __init__(self, future: _Future, waiters: list[Any]) -> None:
        self._future, self._list = future, waiters

    def append(self, waiter: Any) -> None:
        self._list.append(waiter)
        fut = self._future
        native = fut._native
        if native is not None and fut._state == _PENDING and native.want_notify(fut):
            fut._settle()  # done already: the waiter hears it now

    def remove(self, waiter: Any) -> None:
        self._list.remove(waiter)

    def __iter__(self) -> Any:
        return iter(self._list)

    def __len__(self) -> int:
        return len(self._list)


_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelConfig))
_SESSION_FIELDS = frozenset(f.name for f in dataclasses.fields(SessionOptions))


def _split_model_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """add_model's keywords: (ModelConfig fields, SessionOptions fields). The older
    ``max_queue_delay_us`` (integer microseconds) becomes ``max_queue_delay_ms``."""
    cfg: dict[str, Any] = {}
    session: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key == "max_queue_delay_us":
            if "max_queue_delay_ms" in kwargs:
                raise msg.add_model_both_delays()
            cfg["max_queue_delay_ms"] = check_int("max_queue_delay_us", value, 0, 60_000_000) / 1000
        elif key in _CONFIG_FIELDS:
            cfg[key] = value
        elif key in _SESSION_FIELDS:
            session[key] = value
        else:
            raise msg.add_model_keyword(key, sorted(_SESSION_FIELDS), sorted(_CONFIG_FIELDS))
    return cfg, session


def _request_args(priority: Any, timeout_ms: Any) -> int:
    """Checks a request's priority and timeout; returns the timeout in microseconds (0:
    the model's)."""
    if timeout_ms is None and priority == 0 and type(priority) is int:
        return 0  # the common call
    check_priority(priority)
    return milliseconds_to_us("timeout_ms", timeout_ms)


class Scheduler:
    """Runs requests for several models on a bounded set of threads, batching them.

    ``Scheduler(*, threads=0, backend=None)``: ``threads`` worker threads, shared by every
    model (0: one per CPU), plus one timer thread; adding models or replicas starts no
    thread. ``backend``: ``"native"``, ``"python"`` or ``None`` for
    :data:`ortnative.backend`.

    Register models with :meth:`add_model`, send requests with :meth:`submit` (a
    :class:`concurrent.futures.Future`) or ``await`` :meth:`infer`, read :meth:`stats`
    and :meth:`metrics_text`, and :meth:`close` (or use it as a context manager, which
    closes with ``drain=True``). Every method may be called from any thread.

    Futures complete on a scheduler thread; their done-callbacks run there too, so keep
    them short. ``Future.running()`` stays False: ``cancel()`` succeeds until the request
    has ended. A queued request is taken out of its queue; a running one has its batch's
    run stopped (``RunOptions.terminate``: ONNX Runtime stops between operators), and the
    other requests of that batch run again, each alone, so each still gets its own result.
    ``cancel()`` returns False once the request has ended.
    """

    __slots__ = ("__weakref__", "_backend", "_impl")

    def __init__(self, *, threads: int = 0, backend: str | None = None) -> None:
        threads = check_int("threads", threads, 0, 4096, " (0 = one per CPU)")
        chosen = _backend.resolve(backend)
        if chosen == "native":
            core = _backend.native_runtime()
            self._impl: SchedulerImpl[Any] = core.Scheduler(threads, _resolve_async)
        else:
            from ._fallback_scheduler import PythonScheduler

            self._impl = PythonScheduler(threads, _resolve_async)
        self._backend = chosen
        _exit.track(self)  # closed at exit if still open (see _exit.py)

    # -- models --------------------------------------------------------------------
    def add_model(
        self,
        name: str,
        model: ModelSource,
        *,
        config: ModelConfig | None = None,
        session_options: SessionOptions | None = None,
        **kwargs: Any,
    ) -> None:
        """Loads MODEL (a path or the model's bytes) as NAME.

        How the model is served: the fields of :class:`ortnative.ModelConfig`, as keywords
        or as ``config`` (keywords replace its fields):

        - ``replicas``: how many batches of this model may run at once. Replicas share
          one session (ONNX Runtime runs a session from several threads at once), so
          memory does not grow with them; at most ``threads`` run at once in all.
        - ``max_batch_size``: rows per run. Above 1, requests whose inputs have the same
          shape past dimension 0 are concatenated along dimension 0 (each may carry
          several rows), run once, and each gets its rows of every output. This needs
          every input and output to have a free first dimension (``InvalidArgumentError``
          otherwise) and rows that don't influence each other. A request with more rows
          than this runs alone.
        - ``max_queue_delay_ms``: how long a batch may wait for more requests (float
          milliseconds; ``max_queue_delay_us``, integer microseconds, is the older
          spelling). It only waits while requests arrive concurrently; a lone caller's
          request runs at once.
        - ``preferred_batch_sizes``: sizes that go at once when reached (largest first).
        - ``max_queue_size``: requests waiting at most; beyond, :meth:`submit` raises
          :class:`QueueFullError` at once.
        - ``timeout_ms``: a request still queued this long after submit ends with
          :class:`RequestTimeoutError` and never runs (None: no timeout).
        - ``warmup``: run the model once per batch size (1, the preferred sizes,
          ``max_batch_size``) on each replica, with zeros, before it takes traffic.

        How it is loaded: the fields of :class:`ortnative.SessionOptions` (``providers``,
        ``intra_op_threads``, ...), as keywords or as ``session_options``.

        Errors about feeds name the model by NAME.
        """
        if not isinstance(name, str) or not name:
            raise msg.model_name(name)
        cfg_kw, session_kw = _split_model_kwargs(kwargs)
        cfg = ModelConfig.of(config, cfg_kw, "add_model")
        opts = SessionOptions.of(session_options, session_kw, "add_model")
        if self._backend == "python" and opts.intra_op_threads == 0 and opts.inter_op_threads == 0:
            # onnxruntime's Python API can't share pools between sessions (see README,
            # Backends): the fallback's models run on the scheduler's threads alone, so
            # that threads don't grow with models.
            opts = dataclasses.replace(opts, intra_op_threads=1, inter_op_threads=1)
        source, _label = _source(model)
        self._impl.add_model(name, _make_impl(self._backend, source, opts, name), cfg)

    @property
    def models(self) -> list[str]:
        """Names of the models added, in order."""
        return list(self._impl.models())

    # -- requests ------------------------------------------------------------------
    def submit(
        self,
        name: str,
        feeds: Feeds,
        *,
        priority: int = 0,
        timeout_ms: float | None = None,
    ) -> concurrent.futures.Future[dict[str, np.ndarray]]:
        """Queues a request for model NAME; returns a Future of ``{output name: array}``.

        FEEDS are what :meth:`Session.run` takes, checked the same way at once (the same
        errors, raised here). Lower ``priority`` runs first; FIFO within a priority.
        ``timeout_ms`` replaces the model's timeout for this request.

        Raises :class:`QueueFullError` at once when the model's queue is full,
        :class:`SchedulerClosedError` after :meth:`close`, :class:`InvalidArgumentError`
        for an unknown model. The future then ends exactly once: with the outputs, the
        run's error, :class:`RequestTimeoutError`, cancellation (``future.cancel()``,
        while queued or running) or :class:`SchedulerClosedError` (``close(drain=False)``).

        Don't modify the feed arrays until the future is done: they are read in place.
        """
        timeout_us = _request_args(priority, timeout_ms)
        fut = _Future()
        fut._request_id = self._impl.submit(name, feeds, fut, priority, timeout_us)
        fut._scheduler = weakref.ref(self._impl)
        return fut

    def run(
        self,
        name: str,
        feeds: Feeds,
        *,
        priority: int = 0,
        timeout_ms: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Submits a request and waits for it: ``submit(...).result()``, cheaper.

        For callers that each wait on their own thread (as they would call
        :meth:`Session.run`): no Future is made, and the GIL is released while waiting,
        so the scheduler's threads never need it for this request. Raises what
        :meth:`submit` raises, then what the future would.
        """
        timeout_us = _request_args(priority, timeout_ms)
        result: dict[str, np.ndarray] = self._impl.run(name, feeds, priority, timeout_us)
        return result

    async def infer(
        self,
        name: str,
        feeds: Feeds,
        *,
        priority: int = 0,
        timeout_ms: float | None = None,
    ) -> dict[str, np.ndarray]:
        """``await scheduler.infer(name, feeds)``: :meth:`submit` for asyncio.

        No thread waits for the result: the scheduler's thread that completes a batch
        hands the batch's results to each event loop at once (one
        ``call_soon_threadsafe`` per loop and batch). Cancelling the awaiting task
        cancels the request: out of its queue, or its run stopped (see :class:`Scheduler`).
        """
        import asyncio

        timeout_us = _request_args(priority, timeout_ms)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        request_id = self._impl.submit(name, feeds, fut, priority, timeout_us, loop)
        try:
            result: dict[str, np.ndarray] = await fut
        except asyncio.CancelledError:
            self._impl.cancel(request_id)  # queued: it never runs; running: it stops
            raise
        return result

    # -- observing -----------------------------------------------------------------
    def stats(self, name: str) -> ModelStats:
        """A snapshot of model NAME's counters: ``queued``, ``running`` (requests now),
        ``submitted``, ``completed``, ``failed``, ``timed_out``, ``cancelled`` (while
        queued or running), ``closed``
        (ended by ``close(drain=False)``), ``rejected`` (refused by submit: queue full or
        closed), ``batches`` and ``rows`` (runs and the rows they processed),
        ``retried_batches`` (batches that failed and whose requests ran again alone),
        ``warmup_runs``, ``batch_sizes`` ({rows: runs}), and latencies in microseconds
        (``queue_us``: submit to run start; ``compute_us``: the batch's run;
        ``total_us``: submit to outputs ready), each with ``p50``, ``p90``, ``p99``,
        ``count`` and ``sum``.

        Every submitted request is in exactly one of queued, running, completed, failed,
        timed_out, cancelled, closed.
        """
        return cast("ModelStats", self._impl.stats(name))

    def metrics_text(self, prefix: str = "ortnative") -> str:
        """Every model's counters in the Prometheus text format, with Triton's metric
        names under PREFIX (``prefix="nv"`` gives Triton's own names), ready to serve on
        a ``/metrics`` endpoint. See README, "Scheduling many models"."""
        if not isinstance(prefix, str) or not _METRIC_PREFIX.fullmatch(prefix):
            raise msg.metrics_prefix(prefix)
        return str(self._impl.metrics_text(prefix))

    # -- lifetime ------------------------------------------------------------------
    def close(self, *, drain: bool = True) -> None:
        """Stops taking requests (submit then raises :class:`SchedulerClosedError`). With
        ``drain``, queued requests still run; without, they end with
        :class:`SchedulerClosedError`. Waits for running batches, then stops the threads.
        Idempotent."""
        self._impl.close(bool(drain))

    @property
    def closed(self) -> bool:
        return bool(self._impl.closed)

    @property
    def threads(self) -> int:
        """Worker threads (the timer thread not counted)."""
        return int(self._impl.threads)

    @property
    def backend(self) -> str:
        """``"native"`` or ``"python"``."""
        return self._backend

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(drain=True)

    def __del__(self) -> None:
        # Dropped without close(): as the C++ destructor does, queued requests end with
        # SchedulerClosedError, running ones finish, the threads stop.
        impl = getattr(self, "_impl", None)
        if impl is not None:
            impl.close(False)

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return (
            f"<ortnative.Scheduler backend={self._backend}{state} threads={self.threads} "
            f"models={self.models}>"
        )


__all__ = ["LatencyStats", "ModelStats", "Scheduler"]
