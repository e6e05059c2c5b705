"""The pure-Python scheduler: the behaviour of the C++ core's (cpp/src/scheduler*.cpp),
on the fallback Session, with threads and one lock.

It mirrors the core piece by piece and file by file: this module, its queues and threads
(cpp/src/scheduler.cpp: queues per model and priority, the batching rule, the timer
thread, exactly-once endings); _fallback_batch.py, running batches (scheduler_run.cpp);
_fallback_stats.py, statistics and the Prometheus text (scheduler_stats.cpp). It words
its errors the same way (_messages.py); tests/test_scheduler.py checks both backends
alike. Differences are in cost only: onnxruntime's ``run`` returns new arrays, which the
requests of a batch then share as views; the GIL serialises the Python parts of the work.
"""

from __future__ import annotations

import bisect
import heapq
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from . import _exit
from . import _messages as msg
from ._fallback import PythonSession
from ._fallback_batch import check_batchable, execute, run_alone, warm_up
from ._fallback_stats import Samples, metrics_text, snapshot, summarise
from .errors import (
    CancelledError,
    InvalidArgumentError,
    QueueFullError,
    RequestTimeoutError,
    SchedulerClosedError,
)
from .options import ModelConfig, RunOptions

_E = TypeVar("_E", bound=Exception)
_NEVER = math.inf
_FIRST_PROBE, _LAST_PROBE = 16, 1024  # as the core's Model::kFirstProbe, kLastProbe

# (pending request, outputs or None, exception or None)
Ending = tuple["Pending", "dict[str, Any] | None", "BaseException | None"]
# A batch a worker took: (model, staging slot or None, requests, rows, when it started)
Batch = tuple["Model", "int | None", "list[Pending]", int, float]


class Pending:
    """A request from submit to its ending (the core's sched::Pending)."""

    __slots__ = (
        "cancelled",
        "deadline",
        "feeds",
        "future",
        "given",
        "id",
        "loop",
        "model",
        "priority",
        "queued",
        "rows",
        "size",
        "submitted",
        "timeout_us",
    )

    cancelled: bool  # cancel() came while it ran (set under the lock; see Model.running)
    deadline: float
    feeds: Any  # what onnxruntime gets: {input name: array}
    future: Any
    given: Any  # the caller's feeds as checked (for error messages)
    id: int
    loop: Any  # the event loop of an asyncio future, else None
    model: Model
    priority: int
    queued: bool
    rows: int  # rows brought to a batch; -1: runs alone
    size: int  # its batch size for the statistics
    submitted: float
    timeout_us: int

    def __init__(self) -> None:
        self.deadline = _NEVER
        self.queued = False
        self.cancelled = False


class Model:
    """A model's queues, slots, batching state and counters (the core's sched::Model)."""

    def __init__(self, name: str, session: PythonSession, config: ModelConfig) -> None:
        self.name = name
        self.label = msg.label(name)
        self.session = session
        self.replicas = replicas = config.replicas
        self.max_batch_size = config.max_batch_size
        self.delay = config.max_queue_delay_us / 1e6
        self.max_queue_size = config.max_queue_size
        self.timeout_us = config.timeout_us
        self.preferred = sorted(set(config.preferred_batch_sizes))
        self.batching = config.max_batch_size > 1
        self.inputs = [s.name for s in session.input_specs]
        # -- guarded by the scheduler's lock --
        self.levels: dict[int, dict[int, Pending]] = {}  # priority -> {id: request}, FIFO
        self.priorities: list[int] = []  # ascending
        self.queued = 0
        self.queued_rows = 0
        self.running = 0
        self.busy = 0
        self.free_slots = list(range(replicas - 1, -1, -1))
        self.slots: list[dict[str, np.ndarray] | None] = [None] * replicas
        # Each slot's run options: cancel() of a request its batch runs terminates them.
        self.run_options = [RunOptions() for _ in range(replicas)]
        # Whether batches wait for more requests: the core's Model::wait_mode and friends.
        self.wait_mode = False
        self.last_batch = 0
        self.recent_rows = [0] * 8  # rows of the latest batches (Model::recent_rows)
        self.recent_next = 0
        self.probing = False
        self.lonely = 0
        self.probe_every = _FIRST_PROBE
        self.submitted = self.completed = self.failed = self.rejected = 0
        self.timed_out = self.cancelled = self.closed = 0
        self.batches = self.rows = self.retried_batches = self.warmup_runs = 0
        self.batch_sizes: dict[int, int] = {}
        self.queue_us = Samples()
        self.compute_us = Samples()
        self.total_us = Samples()

    def error(self, cls: type[_E], what: str) -> _E:
        """CLS with WHAT, prefixed with the model's name, as the core's errors are."""
        return cls(f"{self.label}: {what}")

    def on_arrival(self) -> None:
        if self.queued + self.running > 0 or self.last_batch > 1:
            self.wait_mode = True
            self.lonely = 0
        else:
            self.lonely += 1
            if self.lonely >= self.probe_every:
                self.lonely = 0
                self.wait_mode = self.probing = True
            else:
                self.wait_mode = False

    def expected_rows(self) -> int:
        most = max(self.recent_rows)
        return min(most, self.max_batch_size) if most > 1 else self.max_batch_size

    def on_dispatch(self, by_delay: bool, n: int, rows: int) -> None:
        self.recent_rows[self.recent_next % 8] = rows
        self.recent_next += 1
        self.last_batch = n
        if self.probing:
            self.probing = False
            self.probe_every = _FIRST_PROBE if n > 1 else min(self.probe_every * 2, _LAST_PROBE)
        if by_delay and n == 1:
            self.wait_mode = False

    def effective_rows(self, n: int) -> int:
        return n if 0 < n <= self.max_batch_size else self.max_batch_size

    def oldest(self) -> float:
        return min(next(iter(level.values())).submitted for level in self.levels.values())


def _timed_out(p: Pending) -> Ending:
    return (p, None, p.model.error(RequestTimeoutError, msg.request_timed_out(p.timeout_us)))


class PythonScheduler:
    """Mirror of the native ``_core.Scheduler`` interface."""

    def __init__(self, threads: int, resolve_async: Callable[[list[Any]], Any]) -> None:
        self._resolve_async = resolve_async
        self.threads = threads or os.cpu_count() or 1
        # Reentrant, so that close() can tell when it was called on a thread that holds it
        # (a signal handler, a __del__ or a weakref callback run by the garbage collector
        # inside this scheduler's own bookkeeping): see close().
        self._lock = threading.RLock()
        self._work_cv = threading.Condition(self._lock)
        self._timer_cv = threading.Condition(self._lock)
        self._models: list[Model] = []
        self._by_name: dict[str, Model] = {}
        self._deadlines: list[tuple[float, int, Pending]] = []  # heap; stale entries skipped
        # Requests in batches being run, with their slot's run options (for cancel()).
        self._running: dict[int, tuple[Pending, RunOptions]] = {}
        self._timer_wake = _NEVER
        self._worker_wake = _NEVER
        self._queued_total = 0
        self._idle = 0
        self._rr = 0
        self._next_id = 1
        self._closed = False
        self._join_lock = threading.Lock()
        self._joined = False
        self._threads = [
            threading.Thread(target=self._timer_main, name="ortnative-timer", daemon=True)
        ] + [
            threading.Thread(target=self._worker_main, name=f"ortnative-worker-{i}", daemon=True)
            for i in range(self.threads)
        ]
        # Python 3.12+ refuses new threads once the interpreter is shutting down (atexit
        # handlers included): a scheduler made then runs each request on the thread that
        # submits it (see _run_inline); the threads that did start end with close().
        self._inline = False
        started = []
        for t in self._threads:
            try:
                t.start()
            except RuntimeError:
                self._inline = True
                break
            started.append(t)
        self._threads = started

    # -- models ----------------------------------------------------------------------
    def add_model(self, name: str, session: PythonSession, config: ModelConfig) -> None:
        self._refuse_model(name)
        m = Model(name, session, config)
        if m.batching:
            check_batchable(m)
        if config.warmup:
            m.warmup_runs = warm_up(m)
        with self._lock:
            self._refuse_model(name)
            self._by_name[name] = m
            self._models.append(m)

    def _refuse_model(self, name: str) -> None:
        if self._closed:
            raise SchedulerClosedError(msg.scheduler_closed_model(name))
        if name in self._by_name:
            raise InvalidArgumentError(msg.model_already_added(name))

    def models(self) -> list[str]:
        return [m.name for m in self._models]

    def _model(self, name: str) -> Model:
        m = self._by_name.get(name)
        if m is None:
            raise InvalidArgumentError(msg.unknown_model(name, [m.name for m in self._models]))
        return m

    # -- requests --------------------------------------------------------------------
    def submit(
        self, name: str, feeds: Any, future: Any, priority: int, timeout_us: int, loop: Any = None
    ) -> int:
        m = self._model(name)
        given, ort_feeds = m.session.prepare(feeds)
        p = Pending()
        p.model = m
        p.priority = priority
        p.size = 1
        for input_name in m.inputs:
            v = ort_feeds.get(input_name)
            if isinstance(v, np.ndarray) and v.ndim > 0:
                p.size = v.shape[0]
                break
        p.rows = -1
        if m.batching:
            # Outputs kept on a device are never split on the host: such requests run alone
            # (device feeds too: they are no NumPy arrays), as in the core.
            p.rows = p.size if p.size > 0 and m.session.outputs_on_host else -1
            for input_name in m.inputs:
                v = ort_feeds.get(input_name)
                if not isinstance(v, np.ndarray) or v.ndim == 0 or v.shape[0] != p.rows:
                    p.rows = -1  # runs alone; onnxruntime reports the mismatch as run() would
        p.timeout_us = timeout_us or m.timeout_us
        p.feeds = ort_feeds
        p.given = given
        p.future = future
        p.loop = loop
        now = time.monotonic()
        p.submitted = now
        if p.timeout_us > 0:
            p.deadline = now + p.timeout_us / 1e6
        if self._inline or _exit.exiting:
            return self._run_inline(m, p)
        wake_worker = wake_timer = False
        with self._lock:
            if self._closed:
                m.rejected += 1
                raise m.error(SchedulerClosedError, msg.scheduler_closed_request())
            if m.queued >= m.max_queue_size:
                m.rejected += 1
                raise m.error(QueueFullError, msg.queue_full(m.max_queue_size))
            p.id = self._next_id
            self._next_id += 1
            m.on_arrival()
            level = m.levels.get(priority)
            if level is None:
                level = m.levels[priority] = {}
                bisect.insort(m.priorities, priority)
            level[p.id] = p
            p.queued = True
            m.queued += 1
            m.queued_rows += m.effective_rows(p.rows)
            self._queued_total += 1
            m.submitted += 1
            if p.deadline != _NEVER:
                heapq.heappush(self._deadlines, (p.deadline, p.id, p))
                if p.deadline < self._timer_wake:
                    self._timer_wake = p.deadline
                    wake_timer = True
            if self._idle > 0:
                r = self._ready_at(m, now)
                if r <= now:
                    wake_worker = True
                elif r != _NEVER and (r < self._worker_wake or self._worker_wake <= now):
                    self._worker_wake = r
                    wake_worker = True
            if wake_worker:
                self._work_cv.notify()
            if wake_timer:
                self._timer_cv.notify()
            return p.id

    def _run_inline(self, m: Model, p: Pending) -> int:
        """A request of a scheduler that has no threads (made while the interpreter shuts
        down), or submitted after ortnative's exit handler ran (see _exit.py: only the
        exiting thread may run the python backend then): it runs at once, on the
        submitting thread (where refused, it ends with SessionClosedError as usual)."""
        with self._lock:
            if self._closed:
                m.rejected += 1
                raise m.error(SchedulerClosedError, msg.scheduler_closed_request())
            p.id = self._next_id
            self._next_id += 1
            m.submitted += 1
            m.running += 1
        started = time.monotonic()
        m.queue_us.add((started - p.submitted) * 1e6)
        ending = run_alone(m, p)
        with self._lock:
            self._finish((m, None, [p], p.size, started), [ending], False, time.monotonic())
        self._deliver([ending])
        return p.id

    def run(self, name: str, feeds: Any, priority: int, timeout_us: int) -> dict[str, Any]:
        from .scheduler import _Future  # (imported here: scheduler imports this module)

        fut = _Future()
        self.submit(name, feeds, fut, priority, timeout_us)
        return fut.result()

    def cancel(self, request_id: int) -> bool:
        ended: list[Ending] = []
        with self._lock:
            running = self._running.get(request_id)
            if running is not None:
                # Running: stop its batch's run; the worker ends it (_finish makes it
                # cancelled) and runs the others of its batch again, alone.
                running[0].cancelled = True
                running[1].terminate()
                return True
            for m in self._models:
                for level in m.levels.values():
                    p = level.get(request_id)
                    if p is not None:
                        m.cancelled += 1
                        self._unlink(m, p)
                        ended.append((p, None, m.error(CancelledError, msg.request_cancelled())))
                        break
                if ended:
                    break
        if not ended:
            return False
        self._deliver(ended)
        return True

    def close(self, drain: bool) -> None:
        if self._lock._is_owned():  # type: ignore[attr-defined]
            # Called from code that interrupted this scheduler's own bookkeeping on this
            # thread (a signal handler, a __del__, a weakref callback): waiting here for
            # the lock would wait forever. Close on a helper thread as soon as the
            # interrupted code lets go of it.
            threading.Thread(
                target=self.close, args=(drain,), name="ortnative-close", daemon=True
            ).start()
            return
        ended: list[Ending] = []
        with self._lock:
            self._closed = True
            if not drain:
                for m in self._models:
                    while m.priorities:
                        p = next(iter(m.levels[m.priorities[0]].values()))
                        m.closed += 1
                        self._unlink(m, p)
                        error = m.error(SchedulerClosedError, msg.closed_before_run())
                        ended.append((p, None, error))
            self._work_cv.notify_all()
            self._timer_cv.notify_all()
        if ended:
            self._deliver(ended)
        if threading.current_thread() in self._threads or sys.is_finalizing():
            # From a callback: the threads end by themselves. While the interpreter
            # finalises, they can't (CPython ends a thread that wakes up then), and
            # joining one would wait forever.
            return
        with self._join_lock:
            if not self._joined:
                self._joined = True
                for t in self._threads:
                    t.join()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- queues (under the lock) ----------------------------------------------------------
    def _unlink(self, m: Model, p: Pending) -> None:
        level = m.levels[p.priority]
        del level[p.id]
        if not level:
            del m.levels[p.priority]
            m.priorities.remove(p.priority)
        p.queued = False
        m.queued -= 1
        m.queued_rows -= m.effective_rows(p.rows)
        self._queued_total -= 1
        if self._closed and self._queued_total == 0:
            self._work_cv.notify_all()
            self._timer_cv.notify_all()

    def _ready_at(self, m: Model, now: float) -> float:
        if m.queued == 0 or m.busy >= m.replicas:
            return _NEVER
        if (
            not m.batching
            or self._closed
            or not m.wait_mode
            or m.delay == 0
            or m.queued_rows >= m.expected_rows()
            or (m.preferred and m.queued_rows >= m.preferred[0])
        ):
            return now
        return m.oldest() + m.delay

    def _take_from(self, m: Model, now: float, expired: list[Ending]) -> list[Pending]:
        target = m.max_batch_size
        # Did this batch become ready by waiting out the delay (rather than by filling up)?
        waiting = m.batching and not self._closed and m.wait_mode and m.delay > 0
        filled = m.queued_rows >= m.expected_rows()
        preferred = bool(m.preferred) and m.queued_rows >= m.preferred[0]
        by_delay = waiting and not filled and not preferred
        if waiting and not filled and preferred:
            for size in m.preferred:
                if size <= m.queued_rows:
                    target = size  # the largest preferred size it can reach
        taken: list[Pending] = []
        rows = 0
        full = False
        for priority in list(m.priorities):
            for p in list(m.levels[priority].values()):
                if p.deadline <= now:
                    m.timed_out += 1
                    self._unlink(m, p)
                    expired.append(_timed_out(p))
                elif not taken:
                    rows = p.rows
                    self._unlink(m, p)
                    taken.append(p)
                    full = not m.batching or rows < 0 or rows >= target
                elif p.rows >= 0 and rows + p.rows <= target and self._compatible(m, taken[0], p):
                    rows += p.rows
                    self._unlink(m, p)
                    taken.append(p)
                    full = rows >= target
                if full:
                    break
            if full:
                break
        if taken and m.batching:
            rows = sum(p.rows for p in taken) if taken[0].rows >= 0 else taken[0].size
            m.on_dispatch(by_delay, len(taken), rows)
        return taken

    @staticmethod
    def _compatible(m: Model, a: Pending, b: Pending) -> bool:
        for name in m.inputs:
            x, y = a.feeds[name], b.feeds[name]
            if x.dtype != y.dtype or x.shape[1:] != y.shape[1:]:
                return False
        return True

    def _take_any(self, now: float, expired: list[Ending]) -> tuple[Batch | None, float]:
        next_ready = _NEVER
        n = len(self._models)
        for k in range(n):
            i = (self._rr + k) % n
            m = self._models[i]
            r = self._ready_at(m, now)
            if r <= now:
                taken = self._take_from(m, now, expired)
                if taken:
                    self._rr = i + 1
                    rows = taken[0].rows
                    if m.batching and rows >= 0:
                        rows = sum(p.rows for p in taken)
                    else:
                        rows = taken[0].size
                    slot = m.free_slots.pop()
                    if m.slots[slot] is None:
                        m.slots[slot] = {}
                    options = m.run_options[slot]
                    options.unset_terminate()  # a cancel() from here on stops this batch
                    m.busy += 1
                    m.running += len(taken)
                    for p in taken:
                        m.queue_us.add((now - p.submitted) * 1e6)
                        self._running[p.id] = (p, options)
                    return (m, slot, taken, rows, now), next_ready
            else:
                next_ready = min(next_ready, r)
        return None, next_ready

    def _finish(self, batch: Batch, endings: list[Ending], retried: bool, done: float) -> None:
        m, slot, _taken, rows, started = batch
        if slot is not None:  # None: run at exit, outside the slots
            m.busy -= 1
            m.free_slots.append(slot)
        m.running -= len(endings)
        m.batches += 1
        m.rows += rows
        m.batch_sizes[rows] = m.batch_sizes.get(rows, 0) + 1
        if retried:
            m.retried_batches += 1
        compute = (done - started) * 1e6
        for i, (p, _result, error) in enumerate(endings):
            self._running.pop(p.id, None)
            if p.cancelled:  # cancel() said so while it ran: cancelled, whatever it gave
                m.cancelled += 1
                endings[i] = (p, None, m.error(CancelledError, msg.request_cancelled_running()))
            elif error is None:
                m.completed += 1
            else:
                m.failed += 1
            m.compute_us.add(compute)
            m.total_us.add((done - p.submitted) * 1e6)
        if m.queued > 0 and self._idle > 0:
            self._work_cv.notify()

    # -- threads -----------------------------------------------------------------------
    def _worker_main(self) -> None:
        lock = self._lock
        lock.acquire()
        try:
            while True:
                now = time.monotonic()
                expired: list[Ending] = []
                batch, next_ready = self._take_any(now, expired)
                if batch is not None or expired:
                    lock.release()
                    try:
                        if expired:
                            self._deliver(expired)
                        if batch is not None:
                            endings, retried = execute(batch)
                            done = time.monotonic()
                            with lock:
                                self._finish(batch, endings, retried, done)
                            self._deliver(endings)
                    finally:
                        lock.acquire()
                    continue
                if self._closed and self._queued_total == 0:
                    break
                self._idle += 1
                if next_ready == _NEVER:
                    self._work_cv.wait()
                else:
                    self._worker_wake = next_ready
                    self._work_cv.wait(max(0.0, next_ready - now))
                self._idle -= 1
                # As the core: nobody may wait for _worker_wake any more, forget it.
                self._worker_wake = _NEVER
        finally:
            lock.release()

    def _timer_main(self) -> None:
        lock = self._lock
        lock.acquire()
        try:
            while not (self._closed and self._queued_total == 0):
                now = time.monotonic()
                expired: list[Ending] = []
                heap = self._deadlines
                while heap and heap[0][0] <= now:
                    _, _, p = heapq.heappop(heap)
                    if p.queued:
                        p.model.timed_out += 1
                        self._unlink(p.model, p)
                        expired.append(_timed_out(p))
                if expired:
                    lock.release()
                    try:
                        self._deliver(expired)
                    finally:
                        lock.acquire()
                    continue
                self._timer_wake = heap[0][0] if heap else _NEVER
                if self._timer_wake == _NEVER:
                    self._timer_cv.wait()
                else:
                    self._timer_cv.wait(max(0.0, self._timer_wake - now))
        finally:
            lock.release()

    def _deliver(self, endings: list[Ending]) -> None:
        loops: dict[int, tuple[Any, list[Any]]] = {}  # asyncio futures, by loop
        for p, result, error in endings:
            fut = p.future
            if p.loop is not None:
                loops.setdefault(id(p.loop), (p.loop, []))[1].append((fut, result, error))
                p.future = p.feeds = p.given = p.loop = None
                continue
            try:
                fut._end(result, error)  # ortnative.scheduler._Future: how a future ends
            except SystemExit:
                # A done-callback called sys.exit() (concurrent.futures logs Exceptions
                # itself): as in any thread but the main one, that ends the callback,
                # not the process, and the other requests still get their results.
                pass
            p.future = p.feeds = p.given = None
        for loop, items in loops.values():
            try:
                loop.call_soon_threadsafe(self._resolve_async, items)
            except RuntimeError:  # the loop is closed: nobody awaits these any more
                pass

    # -- statistics (_fallback_stats.py) ---------------------------------------------------
    def stats(self, name: str) -> dict[str, Any]:
        m = self._model(name)
        with self._lock:
            snap = snapshot(m)
        return summarise(snap)

    def metrics_text(self, prefix: str) -> str:
        with self._lock:
            snaps = [(m.name, snapshot(m)) for m in self._models]
        return metrics_text(prefix, [(n, summarise(s)) for n, s in snaps])
