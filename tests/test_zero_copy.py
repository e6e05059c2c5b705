"""Zero copy: big inputs are read in place, outputs are not copied on the way out,
and out= arrays are written in place.

Each check runs in a fresh process and compares its peak resident memory before and
after one run on a 256 MB tensor, so earlier tests' peaks can't hide a copy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import ortnative as ortn
import pytest
from ortnative import models

MB = 1024 * 1024
N = 64 * MB  # float32 elements: 256 MB

_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    import ortnative as ortn
    from ortnative import models

    backend, model, mode, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    build = {
        "reduce": models.reduce_sum,
        "named": lambda: models.identity("float32", shape=("N",)),
        "unnamed": lambda: models.identity("float32", shape=(None,)),
    }[model]
    s = ortn.Session(build(), backend=backend)
    feed = "x"
    s.run({feed: np.ones(16, np.float32)})  # warm up: ORT's lazy allocations
    x = np.ones(n, np.float32)              # pages touched before measuring
    out = None
    if mode == "out":
        out = {"y": np.full(n, 7.0, np.float32)}  # pages touched too
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = peak()
    y = s.run({feed: x}, out=out)
    after = peak()
    name = "s" if model == "reduce" else "y"
    ok = bool(np.all(y[name] == (n if model == "reduce" else 1)))
    same = out is not None and y["y"] is out["y"]
    print(json.dumps({"growth": after - before, "ok": ok, "same": same}))
    """
)


def _probe(backend: str, model: str, mode: str = "plain") -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, backend, model, mode, str(N)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.smoke
def test_input_is_read_in_place(backend):
    got = _probe(backend, "reduce")
    assert got["ok"]
    # A copy of the input would add 256 MB; allow a little for allocator noise.
    assert got["growth"] < 16 * MB, got


@pytest.mark.parametrize("model", ["named", "unnamed"])
def test_output_is_not_copied(backend, model):
    # "named": the native backend plans the output and ORT writes into a NumPy array;
    # "unnamed": the array wraps ORT's own buffer. Either way: one buffer, no copy.
    got = _probe(backend, model)
    assert got["ok"]
    size = N * 4
    assert got["growth"] < 1.25 * size, got


def test_out_is_written_in_place(backend):
    got = _probe(backend, "named", "out")
    assert got["ok"]
    assert got["same"]
    size = N * 4
    if backend == "native":
        # ORT writes straight into the caller's array: no second buffer.
        assert got["growth"] < 16 * MB, got
    else:
        # The fallback copies ORT's result into the array (documented: one copy).
        assert got["growth"] < 1.25 * size, got


def test_out_array_identity_and_pointer(make_session):
    s = make_session(models.mlp())
    x = np.ones((8, 256), np.float32)
    y = np.empty((8, 10), np.float32)
    ptr = y.ctypes.data
    got = s.run({"x": x}, out={"y": y})
    assert got["y"] is y
    assert y.ctypes.data == ptr
    np.testing.assert_allclose(y, s.run({"x": x})["y"], rtol=1e-6)


def test_results_are_independent_of_inputs(make_session):
    s = make_session(models.identity("float32", shape=("N",)))
    x = np.arange(5, dtype=np.float32)
    y = s.run({"x": x})["y"]
    x[:] = -1  # the output is its own buffer, not a view of the input
    np.testing.assert_array_equal(y, np.arange(5, dtype=np.float32))
    assert not np.shares_memory(x, y)


def test_outputs_are_writeable(make_session):
    s = make_session(models.identity("float32", shape=(None,)))
    y = s.run({"x": np.arange(3, dtype=np.float32)})["y"]
    y[0] = 42.0
    assert y[0] == 42.0


def test_reused_arrays_are_read_and_written_afresh(make_session):
    # The native backend keeps the ORT values that wrap a caller's memory and reuses them
    # when the same memory comes again: each call must still read the arrays' current
    # contents, write into the array it is given, and check shapes against these inputs.
    s = make_session(models.add_one(("N", 4)))
    a, b = np.zeros((2, 4), np.float32), np.full((3, 4), 5.0, np.float32)
    ya, yb = np.empty((2, 4), np.float32), np.empty((3, 4), np.float32)
    for step in range(6):
        a[:] = step
        s.run({"x": a}, out={"y": ya})
        np.testing.assert_array_equal(ya, step + 1)
        s.run({"x": b}, out={"y": yb})
        np.testing.assert_array_equal(yb, 6)
        s.run({"x": a[:1]}, out={"y": ya[:1]})  # other memory, same slot
        np.testing.assert_array_equal(ya[:1], step + 1)
    with pytest.raises(ortn.InvalidInputError, match=r"has shape \(2, 4\), but the model"):
        s.run({"x": b}, out={"y": ya})  # the same out= array, inputs of another shape
