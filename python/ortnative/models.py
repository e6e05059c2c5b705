"""Small ONNX models built on the fly, for the demo, the benchmarks and the tests.

Each function returns the serialized model (``bytes``); weights come from a seeded
generator, so a model is the same every time. Needs the ``onnx`` package (the
``demo``, ``test`` and ``bench`` extras install it); ortnative itself does not.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

OPSET = 17


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "building models needs the onnx package: pip install 'ortnative[demo]'"
        ) from exc
    return onnx


def _model(graph: Any, opset: int = OPSET) -> bytes:
    onnx = _onnx()
    model = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="ortnative.models",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _init(name: str, array: np.ndarray) -> Any:
    return _onnx().numpy_helper.from_array(array, name)


def add_one(shape: Sequence[int | str] = (1, 4), dtype: str = "float32") -> bytes:
    """``y = x + 1``: the smallest model there is; measures per-call overhead."""
    onnx = _onnx()
    h = onnx.helper
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = h.make_graph(
        [h.make_node("Add", ["x", "one"], ["y"])],
        "add_one",
        [h.make_tensor_value_info("x", elem, list(shape))],
        [h.make_tensor_value_info("y", elem, list(shape))],
        [_init("one", np.ones((), dtype=dtype))],
    )
    return _model(graph)


def mlp(sizes: Sequence[int] = (256, 256, 256, 10), batch: int | str = "N", seed: int = 0) -> bytes:
    """An MLP (Gemm + Relu layers, no Relu after the last) with a free batch dim."""
    onnx = _onnx()
    h = onnx.helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev = "x"
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = (rng.standard_normal(n_out) * 0.01).astype(np.float32)
        inits += [_init(f"w{i}", w), _init(f"b{i}", b)]
        last = i == len(sizes) - 2
        out = "y" if last else f"h{i}"
        nodes.append(h.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [out if last else f"g{i}"]))
        if not last:
            nodes.append(h.make_node("Relu", [f"g{i}"], [out]))
        prev = out
    graph = h.make_graph(
        nodes,
        "mlp",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, sizes[0]])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [batch, sizes[-1]])],
        inits,
    )
    return _model(graph)


def small_cnn(classes: int = 1000, size: int = 224, batch: int | str = "N", seed: int = 0) -> bytes:
    """A small image classifier: 4 strided 3x3 conv+relu stages (3-16-32-64-128
    channels), global average pool, a dense layer and softmax. Input ``image``
    float32 [N, 3, size, size] (normalised RGB, NCHW); output ``probs`` [N, classes]."""
    onnx = _onnx()
    h = onnx.helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev, c_in = "image", 3
    for i, c_out in enumerate((16, 32, 64, 128)):
        w = (rng.standard_normal((c_out, c_in, 3, 3)) * np.sqrt(2.0 / (9 * c_in))).astype(
            np.float32
        )
        b = np.zeros(c_out, np.float32)
        inits += [_init(f"conv{i}_w", w), _init(f"conv{i}_b", b)]
        nodes.append(
            h.make_node(
                "Conv",
                [prev, f"conv{i}_w", f"conv{i}_b"],
                [f"conv{i}"],
                kernel_shape=[3, 3],
                strides=[2, 2],
                pads=[1, 1, 1, 1],
            )
        )
        nodes.append(h.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
        prev, c_in = f"relu{i}", c_out
    w = (rng.standard_normal((c_in, classes)) / np.sqrt(c_in)).astype(np.float32)
    b = (rng.standard_normal(classes) * 0.01).astype(np.float32)
    inits += [_init("fc_w", w), _init("fc_b", b)]
    nodes += [
        h.make_node("GlobalAveragePool", [prev], ["pool"]),
        h.make_node("Flatten", ["pool"], ["flat"], axis=1),
        h.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"]),
        h.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = h.make_graph(
        nodes,
        "small_cnn",
        [h.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [batch, 3, size, size])],
        [h.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, [batch, classes])],
        inits,
    )
    return _model(graph)


def reduce_sum(dtype: str = "float32") -> bytes:
    """``s = ReduceSum(x)`` over all elements of a 1-D input of any length: a large
    input, a tiny output (the zero-copy input test)."""
    onnx = _onnx()
    h = onnx.helper
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = h.make_graph(
        [h.make_node("ReduceSum", ["x"], ["s"], keepdims=0)],
        "reduce_sum",
        [h.make_tensor_value_info("x", elem, ["L"])],
        [h.make_tensor_value_info("s", elem, [])],
    )
    return _model(graph)


def identity(dtype: str = "float32", shape: Sequence[int | str | None] = ("N",)) -> bytes:
    """``y = Identity(x)`` for any dtype, strings included."""
    onnx = _onnx()
    h = onnx.helper
    if dtype in ("str", "string", "object"):
        elem = onnx.TensorProto.STRING
    elif dtype == "bfloat16":
        elem = onnx.TensorProto.BFLOAT16
    else:
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = h.make_graph(
        [h.make_node("Identity", ["x"], ["y"])],
        "identity",
        [h.make_tensor_value_info("x", elem, list(shape))],
        [h.make_tensor_value_info("y", elem, list(shape))],
    )
    return _model(graph)


def two_inputs() -> bytes:
    """``sum = a + b`` (float32 [N, 3]) and ``prod = a * b``: several inputs and outputs,
    with a fixed last dimension."""
    onnx = _onnx()
    h = onnx.helper
    f = onnx.TensorProto.FLOAT
    graph = h.make_graph(
        [h.make_node("Add", ["a", "b"], ["sum"]), h.make_node("Mul", ["a", "b"], ["prod"])],
        "two_inputs",
        [h.make_tensor_value_info("a", f, ["N", 3]), h.make_tensor_value_info("b", f, ["N", 3])],
        [
            h.make_tensor_value_info("sum", f, ["N", 3]),
            h.make_tensor_value_info("prod", f, ["N", 3]),
        ],
    )
    return _model(graph)


def fixed_output() -> bytes:
    """``y = x * 2`` with x and y float32 [2, 3]: every dimension fixed."""
    onnx = _onnx()
    h = onnx.helper
    f = onnx.TensorProto.FLOAT
    graph = h.make_graph(
        [h.make_node("Mul", ["x", "two"], ["y"])],
        "fixed",
        [h.make_tensor_value_info("x", f, [2, 3])],
        [h.make_tensor_value_info("y", f, [2, 3])],
        [_init("two", np.full((), 2.0, np.float32))],
    )
    return _model(graph)


def lying_shape() -> bytes:
    """A model whose declared output shape is wrong: y is declared [N, 4] but is
    Concat(x, x) along axis 1, so really [N, 8]. ONNX Runtime runs it anyway."""
    onnx = _onnx()
    h = onnx.helper
    f = onnx.TensorProto.FLOAT
    graph = h.make_graph(
        [h.make_node("Concat", ["x", "x"], ["y"], axis=1)],
        "lying",
        [h.make_tensor_value_info("x", f, ["N", 4])],
        [h.make_tensor_value_info("y", f, ["N", 4])],
    )
    model = _onnx().helper.make_model(graph, opset_imports=[_onnx().helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return bytes(model.SerializeToString())  # not checked: the checker would object


def gather(table_size: int = 10) -> bytes:
    """``y = Gather(table, idx)``: an int64 input whose values can be out of range, so
    a run fails inside ONNX Runtime (not in ortnative's checks)."""
    onnx = _onnx()
    h = onnx.helper
    table = np.arange(table_size, dtype=np.float32)
    graph = h.make_graph(
        [h.make_node("Gather", ["table", "idx"], ["y"], axis=0)],
        "gather",
        [h.make_tensor_value_info("idx", onnx.TensorProto.INT64, ["N"])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N"])],
        [_init("table", table)],
    )
    return _model(graph)


def sequence_model() -> bytes:
    """``total = ConcatFromSequence(seq, axis 0)`` and ``parts = seq`` (Identity): a
    sequence input and a sequence output."""
    onnx = _onnx()
    h = onnx.helper
    f = onnx.TensorProto.FLOAT
    seq_type = h.make_tensor_sequence_value_info("seq", f, ["K"])
    graph = h.make_graph(
        [
            h.make_node("ConcatFromSequence", ["seq"], ["total"], axis=0),
            h.make_node("Identity", ["seq"], ["parts"]),
        ],
        "sequence",
        [seq_type],
        [
            h.make_tensor_value_info("total", f, ["T"]),
            h.make_tensor_sequence_value_info("parts", f, ["K"]),
        ],
    )
    return _model(graph)


def loop(size: int = 64, batch: int | str | None = None, seed: int = 0) -> bytes:
    """``y = Loop(n) { x = Tanh(MatMul(x, w)) }``, w float32 [size, size]: one run takes as
    many iterations as asked (for stopping runs with ``RunOptions.terminate()``).

    Without BATCH: x and y float32 [size, size], n an int64 scalar. With BATCH (a dim):
    x and y float32 [batch, size], n int64 [batch], and the loop runs ``max(n)`` times,
    so the model batches (a batch runs as long as its longest request asks)."""
    onnx = _onnx()
    h = onnx.helper
    f = onnx.TensorProto.FLOAT
    i64 = onnx.TensorProto.INT64
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32)
    x_shape: list[int | str] = [size, size] if batch is None else [batch, size]
    body = h.make_graph(
        [
            h.make_node("MatMul", ["x_in", "w"], ["m"]),
            h.make_node("Tanh", ["m"], ["x_out"]),
            h.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "body",
        [
            h.make_tensor_value_info("i", i64, []),
            h.make_tensor_value_info("cond_in", onnx.TensorProto.BOOL, []),
            h.make_tensor_value_info("x_in", f, x_shape),
        ],
        [
            h.make_tensor_value_info("cond_out", onnx.TensorProto.BOOL, []),
            h.make_tensor_value_info("x_out", f, x_shape),
        ],
    )
    nodes = [h.make_node("Loop", ["trips", "", "x"], ["y"], body=body)]
    if batch is None:
        nodes.insert(0, h.make_node("Identity", ["n"], ["trips"]))
        n_info = h.make_tensor_value_info("n", i64, [])
    else:
        nodes.insert(0, h.make_node("ReduceMax", ["n"], ["trips"], keepdims=0))
        n_info = h.make_tensor_value_info("n", i64, [batch])
    graph = h.make_graph(
        nodes,
        "loop",
        [h.make_tensor_value_info("x", f, x_shape), n_info],
        [h.make_tensor_value_info("y", f, x_shape)],
        [_init("w", w)],
    )
    return _model(graph)
