"""``ortnative serve``: the command line. Argument parsing only; the server modules (and
Starlette, uvicorn, Ray) are imported when the command runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

# Command-line option -> config key, for the options that set every model's defaults.
_MODEL_OPTIONS = {
    "replicas": int,
    "max_batch_size": int,
    "max_queue_delay_ms": float,
    "max_queue_size": int,
    "timeout_ms": float,
    "priority_levels": int,
    "default_priority_level": int,
}
_SESSION_OPTIONS = {"intra_op_threads": int, "inter_op_threads": int, "graph_optimization": str}
_SERVER_OPTIONS = {
    "host": str,
    "port": int,
    "threads": int,
    "max_body_mb": float,
    "drain_timeout_s": float,
    "metrics_prefix": str,
    "auth_token_env": str,
}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="serve models over HTTP (Open Inference Protocol / Triton HTTP API)",
        description=(
            "Serves ONNX models over HTTP with the Open Inference Protocol (KServe v2, "
            "Triton's HTTP API with binary tensor data). A model is named after its file's "
            "stem (mlp.onnx -> mlp) unless the config file names it. Options given here "
            "apply to every model; a config file's [models.NAME] table overrides them. "
            "Needs the serve extra: pip install 'ortnative[serve]'."
        ),
    )
    p.add_argument("models", nargs="*", metavar="MODEL.onnx", help="model files to serve")
    p.add_argument("--config", metavar="FILE", help="settings file (.toml, .yaml or .yml)")
    g = p.add_argument_group("server")
    g.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    g.add_argument("--port", type=int, help="port (default 8000; 0: any free port)")
    g.add_argument("--threads", type=int, help="scheduler worker threads (default 0: one per CPU)")
    g.add_argument("--backend", choices=["native", "python"], help="default: ortnative.backend")
    g.add_argument("--max-body-mb", type=float, help="request body limit (default 64)")
    g.add_argument(
        "--drain-timeout-s",
        type=float,
        help="on SIGTERM/SIGINT, how long in-flight requests may take (default 30)",
    )
    g.add_argument("--metrics-prefix", help="/metrics name prefix (default nv, Triton's)")
    g.add_argument(
        "--auth-token-env",
        metavar="VAR",
        help="environment variable holding the bearer token infer requests need "
        "(default ORTNATIVE_SERVE_TOKEN; no token if unset)",
    )
    g.add_argument("--access-log", action="store_true", default=None, help="log every request")
    m = p.add_argument_group("every model (a config's [models.NAME] overrides)")
    m.add_argument("--replicas", type=int, help="concurrent runs per model (default 1)")
    m.add_argument("--max-batch-size", type=int, help="rows per run; > 1 batches (default 1)")
    m.add_argument("--max-queue-delay-ms", type=float, help="batch window (default 0)")
    m.add_argument("--max-queue-size", type=int, help="waiting requests at most (default 1024)")
    m.add_argument("--timeout-ms", type=float, help="queue timeout (default none)")
    m.add_argument("--priority-levels", type=int, help="request priority levels (default 1)")
    m.add_argument("--default-priority-level", type=int, help="default: the middle level")
    m.add_argument("--warmup", action="store_true", default=None, help="warm up each batch size")
    m.add_argument("--intra-op-threads", type=int, help="Session option (default 0: shared pool)")
    m.add_argument("--inter-op-threads", type=int, help="Session option")
    m.add_argument("--graph-optimization", choices=["disable", "basic", "extended", "all"])
    r = p.add_argument_group("Ray Serve (extra ray)")
    r.add_argument("--ray", action="store_true", help="deploy as a Ray Serve application instead")
    r.add_argument("--ray-replicas", type=int, default=1, help="Ray Serve replicas (default 1)")
    r.add_argument(
        "--ray-address",
        help="Ray cluster to join (default: start a local one on 127.0.0.1)",
    )
    r.add_argument(
        "--ray-cpus-per-replica", type=float, default=1.0, help="CPUs each replica reserves"
    )
    p.set_defaults(fn=cmd_serve)
    return p


def settings(args: argparse.Namespace) -> Any:
    """The command line (and its config file) as a :class:`ServeConfig`."""
    from .config import load_file, resolve

    server = {k: getattr(args, k) for k in _SERVER_OPTIONS if getattr(args, k) is not None}
    if args.backend is not None:
        server["backend"] = args.backend
    if args.access_log:
        server["access_log"] = True
    model = {k: getattr(args, k) for k in _MODEL_OPTIONS if getattr(args, k) is not None}
    if args.warmup:
        model["warmup"] = True
    session = {k: getattr(args, k) for k in _SESSION_OPTIONS if getattr(args, k) is not None}
    if session:
        model["session"] = session
    file = load_file(args.config) if args.config else None
    return resolve(list(args.models), file, server, model)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..errors import Error

    try:
        return _serve(args)
    except Error as exc:
        message = f"ortnative: {type(exc).__name__}: {exc}"
    print(message, file=sys.stderr)
    return 1


def _serve(args: argparse.Namespace) -> int:
    cfg = settings(args)
    if args.ray:
        from .ray import run_ray

        return run_ray(
            cfg,
            replicas=args.ray_replicas,
            address=args.ray_address,
            cpus_per_replica=args.ray_cpus_per_replica,
        )
    try:
        from .server import run
    except ImportError as exc:
        print(
            f"ortnative serve needs Starlette, uvicorn and orjson ({exc}): "
            "pip install 'ortnative[serve]'",
            file=sys.stderr,
        )
        return 1
    return run(cfg)
