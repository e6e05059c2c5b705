"""What a backend implementation provides.

The public classes (``Session``, ``ImagePreprocessor``, ``Scheduler``) each hold one
implementation object as ``_impl`` and use nothing of it but what these protocols name.
Both backends provide them: the native module's classes (``ortnative._core``, typed in
_core.pyi) and the pure-Python fallback's (_fallback.py, _fallback_preprocess.py,
_fallback_scheduler.py). mypy checks both against them (``_conforms`` below), so a method
one backend lacks, or a signature that drifts, fails the type check rather than a user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from ._types import IOInfo
from .options import ModelConfig, RunOptions

_Session_contra = TypeVar("_Session_contra", contravariant=True)


class SessionImpl(Protocol):
    """A loaded model (``_core.Session``, ``_fallback.PythonSession``)."""

    @property
    def name(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def inputs(self) -> list[IOInfo]: ...
    @property
    def outputs(self) -> list[IOInfo]: ...
    def run(
        self,
        feeds: Any,
        outputs: Sequence[str] | None = None,
        *,
        out: Mapping[str, np.ndarray] | None = None,
        run_options: RunOptions | None = None,
    ) -> dict[str, Any]: ...
    def bound_run(self) -> Callable[..., dict[str, Any]]:
        """``run`` as the cheapest callable the backend has: ``Session.run`` returns it."""

    def metadata(self) -> dict[str, Any]: ...
    def end_profiling(self) -> str: ...
    def profiling_start_time_ns(self) -> int: ...
    def close(self) -> None: ...


class PreprocessorImpl(Protocol):
    """An image preprocessor (``_core.ImagePreprocessor``,
    ``_fallback_preprocess.PythonPreprocessor``)."""

    def run(self, images: Any, out: np.ndarray | None = None) -> np.ndarray: ...
    def output_shape(self, n: int) -> tuple[int, int, int, int]: ...
    def geometry(
        self, height: int, width: int
    ) -> tuple[float, float, float, float, int, int, int, int]: ...


class SchedulerImpl(Protocol[_Session_contra]):
    """A scheduler (``_core.Scheduler``, ``_fallback_scheduler.PythonScheduler``); it runs
    sessions of its own backend (the type parameter)."""

    @property
    def closed(self) -> bool: ...
    @property
    def threads(self) -> int: ...
    def add_model(self, name: str, session: _Session_contra, config: ModelConfig) -> None: ...
    def models(self) -> list[str]: ...
    def submit(
        self,
        name: str,
        feeds: Any,
        future: Any,
        priority: int,
        timeout_us: int,
        loop: Any = None,
    ) -> int: ...
    def run(self, name: str, feeds: Any, priority: int, timeout_us: int) -> dict[str, Any]: ...
    def cancel(self, request_id: int) -> bool: ...
    def close(self, drain: bool) -> None: ...
    def stats(self, name: str) -> dict[str, Any]: ...
    def metrics_text(self, prefix: str) -> str: ...


if TYPE_CHECKING:
    from . import _core
    from ._fallback import PythonSession
    from ._fallback_preprocess import PythonPreprocessor
    from ._fallback_scheduler import PythonScheduler

    def _conforms(
        native: tuple[_core.Session, _core.ImagePreprocessor, _core.Scheduler],
        python: tuple[PythonSession, PythonPreprocessor, PythonScheduler],
    ) -> None:
        """Never called: mypy checks that each backend's classes satisfy the protocols."""
        _ns: SessionImpl = native[0]
        _np: PreprocessorImpl = native[1]
        _nc: SchedulerImpl[_core.Session] = native[2]
        _ps: SessionImpl = python[0]
        _pp: PreprocessorImpl = python[1]
        _pc: SchedulerImpl[PythonSession] = python[2]
