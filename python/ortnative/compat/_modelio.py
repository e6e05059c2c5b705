"""What onnxruntime's ``NodeArg.type`` says about a model's inputs and outputs, read
from the model's protobuf without the onnx package (ortnative's ``TensorInfo`` gives
the element dtype and shape, not ``"seq(map(int64,tensor(float)))"``), and which
initializers a feed may override (``get_overridable_initializers``).

Only the graph's top-level fields are walked: weights are skipped by length, so a large
model costs a few thousand field headers, not its size.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from typing import Any

from .._modelfile import ProtoError, _fields

Dim = int | str | None

# onnx.TensorProto.DataType -> the name onnxruntime prints in "tensor(...)".
ELEM_TYPES = {
    1: "float",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "double",
    12: "uint32",
    13: "uint64",
    14: "complex64",
    15: "complex128",
    16: "bfloat16",
    17: "float8e4m3fn",
    18: "float8e4m3fnuz",
    19: "float8e5m2",
    20: "float8e5m2fnuz",
    21: "uint4",
    22: "int4",
    23: "float4e2m1",
}

# ModelProto.ir_version = 1, .graph = 7; GraphProto.initializer = 5, .input = 11,
# .output = 12, .sparse_initializer = 15; ValueInfoProto.name = 1, .type = 2;
# TensorProto.name = 8; SparseTensorProto.values = 1.
_M_IR, _M_GRAPH = 1, 7
_G_INIT, _G_INPUT, _G_OUTPUT, _G_SPARSE_INIT = 5, 11, 12, 15


@dataclass
class ValueInfo:
    name: str
    type: str
    shape: list[Dim]


@dataclass
class ModelIO:
    """A model's graph inputs and outputs as onnxruntime describes them."""

    ir_version: int = 0
    inputs: list[ValueInfo] = field(default_factory=list)
    outputs: list[ValueInfo] = field(default_factory=list)
    initializers: set[str] = field(default_factory=set)

    def type_of(self, name: str, *, output: bool) -> str | None:
        for v in self.outputs if output else self.inputs:
            if v.name == name:
                return v.type
        return None

    def overridable(self) -> list[ValueInfo]:
        """Initializers that are also graph inputs: a feed may replace them. onnxruntime
        treats those of models before IR version 4 as constants."""
        if self.ir_version < 4:
            return []
        return [v for v in self.inputs if v.name in self.initializers]


def _text(buf: Any, span: tuple[int, int]) -> str:
    return bytes(buf[span[0] : span[1]]).decode("utf-8", "replace")


def _type_string(buf: Any, start: int, end: int) -> tuple[str, list[Dim]]:
    """A TypeProto as onnxruntime prints it, and its tensor shape ([] when none)."""
    for f, wire, v in _fields(buf, start, end):
        if wire != 2:
            continue
        if f in (1, 8):  # tensor_type, sparse_tensor_type
            elem, shape = 0, list[Dim]()
            for f2, w2, v2 in _fields(buf, *v):
                if f2 == 1 and w2 == 0:
                    elem = v2
                elif f2 == 2 and w2 == 2:
                    shape = _shape(buf, *v2)
            kind = "tensor" if f == 1 else "sparse_tensor"
            return f"{kind}({ELEM_TYPES.get(elem, 'undefined')})", shape
        if f in (4, 9):  # sequence_type, optional_type: elem_type = 1
            inner = "undefined"
            for f2, w2, v2 in _fields(buf, *v):
                if f2 == 1 and w2 == 2:
                    inner = _type_string(buf, *v2)[0]
            return f"{'seq' if f == 4 else 'optional'}({inner})", []
        if f == 5:  # map_type: key_type = 1 (varint), value_type = 2
            key, value = "undefined", "undefined"
            for f2, w2, v2 in _fields(buf, *v):
                if f2 == 1 and w2 == 0:
                    key = ELEM_TYPES.get(v2, "undefined")
                elif f2 == 2 and w2 == 2:
                    value = _type_string(buf, *v2)[0]
            return f"map({key},{value})", []
        if f == 7:  # opaque_type: domain = 1, name = 2
            parts = {f2: _text(buf, v2) for f2, w2, v2 in _fields(buf, *v) if w2 == 2}
            return f"opaque({parts.get(1, '')},{parts.get(2, '')})", []
    return "undefined", []


def _shape(buf: Any, start: int, end: int) -> list[Dim]:
    dims: list[Dim] = []
    for f, wire, v in _fields(buf, start, end):
        if f != 1 or wire != 2:
            continue
        dim: Dim = None
        for f2, w2, v2 in _fields(buf, *v):
            if f2 == 1 and w2 == 0:
                size = int(v2) if v2 < 1 << 63 else int(v2) - (1 << 64)
                dim = size if size >= 0 else None
            elif f2 == 2 and w2 == 2:
                dim = _text(buf, v2) or None
        dims.append(dim)
    return dims


def _value_info(buf: Any, start: int, end: int) -> ValueInfo:
    name, typ = "", "undefined"
    shape: list[Dim] = []
    for f, wire, v in _fields(buf, start, end):
        if f == 1 and wire == 2:
            name = _text(buf, v)
        elif f == 2 and wire == 2:
            typ, shape = _type_string(buf, *v)
    return ValueInfo(name, typ, shape)


def _name_of(buf: Any, start: int, end: int, field_no: int) -> str:
    for f, wire, v in _fields(buf, start, end):
        if f == field_no and wire == 2:
            return _text(buf, v)
    return ""


def _parse(buf: Any) -> ModelIO:
    io = ModelIO()
    graph: tuple[int, int] | None = None
    for f, wire, v in _fields(buf):
        if f == _M_IR and wire == 0:
            io.ir_version = v
        elif f == _M_GRAPH and wire == 2:
            graph = v
    if graph is None:
        raise ProtoError("no graph")
    for f, wire, v in _fields(buf, *graph):
        if wire != 2:
            continue
        if f == _G_INPUT:
            io.inputs.append(_value_info(buf, *v))
        elif f == _G_OUTPUT:
            io.outputs.append(_value_info(buf, *v))
        elif f == _G_INIT:
            io.initializers.add(_name_of(buf, v[0], v[1], 8))
        elif f == _G_SPARSE_INIT:
            for f2, w2, v2 in _fields(buf, *v):
                if f2 == 1 and w2 == 2:
                    io.initializers.add(_name_of(buf, v2[0], v2[1], 8))
    return io


def read_model_io(source: str | bytes) -> ModelIO | None:
    """The graph's inputs and outputs; None when SOURCE is not an ONNX protobuf (an ORT
    format model, or a file that changed since it was loaded)."""
    try:
        if isinstance(source, str):
            with open(source, "rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    return None
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                    return _parse(buf)
        return _parse(memoryview(source))
    except (ProtoError, OSError, ValueError, IndexError):
        return None
