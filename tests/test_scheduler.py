"""ortnative.Scheduler on both backends: results equal Session.run's under concurrency
and batching; exactly-once endings under overload, timeouts, cancellation and close;
priorities, timeouts, backpressure, a failing batch, bounded threads, asyncio, stats and
Prometheus metrics; the same errors and messages on both backends.

Tests that need requests to queue up hold the scheduler's only worker (threads=1) inside
a done-callback (``held``): whatever is submitted meanwhile waits, deterministically,
with no sleeps. Nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import ortnative as ortn
import pytest
from conftest import SUMMARY, require_backend, run_threads
from ortnative import models

F32 = np.float32
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def mlp() -> bytes:
    return models.mlp()


@pytest.fixture(scope="module")
def cnn() -> bytes:
    return models.small_cnn(classes=10, size=32)


class _ToldFuture(ortn.scheduler._Future):
    """A submit() future that asks to be told before it is submitted (held()): when the
    bindings attach the request's native state, its completion is to settle it on the
    scheduler's thread, which then runs the done-callback there."""

    @property
    def _native(self) -> Any:
        return self.__dict__.get("_native_state")

    @_native.setter
    def _native(self, state: Any) -> None:
        self.__dict__["_native_state"] = state
        state.want_notify(self)


@contextlib.contextmanager
def held(sched: ortn.Scheduler, name: str, feeds: Any) -> Iterator[concurrent.futures.Future]:
    """Runs one request for NAME whose completion holds the worker that completed it
    until the block ends. With threads=1 nothing else runs meanwhile: requests submitted
    in the block queue up. (The future gets its callback before it is submitted, so the
    hold can't miss; hence the private _impl.submit.)"""
    entered, go = threading.Event(), threading.Event()
    fut = _ToldFuture()

    def hold(_f: Any) -> None:
        entered.set()
        go.wait(120)

    fut.add_done_callback(hold)
    # Its own timeout (an hour) replaces the model's: on a loaded machine the worker may
    # take it later than a short model timeout, and a held request must run.
    sched._impl.submit(name, feeds, fut, 0, 3_600_000_000)
    assert entered.wait(120), "the held request did not complete"
    try:
        yield fut
    finally:
        go.set()


def x(rows: int = 1, width: int = 256) -> np.ndarray:
    return RNG.standard_normal((rows, width)).astype(F32)


def tasks() -> int:
    """Threads of this process, as the kernel counts them (Python's and native ones)."""
    return len(os.listdir("/proc/self/task"))


# --- results ----------------------------------------------------------------------------


def test_results_equal_session_run_under_load(backend, mlp, cnn):
    """64 concurrent submitters, 3 models, batches of 1-3 rows per request, batching on:
    every request gets exactly what Session.run gives it alone."""
    direct = {
        "mlp": ortn.Session(mlp, backend=backend),
        "pair": ortn.Session(models.two_inputs(), backend=backend),
        "cnn": ortn.Session(cnn, backend=backend),
    }
    with ortn.Scheduler(threads=2, backend=backend) as sched:
        sched.add_model("mlp", mlp, replicas=2, max_batch_size=16, max_queue_delay_us=2000)
        sched.add_model("pair", models.two_inputs(), max_batch_size=8, max_queue_delay_us=1000)
        sched.add_model("cnn", cnn, max_batch_size=4, max_queue_delay_us=1000)

        def feeds(model: str, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
            if model == "mlp":
                return {"x": rng.standard_normal((rows, 256)).astype(F32)}
            if model == "pair":
                return {k: rng.standard_normal((rows, 3)).astype(F32) for k in "ab"}
            return {"image": rng.standard_normal((rows, 3, 32, 32)).astype(F32)}

        def client(i: int) -> list[tuple[str, dict[str, np.ndarray], Any]]:
            # Even clients submit futures, odd ones wait in run(): both share the batches.
            rng = np.random.default_rng(i)
            sent = []
            for k in range(6):
                model = ("mlp", "pair", "cnn")[(i + k) % 3]
                f = feeds(model, 1 + (i * 7 + k) % 3, rng)
                if i % 2:
                    done: concurrent.futures.Future = concurrent.futures.Future()
                    done.set_result(sched.run(model, f))
                    sent.append((model, f, done))
                else:
                    sent.append((model, f, sched.submit(model, f)))
            return sent

        sent = [s for per_client in run_threads(64, client) for s in per_client]
        for model, f, fut in sent:
            got = fut.result(timeout=120)
            want = direct[model].run(f)
            assert got.keys() == want.keys()
            for k in want:
                assert got[k].shape == want[k].shape
                np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6)
        total = 0
        for model in ("mlp", "pair", "cnn"):
            st = sched.stats(model)
            assert st["queued"] == st["running"] == st["failed"] == 0
            assert st["completed"] == st["submitted"] == 64 * 2
            assert st["rows"] == sum(len(next(iter(f.values()))) for m, f, _ in sent if m == model)
            total += st["completed"]
        assert total == len(sent) == 64 * 6


def test_backed_up_requests_run_as_one_batch(backend, mlp):
    direct = ortn.Session(mlp, backend=backend)
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("mlp", mlp, max_batch_size=8, max_queue_delay_us=10_000_000)
        rows = [1, 2, 1, 3, 1]  # 8 rows: one full batch, dispatched without the delay
        with held(sched, "mlp", {"x": x()}):
            sent = [(f, sched.submit("mlp", f)) for f in ({"x": x(r)} for r in rows)]
            assert not any(fut.done() for _, fut in sent)
            assert sched.stats("mlp")["queued"] == 5
        for f, fut in sent:
            np.testing.assert_allclose(fut.result(timeout=60)["y"], direct.run(f)["y"], rtol=1e-5)
        st = sched.stats("mlp")
        assert st["batch_sizes"] == {1: 1, 8: 1}
        assert st["batches"] == 2
        assert st["rows"] == 9
        assert st["retried_batches"] == 0


def test_preferred_batch_sizes(backend, mlp):
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model(
            "mlp",
            mlp,
            max_batch_size=8,
            preferred_batch_sizes=[4, 2],
            max_queue_delay_us=20_000,
        )
        with held(sched, "mlp", {"x": x()}):
            futs = [sched.submit("mlp", {"x": x()}) for _ in range(7)]
        for f in futs:
            f.result(timeout=60)
        # 7 queued: 4 (the largest preferred size reachable) at once, then 2, then the
        # last one alone once it has waited the delay.
        assert sched.stats("mlp")["batch_sizes"] == {1: 2, 2: 1, 4: 1}


def test_request_larger_than_max_batch_runs_alone(backend, mlp):
    direct = ortn.Session(mlp, backend=backend)
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("mlp", mlp, max_batch_size=4, max_queue_delay_us=1000)
        with held(sched, "mlp", {"x": x()}):
            big, small = {"x": x(6)}, {"x": x(1)}
            f_big, f_small = sched.submit("mlp", big), sched.submit("mlp", small)
        np.testing.assert_allclose(f_big.result(60)["y"], direct.run(big)["y"], rtol=1e-5)
        np.testing.assert_allclose(f_small.result(60)["y"], direct.run(small)["y"], rtol=1e-5)
        assert sched.stats("mlp")["batch_sizes"] == {1: 2, 6: 1}


def test_run_alone_or_queued_behind_others(backend, mlp):
    """run() of a lone caller runs at once; behind queued requests it waits its turn and
    shares their batch."""
    direct = ortn.Session(mlp, backend=backend)
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("mlp", mlp, max_batch_size=4, max_queue_delay_us=10_000_000)
        f = {"x": x(2)}
        np.testing.assert_allclose(sched.run("mlp", f)["y"], direct.run(f)["y"], rtol=1e-5)
        feeds = [{"x": x()} for _ in range(4)]
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            with held(sched, "mlp", {"x": x()}):
                first = sched.submit("mlp", feeds[0])
                callers = [pool.submit(sched.run, "mlp", f) for f in feeds[1:]]
                while sched.stats("mlp")["queued"] < 4:
                    threading.Event().wait(0.001)
            for f, fut in zip(feeds, [first, *callers], strict=False):
                np.testing.assert_allclose(fut.result(60)["y"], direct.run(f)["y"], rtol=1e-5)
        assert sched.stats("mlp")["batch_sizes"] == {1: 1, 2: 1, 4: 1}
        with pytest.raises(ortn.InvalidArgumentError, match="unknown model 'nope'"):
            sched.run("nope", f)
    with pytest.raises(ortn.SchedulerClosedError):
        sched.run("mlp", f)


# --- priorities, timeouts, cancellation, close ------------------------------------------


def test_priorities_lower_first_fifo_within(backend, mlp):
    order: list[int] = []
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("mlp", mlp)
        prios = [5, 0, 3, 0, 1, 5, -2, 3]
        with held(sched, "mlp", {"x": x()}):
            futs = []
            for i, p in enumerate(prios):
                f = sched.submit("mlp", {"x": x()}, priority=p)
                f.add_done_callback(lambda _f, i=i: order.append(i))
                futs.append(f)
        concurrent.futures.wait(futs, timeout=60)
    assert order == sorted(range(len(prios)), key=lambda i: (prios[i], i))


def test_timeouts_fire_and_requests_never_run(backend, mlp):
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("mlp", mlp, timeout_ms=40)
        with held(sched, "mlp", {"x": x()}):
            own = sched.submit("mlp", {"x": x()}, timeout_ms=5)
            model = sched.submit("mlp", {"x": x()})
            # Both end while the only worker is still held: the timer ends them.
            for fut, ms in ((own, "5"), (model, "40")):
                exc = fut.exception(timeout=60)
                assert isinstance(exc, ortn.RequestTimeoutError)
                assert isinstance(exc, TimeoutError)
                assert str(exc) == (
                    f"model 'mlp': request timed out after {ms} ms in the queue; it never ran"
                )
                with pytest.raises(ortn.RequestTimeoutError):
                    fut.result()
        st = sched.stats("mlp")
        assert st["timed_out"] == 2
        assert st["completed"] == 1
        assert st["batches"] == 1


def test_cancel_queued_request(backend, mlp):
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("mlp", mlp)
        with held(sched, "mlp", {"x": x()}):
            a, b, c = (sched.submit("mlp", {"x": x()}) for _ in range(3))
            assert b.cancel() is True
            assert b.cancelled()
            assert b.done()
            assert b.cancel() is True  # still cancelled
            with pytest.raises(concurrent.futures.CancelledError):
                b.result()
            # Notified as an executor's cancelled future is: wait() and as_completed()
            # return it (they waited forever on a Future.cancel()-only future).
            assert concurrent.futures.wait([b], timeout=5).done == {b}
            assert list(concurrent.futures.as_completed([b], timeout=5)) == [b]
        assert a.result(60)["y"].shape == (1, 10)
        assert c.result(60)["y"].shape == (1, 10)
        assert a.cancel() is False
        assert not a.cancelled()
        st = sched.stats("mlp")
        assert st["cancelled"] == 1
        assert st["completed"] == 3


def _wait_for(cond: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.002)


FOREVER = 2**40  # loop iterations: only a cancel ends such a request


def _loop_feeds(v: float, n: int) -> dict[str, np.ndarray]:
    return {"x": np.full((1, 64), v, F32), "n": np.array([n], np.int64)}


def test_cancel_running_request_stops_its_batch(backend):
    """A running request's cancel stops its batch's run; the others of the batch run
    again alone and get what a run of their own gives; each request ends exactly once."""
    model = models.loop(batch="N")
    direct = ortn.Session(model, backend=backend)
    ended: dict[int, int] = {}
    with ortn.Scheduler(threads=2, backend=backend) as sched:
        sched.add_model("loop", model, max_batch_size=4, max_queue_delay_ms=100)
        d = sched.submit("loop", _loop_feeds(0.5, FOREVER))  # holds the one replica
        _wait_for(lambda: sched.stats("loop")["running"] == 1)
        a = sched.submit("loop", _loop_feeds(0.1, FOREVER))
        b = sched.submit("loop", _loop_feeds(0.2, 3))
        c = sched.submit("loop", _loop_feeds(0.3, 3))
        for i, f in enumerate((a, b, c, d)):
            f.add_done_callback(lambda _f, i=i: ended.__setitem__(i, ended.get(i, 0) + 1))
        assert d.cancel() is True  # running: its run stops
        assert d.cancelled()
        _wait_for(lambda: sched.stats("loop")["running"] == 3)  # a, b, c: one batch
        assert a.cancel() is True
        assert a.cancelled()
        for f, v in ((b, 0.2), (c, 0.3)):
            np.testing.assert_array_equal(f.result(60)["y"], direct.run(_loop_feeds(v, 3))["y"])
        assert b.cancel() is False  # ended
        _wait_for(lambda: sched.stats("loop")["running"] == 0)
        st = sched.stats("loop")
    assert ended == {0: 1, 1: 1, 2: 1, 3: 1}
    assert (st["submitted"], st["cancelled"], st["completed"], st["failed"]) == (4, 2, 2, 0)
    assert st["retried_batches"] == 1
    assert st["queued"] == 0


def test_request_run_again_after_another_cancel_succeeds(backend):
    """A request of a stopped batch runs again alone; when the cancel of yet another
    request of that batch stops its run too, it runs again, and ends with its result,
    not with the stopped run's error (the soak found it ending RunTerminatedError)."""
    model = models.loop(batch="N")
    direct = ortn.Session(model, backend=backend)
    long = 500_000  # about half a second a run here
    with ortn.Scheduler(threads=2, backend=backend) as sched:
        sched.add_model("loop", model, max_batch_size=4, max_queue_delay_ms=100)
        d = sched.submit("loop", _loop_feeds(0.5, FOREVER))  # holds the one replica
        _wait_for(lambda: sched.stats("loop")["running"] == 1)
        a = sched.submit("loop", _loop_feeds(0.1, FOREVER))
        b = sched.submit("loop", _loop_feeds(0.2, long))
        c = sched.submit("loop", _loop_feeds(0.3, FOREVER))
        assert d.cancel() is True
        _wait_for(lambda: sched.stats("loop")["running"] == 3)  # a, b, c: one batch
        assert a.cancel() is True  # the batch stops; b runs again alone, then c
        time.sleep(0.1)  # b's run alone is under way
        assert c.cancel() is True  # stops b's run too: b runs again
        np.testing.assert_array_equal(b.result(60)["y"], direct.run(_loop_feeds(0.2, long))["y"])
        assert c.cancelled()
        _wait_for(lambda: sched.stats("loop")["running"] == 0)
        st = sched.stats("loop")
    assert (st["cancelled"], st["completed"], st["failed"]) == (3, 1, 0)


def test_cancel_running_request_of_asyncio_task(backend):
    model = models.loop(batch="N")

    async def main(sched: ortn.Scheduler) -> None:
        task = asyncio.ensure_future(sched.infer("loop", _loop_feeds(0.5, FOREVER)))
        while sched.stats("loop")["running"] == 0:
            await asyncio.sleep(0.002)
        task.cancel()  # the request is running: cancelling the task stops its run
        with pytest.raises(asyncio.CancelledError):
            await task
        out = await sched.infer("loop", _loop_feeds(0.5, 1))
        assert out["y"].shape == (1, 64)

    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("loop", model)
        asyncio.run(main(sched))
        _wait_for(lambda: sched.stats("loop")["cancelled"] == 1)
        assert sched.stats("loop")["completed"] == 1


@pytest.mark.parametrize("drain", [True, False], ids=["drain", "no-drain"])
def test_close(backend, mlp, drain):
    direct = ortn.Session(mlp, backend=backend)
    sched = ortn.Scheduler(threads=1, backend=backend)
    sched.add_model("mlp", mlp, max_batch_size=4, max_queue_delay_us=10_000_000)
    closer = threading.Thread(target=sched.close, kwargs={"drain": drain})
    with held(sched, "mlp", {"x": x()}):
        sent = [(f, sched.submit("mlp", f)) for f in ({"x": x()} for _ in range(6))]
        closer.start()
        _wait_for(lambda: sched.closed)
        with pytest.raises(ortn.SchedulerClosedError, match="scheduler is closed; request refused"):
            sched.submit("mlp", {"x": x()})
        with pytest.raises(ortn.SchedulerClosedError, match="closed; model 'b' was not added"):
            sched.add_model("b", mlp)
    closer.join(60)
    assert not closer.is_alive()
    for f, fut in sent:
        if drain:
            np.testing.assert_allclose(fut.result(0)["y"], direct.run(f)["y"], rtol=1e-5)
        else:
            with pytest.raises(
                ortn.SchedulerClosedError,
                match=r"^model 'mlp': the scheduler was closed before the request ran$",
            ):
                fut.result(0)
    st = sched.stats("mlp")
    assert st["completed"] == (7 if drain else 1)
    assert st["closed"] == (0 if drain else 6)
    assert st["rejected"] == 1
    sched.close()  # idempotent


def _overload(backend: str, mlp: bytes) -> dict[str, int]:
    """Many submitters against a small queue, with timeouts, cancellations and a close
    without drain half way: every submit ends exactly once, and the counts by outcome
    add up and agree with stats(). Returns the counts."""
    sched = ortn.Scheduler(threads=1, backend=backend)
    sched.add_model("mlp", mlp, max_batch_size=8, max_queue_delay_us=300, max_queue_size=8)
    n_threads, each = 16, 60
    n = n_threads * each
    done_calls = [0] * n
    outcome: list[str] = [""] * n
    futures: dict[int, Any] = {}
    lock = threading.Lock()
    submitted = [0]

    def on_done(k: int) -> Any:
        def cb(_f: Any) -> None:
            with lock:
                done_calls[k] += 1

        return cb

    def client(t: int) -> None:
        rng = random.Random(t)
        for i in range(each):
            k = t * each + i
            timeout = rng.choice([None, None, None, 0.05, 0.5, 5.0])
            try:
                fut = sched.submit(
                    "mlp", {"x": x()}, priority=rng.randint(0, 2), timeout_ms=timeout
                )
            except ortn.QueueFullError:
                outcome[k] = "queue full"
            except ortn.SchedulerClosedError:
                outcome[k] = "refused (closed)"
            else:
                fut.add_done_callback(on_done(k))
                futures[k] = fut
                if rng.random() < 0.15:
                    fut.cancel()
            with lock:
                submitted[0] += 1

    def wait_for(count: int) -> None:
        while submitted[0] < count:
            threading.Event().wait(0.0005)

    def control() -> None:
        # The worker is held for the first quarter (the queue fills up), then traffic
        # flows, then the scheduler closes without drain half way through.
        with held(sched, "mlp", {"x": x()}):
            wait_for(n // 4)
        wait_for(n // 2)
        for _ in range(20_000):  # and some have run (if any can: bounded wait)
            if sched.stats("mlp")["completed"] > 1:
                break
            threading.Event().wait(0.0005)
        sched.close(drain=False)

    controller = threading.Thread(target=control)
    controller.start()
    run_threads(n_threads, client)
    controller.join(120)
    assert not controller.is_alive()
    for k, fut in futures.items():
        assert fut.done()
        if fut.cancelled():
            outcome[k] = "cancelled"
            continue
        exc = fut.exception(0)
        if exc is None:
            assert fut.result(0)["y"].shape == (1, 10)
            outcome[k] = "result"
        elif isinstance(exc, ortn.RequestTimeoutError):
            outcome[k] = "timed out"
        elif isinstance(exc, ortn.SchedulerClosedError):
            outcome[k] = "closed"
        else:
            raise AssertionError(f"unexpected error: {exc!r}")
    counts = {o: outcome.count(o) for o in sorted(set(outcome))}
    assert "" not in counts
    assert sum(counts.values()) == n
    assert all(done_calls[k] == 1 for k in futures)  # every accepted one: done exactly once
    assert all(done_calls[k] == 0 for k in range(n) if k not in futures)
    st = sched.stats("mlp")
    assert st["queued"] == st["running"] == 0
    assert st["submitted"] == len(futures) + 1
    assert st["completed"] == counts.get("result", 0) + 1  # + the request that held the worker
    assert st["timed_out"] == counts.get("timed out", 0)
    assert st["cancelled"] == counts.get("cancelled", 0)
    assert st["closed"] == counts.get("closed", 0)
    assert st["rejected"] == counts.get("queue full", 0) + counts.get("refused (closed)", 0)
    assert st["failed"] == 0
    assert counts.get("queue full", 0) > 0  # the overload happened
    return counts


def test_exactly_once_under_overload(backend, mlp):
    counts = _overload(backend, mlp)
    SUMMARY.append(
        f"scheduler exactly-once [{backend}]: {sum(counts.values())} submitted -> "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
    )


# --- errors -----------------------------------------------------------------------------


def test_fixed_batch_model_rejects_batching(backend):
    with ortn.Scheduler(backend=backend) as sched:
        with pytest.raises(ortn.InvalidArgumentError) as err:
            sched.add_model("fixed", models.fixed_output(), max_batch_size=4)
        assert str(err.value) == (
            "model 'fixed': max_batch_size=4 needs every input and output to be a numeric "
            "tensor with a free first (batch) dimension, but input 'x' has a fixed first "
            "dimension: [2, 3]; use max_batch_size=1 for this model"
        )
        assert "fixed" not in sched.models
        sched.add_model("fixed", models.fixed_output())  # unbatched: fine
        y = sched.submit("fixed", {"x": np.ones((2, 3), F32)}).result(60)["y"]
        np.testing.assert_array_equal(y, np.full((2, 3), 2, F32))


BAD_FEEDS = [
    ("wrong-dtype", lambda: {"x": np.zeros((1, 256), np.float64)}),
    ("wrong-width", lambda: {"x": np.zeros((1, 100), F32)}),
    ("wrong-rank", lambda: {"x": np.zeros((256,), F32)}),
    ("unknown-name", lambda: {"z": np.zeros((1, 256), F32)}),
    ("missing", dict),
    ("not-a-dict", lambda: "x"),
    ("two-arrays", lambda: [np.zeros((1, 256), F32)] * 2),
    ("object-array", lambda: {"x": np.array([[object()]])}),
]


@pytest.mark.parametrize("api", ["submit", "run"])
@pytest.mark.parametrize(("case", "make"), BAD_FEEDS, ids=[c for c, _ in BAD_FEEDS])
def test_bad_feeds_raise_what_session_run_raises(backend, mlp, case, make, api):
    session = ortn.Session(mlp, backend=backend)
    with pytest.raises(ortn.Error) as want:
        session.run(make())
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("mlp", mlp, max_batch_size=4)
        with pytest.raises(ortn.Error) as got:
            getattr(sched, api)("mlp", make())
        assert sched.stats("mlp")["submitted"] == 0
    assert type(got.value) is type(want.value)
    # The scheduler's session is named after the model, Session's after its source.
    assert str(got.value) == str(want.value).replace("model '<bytes>'", "model 'mlp'")


def test_failing_request_fails_alone_in_its_batch(backend):
    """An index out of range in one request makes the batched run fail; its neighbours
    then run alone and succeed, and it gets the error Session.run gives it."""
    direct = ortn.Session(models.gather(), backend=backend)
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("gather", models.gather(), max_batch_size=8, max_queue_delay_us=10_000_000)
        good = [np.array([i], np.int64) for i in range(7)]
        bad = np.array([42], np.int64)
        with held(sched, "gather", {"idx": np.array([0], np.int64)}):
            # 8 rows: one full batch, in which index 42 makes onnxruntime fail.
            futs = [sched.submit("gather", {"idx": g}) for g in good[:3]]
            f_bad = sched.submit("gather", {"idx": bad})
            futs += [sched.submit("gather", {"idx": g}) for g in good[3:]]
        for g, f in zip(good, futs, strict=False):
            np.testing.assert_array_equal(f.result(60)["y"], g.astype(F32))
        with pytest.raises(ortn.Error) as want:
            direct.run({"idx": bad})
        got = f_bad.exception(60)
        assert type(got) is type(want.value)
        assert str(got) == str(want.value).replace("model '<bytes>'", "model 'gather'")
        assert got.ort_code == want.value.ort_code
        st = sched.stats("gather")
        assert st["failed"] == 1
        assert st["completed"] == 8
        assert st["retried_batches"] == 1
        assert st["batch_sizes"] == {1: 1, 8: 1}


def _scheduler_messages(backend: str, mlp: bytes) -> dict[str, str]:
    """The scheduler's own errors on BACKEND, by scenario."""
    out: dict[str, str] = {}

    def record(key: str, fn: Any) -> None:
        try:
            fn()
        except ortn.Error as exc:
            out[key] = f"{type(exc).__name__}: {exc}"
        else:
            out[key] = "no error"

    sched = ortn.Scheduler(threads=1, backend=backend)
    record("unknown model, none", lambda: sched.submit("nope", {"x": x()}))
    sched.add_model("mlp", mlp, max_queue_size=1, max_batch_size=2)
    record("unknown model", lambda: sched.submit("nope", {"x": x()}))
    record("duplicate", lambda: sched.add_model("mlp", mlp))
    record("fixed", lambda: sched.add_model("f", models.fixed_output(), max_batch_size=2))
    record("scalar", lambda: sched.add_model("s", models.reduce_sum(), max_batch_size=2))
    record("strings", lambda: sched.add_model("i", models.identity("str"), max_batch_size=2))
    record("sequence", lambda: sched.add_model("q", models.sequence_model(), max_batch_size=2))
    record("bad replicas", lambda: sched.add_model("r", mlp, replicas=0))
    record("bad timeout", lambda: sched.add_model("r", mlp, timeout_ms=0))
    record(
        "bad preferred",
        lambda: sched.add_model("r", mlp, max_batch_size=4, preferred_batch_sizes=[8]),
    )
    record("bad priority", lambda: sched.submit("mlp", {"x": x()}, priority=1.5))
    record("bad request timeout", lambda: sched.submit("mlp", {"x": x()}, timeout_ms=-1))
    with held(sched, "mlp", {"x": x()}):
        queued = sched.submit("mlp", {"x": x()}, timeout_ms=1)
        record("timeout", lambda: queued.result(60))
        queued = sched.submit("mlp", {"x": x()})
        record("queue full", lambda: sched.submit("mlp", {"x": x()}))
        threading.Thread(target=sched.close, kwargs={"drain": False}).start()
        _wait_for(lambda: sched.closed)
        record("closed (future)", lambda: queued.result(60))
        record("closed (submit)", lambda: sched.submit("mlp", {"x": x()}))
        record("closed (add)", lambda: sched.add_model("late", mlp))
    return out


def test_scheduler_messages_same_on_both_backends(mlp):
    require_backend("native")
    native = _scheduler_messages("native", mlp)
    python = _scheduler_messages("python", mlp)
    assert native == python
    assert native["queue full"] == (
        "QueueFullError: model 'mlp': queue full (max_queue_size=1); request refused, try "
        "again later"
    )
    assert native["unknown model"] == ("InvalidArgumentError: unknown model 'nope' (models: 'mlp')")
    assert "no error" not in native.values()


def test_bad_arguments(backend, mlp):
    with pytest.raises(ortn.InvalidArgumentError, match="threads must be an int from 0 to 4096"):
        ortn.Scheduler(threads=-1, backend=backend)
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        with pytest.raises(TypeError, match="unexpected keyword argument 'replica'"):
            sched.add_model("m", mlp, replica=2)
        with pytest.raises(ortn.InvalidArgumentError, match="max_batch_size must be an int"):
            sched.add_model("m", mlp, max_batch_size=0)
        with pytest.raises(ortn.InvalidArgumentError, match="a model name must be a non-empty"):
            sched.add_model("", mlp)
        with pytest.raises(ortn.InvalidArgumentError, match="graph_optimization must be"):
            sched.add_model("m", mlp, graph_optimization="most")
        with pytest.raises(ortn.ModelLoadError):
            sched.add_model("m", b"not a model")
        assert sched.models == []
        sched.add_model("m", mlp, intra_op_threads=1, graph_optimization="basic")
        assert sched.submit("m", x()).result(60)["y"].shape == (1, 10)  # one array: fine
        for bad in ("a b", "9x", ""):
            with pytest.raises(ortn.InvalidArgumentError, match="prefix must start a Prometheus"):
                sched.metrics_text(bad)


# --- threads, asyncio, lifetimes ------------------------------------------------------------


def test_thread_count_does_not_grow_with_models_or_replicas(backend, mlp):
    with ortn.Scheduler(threads=2, backend=backend) as sched:
        sched.add_model("m0", mlp)
        sched.submit("m0", {"x": x()}).result(60)
        before = tasks()
        for i in range(1, 6):
            sched.add_model(f"m{i}", mlp, replicas=4, max_batch_size=4, warmup=True)
            assert sched.stats(f"m{i}")["warmup_runs"] == 4 * 2  # 4 slots x sizes {1, 4}
            futs = [sched.submit(f"m{i}", {"x": x(2)}) for _ in range(8)]
            for f in futs:
                f.result(60)
        assert tasks() <= before
        assert sched.threads == 2


def test_dropping_the_scheduler_closes_it(backend, mlp):
    ortn.Session(mlp, backend=backend).run({"x": x()})  # the runtime's own threads exist
    before = tasks()
    sched = ortn.Scheduler(threads=2, backend=backend)
    sched.add_model("mlp", mlp)
    futs = [sched.submit("mlp", {"x": x()}) for _ in range(200)]
    del sched  # no close(): as close(drain=False)
    gc.collect()
    for f in futs:
        exc = f.exception(60)
        assert exc is None or isinstance(exc, ortn.SchedulerClosedError)
    assert tasks() <= before  # its threads are gone
    assert futs[0].cancel() is False  # futures don't keep it alive


def test_asyncio_1000_concurrent_infers_on_one_loop(backend, mlp):
    direct = ortn.Session(mlp, backend=backend)
    xs = [x() for _ in range(1000)]

    async def main(sched: ortn.Scheduler) -> tuple[list[Any], set[int], int]:
        loop_thread = threading.get_ident()
        seen: set[int] = set()

        async def one(v: np.ndarray) -> Any:
            r = await sched.infer("mlp", {"x": v})
            seen.add(threading.get_ident())
            return r

        tasks_ = [asyncio.ensure_future(one(v)) for v in xs]
        await asyncio.sleep(0)  # all 1000 submitted, most still waiting
        during = tasks()
        results = await asyncio.gather(*tasks_)
        assert seen == {loop_thread}
        return results, seen, during

    with ortn.Scheduler(threads=2, backend=backend) as sched:
        sched.add_model("mlp", mlp, max_batch_size=32, max_queue_delay_us=500, max_queue_size=1000)
        before = tasks()
        results, _seen, during = asyncio.run(main(sched))
        assert during <= before + 1  # no thread per waiting request (+1: asyncio's own)
        for v, r in zip(xs, results, strict=False):
            np.testing.assert_allclose(r["y"], direct.run({"x": v})["y"], rtol=1e-5, atol=1e-6)
        assert sched.stats("mlp")["completed"] == 1000


def test_asyncio_cancel_cancels_queued_request(backend, mlp):
    async def main(sched: ortn.Scheduler) -> None:
        task = asyncio.ensure_future(sched.infer("mlp", {"x": x()}))
        await asyncio.sleep(0)  # submitted
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with ortn.Scheduler(threads=1, backend=backend) as sched:
        sched.add_model("mlp", mlp)
        with held(sched, "mlp", {"x": x()}):
            asyncio.run(main(sched))
            assert sched.stats("mlp")["cancelled"] == 1


def test_results_and_feeds_lifetimes(backend, mlp):
    direct = ortn.Session(mlp, backend=backend)
    live = (lambda: ortn._backend.native_module()._live_slices()) if backend == "native" else None
    base = live() if live else 0
    sched = ortn.Scheduler(threads=1, backend=backend)
    sched.add_model("mlp", mlp, max_batch_size=4, max_queue_delay_us=10_000_000)
    want = []
    with held(sched, "mlp", {"x": x()}):
        futs = []
        for _ in range(4):
            v = x()
            want.append(direct.run({"x": v})["y"])
            futs.append(sched.submit("mlp", {"x": v.copy()}))  # the only reference is ours
            del v
        gc.collect()
    results = [f.result(60)["y"] for f in futs]
    sched.close()
    del sched, futs
    gc.collect()
    for got, w in zip(results, want, strict=False):
        np.testing.assert_allclose(got, w, rtol=1e-5)  # batch slices outlive the scheduler
    if live:
        assert live() == base + 4  # each result shares its batch's buffer
        del results, got
        gc.collect()
        assert live() == base


# --- stats and metrics ------------------------------------------------------------------------

_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)+\} \S+$')


def _traffic(sched: ortn.Scheduler, mlp: bytes) -> None:
    sched.add_model("mlp", mlp, max_batch_size=4, max_queue_delay_us=10_000_000)
    sched.add_model('we"ird\\name', models.add_one((1, 4)))
    with held(sched, "mlp", {"x": x()}):
        futs = [sched.submit("mlp", {"x": x()}) for _ in range(4)]
        futs.append(sched.submit("mlp", {"x": x()}, timeout_ms=1))
        futs[-1].exception(60)
    for f in futs[:4]:
        f.result(60)
    sched.submit('we"ird\\name', {"x": np.ones((1, 4), F32)}).result(60)


def test_stats_and_prometheus_text(backend, mlp):
    with ortn.Scheduler(threads=1, backend=backend) as sched:
        _traffic(sched, mlp)
        st = sched.stats("mlp")
        assert set(st) == set(ortn.scheduler.ModelStats.__annotations__)
        assert set(st["queue_us"]) == set(ortn.scheduler.LatencyStats.__annotations__)
        assert st["completed"] == 5
        assert st["timed_out"] == 1
        assert st["submitted"] == 6
        assert st["batch_sizes"] == {1: 1, 4: 1}
        assert st["rows"] == 5
        assert st["batches"] == 2
        for key in ("queue_us", "compute_us", "total_us"):
            lat = st[key]
            assert lat["count"] == 5
            assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"]
            assert lat["sum"] >= lat["p50"]
        text = sched.metrics_text()
        families: dict[str, str] = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                families[name] = kind
            elif not line.startswith("# HELP "):
                assert _SAMPLE.match(line), line
                name = line.split("{")[0]
                assert any(name == f or name.startswith(f + "_") for f in families), line
        assert families["ortnative_inference_request_success"] == "counter"
        assert families["ortnative_inference_queue_summary_us"] == "summary"
        assert families["ortnative_inference_batch_size"] == "histogram"
        assert families["ortnative_inference_pending_request_count"] == "gauge"
        assert 'ortnative_inference_request_success{model="mlp"} 5\n' in text
        assert 'ortnative_inference_request_failure{model="mlp",reason="TIMEOUT"} 1\n' in text
        assert 'ortnative_inference_exec_count{model="mlp"} 2\n' in text
        assert 'ortnative_inference_batch_size_bucket{model="mlp",le="2"} 1\n' in text
        assert 'ortnative_inference_batch_size_bucket{model="mlp",le="4"} 2\n' in text
        assert 'ortnative_inference_request_success{model="we\\"ird\\\\name"} 1\n' in text
        assert sched.metrics_text("nv").count("nv_inference_count{") == 2


def test_metrics_text_same_shape_on_both_backends(mlp):
    require_backend("native")
    texts = []
    for backend in ("native", "python"):
        with ortn.Scheduler(threads=1, backend=backend) as sched:
            _traffic(sched, mlp)
            # Durations differ from run to run; everything else must be identical.
            texts.append(re.sub(r"(_us(?:_sum)?\{[^}]*\}) \S+", r"\1 <t>", sched.metrics_text()))
    assert texts[0] == texts[1]


def test_repr_context_manager_and_properties(backend, mlp):
    with ortn.Scheduler(threads=3, backend=backend) as sched:
        sched.add_model("mlp", mlp)
        assert sched.backend == backend
        assert sched.threads == 3
        assert sched.models == ["mlp"]
        assert repr(sched) == f"<ortnative.Scheduler backend={backend} threads=3 models=['mlp']>"
        fut = sched.submit("mlp", {"x": x()})
        assert isinstance(fut, concurrent.futures.Future)
    assert sched.closed
    assert fut.done()
    assert "closed" in repr(sched)


@pytest.mark.slow
def test_stress_exactly_once_many_rounds(backend, mlp):
    """The overload test, over and over (select with -m slow)."""
    for _ in range(200):
        _overload(backend, mlp)


@pytest.mark.slow
def test_stress_closed_loop_never_stalls(backend):
    """Closed-loop clients with a batch window, over and over: every request must end
    (a lost wake-up of an idle worker would leave one waiting forever)."""
    model = models.add_one(("N", 4))
    for _ in range(100):
        with ortn.Scheduler(threads=2, backend=backend) as sched:
            sched.add_model("m", model, replicas=2, max_batch_size=16, max_queue_delay_us=2000)

            def client(i: int) -> None:
                for k in range(30):
                    v = np.full((1 + (i + k) % 3, 4), i, F32)
                    got = sched.submit("m", {"x": v}).result(timeout=30)["y"]
                    np.testing.assert_array_equal(got, v + 1)

            run_threads(16, client)
