"""``onnxruntime``'s inference API on ortnative: existing code runs unchanged.

::

    from ortnative import compat as ort          # instead of: import onnxruntime as ort
    sess = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x})[0]

    compat.install()       # onnxruntime.InferenceSession (and friends) are ortnative's now
    compat.uninstall()     # and onnxruntime's again

    python -m ortnative run script.py [args...]       # a program, unchanged, installed
    python -m ortnative run -m package.module [args...]

This module mirrors the inference part of ``onnxruntime``: :class:`InferenceSession`,
:class:`SessionOptions`, :class:`RunOptions`, ``GraphOptimizationLevel``,
``ExecutionMode``, ``ExecutionOrder``, :class:`NodeArg`, :class:`ModelMetadata`,
:func:`get_available_providers`, :func:`get_all_providers`, :func:`get_device`,
:func:`get_version_string`, :func:`set_default_logger_severity` and ``__version__``.
Every other name (``OrtValue``, ``IOBinding``, training, ...) is onnxruntime's own,
reached through this module. What runs natively, what is handed to onnxruntime and
what differs: the README's compat table.

Importing :mod:`ortnative` does not import this module.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import onnxruntime as _onnxruntime
from onnxruntime.capi import onnxruntime_pybind11_state as _C

from .. import _backend
from . import errors
from ._options import (
    ExecutionMode,
    ExecutionOrder,
    GraphOptimizationLevel,
    RunOptions,
    SessionOptions,
)
from ._session import InferenceSession, ModelMetadata, NodeArg

for _cls in (InferenceSession, ModelMetadata, NodeArg, RunOptions, SessionOptions):
    _cls.__module__ = __name__  # as users name them: ortnative.compat.InferenceSession
del _cls

__all__ = [
    "ExecutionMode",
    "ExecutionOrder",
    "GraphOptimizationLevel",
    "InferenceSession",
    "ModelMetadata",
    "NodeArg",
    "RunOptions",
    "SessionOptions",
    "__version__",
    "errors",
    "get_all_providers",
    "get_available_providers",
    "get_device",
    "get_version_string",
    "install",
    "installed",
    "set_default_logger_severity",
    "uninstall",
]


def get_available_providers() -> list[str]:
    """Execution providers the ONNX Runtime ortnative uses offers."""
    if _backend.backend == "native":
        return _backend.available_providers("native")
    return list(_C.get_available_providers())


def get_all_providers() -> list[str]:
    """Every provider name ONNX Runtime knows (onnxruntime's own list)."""
    return list(_C.get_all_providers())


def get_device() -> str:
    """The device of onnxruntime's build: ``"CPU"``, ``"GPU"``, ... (onnxruntime's own)."""
    return str(_C.get_device())


def get_version_string() -> str:
    """Version of the ONNX Runtime library ortnative uses."""
    return _backend.ort_version()


def set_default_logger_severity(severity: int) -> None:
    """onnxruntime's: sets the severity of onnxruntime's default logger (sessions handed
    to onnxruntime). ortnative's native core logs ORT's messages at
    ``ORTNATIVE_LOG_LEVEL`` (default: fatal only), its errors being exceptions."""
    _C.set_default_logger_severity(severity)


_version: str | None = None


def __getattr__(name: str) -> Any:
    global _version
    if name == "__version__":
        if _version is None:
            _version = get_version_string()
        return _version
    # Everything ortnative does not implement is onnxruntime's own.
    try:
        return getattr(_onnxruntime, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(dir(_onnxruntime)))


# -- install -------------------------------------------------------------------------
_REPLACED = (
    "InferenceSession",
    "SessionOptions",
    "RunOptions",
    "NodeArg",
    "ModelMetadata",
    "GraphOptimizationLevel",
    "ExecutionMode",
    "ExecutionOrder",
    "get_available_providers",
    "get_all_providers",
    "get_device",
    "get_version_string",
    "set_default_logger_severity",
    "__version__",
)
_saved: dict[str, Any] | None = None
_install_lock = threading.Lock()


def install() -> None:
    """Puts this module's classes and functions in onnxruntime's namespace:
    ``onnxruntime.InferenceSession`` is ortnative's for code that runs afterwards
    (``import onnxruntime as ort; ort.InferenceSession``, ``from onnxruntime import
    InferenceSession`` in modules imported later, ``isinstance`` checks). Names bound
    before (``from onnxruntime import InferenceSession`` already executed) keep
    onnxruntime's class. Idempotent; :func:`uninstall` undoes it."""
    global _saved
    with _install_lock:
        if _saved is not None:
            return
        module = sys.modules[__name__]
        saved: dict[str, Any] = {}
        for name in _REPLACED:
            saved[name] = getattr(_onnxruntime, name)
        for name in _REPLACED:
            setattr(_onnxruntime, name, getattr(module, name))
        _saved = saved


def uninstall() -> None:
    """Gives onnxruntime's namespace its own classes and functions back. Sessions made
    while installed keep running on ortnative."""
    global _saved
    with _install_lock:
        if _saved is None:
            return
        for name, value in _saved.items():
            setattr(_onnxruntime, name, value)
        _saved = None


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _saved is not None
