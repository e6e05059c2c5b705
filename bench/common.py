"""Shared benchmark method and result files.

Method (every suite states deviations from it):
- Check first: before timing, every variant's output is compared with the plain
  onnxruntime (or OpenCV/numpy) reference; a variant that disagrees is reported as
  wrong and not timed. A fast wrong answer wins nothing.
- Warm-up: every variant runs WARMUP calls before any timing (ORT's lazy allocations,
  caches, branch predictors).
- Repeats, interleaved: ROUNDS rounds; in each round every variant makes CALLS timed
  calls back to back, variants in turn, so that machine noise (these machines are
  shared) falls on all of them alike rather than on whichever ran during a spike.
- Timing: each call is timed alone with time.perf_counter_ns (C++: steady_clock). The
  timer's own cost, measured the same way around an empty call, is subtracted.
- Statistics: median and p99 of the per-call samples; the inter-quartile range (p25 to
  p75) as the spread. Ratios are ratios of medians, which is what to quote: absolute
  times move with the machine's load.
- Stop rule: a fixed number of samples (ROUNDS x CALLS), never "until it looks stable".
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")


@dataclass
class Stats:
    n: int
    median_us: float
    p99_us: float
    p25_us: float
    p75_us: float
    mean_us: float

    @classmethod
    def of(cls, ns: np.ndarray) -> Stats:
        us = np.asarray(ns, dtype=np.float64) / 1e3
        return cls(
            n=int(us.size),
            median_us=float(np.median(us)),
            p99_us=float(np.percentile(us, 99)),
            p25_us=float(np.percentile(us, 25)),
            p75_us=float(np.percentile(us, 75)),
            mean_us=float(us.mean()),
        )


@dataclass
class Row:
    case: str
    variant: str
    stats: Stats | None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def timer_overhead_ns(samples: int = 20000) -> float:
    clock = time.perf_counter_ns
    t = np.empty(samples)
    for i in range(samples):
        t0 = clock()
        t[i] = clock() - t0
    return float(np.median(t))


def time_interleaved(
    variants: dict[str, Callable[[], Any]],
    *,
    rounds: int,
    calls: int,
    warmup: int,
    progress: str = "",
) -> dict[str, Stats]:
    """Times every variant as described in the module docstring."""
    overhead = timer_overhead_ns()
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    samples = {name: np.empty(rounds * calls) for name in variants}
    clock = time.perf_counter_ns
    for r in range(rounds):
        for name, fn in variants.items():
            buf = samples[name]
            base = r * calls
            for i in range(calls):
                t0 = clock()
                fn()
                buf[base + i] = clock() - t0
        if progress and sys.stderr.isatty():
            sys.stderr.write(f"\r  {progress}: round {r + 1}/{rounds}")
            sys.stderr.flush()
    if progress and sys.stderr.isatty():
        sys.stderr.write("\r" + " " * 60 + "\r")
    return {name: Stats.of(np.maximum(s - overhead, 0.0)) for name, s in samples.items()}


def machine() -> dict[str, Any]:
    import onnxruntime

    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import ortnative

        info["ortnative"] = ortnative.__version__
        info["ortnative_backend"] = ortnative.backend
    except ImportError:
        pass
    return info


def fmt_us(us: float) -> str:
    if us >= 1000:
        return f"{us / 1000:.3f} ms"
    return f"{us:.2f} us"


def write_results(
    suite: str,
    rows: Sequence[Row],
    *,
    method: str,
    baseline: str,
    notes: Sequence[str] = (),
    meta: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """bench/results/<suite>.json and .md. BASELINE names the variant every ratio is
    taken against (per case)."""
    os.makedirs(RESULTS, exist_ok=True)
    data = {
        "suite": suite,
        "machine": machine(),
        "method": method,
        "baseline": baseline,
        "notes": list(notes),
        "meta": meta or {},
        "rows": [
            {
                "case": r.case,
                "variant": r.variant,
                "stats": asdict(r.stats) if r.stats else None,
                "note": r.note,
                **({"extra": r.extra} if r.extra else {}),
            }
            for r in rows
        ],
    }
    jpath = os.path.join(RESULTS, f"{suite}.json")
    with open(jpath, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    base = {r.case: r.stats.median_us for r in rows if r.variant == baseline and r.stats}
    m = data["machine"]
    lines = [
        f"# {suite} benchmark",
        "",
        (
            f"{m.get('cpu', m['processor'])}, {m['cpus']} CPUs; Python {m['python']}; "
            f"onnxruntime {m['onnxruntime']}; {m['date']}. "
            f"Generated by `{(meta or {}).get('command', '')}`."
        ),
        "",
        method,
        "",
        f"| case | variant | median | p99 | p25-p75 | speed vs {baseline} |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.stats is None:
            lines.append(f"| {r.case} | {r.variant} | - | - | - | {r.note} |")
            continue
        s = r.stats
        ratio = base.get(r.case)
        rtxt = f"{ratio / s.median_us:.2f}x" if ratio else "-"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.case} | {r.variant}{note} | {fmt_us(s.median_us)} | {fmt_us(s.p99_us)} | "
            f"{fmt_us(s.p25_us)} - {fmt_us(s.p75_us)} | {rtxt} |"
        )
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    mpath = os.path.join(RESULTS, f"{suite}.md")
    with open(mpath, "w") as f:
        f.write("\n".join(lines) + "\n")
    return jpath, mpath


def run_json(cmd: Sequence[str], **kw: Any) -> dict[str, Any]:
    out = subprocess.run(list(cmd), capture_output=True, text=True, check=True, **kw)
    return json.loads(out.stdout.strip().splitlines()[-1])
