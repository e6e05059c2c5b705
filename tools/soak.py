"""Soak: a mixed load for a fixed time; resident memory, threads and file descriptors
must stay flat once warmed up.

  python tools/soak.py [--seconds 600] [--warmup-fraction 0.25] [--backend native]

Workers, all at once, for the whole run:
- churn: sessions created from bytes, run a few times, closed, dropped (also a model
  that fails to load, now and then);
- runners: threads running shared sessions with varying batch sizes, out= arrays,
  string models, and bad feeds that must raise;
- preprocess: image preprocessing and a preprocessing pipeline;
- scheduler: batched scheduler traffic with bad neighbours, timeouts, cancellations and
  queue-full refusals, the scheduler closed (with or without drain) and made anew
  every few seconds;
- more workers join as features land: see WORKERS.

Resident memory (RSS), thread count and open file descriptors are sampled every
second. The baseline is the median of the samples in the last 10% of the warm-up; the
end is the median of the last 10% of the run. Pass: RSS grew less than 1% (and less
than --rss-slack-mb, for tiny baselines), threads and fds equal. Prints one JSON line
with the figures; exit status 1 on failure. CI runs a short version.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import ortnative as ortn
from ortnative import models


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n


def churn(stop: threading.Event, backend: str, c: Counters, rng: random.Random) -> None:
    mlp = models.mlp((64, 64, 10))
    x = np.ones((2, 64), np.float32)
    while not stop.is_set():
        if rng.random() < 0.1:
            try:
                ortn.Session(
                    mlp[: rng.randrange(10, len(mlp))], backend=backend, intra_op_threads=1
                )
            except ortn.ModelLoadError:
                c.add("churn_load_errors")
            continue
        # One intra-op thread: a session of its own pools would start and stop threads
        # with every churn, which is not what the thread count should measure.
        with ortn.Session(mlp, backend=backend, intra_op_threads=1) as s:
            for _ in range(3):
                s.run({"x": x})
        c.add("churn_sessions")


def runner(
    stop: threading.Event,
    backend: str,
    c: Counters,
    rng: random.Random,
    shared: dict[str, ortn.Session],
) -> None:
    mlp, strs, add = shared["mlp"], shared["str"], shared["add"]
    while not stop.is_set():
        pick = rng.random()
        if pick < 0.5:
            n = rng.randrange(1, 33)
            x = np.full((n, 256), 0.5, np.float32)
            if rng.random() < 0.3:
                out = np.empty((n, 10), np.float32)
                assert mlp.run({"x": x}, out={"y": out})["y"] is out
            else:
                assert mlp.run({"x": x})["y"].shape == (n, 10)
            c.add("runs")
        elif pick < 0.7:
            words = np.array([f"w{rng.randrange(1000)}" for _ in range(rng.randrange(1, 20))])
            assert strs.run({"x": words})["y"].tolist() == words.tolist()
            c.add("string_runs")
        elif pick < 0.9:
            assert add.run({"x": np.ones((1, 4), np.float32)})["y"][0, 0] == 2.0
            c.add("runs")
        else:
            try:
                mlp.run({"x": np.ones((1, 256), np.float64)})
            except ortn.InvalidTypeError:
                c.add("bad_feeds_refused")


def preprocess(stop: threading.Event, backend: str, c: Counters, rng: random.Random) -> None:
    pre = ortn.ImagePreprocessor(
        size=(64, 64), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), backend=backend
    )
    box = ortn.ImagePreprocessor(size=(96, 96), fit="letterbox", backend=backend)
    session = ortn.Session(models.small_cnn(classes=10, size=64), backend=backend)
    pipe = ortn.Pipeline(pre, session)
    frames = [
        np.full((rng.randrange(40, 300), rng.randrange(40, 300), 3), i, np.uint8) for i in range(8)
    ]
    out = pre.empty(4)
    while not stop.is_set():
        pick = rng.random()
        frame = frames[rng.randrange(len(frames))]
        if pick < 0.4:
            assert pre(frame).shape == (1, 3, 64, 64)
        elif pick < 0.6:
            assert pre([frames[i] for i in range(4)], out=out) is out
        elif pick < 0.8:
            assert box(frame[rng.randrange(10) :, rng.randrange(10) :]).shape == (1, 3, 96, 96)
        else:
            assert pipe(frame)[session.outputs[0].name].shape == (1, 10)
        c.add("preprocessed")


def _scheduler_ending(
    c: Counters, kind: str, fut: Any, cancel: bool, closed_without_drain: bool
) -> None:
    """Checks and counts how one scheduler request ended."""
    if fut.cancelled():
        assert cancel, "cancelled without cancel()"
        c.add("sched_cancelled")
        return
    exc = fut.exception(0)
    if exc is None:
        assert kind == "good", "a bad request succeeded"
        c.add("sched_ok")
    elif isinstance(exc, ortn.RequestTimeoutError):
        c.add("sched_timed_out")
    elif isinstance(exc, ortn.SchedulerClosedError):
        assert closed_without_drain, "closed, but not by a close without drain"
        c.add("sched_closed")
    else:
        assert kind == "bad", f"a good request failed: {exc!r}"
        c.add("sched_failed_bad_input")


def scheduler(stop: threading.Event, backend: str, c: Counters, rng: random.Random) -> None:
    """Scheduler traffic: batched requests to an MLP and a Gather, some with indices out
    of range (their batch fails and is retried request by request), short timeouts,
    cancellations, priorities and queue-full refusals; every 2-5 s the scheduler is
    closed, with or without drain, and a new one made. Every request must end exactly
    once, as it should: a good one never fails. (Requests are checked as they end, so
    that what this worker holds does not grow with its traffic.)"""
    import collections
    import concurrent.futures

    mlp, gather = models.mlp((64, 64, 10)), models.gather(10)
    xs = [np.full((1 + k % 3, 64), k / 8, np.float32) for k in range(8)]
    good_idx = [np.array([k - 5, k][: 1 + k % 2], np.int64) for k in range(8)]
    bad_idx = np.array([3, 10], np.int64)
    while not stop.is_set():
        sched = ortn.Scheduler(threads=2, backend=backend)
        sched.add_model(
            "mlp", mlp, max_batch_size=8, max_queue_delay_us=500, max_queue_size=32, timeout_ms=50
        )
        sched.add_model(
            "gather", gather, max_batch_size=8, max_queue_delay_us=200, max_queue_size=32
        )
        sent: collections.deque[tuple[str, Any, bool]] = collections.deque()
        until = time.monotonic() + rng.uniform(2, 5)
        while not stop.is_set() and time.monotonic() < until:
            pick = rng.random()
            if pick < 0.5:
                kind, model, feeds = "good", "mlp", {"x": xs[rng.randrange(8)]}
            elif pick < 0.95:
                kind, model, feeds = "good", "gather", {"idx": good_idx[rng.randrange(8)]}
            else:
                kind, model, feeds = "bad", "gather", {"idx": bad_idx}
            timeout = 0.05 if rng.random() < 0.05 else None
            try:
                fut = sched.submit(model, feeds, priority=rng.randrange(2), timeout_ms=timeout)
            except ortn.QueueFullError:
                c.add("sched_queue_full")
                time.sleep(0.0005)
                continue
            cancel = rng.random() < 0.03
            if cancel:
                fut.cancel()
            sent.append((kind, fut, cancel))
            while sent and sent[0][1].done():
                _scheduler_ending(c, *sent.popleft(), closed_without_drain=False)
        drain = rng.random() < 0.5
        sched.close(drain=drain)
        done, _ = concurrent.futures.wait([f for _, f, _ in sent], timeout=60)
        assert len(done) == len(sent), "scheduler requests not done after close"
        for kind, fut, cancel in sent:
            _scheduler_ending(c, kind, fut, cancel, closed_without_drain=not drain)
        c.add("sched_schedulers")


#: name -> (how many threads, the worker). Later features add theirs here.
WORKERS: dict[str, tuple[int, Callable[..., None]]] = {
    "churn": (1, churn),
    "runner": (4, runner),
    "preprocess": (2, preprocess),
    "scheduler": (1, scheduler),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--warmup-fraction", type=float, default=0.25)
    p.add_argument("--backend", default=None, choices=["native", "python"])
    p.add_argument("--only", nargs="*", help="run only these workers (default: all)")
    p.add_argument(
        "--trace",
        type=float,
        default=0,
        help="print RSS/threads/fds every this many seconds to stderr",
    )
    p.add_argument(
        "--rss-slack-mb",
        type=float,
        default=2.0,
        help="growth always tolerated, for small baselines (default 2 MB)",
    )
    args = p.parse_args()
    backend = ortn._backend.resolve(args.backend)
    shared = {
        "mlp": ortn.Session(models.mlp(), backend=backend),
        "str": ortn.Session(models.identity("str"), backend=backend),
        "add": ortn.Session(models.add_one((1, 4)), backend=backend),
    }
    stop = threading.Event()
    counters = Counters()
    errors: list[BaseException] = []
    threads = []
    seed = 0

    def guard(fn: Callable[..., None], *a: Any) -> None:
        try:
            fn(*a)
        except BaseException as exc:  # noqa: BLE001 - any escape is a soak failure
            errors.append(exc)
            stop.set()

    for name, (n, fn) in WORKERS.items():
        if args.only and name not in args.only:
            continue
        for _ in range(n):
            seed += 1
            extra = (shared,) if name == "runner" else ()
            t = threading.Thread(
                target=guard,
                args=(fn, stop, backend, counters, random.Random(seed), *extra),
                name=f"soak-{name}",
                daemon=True,
            )
            threads.append(t)
            t.start()
    samples: list[tuple[float, int, int, int]] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.seconds and not stop.is_set():
        time.sleep(1.0)
        samples.append((time.monotonic() - t0, _rss_bytes(), _threads(), _fds()))
        if args.trace and len(samples) % int(args.trace) == 0:
            t, rss, th, fd = samples[-1]
            print(f"  {t:6.0f}s rss {rss / 2**20:8.2f} MB threads {th} fds {fd}", file=sys.stderr)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    if errors:
        print(f"soak: a worker failed: {type(errors[0]).__name__}: {errors[0]}", file=sys.stderr)
        return 1

    warm_end = args.seconds * args.warmup_fraction
    base = [s for s in samples if warm_end * 0.9 <= s[0] <= warm_end] or samples[:1]
    tail = [s for s in samples if s[0] >= args.seconds * 0.9] or samples[-1:]

    def med(rows: list[tuple[float, int, int, int]], i: int) -> float:
        return float(np.median([r[i] for r in rows]))

    rss0, rss1 = med(base, 1), med(tail, 1)
    growth = (rss1 - rss0) / rss0
    report = {
        "seconds": round(samples[-1][0], 1),
        "backend": backend,
        "rss_mb_start": round(rss0 / 2**20, 2),
        "rss_mb_end": round(rss1 / 2**20, 2),
        "rss_growth_pct": round(100 * growth, 3),
        "threads_start": int(med(base, 2)),
        "threads_end": int(med(tail, 2)),
        "fds_start": int(med(base, 3)),
        "fds_end": int(med(tail, 3)),
        "work": counters.counts,
    }
    ok = (growth < 0.01 or rss1 - rss0 < args.rss_slack_mb * 2**20) and (
        report["threads_start"] == report["threads_end"]
        and report["fds_start"] == report["fds_end"]
    )
    report["pass"] = ok
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
