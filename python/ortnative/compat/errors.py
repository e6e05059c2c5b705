"""Exceptions of the compat layer: each is onnxruntime's class and ortnative's at once.

Code written for ``onnxruntime`` catches ``onnxruntime``'s classes
(``onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument``, ``Fail``,
``NoSuchFile``, ... or the built-in ``ValueError``/``RuntimeError``/``TypeError`` its
Python layer raises); code written for ortnative catches :class:`ortnative.Error` and
its typed subclasses. A compat exception is an instance of both: its class derives from
the ortnative type (what went wrong) and from the class ``onnxruntime`` raises in the
same situation, and its message is ortnative's (what was wrong, what was expected).

The classes are made on first use by :func:`error_class` and kept as attributes of this
module, so they pickle. Their names join the two: ``InvalidArgument_InvalidTypeError``
is onnxruntime's ``InvalidArgument`` and ortnative's :class:`~ortnative.InvalidTypeError`.
"""

from __future__ import annotations

import builtins
import re
import sys
import threading
from typing import Any

from onnxruntime.capi import onnxruntime_pybind11_state as _C

from .. import errors as _ortn

__all__ = ["error_class", "from_onnxruntime", "ort_class_for_code"]

_lock = threading.Lock()
_made: dict[tuple[type[BaseException], type[BaseException]], type[_ortn.Error]] = {}

# ORT's OrtErrorCode values and the Python classes onnxruntime's bindings raise for them.
_BY_CODE = {
    1: "Fail",
    2: "InvalidArgument",
    3: "NoSuchFile",
    4: "NoModel",
    5: "EngineError",
    6: "RuntimeException",
    7: "InvalidProtobuf",
    8: "ModelLoaded",
    9: "NotImplemented",
    10: "InvalidGraph",
    11: "EPFail",
    12: "ModelLoadCanceled",
    13: "ModelRequiresCompilation",
    14: "NotFound",
}
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : (\d+) : [A-Z_]+ : ", re.DOTALL)


def ort_class_for_code(code: int | None) -> type[BaseException]:
    """The class onnxruntime's bindings raise for ORT error CODE (``Fail`` if unknown)."""
    name = _BY_CODE.get(code or 1, "Fail")
    cls: type[BaseException] = getattr(_C, name, None) or _C.Fail
    return cls


def error_class(ortn_cls: type[_ortn.Error], ort_cls: type[BaseException]) -> type[_ortn.Error]:
    """The exception class that is both ORTN_CLS (an ortnative error) and ORT_CLS (what
    onnxruntime raises); ORTN_CLS itself when it already is an ORT_CLS."""
    if issubclass(ortn_cls, ort_cls):
        return ortn_cls
    key = (ortn_cls, ort_cls)
    cls = _made.get(key)
    if cls is None:
        with _lock:
            cls = _made.get(key)
            if cls is None:
                name = f"{ort_cls.__name__}_{ortn_cls.__name__}"
                cls = type(
                    name,
                    (ortn_cls, ort_cls),
                    {
                        "__module__": __name__,
                        "__qualname__": name,
                        "__doc__": (
                            f"onnxruntime's {ort_cls.__name__} and ortnative's "
                            f"{ortn_cls.__name__} (raised by ortnative.compat)."
                        ),
                    },
                )
                setattr(sys.modules[__name__], name, cls)
                _made[key] = cls
    return cls


def make(
    ortn_cls: type[_ortn.Error],
    ort_cls: type[BaseException],
    message: str,
    ort_code: int | None = None,
) -> _ortn.Error:
    """An exception of ``error_class(ORTN_CLS, ORT_CLS)`` with MESSAGE."""
    err = error_class(ortn_cls, ort_cls)(message)
    err.ort_code = ort_code
    return err


def strip(exc: BaseException) -> str:
    """onnxruntime's message without its ``[ONNXRuntimeError] : 2 : INVALID_ARGUMENT :``."""
    return _ORT_PREFIX.sub("", str(exc), count=1).strip()


def ort_code(exc: BaseException) -> int | None:
    m = _ORT_PREFIX.match(str(exc))
    return int(m.group(1)) if m else None


def from_ortnative(exc: _ortn.Error, *, loading: bool = False) -> _ortn.Error:
    """ortnative's error EXC as the compat class onnxruntime users expect, same message.

    When running: ortnative's checks of feeds and output names (no ORT code) are what
    onnxruntime's C++ layer reports as ``InvalidArgument``; errors from ORT itself keep
    the class of their ORT code. When LOADING, errors without an ORT code are mapped by
    the caller (it knows the model source), this gives ``Fail``.
    """
    code = exc.ort_code
    if code is not None:
        ort_cls = ort_class_for_code(code)
    elif isinstance(exc, _ortn.InvalidArgumentError) or (
        isinstance(exc, (_ortn.InvalidTypeError, _ortn.InvalidInputError)) and not loading
    ):
        ort_cls = _C.InvalidArgument
    else:
        ort_cls = _C.Fail
    err = make(type(exc), ort_cls, str(exc), code)
    return err


def from_onnxruntime(exc: BaseException, label: str, *, loading: bool = False) -> BaseException:
    """An exception onnxruntime raised (for a session the compat layer handed to it) as
    the compat class: onnxruntime's class plus the ortnative type that fits, and
    onnxruntime's message after the model's label. Exceptions that are not about the
    model or its feeds (KeyboardInterrupt, MemoryError, ...) are returned unchanged."""
    if isinstance(exc, _ortn.Error) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, (MemoryError, RecursionError, AttributeError)):
        return exc
    text = strip(exc)
    code = ort_code(exc)
    ortn_cls: type[_ortn.Error]
    if loading:
        ortn_cls = _ortn.InvalidTypeError if isinstance(exc, TypeError) else _ortn.ModelLoadError
    elif isinstance(exc, TypeError):
        ortn_cls = _ortn.InvalidTypeError
    elif isinstance(exc, (_C.InvalidArgument, ValueError)):
        ortn_cls = _ortn.InvalidTypeError if "data type" in text else _ortn.InvalidInputError
    elif isinstance(exc, RuntimeError) and code is None:
        # onnxruntime's Python-side conversion of a feed failed.
        ortn_cls = _ortn.InvalidTypeError
    else:
        ortn_cls = _ortn.OrtError
    err = make(ortn_cls, type(exc), f"{label}: {text}", code)
    return err


def __getattr__(name: str) -> Any:
    """``InvalidArgument_InvalidTypeError`` and the like, made on first use (unpickling
    in a fresh process looks them up here)."""
    ort_name, sep, ortn_name = name.partition("_")
    ortn_cls = getattr(_ortn, ortn_name, None) if sep else None
    ort_cls = getattr(_C, ort_name, None) or getattr(builtins, ort_name, None)
    if (
        isinstance(ortn_cls, type)
        and issubclass(ortn_cls, _ortn.Error)
        and isinstance(ort_cls, type)
        and issubclass(ort_cls, BaseException)
        and not issubclass(ortn_cls, ort_cls)
    ):
        return error_class(ortn_cls, ort_cls)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
