"""``ortnative serve`` as a process: SIGTERM/SIGINT drain in-flight requests and exit 0
(bounded by the drain timeout), an idle server uses (almost) no CPU, the bearer token,
start-up errors, and ``ortnative.serve.app`` mounted in someone else's service. Both
backends; every server here is a real process on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import numpy as np
import pytest
from conftest import require_backend
from serve_util import metrics, need, slow_model, start, stop_leftovers, write_models

DRAIN_CONFIG = """
[server]
threads = 1
drain_timeout_s = {drain}
max_body_mb = 4

[models.slow]
max_queue_size = 256
[models.slow.session]
intra_op_threads = 1
"""


@pytest.fixture(autouse=True)
def _no_server_left_behind() -> Any:
    yield
    stop_leftovers()


@pytest.fixture
def tools(backend: str) -> str:
    need("tritonclient.http")
    need("httpx")
    need("psutil")
    return backend


def _slow_server(tmp_path: Any, backend: str, drain: float) -> Any:
    path = tmp_path / "slow.onnx"
    path.write_bytes(slow_model())
    config = tmp_path / "serve.toml"
    config.write_text(DRAIN_CONFIG.format(drain=drain))
    return start(str(tmp_path), [str(path), "--config", str(config)], backend)


def _send(url: str, n: int, k: int) -> list[Any]:
    """N requests, each from its own thread and client (tritonclient's async_infer only
    sends while the caller waits in gevent): futures of the outputs."""
    import concurrent.futures

    import tritonclient.http as th

    def one() -> np.ndarray:
        client = th.InferenceServerClient(url, network_timeout=120)
        try:
            x = np.zeros((1, k, k), np.float32)
            inp = th.InferInput("x", [1, k, k], "FP32").set_data_from_numpy(x)
            return client.infer("slow", [inp]).as_numpy("y")
        finally:
            client.close()

    pool = concurrent.futures.ThreadPoolExecutor(n)
    futures = [pool.submit(one) for _ in range(n)]
    pool.shutdown(wait=False)
    return futures


def _wait_received(server: Any, n: int, timeout: float = 60) -> int:
    """Until the scheduler has had N requests (done, queued or running); returns how
    many it still holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = metrics(server)
        held = (
            m['nv_inference_pending_request_count{model="slow"}']
            + m['nv_inference_running_request_count{model="slow"}']
        )
        done = m.get('nv_inference_request_success{model="slow"}', 0)
        if held + done >= n:
            return int(held)
        time.sleep(0.01)
    raise AssertionError(f"the server never had {n} requests")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_in_flight_requests(tools, tmp_path, sig):
    """Requests in flight when the signal comes are all answered; new connections are
    refused; the process exits 0."""
    import httpx

    server = _slow_server(tmp_path, tools, drain=60)
    pending = _send(server.url, 12, 640)
    held = _wait_received(server, 12)
    assert held >= 2, "the requests ended before the signal: the test proves nothing"
    server.proc.send_signal(sig)
    t0 = time.monotonic()
    refused = False
    while time.monotonic() - t0 < 30 and not refused:
        try:
            httpx.get(f"{server.http}/v2/health/live", timeout=5)
            time.sleep(0.02)
        except httpx.TransportError:
            refused = True
    assert refused, "the server still accepts connections after the signal"
    for p in pending:
        assert p.result(timeout=120).shape == (1, 640, 640)
    assert server.proc.wait(60) == 0, server.output()
    assert "ortnative serve: stopped" in server.output()


def test_drain_is_bounded(tools, tmp_path):
    """With more queued work than the drain timeout allows, the server still exits 0
    soon after it; every request ends (answered or its connection closed)."""
    server = _slow_server(tmp_path, tools, drain=1)
    pending = _send(server.url, 64, 512)  # about 3 s of work on one thread
    _wait_received(server, 64)
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0, server.output()
    took = time.monotonic() - t0
    assert took < 20, f"exit took {took:.1f} s with a 1 s drain timeout"
    answered = failed = 0
    for p in pending:
        try:
            p.result(timeout=120)
            answered += 1
        except Exception:  # noqa: BLE001 - the connection closed: the expected end
            failed += 1
    assert answered + failed == 64
    assert failed > 0, "all 64 requests finished within a 1 s drain: the test proves nothing"


def test_idle_server_uses_no_cpu(serve_server):
    """After a burst of load, 10 idle seconds cost the whole server process (every
    thread) under 0.5 CPU seconds. (uvicorn wakes 10 times a second; a spinning thread
    would cost ~10 s.)"""
    import psutil
    import tritonclient.http as th

    client = th.InferenceServerClient(serve_server.url, concurrency=16, network_timeout=60)
    x = np.ones((1, 256), np.float32)
    pending = [
        client.async_infer("mlp", [th.InferInput("x", [1, 256], "FP32").set_data_from_numpy(x)])
        for _ in range(200)
    ]
    for p in pending:
        p.get_result()
    client.close()
    proc = psutil.Process(serve_server.proc.pid)
    time.sleep(1.0)  # ONNX Runtime's pool threads spin briefly after work
    before = proc.cpu_times()
    time.sleep(10.0)
    after = proc.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    print(f"idle server ({serve_server.backend}): {used:.3f} CPU s in 10 s")
    assert used < 0.5


def test_bearer_token(tools, tmp_path):
    import httpx
    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    paths = write_models(str(tmp_path))
    server = start(str(tmp_path), [paths["mlp"]], tools, env={"ORTNATIVE_SERVE_TOKEN": "s3cret"})
    try:
        assert "auth: bearer token from $ORTNATIVE_SERVE_TOKEN" in server.output()
        client = th.InferenceServerClient(server.url)
        # health, metadata and metrics stay open
        assert client.is_server_ready()
        assert client.get_model_metadata("mlp")["name"] == "mlp"
        x = np.ones((1, 256), np.float32)
        inp = [th.InferInput("x", [1, 256], "FP32").set_data_from_numpy(x)]
        for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            with pytest.raises(InferenceServerException) as err:
                client.infer("mlp", inp, headers=headers)
            assert err.value.status() == "401"
        r = httpx.post(f"{server.http}/v2/models/mlp/infer", json={}, timeout=30)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert "Bearer" in r.json()["error"]
        r = client.infer("mlp", inp, headers={"Authorization": "Bearer s3cret"})
        assert r.as_numpy("y").shape == (1, 10)
        key = 'nv_http_request_failure{model="mlp",reason="UNAUTHORIZED",code="401"}'
        assert metrics(server)[key] == 4
        client.close()
    finally:
        assert server.stop() == 0


def _serve_cli(args: list[str], backend: str, cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ortnative", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "ORTNATIVE_BACKEND": backend},
        check=False,
    )


def test_startup_errors(backend, tmp_path):
    """What can't start says why, exits 1, and serves nothing."""
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    (tmp_path / "bad.toml").write_text("[models.m]\npath = 'x.onnx'\nmax_batch = 4\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = write_models(str(tmp_path / "a"))
    (tmp_path / "b" / "mlp.onnx").write_bytes((tmp_path / "a" / "mlp.onnx").read_bytes())
    (tmp_path / "pre.toml").write_text("[models.mlp.preprocess]\nscale = 1.0\n")
    cases = [
        (["missing.onnx"], "ModelLoadError"),
        (["broken.onnx"], "ModelLoadError"),
        (["--config", "bad.toml"], "unknown setting 'max_batch'"),
        (["--config", "nothing.toml"], "cannot read config file"),
        ([], "no models to serve"),
        ([paths["mlp"], str(tmp_path / "b" / "mlp.onnx")], "two models are named 'mlp'"),
        ([paths["mlp"], "--max-batch-size", "0"], "max_batch_size must be an int from 1"),
        ([paths["mlp"], "--metrics-prefix", "9bad"], "prefix must start a Prometheus"),
        ([paths["id_bytes"], "--max-batch-size", "4"], "not a numeric tensor"),
        ([paths["mlp"], "--config", "pre.toml"], "is not an image batch"),
    ]
    for args, message in cases:
        proc = _serve_cli([*args, "--port", "0"], backend, str(tmp_path))
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "listening" not in proc.stdout


def test_port_in_use(tools, tmp_path):
    import socket

    paths = write_models(str(tmp_path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = _serve_cli([paths["mlp"], "--port", str(port)], tools, str(tmp_path))
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr


USER_SERVICE = """
import socket, sys
import numpy as np
import ortnative as ortn
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from ortnative.serve import app

sched = ortn.Scheduler(backend=sys.argv[2])
sched.add_model("mlp", sys.argv[1], max_batch_size=8)

async def hello(request):
    return PlainTextResponse("hello from the user's own route")

service = Starlette(routes=[Route("/hello", hello), Mount("/", app(sched, {"mlp": sys.argv[1]}))])
sock = socket.create_server(("127.0.0.1", 0))
print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
server = uvicorn.Server(uvicorn.Config(service, log_level="warning"))
server.run(sockets=[sock])
sched.close()
"""


def test_app_mounted_in_a_users_service(tools, tmp_path):
    """``ortnative.serve.app(scheduler, models)`` inside someone's Starlette app, run by
    their own uvicorn: tritonclient talks to it next to their own route."""
    import httpx
    import tritonclient.http as th

    paths = write_models(str(tmp_path))
    script = tmp_path / "service.py"
    script.write_text(textwrap.dedent(USER_SERVICE))
    out = tmp_path / "service.out"
    with open(out, "w") as f:
        proc = subprocess.Popen(
            [sys.executable, str(script), paths["mlp"], require_backend(tools)],
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        port = None
        for _ in range(1200):
            text = out.read_text()
            if "listening on" in text:
                port = int(text.split("127.0.0.1:")[1].split()[0])
                break
            assert proc.poll() is None, text
            time.sleep(0.05)
        assert port, out.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=30).text.startswith("hello")
        client = th.InferenceServerClient(f"127.0.0.1:{port}")
        x = np.ones((2, 256), np.float32)
        r = client.infer("mlp", [th.InferInput("x", [2, 256], "FP32").set_data_from_numpy(x)])
        assert r.as_numpy("y").shape == (2, 10)
        assert client.get_model_metadata("mlp")["inputs"][0]["shape"] == [-1, 256]
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
