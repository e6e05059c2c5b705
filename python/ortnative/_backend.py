"""Backend choice: the native extension when it loads, else pure Python.

``ORTNATIVE_BACKEND=python`` forces the fallback (the native module is then never
imported); ``ORTNATIVE_BACKEND=native`` makes a native module that fails to load an
``ImportError`` that says why, instead of a silent fallback.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType

from . import _ortlib
from .errors import InvalidArgumentError

_forced = os.environ.get("ORTNATIVE_BACKEND", "").strip().lower()
if _forced not in ("", "native", "python"):
    raise ImportError(
        "ORTNATIVE_BACKEND must be 'native' or 'python' (or unset), got "
        f"{os.environ['ORTNATIVE_BACKEND']!r}"
    )

if not _ortlib.onnxruntime_installed() and not os.environ.get("ORTNATIVE_ORT_LIBRARY"):
    raise ImportError(
        "ortnative needs ONNX Runtime, and the onnxruntime package is not installed: "
        "pip install onnxruntime (or onnxruntime-gpu). The native backend can also use "
        "a libonnxruntime named by ORTNATIVE_ORT_LIBRARY."
    )

_lock = threading.Lock()
_native: ModuleType | None = None
#: Why the native module did not load (``None`` when it did or was not tried).
native_error: str | None = None


def _import_native() -> ModuleType | None:
    global _native, native_error
    if _native is None and native_error is None:
        try:
            from . import _core
        except ImportError as exc:
            native_error = f"{type(exc).__name__}: {exc}"
        else:
            _native = _core
    return _native


if _forced == "python":
    native_error = "ORTNATIVE_BACKEND=python"
elif _import_native() is None and _forced == "native":
    raise ImportError(f"ORTNATIVE_BACKEND=native, but ortnative._core did not load: {native_error}")

#: "native" when ortnative._core loaded, "python" otherwise.
backend = "native" if _native is not None else "python"


def native_module() -> ModuleType:
    """The native extension, or ImportError naming why it is unavailable."""
    mod = _import_native()
    if mod is None:
        raise ImportError(f"the native backend is unavailable: {native_error}")
    return mod


_runtime_version: str | None = None


def native_runtime() -> ModuleType:
    """The native module with libonnxruntime loaded (loads it on first use)."""
    global _runtime_version
    core = native_module()
    if _runtime_version is None:
        with _lock:
            if _runtime_version is None:
                _path, version = core.load_runtime(_ortlib.candidates())
                _register_bfloat16(core)
                _runtime_version = version
    return core


def _register_bfloat16(core: ModuleType) -> None:
    try:
        import ml_dtypes
    except ImportError:  # bfloat16 tensors then raise a message naming ml_dtypes
        return
    import numpy as np

    core._set_bfloat16_dtype(np.dtype(ml_dtypes.bfloat16))


def resolve(name: str | None) -> str:
    """The backend an object asked for BACKEND uses."""
    if name is None:
        return backend
    if name not in ("native", "python"):
        raise InvalidArgumentError(f"backend must be 'native', 'python' or None, got {name!r}")
    if name == "native":
        native_module()
    return name


def ort_version(which: str | None = None) -> str:
    """Version of the ONNX Runtime library the given (default: current) backend uses."""
    if resolve(which) == "native":
        native_runtime()
        assert _runtime_version is not None
        return _runtime_version
    import onnxruntime

    return str(onnxruntime.__version__)


def set_global_thread_pools(
    intra_op_threads: int = 0, inter_op_threads: int = 0, *, allow_spinning: bool = True
) -> None:
    """Sets the sizes of the thread pools all sessions share (0 = ORT's default), and
    whether their threads spin.

    ``allow_spinning`` (ONNX Runtime's default, True): a pool thread out of work spins
    for a while before it sleeps, so the next run starts sooner, at the cost of CPU time
    between runs; False suits a process that shares its cores with other work. Sessions
    with pools of their own (``intra_op_threads`` > 0) follow their config entries
    ``"session.intra_op.allow_spinning"`` / ``"session.inter_op.allow_spinning"``
    instead.

    Call it before the first session is created; the environment variables
    ``ORTNATIVE_INTRA_OP_THREADS`` / ``ORTNATIVE_INTER_OP_THREADS`` set the sizes
    without code. Raises :class:`InvalidArgumentError` once the native pools exist
    with other settings. On the python backend, where sessions cannot share pools without
    breaking the host's own onnxruntime sessions, each session gets pools of these
    sizes instead (spinning as asked, through those config entries).
    """
    for label, value in (
        ("intra_op_threads", intra_op_threads),
        ("inter_op_threads", inter_op_threads),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidArgumentError(f"{label} must be an int >= 0, got {value!r}")
    if not isinstance(allow_spinning, bool):
        raise InvalidArgumentError(f"allow_spinning must be True or False, got {allow_spinning!r}")
    if _native is not None:
        _native.set_global_thread_pools(intra_op_threads, inter_op_threads, allow_spinning)
    from . import _fallback

    _fallback.set_global_thread_pools(intra_op_threads, inter_op_threads, allow_spinning)


def available_providers(which: str | None = None) -> list[str]:
    """Execution providers the ONNX Runtime in use offers."""
    if resolve(which) == "native":
        return list(native_runtime().available_providers())
    import onnxruntime

    return list(onnxruntime.get_available_providers())
