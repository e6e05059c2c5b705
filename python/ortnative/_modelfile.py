"""Reads the top-level fields of an ONNX model file (opset imports, producer, IR
version) without the onnx package: ONNX Runtime's C API does not report opsets."""

from __future__ import annotations

import mmap
import os
from typing import Any

# ModelProto field numbers (onnx.proto).
_IR_VERSION, _PRODUCER, _PRODUCER_VERSION, _DOMAIN, _MODEL_VERSION, _DOC, _GRAPH, _OPSET = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
)


class ProtoError(ValueError):
    pass


def _varint(buf: Any, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtoError("varint too long")


def _fields(buf: Any, start: int = 0, end: int | None = None):  # type: ignore[no-untyped-def]
    pos, end = start, len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield field, wire, value
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise ProtoError("field runs past the end")
            yield field, wire, (pos, pos + n)
            pos += n
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """{ir_version, producer_name, producer_version, domain, model_version,
    opsets: {domain: version}}; raises ProtoError when the file is not a model."""
    out: dict[str, Any] = {"opsets": {}}
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise ProtoError("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            for field, wire, value in _fields(buf):
                if wire == 0 and field == _IR_VERSION:
                    out["ir_version"] = value
                elif wire == 0 and field == _MODEL_VERSION:
                    out["model_version"] = value
                elif wire == 2 and field in (_PRODUCER, _PRODUCER_VERSION, _DOMAIN):
                    name = {
                        _PRODUCER: "producer_name",
                        _PRODUCER_VERSION: "producer_version",
                        _DOMAIN: "domain",
                    }[field]
                    out[name] = bytes(buf[value[0] : value[1]]).decode("utf-8", "replace")
                elif wire == 2 and field == _OPSET:
                    domain, version = "", 0
                    for f2, w2, v2 in _fields(buf, *value):
                        if f2 == 1 and w2 == 2:
                            domain = bytes(buf[v2[0] : v2[1]]).decode("utf-8", "replace")
                        elif f2 == 2 and w2 == 0:
                            version = v2
                    out["opsets"][domain or "ai.onnx"] = version
    return out
