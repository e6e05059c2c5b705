"""Shared by the exit scripts (tests/test_exit.py runs each as a program of its own).

Import it BEFORE ortnative: its atexit handler is then registered first, so it runs
last, after ortnative's own exit handler, and can report how every request ended.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import sys
import threading
from typing import Any

outcomes: collections.Counter[str] = collections.Counter()
_lock = threading.Lock()
_expected = [0]


def watch(fut: concurrent.futures.Future[Any]) -> None:
    """Counts how FUT ends (its done-callback runs on whichever thread ends it)."""
    _expected[0] += 1

    def done(f: concurrent.futures.Future[Any]) -> None:
        if f.cancelled():
            kind = "cancelled"
        elif f.exception() is not None:
            kind = type(f.exception()).__name__
        else:
            kind = "result"
        with _lock:
            outcomes[kind] += 1

    fut.add_done_callback(done)


@atexit.register
def _report() -> None:
    if _expected[0]:
        with _lock:
            ended = sum(outcomes.values())
            parts = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        print(f"ended {ended} of {_expected[0]}: {parts}", flush=True)
    sys.stdout.flush()


def slow_model() -> tuple[bytes, Any]:
    """An MLP and an input that keep a run busy for tens of milliseconds."""
    import numpy as np
    from ortnative import models

    return models.mlp((1024, 1024, 1024, 10)), np.ones((256, 1024), np.float32)


def small_model() -> tuple[bytes, Any]:
    import numpy as np
    from ortnative import models

    return models.add_one(("N", 4)), np.zeros((1, 4), np.float32)
