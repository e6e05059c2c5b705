"""``ortnative serve`` speaks the Open Inference Protocol to a client written by others:
tritonclient.http, with JSON and binary tensors, on both backends (the server is a real
process; see the ``serve_server`` fixture in conftest.py and tests/serve_util.py)."""

from __future__ import annotations

import numpy as np
import pytest
from serve_util import DTYPES, infer, metrics, sample


@pytest.fixture
def client(serve_server):
    import tritonclient.http as th

    c = th.InferenceServerClient(serve_server.url, concurrency=16, network_timeout=120)
    yield c
    c.close()


def _reference(path: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feeds)


def test_health_and_server_metadata(client, serve_server):
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "ortnative"
    assert "binary_tensor_data" in meta["extensions"]
    for name in serve_server.paths:
        assert client.is_model_ready(name)
        assert client.is_model_ready(name, model_version="1")


def test_model_metadata(client):
    meta = client.get_model_metadata("mlp")
    assert meta["name"] == "mlp"
    assert meta["versions"] == ["1"]
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 256]}]
    assert meta["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 10]}]
    assert client.get_model_metadata("fixed")["inputs"][0]["shape"] == [2, 3]
    assert client.get_model_metadata("slow")["inputs"][0]["shape"] == [-1, -1, -1]
    for v2 in DTYPES:
        meta = client.get_model_metadata(f"id_{v2.lower()}", model_version="1")
        assert meta["inputs"][0]["datatype"] == v2
        assert meta["outputs"][0]["datatype"] == v2


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_mlp_equals_onnxruntime(client, serve_server, binary):
    x = np.random.default_rng(1).standard_normal((5, 256)).astype(np.float32)
    (want,) = _reference(serve_server.paths["mlp"], {"x": x})
    r = infer(client, "mlp", {"x": x}, {"x": "FP32"}, binary=binary, outputs=["y"])
    got = r.as_numpy("y")
    assert got.dtype == np.float32
    assert got.shape == (5, 10)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # No outputs named: tritonclient asks for all of them, in binary.
    r = infer(client, "mlp", {"x": x}, {"x": "FP32"}, binary=binary)
    np.testing.assert_allclose(r.as_numpy("y"), want, rtol=1e-5, atol=1e-6)
    assert r.get_output("y")["parameters"]["binary_data_size"] == want.nbytes


# tritonclient sends BF16 in binary only: test_bf16_json sends it in JSON.
CASES = [(d, b) for d in DTYPES for b in (True, False) if d != "BF16" or b]


@pytest.mark.parametrize(
    ("dtype", "binary"), CASES, ids=[f"{d}-{'binary' if b else 'json'}" for d, b in CASES]
)
def test_every_datatype(client, dtype, binary):
    x = sample(dtype, (7,), seed=len(dtype))
    r = infer(client, f"id_{dtype.lower()}", {"x": x}, {"x": dtype}, binary=binary, outputs=["y"])
    out = r.get_output("y")
    assert out["datatype"] == dtype
    assert out["shape"] == [7]
    got = r.as_numpy("y")
    if dtype == "BYTES":
        # binary BYTES come back as bytes (tritonclient's choice), JSON as str
        got = [g.decode() if isinstance(g, bytes) else g for g in got]
        assert got == list(x)
    else:
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(got, x)
    # and binary in, JSON out (or the other way round)
    r = infer(
        client,
        f"id_{dtype.lower()}",
        {"x": x},
        {"x": dtype},
        binary=binary,
        outputs=["y"],
        binary_out=not binary,
    )
    got = r.as_numpy("y")
    if dtype == "BYTES":
        assert [g.decode() if isinstance(g, bytes) else g for g in got] == list(x)
    else:
        np.testing.assert_array_equal(got, x)


def test_bf16_json(serve_server):
    import httpx
    import ml_dtypes

    vals = [1.0, -2.5, 0.0078125, 3.0e38]
    body = {"inputs": [{"name": "x", "datatype": "BF16", "shape": [4], "data": vals}]}
    r = httpx.post(f"{serve_server.http}/v2/models/id_bf16/infer", json=body, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["datatype"] == "BF16"
    want = np.array(vals, ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(np.array(out["data"], np.float32), want)


def test_empty_and_nested_json(serve_server):
    import httpx

    url = f"{serve_server.http}/v2/models/mlp/infer"
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [0, 256], "data": []}]}
    r = httpx.post(url, json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [0, 10]
    # nested data, row-major, is the same as flat
    nested = [[float(i % 7) for i in range(256)], [1.0] * 256]
    flat = [v for row in nested for v in row]
    a = httpx.post(
        url,
        json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 256], "data": nested}]},
        timeout=60,
    ).json()
    b = httpx.post(
        url,
        json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 256], "data": flat}]},
        timeout=60,
    ).json()
    assert a["outputs"] == b["outputs"]


def test_requested_outputs_and_id(client, serve_server):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 2.0, np.float32)
    types = {"a": "FP32", "b": "FP32"}
    r = infer(
        client, "two", {"a": a, "b": b}, types, binary=True, outputs=["prod"], request_id="r-42"
    )
    resp = r.get_response()
    assert resp["id"] == "r-42"
    assert resp["model_name"] == "two"
    assert resp["model_version"] == "1"
    assert [o["name"] for o in resp["outputs"]] == ["prod"]
    np.testing.assert_array_equal(r.as_numpy("prod"), a * b)
    assert r.as_numpy("sum") is None
    # mixed: one output in binary, one in JSON, in the order asked
    import tritonclient.http as th

    inputs = []
    for name, arr in (("a", a), ("b", b)):
        inputs.append(th.InferInput(name, [2, 3], "FP32").set_data_from_numpy(arr))
    outs = [th.InferRequestedOutput("sum", binary_data=False), th.InferRequestedOutput("prod")]
    r = client.infer("two", inputs, outputs=outs)
    assert [o["name"] for o in r.get_response()["outputs"]] == ["sum", "prod"]
    assert "data" in r.get_output("sum")
    assert "binary_data_size" in r.get_output("prod")["parameters"]
    np.testing.assert_array_equal(r.as_numpy("sum"), a + b)
    np.testing.assert_array_equal(r.as_numpy("prod"), a * b)
    # no id asked, none echoed
    r = infer(client, "two", {"a": a, "b": b}, types, binary=True)
    assert "id" not in r.get_response()


def test_priority_and_timeout_parameters(client):
    a = np.ones((1, 3), np.float32)
    types = {"a": "FP32", "b": "FP32"}
    for level in (1, 2, 3):
        r = infer(client, "two", {"a": a, "b": a}, types, binary=True, priority=level)
        np.testing.assert_array_equal(r.as_numpy("sum"), a + a)
    r = infer(client, "two", {"a": a, "b": a}, types, binary=False, timeout=10_000_000)
    np.testing.assert_array_equal(r.as_numpy("prod"), a * a)


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_request(client, serve_server, algorithm):
    x = np.random.default_rng(2).standard_normal((3, 256)).astype(np.float32)
    (want,) = _reference(serve_server.paths["mlp"], {"x": x})
    r = infer(
        client, "mlp", {"x": x}, {"x": "FP32"}, binary=True, request_compression_algorithm=algorithm
    )
    np.testing.assert_allclose(r.as_numpy("y"), want, rtol=1e-5, atol=1e-6)


def _batch_counts(server) -> tuple[float, float]:
    m = metrics(server)
    return m['nv_inference_count{model="mlp"}'], m['nv_inference_exec_count{model="mlp"}']


def test_batching_across_concurrent_clients(client, serve_server):
    """64 requests from 16 concurrent connections: the scheduler runs them in batches of
    several rows, and each client gets its own rows back."""
    import tritonclient.http as th

    rows0, runs0 = _batch_counts(serve_server)
    xs = [np.random.default_rng(i).standard_normal((1, 256)).astype(np.float32) for i in range(64)]
    want = _reference(serve_server.paths["mlp"], {"x": np.concatenate(xs)})[0]
    pending = []
    for x in xs:
        inp = th.InferInput("x", [1, 256], "FP32").set_data_from_numpy(x)
        pending.append(client.async_infer("mlp", [inp]))
    for i, p in enumerate(pending):
        np.testing.assert_allclose(
            p.get_result().as_numpy("y"), want[i : i + 1], rtol=1e-5, atol=1e-6
        )
    rows1, runs1 = _batch_counts(serve_server)
    assert rows1 - rows0 == 64
    assert runs1 - runs0 < 64, "no two concurrent requests ran in one batch"
    m = metrics(serve_server)
    # the batch size histogram has runs of more than one row
    assert (
        m['nv_inference_batch_size_count{model="mlp"}']
        < m['nv_inference_batch_size_sum{model="mlp"}']
    )


def test_metrics(client, serve_server):
    x = np.ones((2, 256), np.float32)
    before = metrics(serve_server)
    infer(client, "mlp", {"x": x}, {"x": "FP32"}, binary=True)
    after = metrics(serve_server)
    key = 'nv_inference_request_success{model="mlp"}'
    assert after[key] == before.get(key, 0) + 1
    key = 'nv_http_request_success{model="mlp"}'
    assert after[key] == before.get(key, 0) + 1
    assert 'nv_inference_pending_request_count{model="mlp"}' in after
    assert 'nv_inference_request_duration_us{model="mlp"}' in after


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_raw_images_through_the_preprocessor(client, serve_server, binary):
    """A model configured with [preprocess] takes raw uint8 images; the server runs
    ImagePreprocessor (size, layout and dtype from the model) before the model."""
    import ortnative as ortn

    meta = client.get_model_metadata("cnn_pre")
    assert meta["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [-1, -1, -1, 3]}]
    images = np.random.default_rng(3).integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    pre = ortn.ImagePreprocessor(
        size=(32, 32),
        scale=1 / 255,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        backend=serve_server.backend,
    )
    (want,) = _reference(serve_server.paths["cnn_pre"], {"image": pre(images)})
    r = infer(client, "cnn_pre", {"image": images}, {"image": "UINT8"}, binary=binary)
    np.testing.assert_allclose(r.as_numpy("probs"), want, rtol=1e-5, atol=1e-6)
