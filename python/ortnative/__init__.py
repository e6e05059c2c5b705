"""ortnative: run ONNX models with ONNX Runtime at the lowest latency a process can get.

The same API runs on two backends: ``native`` (a C++ core over ONNX Runtime's C API,
zero-copy in and out, GIL released) when its extension loads, else ``python`` (plain
``onnxruntime`` + numpy). ``ORTNATIVE_BACKEND=python`` forces the fallback.
"""

from __future__ import annotations

from . import errors
from ._backend import available_providers, backend, native_error, set_global_thread_pools
from ._backend import ort_version as _ort_version
from ._types import TensorInfo
from .errors import (
    CancelledError,
    Error,
    InvalidArgumentError,
    InvalidInputError,
    InvalidTypeError,
    ModelLoadError,
    OrtError,
    QueueFullError,
    RequestTimeoutError,
    RunTerminatedError,
    RuntimeLoadError,
    SchedulerClosedError,
    SessionClosedError,
)
from .options import ModelConfig, PreprocessOptions, RunOptions, SessionOptions
from .pipeline import Pipeline
from .preprocess import ImagePreprocessor, Transform
from .scheduler import Scheduler
from .session import Session

__version__ = "0.1.0"


def ort_version(backend: str | None = None) -> str:
    """Version of the ONNX Runtime library in use (by BACKEND, default the current one)."""
    return _ort_version(backend)


__all__ = [
    "CancelledError",
    "Error",
    "ImagePreprocessor",
    "InvalidArgumentError",
    "InvalidInputError",
    "InvalidTypeError",
    "ModelConfig",
    "ModelLoadError",
    "OrtError",
    "Pipeline",
    "PreprocessOptions",
    "QueueFullError",
    "RequestTimeoutError",
    "RunOptions",
    "RunTerminatedError",
    "RuntimeLoadError",
    "Scheduler",
    "SchedulerClosedError",
    "Session",
    "SessionClosedError",
    "SessionOptions",
    "TensorInfo",
    "Transform",
    "__version__",
    "available_providers",
    "backend",
    "errors",
    "native_error",
    "ort_version",
    "set_global_thread_pools",
]


def __dir__() -> list[str]:
    return __all__
