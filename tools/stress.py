"""Stress: a million requests through the scheduler with faults injected; every request
must end exactly once, and no good request may fail because of a bad neighbour.

  python tools/stress.py [--requests 1000000] [--backend native] [--clients 4]
                         [--seconds 900] [--seed 0] [--json PATH]

Client threads submit as fast as the scheduler takes them, to two batching models
(``y = x + 1`` and a 10-row Gather, max_batch_size 16 and 8), a mix of:
- good requests (1-3 rows), whose results are checked against numpy;
- bad requests: Gather indices out of range, which make their whole batch fail in
  ONNX Runtime (the scheduler then runs that batch's requests again one by one, so
  the bad one gets its error and its neighbours their results);
- short per-request timeouts, future.cancel() right after submit, priorities;
- queue-full refusals (small queues; a refused client backs off briefly);
- scheduler turnover: every few thousand requests the current scheduler is replaced
  by a new one and closed, with or without drain, while other clients still submit to
  it (they get SchedulerClosedError; queued requests end closed or run).

Every submit is counted by outcome, from the submit itself (queue full, refused after
close) or from the future's done-callback (ok, failed, timed out, cancelled, closed).
Invariants, each a failure (exit status 1): outcomes add up to the requests sent;
every accepted request's callback ran once (none missing after the last close); a
good request ends only ok, timed out (if it had a timeout), cancelled (if cancel() was
called), or closed (if closed without drain), with the right values; a bad request
never succeeds; the schedulers' stats() agree with these counts.

Prints a table; ``--json PATH`` also writes the report. tests/test_stress.py runs a
short version on both backends.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import random
import sys
import threading
import time
from typing import Any

import numpy as np
import ortnative as ortn
from ortnative import models

TABLE = np.arange(10, dtype=np.float32)  # models.gather(10)'s table
KINDS = ("add", "gather", "bad")  # good y = x + 1, good gather, gather out of range
ENDINGS = ("ok", "failed", "timed_out", "cancelled", "closed")  # from the future
REFUSALS = ("queue_full", "refused_closed")  # from submit
STAT_OF = {
    "ok": "completed",
    "failed": "failed",
    "timed_out": "timed_out",
    "cancelled": "cancelled",
    "closed": "closed",
}


class Epoch:
    """One scheduler of the run, and how it was closed."""

    __slots__ = ("index", "no_drain", "sched")

    def __init__(self, index: int, backend: str, model_bytes: dict[str, bytes]) -> None:
        self.index = index
        self.no_drain = False
        self.sched = ortn.Scheduler(threads=2, backend=backend)
        self.sched.add_model(
            "add", model_bytes["add"], max_batch_size=16, max_queue_delay_us=200, max_queue_size=64
        )
        self.sched.add_model(
            "gather",
            model_bytes["gather"],
            max_batch_size=8,
            max_queue_delay_us=200,
            max_queue_size=64,
        )


class Stress:
    def __init__(self, requests: int, backend: str, clients: int, seconds: float, seed: int):
        self.requests = requests
        self.backend = backend
        self.clients = clients
        self.deadline = time.monotonic() + seconds
        self.rng = random.Random(seed)
        self.seed = seed
        self.model_bytes = {"add": models.add_one(("N", 4)), "gather": models.gather(10)}
        self.epoch_size = max(2000, min(60_000, requests // 25))
        self.attempts = itertools.count()
        self.lock = threading.Lock()  # endings, errors
        self.rotate_lock = threading.Lock()
        self.endings: dict[tuple[str, str], int] = {}
        self.errors: dict[str, int] = {}
        self.examples: dict[str, str] = {}
        self.submits: list[dict[tuple[str, str], int]] = []  # per client: refusals, accepted
        self.epochs: list[Epoch] = []
        self.current = self._new_epoch()
        self.rotate_at = self._next_size()
        self.client_errors: list[str] = []

    # -- schedulers ----------------------------------------------------------------
    def _new_epoch(self) -> Epoch:
        ep = Epoch(len(self.epochs), self.backend, self.model_bytes)
        self.epochs.append(ep)
        return ep

    def _next_size(self) -> int:
        return self.rng.randint(self.epoch_size // 2, self.epoch_size * 3 // 2)

    def _check_stats(self, ep: Epoch) -> None:
        for name in ("add", "gather"):
            st = ep.sched.stats(name)
            live = st["queued"] + st["running"] + sum(st[STAT_OF[k]] for k in ENDINGS)
            if live != st["submitted"]:
                self.error("stats don't add up", f"epoch {ep.index} {name}: {st}")

    def _rotate(self, i: int) -> None:
        if not self.rotate_lock.acquire(blocking=False):
            return  # another client is rotating: go on with the current scheduler
        try:
            if i < self.rotate_at:
                return  # another client rotated
            old = self.current
            new = self._new_epoch()
            old.no_drain = self.rng.random() < 0.5
            self._check_stats(old)
            # Closed before it is replaced: meanwhile the other clients still submit to
            # it, and are refused (SchedulerClosedError).
            old.sched.close(drain=not old.no_drain)
            self.current = new
            self.rotate_at = i + self._next_size()
        finally:
            self.rotate_lock.release()

    # -- outcomes ------------------------------------------------------------------
    def error(self, what: str, example: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1
            self.examples.setdefault(what, example)

    def on_done(self, meta: tuple[str, Any, bool, bool, Epoch], fut: Any) -> None:
        kind, expected, timed, cancel, ep = meta
        verdict = example = ""
        if fut.cancelled():
            ending = "cancelled"
            if not cancel:
                verdict = "cancelled without cancel()"
        else:
            exc = fut.exception()
            example = f"{type(exc).__name__}: {exc}"
            if exc is None:
                ending = "ok"
                if kind == "bad":
                    verdict = "a bad request succeeded"
                elif not np.array_equal(fut.result()["y"], expected):
                    verdict = "wrong result values"
                    example = f"{fut.result()['y']} != {expected}"
            elif isinstance(exc, ortn.RequestTimeoutError):
                ending = "timed_out"
                if not timed:
                    verdict = "timed out without a timeout"
            elif isinstance(exc, ortn.SchedulerClosedError):
                ending = "closed"
                if not ep.no_drain:
                    verdict = "closed by a close with drain"
            else:
                ending = "failed"
                if kind != "bad":
                    verdict = "a good request failed (a bad neighbour?)"
                elif not isinstance(exc, ortn.InvalidInputError):
                    verdict = "a bad request failed with an unexpected error"
        if verdict:
            self.error(verdict, example)
        key = (kind, ending)
        with self.lock:
            self.endings[key] = self.endings.get(key, 0) + 1

    # -- clients -------------------------------------------------------------------
    def client(self, c: int) -> None:
        rng = random.Random(self.seed * 1000 + c)
        counts: dict[tuple[str, str], int] = {}
        self.submits.append(counts)
        add_pool = [np.full((1 + k % 3, 4), k, np.float32) for k in range(24)]
        add_pool = [{"x": x} for x in add_pool]
        add_want = [f["x"] + 1 for f in add_pool]
        idx_pool = [
            np.array([rng.randrange(-10, 10) for _ in range(1 + k % 3)], np.int64)
            for k in range(24)
        ]
        gather_pool = [{"idx": i} for i in idx_pool]
        gather_want = [TABLE[i] for i in idx_pool]
        bad_pool = [  # one index out of range, alone or after a good one
            {"idx": np.array([1, 10 + k] if k % 2 else [-11 - k], np.int64)} for k in range(8)
        ]
        requests, on_done = self.requests, self.on_done
        try:
            while True:
                i = next(self.attempts)
                if i >= requests or time.monotonic() > self.deadline:
                    break
                if i >= self.rotate_at:
                    self._rotate(i)
                ep = self.current
                pick = rng.random()
                k = rng.randrange(24)
                if pick < 0.5:
                    kind, model, feeds, want = "add", "add", add_pool[k], add_want[k]
                elif pick < 0.9:
                    kind, model, feeds, want = "gather", "gather", gather_pool[k], gather_want[k]
                else:
                    kind, model, feeds, want = "bad", "gather", bad_pool[k % 8], None
                timeout = rng.choice((0.02, 0.2, 2.0)) if rng.random() < 0.05 else None
                cancel = rng.random() < 0.03
                try:
                    fut = ep.sched.submit(
                        model, feeds, priority=rng.randrange(2), timeout_ms=timeout
                    )
                except ortn.QueueFullError:
                    counts[(kind, "queue_full")] = counts.get((kind, "queue_full"), 0) + 1
                    time.sleep(0.002)  # "try again later"
                    continue
                except ortn.SchedulerClosedError:
                    counts[(kind, "refused_closed")] = counts.get((kind, "refused_closed"), 0) + 1
                    time.sleep(0.001)  # until the new scheduler is in place
                    continue
                counts[(kind, "accepted")] = counts.get((kind, "accepted"), 0) + 1
                fut.add_done_callback(
                    functools.partial(on_done, (kind, want, timeout is not None, cancel, ep))
                )
                if cancel:
                    fut.cancel()
        except BaseException as exc:  # noqa: BLE001 - reported as a failure
            self.client_errors.append(f"client {c}: {type(exc).__name__}: {exc}")

    # -- the run -------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        threads = [
            threading.Thread(target=self.client, args=(c,), name=f"stress-{c}")
            for c in range(self.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        last = self.current
        last.no_drain = self.rng.random() < 0.5
        self._check_stats(last)
        last.sched.close(drain=not last.no_drain)
        submitted = time.monotonic() - t0
        accepted = sum(n for cnt in self.submits for (_, o), n in cnt.items() if o == "accepted")
        for _ in range(600):  # close() joined the threads; this is a safety net
            with self.lock:
                ended = sum(self.endings.values())
            if ended >= accepted:
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - t0
        return self.report(accepted, ended, submitted, elapsed)

    def report(self, accepted: int, ended: int, submitted: float, elapsed: float) -> dict[str, Any]:
        table: dict[str, dict[str, int]] = {k: {} for k in KINDS}
        for (kind, ending), n in self.endings.items():
            table[kind][ending] = table[kind].get(ending, 0) + n
        for cnt in self.submits:
            for (kind, o), n in cnt.items():
                if o != "accepted":
                    table[kind][o] = table[kind].get(o, 0) + n
        totals = {o: sum(row.get(o, 0) for row in table.values()) for o in (*ENDINGS, *REFUSALS)}
        sent = sum(totals.values())
        failures = dict(self.errors)
        if ended != accepted:
            failures["requests that never ended"] = accepted - ended
        attempted = min(next(self.attempts), self.requests)
        if sent != attempted:
            failures["outcomes don't add up to the requests sent"] = attempted - sent
        for e in self.client_errors:
            failures[e] = 1
        stats: dict[str, int] = {}
        for ep in self.epochs:
            for name in ("add", "gather"):
                st = ep.sched.stats(name)
                for key in ("submitted", "rejected", "queued", "running", "batches", "rows"):
                    stats[key] = stats.get(key, 0) + st[key]
                for key in (*STAT_OF.values(), "retried_batches"):
                    stats[key] = stats.get(key, 0) + st[key]
        want = {
            "submitted": accepted,
            "rejected": totals["queue_full"] + totals["refused_closed"],
            "queued": 0,
            "running": 0,
            **{STAT_OF[o]: totals[o] for o in ENDINGS},
        }
        for key, value in want.items():
            if stats[key] != value:
                failures[f"stats {key}={stats[key]}, counted {value}"] = 1
        if attempted < self.requests:
            # Not a failure of the scheduler, but the run did not do what was asked.
            failures[f"--seconds ran out after {attempted} of {self.requests} requests"] = 1
        return {
            "backend": self.backend,
            "requests": attempted,
            "clients": self.clients,
            "schedulers": len(self.epochs),
            "closed_without_drain": sum(ep.no_drain for ep in self.epochs),
            "seconds": round(elapsed, 2),
            "submit_seconds": round(submitted, 2),
            "requests_per_s": round(attempted / elapsed) if elapsed > 0 else 0,
            "outcomes": totals,
            "by_kind": table,
            "batches": stats["batches"],
            "rows": stats["rows"],
            "retried_batches": stats["retried_batches"],
            "failures": failures,
            "examples": self.examples,
            "pass": not failures,
        }


def stress(
    requests: int = 1_000_000,
    backend: str | None = None,
    clients: int = 4,
    seconds: float = 900,
    seed: int = 0,
) -> dict[str, Any]:
    """Runs the stress and returns its report (``report["pass"]``: every invariant held)."""
    chosen = ortn._backend.resolve(backend)
    return Stress(requests, chosen, clients, seconds, seed).run()


def print_report(r: dict[str, Any]) -> None:
    cols = (*ENDINGS, *REFUSALS)
    print(
        f"stress [{r['backend']}]: {r['requests']} requests, {r['clients']} clients, "
        f"{r['schedulers']} schedulers ({r['closed_without_drain']} closed without drain), "
        f"{r['seconds']} s ({r['requests_per_s']}/s)"
    )
    print(f"{'':<8}" + "".join(f"{c:>15}" for c in cols) + f"{'total':>10}")
    for kind, row in r["by_kind"].items():
        print(
            f"{kind:<8}"
            + "".join(f"{row.get(c, 0):>15}" for c in cols)
            + f"{sum(row.values()):>10}"
        )
    print(
        f"{'total':<8}"
        + "".join(f"{r['outcomes'][c]:>15}" for c in cols)
        + f"{sum(r['outcomes'].values()):>10}"
    )
    print(
        f"batches {r['batches']} ({r['rows']} rows), {r['retried_batches']} failed and "
        "retried request by request"
    )
    if r["failures"]:
        print("FAILED:")
        for what, n in r["failures"].items():
            example = r["examples"].get(what)
            print(f"  {what}: {n}" + (f" (e.g. {example})" if example else ""))
    else:
        print("pass: every request ended exactly once, as it should")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=1_000_000)
    p.add_argument("--backend", default="native", choices=["native", "python"])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=900, help="stop submitting after this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the report here")
    args = p.parse_args(argv)
    r = stress(args.requests, args.backend, args.clients, args.seconds, args.seed)
    print_report(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0 if r["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
