"""What ortnative does when the interpreter exits: one ``atexit`` handler, in two steps.

Python ends a program in this order: the main thread returns (or raises), non-daemon
threads are joined, ``atexit`` handlers run (last registered first), then the interpreter
finalises: module globals are cleared (a ``Scheduler`` kept in one is dropped there) and
daemon threads are ended where they next try to take the GIL.

1. **Schedulers.** Every open :class:`~ortnative.Scheduler` is closed with
   ``drain=False`` while the interpreter is still whole: running batches finish and
   deliver their results, queued requests end with :class:`SchedulerClosedError`, the
   scheduler's threads stop. (Their callbacks need the interpreter; after this point
   they could not run.) A scheduler closed or dropped later (a ``__del__`` during
   finalisation) closes without waiting for threads: see cpp/python/gil.hpp.
2. **The python backend's calls into onnxruntime.** onnxruntime's own bindings abort the
   process (Python < 3.14: "terminate called without an active exception") when a
   daemon thread is inside ``InferenceSession.run`` (or its constructor) as the
   interpreter finalises. So from here on the python backend lets only the exiting
   thread call into onnxruntime: a daemon thread that tries parks for good (as the
   native backend's threads do at finalisation, and as Python 3.14 does with daemon
   threads), any other thread gets :class:`SessionClosedError` (or
   :class:`ModelLoadError` for a new session); and this handler waits for the calls
   already inside onnxruntime to return. The native backend needs none of this: its
   threads park on their own (see cpp/python/gil.hpp).

The handler is registered when ortnative is imported, so it runs after the ``atexit``
handlers registered later (a program's own ``atexit.register(sched.close)`` closes its
scheduler first, draining if it asks to).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from typing import Any, NoReturn

#: One entry per python-backend call now inside onnxruntime (``list.append`` and
#: ``list.pop`` are atomic: no lock on the per-call path). A caller appends, then checks
#: ``exiting`` (see may_run), then calls, then pops; the handler sets ``exiting``, then
#: waits for the list to empty: a call is either waited for or refused.
inside_ort: list[None] = []
#: Set once the exit handler has run: python-backend runs from other threads are refused.
exiting = False
_exit_thread: int | None = None
_schedulers: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()


def track(scheduler: Any) -> None:
    """Closes SCHEDULER at exit if it is still open then (held weakly)."""
    with _lock:
        _schedulers.add(scheduler)


def may_run() -> bool:
    """Whether a python-backend call into onnxruntime may start on this thread now."""
    return not exiting or threading.get_ident() == _exit_thread


def refuse(error: Exception) -> NoReturn:
    """For a thread that may not call into onnxruntime now (see may_run): a daemon thread
    parks for good (the process is ending and nothing waits for it); any other thread
    gets ERROR (something may be joining it: it must not hang)."""
    inside_ort.pop()  # the caller's entry: it will not call
    if threading.current_thread().daemon:
        threading.Event().wait()
    raise error


class OrtCall:
    """``with OrtCall(error):`` around a python-backend call into onnxruntime that is not
    on the per-call path (session creation); runs inline it the same way (see
    _fallback.PythonSession._ort_run)."""

    __slots__ = ("_error",)

    def __init__(self, error: Exception) -> None:
        self._error = error

    def __enter__(self) -> None:
        inside_ort.append(None)
        if exiting and not may_run():
            refuse(self._error)

    def __exit__(self, *exc: object) -> None:
        inside_ort.pop()


@atexit.register
def _at_exit() -> None:
    global exiting, _exit_thread
    with _lock:
        alive = list(_schedulers)
    for sched in alive:
        sched.close(drain=False)
    _exit_thread = threading.get_ident()
    exiting = True
    while inside_ort:  # runs that started before `exiting` was set; they are short
        time.sleep(0.001)
