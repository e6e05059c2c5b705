"""Many concurrent callers: ortnative.Scheduler against the plain onnxruntime way.

Cases: an MLP 256-256-256-10 with a free batch dimension (batch-1 requests of
float32 [1, 256]) and the small CNN (requests of float32 [1, 3, 224, 224]), each with 1,
16 and 64 concurrent clients.

Clients run a closed loop for a fixed time: send one batch-1 request, wait for its
result, send the next. Variants:

- ``onnxruntime, threads, shared session, ...`` (the naive baseline): each client thread
  calls ``InferenceSession.run`` on one shared session, measured in both of the
  configurations a user would try: onnxruntime's ``default threads`` (its intra-op
  pool, shared by all the callers) and ``intra_op=1 inter_op=1`` (each call computes
  on its caller's thread). ``naive (best)`` repeats the one with the higher
  throughput in that case: every thread-client ratio is against it.
- ``onnxruntime, asyncio run_in_executor, shared session, ...`` (the naive asyncio
  baseline): the clients are coroutines on one event loop, each ``await
  loop.run_in_executor(None, sess.run, None, feeds)`` (the loop's default executor),
  in the same two session configurations; ``naive asyncio (best)`` repeats the better
  one, and the asyncio scheduler row's ratio is against it.
- ``Scheduler, batching``: client threads call ``sched.run(name, feeds)``; the model has
  ``max_batch_size`` > 1 and a short ``max_queue_delay_us`` (see CONFIG).
- ``Scheduler, max_batch_size=1``: the same scheduler setup without batching.
- ``Scheduler, batching, submit().result()``: the futures API from client threads.
- ``Scheduler, batching, asyncio``: the clients are coroutines on one event loop thread
  (``await sched.infer(...)``), as many as the asyncio baseline's, the scheduler the
  batching one.
- with 1 client, ``ortnative Session.run (direct)``: no scheduler, for the light-load
  target (the scheduler's median within 10% + max_queue_delay_us of it).
- per case, ``ceiling: batch 64, one thread`` (reference): one thread running batch 64 on
  plain onnxruntime; its throughput is rows/s.
- with 64 clients, ``C++ clients: ...`` (bench/cpp/sched_floor.cpp): the same closed loop
  from C++ threads, with no Python in the process, calling ``Session::run`` on one shared
  session (intra-op threads as the scheduler's) or ``Scheduler::run`` with the batching
  setup: what the core sustains when the clients cost nothing. They run in a separate
  process after the Python rows of the case.

What is fair: every row allocates its outputs per request, and the table says what
each computes on. The baselines are taken at their best configuration of the two
measured in the same run, and each client kind is compared with its own kind:
thread clients with ``naive (best)``, coroutines with ``naive asyncio (best)``. (Taking
the better of two noisy measurements flatters the baseline a little, never ortnative.)

Method (deviations from bench/common.py, which is about single calls): check first (each
variant's outputs for a sample input equal plain onnxruntime's, rtol 1e-5); warm-up (every
variant runs a short while before the first round); ROUNDS rounds, in each every variant
runs for SECONDS in turn (interleaved, so that machine noise falls on all alike), with a
pause between variants (onnxruntime's pool threads spin for a while after their work).
Throughput: requests completed / elapsed time, the median over rounds. Latency: each
request timed alone on its client (``time.perf_counter_ns`` around the call or the
await), pooled over rounds: median and p99, p25-p75 as the spread. Rows per batch: the
scheduler's own counters over the timed runs. Stop rule: a fixed time per variant.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import numpy as np
import ortnative as ortn
from common import (
    Row,
    Stats,
    fmt_us,
    header_lines,
    machine,
    plot_ratios,
    result_path,
    row_dict,
    run_json,
    write_json,
)
from ortnative import models
from session import build_floor

NAIVE_DEFAULT = "onnxruntime, threads, shared session, default threads"
NAIVE_ONE = "onnxruntime, threads, shared session, intra_op=1 inter_op=1"
NAIVE = "naive (best)"
AIO_DEFAULT = "onnxruntime, asyncio run_in_executor, shared session, default threads"
AIO_ONE = "onnxruntime, asyncio run_in_executor, shared session, intra_op=1 inter_op=1"
AIO_NAIVE = "naive asyncio (best)"
BATCHING = "Scheduler, batching"
UNBATCHED = "Scheduler, max_batch_size=1"
FUTURES = "Scheduler, batching, submit().result()"
WAIT = "Scheduler, batching, submit() + concurrent.futures.wait()"
AS_COMPLETED = "Scheduler, batching, 4 x submit() + as_completed()"
ASYNCIO = "Scheduler, batching, asyncio"
# Thread-client styles of the scheduler, each held to 2x naive (best) at 64 clients.
THREAD_STYLES = (BATCHING, FUTURES, WAIT, AS_COMPLETED)
DIRECT = "ortnative Session.run (direct)"
CEILING = "ceiling: batch 64, one thread"
CPP_SESSION = "C++ clients: Session::run, shared session"
CPP_SCHED = "C++ clients: Scheduler::run, batching"
# The rows each "best" row picks from, and the rows whose ratio is against it.
BEST = {NAIVE: (NAIVE_DEFAULT, NAIVE_ONE), AIO_NAIVE: (AIO_DEFAULT, AIO_ONE)}
ASYNC_ROWS = (AIO_DEFAULT, AIO_ONE, AIO_NAIVE, ASYNCIO)
# The default executor's size (concurrent.futures.ThreadPoolExecutor's default).
EXECUTOR_THREADS = min(32, (os.cpu_count() or 1) + 4)
OUTPUT = "new arrays per request"

# Per model: how the scheduler is set up (both scheduler variants share the rest), and
# the time per variant and round. Each model session computes on its worker's thread
# (intra_op_threads=1): concurrency comes from replicas and batching, not from ORT's
# intra-op pool, whose spinning threads would compete with the clients for the cores.
CONFIG: dict[str, dict[str, Any]] = {
    "MLP": {
        "build": lambda: models.mlp(),
        "input": ("x", (1, 256)),
        "scheduler": {"replicas": 1, "intra_op_threads": 1},
        "batching": {"max_batch_size": 64, "max_queue_delay_us": 200},
        "seconds": 1.5,
    },
    "CNN": {
        "build": lambda: models.small_cnn(),
        "input": ("image", (1, 3, 224, 224)),
        "scheduler": {"replicas": 2, "intra_op_threads": 1},
        "batching": {"max_batch_size": 8, "max_queue_delay_us": 2000},
        "seconds": 3.0,
    },
}
CLIENTS = (1, 16, 64)
ROUNDS = 2
SETTLE = 0.2  # seconds between variants


def threads_loop(n: int, call: Callable[[], Any], seconds: float) -> tuple[int, float, np.ndarray]:
    """N threads, each calling CALL in a loop for SECONDS: (requests, elapsed, latencies ns)."""
    barrier = threading.Barrier(n + 1)
    lats: list[list[int]] = [[] for _ in range(n)]
    stop = [0.0]
    clock = time.perf_counter_ns

    def body(i: int) -> None:
        mine = lats[i]
        barrier.wait()
        end = stop[0]
        while True:
            t0 = clock()
            if t0 >= end:
                break
            call()
            mine.append(clock() - t0)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    start = clock()
    stop[0] = start + seconds * 1e9
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = (clock() - start) / 1e9
    samples = np.concatenate([np.asarray(v, np.int64) for v in lats])
    return int(samples.size), elapsed, samples


def asyncio_loop(
    n: int, call: Callable[[asyncio.AbstractEventLoop], Awaitable[Any]], seconds: float
) -> tuple[int, float, np.ndarray]:
    """N coroutines on one event loop, each awaiting CALL(loop) in a loop."""
    lats: list[int] = []
    clock = time.perf_counter_ns

    async def client(end: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t0 = clock()
            if t0 >= end:
                break
            await call(loop)
            lats.append(clock() - t0)

    async def main() -> float:
        start = clock()
        await asyncio.gather(*(client(start + int(seconds * 1e9)) for _ in range(n)))
        return (clock() - start) / 1e9

    elapsed = asyncio.run(main())
    return len(lats), elapsed, np.asarray(lats, np.int64)


class Variant:
    def __init__(
        self,
        name: str,
        run: Callable[[float], tuple[int, float, np.ndarray]],
        threads: str,
        clients: str,
        sched: ortn.Scheduler | None = None,
        per_call: int = 1,
    ):
        self.name = name
        self.run = run
        self.per_call = per_call  # requests one timed call makes
        self.threads = threads
        self.clients = clients
        self.sched = sched
        self.rps: list[float] = []
        self.samples: list[np.ndarray] = []
        self.rows = 0
        self.batches = 0


def pick_best(rows: list[Row]) -> list[Row]:
    """One case's ROWS with each BEST row after its candidates: a copy of the one with the
    higher median throughput, its note naming which."""
    by = {r.variant: r for r in rows}
    out = []
    for r in rows:
        out.append(r)
        for best, candidates in BEST.items():
            if r.variant != candidates[-1]:
                continue
            top = max((by[c] for c in candidates), key=lambda x: x.extra["throughput_rps"])
            out.append(
                Row(
                    r.case,
                    best,
                    top.stats,
                    note=f"= {top.variant}",
                    extra={**top.extra, "best_of": top.variant},
                    threads=top.threads,
                    output=top.output,
                )
            )
    return out


def bench_case(case: str, n_clients: int, scale: float, rounds: int) -> list[Row]:
    import onnxruntime as ort

    cfg = CONFIG[case]
    model = cfg["build"]()
    in_name, shape = cfg["input"]
    feeds = {in_name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    seconds = cfg["seconds"] * scale
    so = ort.SessionOptions()
    so.log_severity_level = 3
    plain = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    so1 = ort.SessionOptions()
    so1.log_severity_level = 3
    so1.intra_op_num_threads = 1
    so1.inter_op_num_threads = 1
    plain1 = ort.InferenceSession(model, so1, providers=["CPUExecutionProvider"])
    want = plain.run(None, feeds)[0]

    batching = ortn.Scheduler(backend="native")
    batching.add_model("m", model, warmup=True, **cfg["scheduler"], **cfg["batching"])
    unbatched = ortn.Scheduler(backend="native")
    unbatched.add_model("m", model, warmup=True, **cfg["scheduler"])
    direct = ortn.Session(model, intra_op_threads=1, backend="native")

    def check(label: str, got: np.ndarray) -> None:
        if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"{case}: {label} disagrees with onnxruntime; not timing it")

    async def in_executor(sess: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, sess.run, None, feeds)

    out = plain.get_outputs()[0].name
    check(NAIVE_ONE, plain1.run(None, feeds)[0])
    check(AIO_DEFAULT, asyncio.run(in_executor(plain))[0])
    check(AIO_ONE, asyncio.run(in_executor(plain1))[0])
    check(BATCHING, batching.run("m", feeds)[out])
    check(UNBATCHED, unbatched.run("m", feeds)[out])
    check(FUTURES, batching.submit("m", feeds).result()[out])
    check(ASYNCIO, asyncio.run(batching.infer("m", feeds))[out])
    check(DIRECT, direct.run(feeds)[out])

    n = n_clients
    sc = cfg["scheduler"]
    on_sched = f"scheduler: {sc['replicas']} replica(s) x {sc['intra_op_threads']} intra-op"
    ort_pool = "ORT's default intra-op pool, shared"
    own = "each client's own thread (intra-op 1)"
    ex = f"default executor ({EXECUTOR_THREADS} threads)"
    threads_c, coros = f"{n} thread{'s' if n > 1 else ''}", f"{n} coroutine{'s' if n > 1 else ''}"
    variants = [
        Variant(
            NAIVE_DEFAULT,
            lambda s: threads_loop(n, lambda: plain.run(None, feeds), s),
            ort_pool,
            threads_c,
        ),
        Variant(
            NAIVE_ONE, lambda s: threads_loop(n, lambda: plain1.run(None, feeds), s), own, threads_c
        ),
        Variant(
            BATCHING,
            lambda s: threads_loop(n, lambda: batching.run("m", feeds), s),
            on_sched,
            threads_c,
            batching,
        ),
        Variant(
            UNBATCHED,
            lambda s: threads_loop(n, lambda: unbatched.run("m", feeds), s),
            on_sched,
            threads_c,
            unbatched,
        ),
        Variant(
            FUTURES,
            lambda s: threads_loop(n, lambda: batching.submit("m", feeds).result(), s),
            on_sched,
            threads_c,
            batching,
        ),
        Variant(
            WAIT,
            lambda s: threads_loop(n, lambda: waited(batching.submit("m", feeds)), s),
            on_sched,
            threads_c,
            batching,
        ),
        Variant(
            AS_COMPLETED,
            lambda s: threads_loop(
                n,
                lambda: [
                    f.result()
                    for f in concurrent.futures.as_completed(
                        [batching.submit("m", feeds) for _ in range(4)]
                    )
                ],
                s,
            ),
            on_sched,
            f"{threads_c}, 4 requests in flight each",
            batching,
            per_call=4,
        ),
        Variant(
            AIO_DEFAULT,
            lambda s: asyncio_loop(
                n, lambda loop: loop.run_in_executor(None, plain.run, None, feeds), s
            ),
            f"{ex} -> {ort_pool}",
            coros,
        ),
        Variant(
            AIO_ONE,
            lambda s: asyncio_loop(
                n, lambda loop: loop.run_in_executor(None, plain1.run, None, feeds), s
            ),
            f"{ex}, intra-op 1 each",
            coros,
        ),
        Variant(
            ASYNCIO,
            lambda s: asyncio_loop(n, lambda loop: batching.infer("m", feeds), s),
            on_sched,
            coros,
            batching,
        ),
    ]
    if n_clients == 1:
        variants.append(
            Variant(
                DIRECT,
                lambda s: threads_loop(1, lambda: direct.run(feeds), s),
                "the client's thread (intra-op 1)",
                threads_c,
            )
        )
    for v in variants:  # warm-up
        v.run(min(0.3, seconds / 4))
        time.sleep(SETTLE)
    for r in range(rounds):
        for v in variants:
            before = v.sched.stats("m") if v.sched else None
            count, elapsed, samples = v.run(seconds)
            count *= v.per_call
            if v.sched and before:
                after = v.sched.stats("m")
                v.rows += after["rows"] - before["rows"]
                v.batches += after["batches"] - before["batches"]
            v.rps.append(count / elapsed)
            v.samples.append(samples)
            time.sleep(SETTLE)  # onnxruntime's pool threads spin for a while after work
        print(f"  {case}, {n_clients} clients: round {r + 1}/{rounds}", file=sys.stderr)
    batching.close()
    unbatched.close()
    direct.close()

    rows = []
    label = f"{case}, {n_clients} client{'s' if n_clients > 1 else ''}"
    for v in variants:
        stats = Stats.of(np.concatenate(v.samples))
        extra: dict[str, Any] = {
            "throughput_rps": statistics.median(v.rps),
            "rounds_rps": v.rps,
            "requests": int(stats.n),
            "clients": v.clients,
        }
        if v.batches:
            extra["rows_per_batch"] = v.rows / v.batches
        rows.append(Row(label, v.name, stats, extra=extra, threads=v.threads, output=OUTPUT))
    return pick_best(rows)


def waited(fut: Any) -> Any:
    """concurrent.futures.wait() on one future, then its result."""
    concurrent.futures.wait([fut])
    return fut.result()


def gil_handoff_us(rounds: int = 5, n: int = 5000) -> float:
    """What one hand-off between two Python threads takes here, in microseconds, when
    nothing else runs: two threads pass a token back and forth (threading.Event), so each
    pass wakes a blocked thread, which then takes the GIL. A lone thread client pays this
    latency about twice per request when its request runs on another thread (the worker
    is woken, then the client). Median of ROUNDS runs of N round trips (two hand-offs
    each)."""

    def ponger(a: threading.Event, b: threading.Event) -> None:
        for _ in range(n):
            a.wait()
            a.clear()
            b.set()

    results = []
    for _ in range(rounds):
        a, b = threading.Event(), threading.Event()
        t = threading.Thread(target=ponger, args=(a, b))
        t.start()
        t0 = time.perf_counter()
        for _ in range(n):
            a.set()
            b.wait()
            b.clear()
        results.append((time.perf_counter() - t0) / n / 2 * 1e6)
        t.join()
    return float(statistics.median(results))


def gil_handoff_rate(pairs: int = 32, seconds: float = 1.0, rounds: int = 3) -> float:
    """How many hand-offs per second the machine completes when many overlap: PAIRS pairs
    of Python threads, each pair passing one token back and forth through two
    queue.SimpleQueue (C code). A thread puts the token in its partner's queue and
    blocks on its own, which is empty, so every step is a thread woken from a blocking
    wait without the GIL that then takes the GIL back, as a thread client is when its
    result arrives. Here the waker is a Python thread and makes the wake-up call holding
    the GIL; the scheduler's workers wake clients without it, so thread clients of the
    scheduler can exceed this rate: it is the reference a pure-Python server (threads
    handing results to threads) would meet. Median of ROUNDS runs of SECONDS each."""
    import queue

    def step(mine: queue.SimpleQueue[bool], other: queue.SimpleQueue[bool], n: list[int]) -> None:
        while mine.get():
            n[0] += 1
            other.put(True)

    results = []
    for _ in range(rounds):
        qs: list[queue.SimpleQueue[bool]] = [queue.SimpleQueue() for _ in range(2 * pairs)]
        counts = [[0] for _ in qs]
        ts = [
            threading.Thread(target=step, args=(qs[i], qs[i ^ 1], counts[i]))
            for i in range(2 * pairs)
        ]
        for t in ts:
            t.start()
        for k in range(pairs):
            qs[2 * k].put(True)
        time.sleep(seconds / 4)  # every thread running
        c0, t0 = sum(n[0] for n in counts), time.perf_counter()
        time.sleep(seconds)
        c1, t1 = sum(n[0] for n in counts), time.perf_counter()
        for q in qs:  # a False ends each thread, whether its pair's token is in flight
            q.put(False)
        for t in ts:
            t.join()
        results.append((c1 - c0) / (t1 - t0))
    return float(statistics.median(results))


def python_cost_us(case: str = "MLP", n: int = 20_000, rounds: int = 3) -> dict[str, float]:
    """The Python each futures client style runs per request with the GIL held, in
    microseconds, measured on one thread with every outcome already there (nothing
    waits): submit() plus the style's call. The GIL runs one thread at a time, so no
    number of client threads completes more than 1e6 / cost requests per second in that
    style, whatever serves them. (Not for run(): its model runs inline on an idle
    scheduler, so its Python part can't be timed alone.) Median of ROUNDS."""
    cfg = CONFIG[case]
    in_name, shape = cfg["input"]
    feeds = {in_name: np.zeros(shape, np.float32)}
    sched = ortn.Scheduler(backend="native")
    sched.add_model("m", cfg["build"](), max_queue_size=n, **cfg["scheduler"], **cfg["batching"])

    styles: dict[str, Callable[[], float]] = {}

    def submit_only() -> float:
        t0 = time.perf_counter()
        futs = [sched.submit("m", feeds) for _ in range(n)]
        took = time.perf_counter() - t0
        concurrent.futures.wait(futs)
        return took / n

    def per_future(call: Callable[[Any], Any]) -> Callable[[], float]:
        def timed() -> float:
            futs = [sched.submit("m", feeds) for _ in range(n)]
            for f in futs:
                cast(Any, f)._native.wait(-1.0)  # done natively, Python state not settled
            t0 = time.perf_counter()
            for f in futs:
                call(f)
            return (time.perf_counter() - t0) / n

        return timed

    def in_fours() -> float:
        futs = [sched.submit("m", feeds) for _ in range(n)]
        for f in futs:
            cast(Any, f)._native.wait(-1.0)
        t0 = time.perf_counter()
        for i in range(0, n, 4):
            for f in concurrent.futures.as_completed(futs[i : i + 4]):
                f.result()
        return (time.perf_counter() - t0) / n

    styles["submit"] = submit_only
    styles[FUTURES] = per_future(lambda f: f.result())
    styles[WAIT] = per_future(waited)
    styles[AS_COMPLETED] = in_fours
    try:
        med = {k: statistics.median(fn() for _ in range(rounds)) for k, fn in styles.items()}
    finally:
        sched.close()
    base = med.pop("submit")
    return {k: (base + v) * 1e6 for k, v in med.items()}


def ceiling(case: str, scale: float) -> Row:
    """One thread running batch 64 on plain onnxruntime (default threads): rows/s."""
    import onnxruntime as ort

    cfg = CONFIG[case]
    in_name, shape = cfg["input"]
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(cfg["build"](), so, providers=["CPUExecutionProvider"])
    feeds = {in_name: np.random.default_rng(0).standard_normal((64, *shape[1:])).astype(np.float32)}
    for _ in range(3):
        sess.run(None, feeds)
    count, elapsed, samples = threads_loop(1, lambda: sess.run(None, feeds), cfg["seconds"] * scale)
    return Row(
        f"{case}, reference",
        CEILING,
        Stats.of(samples),
        note="latency of one batch of 64",
        extra={
            "throughput_rps": 64 * count / elapsed,
            "rows_per_batch": 64.0,
            "clients": "1 thread",
        },
        threads="ORT's default intra-op pool",
        output="new arrays per batch",
    )


def cpp_floor(case: str, floor: str, scale: float, tmp: str) -> list[Row]:
    """64 C++ client threads (bench/cpp/sched_floor.cpp), no Python in the process."""
    cfg = CONFIG[case]
    path = os.path.join(tmp, f"{case}.onnx")
    with open(path, "wb") as f:
        f.write(cfg["build"]())
    env = dict(os.environ)
    lib = ortn._ortlib.candidates()
    sc = cfg["scheduler"]
    rows = []
    for label, mode in ((CPP_SESSION, "session"), (CPP_SCHED, "scheduler")):
        cmd = [
            floor,
            path,
            "--mode",
            mode,
            "--clients",
            "64",
            "--seconds",
            str(cfg["seconds"] * scale),
            "--replicas",
            str(sc["replicas"]),
            "--intra",
            str(sc["intra_op_threads"]),
            "--max-batch",
            str(cfg["batching"]["max_batch_size"]),
            "--delay-us",
            str(cfg["batching"]["max_queue_delay_us"]),
        ]
        if lib:
            cmd += ["--ort-library", lib[0]]
        res = run_json(cmd, env=env)
        stats = Stats(
            n=res["n"],
            median_us=res["median_ns"] / 1e3,
            p99_us=res["p99_ns"] / 1e3,
            p25_us=res["p25_ns"] / 1e3,
            p75_us=res["p75_ns"] / 1e3,
            mean_us=res["mean_ns"] / 1e3,
        )
        extra: dict[str, Any] = {
            "throughput_rps": res["throughput_rps"],
            "requests": res["n"],
            "clients": "64 C++ threads",
        }
        if mode == "scheduler":
            extra["rows_per_batch"] = res["rows_per_batch"]
            threads = f"scheduler: {sc['replicas']} replica(s) x {sc['intra_op_threads']} intra-op"
            output = "new outputs per request"
        else:
            threads = f"each client's own thread (intra-op {sc['intra_op_threads']})"
            output = "ORT-allocated outputs per request"
        rows.append(
            Row(f"{case}, 64 clients", label, stats, extra=extra, threads=threads, output=output)
        )
        time.sleep(SETTLE)
    return rows


def baseline_of(row: Row) -> str | None:
    """Thread (and C++) clients against naive (best); coroutines against naive asyncio
    (best); the reference row against nothing."""
    if row.variant == CEILING:
        return None
    return AIO_NAIVE if row.variant in ASYNC_ROWS else NAIVE


def summarize(rows: list[Row]) -> list[str]:
    by = {(r.case, r.variant): r for r in rows}
    notes = []

    def rps(case: str, variant: str) -> float | None:
        r = by.get((case, variant))
        return r.extra["throughput_rps"] if r else None

    for case in CONFIG:
        for n in CLIENTS[1:]:
            many = f"{case}, {n} clients"
            naive, batch = by.get((many, NAIVE)), by.get((many, BATCHING))
            aio_naive, aio = by.get((many, AIO_NAIVE)), by.get((many, ASYNCIO))
            if not (naive and batch and naive.stats and batch.stats):
                continue
            line = (
                f"{many}: the naive baseline's best is {naive.extra['best_of']!r}; the batching "
                f"scheduler serves {batch.extra['throughput_rps'] / naive.extra['throughput_rps']:.2f}x "
                f"its requests/s (p99 {fmt_us(batch.stats.p99_us)} against "
                f"{fmt_us(naive.stats.p99_us)})"
            )
            if aio and aio_naive and aio.stats and aio_naive.stats:
                line += (
                    f"; asyncio clients: the scheduler serves "
                    f"{aio.extra['throughput_rps'] / aio_naive.extra['throughput_rps']:.2f}x the "
                    f"naive asyncio baseline's best ({aio_naive.extra['best_of']!r}; p99 "
                    f"{fmt_us(aio.stats.p99_us)} against {fmt_us(aio_naive.stats.p99_us)})"
                )
            top = rps(f"{case}, reference", CEILING)
            if top:
                best = max(batch.extra["throughput_rps"], aio.extra["throughput_rps"] if aio else 0)
                line += (
                    f"; the better scheduler row reaches {best / top:.0%} of the batch-64 ceiling"
                )
            notes.append(line + ".")
        one = f"{case}, 1 client"
        direct, batch1 = by.get((one, DIRECT)), by.get((one, BATCHING))
        if direct and batch1 and direct.stats and batch1.stats:
            delay = CONFIG[case]["batching"]["max_queue_delay_us"]
            d, b = direct.stats.median_us, batch1.stats.median_us
            verdict = "within" if b <= 1.1 * d + delay else "NOT within"
            notes.append(
                f"{case}, 1 client: the batching scheduler's median is {fmt_us(b)} against "
                f"{fmt_us(d)} for a direct Session.run ({b / d:.2f}x), {verdict} 10% + "
                f"max_queue_delay_us ({delay} us)."
            )
    return notes


def ceiling_notes(
    rows: list[Row], handoff_us: float, handoff_rate: float, py_cost: dict[str, float]
) -> list[str]:
    """How close each thread-client style comes to what the GIL allows."""
    costs = "; ".join(f"{k}: {v:.1f} us" for k, v in py_cost.items())
    notes = [
        (
            f"GIL hand-offs: one between two otherwise idle Python threads takes "
            f"{handoff_us:.1f} us here (gil_handoff_us(): a blocked thread woken, taking "
            f"the GIL), the latency a lone client pays about twice when its request runs "
            f"on another thread. With 32 pairs of Python threads passing a token each "
            f"(64 threads) the machine completes {handoff_rate:,.0f} hand-offs per second "
            "(gil_handoff_rate()): a thread client's request needs at least one, so that "
            "is what thread clients of a server whose workers are Python threads could "
            "reach at best; the scheduler's workers wake clients without the GIL, so its "
            "thread clients can exceed it."
        ),
        (
            "The Python each futures style runs per request with the GIL held (submit() "
            "and the style's call, on one thread, every outcome already there; "
            f"python_cost_us()): {costs}. The GIL runs one thread at a time, so 1e6 / that "
            "cost bounds the style's requests/s from any number of threads: "
            "concurrent.futures' own wait() and as_completed() machinery (waiter objects, "
            "a Condition and an Event per call, the future's condition) is most of it."
        ),
    ]
    by = {(r.case, r.variant): r for r in rows}
    for case in CONFIG:
        many = f"{case}, 64 clients"
        naive = by.get((many, NAIVE))
        if not naive:
            continue
        parts = []
        for style in (NAIVE, *THREAD_STYLES):
            r = by.get((many, style))
            if r and r.stats:
                rps = r.extra["throughput_rps"]
                part = f"{style}: {rps:,.0f} req/s"
                if style != NAIVE:
                    part += f", {rps / naive.extra['throughput_rps']:.2f}x naive"
                if style in py_cost and case == "MLP":
                    bound = 1e6 / py_cost[style]
                    part += f", {rps / bound:.0%} of its GIL bound ({bound:,.0f} req/s)"
                parts.append(part)
        notes.append(f"{many}: " + "; ".join(parts) + ".")
    return notes


def plot(rows: list[Row], quick: bool) -> Callable[[str], None]:
    """The PNG: requests/s against the naive baseline (best) of the same client kind."""
    by = {(r.case, r.variant): r for r in rows}
    groups: dict[str, list[tuple[str, float, str]]] = {}
    for r in rows:
        base_name = baseline_of(r)
        base = by.get((r.case, base_name)) if base_name else None
        if base is None or r.variant in BEST:
            continue
        if r.variant.startswith("C++"):
            kind = "C++ client threads"
        elif r.variant in (NAIVE_DEFAULT, NAIVE_ONE, AIO_DEFAULT, AIO_ONE):
            kind = "naive onnxruntime"
        elif r.variant == DIRECT:
            kind = "ortnative Session.run, no scheduler"
        else:
            kind = "ortnative Scheduler"
        ratio = r.extra["throughput_rps"] / base.extra["throughput_rps"]
        groups.setdefault(r.case, []).append((r.variant, ratio, kind))
    return lambda path: plot_ratios(
        path,
        title=(
            "Many closed-loop clients: requests/s against the naive baseline at its best "
            "(threads vs naive (best), asyncio vs naive asyncio (best))"
        ),
        xlabel="throughput vs the naive baseline (best) of the same client kind",
        groups=groups,
        quick=quick,
    )


def write(
    rows: list[Row],
    notes: list[str],
    method: str,
    cmd: str,
    *,
    quick: bool = False,
    results: str | None = None,
    draw: bool = True,
) -> list[str]:
    """scheduler.json, .md and .png (``.quick.*`` when QUICK) in RESULTS."""
    m = machine()
    data = {
        "suite": "scheduler",
        "quick": quick,
        "machine": m,
        "method": method,
        "baseline": f"{NAIVE} (thread clients), {AIO_NAIVE} (asyncio clients)",
        "notes": notes,
        "meta": {"command": cmd, "config": {k: {**v, "build": None} for k, v in CONFIG.items()}},
        "rows": [row_dict(r) for r in rows],
    }
    jpath = result_path("scheduler", "json", quick=quick, results=results)
    write_json(jpath, data)
    by = {(r.case, r.variant): r for r in rows}
    lines = header_lines("scheduler", m, cmd, method, quick)
    lines += [
        (
            "| case | variant | clients | computes on | output | throughput | vs naive (best), "
            "same client kind | median | p99 | p25-p75 | rows/batch |"
        ),
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r.stats
        assert s is not None
        rps = r.extra["throughput_rps"]
        unit = "rows/s" if r.variant == CEILING else "req/s"
        base_name = baseline_of(r)
        base = by.get((r.case, base_name)) if base_name else None
        vs = f"{rps / base.extra['throughput_rps']:.2f}x" if base else "-"
        rpb = f"{r.extra['rows_per_batch']:.1f}" if "rows_per_batch" in r.extra else "-"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.case} | {r.variant}{note} | {r.extra.get('clients', '')} | {r.threads} | "
            f"{r.output} | {rps:,.0f} {unit} | {vs} | {fmt_us(s.median_us)} "
            f"| {fmt_us(s.p99_us)} | {fmt_us(s.p25_us)} - {fmt_us(s.p75_us)} | {rpb} |"
        )
    lines += ["", *[f"- {n}" for n in notes]]
    ppath = result_path("scheduler", "png", quick=quick, results=results)
    lines += ["", f"![scheduler]({os.path.basename(ppath)})"]
    mpath = result_path("scheduler", "md", quick=quick, results=results)
    with open(mpath, "w") as f:
        f.write("\n".join(lines) + "\n")
    paths = [jpath, mpath]
    if draw:
        plot(rows, quick)(ppath)
        paths.append(ppath)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a fifth of the time, one round")
    p.add_argument("--cases", nargs="*", help="only these models (MLP, CNN)")
    p.add_argument("--clients", nargs="*", type=int, help=f"only these client counts {CLIENTS}")
    p.add_argument("--no-floor", action="store_true", help="skip the C++ client rows")
    args = p.parse_args(argv)
    if ortn.backend != "native":
        raise SystemExit(f"the scheduler benchmark needs the native backend: {ortn.native_error}")
    scale, rounds = (0.2, 1) if args.quick else (1.0, ROUNDS)
    rows: list[Row] = []
    floor = None if args.no_floor else build_floor("ortnative-sched-floor")
    tmp = tempfile.mkdtemp(prefix="ortnative-bench-")
    try:
        for case in CONFIG:
            if args.cases and case not in args.cases:
                continue
            for n in CLIENTS:
                if args.clients and n not in args.clients:
                    continue
                rows += bench_case(case, n, scale, rounds)
                if n == 64 and floor is not None:
                    rows += cpp_floor(case, floor, scale, tmp)
            rows.append(ceiling(case, scale))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    notes = summarize(rows)
    notes += ceiling_notes(rows, gil_handoff_us(), gil_handoff_rate(), python_cost_us())
    for case, cfg in CONFIG.items():
        notes.append(
            f"{case} setup: scheduler {cfg['scheduler']}, batching {cfg['batching']}; "
            f"{cfg['seconds'] * scale:g} s per variant and round."
        )
    notes.append(
        f"The asyncio rows run on asyncio's default executor: {EXECUTOR_THREADS} threads "
        "(min(32, CPUs + 4))."
    )
    method = (
        "Closed-loop clients (each sends a batch-1 request, waits, sends the next) for a "
        "fixed time per variant, variants interleaved over rounds; throughput is the "
        "median over rounds, latency percentiles pool every request of every round. The "
        "naive baselines are measured with onnxruntime's default threads and with "
        "intra_op=1 inter_op=1, in the same rounds; the better of the two is quoted as "
        "naive (best) (threads) and naive asyncio (best) (coroutines), and each client "
        "kind's ratios are against its own. Every row allocates its outputs per request. "
        "Method details: bench/scheduler.py."
    )
    cmd = "python bench/run.py scheduler" + (" --quick" if args.quick else "")
    paths = write(rows, notes, method, cmd, quick=args.quick)
    with open(paths[1]) as f:
        print(f.read())
    print("wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
