"""Bad input to the Scheduler: a typed error whose message names what was wrong, the
same type and words on both backends, and a scheduler that keeps serving afterwards.

CASES is the catalogue (like tests/test_errors.py for sessions): each entry does one bad
thing on a scheduler serving the MLP as "mlp" (threads=1, max_batch_size=2,
max_queue_size=1) and names the exception and the message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import ortnative as ortn
import pytest
from conftest import check_error, require_backend
from ortnative import models
from test_scheduler import held

F32 = np.float32
MLP = models.mlp()


def x(rows: int = 1) -> np.ndarray:
    return np.zeros((rows, 256), F32)


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the bad input, in words
    act: Callable[[ortn.Scheduler], Any]  # gets a scheduler serving "mlp"
    exc: type[BaseException]
    match: str  # regular expression the message must match
    also: tuple[type[BaseException], ...] = ()


def _queue_full(s: ortn.Scheduler) -> None:
    queued = None
    try:
        with held(s, "mlp", {"x": x()}):
            queued = s.submit("mlp", {"x": x()})  # fills the queue of one
            s.submit("mlp", {"x": x()})
    finally:
        if queued is not None:  # it still runs, once the worker is free
            assert queued.result(60)["y"].shape == (1, 10)


def _timed_out(s: ortn.Scheduler) -> None:
    with held(s, "mlp", {"x": x()}):
        fut = s.submit("mlp", {"x": x()}, timeout_ms=1)
        fut.result(60)


def _closed_while_queued(s: ortn.Scheduler) -> None:
    # close() waits for the held worker, so it runs on a thread of its own; the queued
    # request fails as soon as the scheduler is marked closed, while the worker is held.
    closer = threading.Thread(target=s.close, kwargs={"drain": False})
    try:
        with held(s, "mlp", {"x": x()}):
            fut = s.submit("mlp", {"x": x()})
            closer.start()
            fut.result(60)
    finally:
        if closer.ident is not None:
            closer.join(60)
            assert not closer.is_alive()


def _closed(s: ortn.Scheduler) -> None:
    s.close()
    s.submit("mlp", {"x": x()})


def _closed_add(s: ortn.Scheduler) -> None:
    s.close()
    s.add_model("late", MLP)


ARG = ortn.InvalidArgumentError

CASES = [
    Case(
        "unknown-model",
        "a request for a model the scheduler does not serve",
        lambda s: s.submit("nope", {"x": x()}),
        ARG,
        r"^unknown model 'nope' \(models: 'mlp'\)$",
        (ValueError,),
    ),
    Case(
        "duplicate-model",
        "adding a model under a name already in use",
        lambda s: s.add_model("mlp", MLP),
        ARG,
        r"^a model named 'mlp' was already added$",
    ),
    Case(
        "fixed-batch",
        "max_batch_size > 1 for a model whose first dimension is fixed",
        lambda s: s.add_model("f", models.fixed_output(), max_batch_size=4),
        ARG,
        r"^model 'f': max_batch_size=4 needs every input and output to be a numeric tensor "
        r"with a free first \(batch\) dimension, but input 'x' has a fixed first dimension: "
        r"\[2, 3\]; use max_batch_size=1 for this model$",
    ),
    Case(
        "batch-scalar",
        "max_batch_size > 1 for a model with a scalar output",
        lambda s: s.add_model("s", models.reduce_sum(), max_batch_size=2),
        ARG,
        r"^model 's': max_batch_size=2 needs every input and output to be a numeric tensor "
        r"with a free first \(batch\) dimension, but output 's' has no dimensions; "
        r"use max_batch_size=1 for this model$",
    ),
    Case(
        "batch-strings",
        "max_batch_size > 1 for a string model",
        lambda s: s.add_model("i", models.identity("str"), max_batch_size=2),
        ARG,
        r"^model 'i': max_batch_size=2 needs every input and output to be a numeric tensor "
        r"with a free first \(batch\) dimension, but input 'x' is not a numeric tensor; "
        r"use max_batch_size=1 for this model$",
    ),
    Case(
        "batch-sequence",
        "max_batch_size > 1 for a model with a sequence input",
        lambda s: s.add_model("q", models.sequence_model(), max_batch_size=2),
        ARG,
        r"^model 'q': max_batch_size=2 needs every input and output to be a numeric tensor "
        r"with a free first \(batch\) dimension, but input 'seq' is not a numeric tensor; "
        r"use max_batch_size=1 for this model$",
    ),
    Case(
        "replicas",
        "replicas=0",
        lambda s: s.add_model("r", MLP, replicas=0),
        ARG,
        r"^replicas must be an int from 1 to 4096, got 0$",
    ),
    Case(
        "max-batch",
        "max_batch_size=0",
        lambda s: s.add_model("r", MLP, max_batch_size=0),
        ARG,
        r"^max_batch_size must be an int from 1 to 1048576, got 0$",
    ),
    Case(
        "model-timeout",
        "a model timeout of 0 ms",
        lambda s: s.add_model("r", MLP, timeout_ms=0),
        ARG,
        r"^timeout_ms must be a number of milliseconds > 0, or None, got 0$",
    ),
    Case(
        "preferred",
        "a preferred batch size above max_batch_size",
        lambda s: s.add_model("r", MLP, max_batch_size=4, preferred_batch_sizes=[8]),
        ARG,
        r"^each preferred batch size must be an int from 1 to 4 \(max_batch_size\), got 8$",
    ),
    Case(
        "model-name",
        "an empty model name",
        lambda s: s.add_model("", MLP),
        ARG,
        r"^a model name must be a non-empty str, got ''$",
    ),
    Case(
        "model-options",
        "a bad session option for a model",
        lambda s: s.add_model("m", MLP, graph_optimization="most"),
        ARG,
        r"^graph_optimization must be one of 'disable', 'basic', 'extended', 'all', "
        r"got 'most'$",
    ),
    Case(
        "model-bytes",
        "model bytes that are not a model",
        lambda s: s.add_model("m", b"not a model"),
        ortn.ModelLoadError,
        r"^model 'm': loading the model from 11 bytes failed: ",
    ),
    Case(
        "priority",
        "a priority that is not an int",
        lambda s: s.submit("mlp", {"x": x()}, priority=1.5),
        ARG,
        r"^priority must be an int from -2147483648 to 2147483647, got 1\.5$",
    ),
    Case(
        "request-timeout",
        "a negative request timeout",
        lambda s: s.submit("mlp", {"x": x()}, timeout_ms=-1),
        ARG,
        r"^timeout_ms must be a number of milliseconds > 0, or None, got -1$",
    ),
    Case(
        "feeds-dtype",
        "a request whose feed has the wrong dtype (as Session.run says it)",
        lambda s: s.submit("mlp", {"x": np.zeros((1, 256), np.float64)}),
        ortn.InvalidTypeError,
        r"^model 'mlp': input 'x' has dtype float64, expected float32 "
        r"\(ortnative never casts: convert with \.astype\(numpy\.float32\)\)$",
        (TypeError,),
    ),
    Case(
        "feeds-shape",
        "a request whose feed has the wrong width",
        lambda s: s.run("mlp", {"x": np.zeros((1, 100), F32)}),
        ortn.InvalidInputError,
        r"^model 'mlp': input 'x' has shape \(1, 100\), expected \[N, 256\] "
        r"\(dimension 1 must be 256\)$",
    ),
    Case(
        "queue-full",
        "a request to a full queue",
        _queue_full,
        ortn.QueueFullError,
        r"^model 'mlp': queue full \(max_queue_size=1\); request refused, try again later$",
    ),
    Case(
        "timed-out",
        "a request still queued at its deadline",
        _timed_out,
        ortn.RequestTimeoutError,
        r"^model 'mlp': request timed out after 1 ms in the queue; it never ran$",
        (TimeoutError,),
    ),
    Case(
        "closed-queued",
        "a queued request when the scheduler closes without draining",
        _closed_while_queued,
        ortn.SchedulerClosedError,
        r"^model 'mlp': the scheduler was closed before the request ran$",
    ),
    Case(
        "closed-submit",
        "a request after close()",
        _closed,
        ortn.SchedulerClosedError,
        r"^model 'mlp': the scheduler is closed; request refused$",
    ),
    Case(
        "closed-add",
        "add_model after close()",
        _closed_add,
        ortn.SchedulerClosedError,
        r"^the scheduler is closed; model 'late' was not added$",
    ),
    Case(
        "metrics-prefix",
        "a metrics prefix Prometheus would not accept",
        lambda s: s.metrics_text("9x"),
        ARG,
        r"^prefix must start a Prometheus metric name \(a letter or _, then letters, digits or _\), "
        r"got '9x'$",
    ),
]


def _trigger(case: Case, backend: str) -> BaseException:
    sched = ortn.Scheduler(threads=1, backend=backend)
    sched.add_model("mlp", MLP, max_batch_size=2, max_queue_size=1)
    with pytest.raises(case.exc) as info:
        case.act(sched)
    if not sched.closed:
        # The scheduler keeps serving after the error.
        assert sched.run("mlp", {"x": x()})["y"].shape == (1, 10)
    sched.close()
    return info.value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, backend: str) -> None:
    check_error(_trigger(case, backend), case)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_message_on_both_backends(case: Case) -> None:
    require_backend("native")
    native, python = _trigger(case, "native"), _trigger(case, "python")
    assert type(native) is type(python)
    assert str(native) == str(python)


def test_threads_argument(backend: str) -> None:
    with pytest.raises(ARG, match="threads must be an int from 0 to 4096"):
        ortn.Scheduler(threads=-1, backend=backend)
