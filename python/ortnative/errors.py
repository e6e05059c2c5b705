"""Exceptions raised by ortnative, the same on both backends.

Every class derives from :class:`Error`; those about bad input also derive from the
built-in type a Python caller would expect (``ValueError``, ``TypeError``,
``TimeoutError``), so ``except ValueError`` keeps working. Errors that come from
ONNX Runtime keep ORT's message, name the model and the feeds, and carry ORT's
numeric error code as ``ort_code`` (``None`` otherwise).
"""

from __future__ import annotations

import concurrent.futures

__all__ = [
    "CancelledError",
    "Error",
    "InvalidArgumentError",
    "InvalidInputError",
    "InvalidTypeError",
    "ModelLoadError",
    "OrtError",
    "QueueFullError",
    "RequestTimeoutError",
    "RunTerminatedError",
    "RuntimeLoadError",
    "SchedulerClosedError",
    "SessionClosedError",
]


class Error(Exception):
    """Base class of every ortnative error."""

    ort_code: int | None = None


class RuntimeLoadError(Error, ImportError):
    """libonnxruntime could not be opened, lacks OrtGetApiBase, or is too old."""


class ModelLoadError(Error):
    """A model file or buffer ORT cannot load: missing, empty or corrupt."""


class InvalidArgumentError(Error, ValueError):
    """A bad option or parameter (providers, threads, config, ...), not a feed."""


class InvalidInputError(Error, ValueError):
    """A feed or ``out=`` array: unknown or missing name, wrong rank or shape, layout."""


class InvalidTypeError(Error, TypeError):
    """A feed or ``out=`` array of the wrong dtype. ortnative never casts silently."""


class SessionClosedError(Error):
    """The session was closed."""


class OrtError(Error, RuntimeError):
    """ONNX Runtime failed while running a model (ORT's message is kept)."""


class RunTerminatedError(OrtError):
    """A run stopped by :meth:`ortnative.RunOptions.terminate` (ORT's ``ort_code`` kept);
    the session stays usable."""


class QueueFullError(Error):
    """A scheduler queue was full; the request was refused at once."""


class RequestTimeoutError(Error, TimeoutError):
    """A request passed its deadline before it ran."""


class CancelledError(Error, concurrent.futures.CancelledError):
    """A request was cancelled before it ran."""


class SchedulerClosedError(Error):
    """The scheduler was closed; the request was not run."""
