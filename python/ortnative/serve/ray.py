"""``ortnative serve`` as a Ray Serve application: the same ASGI app (Open Inference
Protocol over an :class:`ortnative.Scheduler`) in N replicas, each a Ray actor process
with its own scheduler, Ray's HTTP proxy routing requests between them. Needs the
``ray`` extra: ``pip install "ortnative[ray]"``.

From the command line: ``python -m ortnative serve MODEL.onnx ... --ray --ray-replicas 2
[--ray-address auto]``. From Python::

    from ray import serve
    from ortnative.serve.config import resolve
    from ortnative.serve.ray import deployment

    cfg = resolve(["mlp.onnx"], model_options={"max_batch_size": 32})
    serve.run(deployment(cfg, replicas=4), name="ortnative", route_prefix="/")

Every replica loads the models from ``cfg``'s paths itself: on a cluster of several
machines, each node must see the files at those paths (shared storage, or the same
image). ``/metrics`` answers for the replica that got the request; Ray's own metrics
cover the cluster.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ServeConfig

__all__ = ["deployment", "run_ray"]


def _import_ray() -> Any:
    try:
        from ray import serve
    except ImportError as exc:
        raise ImportError(
            f"ortnative serve --ray needs Ray Serve ({exc}): pip install 'ortnative[ray]'"
        ) from exc
    return serve


def deployment(
    cfg: ServeConfig,
    *,
    replicas: int = 1,
    cpus_per_replica: float = 1.0,
    name: str = "ortnative",
) -> Any:
    """A bound Ray Serve application serving CFG's models from REPLICAS replicas, each
    reserving CPUS_PER_REPLICA CPUs (its scheduler's ``threads`` default to one per CPU
    of its machine: set ``cfg.threads`` to the reservation on shared nodes)."""
    serve = _import_ray()

    def build_app() -> Any:  # runs in each replica
        from .server import asgi_app

        return asgi_app(cfg)

    class OrtnativeServe:
        """One replica: the app's lifespan loads the models and, at shutdown, closes
        the scheduler."""

    ingress = serve.ingress(build_app)(OrtnativeServe)
    dep = serve.deployment(
        ingress,
        name=name,
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus_per_replica},
        # As many requests in flight per replica as its queues may hold: the scheduler,
        # not Ray, bounds and batches them.
        max_ongoing_requests=max(m.max_queue_size for m in cfg.models),
    )
    return dep.bind()


def run_ray(
    cfg: ServeConfig,
    *,
    replicas: int = 1,
    address: str | None = None,
    cpus_per_replica: float = 1.0,
) -> int:
    """Deploys CFG on Ray Serve and serves until SIGTERM/SIGINT, then shuts Serve down
    (and the local Ray cluster, if it started one). Returns 0."""
    if not address:
        # A local one-machine cluster whose own services (GCS, raylet, workers) use the
        # loopback address, not the machine's network address: Ray's single-node mode
        # (its default on macOS and Windows). Read when ray is first imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        # and reports no usage statistics to Ray's servers (set it to 1 to allow)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    serve = _import_ray()
    import ray

    def say(msg: str) -> None:
        print(msg, flush=True)

    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": cfg.host, "port": cfg.port})
        say(
            f"ortnative serve: deploying {len(cfg.models)} model(s) on Ray Serve, {replicas} replicas"
        )
        serve.run(
            deployment(cfg, replicas=replicas, cpus_per_replica=cpus_per_replica),
            name="ortnative",
            route_prefix="/",
        )
        say(
            f"ortnative serve: listening on http://{cfg.host}:{cfg.port} (Ray Serve, "
            f"{replicas} replicas)"
        )
        while not stop.wait(1.0):
            pass
        say("ortnative serve: shutting down Ray Serve")
    finally:
        serve.shutdown()
        ray.shutdown()
    say("ortnative serve: stopped")
    return 0
