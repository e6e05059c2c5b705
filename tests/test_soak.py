"""tools/soak.py's scheduler worker, for a few seconds on each backend: its traffic
(bad neighbours, timeouts, cancellations, queue-full refusals, close and recreate)
runs and every request ends as it should. (The soak itself, with its memory, thread
and file-descriptor checks, is tools/soak.py.)"""

from __future__ import annotations

import random
import threading
from types import ModuleType

from conftest import load_tool


def _soak() -> ModuleType:
    return load_tool("soak")


def test_soak_scheduler_worker(backend):
    soak = _soak()
    assert "scheduler" in soak.WORKERS  # in the default mix
    stop, counters, errors = threading.Event(), soak.Counters(), []

    def body() -> None:
        try:
            soak.scheduler(stop, backend, counters, random.Random(3))
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    t = threading.Thread(target=body)
    t.start()
    threading.Event().wait(7)
    stop.set()
    t.join(120)
    assert not t.is_alive()
    assert not errors, errors
    work = counters.counts
    assert work.get("sched_schedulers", 0) >= 2, work
    assert work.get("sched_ok", 0) > 100, work
    assert work.get("sched_failed_bad_input", 0) > 0, work
    assert work.get("sched_cancelled", 0) > 0, work
