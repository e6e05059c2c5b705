"""``ortnative serve --ray``: the same app as a Ray Serve application with 2 replicas on a
local Ray cluster (started and stopped by the command, on 127.0.0.1), driven by
tritonclient.http: every request answered once, results equal to onnxruntime, and a
clean shutdown (exit 0, no Ray process left)."""

from __future__ import annotations

import concurrent.futures
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from serve_util import need, need_installed, write_models

N = 64
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ray_serve_two_replicas(backend, tmp_path):
    need_installed("ray")
    need("tritonclient.http")
    import onnxruntime as ort
    import psutil
    import tritonclient.http as th

    paths = write_models(str(tmp_path))
    port = _free_port()
    out = tmp_path / "ray.out"
    cmd = [
        sys.executable, "-m", "ortnative", "serve", paths["mlp"], "--ray", "--ray-replicas", "2",
        "--port", str(port), "--backend", backend, "--max-batch-size", "8",
        "--max-queue-delay-ms", "2", "--threads", "1", "--ray-cpus-per-replica", "0.5",
    ]  # fmt: skip
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "ORTNATIVE_BACKEND": backend}
    with open(out, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    ray_procs: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 240
        while "listening on" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        ray_procs = psutil.Process(proc.pid).children(recursive=True)
        replicas = [p for p in ray_procs if "ServeReplica:ortnative" in " ".join(p.cmdline())]
        assert len(replicas) == 2, [p.cmdline() for p in ray_procs]

        url = f"127.0.0.1:{port}"
        xs = [np.random.default_rng(i).standard_normal((1 + i % 3, 256)).astype(np.float32)
              for i in range(N)]  # fmt: skip
        so = ort.SessionOptions()
        so.log_severity_level = 3
        ref = ort.InferenceSession(paths["mlp"], so, providers=["CPUExecutionProvider"])

        def one(i: int) -> np.ndarray:
            client = th.InferenceServerClient(url, network_timeout=120)
            try:
                inp = th.InferInput("x", list(xs[i].shape), "FP32").set_data_from_numpy(xs[i])
                return client.infer("mlp", [inp], request_id=str(i)).as_numpy("y")
            finally:
                client.close()

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(N)))
        for x, got in zip(xs, results, strict=True):
            np.testing.assert_allclose(got, ref.run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)

        # Each replica has its own scheduler and /metrics, and logs each request it
        # answers: together they answered every request exactly once.
        pattern = os.path.join(os.environ["RAY_TMPDIR"], "ray", "session_2*", "logs", "serve")
        deadline = time.monotonic() + 60
        settled = False
        while True:  # Ray writes its logs asynchronously: wait until all lines are in
            served = {}
            logs = glob.glob(os.path.join(pattern, "replica_ortnative_*.log"))
            for log in logs:
                with open(log) as f:  # Ray logs the route: /v2/models/{name}/infer
                    served[log] = sum("POST /v2/models/{name}/infer 200" in line for line in f)
            if time.monotonic() > deadline or (sum(served.values()) >= N and settled):
                break
            settled = sum(served.values()) >= N  # then once more, a second later: no extras
            time.sleep(1.0 if settled else 0.5)
        assert len(served) == 2, logs
        assert sum(served.values()) == N, served
        assert all(served.values()), f"one replica served nothing: {served}"
        # The local cluster talks over loopback only (see ortnative.serve.ray.run_ray).
        for p in [psutil.Process(proc.pid), *ray_procs]:
            conns = p.net_connections if hasattr(p, "net_connections") else p.connections
            for conn in conns(kind="inet"):
                for addr in (conn.laddr, conn.raddr):
                    if addr and conn.status != psutil.CONN_LISTEN:
                        assert addr.ip in LOOPBACK, (p.cmdline(), conn)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, out.read_text()
    assert "ortnative serve: stopped" in out.read_text()
    _, alive = psutil.wait_procs(ray_procs, timeout=60)
    assert not alive, [p.cmdline() for p in alive]


@pytest.fixture(autouse=True)
def _ray_tmp(monkeypatch):
    # Ray keeps its session files and sockets under RAY_TMPDIR (default /tmp/ray): one
    # per test, short (a socket path can't pass 107 bytes).
    path = tempfile.mkdtemp(prefix="ortn-ray-")
    monkeypatch.setenv("RAY_TMPDIR", path)
    yield
    shutil.rmtree(path, ignore_errors=True)
