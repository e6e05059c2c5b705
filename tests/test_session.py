"""Session behaviour, the same on both backends."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle

import numpy as np
import ortnative as ortn
import pytest
from ortnative import models


@pytest.mark.smoke
def test_metadata(make_session):
    s = make_session(models.two_inputs())
    assert [i.name for i in s.inputs] == ["a", "b"]
    assert [o.name for o in s.outputs] == ["sum", "prod"]
    assert s.inputs[0] == ortn.TensorInfo("a", np.dtype(np.float32), ("N", 3))
    assert s.inputs[0].dtype == np.float32
    assert repr(s.inputs[0]) == "TensorInfo('a', float32, [N, 3])"
    assert s.name == "<bytes>"
    assert "inputs=(a: float32 [N, 3], b: float32 [N, 3])" in repr(s)
    md = s.metadata()
    assert md["producer_name"] == "ortnative.models"
    assert md["graph_name"] == "two_inputs"


def test_repr_names_an_unsupported_type(make_session):
    # One formatter for inputs and outputs: Session's repr wrote "None" where TensorInfo
    # writes "unsupported" (a float8 tensor has no NumPy dtype).
    from onnx import TensorProto, helper

    def info(name: str) -> object:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT8E4M3FN, [2])

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g", [info("x")], [info("y")]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    s = make_session(model.SerializeToString())
    assert s.inputs[0].dtype is None
    assert repr(s.inputs[0]) == "TensorInfo('x', unsupported, [2])"
    assert "inputs=(x: unsupported [2]) outputs=(y: unsupported [2])" in repr(s)


def test_unknown_dims_are_none(make_session):
    s = make_session(models.identity("float32", shape=(None, 2)))
    assert s.inputs[0].shape == (None, 2)


@pytest.mark.smoke
def test_run_forms_agree(make_session):
    s = make_session(models.two_inputs())
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 2.0, np.float32)
    want_sum, want_prod = a + b, a * b
    for feeds in ({"a": a, "b": b}, [a, b], (a, b)):
        got = s.run(feeds)
        assert list(got) == ["sum", "prod"]
        np.testing.assert_array_equal(got["sum"], want_sum)
        np.testing.assert_array_equal(got["prod"], want_prod)


def test_single_array_feed_and_mapping(make_session):
    from types import MappingProxyType

    s = make_session(models.add_one((2, 2)))
    x = np.eye(2, dtype=np.float32)
    np.testing.assert_array_equal(s.run(x)["y"], x + 1)
    np.testing.assert_array_equal(s.run(MappingProxyType({"x": x}))["y"], x + 1)


def test_run_keywords(make_session):
    s = make_session(models.two_inputs())
    a = np.ones((1, 3), np.float32)
    out = np.empty((1, 3), np.float32)
    got = s.run(feeds={"a": a, "b": a}, outputs=["sum"], out={"sum": out})
    assert got["sum"] is out
    np.testing.assert_array_equal(out, a + a)
    with pytest.raises(TypeError):
        s.run({"a": a, "b": a}, outputz=["sum"])
    with pytest.raises(TypeError):
        s.run()
    with pytest.raises(TypeError):
        s.run({"a": a, "b": a}, None, None, None)


def test_outputs_subset(make_session):
    s = make_session(models.two_inputs())
    a = np.ones((1, 3), np.float32)
    got = s.run({"a": a, "b": a}, ["prod"])
    assert list(got) == ["prod"]
    got = s.run({"a": a, "b": a}, outputs=["prod", "sum"])
    assert list(got) == ["prod", "sum"]


@pytest.mark.smoke
def test_out_written_in_place(make_session):
    s = make_session(models.two_inputs())
    a = np.arange(3, dtype=np.float32)[None]
    out_sum = np.full((1, 3), -1.0, np.float32)
    got = s.run({"a": a, "b": a}, out={"sum": out_sum})
    assert got["sum"] is out_sum
    np.testing.assert_array_equal(out_sum, a + a)
    np.testing.assert_array_equal(got["prod"], a * a)


def test_non_contiguous_input_is_accepted(make_session):
    s = make_session(models.add_one(("N", 4)))
    base = np.arange(32, dtype=np.float32).reshape(8, 4)
    view = base[::2]  # strided rows
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(s.run({"x": view})["y"], view + 1)
    fortran = np.asfortranarray(base)
    np.testing.assert_array_equal(s.run({"x": fortran})["y"], base + 1)


@pytest.mark.parametrize(
    "dtype",
    [
        "float32",
        "float64",
        "float16",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "bool",
    ],
)
@pytest.mark.smoke
def test_dtypes_round_trip(make_session, dtype):
    s = make_session(models.identity(dtype, shape=("N", 3)))
    assert s.inputs[0].dtype == np.dtype(dtype)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 3)) * 50).astype(dtype)
    y = s.run({"x": x})["y"]
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, x)


def test_bfloat16_round_trip(make_session):
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 arrays need ml_dtypes")
    s = make_session(models.identity("bfloat16", shape=("N",)))
    assert s.inputs[0].dtype == np.dtype(ml_dtypes.bfloat16)
    x = np.array([1.5, -2.0, 3.25], dtype=ml_dtypes.bfloat16)
    y = s.run({"x": x})["y"]
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y.astype(np.float32), x.astype(np.float32))


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.array(["a", "héllo", "", "z" * 100]),
        lambda: np.array(["a", "héllo", "", "z" * 100], dtype=object),
        lambda: ["a", "héllo", "", "z" * 100],
        lambda: np.array([b"a", "héllo".encode(), b"", b"z" * 100]),
    ],
    ids=["unicode", "object", "list", "bytes"],
)
@pytest.mark.smoke
def test_strings_round_trip(make_session, make):
    s = make_session(models.identity("str", shape=("N",)))
    assert s.inputs[0].dtype == np.dtype(object)
    y = s.run({"x": make()})["y"]
    assert y.dtype == np.dtype(object)
    assert y.tolist() == ["a", "héllo", "", "z" * 100]


def test_strings_keep_embedded_nuls(make_session):
    s = make_session(models.identity("str", shape=("N",)))
    for x in (np.array(["\x00Q", "a\x00b", "z\x00"]), ["\x00Q", "a\x00b", "z\x00"]):
        # NumPy drops trailing NULs of 'U' elements ("z\x00" reads back as "z"); others stay.
        want = [str(v) for v in np.asarray(x)]
        assert s.run({"x": x})["y"].tolist() == want


def test_scalar_and_empty(make_session):
    s = make_session(models.reduce_sum())
    got = s.run({"x": np.arange(10, dtype=np.float32)})["s"]
    assert got.shape == ()
    assert got == 45
    assert s.run({"x": np.zeros(0, np.float32)})["s"] == 0
    e = make_session(models.identity("float32", shape=("N", 3)))
    y = e.run({"x": np.zeros((0, 3), np.float32)})["y"]
    assert y.shape == (0, 3)


@pytest.mark.smoke
def test_sequences(make_session):
    s = make_session(models.sequence_model())
    parts = [np.array([1.0, 2.0], np.float32), np.array([3.0], np.float32)]
    got = s.run({"seq": parts})
    np.testing.assert_array_equal(got["total"], [1.0, 2.0, 3.0])
    assert isinstance(got["parts"], list)
    assert len(got["parts"]) == 2
    np.testing.assert_array_equal(got["parts"][1], [3.0])


def test_model_from_path_and_pathlike(make_session, tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(models.add_one())
    for model in (str(p), p):
        s = make_session(model)
        assert s.name == "m.onnx"
        np.testing.assert_array_equal(s.run({"x": np.zeros((1, 4), np.float32)})["y"], 1)


def test_model_from_bytearray_and_memoryview(make_session):
    data = models.add_one()
    for model in (bytearray(data), memoryview(data)):
        s = make_session(model)
        assert s.run({"x": np.zeros((1, 4), np.float32)})["y"][0, 0] == 1


def test_session_options(make_session):
    opts = [
        {"intra_op_threads": 1},
        {"inter_op_threads": 2, "execution_mode": "parallel"},
        {"graph_optimization": "disable"},
        {"graph_optimization": "basic", "config": {"session.disable_prepacking": "1"}},
        {"providers": ["CPUExecutionProvider"]},
    ]
    x = np.ones((3, 256), np.float32)
    want = None
    for kw in opts:
        y = make_session(models.mlp(), **kw).run({"x": x})["y"]
        if want is None:
            want = y
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_declared_shape_that_lies(make_session):
    # ORT runs models whose declared output shape is wrong; so must we, every time.
    s = make_session(models.lying_shape())
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    for _ in range(3):
        y = s.run({"x": x})["y"]
        np.testing.assert_array_equal(y, np.concatenate([x, x], axis=1))


def test_run_async_and_arun(make_session):
    s = make_session(models.add_one(("N", 4)))
    xs = [np.full((2, 4), i, np.float32) for i in range(16)]
    futs = [s.run_async({"x": x}) for x in xs]
    for x, f in zip(xs, futs, strict=False):
        np.testing.assert_array_equal(f.result(timeout=60)["y"], x + 1)

    async def main():
        return await asyncio.gather(*(s.arun({"x": x}) for x in xs))

    for x, got in zip(xs, asyncio.run(main()), strict=False):
        np.testing.assert_array_equal(got["y"], x + 1)


@pytest.mark.smoke
def test_close_and_context_manager(make_session, backend):
    with ortn.Session(models.add_one(), backend=backend) as s:
        y = s.run({"x": np.zeros((1, 4), np.float32)})["y"]
        assert not s.closed
    assert s.closed
    s.close()  # idempotent
    np.testing.assert_array_equal(y, 1)  # results outlive the session
    with pytest.raises(ortn.SessionClosedError, match=r"model '<bytes>': session is closed"):
        s.run({"x": np.zeros((1, 4), np.float32)})
    assert "closed" in repr(s)


@pytest.mark.smoke
def test_outputs_outlive_session(backend):
    from ortnative import _backend

    def live() -> int:
        return _backend.native_module()._live_values() if backend == "native" else 0

    # Outputs of earlier tests still held by reference cycles (exceptions and their
    # tracebacks) would be freed by the collections below and skew the count.
    gc.collect()
    before = live()
    # A free, unnamed output dimension: the native backend cannot plan the shape, so
    # the output wraps ORT's own memory (the capsule path the counter tracks).
    s = ortn.Session(models.identity("float32", shape=(None, 3)), backend=backend)
    x = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    y = s.run({"x": x})["y"]
    if backend == "native":
        assert live() == before + 1
    s.close()
    del s
    gc.collect()
    churn = [np.full(10000, i, np.float64) for i in range(50)]  # reuse freed heap
    assert len(churn) == 50
    np.testing.assert_array_equal(y, x)
    view = y[10:20]  # a view keeps the memory alive too
    del y
    gc.collect()
    np.testing.assert_array_equal(view, x[10:20])
    del view
    gc.collect()
    assert live() == before


def test_pickle_round_trip(make_session, backend, tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(models.add_one())
    x = np.zeros((1, 4), np.float32)
    for model in (models.add_one(), str(p)):
        s = ortn.Session(model, backend=backend, intra_op_threads=1, keep_model=True)
        s2 = pickle.loads(pickle.dumps(s))
        assert s2.backend == backend
        assert s2.inputs == s.inputs
        np.testing.assert_array_equal(s2.run({"x": x})["y"], 1)
        s.close()
        s2.close()


def test_bytes_are_not_kept_unless_asked(backend):
    import sys

    model = models.add_one()
    before = sys.getrefcount(model)
    s = ortn.Session(model, backend=backend)
    assert sys.getrefcount(model) == before  # the caller's bytes are not held
    with pytest.raises(TypeError, match="loaded from bytes and keeps no copy of them"):
        pickle.dumps(s)
    kept = ortn.Session(bytearray(model), backend=backend, keep_model=True)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(kept)).run({"x": np.zeros((1, 4), np.float32)})["y"], 1
    )
    s.close()
    kept.close()


def _pool_run(args):
    session, value = args
    return float(session.run({"x": np.full((1, 4), value, np.float32)})["y"].sum())


def test_session_in_process_pool(backend):
    import multiprocessing

    s = ortn.Session(models.add_one(), backend=backend, keep_model=True)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        got = pool.map(_pool_run, [(s, float(i)) for i in range(4)])
    assert got == [4.0 * (i + 1) for i in range(4)]


@pytest.mark.smoke
def test_ort_version_and_providers(backend):
    import onnxruntime

    assert ortn.ort_version(backend) == onnxruntime.__version__
    assert "CPUExecutionProvider" in ortn.available_providers(backend)


def test_dir_and_all():
    assert set(dir(ortn)) == set(ortn.__all__)
    for name in ortn.__all__:
        assert hasattr(ortn, name), name


def test_backend_choice_is_reported():
    assert ortn.backend in ("native", "python")
    if os.environ.get("ORTNATIVE_BACKEND") == "python":
        assert ortn.backend == "python"
