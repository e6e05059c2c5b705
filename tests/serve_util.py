"""Helpers for the server's tests (tests/test_serve*.py): models written to files, the
server started as a real process (``python -m ortnative serve``) on 127.0.0.1 with a
port it picks itself, and its /metrics read back."""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import pytest

# Every datatype the protocol and ONNX Runtime share: v2 name -> NumPy dtype name.
DTYPES = {
    "BOOL": "bool",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BF16": "bfloat16",
    "BYTES": "str",
}


def need(module: str) -> ModuleType:
    """Imports MODULE; a missing one skips the test, or fails it under CI."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the server tests, but {module} is missing: {exc}")
        pytest.skip(f"{module} is not installed (pip install '.[test]'): {exc}")


def need_installed(module: str) -> None:
    """As :func:`need`, without importing MODULE here (for what a subprocess imports)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the server tests, but {module} is missing")
        pytest.skip(f"{module} is not installed (pip install '.[test]')")


def slow_model(steps: int = 12) -> bytes:
    """``y = x @ x @ ... @ x`` (STEPS products) over float32 [N, K, K]: a run's time grows
    with K^3, so a test picks how long a request keeps the model busy."""
    import onnx
    from onnx import helper as h

    f = onnx.TensorProto.FLOAT
    names = ["x"] + [f"p{i}" for i in range(steps - 1)] + ["y"]
    graph = h.make_graph(
        [h.make_node("MatMul", [names[i], "x"], [names[i + 1]]) for i in range(steps)],
        "slow",
        [h.make_tensor_value_info("x", f, ["N", "K", "K"])],
        [h.make_tensor_value_info("y", f, ["N", "K", "K"])],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def write_models(root: str) -> dict[str, str]:
    """The test models as files under ROOT: {name: path}."""
    from ortnative import models

    made = {
        "mlp": models.mlp(),
        "two": models.two_inputs(),
        "gather": models.gather(),
        "slow": slow_model(48),  # K=512: about 0.2 s a run
        "fixed": models.fixed_output(),
        "cnn_pre": models.small_cnn(classes=10, size=32),
    }
    for v2, np_name in DTYPES.items():
        made[f"id_{v2.lower()}"] = models.identity(np_name)
    paths = {}
    for name, data in made.items():
        path = os.path.join(root, f"{name}.onnx")
        with open(path, "wb") as f:
            f.write(data)
        paths[name] = path
    return paths


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    out: str
    err: str
    backend: str = ""
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        with open(self.out) as f, open(self.err) as g:
            return f.read() + g.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the server did not stop on {sig!r}:\n{self.output()}") from None


_STARTED: list[Server] = []


def stop_leftovers() -> None:
    """Kills every server a test started and did not stop (say, a failed assertion came
    first): no test leaves a process behind."""
    while _STARTED:
        server = _STARTED.pop()
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def start(
    tmp: str,
    args: list[str],
    backend: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    track: bool = True,
) -> Server:
    """Starts ``python -m ortnative serve ARGS --port 0`` on BACKEND and waits until it
    says where it listens. With TRACK, :func:`stop_leftovers` kills it if the test
    does not stop it."""
    full_env = {**os.environ, "ORTNATIVE_BACKEND": backend, **(env or {})}
    full_env.pop("ORTNATIVE_SERVE_TOKEN", None)
    full_env.update(env or {})
    n = len([p for p in os.listdir(tmp) if p.startswith("server-")])
    out, err = os.path.join(tmp, f"server-{n}.out"), os.path.join(tmp, f"server-{n}.err")
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ortnative", "serve", *args, "--port", "0"],
            stdout=fo,
            stderr=fe,
            stdin=subprocess.DEVNULL,
            env=full_env,
        )
    server = Server(proc, 0, out, err, backend)
    if track:
        _STARTED.append(server)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", server.output())
        if m:
            server.port = int(m.group(1))
            return server
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}:\n{server.output()}")
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise AssertionError(f"the server did not start in {timeout} s:\n{server.output()}")


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def metrics(server: Server) -> dict[str, float]:
    """/metrics as {'name{labels}': value}."""
    import httpx

    text = httpx.get(f"{server.http}/metrics", timeout=30).text
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def sample(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Test data of a v2 DTYPE: extremes of integer types included."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    name = DTYPES[dtype]
    if name == "str":
        words = ["", "a", "héllo wörld", "日本語", "x" * 300, "tab\there", 'quote"s']
        return np.array([words[i % len(words)] for i in range(n)], dtype=object).reshape(shape)
    if name == "bool":
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    if name == "bfloat16":
        import ml_dtypes

        return rng.standard_normal(n).astype(ml_dtypes.bfloat16).reshape(shape)
    dt = np.dtype(name)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        vals = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
        vals[:2] = [info.min, info.max][: min(2, n)]
        return vals.reshape(shape)
    return (rng.standard_normal(n) * 100).astype(dt).reshape(shape)


def infer(
    client: Any,
    model: str,
    arrays: dict[str, np.ndarray],
    datatypes: dict[str, str],
    *,
    binary: bool,
    outputs: list[str] | None = None,
    binary_out: bool | None = None,
    **kw: Any,
) -> Any:
    """One request through tritonclient.http."""
    import tritonclient.http as th

    inputs = []
    for name, arr in arrays.items():
        inp = th.InferInput(name, list(arr.shape), datatypes[name])
        inp.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(inp)
    outs = None
    if outputs is not None:
        b = binary if binary_out is None else binary_out
        outs = [th.InferRequestedOutput(o, binary_data=b) for o in outputs]
    return client.infer(model, inputs, outputs=outs, **kw)
