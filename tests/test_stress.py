"""tools/stress.py, short: 20,000 requests with bad neighbours, timeouts, cancellations,
queue-full refusals and schedulers closed with and without drain; every request ends
exactly once and as it should (a correctness test: nothing here asserts a timing)."""

from __future__ import annotations

from types import ModuleType

from conftest import SUMMARY, load_tool


def _stress() -> ModuleType:
    return load_tool("stress")


def test_stress_every_request_ends_exactly_once(backend):
    stress = _stress()
    r = stress.stress(requests=20_000, backend=backend, clients=4, seconds=120, seed=1)
    assert r["failures"] == {}, (r["failures"], r["examples"])
    assert r["pass"]
    assert r["requests"] == 20_000
    assert sum(r["outcomes"].values()) == 20_000
    # The faults happened: bad neighbours (failed, retried batches), timeouts,
    # cancellations, refusals, turnover.
    assert r["outcomes"]["failed"] > 0
    assert r["retried_batches"] > 0
    assert r["outcomes"]["cancelled"] > 0
    assert r["outcomes"]["timed_out"] > 0
    assert r["outcomes"]["ok"] > r["requests"] // 2
    assert r["schedulers"] > 2
    assert r["by_kind"]["bad"].get("ok", 0) == 0
    SUMMARY.append(
        f"stress [{backend}]: {r['requests']} requests -> "
        + ", ".join(f"{v} {k}" for k, v in r["outcomes"].items())
    )


def test_stress_main_exit_status(tmp_path, capsys):
    """The command line: prints the table, writes --json, exits 0."""
    import json

    out = tmp_path / "r.json"
    assert _stress().main(["--requests", "3000", "--backend", "python", "--json", str(out)]) == 0
    assert "pass" in capsys.readouterr().out
    assert json.loads(out.read_text())["requests"] == 3000
