"""The futures Scheduler.submit returns are real concurrent.futures.Futures: result,
exception, done, add_done_callback (before and after completion), wait, as_completed,
cancel and timeouts behave as for an executor's future, on both backends. (On the native
backend the scheduler completes them without the GIL and the Python-level state follows
when someone asks: these tests hold that to the plain Future's contract, from many
threads at once too.)"""

from __future__ import annotations

import concurrent.futures
import threading
import time

import numpy as np
import ortnative as ortn
import pytest
from conftest import run_threads
from ortnative import models

X = np.zeros((1, 4), np.float32)


@pytest.fixture
def sched(backend):
    s = ortn.Scheduler(threads=2, backend=backend)
    s.add_model("m", models.add_one(("N", 4)), max_batch_size=8, max_queue_delay_ms=0.5)
    s.add_model("slow", models.mlp((1024, 1024, 1024, 10)), intra_op_threads=1)
    yield s
    s.close()


def test_result_exception_done(sched):
    fut = sched.submit("m", {"x": X})
    assert isinstance(fut, concurrent.futures.Future)
    np.testing.assert_array_equal(fut.result(timeout=30)["y"], 1)
    assert fut.done()
    assert not fut.cancelled()
    assert not fut.running()
    assert fut.exception() is None
    assert fut.result() is fut.result()  # the same dict every time
    assert "finished" in repr(fut)


def test_result_first_then_the_rest_of_the_future_api(sched):
    # result() alone is the common call, kept short on the native backend (the outputs
    # come straight from the native outcome); everything asked afterwards agrees with it.
    futs = [sched.submit("m", {"x": X}) for _ in range(5)]
    outs = [f.result(timeout=30) for f in futs]
    for f, out in zip(futs, outs, strict=True):
        assert f.result() is out
        assert f.exception() is None
    first, second, third, fourth, fifth = futs
    assert concurrent.futures.wait([first], timeout=0).done == {first}
    assert list(concurrent.futures.as_completed([second], timeout=5)) == [second]
    ran_on: list[int] = []
    third.add_done_callback(lambda f: ran_on.append(threading.get_ident()))
    assert ran_on == [threading.get_ident()]  # done: the callback runs at once, here
    assert fourth.done()
    assert not fourth.cancel()  # ended: can't be cancelled
    assert not fourth.cancelled()
    assert not fifth.running()
    assert "finished" in repr(fifth)


def test_result_timeout_then_result(sched):
    big = np.ones((512, 1024), np.float32)
    first = sched.submit("slow", {"x": big})
    queued = [sched.submit("slow", {"x": big}) for _ in range(3)]
    with pytest.raises(concurrent.futures.TimeoutError):
        queued[-1].result(timeout=0.001)
    assert not queued[-1].done()
    for f in [first, *queued]:
        assert f.result(timeout=60)["y"].shape == (512, 10)


def test_run_error_is_the_futures_exception(backend):
    with ortn.Scheduler(threads=1, backend=backend) as s:
        s.add_model("g", models.gather())
        bad = s.submit("g", {"idx": np.array([99], np.int64)})
        assert isinstance(bad.exception(timeout=30), ortn.Error)
        with pytest.raises(ortn.Error):
            bad.result()


def test_callbacks_before_and_after_completion(sched):
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def cb(name):
        def f(fut):
            with lock:
                calls.append((name, threading.current_thread().name))
            assert fut.done()
            np.testing.assert_array_equal(fut.result()["y"], 1)

        return f

    fut = sched.submit("m", {"x": X})
    fut.add_done_callback(cb("before"))
    fut.result(timeout=30)
    fut.add_done_callback(cb("after"))  # done already: runs now, on this thread
    deadline = time.monotonic() + 30
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert sorted(name for name, _ in calls) == ["after", "before"]
    assert dict(calls)["after"] == threading.current_thread().name


def test_callback_only_futures_complete(sched):
    # Nobody calls result(): the callbacks alone must see every future end.
    done = threading.Semaphore(0)
    futs = [sched.submit("m", {"x": X}) for _ in range(200)]
    for f in futs:
        f.add_done_callback(lambda _f: done.release())
    for _ in futs:
        assert done.acquire(timeout=30)


@pytest.mark.parametrize("return_when", ["ALL_COMPLETED", "FIRST_COMPLETED"])
def test_wait(sched, return_when):
    futs = [sched.submit("m", {"x": X}) for _ in range(50)]
    futs[0].result(timeout=30)  # some done before wait() is called, some after
    done, not_done = concurrent.futures.wait(
        futs, timeout=30, return_when=getattr(concurrent.futures, return_when)
    )
    assert done
    if return_when == "ALL_COMPLETED":
        assert not not_done
        assert done == set(futs)
    for f in done:
        np.testing.assert_array_equal(f.result()["y"], 1)


def test_as_completed(sched):
    big = np.ones((256, 1024), np.float32)
    futs = [sched.submit("slow", {"x": big}) for _ in range(3)]
    futs += [sched.submit("m", {"x": X}) for _ in range(40)]
    seen = list(concurrent.futures.as_completed(futs, timeout=60))
    assert len(seen) == len(futs)
    assert set(seen) == set(futs)


def test_wait_and_as_completed_time_out_on_a_queued_request(sched):
    big = np.ones((512, 1024), np.float32)
    futs = [sched.submit("slow", {"x": big}) for _ in range(4)]
    last = futs[-1]  # three runs of the slow model ahead of it
    done, not_done = concurrent.futures.wait([last], timeout=0.01)
    assert not done
    assert not_done == {last}
    with pytest.raises(concurrent.futures.TimeoutError):
        list(concurrent.futures.as_completed([last], timeout=0.01))
    assert concurrent.futures.wait(futs, timeout=60).done == set(futs)
    assert all(f.result()["y"].shape == (512, 10) for f in futs)


def test_one_waiter_over_scheduler_and_plain_futures(backend):
    # A waiter over a scheduler's future and an executor's: whichever ends first wakes
    # it, and one that ends later still reaches the next waiter.
    from test_scheduler import held

    with ortn.Scheduler(threads=1, backend=backend) as s:
        s.add_model("m", models.add_one(("N", 4)))
        with held(s, "m", {"x": X}):
            queued = s.submit("m", {"x": X})  # the only worker is held: it waits
            plain: concurrent.futures.Future[str] = concurrent.futures.Future()
            threading.Timer(0.05, plain.set_result, args=("plain",)).start()
            done, not_done = concurrent.futures.wait(
                [queued, plain], timeout=60, return_when=concurrent.futures.FIRST_COMPLETED
            )
            assert done == {plain}
            assert not_done == {queued}
            it = concurrent.futures.as_completed([queued, plain], timeout=0.2)
            assert next(it) is plain
            with pytest.raises(concurrent.futures.TimeoutError):
                next(it)
        assert list(concurrent.futures.as_completed([queued], timeout=60)) == [queued]
        np.testing.assert_array_equal(queued.result()["y"], 1)


def test_cancel_queued(sched):
    big = np.ones((512, 1024), np.float32)
    running = sched.submit("slow", {"x": big})
    queued = [sched.submit("slow", {"x": big}) for _ in range(4)]
    assert queued[-1].cancel()
    assert queued[-1].cancelled()
    assert queued[-1].done()
    with pytest.raises(concurrent.futures.CancelledError):
        queued[-1].result()
    assert concurrent.futures.wait([queued[-1]], timeout=5).done == {queued[-1]}
    for f in [running, *queued[:-1]]:
        f.result(timeout=60)


def test_many_threads_on_the_same_futures(sched):
    # Threads race to result(), done(), add_done_callback() and wait() on shared futures:
    # every call sees the one outcome, every callback runs once.
    futs = [sched.submit("m", {"x": X}) for _ in range(100)]
    counts = [0] * len(futs)
    lock = threading.Lock()

    def cb(k):
        def f(_fut):
            with lock:
                counts[k] += 1

        return f

    def work(t: int) -> bool:
        ok = True
        for k, f in enumerate(futs):
            if (k + t) % 3 == 0:
                f.add_done_callback(cb(k))
            elif (k + t) % 3 == 1:
                ok &= bool(f.done()) in (True, False)
            ok &= float(f.result(timeout=30)["y"].sum()) == 4.0
        concurrent.futures.wait(futs, timeout=30)
        return ok

    assert all(run_threads(6, work))
    expected = [sum(1 for t in range(6) if (k + t) % 3 == 0) for k in range(len(futs))]
    deadline = time.monotonic() + 30
    while counts != expected and time.monotonic() < deadline:
        time.sleep(0.001)
    assert counts == expected


def test_dropped_futures_release_their_feeds(sched):
    # Futures nobody keeps: their requests end on scheduler threads (without the GIL on
    # the native backend), and the feeds they held are released all the same.
    import gc
    import weakref

    class Arr(np.ndarray):
        pass

    refs = []
    for _ in range(50):
        a = np.zeros((1, 4), np.float32).view(Arr)
        refs.append(weakref.ref(a))
        sched.submit("m", {"x": a})
        del a
    sched.submit("m", {"x": X}).result(timeout=30)
    deadline = time.monotonic() + 30
    while any(r() is not None for r in refs) and time.monotonic() < deadline:
        sched.submit("m", {"x": X}).result(timeout=30)  # a submit releases deferred ones
        gc.collect()
        time.sleep(0.01)
    assert all(r() is None for r in refs)
