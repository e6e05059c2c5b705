"""Type stubs for ortnative._core, the native backend (use the ortnative package)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np

from .options import ModelConfig, PreprocessOptions, SessionOptions
from .options import RunOptions as _RunOptionsRecord

ERROR_CODES: dict[int, str]

def load_runtime(candidates: Sequence[str]) -> tuple[str, str]:
    """Loads libonnxruntime from the first candidate that works (empty:
    $ORTNATIVE_ORT_LIBRARY if set, else the system's); returns (path, ORT version) of
    the library loaded, the first one for later calls. RuntimeLoadError names every
    candidate and why it failed."""

def runtime_loaded() -> bool: ...
def set_global_thread_pools(
    intra_op_threads: int, inter_op_threads: int, allow_spinning: bool = True
) -> None: ...
def global_thread_pools() -> tuple[int, int]: ...
def global_thread_spinning() -> bool: ...
def available_providers() -> list[str]: ...
def _set_bfloat16_dtype(dtype: np.dtype[Any]) -> None: ...
def _live_values() -> int:
    """ORT values currently owned by arrays this module returned (lifetime tests)."""

# (name, numpy dtype or None, shape, kind) with kind one of "tensor", "sequence",
# "optional", "optional_sequence", "map", "other".
_IOInfo: TypeAlias = tuple[str, np.dtype[Any] | None, tuple[int | str | None, ...], str]

class RunOptions:
    """The native run options of an ortnative.RunOptions (which makes and keeps it)."""

    def __init__(self, options: _RunOptionsRecord) -> None: ...
    def terminate(self) -> None: ...
    def unset_terminate(self) -> None: ...
    @property
    def terminated(self) -> bool: ...

class Session:
    @staticmethod
    def from_file(path: str, options: SessionOptions, name: str) -> Session: ...
    @staticmethod
    def from_bytes(
        data: bytes | bytearray | memoryview, options: SessionOptions, name: str
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
        run_options: _RunOptionsRecord | None = None,
    ) -> dict[str, Any]: ...
    def bound_run(self) -> Callable[..., dict[str, Any]]:
        """run as a builtin bound to this session:
        (feeds, outputs=None, *, out=None, run_options=None)."""
    def metadata(self) -> dict[str, Any]: ...
    def end_profiling(self) -> str: ...
    def profiling_start_time_ns(self) -> int: ...
    def close(self) -> None: ...

class DeviceTensor:
    """An output kept in device memory (``output_device="cuda"``), exported through DLPack."""

    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def device(self) -> str: ...
    def __dlpack_device__(self) -> tuple[int, int]: ...
    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> Any: ...

def _device_tensor_for_test(array: np.ndarray) -> DeviceTensor:
    """A DeviceTensor over a host array's memory (cpu:0): tests the DLPack export."""

class ImagePreprocessor:
    """The native preprocessor; options arrive checked (ortnative.options)."""

    def __init__(self, options: PreprocessOptions) -> None: ...
    def run(self, images: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Preprocesses IMAGES into OUT (or a new array), which it returns."""
    def output_shape(self, n: int) -> tuple[int, int, int, int]: ...
    def geometry(
        self, height: int, width: int
    ) -> tuple[float, float, float, float, int, int, int, int]:
        """(scale_x, scale_y, offset_x, offset_y, left, top, width, height)."""

def available_cores() -> int: ...
def _set_preprocess_simd(enabled: bool) -> bool:
    """Test hook: False forces the portable kernels; returns the old value."""

def _preprocess_simd_active() -> bool: ...

class FutureState:
    """A submit() request's outcome, completed by the scheduler without the GIL."""

    def done(self) -> bool: ...
    def wait(self, timeout: float) -> bool:
        """Waits (GIL released) until done, at most TIMEOUT s (< 0: no limit)."""
    def want_notify(self, future: Any) -> bool:
        """From now on a completion settles FUTURE (via future._settle()); True if done."""
    def outcome(self) -> tuple[Any, BaseException | None]:
        """(outputs dict, None) or (None, exception), once done."""
    def wait_outcome(self, timeout: float) -> tuple[Any, BaseException | None] | None:
        """wait(TIMEOUT), then outcome(); None if the time ran out."""

class Scheduler:
    """The native scheduler (ortnative.Scheduler wraps it). submit()'s futures get a
    FutureState as `_native`; asyncio futures are resolved through resolve_async."""

    def __init__(self, threads: int, resolve_async: Callable[[list[Any]], Any]) -> None: ...
    def add_model(self, name: str, session: Session, config: ModelConfig) -> None: ...
    def submit(
        self,
        name: str,
        feeds: Any,
        future: Any,
        priority: int,
        timeout_us: int,
        loop: Any = None,
    ) -> int:
        """Queues a request; returns its id. timeout_us 0: the model's timeout. With LOOP,
        FUTURE is an asyncio future of that loop, resolved through resolve_async."""
    def run(self, name: str, feeds: Any, priority: int, timeout_us: int) -> dict[str, Any]:
        """Submits and waits with the GIL released; no future."""
    def cancel(self, request_id: int) -> bool: ...
    def close(self, drain: bool) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def threads(self) -> int: ...
    def models(self) -> list[str]: ...
    def stats(self, name: str) -> dict[str, Any]: ...
    def metrics_text(self, prefix: str) -> str: ...

def _live_slices() -> int:
    """Arrays over shared batch outputs still alive (lifetime tests)."""
