"""Shared benchmark method and result files.

Method (every suite states deviations from it):
- Check first: before timing, every variant's output is compared with the plain
  onnxruntime (or OpenCV/numpy) reference; a variant that disagrees is reported as
  wrong and not timed. A fast wrong answer wins nothing.
- Warm-up: every variant runs WARMUP calls before any timing (ORT's lazy allocations,
  caches, branch predictors).
- Repeats, interleaved: ROUNDS rounds; in each round every variant makes CALLS timed
  calls back to back, variants in turn, so that machine noise (these machines are
  shared) falls on all of them alike rather than on whichever ran during a spike. A
  variant timed outside Python (a C++ floor in a helper process) takes its turn in the
  same rounds: asked to time CALLS calls, it answers with their per-call times.
- Timing: each call is timed alone with time.perf_counter_ns (C++: steady_clock). The
  timer's own cost, measured the same way around an empty call, is subtracted.
- Statistics: median and p99 of the per-call samples; the inter-quartile range (p25 to
  p75) as the spread. Ratios are ratios of medians, which is what to quote: absolute
  times move with the machine's load.
- Stop rule: a fixed number of samples (ROUNDS x CALLS), never "until it looks stable".
- Like with like: each row says how many threads it computes on and what it allocates
  per call; a ratio is fair only between rows that match on both (each suite says which
  rows those are).

Results: bench/results/<suite>.json, .md and .png. A ``--quick`` run (a smoke run, too
few samples to quote) writes <suite>.quick.json, .md and .png instead (gitignored), so it
never overwrites the committed tables.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
LOG_TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]
QUICK_BANNER = (
    "**Quick smoke run (`--quick`): too few samples to quote. The committed tables come "
    "from full runs.**"
)


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
    """One variant's result in one case. ``threads`` and ``output`` say what the variant
    computes on and what it allocates per call (the table's columns)."""

    case: str
    variant: str
    stats: Stats | None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    threads: str = ""
    output: str = ""


def result_path(suite: str, ext: str, *, quick: bool, results: str | None = None) -> str:
    """Where SUITE's EXT file ("json", "md", "png") goes: bench/results/<suite>.<ext>, or
    for a quick run <suite>.quick.<ext> (gitignored), never the committed file."""
    name = f"{suite}.quick.{ext}" if quick else f"{suite}.{ext}"
    return os.path.join(RESULTS if results is None else results, name)


def timer_overhead_ns(samples: int = 20000) -> float:
    clock = time.perf_counter_ns
    t = np.empty(samples)
    for i in range(samples):
        t0 = clock()
        t[i] = clock() - t0
    return float(np.median(t))


def time_interleaved(
    variants: Mapping[str, Callable[[], Any]],
    *,
    rounds: int,
    calls: int,
    warmup: int,
    progress: str = "",
    setup: Mapping[str, Callable[[], Any]] | None = None,
    external: Mapping[str, Callable[[int], np.ndarray]] | None = None,
) -> dict[str, Stats]:
    """Times every variant as described in the module docstring.

    SETUP: per variant, called (untimed) before its warm-up and before its calls in each
    round, then one untimed call (e.g. OpenCV's thread count, which is process-wide).
    EXTERNAL: variants timed elsewhere (a C++ floor process): ``fn(n)`` makes n calls,
    each timed alone with its own timer's cost subtracted, and returns their times in
    ns; ``fn(n)`` for the warm-up too. They take their turn after the Python variants in
    every round."""
    setup = setup or {}
    external = external or {}
    overhead = timer_overhead_ns()
    for name, fn in variants.items():
        if name in setup:
            setup[name]()
        for _ in range(warmup):
            fn()
    for ext in external.values():
        ext(max(1, warmup))
    samples = {name: np.empty(rounds * calls) for name in variants}
    ext_samples: dict[str, list[np.ndarray]] = {name: [] for name in external}
    clock = time.perf_counter_ns
    for r in range(rounds):
        for name, fn in variants.items():
            if name in setup:
                setup[name]()
                fn()
            buf = samples[name]
            base = r * calls
            for i in range(calls):
                t0 = clock()
                fn()
                buf[base + i] = clock() - t0
        for name, ext in external.items():
            got = np.asarray(ext(calls), dtype=np.float64)
            if got.size != calls:
                raise RuntimeError(f"{name}: asked for {calls} samples, got {got.size}")
            ext_samples[name].append(got)
        if progress and sys.stderr.isatty():
            sys.stderr.write(f"\r  {progress}: round {r + 1}/{rounds}")
            sys.stderr.flush()
    if progress and sys.stderr.isatty():
        sys.stderr.write("\r" + " " * 60 + "\r")
    stats = {name: Stats.of(np.maximum(s - overhead, 0.0)) for name, s in samples.items()}
    stats.update({name: Stats.of(np.concatenate(s)) for name, s in ext_samples.items()})
    return stats


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


def row_dict(r: Row) -> dict[str, Any]:
    return {
        "case": r.case,
        "variant": r.variant,
        "threads": r.threads,
        "output": r.output,
        "stats": asdict(r.stats) if r.stats else None,
        "note": r.note,
        **({"extra": r.extra} if r.extra else {}),
    }


def write_json(path: str, data: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")


def header_lines(
    suite: str, m: dict[str, Any], command: str, method: str, quick: bool
) -> list[str]:
    """The Markdown file's title, machine line, quick-run banner and method."""
    lines = [
        f"# {suite} benchmark" + (" (quick smoke run)" if quick else ""),
        "",
        (
            f"{m.get('cpu', m['processor'])}, {m['cpus']} CPUs; Python {m['python']}; "
            f"onnxruntime {m['onnxruntime']}; {m['date']}. Generated by `{command}`."
        ),
        "",
    ]
    if quick:
        lines += [QUICK_BANNER, ""]
    return [*lines, method, ""]


def write_results(
    suite: str,
    rows: Sequence[Row],
    *,
    method: str,
    baseline: str | Callable[[Row], str | None],
    ratio_label: str | None = None,
    notes: Sequence[str] = (),
    meta: dict[str, Any] | None = None,
    quick: bool = False,
    results: str | None = None,
    plot: Callable[[str], None] | None = None,
) -> list[str]:
    """<suite>.json, .md and .png (``.quick.*`` when QUICK) in RESULTS; returns the paths.

    BASELINE names the variant every ratio is taken against (per case), or maps a row to
    the name of its baseline (None: no ratio). RATIO_LABEL heads the ratio column. PLOT
    draws the suite's PNG at the path it is given."""
    baseline_of = baseline if callable(baseline) else (lambda r: baseline)
    label = ratio_label or f"speed vs {baseline}"
    m = machine()
    command = (meta or {}).get("command", "")
    data = {
        "suite": suite,
        "quick": quick,
        "machine": m,
        "method": method,
        "baseline": label if callable(baseline) else baseline,
        "notes": list(notes),
        "meta": meta or {},
        "rows": [row_dict(r) for r in rows],
    }
    jpath = result_path(suite, "json", quick=quick, results=results)
    write_json(jpath, data)
    med = {(r.case, r.variant): r.stats.median_us for r in rows if r.stats}
    lines = header_lines(suite, m, command, method, quick)
    lines += [
        f"| case | variant | threads | output | median | p99 | p25-p75 | {label} |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        head = f"| {r.case} | {r.variant} | {r.threads} | {r.output} |"
        if r.stats is None:
            lines.append(f"{head} - | - | - | {r.note} |")
            continue
        s = r.stats
        base_name = baseline_of(r)
        base = med.get((r.case, base_name)) if base_name else None
        rtxt = f"{base / s.median_us:.2f}x" if base else "-"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.case} | {r.variant}{note} | {r.threads} | {r.output} | "
            f"{fmt_us(s.median_us)} | {fmt_us(s.p99_us)} | "
            f"{fmt_us(s.p25_us)} - {fmt_us(s.p75_us)} | {rtxt} |"
        )
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    ppath = result_path(suite, "png", quick=quick, results=results)
    lines += ["", f"![{suite}]({os.path.basename(ppath)})"]
    mpath = result_path(suite, "md", quick=quick, results=results)
    with open(mpath, "w") as f:
        f.write("\n".join(lines) + "\n")
    paths = [jpath, mpath]
    if plot is not None:
        plot(ppath)
        paths.append(ppath)
    return paths


def plot_ratios(
    path: str,
    *,
    title: str,
    xlabel: str,
    groups: Mapping[str, Sequence[tuple[str, float, str]]],
    quick: bool = False,
) -> None:
    """A PNG of horizontal bars, one panel per case: for each (label, ratio, kind) a bar
    from 1 (the baseline) to RATIO, coloured by KIND, log scale when ratios span more
    than 4x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    cases = [c for c, bars in groups.items() if bars]
    if not cases:
        return
    kinds = list(dict.fromkeys(k for c in cases for _, _, k in groups[c]))
    colour = {k: f"C{i}" for i, k in enumerate(kinds)}
    ratios = [r for c in cases for _, r, _ in groups[c]]
    lo, hi = min([*ratios, 1.0]), max([*ratios, 1.0])
    log = hi / lo > 4
    heights = [0.28 * len(groups[c]) + 0.8 for c in cases]
    longest = max(len(label) for c in cases for label, _, _ in groups[c])
    width = max(10.0, 5.0 + 0.062 * longest)  # room for the labels at 7 points
    fig, axes = plt.subplots(
        len(cases),
        1,
        figsize=(width, sum(heights) + 1.0),
        gridspec_kw={"height_ratios": heights},
        sharex=True,
        squeeze=False,
    )
    for ax, case in zip(axes[:, 0], cases, strict=True):
        bars = groups[case]
        y = np.arange(len(bars))
        vals = [r for _, r, _ in bars]
        ax.barh(
            y,
            [v - 1.0 for v in vals],
            left=1.0,
            color=[colour[k] for _, _, k in bars],
            height=0.7,
        )
        for yi, v in zip(y, vals, strict=True):
            ax.text(v, yi, f" {v:.2f}x ", va="center", ha="left" if v >= 1 else "right", fontsize=7)
        ax.set_yticks(y, [label for label, _, _ in bars], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_title(case, fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    ax0 = axes[0, 0]
    if log:
        ax0.set_xscale("log")
        ax0.set_xlim(lo / 1.6, hi * 1.6)
        ticks = [t for t in LOG_TICKS if lo / 1.6 <= t <= hi * 1.6]
        ax0.xaxis.set_major_locator(FixedLocator(ticks))
        ax0.xaxis.set_minor_locator(NullLocator())
    else:
        ax0.set_xlim(min(0.0, lo - 0.1), hi * 1.15)
    ax0.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    for ax in axes[:, 0]:
        ax.tick_params(axis="x", labelbottom=True, labelsize=7)
    axes[-1, 0].set_xlabel(xlabel + (" (log scale)" if log else ""))
    height = fig.get_figheight()
    fig.suptitle(
        title + ("\nQUICK SMOKE RUN: too few samples to quote" if quick else ""),
        fontsize=10,
        x=0.01,
        y=1 - 0.1 / height,
        ha="left",
        va="top",
        color="darkred" if quick else "black",
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[k]) for k in kinds]
    fig.legend(
        handles,
        kinds,
        loc="upper left",
        bbox_to_anchor=(0.01, 1 - 0.55 / height),
        fontsize=7,
        ncol=min(4, len(kinds)),
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / height))
    fig.subplots_adjust(left=max(fig.subplotpars.left, (0.058 * longest + 0.2) / width))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_json(cmd: Sequence[str], **kw: Any) -> dict[str, Any]:
    out = subprocess.run(list(cmd), capture_output=True, text=True, check=True, **kw)
    return json.loads(out.stdout.strip().splitlines()[-1])
