"""Fuzz target: sequences of Scheduler operations, checked for exactly-once endings.

The input bytes pick a backend and a thread count, then a short program: add_model
(a small MLP, y = x + 1, a fixed-shape model that cannot batch, and a Gather that fails
at run time on out-of-range indices; random batch sizes, queue sizes, replicas,
delays, timeouts, including invalid ones), submit and run with good and bad feeds
(wrong name, dtype, shape, out-of-range indices, another model's feeds), priorities,
short timeouts, future.cancel(), stats(), metrics_text(), short sleeps, close with
and without drain at any point, and submits after close. Each input ends with a close
and these checks:

- every future submit returned ends (within 30 s) exactly once: one done-callback;
- its outcome is what a direct Session.run of the same feeds gives (the same values,
  or an error of the same type), or RequestTimeoutError (only with a timeout),
  CancelledError (only if cancel() was called), SchedulerClosedError (only after a
  close without drain); a good request never fails because of a bad neighbour;
- submit raises only documented errors: QueueFullError only when that model's
  unfinished requests fill its queue, SchedulerClosedError only after close;
- stats() adds up at every call (queued + running + ended = submitted), and at the
  end agrees with the outcomes counted here, model by model.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from typing import Any

import atheris

with atheris.instrument_imports(include=["ortnative"]):
    import numpy as np
    import ortnative as ortn
    import ortnative._fallback_batch
    import ortnative._fallback_scheduler
    import ortnative._fallback_stats
    from common import ALLOWED, Finding, main, outcome
    from ortnative import models

BACKENDS = ("native", "python")
KINDS = ("mlp", "add", "gather", "fixed")
BYTES = {
    "mlp": models.mlp((8, 8, 4)),
    "add": models.add_one(("N", 4)),
    "gather": models.gather(10),
    "fixed": models.add_one((1, 4)),
}
NAMES = ["a", "b", "c"]
# (valid values, invalid ones): an invalid one is drawn one time in eight
BATCH_SIZES = ([1, 1, 2, 4, 8], [0, -1, True, 1 << 21])
QUEUE_SIZES = ([1, 2, 4, 16, 1024], [0, 2.5])
REPLICAS = ([1, 1, 2, 3], [0, None])
DELAYS = ([0, 0, 100, 1000], [-1, 1.5])
MODEL_TIMEOUTS = ([None, None, None, 0.001, 0.05, 0.5, 5.0], [0, -1.0, math.nan, 2e12])
TIMEOUTS = ([None, None, None, 0.001, 0.05, 0.5, 5.0], [0, -1.0, math.nan, True, 2e12, "1"])
PRIORITIES = ([0, 0, 1, -1, 5], [2**31, 1.5])
ENDED = ("completed", "failed", "timed_out", "cancelled", "closed")
WAIT_S = 30.0

_direct: dict[tuple[str, str], ortn.Session] = {}


def direct(backend: str, kind: str) -> ortn.Session:
    """The reference: the same model in a plain Session of the same backend."""
    key = (backend, kind)
    if key not in _direct:
        _direct[key] = ortn.Session(BYTES[kind], backend=backend)
    return _direct[key]


def _pick(fdp: atheris.FuzzedDataProvider, items: list[Any] | tuple[Any, ...]) -> Any:
    return items[fdp.ConsumeIntInRange(0, len(items) - 1)]


def _draw(fdp: atheris.FuzzedDataProvider, choices: tuple[list[Any], list[Any]]) -> Any:
    valid, invalid = choices
    return _pick(fdp, invalid if fdp.ConsumeIntInRange(0, 7) == 0 else valid)


def _feeds(fdp: atheris.FuzzedDataProvider, kind: str) -> Any:
    """Feeds for a model of KIND: mostly right, sometimes wrong in one way."""
    rows = 1 if kind == "fixed" else fdp.ConsumeIntInRange(0, 3)
    bad = fdp.ConsumeIntInRange(0, 7)
    if kind == "gather":
        idx = np.array([fdp.ConsumeIntInRange(-10, 9) for _ in range(rows)], np.int64)
        if bad == 1 and rows:
            idx[fdp.ConsumeIntInRange(0, rows - 1)] = _pick(fdp, [10, -11, 1 << 40, 99])
        elif bad == 2:
            idx = idx.astype(np.int32)
        elif bad == 3:
            idx = idx.reshape(rows, 1)
        name = "idx"
        value: Any = idx
    else:
        width = 8 if kind == "mlp" else 4
        x = (np.arange(rows * width, dtype=np.float32).reshape(rows, width) / 7).astype(np.float32)
        if bad == 1:
            x = x.astype(np.float64)
        elif bad == 2:
            x = np.zeros((rows, width + 1), np.float32)
        elif bad == 3:
            x = x.reshape(-1)
        name = "x"
        value = x
    if bad == 4:
        name = "y"
    container = fdp.ConsumeIntInRange(0, 9)
    if container == 0:
        return [value]
    if container == 1:
        return value
    if container == 2:
        return {}
    return {name: value}


class Program:
    """One input's scheduler and what the harness knows about it."""

    def __init__(self, fdp: atheris.FuzzedDataProvider) -> None:
        self.fdp = fdp
        self.backend = _pick(fdp, BACKENDS)
        self.sched = ortn.Scheduler(threads=fdp.ConsumeIntInRange(0, 3), backend=self.backend)
        self.models: dict[str, dict[str, Any]] = {}  # name -> kind, queue size, timeout
        # per request: (model name, feeds, future, had a timeout, cancel() said True)
        self.futures: list[list[Any]] = []
        self.calls: dict[int, int] = {}  # id(future) -> done-callbacks
        self.calls_lock = threading.Lock()
        # per model: counts of endings as this harness saw them
        self.seen: dict[str, dict[str, int]] = {}
        self.closed = False
        self.closed_no_drain = False

    # -- helpers -------------------------------------------------------------------
    def count(self, name: str, key: str) -> None:
        if name in self.seen:
            self.seen[name][key] = self.seen[name].get(key, 0) + 1

    def check_stats(self, name: str) -> dict[str, Any]:
        st = self.sched.stats(name)
        ended = sum(st[k] for k in ENDED)
        if st["queued"] + st["running"] + ended != st["submitted"]:
            raise Finding(f"stats of {name!r} don't add up: {st}")
        if min(st[k] for k in (*ENDED, "queued", "running", "submitted", "rejected")) < 0:
            raise Finding(f"negative count in stats of {name!r}: {st}")
        return st

    def on_done(self, fut: concurrent.futures.Future) -> None:
        with self.calls_lock:
            self.calls[id(fut)] = self.calls.get(id(fut), 0) + 1

    def unfinished(self, name: str) -> int:
        """Requests of NAME whose futures are not done: at least its queue's length (a
        request leaves its queue before its future completes)."""
        return sum(1 for r in self.futures if r[0] == name and not r[2].done())

    def refused(self, name: str, exc: BaseException, unfinished: int) -> None:
        """Checks an error raised by submit/run before the request was queued;
        UNFINISHED: unfinished() just before the call (futures only ever become done,
        so counting after the refusal could miss a request that left the queue since)."""
        if isinstance(exc, ortn.SchedulerClosedError):
            if not self.closed:
                raise Finding(f"SchedulerClosedError before close: {exc}")
            self.count(name, "rejected")
        elif isinstance(exc, ortn.QueueFullError):
            if name not in self.models:
                raise Finding(f"QueueFullError for an unknown model: {exc}")
            if unfinished < self.models[name]["queue"]:
                raise Finding(
                    f"QueueFullError with {unfinished} unfinished requests, queue of "
                    f"{self.models[name]['queue']}: {exc}"
                )
            self.count(name, "rejected")
        elif not isinstance(exc, ALLOWED):
            raise Finding(f"submit raised {type(exc).__name__}: {exc}") from exc

    def expect(self, name: str, feeds: Any) -> tuple[str, Any]:
        """What a direct Session.run of FEEDS gives (unknown model: nothing to compare)."""
        if name not in self.models:
            return ("error", None)
        return outcome(lambda: direct(self.backend, self.models[name]["kind"]).run(feeds))

    def check_ending(
        self, name: str, feeds: Any, status: str, value: Any, timed: bool, cancelled: bool
    ) -> None:
        """STATUS is ok/cancelled/error (VALUE: the result or the exception)."""
        if status == "cancelled":
            if not cancelled:
                raise Finding("a future ended cancelled, but cancel() never succeeded on it")
            self.count(name, "cancelled")
            return
        if cancelled:
            raise Finding(f"cancel() returned True but the future ended {status}: {value!r}")
        want = self.expect(name, feeds)
        if status == "ok":
            if want[0] != "ok":
                raise Finding(f"request succeeded where Session.run fails: {want[1]}")
            got = value
            if not isinstance(got, dict) or got.keys() != want[1].keys():
                raise Finding(f"result keys {list(got)} != {list(want[1])}")
            for k, ref in want[1].items():
                arr = got[k]
                if arr.shape != ref.shape or arr.dtype != ref.dtype:
                    raise Finding(f"output {k}: {arr.dtype}{arr.shape} != {ref.dtype}{ref.shape}")
                if not np.allclose(arr, ref, rtol=1e-4, atol=1e-5):
                    raise Finding(f"output {k}: wrong values\n{arr}\n!= {ref}")
            self.count(name, "completed")
            return
        exc = value
        if isinstance(exc, ortn.RequestTimeoutError):
            if not timed:
                raise Finding(f"a request without a timeout timed out: {exc}")
            self.count(name, "timed_out")
        elif isinstance(exc, ortn.SchedulerClosedError):
            if not self.closed_no_drain:
                raise Finding(f"SchedulerClosedError without close(drain=False): {exc}")
            self.count(name, "closed")
        elif isinstance(exc, ortn.Error):
            if want[0] == "ok":
                raise Finding(
                    f"a good request failed (a bad neighbour?): {type(exc).__name__}: {exc}"
                )
            if type(exc).__name__ != want[1][0]:
                raise Finding(f"request failed with {exc!r}, Session.run with {want[1]}")
            self.count(name, "failed")
        else:
            raise Finding(f"a future ended with {type(exc).__name__}: {exc}") from exc

    # -- operations ------------------------------------------------------------------
    def add_model(self) -> None:
        fdp = self.fdp
        name = _pick(fdp, NAMES) if fdp.ConsumeIntInRange(0, 15) else ""
        kind = _pick(fdp, KINDS)
        kw: dict[str, Any] = {
            "max_batch_size": _draw(fdp, BATCH_SIZES),
            "max_queue_size": _draw(fdp, QUEUE_SIZES),
            "replicas": _draw(fdp, REPLICAS),
            "max_queue_delay_us": _draw(fdp, DELAYS),
            "timeout_ms": _draw(fdp, MODEL_TIMEOUTS),
            "warmup": fdp.ConsumeIntInRange(0, 7) == 0,
        }
        if fdp.ConsumeIntInRange(0, 7) == 0:
            kw["preferred_batch_sizes"] = [fdp.ConsumeIntInRange(0, 5)]
        status, _ = outcome(lambda: self.sched.add_model(name, BYTES[kind], **kw))
        if status == "ok":
            if name in self.models:
                raise Finding(f"add_model accepted a second model named {name!r}")
            self.models[name] = {
                "kind": kind,
                "queue": kw["max_queue_size"],
                "timeout": kw["timeout_ms"] is not None,
            }
            self.seen[name] = {}
            self.check_stats(name)

    def _target(self) -> tuple[str, Any]:
        fdp = self.fdp
        name = _pick(fdp, [*self.models, "nope"]) if fdp.ConsumeIntInRange(0, 15) else "nope"
        kind = self.models[name]["kind"] if name in self.models else "add"
        if fdp.ConsumeIntInRange(0, 5) == 0:
            kind = _pick(fdp, KINDS)  # another model's feeds
        return name, _feeds(fdp, kind)

    def submit(self) -> None:
        fdp = self.fdp
        name, feeds = self._target()
        priority = _draw(fdp, PRIORITIES)
        timeout = _draw(fdp, TIMEOUTS)
        unfinished = self.unfinished(name)
        try:
            fut = self.sched.submit(name, feeds, priority=priority, timeout_ms=timeout)
        except Exception as exc:  # noqa: BLE001 - checked
            self.refused(name, exc, unfinished)
            return
        if not isinstance(fut, concurrent.futures.Future):
            raise Finding(f"submit returned {fut!r}")
        timed = timeout is not None or self.models[name]["timeout"]
        fut.add_done_callback(self.on_done)
        self.futures.append([name, feeds, fut, timed, False])
        self.count(name, "submitted")

    def run(self) -> None:
        fdp = self.fdp
        name, feeds = self._target()
        timeout = _pick(fdp, [None, None, 0.05, 5.0, 0])
        before = self.sched.stats(name)["submitted"] if name in self.models else 0
        unfinished = self.unfinished(name)
        try:
            got = self.sched.run(name, feeds, timeout_ms=timeout)
        except Exception as exc:  # noqa: BLE001 - checked
            after = self.sched.stats(name)["submitted"] if name in self.models else 0
            if after == before:
                self.refused(name, exc, unfinished)
                return
            self.count(name, "submitted")
            timed = timeout is not None or self.models[name]["timeout"]
            self.check_ending(name, feeds, "error", exc, timed, False)
            return
        self.count(name, "submitted")
        self.check_ending(name, feeds, "ok", got, False, False)

    def cancel(self) -> None:
        if not self.futures:
            return
        req = self.futures[self.fdp.ConsumeIntInRange(0, len(self.futures) - 1)]
        was_done = req[2].done()
        if req[2].cancel():
            if was_done and not req[2].cancelled():
                raise Finding("cancel() returned True on a future that had ended")
            req[4] = True

    def stats(self) -> None:
        name = _pick(self.fdp, [*self.models, "nope"])
        if name in self.models:
            self.check_stats(name)
        else:
            status, _ = outcome(lambda: self.sched.stats(name))
            if status == "ok":
                raise Finding(f"stats of an unknown model {name!r} succeeded")

    def close(self, drain: bool) -> None:
        self.sched.close(drain=drain)
        self.closed = True
        self.closed_no_drain = self.closed_no_drain or not drain
        if not self.sched.closed:
            raise Finding("closed is False after close()")

    def step(self) -> None:
        fdp = self.fdp
        op = fdp.ConsumeIntInRange(0, 15)
        if op <= 1:
            self.add_model()
        elif op <= 8:
            self.submit()
        elif op == 9:
            self.run()
        elif op == 10:
            self.cancel()
        elif op == 11:
            self.stats()
        elif op == 12:
            time.sleep(fdp.ConsumeIntInRange(0, 2000) / 1e6)
        elif op == 13:
            self.sched.metrics_text()
        elif op == 14 and fdp.ConsumeIntInRange(0, 3) == 0:
            self.close(fdp.ConsumeBool())

    def finish(self) -> None:
        self.close(self.fdp.ConsumeBool())
        futs = [r[2] for r in self.futures]
        _, pending = concurrent.futures.wait(futs, timeout=WAIT_S)
        if pending:
            raise Finding(f"{len(pending)} of {len(futs)} futures not done {WAIT_S} s after close")
        # close() joined the threads: every callback has run by now.
        for name, feeds, fut, timed, cancelled in self.futures:
            calls = self.calls.get(id(fut), 0)
            if calls != 1:
                raise Finding(f"a future's done-callbacks ran {calls} times")
            if fut.cancelled():
                self.check_ending(name, feeds, "cancelled", None, timed, cancelled)
            elif fut.exception(0) is None:
                self.check_ending(name, feeds, "ok", fut.result(0), timed, cancelled)
            else:
                self.check_ending(name, feeds, "error", fut.exception(0), timed, cancelled)
        for name, seen in self.seen.items():
            st = self.check_stats(name)
            if st["queued"] or st["running"]:
                raise Finding(f"requests of {name!r} left after close: {st}")
            for key in ("submitted", "rejected", *ENDED):
                if st[key] != seen.get(key, 0):
                    raise Finding(
                        f"stats of {name!r}: {key}={st[key]}, but the harness counted "
                        f"{seen.get(key, 0)}\nstats: {st}\nseen: {seen}"
                    )


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    prog = Program(fdp)
    try:
        prog.add_model()  # most programs need a model: start with one
        for _ in range(fdp.ConsumeIntInRange(1, 24)):
            if fdp.remaining_bytes() == 0:
                break
            prog.step()
        prog.finish()
    finally:
        prog.sched.close(drain=False)


def _seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {
        f"bytes-{i}": rng.integers(0, 256, 48 + 24 * i, dtype=np.uint8).tobytes() for i in range(16)
    }


if __name__ == "__main__":
    main(test_one_input, _seeds())
