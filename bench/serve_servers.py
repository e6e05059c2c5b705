"""The servers bench/serve.py compares ortnative serve with, each written the way its
users write it, at its best configuration on this machine. Run as a script, one server
per process, on 127.0.0.1:

    python bench/serve_servers.py fastapi MODEL --port P --workers N
    python bench/serve_servers.py kserve MODEL --port P --workers N
    python bench/serve_servers.py ray MODEL --port P --replicas N --max-batch B --wait-ms W

- ``fastapi``: a plain FastAPI endpoint calling ``onnxruntime`` (the way most services
  are written), raw float32 bytes in and out (its fastest format), one uvicorn worker
  process per core, each with its own session on one intra-op thread.
- ``kserve``: KServe's Python model server (``kserve.Model``) with an ``onnxruntime``
  session, Open Inference Protocol with binary tensors (the same requests as ortnative
  serve), one worker per core.
- ``ray``: Ray Serve, ``@serve.batch`` over an ``onnxruntime`` session, one replica per
  core (a local cluster on loopback), raw float32 bytes in and out.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.
import argparse
import os
import sys
import uuid
from typing import Any

import numpy as np


def _session(path: str, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _shape_of(sess: Any) -> tuple[str, tuple[int, ...]]:
    inp = sess.get_inputs()[0]
    return inp.name, tuple(d if isinstance(d, int) else -1 for d in inp.shape[1:])


# -- FastAPI -------------------------------------------------------------------------
def fastapi_app() -> Any:
    """The FastAPI app (uvicorn imports it by name in each worker: MODEL and THREADS
    come from the environment)."""
    from fastapi import FastAPI, Request, Response
    from fastapi.concurrency import run_in_threadpool

    sess = _session(os.environ["BENCH_MODEL"], int(os.environ.get("BENCH_THREADS", "1")))
    name, row = _shape_of(sess)
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        x = np.frombuffer(await request.body(), np.float32).reshape(-1, *row)
        (y,) = await run_in_threadpool(sess.run, None, {name: x})
        return Response(y.tobytes(), media_type="application/octet-stream")

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return app


def run_fastapi(args: argparse.Namespace) -> None:
    import uvicorn

    os.environ["BENCH_MODEL"] = args.model
    os.environ["BENCH_THREADS"] = str(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    uvicorn.run(
        "serve_servers:fastapi_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


# -- KServe --------------------------------------------------------------------------
# With several workers KServe starts them with multiprocessing's spawn and pickles the
# model: its class lives at module level, defined when BENCH_KSERVE is set (kserve
# parses the command line when imported, so it is imported with an empty one).
if os.environ.get("BENCH_KSERVE"):
    _argv, sys.argv = sys.argv, sys.argv[:1]
    import kserve
    from kserve import InferOutput, InferRequest, InferResponse

    sys.argv = _argv

    class OrtModel(kserve.Model):  # type: ignore[misc]
        def __init__(self, name: str, path: str, threads: int) -> None:
            super().__init__(name)
            self.path, self.threads = path, threads
            self.load()

        def load(self) -> bool:
            self.sess = _session(self.path, self.threads)
            self.input = self.sess.get_inputs()[0].name
            self.output = self.sess.get_outputs()[0].name
            self.ready = True
            return True

        def __getstate__(self) -> dict:
            return {k: v for k, v in self.__dict__.items() if k != "sess"}

        def __setstate__(self, state: dict) -> None:
            self.__dict__.update(state)
            self.load()

        def predict(
            self, payload: InferRequest, headers: Any = None, response_headers: Any = None
        ) -> Any:
            x = payload.inputs[0].as_numpy()
            (y,) = self.sess.run(None, {self.input: x})
            out = InferOutput(name=self.output, shape=list(y.shape), datatype="FP32")
            out.set_data_from_numpy(y, binary_data=True)
            rid = payload.id or str(uuid.uuid4())  # KServe's examples do the same
            return InferResponse(model_name=self.name, infer_outputs=[out], response_id=rid)


def run_kserve(args: argparse.Namespace) -> None:
    if not os.environ.get("BENCH_KSERVE"):
        raise SystemExit("set BENCH_KSERVE=1 for the kserve server (see the comment above)")
    model = OrtModel(args.name, args.model, args.threads)
    kserve.ModelServer(
        http_port=args.port,
        grpc_port=args.port + 1,
        enable_grpc=False,
        workers=args.workers,
        enable_latency_logging=False,
    ).start([model])


# -- Ray Serve -----------------------------------------------------------------------
def run_ray(args: argparse.Namespace) -> None:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
    import signal
    import threading

    import ray
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import Response

    @serve.deployment(
        num_replicas=args.replicas,
        max_ongoing_requests=1024,
        ray_actor_options={"num_cpus": 1},
    )
    class Batched:
        def __init__(self, path: str, threads: int) -> None:
            self.sess = _session(path, threads)
            self.name, self.row = _shape_of(self.sess)

        @serve.batch(max_batch_size=args.max_batch, batch_wait_timeout_s=args.wait_ms / 1000)
        async def run(self, xs: list[np.ndarray]) -> list[np.ndarray]:
            sizes = [len(x) for x in xs]
            (y,) = self.sess.run(None, {self.name: np.concatenate(xs)})
            return list(np.split(y, np.cumsum(sizes)[:-1]))

        async def __call__(self, request: Request) -> Response:
            x = np.frombuffer(await request.body(), np.float32).reshape(-1, *self.row)
            y = await self.run(x)
            return Response(y.tobytes(), media_type="application/octet-stream")

    ray.init(include_dashboard=False, log_to_driver=False, num_cpus=args.replicas)
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    serve.run(Batched.bind(args.model, args.threads), name="bench", route_prefix="/predict")
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    serve.shutdown()
    ray.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=["fastapi", "kserve", "ray"])
    p.add_argument("model")
    p.add_argument("--name", default="m")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--replicas", type=int, default=os.cpu_count() or 1)
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads per session")
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--wait-ms", type=float, default=0.2)
    args = p.parse_args()
    {"fastapi": run_fastapi, "kserve": run_kserve, "ray": run_ray}[args.kind](args)


if __name__ == "__main__":
    main()
