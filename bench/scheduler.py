"""Many concurrent callers: ortnative.Scheduler against the plain onnxruntime way.

Cases: an MLP 256-256-256-10 with a free batch dimension (batch-1 requests of
float32 [1, 256]) and the small CNN (requests of float32 [1, 3, 224, 224]), each with 1,
16 and 64 concurrent clients.

Clients run a closed loop for a fixed time: send one batch-1 request, wait for its
result, send the next. Variants:

- ``onnxruntime, shared session`` (the naive baseline): each client thread calls
  ``InferenceSession.run`` on one shared session with onnxruntime's default threads.
- ``Scheduler, batching``: client threads call ``sched.run(name, feeds)``; the model has
  ``max_batch_size`` > 1 and a short ``max_queue_delay_us`` (see CONFIG).
- ``Scheduler, max_batch_size=1``: the same scheduler setup without batching.
- ``Scheduler, batching, submit().result()``: the futures API from client threads.
- ``Scheduler, batching, asyncio``: the clients are coroutines on one event loop thread
  (``await sched.infer(...)``), the scheduler the batching one.
- with 1 client, ``ortnative Session.run (direct)``: no scheduler, for the light-load
  target (the scheduler's median within 10% + max_queue_delay_us of it).
- per case, ``ceiling: batch 64, one thread`` (reference): one thread running batch 64 on
  plain onnxruntime; its throughput is rows/s.
- with 64 clients, ``C++ clients: ...`` (bench/cpp/sched_floor.cpp): the same closed loop
  from C++ threads, with no Python in the process, calling ``Session::run`` on one shared
  session (intra-op threads as the scheduler's) or ``Scheduler::run`` with the batching
  setup: what the core sustains when the clients cost nothing.

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
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import ortnative as ortn
from common import RESULTS, Row, Stats, fmt_us, machine, run_json
from ortnative import models
from session import build_floor

NAIVE = "onnxruntime, shared session"
BATCHING = "Scheduler, batching"
UNBATCHED = "Scheduler, max_batch_size=1"
FUTURES = "Scheduler, batching, submit().result()"
ASYNCIO = "Scheduler, batching, asyncio"
DIRECT = "ortnative Session.run (direct)"
CEILING = "ceiling: batch 64, one thread"
CPP_SESSION = "C++ clients: Session::run, shared session"
CPP_SCHED = "C++ clients: Scheduler::run, batching"

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
    n: int, sched: ortn.Scheduler, name: str, feeds: dict[str, np.ndarray], seconds: float
) -> tuple[int, float, np.ndarray]:
    """N coroutines on one event loop, each awaiting sched.infer in a loop."""
    lats: list[int] = []
    clock = time.perf_counter_ns

    async def client(end: int) -> None:
        while True:
            t0 = clock()
            if t0 >= end:
                break
            await sched.infer(name, feeds)
            lats.append(clock() - t0)

    async def main() -> float:
        start = clock()
        await asyncio.gather(*(client(start + int(seconds * 1e9)) for _ in range(n)))
        return (clock() - start) / 1e9

    elapsed = asyncio.run(main())
    return len(lats), elapsed, np.asarray(lats, np.int64)


class Variant:
    def __init__(self, name: str, run: Callable[[float], tuple[int, float, np.ndarray]]):
        self.name = name
        self.run = run
        self.rps: list[float] = []
        self.samples: list[np.ndarray] = []
        self.sched: ortn.Scheduler | None = None
        self.rows = 0
        self.batches = 0


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
    want = plain.run(None, feeds)[0]

    batching = ortn.Scheduler(backend="native")
    batching.add_model("m", model, warmup=True, **cfg["scheduler"], **cfg["batching"])
    unbatched = ortn.Scheduler(backend="native")
    unbatched.add_model("m", model, warmup=True, **cfg["scheduler"])
    direct = ortn.Session(model, intra_op_threads=1, backend="native")

    def check(label: str, got: np.ndarray) -> None:
        if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"{case}: {label} disagrees with onnxruntime; not timing it")

    out = plain.get_outputs()[0].name
    check(BATCHING, batching.run("m", feeds)[out])
    check(UNBATCHED, unbatched.run("m", feeds)[out])
    check(FUTURES, batching.submit("m", feeds).result()[out])
    check(ASYNCIO, asyncio.run(batching.infer("m", feeds))[out])
    check(DIRECT, direct.run(feeds)[out])

    variants = [
        Variant(NAIVE, lambda s: threads_loop(n_clients, lambda: plain.run(None, feeds), s)),
        Variant(BATCHING, lambda s: threads_loop(n_clients, lambda: batching.run("m", feeds), s)),
        Variant(UNBATCHED, lambda s: threads_loop(n_clients, lambda: unbatched.run("m", feeds), s)),
        Variant(
            FUTURES,
            lambda s: threads_loop(n_clients, lambda: batching.submit("m", feeds).result(), s),
        ),
        Variant(ASYNCIO, lambda s: asyncio_loop(n_clients, batching, "m", feeds, s)),
    ]
    variants[1].sched = variants[3].sched = variants[4].sched = batching
    variants[2].sched = unbatched
    if n_clients == 1:
        variants.append(Variant(DIRECT, lambda s: threads_loop(1, lambda: direct.run(feeds), s)))
    for v in variants:  # warm-up
        v.run(min(0.3, seconds / 4))
        time.sleep(SETTLE)
    for r in range(rounds):
        for v in variants:
            before = v.sched.stats("m") if v.sched else None
            count, elapsed, samples = v.run(seconds)
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
        }
        if v.batches:
            extra["rows_per_batch"] = v.rows / v.batches
        rows.append(Row(label, v.name, stats, extra=extra))
    return rows


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
        extra={"throughput_rps": 64 * count / elapsed, "rows_per_batch": 64.0},
    )


def cpp_floor(case: str, floor: str, scale: float, tmp: str) -> list[Row]:
    """64 C++ client threads (bench/cpp/sched_floor.cpp), no Python in the process."""
    cfg = CONFIG[case]
    path = os.path.join(tmp, f"{case}.onnx")
    with open(path, "wb") as f:
        f.write(cfg["build"]())
    env = dict(os.environ)
    lib = ortn._ortlib.candidates()
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
            str(cfg["scheduler"]["replicas"]),
            "--intra",
            str(cfg["scheduler"]["intra_op_threads"]),
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
        extra: dict[str, Any] = {"throughput_rps": res["throughput_rps"], "requests": res["n"]}
        if mode == "scheduler":
            extra["rows_per_batch"] = res["rows_per_batch"]
        rows.append(Row(f"{case}, 64 clients", label, stats, extra=extra))
        time.sleep(SETTLE)
    return rows


def summarize(rows: list[Row]) -> list[str]:
    by = {(r.case, r.variant): r for r in rows}
    notes = []
    for case in CONFIG:
        many = f"{case}, 64 clients"
        naive, batch = by.get((many, NAIVE)), by.get((many, BATCHING))
        aio, top = by.get((many, ASYNCIO)), by.get((f"{case}, reference", CEILING))
        if naive and batch and naive.stats and batch.stats:
            ratio = batch.extra["throughput_rps"] / naive.extra["throughput_rps"]
            line = (
                f"{case}, 64 clients: the batching scheduler serves {ratio:.2f}x the naive "
                f"baseline's requests/s (p99 {fmt_us(batch.stats.p99_us)} against "
                f"{fmt_us(naive.stats.p99_us)})"
            )
            if aio:
                line += f"; asyncio clients {aio.extra['throughput_rps'] / naive.extra['throughput_rps']:.2f}x"
            if top:
                best = max(batch.extra["throughput_rps"], aio.extra["throughput_rps"] if aio else 0)
                line += (
                    f"; the best of them reaches {best / top.extra['throughput_rps']:.0%} of the "
                    "batch-64 ceiling"
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


def write(rows: list[Row], notes: list[str], method: str, cmd: str) -> tuple[str, str]:
    os.makedirs(RESULTS, exist_ok=True)
    data = {
        "suite": "scheduler",
        "machine": machine(),
        "method": method,
        "baseline": NAIVE,
        "notes": notes,
        "meta": {"command": cmd, "config": {k: {**v, "build": None} for k, v in CONFIG.items()}},
        "rows": [
            {
                "case": r.case,
                "variant": r.variant,
                "stats": asdict(r.stats) if r.stats else None,
                "note": r.note,
                "extra": r.extra,
            }
            for r in rows
        ],
    }
    jpath = os.path.join(RESULTS, "scheduler.json")
    with open(jpath, "w") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")
    m = data["machine"]
    base = {r.case: r.extra["throughput_rps"] for r in rows if r.variant == NAIVE}
    lines = [
        "# scheduler benchmark",
        "",
        (
            f"{m.get('cpu', m['processor'])}, {m['cpus']} CPUs; Python {m['python']}; "
            f"onnxruntime {m['onnxruntime']}; {m['date']}. Generated by `{cmd}`."
        ),
        "",
        method,
        "",
        "| case | variant | throughput | vs naive | median | p99 | p25-p75 | rows/batch |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r.stats
        assert s is not None
        rps = r.extra["throughput_rps"]
        unit = "rows/s" if r.variant == CEILING else "req/s"
        vs = f"{rps / base[r.case]:.2f}x" if r.case in base else "-"
        rpb = f"{r.extra['rows_per_batch']:.1f}" if "rows_per_batch" in r.extra else "-"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.case} | {r.variant}{note} | {rps:,.0f} {unit} | {vs} | {fmt_us(s.median_us)} "
            f"| {fmt_us(s.p99_us)} | {fmt_us(s.p25_us)} - {fmt_us(s.p75_us)} | {rpb} |"
        )
    lines += ["", *[f"- {n}" for n in notes]]
    mpath = os.path.join(RESULTS, "scheduler.md")
    with open(mpath, "w") as f:
        f.write("\n".join(lines) + "\n")
    return jpath, mpath


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
    for case, cfg in CONFIG.items():
        notes.append(
            f"{case} setup: scheduler {cfg['scheduler']}, batching {cfg['batching']}; "
            f"{cfg['seconds'] * scale:g} s per variant and round."
        )
    method = (
        "Closed-loop clients (each sends a batch-1 request, waits, sends the next) for a "
        "fixed time per variant, variants interleaved over rounds; throughput is the "
        "median over rounds, latency percentiles pool every request of every round. "
        "Method details: bench/scheduler.py."
    )
    cmd = "python bench/run.py scheduler" + (" --quick" if args.quick else "")
    j, m = write(rows, notes, method, cmd)
    with open(m) as f:
        print(f.read())
    print(f"wrote {j} and {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
