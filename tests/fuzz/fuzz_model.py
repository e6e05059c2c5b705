"""Fuzz target: model bytes into Session, then a run with zero feeds.

Seeded with valid models made by onnx.helper, so mutation explores near-valid
protobufs. Both backends load the same bytes; they must agree on whether it loads
and, if it runs, on the results or the error. Free dimensions are fed as 1, and
inputs larger than a few thousand elements are not fed (the target hunts crashes,
not out-of-memory).
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["ortnative"]):
    import numpy as np
    import ortnative as ortn
    import ortnative._fallback
    from common import compare, main, outcome, seed_models

MAX_ELEMENTS = 4096


def _feeds(session: ortn.Session) -> dict[str, object] | None:
    feeds: dict[str, object] = {}
    for info in session.inputs:
        if info.dtype is None:
            return None
        shape = tuple(d if isinstance(d, int) else 1 for d in info.shape)
        if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) > MAX_ELEMENTS:
            return None
        if info.dtype == np.dtype(object):
            feeds[info.name] = np.full(shape, "a", dtype=object)
        else:
            feeds[info.name] = np.zeros(shape, info.dtype)
    return feeds


def test_one_input(data: bytes) -> None:
    loaded = {}
    for backend in ("native", "python"):
        loaded[backend] = outcome(lambda b=backend: ortn.Session(data, backend=b))
    # Both backends use the same ONNX Runtime, so they must agree on whether it
    # loads, and word a failure the same.
    if "error" in (loaded["native"][0], loaded["python"][0]):
        for kind, value in loaded.values():
            if kind == "ok":
                value.close()
        compare(loaded["native"], loaded["python"], "load")
        return
    native, python = loaded["native"][1], loaded["python"][1]
    try:
        if [(i.name, str(i.dtype), i.shape) for i in native.inputs] != [
            (i.name, str(i.dtype), i.shape) for i in python.inputs
        ]:
            compare(("ok", native.inputs), ("ok", python.inputs), "inputs")
        feeds = _feeds(native)
        if feeds is not None:
            compare(outcome(lambda: native.run(feeds)), outcome(lambda: python.run(feeds)), "run")
    finally:
        native.close()
        python.close()


if __name__ == "__main__":
    main(test_one_input, seed_models())
