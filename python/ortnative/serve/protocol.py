"""The Open Inference Protocol (KServe v2 REST, Triton's HTTP API) as data: requests in,
responses out, with Triton's binary tensor data extension. No HTTP here: the server
(:mod:`ortnative.serve.server`) hands this module a body and two headers' values and
gets back a body and a header value.

A request body is a JSON object, optionally followed by binary tensor data; then the
``Inference-Header-Content-Length`` header says where the JSON ends. Each input carries
its elements either in JSON (``"data"``, flat or nested, row-major) or in the binary
part (``"parameters": {"binary_data_size": N}``, the inputs' blobs in the order the
inputs are listed). BYTES elements in binary are each a 4-byte little-endian length and
that many bytes. Outputs go back in binary when the request asks (per output
``"parameters": {"binary_data": true}``, or ``"binary_data_output": true`` for all).

Every problem with a request raises :class:`ProtocolError`, which carries the HTTP status
and the ``{"error": ...}`` message: nothing here may raise anything else on bad input.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from .._types import TensorInfo

__all__ = [
    "DATATYPES",
    "InferRequest",
    "ProtocolError",
    "RequestedOutput",
    "datatype_of",
    "decode_request",
    "encode_response",
    "v2_shape",
]

# v2 datatype -> NumPy dtype name ("object": strings; "bfloat16": ml_dtypes').
DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BF16": "bfloat16",
    "BYTES": "object",
}
_BY_NUMPY = {v: k for k, v in DATATYPES.items()}
_U32 = struct.Struct("<I")


class ProtocolError(Exception):
    """A request the server refuses: ``status`` (HTTP), ``reason`` (the metrics label)
    and the message for ``{"error": ...}``."""

    def __init__(self, message: str, status: int = 400, reason: str = "INVALID_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


_DATATYPE_OF: dict[np.dtype, str | None] = {}  # a cache: this runs for every tensor


def datatype_of(dtype: np.dtype | None) -> str | None:
    """The v2 datatype of a NumPy dtype (None: the protocol has none for it)."""
    if dtype is None:
        return None
    try:
        return _DATATYPE_OF[dtype]
    except KeyError:
        found = _BY_NUMPY.get("object" if dtype == np.dtype(object) else dtype.name)
        _DATATYPE_OF[dtype] = found
        return found


def v2_shape(shape: Sequence[int | str | None]) -> list[int]:
    """A model's shape as the protocol writes it: -1 for every free dimension."""
    return [d if isinstance(d, int) and d >= 0 else -1 for d in shape]


@functools.cache
def _numpy_dtype(datatype: str) -> np.dtype:
    name = DATATYPES[datatype]
    if name == "bfloat16":
        import ml_dtypes  # onnxruntime's bfloat16 tensors need it already

        bf16: np.dtype = np.dtype(ml_dtypes.bfloat16)
        return bf16
    return np.dtype(name)


@dataclass
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferRequest:
    """A decoded request: ``feeds`` ready for the scheduler, what to send back, and the
    request's ``priority`` (protocol level; 0 = the model's default) and ``timeout_us``
    parameters (None when absent)."""

    id: str | None
    feeds: dict[str, np.ndarray]
    outputs: list[RequestedOutput]
    priority: int = 0
    timeout_us: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def _fail(message: str) -> ProtocolError:
    return ProtocolError(message)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _shape(value: Any, info: TensorInfo, model: str) -> list[int]:
    name = info.name
    if not isinstance(value, list) or not all(
        type(d) is int and d >= 0
        for d in value  # bool is no dimension
    ):
        raise _fail(f"input '{name}': shape must be a list of ints >= 0, got {value!r}")
    if len(value) != len(info.shape):
        raise _fail(
            f"input '{name}' of model '{model}' has rank {len(info.shape)} "
            f"(shape {v2_shape(info.shape)}), got shape {value}"
        )
    for i, (want, got) in enumerate(zip(info.shape, value, strict=True)):
        if isinstance(want, int) and want >= 0 and want != got:
            raise _fail(
                f"input '{name}' of model '{model}' has shape {v2_shape(info.shape)}, "
                f"got {value} (dimension {i} must be {want})"
            )
    return value


def _json_tensor(data: Any, datatype: str, dtype: np.dtype, shape: list[int], name: str) -> Any:
    count = _count(shape)
    if datatype == "BYTES":
        flat = _flatten(data, name)
        for x in flat:
            if not isinstance(x, str):
                raise _fail(f"input '{name}': BYTES data in JSON must be strings, got {x!r}")
        if len(flat) != count:
            raise _fail(_count_message(name, shape, len(flat)))
        arr = np.empty(count, dtype=object)
        arr[:] = flat
        return arr.reshape(shape)
    if not isinstance(data, list):
        raise _fail(f"input '{name}': data must be a JSON array, got {type(data).__name__}")
    try:
        arr = np.asarray(data)
    except ValueError:
        raise _fail(f"input '{name}': data is a ragged nested array") from None
    if arr.size != count:
        raise _fail(_count_message(name, shape, arr.size))
    if count == 0:
        return np.empty(shape, dtype)
    kind = arr.dtype.kind
    if datatype == "BOOL":
        ok = kind == "b"
    elif dtype.kind in "iu":
        if kind in "fO" and dtype == np.uint64:
            # NumPy reads ints past int64's range as floats or objects: check them as ints
            flat = _flatten(data, name)
            if all(type(x) is int and 0 <= x < 2**64 for x in flat):
                return np.array(flat, dtype=dtype).reshape(shape)
        ok = kind in "iu"
        if ok:
            info = np.iinfo(dtype)
            if int(arr.min()) < info.min or int(arr.max()) > info.max:
                raise _fail(f"input '{name}': a value is out of range for {datatype}")
    else:  # floats
        ok = kind in "iuf"
    if not ok:
        got = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers"}.get(
            kind, "strings or mixed values"
        )
        raise _fail(f"input '{name}' is {datatype}, but its JSON data holds {got}")
    return np.ascontiguousarray(arr, dtype=dtype).reshape(shape)


def _flatten(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise _fail(f"input '{name}': data must be a JSON array, got {type(data).__name__}")
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for x in stack[-1]:
            if isinstance(x, list):
                stack.append(iter(x))
                break
            out.append(x)
        else:
            stack.pop()
    return out


def _count_message(name: str, shape: list[int], got: int) -> str:
    return f"input '{name}' has shape {shape} ({_count(shape)} elements), got {got} elements"


def _binary_tensor(
    blob: memoryview, datatype: str, dtype: np.dtype, shape: list[int], name: str
) -> np.ndarray:
    count = _count(shape)
    if datatype == "BYTES":
        items: list[str] = []
        pos, end = 0, len(blob)
        while pos < end:
            if end - pos < 4:
                raise _fail(f"input '{name}': BYTES data ends inside an element's length")
            (n,) = _U32.unpack_from(blob, pos)
            pos += 4
            if n > end - pos:
                raise _fail(f"input '{name}': a BYTES element runs past the input's data")
            try:
                items.append(str(blob[pos : pos + n], "utf-8"))
            except UnicodeDecodeError:
                raise _fail(
                    f"input '{name}': BYTES element {len(items)} is not UTF-8 (ONNX string "
                    "tensors hold text)"
                ) from None
            pos += n
        if len(items) != count:
            raise _fail(_count_message(name, shape, len(items)))
        arr = np.empty(count, dtype=object)
        arr[:] = items
        return arr.reshape(shape)
    need = count * dtype.itemsize
    if len(blob) != need:
        raise _fail(
            f"input '{name}' is {datatype} {shape}: {need} bytes, but its binary_data_size "
            f"is {len(blob)}"
        )
    # Over the request body, no copy (read-only; ortnative copies if unaligned).
    return np.frombuffer(blob, dtype=dtype, count=count).reshape(shape)


def decode_request(
    body: bytes,
    header_length: str | None,
    model: str,
    inputs: Mapping[str, TensorInfo],
    outputs: Mapping[str, TensorInfo],
) -> InferRequest:
    """Decodes an infer request for MODEL, whose inputs and outputs are given by name.

    ``header_length`` is the ``Inference-Header-Content-Length`` header's value (None
    without it: the whole body is JSON). Checks names, datatypes, shapes, element counts
    and binary sizes against the model; raises :class:`ProtocolError` (400)."""
    if header_length is None:
        hlen = len(body)
    else:
        try:
            hlen = int(header_length)
        except ValueError:
            hlen = -1
        if not 0 <= hlen <= len(body):
            raise _fail(
                f"Inference-Header-Content-Length is {header_length!r}, but the body has "
                f"{len(body)} bytes"
            )
    view = memoryview(body)
    try:
        head = orjson.loads(view[:hlen])
    except orjson.JSONDecodeError as exc:
        raise _fail(f"the request is not valid JSON: {exc}") from None
    if not isinstance(head, dict):
        raise _fail(f"the request must be a JSON object, got {type(head).__name__}")
    rid = head.get("id")
    if rid is not None and not isinstance(rid, str):
        raise _fail(f"the request's id must be a string, got {rid!r}")
    params = _dict(head.get("parameters"), "the request's parameters")
    binary_default = params.get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise _fail(f"binary_data_output must be true or false, got {binary_default!r}")
    priority = params.get("priority", 0)
    if type(priority) is not int or not 0 <= priority < 2**63:
        raise _fail(f"the priority parameter must be an int >= 0, got {priority!r}")
    timeout = params.get("timeout")
    if timeout is not None and (type(timeout) is not int or not 0 < timeout < 2**63):
        raise _fail(f"the timeout parameter must be microseconds (an int > 0), got {timeout!r}")

    raw_inputs = head.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise _fail("the request must have a non-empty 'inputs' array")
    feeds: dict[str, np.ndarray] = {}
    offset = hlen
    for raw in raw_inputs:
        if not isinstance(raw, dict):
            raise _fail(f"each input must be a JSON object, got {raw!r}")
        name = raw.get("name")
        if not isinstance(name, str):
            raise _fail(f"each input needs a string 'name', got {name!r}")
        info = inputs.get(name)
        if info is None:
            raise _fail(
                f"model '{model}' has no input '{name}' (inputs: {', '.join(inputs) or 'none'})"
            )
        if name in feeds:
            raise _fail(f"input '{name}' is given twice")
        got = raw.get("datatype")
        datatype = datatype_of(info.dtype)
        if datatype is None or got != datatype:
            raise _fail(f"input '{name}' of model '{model}' is {datatype}, got datatype {got!r}")
        dtype = _numpy_dtype(datatype)
        shape = _shape(raw.get("shape"), info, model)
        iparams = _dict(raw.get("parameters"), f"input '{name}': parameters")
        size = iparams.get("binary_data_size")
        if "shared_memory_region" in iparams:
            raise _fail(f"input '{name}': shared memory is not supported; send the data")
        has_data = "data" in raw
        if size is None:
            if not has_data:
                raise _fail(f"input '{name}' has neither 'data' nor a binary_data_size")
            feeds[name] = _json_tensor(raw["data"], datatype, dtype, shape, name)
        else:
            if has_data:
                raise _fail(f"input '{name}' has both 'data' and a binary_data_size")
            if type(size) is not int or size < 0:
                raise _fail(f"input '{name}': binary_data_size must be an int >= 0, got {size!r}")
            if offset + size > len(body):
                raise _fail(
                    f"input '{name}': binary_data_size {size} runs past the body's binary data "
                    f"({len(body) - hlen} bytes after the {hlen}-byte JSON header)"
                )
            feeds[name] = _binary_tensor(view[offset : offset + size], datatype, dtype, shape, name)
            offset += size
    if offset != len(body):
        raise _fail(
            f"the body has {len(body) - hlen} bytes of binary data after its JSON header, but "
            f"the inputs' binary_data_size add up to {offset - hlen}"
        )
    missing = [n for n in inputs if n not in feeds]
    if missing:
        raise _fail(f"model '{model}' needs input(s) {', '.join(repr(n) for n in missing)}")

    requested: list[RequestedOutput] = []
    raw_outputs = head.get("outputs")
    if raw_outputs is None:
        requested = [RequestedOutput(n, binary_default) for n in outputs]
    else:
        if not isinstance(raw_outputs, list):
            raise _fail("'outputs' must be a JSON array")
        seen = set()
        for raw in raw_outputs:
            name = raw.get("name") if isinstance(raw, dict) else None
            if not isinstance(name, str):
                raise _fail(f"each requested output needs a string 'name', got {raw!r}")
            if name not in outputs:
                raise _fail(
                    f"model '{model}' has no output '{name}' (outputs: {', '.join(outputs)})"
                )
            if name in seen:
                raise _fail(f"output '{name}' is requested twice")
            seen.add(name)
            oparams = _dict(raw.get("parameters"), f"output '{name}': parameters")
            if oparams.get("classification"):
                raise _fail(f"output '{name}': the classification extension is not supported")
            if "shared_memory_region" in oparams:
                raise _fail(f"output '{name}': shared memory is not supported")
            binary = oparams.get("binary_data", binary_default)
            if not isinstance(binary, bool):
                raise _fail(f"output '{name}': binary_data must be true or false")
            requested.append(RequestedOutput(name, binary))
    return InferRequest(rid, feeds, requested, priority, timeout, params)


def _json_data(arr: np.ndarray, datatype: str) -> Any:
    flat = arr.reshape(-1)
    if datatype == "BYTES":
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in flat]
    if datatype == "BF16":
        return flat.astype(np.float32)
    return np.ascontiguousarray(flat)


def _binary_data(arr: np.ndarray, datatype: str) -> bytes | memoryview:
    if datatype == "BYTES":
        parts = []
        for x in arr.reshape(-1):
            b = x if isinstance(x, bytes) else str(x).encode("utf-8")
            parts.append(_U32.pack(len(b)))
            parts.append(b)
        return b"".join(parts)
    arr = np.ascontiguousarray(arr)
    if arr.dtype.name == "bfloat16":
        arr = arr.view(np.uint16)
    return arr.data.cast("B")


def encode_response(
    model: str,
    version: str,
    request_id: str | None,
    results: Sequence[tuple[RequestedOutput, np.ndarray]],
) -> tuple[bytes, int | None]:
    """The response body and, when any output went in binary, the JSON header's length
    (for the ``Inference-Header-Content-Length`` header; None: all JSON)."""
    out_json = []
    blobs: list[bytes | memoryview] = []
    for req, arr in results:
        datatype = datatype_of(arr.dtype) or "BYTES"
        entry: dict[str, Any] = {"name": req.name, "datatype": datatype, "shape": list(arr.shape)}
        if req.binary:
            blob = _binary_data(arr, datatype)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _json_data(arr, datatype)
        out_json.append(entry)
    head: dict[str, Any] = {"model_name": model, "model_version": version}
    if request_id is not None:
        head["id"] = request_id
    head["outputs"] = out_json
    text = orjson.dumps(head, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return text, None
    return b"".join([text, *blobs]), len(text)
