"""Options as records: one frozen dataclass per object that takes options, checked once,
here, for both backends. Each mirrors a C++ struct of the core and is converted to it in
one place (cpp/python/options.cpp); the python backend reads the same record.

- :class:`SessionOptions` <-> ``ortnative::SessionOptions`` (``Session``, and the
  session part of ``Scheduler.add_model``)
- :class:`PreprocessOptions` <-> ``ortnative::PreprocessOptions`` (``ImagePreprocessor``)
- :class:`ModelConfig` <-> ``ortnative::ModelConfig`` (the scheduling part of
  ``Scheduler.add_model``)
- :class:`RunOptions` <-> ``ortnative::RunOptions`` (``Session.run(..., run_options=)``):
  not a frozen record, since ``terminate()`` changes it; its fields are fixed at
  construction and checked then, like the records'.

The objects take the fields as keyword arguments (``Session(model, intra_op_threads=1)``)
or a whole record (``Session(model, options=SessionOptions(intra_op_threads=1))``); the
keywords then replace the record's fields. Adding a knob: a field here (with its check),
its conversion, the core and the fallback; nothing else.

Units, everywhere in the API: durations in milliseconds (``float``), thread counts where
``0`` means "automatic: one per core".
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from ._messages import repr_list
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ModelConfig", "PreprocessOptions", "RunOptions", "SessionOptions"]

ProviderSpec = str | tuple[str, Mapping[str, Any]]
PerChannel = float | Sequence[float] | None

GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")
EXECUTION_MODES = ("sequential", "parallel")
RESIZE_MODES = ("nearest", "bilinear", "area")
FIT_MODES = ("stretch", "letterbox", "center_crop")
ALIGNS = ("center", "top_left")
INPUT_ORDERS = ("bgr", "rgb", "bgra", "rgba", "gray")
OUTPUT_ORDERS = ("rgb", "bgr", "gray")
LAYOUTS = ("nchw", "nhwc")
PREPROCESS_DTYPES = ("float32", "float16", "uint8")
_F32_MAX = 3.4028234663852886e38  # float(numpy.finfo(numpy.float32).max)
_INT32 = (-(2**31), 2**31 - 1)

R = TypeVar("R", bound="_Record")


class _Record:
    """What the three records share: building one from a record and keywords."""

    @classmethod
    def of(cls, record: Self | None, kwargs: Mapping[str, Any], caller: str) -> Self:
        """RECORD (default: the defaults) with the fields in KWARGS replaced; TypeError
        naming CALLER for a keyword that is no field, as Python words it."""
        if record is not None and not isinstance(record, cls):
            raise InvalidArgumentError(
                f"options must be an ortnative.{cls.__name__}, got {type(record).__name__}"
            )
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        for key in kwargs:
            if key not in names:
                raise TypeError(f"{caller}() got an unexpected keyword argument {key!r}")
        if record is None:
            return cls(**kwargs)
        return dataclasses.replace(record, **kwargs)  # type: ignore[type-var]

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # frozen: normalised once, in __post_init__


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidArgumentError(f"{name} must be one of {repr_list(allowed)}, got {value!r}")
    return value


def check_int(label: str, value: Any, low: int, high: int | None = None, what: str = "") -> int:
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"an int >= {low}" if high is None else f"an int from {low} to {high}"
        raise InvalidArgumentError(f"{label} must be {bound}{what}, got {value!r}")
    return int(value)


def check_priority(priority: Any) -> int:
    """A request's priority: an int32."""
    if type(priority) is not int or not _INT32[0] <= priority <= _INT32[1]:
        return check_int("priority", priority, *_INT32)
    return priority


def milliseconds_to_us(label: str, value: Any, *, zero: bool = False) -> int:
    """A duration in milliseconds (a number > 0, or >= 0 with ZERO; None = none) as whole
    microseconds, at least 1 unless it is 0."""
    if value is None:
        return 0
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (value >= 0 if zero else value > 0)
    ):
        least = ">= 0" if zero else "> 0"
        none = "" if zero else ", or None"
        raise InvalidArgumentError(
            f"{label} must be a number of milliseconds {least}{none}, got {value!r}"
        )
    if value > 1e12:
        raise InvalidArgumentError(f"{label} must be at most 1e12 ms, got {value!r}")
    return 0 if value == 0 else max(1, round(value * 1000))


# -- sessions ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class SessionOptions(_Record):
    """How a model is loaded and run (``Session`` and ``Scheduler.add_model``).

    - ``providers``: execution providers in priority order, each a name or a
      ``(name, {option: value})`` pair; empty means CPU. A provider this ONNX Runtime
      build lacks is an :class:`InvalidArgumentError`, not a silent fallback.
    - ``intra_op_threads`` / ``inter_op_threads``: 0 (default) uses the thread pools all
      sessions share (see :func:`ortnative.set_global_thread_pools`; one thread per core
      by default); > 0 gives the session pools of its own of that size.
    - ``graph_optimization``: ``"disable"``, ``"basic"``, ``"extended"`` or ``"all"``.
    - ``execution_mode``: ``"sequential"`` or ``"parallel"``.
    - ``config``: ORT session config entries, ``{key: value}`` (values become str).
      Per-session pools spin or not by ``"session.intra_op.allow_spinning"`` /
      ``"session.inter_op.allow_spinning"`` (``"0"``/``"1"``); the shared pools by
      :func:`ortnative.set_global_thread_pools`'s ``allow_spinning``.
    - ``enable_cpu_mem_arena`` (True): ORT's CPU memory arena; False allocates and frees
      each buffer (less memory held between runs, slower).
    - ``enable_mem_pattern`` (True): ORT's memory pattern optimisation (one allocation
      per run for inputs of a shape seen before).
    - ``optimized_model_filepath`` (None): where ORT writes the model after graph
      optimisation (a path; ``.ort`` makes it ORT format).
    - ``enable_profiling`` (False), ``profile_file_prefix`` (``"onnxruntime_profile_"``):
      ORT writes a JSON trace ``<prefix>_<date>.json`` (the prefix may name a directory);
      :meth:`Session.end_profiling` ends it and returns its path.
    - ``free_dimension_overrides`` / ``free_dimension_overrides_by_denotation``:
      ``{dimension name or denotation: size}``: those free dimensions become fixed (the
      session's ``inputs`` show the size; feeds must have it).
    - ``custom_op_libraries``: paths of shared libraries of custom operators (such as
      ``onnxruntime_extensions.get_library_path()``), registered in order.
    - ``initializers``: ``{name: numpy array}`` used instead of the model's initializers
      of those names, read in place (not copied: the session keeps the arrays, and
      changing one changes the model's weights).
    - ``external_initializers``: ``{name: numpy array}`` for initializers the model keeps
      as external data, copied while the model loads.
    - ``external_data``: ``{file name: bytes-like}``, the contents of the external data
      files of a model given as bytes (a model loaded from a path finds them beside it),
      copied while the model loads.
    - ``log_severity_level`` (None: the process's, ``ORTNATIVE_LOG_LEVEL``, fatal only by
      default; else 0 verbose .. 4 fatal), ``log_verbosity_level`` (0), ``logid`` (""):
      ONNX Runtime's log of this session, on stderr.
    - ``use_deterministic_compute`` (False): deterministic kernels where ORT has them.
    - ``output_device``: where the outputs ONNX Runtime allocates go: ``"cpu"`` (default:
      NumPy arrays) or ``"cuda"`` / ``"cuda:N"`` (device memory, returned as
      DeviceTensor objects that ``torch.from_dlpack`` and the like take without a copy;
      needs ``providers=["CUDAExecutionProvider", ...]``).

    After construction ``providers`` is a tuple of ``(name, ((key, value), ...))``,
    ``config`` a dict of str, ``optimized_model_filepath`` a str (``""``: none), the
    overrides dicts of str to int, ``custom_op_libraries`` a tuple of str,
    ``initializers`` and ``external_initializers`` dicts of C-contiguous arrays (one
    copy for an array that was not), ``external_data`` a dict of the bytes-like objects
    given.
    (ONNX Runtime's C API has no switch for onnxruntime's ``enable_mem_reuse``.)
    """

    providers: Sequence[ProviderSpec] = ()
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    graph_optimization: str = "all"
    execution_mode: str = "sequential"
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    enable_cpu_mem_arena: bool = True
    enable_mem_pattern: bool = True
    optimized_model_filepath: str | os.PathLike[str] | None = None
    enable_profiling: bool = False
    profile_file_prefix: str | os.PathLike[str] = "onnxruntime_profile_"
    free_dimension_overrides: Mapping[str, int] = dataclasses.field(default_factory=dict)
    free_dimension_overrides_by_denotation: Mapping[str, int] = dataclasses.field(
        default_factory=dict
    )
    custom_op_libraries: Sequence[str | os.PathLike[str]] = ()
    initializers: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    external_initializers: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    external_data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    log_severity_level: int | None = None
    log_verbosity_level: int = 0
    logid: str = ""
    use_deterministic_compute: bool = False
    output_device: str = "cpu"

    def __post_init__(self) -> None:
        self._set("providers", _providers(self.providers))
        self._set("output_device", _output_device(self.output_device))
        for label in ("intra_op_threads", "inter_op_threads"):
            value = getattr(self, label)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgumentError(
                    f"{label} must be an int >= 0 (0 = shared pools), got {value!r}"
                )
        if self.graph_optimization not in GRAPH_OPTIMIZATIONS:
            raise InvalidArgumentError(
                f"graph_optimization must be one of "
                f"{repr_list(GRAPH_OPTIMIZATIONS)}, got {self.graph_optimization!r}"
            )
        if self.execution_mode not in EXECUTION_MODES:
            raise InvalidArgumentError(
                f"execution_mode must be 'sequential' or 'parallel', got {self.execution_mode!r}"
            )
        self._set("config", _config_entries(self.config))
        for label in (
            "enable_cpu_mem_arena",
            "enable_mem_pattern",
            "enable_profiling",
            "use_deterministic_compute",
        ):
            _flag(label, getattr(self, label))
        path = self.optimized_model_filepath
        self._set(
            "optimized_model_filepath",
            "" if path is None else _path("optimized_model_filepath", path),
        )
        self._set("profile_file_prefix", _path("profile_file_prefix", self.profile_file_prefix))
        for label in ("free_dimension_overrides", "free_dimension_overrides_by_denotation"):
            self._set(label, _overrides(label, getattr(self, label)))
        libs = self.custom_op_libraries
        if libs is None:
            libs = ()
        if isinstance(libs, (str, bytes, os.PathLike)) or not isinstance(libs, Sequence):
            raise InvalidArgumentError(
                f"custom_op_libraries must be a list of library paths, got {libs!r}"
            )
        self._set(
            "custom_op_libraries", tuple(_path("each custom op library", lib) for lib in libs)
        )
        for label in ("initializers", "external_initializers"):
            self._set(label, _initializers(label, getattr(self, label)))
        self._set("external_data", _external_data(self.external_data))
        level = self.log_severity_level
        if level is not None:
            check_int("log_severity_level", level, 0, 4, " (0 verbose .. 4 fatal, or None)")
        check_int("log_verbosity_level", self.log_verbosity_level, 0)
        if not isinstance(self.logid, str):
            raise InvalidArgumentError(f"logid must be a str, got {self.logid!r}")

    @property
    def output_device_spec(self) -> tuple[int, int]:
        """``output_device`` as DLPack's ``(device type, id)``: ``(1, 0)`` CPU, ``(2, N)`` CUDA."""
        return output_device_spec(self.output_device)

    @property
    def provider_list(self) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
        """``providers`` as normalised: ``((name, ((key, value), ...)), ...)``."""
        return cast("tuple[tuple[str, tuple[tuple[str, str], ...]], ...]", self.providers)


def _flag(label: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{label} must be True or False, got {value!r}")


def _path(label: str, value: Any) -> str:
    """A path given as str or os.PathLike, as a str."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidArgumentError(f"{label} must be a path (str or os.PathLike), got {value!r}")
    return value


def _overrides(label: str, value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{label} must be a dict {{dimension: size}}, such as {{'N': 1}}, got {value!r}"
        )
    out: dict[str, int] = {}
    for dim, size in value.items():
        if not isinstance(dim, str) or not dim:
            raise InvalidArgumentError(
                f"{label}: each dimension must be a non-empty str, got {dim!r}"
            )
        out[dim] = check_int(f"{label}[{dim!r}]", size, 0, 2**63 - 1)
    return out


# Element types an initializer from memory may have: the numeric ones (strings cannot be
# given from memory: ORT's tensors over caller memory hold numbers).
_INIT_DTYPES = frozenset(
    [
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
        "bfloat16",
    ]
)


def _initializers(label: str, value: Any) -> dict[str, np.ndarray]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{label} must be a dict {{initializer name: numpy array}}, got {value!r}"
        )
    out: dict[str, np.ndarray] = {}
    for name, arr in value.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"{label}: each name must be a non-empty str, got {name!r}")
        if not isinstance(arr, np.ndarray):
            raise InvalidArgumentError(
                f"{label}[{name!r}] must be a numpy array, got {type(arr).__name__}"
            )
        if arr.dtype.name not in _INIT_DTYPES or not arr.dtype.isnative:
            raise InvalidArgumentError(
                f"{label}[{name!r}] must have a numeric dtype in native byte order, got "
                f"{arr.dtype} (string tensors cannot be given from memory)"
            )
        out[name] = np.ascontiguousarray(arr)
    return out


def _external_data(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"external_data must be a dict {{file name: bytes}}, got {value!r}"
        )
    out: dict[str, Any] = {}
    for name, data in value.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(
                f"external_data: each file name must be a non-empty str, got {name!r}"
            )
        if isinstance(data, bytes):
            out[name] = data
            continue
        try:
            view = memoryview(data)
        except TypeError:
            view = None
        if view is None or not view.c_contiguous:
            raise InvalidArgumentError(
                f"external_data[{name!r}] must be bytes or a C-contiguous bytes-like object, "
                f"got {type(data).__name__}"
            )
        out[name] = data  # kept as given (bytes, bytearray and arrays pickle)
    return out


def _output_device(value: Any) -> str:
    """The normalised output device: "cpu", or "cuda:N" (from "cuda" or "cuda:N")."""
    if value == "cpu":
        return "cpu"
    if isinstance(value, str) and value.startswith("cuda"):
        rest = value[4:]
        if rest == "":
            return "cuda:0"
        if rest.startswith(":") and rest[1:].isdigit() and rest[1:].isascii():
            return f"cuda:{int(rest[1:])}"
    raise InvalidArgumentError(f"output_device must be 'cpu', 'cuda' or 'cuda:N', got {value!r}")


def output_device_spec(device: str) -> tuple[int, int]:
    """A normalised output_device as DLPack's (device type, id): (1, 0) for the CPU."""
    if device == "cpu":
        return (1, 0)
    return (2, int(device.split(":")[1]))


def _providers(providers: Any) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    if providers is None:
        return ()
    if isinstance(providers, (str, bytes)) or not isinstance(providers, Sequence):
        raise InvalidArgumentError(
            f"providers must be a list such as ['CPUExecutionProvider'], got {providers!r}"
        )
    out: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for p in providers:
        if isinstance(p, str):
            out.append((p, ()))
        elif (
            isinstance(p, tuple)
            and len(p) == 2
            and isinstance(p[0], str)
            and isinstance(p[1], (Mapping, tuple))
        ):
            items = p[1].items() if isinstance(p[1], Mapping) else p[1]
            out.append((p[0], tuple((str(k), str(v)) for k, v in items)))
        else:
            raise InvalidArgumentError(
                f"each provider must be a name or a (name, {{option: value}}) pair, got {p!r}"
            )
    return tuple(out)


# -- runs ----------------------------------------------------------------------------------


class RunOptions:
    """Options for runs: ``session.run(feeds, run_options=ro)`` (also ``run_async``,
    ``arun``). One object may serve any number of runs, on any sessions and backends, at
    once.

    - ``run_tag`` (""): the runs' tag in ONNX Runtime's log.
    - ``log_severity_level`` (None: the session's; else 0 verbose .. 4 fatal),
      ``log_verbosity_level`` (0): ONNX Runtime's log of these runs.
    - ``config``: ORT run config entries, ``{key: value}`` (values become str), e.g.
      ``{"memory.enable_memory_arena_shrinkage": "cpu:0"}``.

    :meth:`terminate`, from any thread, stops every run using these options as soon as
    ONNX Runtime checks (between operators): each raises
    :class:`ortnative.RunTerminatedError` (an :class:`~ortnative.OrtError`), and the
    session stays usable. Runs started afterwards with these options end the same way at
    once, until :meth:`unset_terminate`.
    """

    __slots__ = (
        "__weakref__",
        "_config",
        "_impls",
        "_lock",
        "_log_severity_level",
        "_log_verbosity_level",
        "_run_tag",
        "_terminated",
    )

    def __init__(
        self,
        *,
        run_tag: str = "",
        log_severity_level: int | None = None,
        log_verbosity_level: int = 0,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(run_tag, str) or "\x00" in run_tag:
            raise InvalidArgumentError(f"run_tag must be a str, got {run_tag!r}")
        if log_severity_level is not None:
            check_int(
                "log_severity_level", log_severity_level, 0, 4, " (0 verbose .. 4 fatal, or None)"
            )
        self._run_tag = run_tag
        self._log_severity_level = None if log_severity_level is None else int(log_severity_level)
        self._log_verbosity_level = check_int("log_verbosity_level", log_verbosity_level, 0)
        self._config = _config_entries(config)
        self._lock = threading.Lock()
        self._terminated = False
        self._impls: dict[str, Any] = {}  # backend -> its run options, made on first use

    @property
    def run_tag(self) -> str:
        return self._run_tag

    @property
    def log_severity_level(self) -> int | None:
        return self._log_severity_level

    @property
    def log_verbosity_level(self) -> int:
        return self._log_verbosity_level

    @property
    def config(self) -> dict[str, str]:
        """The run config entries (a copy)."""
        return dict(self._config)

    @property
    def terminated(self) -> bool:
        """Whether :meth:`terminate` was called (and :meth:`unset_terminate` not since)."""
        return self._terminated

    def terminate(self) -> None:
        """Stops the runs using these options, and those started later (see the class).
        Thread-safe; returns at once, without waiting for the runs to end."""
        with self._lock:
            self._terminated = True
            for impl in self._impls.values():
                impl.terminate()

    def unset_terminate(self) -> None:
        """Lets runs with these options run again."""
        with self._lock:
            self._terminated = False
            for impl in self._impls.values():
                impl.unset_terminate()

    def _impl(self, backend: str) -> Any:
        """BACKEND's run options for these (made on first use, kept): a
        ``_core.RunOptions`` or the fallback's wrapper of an ``onnxruntime.RunOptions``."""
        impl = self._impls.get(backend)
        if impl is None:
            with self._lock:
                impl = self._impls.get(backend)
                if impl is None:
                    if backend == "native":
                        from . import _backend

                        impl = _backend.native_runtime().RunOptions(self)
                    else:
                        from ._fallback import PythonRunOptions

                        impl = PythonRunOptions(self)
                    if self._terminated:
                        impl.terminate()
                    self._impls[backend] = impl
        return impl

    def __repr__(self) -> str:
        state = " terminated" if self._terminated else ""
        return f"<ortnative.RunOptions run_tag={self._run_tag!r}{state}>"


def _config_entries(config: Any) -> dict[str, str]:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise InvalidArgumentError(f"config must be a dict of str to str, got {config!r}")
    cfg: dict[str, str] = {}
    for k, v in config.items():
        if not isinstance(k, str):
            raise InvalidArgumentError(f"config keys must be str, got {k!r}")
        cfg[k] = v if isinstance(v, str) else str(v)
    return cfg


# -- preprocessing -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class PreprocessOptions(_Record):
    """What ``ImagePreprocessor`` makes of images (see its docstring for each field).

    After construction: ``size`` is ``(height, width)``; ``scale`` a float (its default,
    None, resolves to 1/255 for float outputs and 1 for uint8); ``mean``, ``std`` and
    ``pad_value`` tuples of one float per output channel (``mean``/``std`` may stay
    None: 0 and 1); ``dtype`` a name.
    """

    size: int | tuple[int, int] = (224, 224)
    resize: str = "bilinear"
    fit: str = "stretch"
    align: str = "center"
    input_order: str = "bgr"
    output_order: str = "rgb"
    scale: float | None = None
    mean: PerChannel = None
    std: PerChannel = None
    pad_value: PerChannel = 114.0
    layout: str = "nchw"
    dtype: Any = "float32"
    threads: int = 0

    def __post_init__(self) -> None:
        self._set("size", _size(self.size))
        _choice("resize", self.resize, RESIZE_MODES)
        _choice("fit", self.fit, FIT_MODES)
        _choice("align", self.align, ALIGNS)
        _choice("input_order", self.input_order, INPUT_ORDERS)
        _choice("output_order", self.output_order, OUTPUT_ORDERS)
        _choice("layout", self.layout, LAYOUTS)
        self._set("dtype", _preprocess_dtype(self.dtype))
        self._set("threads", check_int("threads", self.threads, 0))
        scale = self.scale
        if scale is None:
            scale = 1.0 if self.dtype == "uint8" else 1 / 255
        if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.number)):
            raise InvalidArgumentError(f"scale must be a finite number, got {scale!r}")
        if not math.isfinite(float(scale)):
            raise InvalidArgumentError(f"scale must be a finite number, got {float(scale)!r}")
        scale = float(scale)
        self._set("scale", scale)
        n = self.channels
        for name in ("mean", "std", "pad_value"):
            self._set(name, _per_channel(name, getattr(self, name), n))
        for c, s in enumerate(self.per_channel("std") or ()):
            if s == 0:
                raise InvalidArgumentError(f"std must be non-zero, got 0 for output channel {c}")
        mean3, std3 = self.padded("mean"), self.padded("std")
        for c in range(n):
            a, b = scale / std3[c], -mean3[c] / std3[c]
            if not (abs(a) <= _F32_MAX and abs(b) <= _F32_MAX):
                raise InvalidArgumentError(
                    f"scale / std and mean / std must fit in float32 (output channel {c})"
                )

    @property
    def channels(self) -> int:
        """Output channels: 1 for gray output, else 3."""
        return 1 if self.output_order == "gray" else 3

    @property
    def hw(self) -> tuple[int, int]:
        """``size`` as (height, width)."""
        return cast("tuple[int, int]", self.size)

    def per_channel(self, name: str) -> tuple[float, ...] | None:
        """Field NAME (mean, std or pad_value) as normalised: one float per channel."""
        return cast("tuple[float, ...] | None", getattr(self, name))

    def padded(self, name: str) -> tuple[float, float, float]:
        """Field NAME (mean, std or pad_value) as three values, as the core takes it."""
        default = {"mean": 0.0, "std": 1.0, "pad_value": 114.0}[name]
        v = list(self.per_channel(name) or ())
        v += [default] * (3 - len(v))
        return (v[0], v[1], v[2])


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _size(size: Any) -> tuple[int, int]:
    if _is_int(size):
        hw = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_int(v) for v in size):
        hw = (int(size[0]), int(size[1]))
    else:
        hw = (0, 0)
    if hw[0] <= 0 or hw[1] <= 0:
        raise InvalidArgumentError(
            f"size must be a positive int or a (height, width) pair of positive ints, got {size!r}"
        )
    return hw


def _preprocess_dtype(dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in PREPROCESS_DTYPES:
        shown = dtype if isinstance(dtype, str) or name is None else name
        raise InvalidArgumentError(
            f"dtype must be one of {repr_list(PREPROCESS_DTYPES)}, got {shown!r}"
        )
    return str(name)


def _per_channel(name: str, value: PerChannel, n: int) -> tuple[float, ...] | None:
    """VALUE as N floats (a number applies to every channel); None stays None."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        values = None
    elif isinstance(value, (int, float, np.number)):
        values = [float(value)] * n
    else:
        try:
            values = [float(v) for v in value]
        except (TypeError, ValueError):
            values = None
    if values is None:
        raise InvalidArgumentError(
            f"{name} must be a number or a sequence of {n} numbers (one per output channel), "
            f"got {value!r}"
        )
    if len(values) != n:
        raise InvalidArgumentError(
            f"{name} must be a number or {n} number{'' if n == 1 else 's'} (one per output "
            f"channel, in output_order), got {len(values)}"
        )
    for c, v in enumerate(values):
        if not math.isfinite(v):
            raise InvalidArgumentError(f"{name} must be finite, got {v!r} for output channel {c}")
    return tuple(values)


# -- scheduling ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig(_Record):
    """How ``Scheduler`` serves one model (see ``Scheduler.add_model``).

    ``max_queue_delay_ms`` and ``timeout_ms`` are milliseconds (floats; the scheduler
    works in whole microseconds). ``Scheduler.add_model`` also takes the older spelling
    ``max_queue_delay_us`` (integer microseconds).
    """

    replicas: int = 1
    max_batch_size: int = 1
    max_queue_delay_ms: float = 0.0
    max_queue_size: int = 1024
    timeout_ms: float | None = None
    preferred_batch_sizes: Sequence[int] = ()
    warmup: bool = False

    def __post_init__(self) -> None:
        check_int("replicas", self.replicas, 1, 4096)
        check_int("max_batch_size", self.max_batch_size, 1, 1 << 20)
        delay_us = milliseconds_to_us("max_queue_delay_ms", self.max_queue_delay_ms, zero=True)
        if delay_us > 60_000_000:
            raise InvalidArgumentError(
                f"max_queue_delay_ms must be at most 60000 ms, got {self.max_queue_delay_ms!r}"
            )
        check_int("max_queue_size", self.max_queue_size, 1, 1 << 30)
        milliseconds_to_us("timeout_ms", self.timeout_ms)
        preferred = self.preferred_batch_sizes
        if preferred is None:
            preferred = ()
        if isinstance(preferred, (str, bytes)) or not isinstance(preferred, Sequence):
            raise InvalidArgumentError(
                f"preferred_batch_sizes must be a list of ints, got {preferred!r}"
            )
        self._set(
            "preferred_batch_sizes",
            tuple(
                check_int(
                    "each preferred batch size", size, 1, self.max_batch_size, " (max_batch_size)"
                )
                for size in preferred
            ),
        )
        if not isinstance(self.warmup, bool):
            raise InvalidArgumentError(f"warmup must be True or False, got {self.warmup!r}")

    @property
    def max_queue_delay_us(self) -> int:
        """The batch window in whole microseconds, as the scheduler keeps it."""
        return milliseconds_to_us("max_queue_delay_ms", self.max_queue_delay_ms, zero=True)

    @property
    def timeout_us(self) -> int:
        """The queue timeout in whole microseconds (0: none)."""
        return milliseconds_to_us("timeout_ms", self.timeout_ms)
