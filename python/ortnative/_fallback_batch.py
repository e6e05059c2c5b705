"""The fallback scheduler's batches, as the core's cpp/src/scheduler_run.cpp: concatenate
requests along dimension 0 into a slot's staging buffers, run the model once, hand each
request its rows of every output; warm-up; the checks that decide whether a model can
batch. No lock here: a batch belongs to the worker that took it, and so does its slot.
The session is used through its public surface only (``input_specs``, ``output_specs``,
``prepare``, ``run_prepared``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import _messages as msg
from .errors import InvalidArgumentError, RunTerminatedError

if TYPE_CHECKING:
    from ._fallback import Spec
    from ._fallback_scheduler import Batch, Ending, Model, Pending
    from .options import RunOptions


class CannotSplitError(Exception):
    """A batch's outputs don't have one row per input row (the batch is retried alone)."""


def check_batchable(m: Model) -> None:
    """What the core's check_batchable refuses, worded the same."""

    def fail(what: str) -> None:
        raise m.error(InvalidArgumentError, msg.cannot_batch(m.max_batch_size, what))

    batch_dim: list[str] = []  # [name, who named it]

    def check(spec: Spec, role: str) -> None:
        who = f"{role} '{spec.name}'"
        if spec.kind != "tensor" or spec.dtype_name in ("str", "unsupported"):
            fail(f"{who} is not a numeric tensor")
        if not spec.shape:
            fail(f"{who} has no dimensions")
        first = spec.shape[0]
        if isinstance(first, int):
            fail(f"{who} has a fixed first dimension: {msg.format_model_shape(spec.shape)}")
        if not isinstance(first, str) or not first:
            return
        if not batch_dim:
            batch_dim.extend((first, who))
        elif first != batch_dim[0]:
            fail(
                f"{batch_dim[1]} and {who} name their first dimensions differently: "
                f"{batch_dim[0]} and {first}"
            )

    if not m.session.input_specs:
        fail("it has no inputs")
    for spec in m.session.input_specs:
        check(spec, "input")
    for spec in m.session.output_specs:
        check(spec, "output")


def execute(batch: Batch) -> tuple[list[Ending], bool]:
    """Runs a batch a worker took: (each request's ending, whether the batch failed, or
    was stopped because a request of it was cancelled, and its requests ran again alone,
    each for its own result or error)."""
    m, slot, taken, rows, _started = batch
    options = m.run_options[slot] if slot is not None else None
    if len(taken) == 1:
        return [run_alone(m, taken[0], options)], False
    assert slot is not None  # only a lone request runs outside the slots (at exit)
    try:
        outs = run_rows(m, slot, [(p.feeds, p.rows) for p in taken], rows, options)
    except Exception:  # noqa: BLE001 - each request then runs alone, for its own error
        return [run_alone(m, p, options) for p in taken], True
    return [(p, out, None) for p, out in zip(taken, outs, strict=False)], False


def run_alone(m: Model, p: Pending, options: RunOptions | None = None) -> Ending:
    """One request on its own, with its slot's run OPTIONS: its outputs, or the error its
    future gets. A request cancel() marked is not run (the scheduler ends it cancelled);
    a run stopped by the cancel of another request of the batch is run again."""
    while True:
        if options is not None:
            options.unset_terminate()  # reset first, then look: a later cancel stops this run
        if p.cancelled:
            return (p, None, None)
        try:
            return (p, m.session.run_prepared(p.feeds, p.given, options), None)
        except RunTerminatedError:
            continue  # its own cancel (then it is not run again), or another's
        except Exception as exc:  # noqa: BLE001 - delivered through the future
            return (p, None, exc)


def run_rows(
    m: Model,
    slot: int,
    parts: list[tuple[dict[str, Any], int]],
    rows: int,
    options: RunOptions | None = None,
) -> list[dict[str, Any]]:
    """Concatenates PARTS ((feeds, rows) per request) into SLOT's staging buffers, runs
    them once and returns each part's rows of every output (views of the batch's
    outputs). Raises CannotSplitError when an output lacks one row per input row."""
    staging = m.slots[slot]
    assert staging is not None
    feeds: dict[str, np.ndarray] = {}
    for name in m.inputs:
        head = parts[0][0][name]
        buf = staging.get(name)
        if buf is None or buf.dtype != head.dtype or buf.shape[1:] != head.shape[1:]:
            buf = np.empty((max(rows, m.max_batch_size), *head.shape[1:]), head.dtype)
            staging[name] = buf
        elif buf.shape[0] < rows:
            buf = np.empty((rows, *head.shape[1:]), head.dtype)
            staging[name] = buf
        out = buf[:rows]
        np.concatenate([f[name] for f, _ in parts], axis=0, out=out)
        feeds[name] = out
    results = m.session.run_prepared(feeds, feeds, options)
    for arr in results.values():
        if (
            not isinstance(arr, np.ndarray)
            or arr.ndim == 0
            or arr.shape[0] != rows
            or arr.dtype.kind in "OUS"
        ):
            raise CannotSplitError
    outs: list[dict[str, Any]] = []
    first = 0
    for _feeds, n in parts:
        outs.append({name: arr[first : first + n] for name, arr in results.items()})
        first += n
    return outs


def warm_up(m: Model) -> int:
    """Runs zeros once per batch size (1, the preferred sizes, max_batch_size) on each
    replica's slot; returns the number of runs."""
    sizes = {1}
    if m.batching:
        sizes.update(m.preferred)
        sizes.add(m.max_batch_size)
    runs = 0
    for size in sorted(sizes):
        feeds: dict[str, Any] = {}
        for spec in m.session.input_specs:
            if spec.kind == "tensor":
                shape = tuple(
                    d if isinstance(d, int) else (size if i == 0 else 1)
                    for i, d in enumerate(spec.shape)
                )
                if spec.dtype_name == "str":
                    feeds[spec.name] = np.full(shape, "", dtype=object)
                else:
                    feeds[spec.name] = np.zeros(shape, spec.dtype)
            elif spec.kind == "sequence":
                feeds[spec.name] = []
            elif not spec.kind.startswith("optional"):
                raise m.error(InvalidArgumentError, msg.warmup_no_value(spec.name))
        for slot in range(m.replicas):
            if m.slots[slot] is None:
                m.slots[slot] = {}
            if m.batching:
                try:
                    run_rows(m, slot, [(feeds, size)], size)
                except CannotSplitError:
                    raise m.error(InvalidArgumentError, msg.warmup_cannot_split(size)) from None
            else:
                given, ort_feeds = m.session.prepare(feeds)
                m.session.run_prepared(ort_feeds, given)
            runs += 1
    return runs
