"""Bad requests to ``ortnative serve`` get the protocol's ``{"error": "..."}`` with the
right status (never a 500), are counted in /metrics by reason, and leave the server
serving. Malformed requests are sent raw with httpx (a client that can send anything);
the rest through tritonclient.http. Both backends (``serve_server`` in conftest.py)."""

from __future__ import annotations

import gzip
import json
import re
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from serve_util import metrics


@dataclass
class Bad:
    """A bad request: what to send, and what must come back."""

    id: str
    body: Any  # a dict (sent as JSON), or bytes as they are
    status: int
    match: str
    reason: str = "INVALID_REQUEST"
    model: str = "mlp"
    path: str = ""  # default: /v2/models/{model}/infer
    headers: dict[str, str] = field(default_factory=dict)
    label: str | None = None  # the model label it is counted under (default: model)


def _x(**kw: Any) -> dict[str, Any]:
    t = {"name": "x", "datatype": "FP32", "shape": [1, 256], "data": [0.0] * 256}
    t.update(kw)
    return {"inputs": [t]}


def _binary(head: dict[str, Any], blob: bytes, hlen: int | None = None) -> tuple[bytes, dict]:
    text = json.dumps(head).encode()
    n = len(text) if hlen is None else hlen
    return text + blob, {"Inference-Header-Content-Length": str(n)}


_ONE_ROW = np.zeros((1, 256), np.float32).tobytes()
_BIN_X = {"name": "x", "datatype": "FP32", "shape": [1, 256]}


def _bin_case(id: str, head: dict, blob: bytes, match: str, hlen: Any = None, **kw: Any) -> Bad:
    body, headers = _binary(head, blob, hlen if isinstance(hlen, int) else None)
    if isinstance(hlen, str):
        headers["Inference-Header-Content-Length"] = hlen
    return Bad(id, body, 400, match, headers=headers, **kw)


def _bytes_case(id: str, blob: bytes, match: str) -> Bad:
    head = {
        "inputs": [
            {
                "name": "x",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"binary_data_size": len(blob)},
            }
        ]
    }
    return _bin_case(id, head, blob, match, model="id_bytes")


CASES = [
    # malformed
    Bad("not-json", b'{"inputs": [', 400, "not valid JSON"),
    Bad("not-an-object", b"[1, 2]", 400, "must be a JSON object"),
    Bad("no-inputs", {}, 400, "non-empty 'inputs'"),
    Bad("input-not-object", {"inputs": [3]}, 400, "each input must be a JSON object"),
    Bad("id-not-string", {**_x(), "id": 7}, 400, "id must be a string"),
    Bad("bad-priority", {**_x(), "parameters": {"priority": -1}}, 400, "priority parameter"),
    Bad("bad-timeout", {**_x(), "parameters": {"timeout": 0}}, 400, "timeout parameter"),
    Bad(
        "priority-above-levels",
        {
            "inputs": [
                {"name": n, "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]} for n in "ab"
            ],
            "parameters": {"priority": 4},
        },
        400,
        r"priority 4 is above model 'two'",
        model="two",
    ),
    # unknown names
    Bad("unknown-model", _x(), 404, "unknown model 'nope'", "UNKNOWN_MODEL", "nope", label=""),
    Bad(
        "unknown-version",
        _x(),
        404,
        "version 1 only",
        "UNKNOWN_MODEL",
        path="/v2/models/mlp/versions/2/infer",
        label="",
    ),
    Bad("unknown-input", _x(name="z"), 400, "model 'mlp' has no input 'z'"),
    Bad(
        "missing-input",
        {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]},
        400,
        "needs input.*'b'",
        model="two",
    ),
    Bad("input-twice", {"inputs": _x()["inputs"] * 2}, 400, "given twice"),
    Bad("unknown-output", {**_x(), "outputs": [{"name": "nope"}]}, 400, "has no output 'nope'"),
    Bad(
        "classification",
        {**_x(), "outputs": [{"name": "y", "parameters": {"classification": 3}}]},
        400,
        "classification",
    ),
    # datatype, shape, element count
    Bad("wrong-datatype", _x(datatype="FP64"), 400, "is FP32, got datatype 'FP64'"),
    Bad("wrong-rank", _x(shape=[256]), 400, "rank 2"),
    Bad("wrong-dim", _x(shape=[1, 255], data=[0.0] * 255), 400, "dimension 1 must be 256"),
    Bad("bad-shape", _x(shape=[1, -256]), 400, "shape must be a list of ints"),
    Bad("element-count", _x(shape=[2, 256]), 400, r"\[2, 256\] \(512 elements\), got 256"),
    Bad("strings-as-fp32", _x(data=["a"] * 256), 400, "JSON data holds strings"),
    Bad("ragged", _x(data=[[0.0] * 256, [0.0]]), 400, "ragged"),
    Bad(
        "int-out-of-range",
        {"inputs": [{"name": "x", "datatype": "INT8", "shape": [2], "data": [1, 300]}]},
        400,
        "out of range for INT8",
        model="id_int8",
    ),
    Bad(
        "float-as-int",
        {"inputs": [{"name": "x", "datatype": "INT32", "shape": [1], "data": [1.5]}]},
        400,
        "INT32, but its JSON data holds numbers",
        model="id_int32",
    ),
    Bad("no-data", _x(data=None) | {"inputs": [_BIN_X]}, 400, "neither 'data' nor"),
    # binary data
    _bin_case(
        "binary-size-vs-shape",
        {"inputs": [{**_BIN_X, "parameters": {"binary_data_size": 100}}]},
        b"\0" * 100,
        "1024 bytes, but its binary_data_size is 100",
    ),
    _bin_case(
        "header-length-past-body",
        {"inputs": [{**_BIN_X, "parameters": {"binary_data_size": 1024}}]},
        _ONE_ROW,
        "Inference-Header-Content-Length is '99999'",
        hlen=99999,
    ),
    _bin_case(
        "header-length-not-int",
        {"inputs": [{**_BIN_X, "parameters": {"binary_data_size": 1024}}]},
        _ONE_ROW,
        "Inference-Header-Content-Length is 'ten'",
        hlen="ten",
    ),
    _bin_case(
        "header-length-short",
        {"inputs": [{**_BIN_X, "parameters": {"binary_data_size": 1024}}]},
        _ONE_ROW,
        "not valid JSON",
        hlen=10,
    ),
    _bin_case(
        "binary-left-over",
        {"inputs": [{**_BIN_X, "parameters": {"binary_data_size": 1024}}]},
        _ONE_ROW + b"\0" * 8,
        "1032 bytes of binary data .* add up to 1024",
    ),
    _bin_case(
        "binary-runs-past",
        {"inputs": [{**_BIN_X, "parameters": {"binary_data_size": 2048}}]},
        _ONE_ROW,
        "binary_data_size 2048 runs past",
    ),
    _bin_case(
        "data-and-binary",
        {"inputs": [{**_BIN_X, "data": [0.0] * 256, "parameters": {"binary_data_size": 1024}}]},
        _ONE_ROW,
        "both 'data' and a binary_data_size",
    ),
    _bytes_case("bytes-not-utf8", struct.pack("<I", 2) + b"\xff\xfe", "not UTF-8"),
    _bytes_case("bytes-truncated-length", b"\x05\x00", "ends inside an element's length"),
    _bytes_case("bytes-element-past-end", struct.pack("<I", 9) + b"abc", "runs past"),
    # size and encoding
    Bad("too-large", b"x" * (2 * 1024 * 1024 + 1), 413, "above the limit", "TOO_LARGE"),
    Bad(
        "bad-encoding",
        b"abc",
        415,
        "Content-Encoding 'br'",
        headers={"Content-Encoding": "br"},
    ),
    Bad(
        "corrupt-gzip",
        b"\x1f\x8bnot gzip",
        400,
        "gzip body is corrupt",
        headers={"Content-Encoding": "gzip"},
    ),
    Bad(
        "truncated-gzip",
        gzip.compress(json.dumps(_x()).encode())[:-12],
        400,
        "truncated",
        headers={"Content-Encoding": "gzip"},
    ),
    Bad(
        "gzip-bomb",
        gzip.compress(b" " * (8 * 1024 * 1024)),
        413,
        "decompressed request body",
        "TOO_LARGE",
        headers={"Content-Encoding": "gzip"},
    ),
    Bad(
        "deflate-bomb",
        zlib.compress(b" " * (8 * 1024 * 1024)),
        413,
        "decompressed request body",
        "TOO_LARGE",
        headers={"Content-Encoding": "deflate"},
    ),
]


def _failure_key(label: str, reason: str, status: int) -> str:
    return f'nv_http_request_failure{{model="{label}",reason="{reason}",code="{status}"}}'


def _check(server: Any, r: Any, status: int, match: str, key: str | None, before: dict) -> None:
    import httpx

    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert isinstance(err, str)
    assert re.search(match, err), err
    if key is not None:
        assert metrics(server).get(key, 0) == before.get(key, 0) + 1, key
    assert httpx.get(f"{server.http}/v2/health/live", timeout=30).status_code == 200


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request(serve_server, case):
    import httpx

    path = case.path or f"/v2/models/{case.model}/infer"
    key = _failure_key(case.model if case.label is None else case.label, case.reason, case.status)
    before = metrics(serve_server)
    kw: dict[str, Any] = {"headers": case.headers, "timeout": 60}
    if isinstance(case.body, dict):
        kw["json"] = case.body
    else:
        kw["content"] = case.body
    r = httpx.post(serve_server.http + path, **kw)
    _check(serve_server, r, case.status, case.match, key, before)


def test_too_large_when_streamed(serve_server):
    """A body without Content-Length (chunked) is cut off at the limit too."""
    import httpx

    def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MB in all

    key = _failure_key("mlp", "TOO_LARGE", 413)
    before = metrics(serve_server)
    r = httpx.post(f"{serve_server.http}/v2/models/mlp/infer", content=chunks(), timeout=60)
    _check(serve_server, r, 413, "above the limit", key, before)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/models/mlp/infer", 405),
        ("POST", "/v2/health/live", 405),
        ("GET", "/v2/nothing/here", 404),
        ("GET", "/v2/models/nope", 404),
        ("GET", "/v2/models/nope/ready", 404),
        ("GET", "/v2/models/mlp/versions/7", 404),
    ],
)
def test_bad_route(serve_server, method, path, status):
    import httpx

    before = metrics(serve_server)
    r = httpx.request(method, serve_server.http + path, timeout=60)
    _check(serve_server, r, status, r".", None, before)


def test_model_fails_at_run_time(serve_server):
    """ONNX Runtime fails the run (an index out of range): 422 with ORT's message, while
    requests batched with it succeed."""
    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    client = th.InferenceServerClient(serve_server.url, concurrency=8, network_timeout=60)
    key = _failure_key("gather", "MODEL_ERROR", 422)
    before = metrics(serve_server)
    pending = []
    for i in range(8):
        idx = np.array([99 if i == 3 else i], np.int64)
        inp = th.InferInput("idx", [1], "INT64").set_data_from_numpy(idx)
        pending.append(client.async_infer("gather", [inp]))
    for i, p in enumerate(pending):
        if i == 3:
            with pytest.raises(InferenceServerException) as err:
                p.get_result()
            assert err.value.status() == "422"
            assert "ONNX Runtime failed to run" in err.value.message()
            assert "gather" in err.value.message()
        else:
            assert p.get_result().as_numpy("y").tolist() == [float(i)]
    client.close()
    assert metrics(serve_server)[key] == before.get(key, 0) + 1
    # the scheduler counted the run's failure too
    assert (
        metrics(serve_server)['nv_inference_request_failure{model="gather",reason="BACKEND"}'] >= 1
    )


def _slow(client: Any, k: int, **kw: Any) -> Any:
    import tritonclient.http as th

    x = np.zeros((1, k, k), np.float32)
    inp = th.InferInput("x", [1, k, k], "FP32").set_data_from_numpy(x)
    return client.async_infer("slow", [inp], outputs=[th.InferRequestedOutput("y")], **kw)


def test_queue_full(serve_server):
    """The slow model runs one request and queues one: the others are refused at once
    with 503, and every request is answered."""
    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    client = th.InferenceServerClient(serve_server.url, concurrency=8, network_timeout=120)
    key = _failure_key("slow", "QUEUE_FULL", 503)
    before = metrics(serve_server)
    pending = [_slow(client, 512) for _ in range(8)]
    ok = refused = 0
    errors = []
    for p in pending:
        try:
            assert p.get_result().as_numpy("y").shape == (1, 512, 512)
            ok += 1
        except InferenceServerException as exc:
            errors.append(exc)
            refused += 1
    assert all(e.status() == "503" and "QueueFullError" in e.message() for e in errors), errors
    client.close()
    assert ok >= 1
    assert refused >= 1
    assert ok + refused == 8
    after = metrics(serve_server)
    assert after[key] == before.get(key, 0) + refused
    assert after['nv_inference_request_failure{model="slow",reason="REJECTED"}'] >= refused


def test_request_timeout(serve_server):
    """A request still queued at its deadline (the ``timeout`` parameter, in us) gets 504."""
    import concurrent.futures

    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    def request(k: int) -> tuple[Any, list[Any]]:
        client = th.InferenceServerClient(serve_server.url, network_timeout=120)
        x = np.zeros((1, k, k), np.float32)
        return client, [th.InferInput("x", [1, k, k], "FP32").set_data_from_numpy(x)]

    key = _failure_key("slow", "TIMEOUT", 504)
    before = metrics(serve_server)
    # K=700: about 0.5 s of work in a body under the 2 MB limit; the late request's client
    # and input are made beforehand. Both so that it arrives while the first runs even
    # where the client's Python is slow (under ASan, 0.2 s and a client made after the
    # first started were not enough: the first had ended by then).
    first_client, first_inputs = request(700)
    late_client, late_inputs = request(64)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            first = pool.submit(first_client.infer, "slow", first_inputs)
            # once it runs, the next request queues behind it (one replica)
            deadline = time.monotonic() + 60
            while metrics(serve_server)['nv_inference_running_request_count{model="slow"}'] < 1:
                assert time.monotonic() < deadline, "the first request never ran"
                time.sleep(0.002)
            with pytest.raises(InferenceServerException) as err:
                late_client.infer("slow", late_inputs, timeout=1000)
            assert first.result().as_numpy("y").shape == (1, 700, 700)
    finally:
        first_client.close()
        late_client.close()
    assert err.value.status() == "504"
    assert "RequestTimeoutError" in err.value.message()
    assert metrics(serve_server)[key] == before.get(key, 0) + 1


def test_still_serving_after_all_that(serve_server):
    import tritonclient.http as th

    client = th.InferenceServerClient(serve_server.url)
    x = np.ones((1, 256), np.float32)
    r = client.infer("mlp", [th.InferInput("x", [1, 256], "FP32").set_data_from_numpy(x)])
    assert r.as_numpy("y").shape == (1, 10)
    client.close()
