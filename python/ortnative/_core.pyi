"""Type stubs for ortnative._core, the native backend (use the ortnative package)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np

ERROR_CODES: dict[int, str]

def load_runtime(candidates: Sequence[str]) -> tuple[str, str]:
    """Loads libonnxruntime from the first candidate that works (empty: the system's,
    or $ORTNATIVE_ORT_LIBRARY); returns (path, ORT version). RuntimeLoadError names
    every candidate and why it failed."""

def runtime_loaded() -> bool: ...
def set_global_thread_pools(intra_op_threads: int, inter_op_threads: int) -> None: ...
def global_thread_pools() -> tuple[int, int]: ...
def available_providers() -> list[str]: ...
def _set_bfloat16_dtype(dtype: np.dtype[Any]) -> None: ...
def _live_values() -> int:
    """ORT values currently owned by arrays this module returned (lifetime tests)."""

# (name, numpy dtype or None, shape, kind) with kind one of "tensor", "sequence",
# "optional", "optional_sequence", "map", "other".
_IOInfo: TypeAlias = tuple[str, np.dtype[Any] | None, tuple[int | str | None, ...], str]
_Providers: TypeAlias = Sequence[tuple[str, Sequence[tuple[str, str]]]]

class Session:
    @staticmethod
    def from_file(
        path: str,
        providers: _Providers,
        intra_op_threads: int,
        inter_op_threads: int,
        graph_optimization: str,
        execution_mode: str,
        config: Mapping[str, str],
        name: str,
    ) -> Session: ...
    @staticmethod
    def from_bytes(
        data: bytes | bytearray | memoryview,
        providers: _Providers,
        intra_op_threads: int,
        inter_op_threads: int,
        graph_optimization: str,
        execution_mode: str,
        config: Mapping[str, str],
        name: str,
    ) -> Session: ...
    @property
    def name(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def inputs(self) -> list[_IOInfo]: ...
    @property
    def outputs(self) -> list[_IOInfo]: ...
    def run(
        self,
        feeds: Any,
        outputs: Sequence[str] | None = None,
        out: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, Any]: ...
    def bound_run(self) -> Callable[..., dict[str, Any]]:
        """run as a builtin bound to this session: (feeds, outputs=None, out=None)."""
    def metadata(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
