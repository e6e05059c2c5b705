"""Serving models over HTTP with the Open Inference Protocol (KServe v2 REST, the same as
Triton's HTTP API, with Triton's binary tensor data extension), on an
:class:`ortnative.Scheduler`. Needs the ``serve`` extra: ``pip install "ortnative[serve]"``.

- ``python -m ortnative serve MODEL.onnx [...] [--config FILE]``: the server (see
  :mod:`ortnative.serve.config` for the settings' schema).
- :func:`app`: the same server as an ASGI app over your own scheduler, to mount in
  your own Starlette or FastAPI service.
- :mod:`ortnative.serve.ray`: the same app as a Ray Serve deployment (extra ``ray``).

Nothing here is imported by ``import ortnative``; this package imports Starlette only
when :func:`app`, :class:`ModelInfo` or :func:`run` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import ModelInfo, app, run

__all__ = ["ModelInfo", "app", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        try:
            from . import server
        except ImportError as exc:
            raise ImportError(
                f"ortnative.serve needs Starlette, uvicorn and orjson ({exc}): "
                'pip install "ortnative[serve]"'
            ) from exc
        return getattr(server, name)
    raise AttributeError(f"module 'ortnative.serve' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
