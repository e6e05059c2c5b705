"""The HTTP side of ``ortnative serve``: an ASGI app (Starlette) speaking the Open
Inference Protocol over an :class:`ortnative.Scheduler`, and the uvicorn runner.

Endpoints (all JSON; errors are ``{"error": "..."}`` with the status in the README's
table):

- ``GET /v2/health/live``, ``GET /v2/health/ready``, ``GET /v2`` (server metadata)
- ``GET /v2/models/{name}[/versions/1]`` (model metadata), ``.../ready``
- ``POST /v2/models/{name}[/versions/1]/infer``: JSON or binary tensors both ways
- ``GET /metrics``: the scheduler's Prometheus text plus the server's own counters
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import math
import os
import signal
import socket
import sys
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import errors
from .._types import TensorInfo
from ..scheduler import Scheduler
from .protocol import ProtocolError, datatype_of, decode_request, encode_response, v2_shape

if TYPE_CHECKING:
    from ..preprocess import ImagePreprocessor
    from ..session import ModelSource, Session
    from .config import ServeConfig

__all__ = ["ModelInfo", "app", "build", "run"]

VERSION = "1"  # every model has one version; the protocol's paths may name it
PLATFORM = "onnxruntime_onnx"  # Triton's name for ONNX models run by ONNX Runtime


@dataclass(frozen=True)
class ModelInfo:
    """What the server needs to know of a model besides the scheduler: its inputs and
    outputs (for metadata and request checks) and its priority levels.

    Build it with :meth:`of` from the model's source (path or bytes) or a
    :class:`ortnative.Session`: the scheduler does not report a model's inputs."""

    name: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    priority_levels: int = 1
    default_priority_level: int = 1
    preprocessor: ImagePreprocessor | None = None  # makes image_input from raw images
    image_input: str | None = None

    @classmethod
    def of(
        cls,
        name: str,
        model: ModelSource | Session,
        *,
        priority_levels: int = 1,
        default_priority_level: int | None = None,
        backend: str | None = None,
        preprocess: Mapping[str, Any] | None = None,
    ) -> ModelInfo:
        """PREPROCESS: :class:`ortnative.ImagePreprocessor` options (plus ``input``, the
        image input's name when the model has several): clients then send that input
        as raw images, UINT8 [N, H, W, C], and the server makes the model's tensor."""
        from ..preprocess import ImagePreprocessor
        from ..session import Session

        # Loaded only to read its signature, without graph optimisation, then dropped.
        sess = (
            model
            if isinstance(model, Session)
            else Session(model, graph_optimization="disable", backend=backend)
        )
        inputs, outputs = list(sess.inputs), list(sess.outputs)
        pre = image_input = None
        try:
            if preprocess is not None:
                options = dict(preprocess)
                image_input = options.pop("input", None)
                pre = ImagePreprocessor.for_session(sess, image_input, **options)
                image_input = image_input or inputs[0].name
                channels = _CHANNELS[pre.input_order]
                inputs = [
                    TensorInfo(t.name, np.dtype(np.uint8), (None, None, None, channels))
                    if t.name == image_input
                    else t
                    for t in inputs
                ]
        finally:
            if sess is not model:
                sess.close()
        for t in (*inputs, *outputs):
            if datatype_of(t.dtype) is None:
                raise errors.InvalidArgumentError(
                    f"model {name!r}: {t.name} has an element type the Open Inference "
                    f"Protocol has no datatype for ({t!r})"
                )
        default = (
            (priority_levels + 1) // 2
            if default_priority_level is None
            else (default_priority_level)
        )
        return cls(name, tuple(inputs), tuple(outputs), priority_levels, default, pre, image_input)


_CHANNELS = {"bgr": 3, "rgb": 3, "bgra": 4, "rgba": 4, "gray": 1}


def _tensor_meta(t: TensorInfo) -> dict[str, Any]:
    return {"name": t.name, "datatype": datatype_of(t.dtype), "shape": v2_shape(t.shape)}


class _Error(Exception):
    def __init__(
        self, status: int, reason: str, message: str, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status, self.reason, self.headers = status, reason, headers or {}


# A scheduler's error -> (status, metrics reason).
_RUN_ERRORS: tuple[tuple[type[BaseException], int, str], ...] = (
    (errors.QueueFullError, 503, "QUEUE_FULL"),
    (errors.RequestTimeoutError, 504, "TIMEOUT"),
    (errors.SchedulerClosedError, 503, "UNAVAILABLE"),
    (errors.InvalidInputError, 400, "INVALID_REQUEST"),
    (errors.InvalidTypeError, 400, "INVALID_REQUEST"),
    (errors.InvalidArgumentError, 400, "INVALID_REQUEST"),
    (errors.OrtError, 422, "MODEL_ERROR"),
    (errors.Error, 503, "UNAVAILABLE"),
)


class _Closed:
    """Stands in for the scheduler once an owning app has shut down."""

    closed = True
    backend = "closed"
    threads = 0

    async def infer(self, *args: Any, **kw: Any) -> Any:
        raise errors.SchedulerClosedError("the server is shutting down")

    def metrics_text(self, prefix: str) -> str:
        return ""

    def close(self, drain: bool = True) -> None:
        pass


_CLOSED: Any = _Closed()


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Server:
    """The app's state and handlers (one per app)."""

    def __init__(
        self,
        scheduler: Scheduler,
        models: Mapping[str, ModelInfo],
        max_body_bytes: int,
        auth_token: str | None,
        metrics_prefix: str,
    ) -> None:
        self.scheduler = scheduler
        self.models = dict(models)
        self.inputs = {n: {t.name: t for t in m.inputs} for n, m in self.models.items()}
        self.outputs = {n: {t.name: t for t in m.outputs} for n, m in self.models.items()}
        self.max_body = max_body_bytes
        self.token = auth_token.encode() if auth_token else None
        self.prefix = metrics_prefix
        scheduler.metrics_text(metrics_prefix)  # checks the prefix now, not at first scrape
        self.failures: Counter[tuple[str, str, int]] = Counter()
        self.successes: Counter[str] = Counter()

    # -- helpers -------------------------------------------------------------------
    def _model(self, request: Request) -> ModelInfo:
        name = request.path_params["name"]
        model = self.models.get(name)
        version = request.path_params.get("version", VERSION)
        if model is None:
            # Never echo an unknown name into a metric label: labels stay bounded.
            raise _Error(
                404,
                "UNKNOWN_MODEL",
                f"unknown model {name!r} (models: {', '.join(self.models) or 'none'})",
            )
        if version != VERSION:
            raise _Error(
                404, "UNKNOWN_MODEL", f"model {name!r} has version {VERSION} only, not {version!r}"
            )
        return model

    def _check_auth(self, request: Request) -> None:
        if self.token is None:
            return
        got = request.headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), self.token
        ):
            raise _Error(
                401,
                "UNAUTHORIZED",
                "this endpoint needs 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": "Bearer"},
            )

    async def _body(self, request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise _Error(400, "INVALID_REQUEST", f"bad Content-Length {length!r}") from None
            if declared > self.max_body:
                raise self._too_large(declared)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise self._too_large(size)
            chunks.append(chunk)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding not in ("gzip", "deflate"):
            raise _Error(
                415,
                "INVALID_REQUEST",
                f"Content-Encoding {encoding!r} is not supported (gzip, deflate or none)",
            )
        d = zlib.decompressobj(31 if encoding == "gzip" else 15)
        try:
            out = d.decompress(body, self.max_body + 1)
        except zlib.error as exc:
            raise _Error(400, "INVALID_REQUEST", f"the {encoding} body is corrupt: {exc}") from None
        if len(out) > self.max_body:
            raise self._too_large(len(out), "decompressed ")
        if not d.eof:
            raise _Error(400, "INVALID_REQUEST", f"the {encoding} body is truncated")
        return out

    def _too_large(self, size: int, what: str = "") -> _Error:
        return _Error(
            413,
            "TOO_LARGE",
            f"the {what}request body is {size} bytes or more, above "
            f"the limit of {self.max_body} (the server's max_body_mb)",
        )

    def _error(self, exc: _Error, model: str) -> Response:
        self.failures[(model, exc.reason, exc.status)] += 1
        return _json({"error": str(exc)}, exc.status, exc.headers)

    # -- endpoints -----------------------------------------------------------------
    async def live(self, request: Request) -> Response:
        return _json({"live": True})

    async def ready(self, request: Request) -> Response:
        ok = not self.scheduler.closed
        return _json({"ready": ok}, 200 if ok else 503)

    async def server_metadata(self, request: Request) -> Response:
        from .. import __version__

        return _json(
            {
                "name": "ortnative",
                "version": __version__,
                "extensions": ["binary_tensor_data", "parameters"],
            }
        )

    async def model_metadata(self, request: Request) -> Response:
        try:
            m = self._model(request)
        except _Error as exc:
            return self._error(exc, "")
        return _json(
            {
                "name": m.name,
                "versions": [VERSION],
                "platform": PLATFORM,
                "inputs": [_tensor_meta(t) for t in m.inputs],
                "outputs": [_tensor_meta(t) for t in m.outputs],
            }
        )

    async def model_ready(self, request: Request) -> Response:
        try:
            m = self._model(request)
        except _Error as exc:
            return self._error(exc, "")
        ok = not self.scheduler.closed
        return _json({"name": m.name, "ready": ok}, 200 if ok else 503)

    async def infer(self, request: Request) -> Response:
        label = ""
        try:
            m = self._model(request)
            label = m.name
            self._check_auth(request)
            body = await self._body(request)
            try:
                req = decode_request(
                    body,
                    request.headers.get("inference-header-content-length"),
                    m.name,
                    self.inputs[m.name],
                    self.outputs[m.name],
                )
            except ProtocolError as exc:
                raise _Error(exc.status, exc.reason, str(exc)) from None
            if m.preprocessor is not None:
                assert m.image_input is not None
                try:  # native preprocessing releases the GIL: off the event loop
                    req.feeds[m.image_input] = await asyncio.to_thread(
                        m.preprocessor, req.feeds[m.image_input]
                    )
                except errors.Error as exc:
                    raise _Error(400, "INVALID_REQUEST", f"{type(exc).__name__}: {exc}") from None
            level = req.priority or m.default_priority_level
            if level > m.priority_levels:
                raise _Error(
                    400,
                    "INVALID_REQUEST",
                    f"priority {req.priority} is above model "
                    f"{m.name!r}'s priority_levels ({m.priority_levels})",
                )
            timeout_ms = None if req.timeout_us is None else req.timeout_us / 1000
            try:
                result = await self.scheduler.infer(
                    m.name, req.feeds, priority=level, timeout_ms=timeout_ms
                )
            except errors.Error as exc:
                if exc.ort_code is not None:
                    # ONNX Runtime failed the run (whatever its code: an index out of
                    # range is ORT's INVALID_ARGUMENT): the model failed on this input.
                    raise _Error(422, "MODEL_ERROR", f"{type(exc).__name__}: {exc}") from None
                for kind, status, reason in _RUN_ERRORS:
                    if isinstance(exc, kind):
                        headers = {"Retry-After": "1"} if status == 503 else None
                        raise _Error(
                            status, reason, f"{type(exc).__name__}: {exc}", headers
                        ) from None
                raise  # pragma: no cover - errors.Error is the last entry
            body, hlen = encode_response(
                m.name, VERSION, req.id, [(o, result[o.name]) for o in req.outputs]
            )
        except _Error as exc:
            return self._error(exc, label)
        self.successes[m.name] += 1
        if hlen is None:
            return Response(body, media_type="application/json")
        return Response(
            body,
            headers={"Inference-Header-Content-Length": str(hlen)},
            media_type="application/octet-stream",
        )

    async def metrics(self, request: Request) -> Response:
        p = self.prefix
        lines = [self.scheduler.metrics_text(p).rstrip("\n")]
        lines += [
            f"# HELP {p}_http_request_success Inference requests answered with 200, per model",
            f"# TYPE {p}_http_request_success counter",
        ]
        lines += [
            f'{p}_http_request_success{{model="{_label(n)}"}} {self.successes[n]}'
            for n in self.models
        ]
        lines += [
            (
                f"# HELP {p}_http_request_failure Inference and metadata requests answered "
                "with an error, per model (empty: unknown), reason and HTTP status"
            ),
            f"# TYPE {p}_http_request_failure counter",
        ]
        for (model, reason, code), n in sorted(self.failures.items()):
            lines.append(
                f'{p}_http_request_failure{{model="{_label(model)}",reason="{reason}",'
                f'code="{code}"}} {n}'
            )
        text = "\n".join(lines) + "\n"
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _json(
        {"error": f"{exc.detail}: {request.method} {request.url.path}"},
        exc.status_code,
        exc.headers,
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    # A bug of ours, not a bad request: say so, and keep serving.
    return _json({"error": f"internal server error: {type(exc).__name__}: {exc}"}, 500)


def _make(
    scheduler: Scheduler,
    models: Mapping[str, ModelInfo],
    *,
    max_body_mb: float,
    auth_token: str | None,
    metrics_prefix: str,
    close_scheduler: bool,
    drain_timeout_s: float = 30.0,
) -> Starlette:
    if not max_body_mb > 0 or not math.isfinite(max_body_mb):
        raise errors.InvalidArgumentError(f"max_body_mb must be a number > 0, got {max_body_mb!r}")
    known = set(scheduler.models)
    for name in models:
        if name not in known:
            raise errors.InvalidArgumentError(
                f"model {name!r} is described but not in the scheduler ({', '.join(known)})"
            )
    srv = _Server(scheduler, models, int(max_body_mb * 1024 * 1024), auth_token, metrics_prefix)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if close_scheduler:
            # In-flight HTTP requests are done (or were cancelled at the drain timeout);
            # what is still queued has nobody waiting.
            await asyncio.to_thread(functools.partial(srv.scheduler.close, drain=False))
            srv.scheduler = _CLOSED

    routes = [
        Route("/v2/health/live", srv.live),
        Route("/v2/health/ready", srv.ready),
        Route("/v2", srv.server_metadata),
        Route("/metrics", srv.metrics),
    ]
    for base in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [
            Route(base, srv.model_metadata),
            Route(base + "/ready", srv.model_ready),
            Route(base + "/infer", srv.infer, methods=["POST"]),
        ]
    application = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    application.state.ortnative = srv
    return application


def app(
    scheduler: Scheduler,
    models: Mapping[str, ModelSource | Session | ModelInfo],
    *,
    max_body_mb: float = 64.0,
    auth_token: str | None = None,
    metrics_prefix: str = "nv",
) -> Starlette:
    """The Open Inference Protocol as an ASGI app over SCHEDULER, to run with any ASGI
    server or mount in your own (``fastapi_app.mount("/", app(...))``).

    MODELS names which of the scheduler's models to serve and describes each: its
    source (the path or bytes given to ``add_model``: loaded once to read its inputs and
    outputs), a :class:`ortnative.Session` of it, or a :class:`ModelInfo` (which also
    sets priority levels). ``max_body_mb``: larger request bodies get 413.
    ``auth_token``: if set, infer requests need ``Authorization: Bearer <token>``.
    ``metrics_prefix``: the ``/metrics`` names' prefix (``"nv"``: Triton's own).

    The app never closes the scheduler: its owner does."""
    infos = {
        name: m if isinstance(m, ModelInfo) else ModelInfo.of(name, m, backend=scheduler.backend)
        for name, m in models.items()
    }
    return _make(
        scheduler,
        infos,
        max_body_mb=max_body_mb,
        auth_token=auth_token,
        metrics_prefix=metrics_prefix,
        close_scheduler=False,
    )


def build(cfg: ServeConfig, log: Any = None) -> tuple[Scheduler, dict[str, ModelInfo]]:
    """The scheduler and model descriptions for CFG: every model loaded, warmed up if
    asked. Raises ortnative's errors (a model that can't load, bad settings)."""
    sched = Scheduler(threads=cfg.threads, backend=cfg.backend)
    infos: dict[str, ModelInfo] = {}
    try:
        for m in cfg.models:
            sched.add_model(m.name, m.path, **m.scheduler_kwargs())
            infos[m.name] = ModelInfo.of(
                m.name,
                m.path,
                priority_levels=m.priority_levels,
                default_priority_level=m.default_priority,
                backend=sched.backend,
                preprocess=m.preprocess,
            )
            if log:
                sig = ", ".join(
                    f"{t.name} {datatype_of(t.dtype)} {v2_shape(t.shape)}"
                    for t in infos[m.name].inputs
                )
                log(
                    f"  model {m.name}: {m.path} ({sig}; max_batch_size {m.max_batch_size}, "
                    f"replicas {m.replicas})"
                )
    except BaseException:
        sched.close(drain=False)
        raise
    return sched, infos


def asgi_app(cfg: ServeConfig, log: Any = None) -> Starlette:
    """The app for CFG, owning its scheduler (closed at the app's lifespan shutdown)."""
    sched, infos = build(cfg, log)
    return _make(
        sched,
        infos,
        max_body_mb=cfg.max_body_mb,
        auth_token=cfg.auth_token(),
        metrics_prefix=cfg.metrics_prefix,
        close_scheduler=True,
    )


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to HOST:PORT but not listening yet: a port in use fails at once,
    and no connection is accepted before the models are loaded."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise errors.InvalidArgumentError(f"cannot listen on {host}:{port}: {exc}") from None
    return sock


def run(cfg: ServeConfig) -> int:
    """Serves CFG until SIGTERM or SIGINT, then drains (bounded by ``drain_timeout_s``)
    and returns 0."""
    return _run(cfg)


def _run(cfg: ServeConfig) -> int:
    import uvicorn

    def say(msg: str) -> None:
        print(msg, flush=True)

    token = cfg.auth_token()
    sock = _bind(cfg.host, cfg.port)
    host, port = sock.getsockname()[:2]
    say(f"ortnative serve: loading {len(cfg.models)} model(s)")
    try:
        application = asgi_app(cfg, say)
    except BaseException:
        sock.close()
        raise
    srv: _Server = application.state.ortnative

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # uvicorn re-raises a caught signal once it has shut down, so the process
            # would end by it; we drain and return 0 instead. A second SIGINT forces.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            else:
                self.should_exit = True

    config = uvicorn.Config(
        application,
        log_level="info",
        access_log=cfg.access_log,
        timeout_graceful_shutdown=math.ceil(cfg.drain_timeout_s),
        lifespan="on",
        server_header=False,
    )
    server = Server(config)
    url_host = f"[{host}]" if ":" in host else host
    sock.listen(2048)  # now that the models are ready (uvicorn accepts from here on)
    say(
        f"ortnative serve: listening on http://{url_host}:{port} (backend "
        f"{srv.scheduler.backend}, {srv.scheduler.threads} threads; auth: "
        f"{'bearer token from $' + cfg.auth_token_env if token else 'none'}; pid {os.getpid()})"
    )
    try:
        server.run(sockets=[sock])
    finally:
        srv.scheduler.close(drain=False)
        sock.close()
    if not server.started:
        print("ortnative serve: the server did not start", file=sys.stderr)
        return 1
    say("ortnative serve: stopped")
    return 0
