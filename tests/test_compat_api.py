"""onnxruntime's inference API, behaviour by behaviour, checked with the same assertions
against ``onnxruntime.InferenceSession`` itself and ``ortnative.compat.InferenceSession``
on both ortnative backends: a divergence is a failing test, not an opinion.

Where onnxruntime raises, the compat session must raise an instance of the same class;
it must also be an ``ortnative.Error`` of the expected type (checked for compat only,
since onnxruntime's own exceptions are not).
"""

from __future__ import annotations

import json
import os
import pickle
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime
import ortnative as ortn
import pytest
from conftest import require_backend, run_threads
from onnxruntime.capi import onnxruntime_pybind11_state as C
from onnxruntime.capi.onnxruntime_inference_collection import InferenceSession as OrtSession
from ortnative import compat, models

h = onnx.helper
T = onnx.TensorProto


# -- models --------------------------------------------------------------------------
def _model(graph: Any, opsets: dict[str, int] | None = None, ir: int = 8) -> Any:
    ops = [h.make_opsetid(d, v) for d, v in (opsets or {"": 17}).items()]
    m = h.make_model(graph, opset_imports=ops, producer_name="ortnative.tests")
    m.ir_version = ir
    return m


def three_outputs() -> bytes:
    nodes = [
        h.make_node("Identity", ["x"], ["a"]),
        h.make_node("Neg", ["x"], ["b"]),
        h.make_node("Abs", ["x"], ["c"]),
    ]
    g = h.make_graph(
        nodes,
        "three",
        [h.make_tensor_value_info("x", T.FLOAT, ["N", 2])],
        [h.make_tensor_value_info(n, T.FLOAT, ["N", 2]) for n in "abc"],
    )
    return bytes(_model(g).SerializeToString())


def overridable() -> bytes:
    w = onnx.numpy_helper.from_array(np.full((4,), 2, np.float32), "w")
    g = h.make_graph(
        [h.make_node("Mul", ["x", "w"], ["y"])],
        "mul",
        [h.make_tensor_value_info("x", T.FLOAT, [4]), h.make_tensor_value_info("w", T.FLOAT, [4])],
        [h.make_tensor_value_info("y", T.FLOAT, [4])],
        [w],
    )
    return bytes(_model(g).SerializeToString())


def zipmap() -> bytes:
    seq_map = h.make_sequence_type_proto(
        h.make_map_type_proto(T.INT64, h.make_tensor_type_proto(T.FLOAT, []))
    )
    g = h.make_graph(
        [
            h.make_node("ArgMax", ["X"], ["L"], axis=1, keepdims=0),
            h.make_node("ZipMap", ["X"], ["Z"], domain="ai.onnx.ml", classlabels_int64s=[0, 1, 2]),
        ],
        "zipmap",
        [h.make_tensor_value_info("X", T.FLOAT, ["N", 3])],
        [h.make_tensor_value_info("L", T.INT64, ["N"]), h.make_value_info("Z", seq_map)],
    )
    return bytes(_model(g, {"": 17, "ai.onnx.ml": 1}).SerializeToString())


def with_metadata() -> bytes:
    m = onnx.load_from_string(models.add_one((1, 4)))
    m.doc_string = "model doc"
    m.domain = "ai.ortnative.test"
    m.model_version = 7
    m.graph.doc_string = "graph doc"
    h.set_model_props(m, {"author": "tests", "k": "v"})
    return bytes(m.SerializeToString())


def reshape() -> bytes:
    g = h.make_graph(
        [h.make_node("Reshape", ["x", "s"], ["y"])],
        "reshape",
        [
            h.make_tensor_value_info("x", T.FLOAT, ["N"]),
            h.make_tensor_value_info("s", T.INT64, [1]),
        ],
        [h.make_tensor_value_info("y", T.FLOAT, None)],
    )
    return bytes(_model(g).SerializeToString())


# -- the implementations under test --------------------------------------------------
@dataclass
class Impl:
    name: str
    session: Callable[..., Any]
    SessionOptions: type
    RunOptions: type
    compat: bool


IMPLS = ("onnxruntime", "compat-native", "compat-python")


def _impl(name: str) -> Impl:
    if name == "onnxruntime":
        return Impl(name, OrtSession, C.SessionOptions, C.RunOptions, False)
    backend = require_backend(name.split("-")[1])

    def make(*args: Any, **kwargs: Any) -> Any:
        return compat.InferenceSession(*args, backend=backend, **kwargs)

    return Impl(name, make, compat.SessionOptions, compat.RunOptions, True)


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> Impl:
    return _impl(request.param)


def expect(
    impl: Impl,
    info: pytest.ExceptionInfo[BaseException],
    ortn_cls: type[ortn.Error],
    match: str = "",
) -> None:
    """The compat exception is also ortnative's typed error, with ortnative's message."""
    if impl.compat:
        assert isinstance(info.value, ortn_cls), type(info.value).__mro__
        assert "model '" in str(info.value), str(info.value)
        if match:
            assert match in str(info.value), str(info.value)


X = np.arange(8, dtype=np.float32).reshape(4, 2) - 3


# -- run ----------------------------------------------------------------------------
def test_run_returns_a_list_in_output_names_order(impl: Impl) -> None:
    s = impl.session(three_outputs())
    a, b, c = X, -X, np.abs(X)
    for names in (None, []):
        got = s.run(names, {"x": X})
        assert isinstance(got, list)
        assert len(got) == 3
        for g, want in zip(got, (a, b, c), strict=True):
            np.testing.assert_array_equal(g, want)
    got = s.run(["c", "a"], {"x": X})
    np.testing.assert_array_equal(got[0], c)
    np.testing.assert_array_equal(got[1], a)
    got = s.run(("b",), {"x": X})
    assert len(got) == 1
    np.testing.assert_array_equal(got[0], b)
    got = s.run(["b", "b"], {"x": X})  # onnxruntime returns a duplicate twice
    assert len(got) == 2
    np.testing.assert_array_equal(got[1], b)


def test_list_feeds_are_converted_to_the_input_type(impl: Impl) -> None:
    s = impl.session(models.add_one(("N", 4)))
    (y,) = s.run(None, {"x": [[1, 2, 3, 4]]})  # ints for a float input
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[2, 3, 4, 5]])
    (y,) = s.run(None, {"x": [[1.5, 2, 3, 4], [0, 0, 0, 0]]})
    np.testing.assert_array_equal(y, np.array([[2.5, 3, 4, 5], [1, 1, 1, 1]], np.float32))
    s32 = impl.session(models.add_one(("N", 4), "int32"))
    (y,) = s32.run(None, {"x": [[1.7, 2, 3, 4]]})  # numpy's cast: truncation
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [[2, 3, 4, 5]])


def test_list_feed_that_numpy_cannot_convert(impl: Impl) -> None:
    s = impl.session(models.add_one(("N", 4), "int32"))
    for bad in ([[1e12, 2, 3, 4]], [["a", 2, 3, 4]], [[1, 2, 3], [1, 2]]):
        with pytest.raises(RuntimeError) as info:
            s.run(None, {"x": bad})
        expect(impl, info, ortn.InvalidTypeError, "list")


def test_zero_d_and_non_contiguous_arrays(impl: Impl) -> None:
    s0 = impl.session(models.add_one(()))
    (y,) = s0.run(None, {"x": np.array(1.5, np.float32)})
    assert y.shape == ()
    assert float(y) == 2.5
    s = impl.session(models.add_one(("N", 4)))
    base = np.arange(32, dtype=np.float32).reshape(8, 4)
    for view in (base[::2], base[:, ::-1], base.T.copy().T, np.asfortranarray(base)):
        (y,) = s.run(None, {"x": view})
        np.testing.assert_array_equal(y, view + 1)
    t = np.arange(16, dtype=np.float32).reshape(4, 4).T  # transposed: not C-contiguous
    (y,) = s.run(None, {"x": t})
    np.testing.assert_array_equal(y, t + 1)


class _Sub(np.ndarray):
    pass


def test_ndarray_subclass_feed(impl: Impl) -> None:
    s = impl.session(models.add_one(("N", 4)))
    x = np.ones((2, 4), np.float32).view(_Sub)
    (y,) = s.run(None, {"x": x})
    np.testing.assert_array_equal(np.asarray(y), np.full((2, 4), 2, np.float32))


@pytest.mark.parametrize(
    "value",
    [1.5, 2, np.float32(1.5), np.float64(1.5), True, (1.0, 2.0), "abc", range(3)],
    ids=["float", "int", "np.float32", "np.float64", "bool", "tuple", "str", "range"],
)
def test_scalars_and_other_objects_are_refused(impl: Impl, value: Any) -> None:
    s = impl.session(models.add_one(()))
    with pytest.raises(RuntimeError) as info:
        s.run(None, {"x": value})
    expect(impl, info, ortn.InvalidTypeError, "'x'")


def test_wrong_dtype_rank_and_shape(impl: Impl) -> None:
    s = impl.session(models.add_one((1, 4)))
    with pytest.raises(C.InvalidArgument) as info:
        s.run(None, {"x": np.ones((1, 4))})
    expect(impl, info, ortn.InvalidTypeError, "float64")
    with pytest.raises(C.InvalidArgument) as info:
        s.run(None, {"x": np.ones(4, np.float32)})
    expect(impl, info, ortn.InvalidInputError, "rank")
    with pytest.raises(C.InvalidArgument) as info:
        s.run(None, {"x": np.ones((1, 5), np.float32)})
    expect(impl, info, ortn.InvalidInputError, "dimension 1")
    with pytest.raises(C.InvalidArgument) as info:
        s.run(None, {"x": np.ones((1, 4), object)})
    expect(impl, info, ortn.InvalidTypeError)


def test_names(impl: Impl) -> None:
    s = impl.session(models.add_one((1, 4)))
    x = np.ones((1, 4), np.float32)
    with pytest.raises(C.InvalidArgument) as info:
        s.run(None, {"x": x, "z": x})
    expect(impl, info, ortn.InvalidInputError, "'z'")
    with pytest.raises(ValueError, match=r"(?i)missing|required") as info:
        s.run(None, {})
    expect(impl, info, ortn.InvalidInputError, "'x'")
    with pytest.raises(ValueError, match="'x'") as info:
        s.run(None, {"z": x})
    expect(impl, info, ortn.InvalidInputError, "'x'")
    with pytest.raises(C.InvalidArgument) as info:
        s.run(["nope"], {"x": x})
    expect(impl, info, ortn.InvalidInputError, "'nope'")
    with pytest.raises(TypeError) as info:
        s.run("y", {"x": x})
    expect(impl, info, ortn.InvalidTypeError)


def test_feed_containers(impl: Impl) -> None:
    s = impl.session(models.add_one((1, 4)))
    x = np.ones((1, 4), np.float32)
    with pytest.raises(AttributeError) as info:
        s.run(None, [x])
    expect(impl, info, ortn.InvalidTypeError, "dict")
    with pytest.raises(C.Fail) as info:
        s.run(None, {"x": None})  # onnxruntime drops None feeds; the input is required
    expect(impl, info, ortn.InvalidInputError, "'x'")


def test_runtime_failure(impl: Impl) -> None:
    s = impl.session(reshape())
    with pytest.raises(C.Fail) as info:
        s.run(None, {"x": np.ones(3, np.float32), "s": np.array([5], np.int64)})
    expect(impl, info, ortn.OrtError, "Reshape")
    (y,) = s.run(None, {"x": np.ones(6, np.float32), "s": np.array([6], np.int64)})
    assert y.shape == (6,)  # the session is still usable


def test_sequences_and_strings(impl: Impl) -> None:
    s = impl.session(models.sequence_model())
    total, parts = s.run(None, {"seq": [np.ones(2, np.float32), np.full(3, 2, np.float32)]})
    np.testing.assert_array_equal(total, [1, 1, 2, 2, 2])
    assert isinstance(parts, list)
    assert [p.tolist() for p in parts] == [[1, 1], [2, 2, 2]]
    st = impl.session(models.identity("str", ("N",)))
    for feed in (np.array(["a", "bc"], object), ["a", "bc"], np.array(["a", "bc"])):
        (y,) = st.run(None, {"x": feed})
        assert y.tolist() == ["a", "bc"]


def test_zipmap_returns_a_list_of_dicts(impl: Impl) -> None:
    s = impl.session(zipmap())
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], np.float32)
    labels, maps = s.run(None, {"X": probs})
    np.testing.assert_array_equal(labels, [2, 0])
    assert isinstance(maps, list)
    assert maps == [
        {0: pytest.approx(0.1), 1: pytest.approx(0.2), 2: pytest.approx(0.7)},
        {0: 0.5, 1: 0.25, 2: 0.25},
    ]
    assert [type(k) for k in maps[0]] == [int, int, int]
    (labels,) = s.run(["L"], {"X": probs})
    np.testing.assert_array_equal(labels, [2, 0])


def test_threads(impl: Impl) -> None:
    s = impl.session(models.mlp())
    xs = [np.random.default_rng(i).standard_normal((3, 256)).astype(np.float32) for i in range(4)]
    serial = [s.run(None, {"x": x})[0] for x in xs]
    got = run_threads(4, lambda i: [s.run(None, {"x": xs[i]})[0] for _ in range(20)])
    for i, runs in enumerate(got):
        for y in runs:
            np.testing.assert_array_equal(y, serial[i])


# -- describing the model ------------------------------------------------------------
def _args(args: Any) -> list[tuple[str, str, list[Any]]]:
    return [(a.name, a.type, list(a.shape)) for a in args]


def test_inputs_and_outputs(impl: Impl) -> None:
    s = impl.session(models.add_one(("N", 4)))
    assert _args(s.get_inputs()) == [("x", "tensor(float)", ["N", 4])]
    assert _args(s.get_outputs()) == [("y", "tensor(float)", ["N", 4])]
    assert str(s.get_inputs()[0]) == "NodeArg(name='x', type='tensor(float)', shape=['N', 4])"
    assert _args(impl.session(models.identity("float32", (None, 2))).get_inputs()) == [
        ("x", "tensor(float)", [None, 2])
    ]
    assert _args(impl.session(models.identity("str", ("N",))).get_inputs()) == [
        ("x", "tensor(string)", ["N"])
    ]
    seq = impl.session(models.sequence_model())
    assert _args(seq.get_inputs()) == [("seq", "seq(tensor(float))", [])]
    assert _args(seq.get_outputs()) == [
        ("total", "tensor(float)", ["T"]),
        ("parts", "seq(tensor(float))", []),
    ]
    zm = impl.session(zipmap())
    assert _args(zm.get_outputs()) == [
        ("L", "tensor(int64)", ["N"]),
        ("Z", "seq(map(int64,tensor(float)))", []),
    ]
    i64 = impl.session(models.add_one((2,), "int64"))
    assert _args(i64.get_inputs()) == [("x", "tensor(int64)", [2])]


def test_overridable_initializers(impl: Impl) -> None:
    s = impl.session(overridable())
    assert _args(s.get_inputs()) == [("x", "tensor(float)", [4])]
    assert _args(s.get_overridable_initializers()) == [("w", "tensor(float)", [4])]
    x = np.ones(4, np.float32)
    np.testing.assert_array_equal(s.run(None, {"x": x})[0], np.full(4, 2, np.float32))
    w = np.full(4, 3, np.float32)
    np.testing.assert_array_equal(s.run(None, {"x": x, "w": w})[0], w)
    assert impl.session(models.add_one((1, 4))).get_overridable_initializers() == []


def test_modelmeta(impl: Impl) -> None:
    md = impl.session(with_metadata()).get_modelmeta()
    assert md.producer_name == "ortnative.models"
    assert md.graph_name == "add_one"
    assert md.domain == "ai.ortnative.test"
    assert md.description == "model doc"
    assert md.graph_description == "graph doc"
    assert md.version == 7
    assert md.custom_metadata_map == {"author": "tests", "k": "v"}


# -- providers -----------------------------------------------------------------------
def test_providers(impl: Impl) -> None:
    s = impl.session(models.add_one((1, 4)), providers=["CPUExecutionProvider"])
    assert s.get_providers() == ["CPUExecutionProvider"]
    assert s.get_provider_options() == {"CPUExecutionProvider": {}}
    s = impl.session(
        models.add_one((1, 4)), providers=[("CPUExecutionProvider", {"use_arena": "0"})]
    )
    assert s.get_providers() == ["CPUExecutionProvider"]
    np.testing.assert_array_equal(s.run(None, {"x": np.ones((1, 4), np.float32)})[0], 2)
    s = impl.session(models.add_one((1, 4)))
    assert s.get_providers() == ["CPUExecutionProvider"]


def test_unavailable_provider_is_skipped_with_a_warning(impl: Impl) -> None:
    missing = next(
        p
        for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider", "ROCMExecutionProvider")
        if p not in onnxruntime.get_available_providers()
    )
    with pytest.warns(UserWarning, match="not in available provider names"):
        s = impl.session(models.add_one((1, 4)), providers=[missing, "CPUExecutionProvider"])
    assert s.get_providers() == ["CPUExecutionProvider"]
    np.testing.assert_array_equal(s.run(None, {"x": np.ones((1, 4), np.float32)})[0], 2)


def test_set_providers_recreates(impl: Impl) -> None:
    s = impl.session(models.add_one((1, 4)))
    s.set_providers(["CPUExecutionProvider"])
    assert s.get_providers() == ["CPUExecutionProvider"]
    np.testing.assert_array_equal(s.run(None, {"x": np.ones((1, 4), np.float32)})[0], 2)
    s.set_providers(["CPUExecutionProvider"], [{}])
    np.testing.assert_array_equal(s.run(None, {"x": np.ones((1, 4), np.float32)})[0], 2)


# -- session options -----------------------------------------------------------------
@pytest.fixture(params=["same", "onnxruntime"])
def options_class(request: pytest.FixtureRequest, impl: Impl) -> type:
    """The implementation's SessionOptions, and onnxruntime's own (the compat session
    reads and applies a real onnxruntime.SessionOptions too)."""
    return impl.SessionOptions if request.param == "same" else C.SessionOptions


def test_session_options_are_applied(impl: Impl, options_class: type) -> None:
    x = np.random.default_rng(0).standard_normal((2, 256)).astype(np.float32)
    want = OrtSession(models.mlp()).run(None, {"x": x})[0]
    for setup in (
        lambda so: setattr(so, "intra_op_num_threads", 1),
        lambda so: setattr(so, "inter_op_num_threads", 1),
        lambda so: setattr(
            so, "graph_optimization_level", onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        ),
        lambda so: setattr(so, "execution_mode", onnxruntime.ExecutionMode.ORT_PARALLEL),
        lambda so: so.add_session_config_entry("session.intra_op.allow_spinning", "0"),
        lambda so: setattr(so, "enable_mem_pattern", False),
        lambda so: setattr(so, "enable_cpu_mem_arena", False),
        lambda so: setattr(so, "enable_mem_reuse", False),
        lambda so: setattr(so, "use_deterministic_compute", True),
        lambda so: setattr(so, "log_severity_level", 3),
        lambda so: setattr(so, "execution_order", onnxruntime.ExecutionOrder.PRIORITY_BASED),
    ):
        so = options_class()
        setup(so)
        s = impl.session(models.mlp(), so, providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(s.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)
        assert s.get_session_options() is not None
    so = options_class()
    so.intra_op_num_threads = 1
    s = impl.session(models.mlp(), sess_options=so)
    assert s.get_session_options().intra_op_num_threads == 1


def test_free_dimension_override(impl: Impl, options_class: type) -> None:
    so = options_class()
    so.add_free_dimension_override_by_name("N", 2)
    s = impl.session(models.add_one(("N", 4)), so)
    assert _args(s.get_inputs()) == [("x", "tensor(float)", [2, 4])]
    np.testing.assert_array_equal(s.run(None, {"x": np.ones((2, 4), np.float32)})[0], 2)
    with pytest.raises(C.InvalidArgument):
        s.run(None, {"x": np.ones((3, 4), np.float32)})


def test_optimized_model_filepath(impl: Impl, options_class: type, tmp_path: Any) -> None:
    so = options_class()
    path = str(tmp_path / "optimized.onnx")
    so.optimized_model_filepath = path
    s = impl.session(models.mlp(), so)
    assert os.path.getsize(path) > 0
    x = np.ones((1, 256), np.float32)
    np.testing.assert_allclose(
        OrtSession(path).run(None, {"x": x})[0], s.run(None, {"x": x})[0], rtol=1e-6
    )


def test_profiling(impl: Impl, options_class: type, tmp_path: Any) -> None:
    s = impl.session(models.add_one((1, 4)))
    assert s.end_profiling() == ""
    assert s.get_profiling_start_time_ns() == 0
    so = options_class()
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp_path / "trace")
    s = impl.session(models.add_one((1, 4)), so)
    assert s.get_profiling_start_time_ns() > 0
    s.run(None, {"x": np.ones((1, 4), np.float32)})
    path = s.end_profiling()
    assert os.path.basename(path).startswith("trace")
    with open(path) as f:
        events = json.load(f)
    assert any(e.get("cat") == "Node" for e in events)


# -- run options, async, ort values, io binding -------------------------------------
def test_run_options(impl: Impl) -> None:
    s = impl.session(models.add_one((1, 4)))
    x = np.ones((1, 4), np.float32)
    ro = impl.RunOptions()
    ro.log_severity_level = 3
    ro.logid = "test"
    np.testing.assert_array_equal(s.run(None, {"x": x}, ro)[0], 2)
    np.testing.assert_array_equal(s.run(None, {"x": x}, run_options=onnxruntime.RunOptions())[0], 2)
    ro.terminate = True
    with pytest.raises(C.Fail, match="terminate") as info:
        s.run(None, {"x": x}, ro)
    expect(impl, info, ortn.OrtError)
    ro.terminate = False
    np.testing.assert_array_equal(s.run(None, {"x": x}, ro)[0], 2)


def _async(s: Any, feeds: Any, names: Any = None) -> tuple[Any, Any, str, str]:
    done = threading.Event()
    got: list[Any] = []

    def callback(results: Any, user_data: Any, err: str) -> None:
        got.append((results, user_data, err, threading.current_thread().name))
        done.set()

    assert s.run_async(names, feeds, callback, {"tag": 1}) is None
    assert done.wait(30)
    return got[0]


def test_run_async(impl: Impl) -> None:
    s = impl.session(three_outputs())
    results, user_data, err, thread = _async(s, {"x": X}, ["c", "a"])
    assert err == ""
    assert user_data == {"tag": 1}
    assert isinstance(results, list)
    np.testing.assert_array_equal(results[0], np.abs(X))
    np.testing.assert_array_equal(results[1], X)
    assert thread != threading.current_thread().name
    bad = impl.session(reshape())
    results, user_data, err, _ = _async(
        bad, {"x": np.ones(3, np.float32), "s": np.array([5], np.int64)}
    )
    assert results == []
    assert user_data == {"tag": 1}
    assert "Reshape" in err
    with pytest.raises(ValueError, match="'s'") as info:  # raised at once, before anything runs
        bad.run_async(None, {"x": np.ones(3, np.float32)}, lambda *a: None, None)
    expect(impl, info, ortn.InvalidInputError, "'s'")
    with pytest.raises(RuntimeError) as info:
        s.run_async(None, {"x": 1.0}, lambda *a: None, None)
    expect(impl, info, ortn.InvalidTypeError)


def test_run_with_ort_values(impl: Impl) -> None:
    s = impl.session(models.add_one((1, 4)))
    ov = onnxruntime.OrtValue.ortvalue_from_numpy(np.ones((1, 4), np.float32))
    (out,) = s.run_with_ort_values(None, {"x": ov})
    assert isinstance(out, onnxruntime.OrtValue)
    np.testing.assert_array_equal(out.numpy(), 2)
    np.testing.assert_array_equal(s.run(None, {"x": ov})[0], 2)  # OrtValue feeds to run()


def test_io_binding(impl: Impl) -> None:
    s = impl.session(models.add_one((1, 4)))
    binding = s.io_binding()
    binding.bind_cpu_input("x", np.ones((1, 4), np.float32))
    binding.bind_output("y")
    s.run_with_iobinding(binding)
    np.testing.assert_array_equal(binding.copy_outputs_to_cpu()[0], 2)
    manual = onnxruntime.IOBinding(s)
    manual.bind_cpu_input("x", np.full((1, 4), 2, np.float32))
    manual.bind_output("y")
    s.run_with_iobinding(manual)
    np.testing.assert_array_equal(manual.copy_outputs_to_cpu()[0], 3)


# -- loading -------------------------------------------------------------------------
def test_model_sources(impl: Impl, tmp_path: Any) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(models.add_one((1, 4)))
    x = {"x": np.ones((1, 4), np.float32)}
    for source in (str(path), path, path.read_bytes()):
        np.testing.assert_array_equal(impl.session(source).run(None, x)[0], 2)


def test_load_errors(impl: Impl, tmp_path: Any) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    for source, ort_cls in (
        (str(tmp_path / "missing.onnx"), C.NoSuchFile),
        (b"not a model", C.InvalidProtobuf),
        (b"", C.InvalidArgument),
        (str(tmp_path), C.InvalidProtobuf),
        (str(empty), C.InvalidArgument),
    ):
        with pytest.raises(ort_cls) as info:
            impl.session(source)
        expect(impl, info, ortn.ModelLoadError)
    for source in (123, bytearray(b"x"), None):
        with pytest.raises(TypeError) as info:
            impl.session(source)
        if impl.compat:
            assert isinstance(info.value, ortn.InvalidTypeError)
    with pytest.raises(TypeError) as info:
        impl.session(models.add_one((1, 4)), {"intra_op_num_threads": 1})
    if impl.compat:
        assert isinstance(info.value, ortn.InvalidTypeError)


# -- subclassing and pickling the way libraries do it --------------------------------
def _pickable(base: type) -> type:
    """insightface's PickableInferenceSession: a subclass with its own pickling that
    reads onnxruntime's private _providers / _provider_options / _model_path."""

    class Pickable(base):  # type: ignore[misc, valid-type]
        def __init__(self, model_path: str, **kwargs: Any) -> None:
            super().__init__(model_path, **kwargs)
            self.model_path = model_path

        def __getstate__(self) -> dict[str, Any]:
            return {"model_path": self.model_path}

        def __setstate__(self, values: dict[str, Any]) -> None:
            self.__init__(values["model_path"])  # type: ignore[misc]

    return Pickable


PickableOrt = _pickable(OrtSession)
PickableOrt.__qualname__ = PickableOrt.__name__ = "PickableOrt"
PickableCompat = _pickable(compat.InferenceSession)
PickableCompat.__qualname__ = PickableCompat.__name__ = "PickableCompat"


@pytest.fixture
def model_file(tmp_path: Any) -> str:
    path = tmp_path / "add_one.onnx"
    path.write_bytes(models.add_one((1, 4)))
    return str(path)


def test_subclass_pickles_like_insightface(impl: Impl, model_file: str) -> None:
    cls = PickableCompat if impl.compat else PickableOrt
    kwargs = {"backend": impl.name.split("-")[1]} if impl.compat else {}
    s = cls(model_file, providers=["CPUExecutionProvider"], **kwargs)
    assert s._providers == ["CPUExecutionProvider"]
    assert s._provider_options == {"CPUExecutionProvider": {}}
    assert s._model_path == model_file
    assert isinstance(
        s, onnxruntime.InferenceSession if not impl.compat else compat.InferenceSession
    )
    s2 = pickle.loads(pickle.dumps(s))
    assert type(s2) is cls
    assert s2.model_path == model_file
    np.testing.assert_array_equal(s2.run(None, {"x": np.ones((1, 4), np.float32)})[0], 2)


def test_subclass_overriding_run(impl: Impl) -> None:
    calls = []
    base = compat.InferenceSession if impl.compat else OrtSession

    class Counting(base):  # type: ignore[misc, valid-type]
        def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
            calls.append(output_names)
            return super().run(output_names, input_feed, run_options)

    kwargs = {"backend": impl.name.split("-")[1]} if impl.compat else {}
    s = Counting(models.add_one((1, 4)), **kwargs)
    np.testing.assert_array_equal(s.run(None, {"x": np.ones((1, 4), np.float32)})[0], 2)
    assert calls == [None]


def test_no_warnings_on_plain_use(impl: Impl) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = impl.session(models.add_one((1, 4)), providers=["CPUExecutionProvider"])
        s.run(None, {"x": np.ones((1, 4), np.float32)})
