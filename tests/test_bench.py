"""The benchmark suites' result files: a ``--quick`` smoke run never overwrites the committed
tables (bench/results/<suite>.{json,md,png}); it writes <suite>.quick.* beside them, which
git ignores. Nothing here times anything: each suite's main() runs with its measuring
functions replaced by canned rows, into a temporary results directory."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from typing import Any

import pytest
from conftest import git, require_backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
SUITES = ("session", "preprocess", "scheduler", "compat", "serve", "interop")
EXTS = ("json", "md", "png")


def bench_module(name: str) -> Any:
    """bench/NAME.py, imported the way bench/run.py imports it (bench/ on sys.path)."""
    if not os.path.isdir(BENCH):
        pytest.skip("needs the source checkout's bench/ (e.g. not when testing a wheel)")
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    return importlib.import_module(name)


def digests(directory: str) -> dict[str, str]:
    out = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_quick_paths_are_beside_the_committed_ones_and_ignored() -> None:
    common = bench_module("common")
    run = bench_module("run")
    assert tuple(run.SUITES) == SUITES
    for suite in SUITES:
        for ext in EXTS:
            full = common.result_path(suite, ext, quick=False)
            quick = common.result_path(suite, ext, quick=True)
            assert full == os.path.join(ROOT, "bench", "results", f"{suite}.{ext}")
            assert quick == os.path.join(ROOT, "bench", "results", f"{suite}.quick.{ext}")
            rel_full, rel_quick = os.path.relpath(full, ROOT), os.path.relpath(quick, ROOT)
            ignored = git("check-ignore", "--no-index", rel_quick)
            assert ignored.returncode == 0, f"{rel_quick} is not gitignored: {ignored.stderr}"
            assert git("check-ignore", "--no-index", rel_full).returncode == 1, rel_full


def canned_rows(suite: str, mod: Any, common: Any) -> list[Any]:
    """A few rows with the suite's real variant names (its notes and plot look them up)."""
    stats = common.Stats(n=10, median_us=2.0, p99_us=3.0, p25_us=1.5, p75_us=2.5, mean_us=2.1)
    slower = common.Stats(n=10, median_us=4.0, p99_us=6.0, p25_us=3.5, p75_us=4.5, mean_us=4.1)
    if suite == "session":
        return [
            common.Row("y=x+1 [1,4]", "onnxruntime run", slower, threads="1", output="new"),
            common.Row("y=x+1 [1,4]", "ortnative", stats, threads="1", output="new"),
        ]
    if suite == "compat":
        return [
            common.Row("y=x+1 [1,4]", "onnxruntime run", slower, threads="1", output="new"),
            common.Row("y=x+1 [1,4]", "compat InferenceSession.run", stats, threads="1"),
        ]
    if suite == "serve":
        return [
            common.Row("MLP, 64 clients", name, st, extra={"clients": 64, "throughput_rps": rps})
            for name, st, rps in ((mod.FASTAPI, slower, 100.0), (mod.ORTN_BATCH, stats, 300.0))
        ]
    if suite == "interop":
        return [
            common.Row("TinyNet b1", mod.BASELINE, slower, threads="1", output=mod.NEW),
            common.Row("TinyNet b1", mod.COMPILED, None, note="did not run here: X", threads="1"),
            common.Row("TinyNet b1", "ortnative, DLPack in and out", stats, threads="1"),
        ]
    if suite == "preprocess":
        case = "1080p -> 224 NCHW f32 normalised, 1 image"
        return [
            common.Row(case, mod.BASELINE, slower, threads="1", output=mod.FRESH),
            common.Row(case, f"ortnative, {mod.ONE}, allocating", stats, output=mod.FRESH),
        ]
    rows = [
        common.Row(
            "MLP, 64 clients",
            name,
            st,
            extra={"throughput_rps": rps, "clients": "64 threads"},
            threads="t",
            output=mod.OUTPUT,
        )
        for name, st, rps in (
            (mod.NAIVE_DEFAULT, slower, 100.0),
            (mod.NAIVE_ONE, slower, 120.0),
            (mod.BATCHING, stats, 300.0),
            (mod.AIO_DEFAULT, slower, 90.0),
            (mod.AIO_ONE, slower, 80.0),
            (mod.ASYNCIO, stats, 250.0),
        )
    ]
    return mod.pick_best(rows)


@pytest.mark.parametrize("suite", SUITES)
def test_a_quick_run_never_overwrites_the_committed_tables(
    suite: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_backend("native")  # the suites measure the native backend and say so
    common = bench_module("common")
    mod = bench_module(suite)
    committed = os.path.join(ROOT, "bench", "results")
    before = digests(committed)
    results = tmp_path / "results"
    results.mkdir()
    for ext in EXTS:  # stand-ins for the committed tables
        (results / f"{suite}.{ext}").write_text(f"committed {ext}\n")
    monkeypatch.setattr(common, "RESULTS", str(results))
    drawn: list[str] = []

    def fake_plot(path: str, **kw: Any) -> None:
        assert kw["quick"] is True
        drawn.append(path)
        with open(path, "wb") as f:
            f.write(b"png")

    monkeypatch.setattr(mod, "plot_ratios", fake_plot, raising=suite != "serve")
    rows = canned_rows(suite, mod, common)
    argv = ["--quick"]
    if suite == "session":
        monkeypatch.setattr(mod, "run", lambda args: rows)
        monkeypatch.setattr(mod, "import_time", lambda module: 1.0)
    elif suite == "preprocess":
        monkeypatch.setattr(mod, "image_cases", lambda scale: rows)
        monkeypatch.setattr(mod, "end_to_end", lambda scale: [])
    elif suite == "interop":
        monkeypatch.setattr(mod, "build", lambda: (None, b"", None))
        monkeypatch.setattr(mod, "bench_case", lambda *a: rows)
        argv += ["--cases", "b1"]
    elif suite == "serve":
        monkeypatch.setattr(mod, "_has", lambda module: True)
        monkeypatch.setattr(mod, "bench_case", lambda *a: rows)
        monkeypatch.setattr(mod, "plot", lambda rows: lambda path: fake_plot(path, quick=True))
        argv += ["--cases", "MLP", "--clients", "64", "--variants", mod.FASTAPI, mod.ORTN_BATCH]
    elif suite == "compat":
        monkeypatch.setattr(mod, "CASES", {"y=x+1 [1,4]": (lambda: b"", dict, 1)})
        monkeypatch.setattr(mod, "bench_case", lambda *a: rows)
        argv += ["--no-silero"]
    else:
        monkeypatch.setattr(mod, "bench_case", lambda case, n, scale, rounds: rows)
        monkeypatch.setattr(mod, "build_floor", lambda target: None)
        monkeypatch.setattr(
            mod,
            "ceiling",
            lambda case, scale: common.Row(
                f"{case}, reference", mod.CEILING, rows[0].stats, extra={"throughput_rps": 1.0}
            ),
        )
        argv += ["--cases", "MLP", "--clients", "64", "--no-floor"]
    assert mod.main(argv) == 0

    for ext in EXTS:
        assert (results / f"{suite}.{ext}").read_text() == f"committed {ext}\n"
    assert drawn == [str(results / f"{suite}.quick.png")]
    data = json.loads((results / f"{suite}.quick.json").read_text())
    assert data["quick"] is True
    assert [r["variant"] for r in data["rows"]][: len(rows)] == [r.variant for r in rows]
    md = (results / f"{suite}.quick.md").read_text()
    assert common.QUICK_BANNER in md
    assert "--quick`" in md
    assert f"![{suite}]({suite}.quick.png)" in md
    assert sorted(os.listdir(results)) == sorted(
        [f"{suite}.{ext}" for ext in EXTS] + [f"{suite}.quick.{ext}" for ext in EXTS]
    )
    assert digests(committed) == before  # and the real tables were never touched


def test_a_full_run_writes_the_committed_names(tmp_path: Any) -> None:
    """The other half of the path logic: without quick, write_results writes <suite>.*."""
    common = bench_module("common")
    stats = common.Stats(n=1, median_us=1.0, p99_us=1.0, p25_us=1.0, p75_us=1.0, mean_us=1.0)
    rows = [common.Row("c", "base", stats, threads="1", output="new array per call")]
    paths = common.write_results(
        "demo",
        rows,
        method="m",
        baseline="base",
        results=str(tmp_path),
        plot=lambda path: open(path, "wb").close(),
    )
    assert [os.path.basename(p) for p in paths] == ["demo.json", "demo.md", "demo.png"]
    md = (tmp_path / "demo.md").read_text()
    assert common.QUICK_BANNER not in md
    assert "| c | base | 1 | new array per call | 1.00 us |" in md
    assert json.loads((tmp_path / "demo.json").read_text())["quick"] is False
