"""The fallback scheduler's statistics, as the core's cpp/src/scheduler_stats.cpp:
latency samples, per-model snapshots (taken under the scheduler's lock), and their
Prometheus text, family for family and line for line."""

from __future__ import annotations

import collections
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._fallback_scheduler import Model

WINDOW = 4096  # latency samples kept per model and kind (as the core's Samples::kWindow)


class Samples:
    """One latency (microseconds) of a model: the recent WINDOW values, the count and sum."""

    __slots__ = ("count", "ring", "total")

    def __init__(self) -> None:
        self.ring: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self.count = 0
        self.total = 0.0

    def add(self, us: float) -> None:
        self.ring.append(us)
        self.count += 1
        self.total += us

    def copy(self) -> Samples:
        c = Samples()
        c.ring = collections.deque(self.ring, maxlen=WINDOW)
        c.count, c.total = self.count, self.total
        return c

    def summary(self) -> dict[str, Any]:
        if self.ring:
            p50, p90, p99 = (float(v) for v in np.percentile(np.array(self.ring), [50, 90, 99]))
        else:
            p50 = p90 = p99 = math.nan
        return {"p50": p50, "p90": p90, "p99": p99, "count": self.count, "sum": self.total}


def snapshot(m: Model) -> dict[str, Any]:
    """M's counters (under the scheduler's lock), with copies of its samples."""
    return {
        "queued": m.queued,
        "running": m.running,
        "submitted": m.submitted,
        "completed": m.completed,
        "failed": m.failed,
        "rejected": m.rejected,
        "timed_out": m.timed_out,
        "cancelled": m.cancelled,
        "closed": m.closed,
        "batches": m.batches,
        "rows": m.rows,
        "retried_batches": m.retried_batches,
        "warmup_runs": m.warmup_runs,
        "batch_sizes": dict(sorted(m.batch_sizes.items())),
        "queue_us": m.queue_us.copy(),
        "compute_us": m.compute_us.copy(),
        "total_us": m.total_us.copy(),
    }


def summarise(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot as stats() returns it: each latency summarised (outside the lock)."""
    for key in ("queue_us", "compute_us", "total_us"):
        snap[key] = snap[key].summary()
    return snap


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: float) -> str:
    return "NaN" if math.isnan(v) else f"{v:.3f}"


def metrics_text(prefix: str, models: list[tuple[str, dict[str, Any]]]) -> str:
    """The core's Scheduler::metrics_text (cpp/src/scheduler_stats.cpp), line for line."""
    p = prefix
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {p}{name} {help_text}\n# TYPE {p}{name} {kind}\n")

    def sample(name: str, model: str, extra: str, value: str) -> None:
        out.append(f'{p}{name}{{model="{_escape(model)}"{extra}}} {value}\n')

    def counter(name: str, help_text: str, key: str, kind: str = "counter") -> None:
        family(name, kind, help_text)
        for model, s in models:
            sample(name, model, "", str(s[key]))

    counter("_inference_request_success", "Number of successful inference requests", "completed")
    family(
        "_inference_request_failure",
        "counter",
        "Number of failed inference requests, by reason: BACKEND (the run failed), REJECTED "
        "(queue full or scheduler closed at submit), TIMEOUT, CANCELED, CLOSED (closed "
        "without drain before they ran)",
    )
    reasons = (
        ("BACKEND", "failed"),
        ("REJECTED", "rejected"),
        ("TIMEOUT", "timed_out"),
        ("CANCELED", "cancelled"),
        ("CLOSED", "closed"),
    )
    for model, s in models:
        for reason, key in reasons:
            sample("_inference_request_failure", model, f',reason="{reason}"', str(s[key]))
    counter("_inference_count", "Number of inferences performed (rows, all batch sizes)", "rows")
    counter("_inference_exec_count", "Number of model executions performed (batches)", "batches")
    counter(
        "_inference_pending_request_count",
        "Instantaneous number of pending requests awaiting execution",
        "queued",
        "gauge",
    )
    counter(
        "_inference_running_request_count",
        "Instantaneous number of requests in batches being executed",
        "running",
        "gauge",
    )

    def duration(name: str, help_text: str, key: str) -> None:
        family(name, "counter", help_text)
        for model, s in models:
            sample(name, model, "", _num(s[key]["sum"]))

    duration(
        "_inference_request_duration_us",
        "Cumulative inference request duration in microseconds (submit to outputs ready)",
        "total_us",
    )
    duration(
        "_inference_queue_duration_us",
        "Cumulative inference queuing duration in microseconds",
        "queue_us",
    )
    duration(
        "_inference_compute_infer_duration_us",
        "Cumulative compute inference duration in microseconds (batch assembly, run, split)",
        "compute_us",
    )

    def summary(name: str, help_text: str, key: str) -> None:
        family(name, "summary", help_text)
        for model, s in models:
            lat = s[key]
            sample(name, model, ',quantile="0.5"', _num(lat["p50"]))
            sample(name, model, ',quantile="0.9"', _num(lat["p90"]))
            sample(name, model, ',quantile="0.99"', _num(lat["p99"]))
            out.append(f'{p}{name}_sum{{model="{_escape(model)}"}} {_num(lat["sum"])}\n')
            out.append(f'{p}{name}_count{{model="{_escape(model)}"}} {lat["count"]}\n')

    summary(
        "_inference_request_summary_us",
        "Inference request duration in microseconds, quantiles over recent requests",
        "total_us",
    )
    summary(
        "_inference_queue_summary_us",
        "Inference queuing duration in microseconds, quantiles over recent requests",
        "queue_us",
    )
    summary(
        "_inference_compute_infer_summary_us",
        "Compute inference duration in microseconds, quantiles over recent requests",
        "compute_us",
    )
    hist = "_inference_batch_size"
    family(hist, "histogram", "Rows per model execution")
    for model, s in models:
        label = f'{{model="{_escape(model)}"'
        sizes = sorted(s["batch_sizes"].items())
        cumulative = 0
        nxt = 0
        le = 1
        while le <= 1024:
            while nxt < len(sizes) and sizes[nxt][0] <= le:
                cumulative += sizes[nxt][1]
                nxt += 1
            out.append(f'{p}{hist}_bucket{label},le="{le}"}} {cumulative}\n')
            le *= 2
        out.append(f'{p}{hist}_bucket{label},le="+Inf"}} {s["batches"]}\n')
        out.append(f"{p}{hist}_sum{label}}} {s['rows']}\n")
        out.append(f"{p}{hist}_count{label}}} {s['batches']}\n")
    return "".join(out)
