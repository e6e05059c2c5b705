"""The pure-Python backend: the same Session behaviour on plain onnxruntime + numpy.

It checks feeds in the same order and words errors the same way as the C++ core
(see _messages.py), then calls onnxruntime. Outputs are whatever onnxruntime returns
(its own copies); ``out=`` arrays are filled with ``numpy.copyto`` (one copy).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

from . import _messages as msg
from ._options import SessionOptions
from .errors import (
    InvalidArgumentError,
    InvalidInputError,
    InvalidTypeError,
    ModelLoadError,
    OrtError,
    SessionClosedError,
)

_ort: Any = None
_pools_lock = threading.Lock()
_pools_requested: tuple[int, int] | None = None
_INVALID_TEXT = "the model holds text that is not valid UTF-8"  # as the core says it
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : (\d+) : [A-Z_]+ : ", re.DOTALL)

_TYPE_MAP = {
    "float": "float32",
    "float16": "float16",
    "double": "float64",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "bool": "bool",
    "string": "str",
    "complex64": "complex64",
    "complex128": "complex128",
    "bfloat16": "bfloat16",
}


def _onnxruntime() -> Any:
    global _ort
    if _ort is None:
        import onnxruntime

        _ort = onnxruntime
    return _ort


def set_global_thread_pools(intra: int, inter: int) -> None:
    """Sizes for sessions that ask for the shared pools (threads 0).

    onnxruntime's Python API can share pools between sessions only by switching the
    whole process to global pools, after which it refuses every session that has pools
    of its own, the user's plain onnxruntime sessions included. The fallback will not
    do that to its host process: each of its sessions gets pools of its own, of these
    sizes.
    """
    global _pools_requested
    with _pools_lock:
        _pools_requested = (intra, inter)


def _env_threads(name: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) > 4096:
        raise InvalidArgumentError(
            f"environment variable {name}='{raw}' is not a thread count (an integer from 0 to 4096)"
        )
    return int(raw)


def _log_level() -> int:
    """ONNX Runtime's log severity, as the native core sets it: ORTNATIVE_LOG_LEVEL (0-4),
    default 4 (fatal only), since ORT's errors reach the caller as exceptions anyway."""
    try:
        level = int(os.environ.get("ORTNATIVE_LOG_LEVEL", "4"))
    except ValueError:
        level = 4
    return min(max(level, 0), 4)


def _shared_sizes() -> tuple[int, int]:
    """The sizes a session with threads 0 gets (0: onnxruntime's default)."""
    global _pools_requested
    with _pools_lock:
        if _pools_requested is None:
            _pools_requested = (
                _env_threads("ORTNATIVE_INTRA_OP_THREADS"),
                _env_threads("ORTNATIVE_INTER_OP_THREADS"),
            )
        return _pools_requested


def _numpy_dtype(type_str: str) -> np.dtype | None:
    inner = type_str
    for prefix in ("optional(", "seq(", "tensor("):
        if inner.startswith(prefix):
            inner = inner[len(prefix) : -1]
    name = _TYPE_MAP.get(inner)
    if name is None:
        return None
    if name == "str":
        return np.dtype(object)
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            return None
        bf16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
        return bf16
    return np.dtype(name)


def _kind(type_str: str) -> str:
    if type_str.startswith("optional(seq("):
        return "optional_sequence"
    if type_str.startswith("optional("):
        return "optional"
    if type_str.startswith("seq("):
        return "sequence" if "tensor(" in type_str and "map(" not in type_str else "other"
    if type_str.startswith("map("):
        return "map"
    return "tensor" if type_str.startswith("tensor(") else "other"


def _dim(d: Any) -> Any:
    """A dimension as the core reports it: ORT's C API gives symbolic names as C
    strings (cut at a NUL), an empty name is no name, a negative size is free."""
    if isinstance(d, str):
        return d.split("\x00", 1)[0] or None
    if isinstance(d, int) and d >= 0:
        return d
    return None


class _Spec:
    """What one input or output is, precomputed for the per-call checks."""

    __slots__ = ("dtype", "dtype_name", "fixed", "index", "kind", "name", "rank", "shape")

    def __init__(self, index: int, arg: Any) -> None:
        self.index = index
        self.name: str = arg.name
        self.kind = _kind(arg.type)
        self.dtype = _numpy_dtype(arg.type)
        inner = arg.type
        for prefix in ("optional(", "seq(", "tensor("):
            if inner.startswith(prefix):
                inner = inner[len(prefix) : -1]
        self.dtype_name = _TYPE_MAP.get(inner, "unsupported")
        shape = arg.shape if isinstance(arg.shape, list) else []
        self.shape: tuple[Any, ...] = tuple(_dim(d) for d in shape)
        # ORT reports an unknown rank like a scalar: rank 0 is not enforced (as in the core).
        self.rank = len(self.shape) if self.shape else None
        self.fixed = tuple((i, d) for i, d in enumerate(self.shape) if isinstance(d, int))

    def describe(self) -> str:
        if self.kind == "tensor":
            return f"{self.dtype_name} {msg.format_model_shape(self.shape)}"
        if self.kind == "sequence":
            return f"sequence of {self.dtype_name} tensors"
        if self.kind == "optional":
            return f"optional {self.dtype_name} tensor"
        if self.kind == "optional_sequence":
            return f"optional {self.dtype_name} sequence"
        return "map" if self.kind == "map" else "unsupported type"


def _given_dtype(arr: np.ndarray, want: str) -> str | None:
    """The core's name for ARR's dtype, or None when ortnative can't take it as is."""
    dt = arr.dtype
    if not dt.isnative:
        return None
    kind = dt.kind
    if kind in "USTO":
        if kind == "O" and want != "str":
            return None
        return "str"
    if kind in "biufc":
        name = dt.name
        return name if name in _SUPPORTED else None
    if dt.name == "bfloat16":
        return "bfloat16"
    return None


_SUPPORTED = frozenset(
    {
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
    }
)


class PythonSession:
    """Mirror of the native ``_core.Session`` interface over onnxruntime."""

    def __init__(self, source: str | bytes, opts: SessionOptions, name: str) -> None:
        ort = _onnxruntime()
        self.name = name
        self._label = f"model '{name}'"
        self._closed = False
        so = ort.SessionOptions()
        so.log_severity_level = _log_level()
        intra, inter = opts.intra_op_threads, opts.inter_op_threads
        if intra == 0 and inter == 0:
            intra, inter = _shared_sizes()
        if intra:
            so.intra_op_num_threads = intra
        if inter:
            so.inter_op_num_threads = inter
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[opts.graph_optimization]
        so.execution_mode = (
            ort.ExecutionMode.ORT_PARALLEL
            if opts.execution_mode == "parallel"
            else ort.ExecutionMode.ORT_SEQUENTIAL
        )
        for k, v in opts.config.items():
            try:
                so.add_session_config_entry(k, v)
            except Exception as exc:  # noqa: BLE001 - re-raised as our type
                raise InvalidArgumentError(
                    f"{self._label}: session config entry '{k}': {_strip(exc)}"
                ) from None
        providers: list[Any] = []
        if opts.providers:
            available = ort.get_available_providers()
            for pname, popts in opts.providers:
                if pname not in available:
                    raise InvalidArgumentError(
                        f"{self._label}: execution provider '{pname}' is not available in this "
                        f"ONNX Runtime build (available: {msg.quoted(available)})"
                    )
                if pname == "CPUExecutionProvider" and popts:
                    raise InvalidArgumentError(
                        f"{self._label}: CPUExecutionProvider takes no provider options"
                    )
                providers.append((pname, dict(popts)) if popts else pname)
        else:
            providers = ["CPUExecutionProvider"]
        if isinstance(source, str):
            if not source or not os.path.exists(source):
                raise ModelLoadError(f"{self._label}: model file '{source}' does not exist")
            if os.path.isdir(source):
                raise ModelLoadError(f"{self._label}: '{source}' is a directory, not a model file")
            if os.path.getsize(source) == 0:
                raise ModelLoadError(f"{self._label}: model file '{source}' is empty")
            where = f"loading '{source}' failed"
        else:
            if len(source) == 0:
                raise ModelLoadError(f"{self._label}: model bytes are empty")
            where = f"loading the model from {len(source)} bytes failed"
        # onnxruntime's own class, by its defining module: ortnative.compat.install()
        # puts its own InferenceSession (which runs on this backend) in onnxruntime's
        # namespace.
        from onnxruntime.capi.onnxruntime_inference_collection import InferenceSession

        try:
            self._sess = InferenceSession(source, so, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises many types; re-raised
            # onnxruntime cannot turn text from the model that is not UTF-8 into str
            # (names, or its own message quoting them); the core says the same then.
            text = _INVALID_TEXT if isinstance(exc, UnicodeDecodeError) else _strip(exc)
            err = ModelLoadError(f"{self._label}: {where}: {text}")
            err.ort_code = _ort_code(exc)
            raise err from None
        # The C-level session: skips InferenceSession.run's own Python-side checks,
        # which ours replace.
        self._run = self._sess._sess.run
        try:
            self._in = [_Spec(i, a) for i, a in enumerate(self._sess.get_inputs())]
            self._out = [_Spec(i, a) for i, a in enumerate(self._sess.get_outputs())]
        except UnicodeDecodeError:  # names that are not UTF-8: refused, as by the core
            raise ModelLoadError(f"{self._label}: {where}: {_INVALID_TEXT}") from None
        self._in_by_name = {s.name: s for s in self._in}
        self._out_by_name = {s.name: s for s in self._out}
        self._out_names = [s.name for s in self._out]
        self._required = [s for s in self._in if not s.kind.startswith("optional")]
        # For the fast path: plain tensor inputs only, {name: (dtype, rank, fixed dims)}.
        self._fast = (
            {s.name: (s.dtype, s.rank, s.fixed) for s in self._in}
            if all(s.kind == "tensor" and s.dtype_name != "str" for s in self._in)
            else None
        )
        self._n_in = len(self._in)
        if any(sp.dtype_name == "bfloat16" for sp in self._in + self._out):
            # onnxruntime's Python API has no NumPy type for bfloat16: go through
            # OrtValues (see _run_bfloat16), on the general path only.
            self._fast = None
            self._run = self._run_bfloat16

    # -- metadata ------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def inputs(self) -> list[tuple[str, Any, tuple[Any, ...], str]]:
        return [(s.name, s.dtype, s.shape, s.kind) for s in self._in]

    @property
    def outputs(self) -> list[tuple[str, Any, tuple[Any, ...], str]]:
        return [(s.name, s.dtype, s.shape, s.kind) for s in self._out]

    def metadata(self) -> dict[str, Any]:
        self._check_open()
        m = self._sess.get_modelmeta()
        return {
            "producer_name": m.producer_name,
            "graph_name": m.graph_name,
            "domain": m.domain,
            "description": m.description,
            "graph_description": m.graph_description,
            "version": m.version,
            "custom": dict(m.custom_metadata_map),
        }

    def close(self) -> None:
        # Runs in flight hold their own reference to onnxruntime's session, so dropping
        # ours cannot pull it from under them; it is freed when the last one returns.
        self._closed = True
        self._sess = None
        self._run = None

    # -- run -----------------------------------------------------------------------
    def _fail(self, cls: type[Exception], what: str) -> Exception:
        return cls(f"{self._label}: {what}")

    def _check_open(self) -> None:
        if self._closed:
            raise self._fail(SessionClosedError, "session is closed")

    def _convert(self, spec: _Spec, value: Any) -> Any:
        """Step 2 of the checks: make VALUE something onnxruntime takes, refusing
        dtypes ortnative has no type for (mismatches are step 6)."""
        if value is None and spec.kind.startswith("optional"):
            return None
        if spec.kind in ("sequence", "optional_sequence") and isinstance(value, (list, tuple)):
            return [self._element(spec, v) for v in value]
        return self._element(spec, value)

    def _element(self, spec: _Spec, value: Any) -> np.ndarray:
        arr = value if type(value) is np.ndarray else np.asarray(value)
        if _given_dtype(arr, spec.dtype_name) is None or (
            spec.dtype_name == "str"
            and arr.dtype.kind in "OUS"
            and _bad_string_element(arr) is not None
        ):
            raise self._fail(
                InvalidTypeError,
                f"input '{spec.name}' has dtype {_numpy_name(arr, spec)}, expected "
                f"{spec.dtype_name} (ortnative never casts: {msg.cast_hint(spec.dtype_name)})",
            )
        return arr

    def _check_tensor(self, spec: _Spec, arr: np.ndarray, role: str) -> None:
        """Step 6/7: dtype, rank and fixed dimensions, worded as the core words them."""
        if arr.dtype is not spec.dtype:
            got = _given_dtype(arr, spec.dtype_name)
            if got != spec.dtype_name:
                raise self._fail(
                    InvalidTypeError,
                    f"{role} '{spec.name}' has dtype {got}, expected {spec.dtype_name} "
                    f"(ortnative never casts: {msg.cast_hint(spec.dtype_name)})",
                )
        if spec.rank is None:
            return
        shape = arr.shape
        if len(shape) != spec.rank:
            raise self._fail(
                InvalidInputError,
                f"{role} '{spec.name}' has shape {msg.format_shape(shape)} (rank {len(shape)}), "
                f"expected rank {spec.rank}: {msg.format_model_shape(spec.shape)}",
            )
        for axis, size in spec.fixed:
            if shape[axis] != size:
                raise self._fail(
                    InvalidInputError,
                    f"{role} '{spec.name}' has shape {msg.format_shape(shape)}, expected "
                    f"{msg.format_model_shape(spec.shape)} (dimension {axis} must be {size})",
                )

    def _check_input(self, spec: _Spec, value: Any) -> Any:
        kind = spec.kind
        want = "sequence" if kind in ("sequence", "optional_sequence") else "tensor"
        if value is None:
            return None
        if isinstance(value, list):
            if want != "sequence":  # pragma: no cover - lists are arrays for tensor inputs
                raise self._fail(InvalidInputError, f"input '{spec.name}' is a {spec.describe()}")
            for v in value:
                if _given_dtype(v, spec.dtype_name) != spec.dtype_name:
                    raise self._fail(
                        InvalidTypeError,
                        f"element of input '{spec.name}' has dtype "
                        f"{_given_dtype(v, spec.dtype_name)}, expected {spec.dtype_name} "
                        f"(ortnative never casts: {msg.cast_hint(spec.dtype_name)})",
                    )
            return value
        if want != "tensor":
            raise self._fail(
                InvalidInputError, f"input '{spec.name}' is a {spec.describe()}, got a tensor"
            )
        self._check_tensor(spec, value, "input")
        return _for_ort(value, spec)

    def run(self, feeds: Any, outputs: Any = None, out: Any = None) -> dict[str, Any]:
        run = self._run
        if run is None:
            raise self._fail(SessionClosedError, "session is closed")
        if outputs is None and out is None and self._fast_ok(feeds):
            try:
                return dict(zip(self._out_names, run(self._out_names, feeds, None), strict=False))
            except Exception as exc:  # noqa: BLE001 - re-raised as our type
                raise self._run_error(exc, feeds) from None
        return self._run_general(run, feeds, outputs, out)

    def _fast_ok(self, feeds: Any) -> bool:
        """The common call, checked inline: a dict with every feed a plain array of the
        right dtype, rank and fixed sizes. Anything else takes the general path, which
        finds and words the problem."""
        fast = self._fast
        if fast is None or type(feeds) is not dict or len(feeds) != self._n_in:
            return False
        for name, value in feeds.items():
            spec = fast.get(name)
            if spec is None or type(value) is not np.ndarray or value.dtype is not spec[0]:
                return False
            rank = spec[1]
            if rank is not None:
                shape = value.shape
                if len(shape) != rank:
                    return False
                for axis, size in spec[2]:
                    if shape[axis] != size:
                        return False
        return True

    def prepare(self, feeds: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The checks :meth:`run` makes on FEEDS, without running (for the scheduler, which
        runs later): returns ``(given, ort_feeds)`` for :meth:`run_prepared`, or raises
        what :meth:`run` would."""
        if self._run is None:
            raise self._fail(SessionClosedError, "session is closed")
        if self._fast_ok(feeds):
            same = dict(feeds)  # the caller may change their dict later
            return same, same
        given = self._given(feeds)
        ort_feeds: dict[str, Any] = {}
        for spec in self._in:
            if spec.name in given:
                value = self._check_input(spec, given[spec.name])
                if value is not None:
                    ort_feeds[spec.name] = value
        return given, ort_feeds

    def run_prepared(self, ort_feeds: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        """Runs feeds :meth:`prepare` checked; all outputs; errors as :meth:`run`'s."""
        run = self._run
        if run is None:
            raise self._fail(SessionClosedError, "session is closed")
        try:
            return dict(zip(self._out_names, run(self._out_names, ort_feeds, None), strict=False))
        except Exception as exc:  # noqa: BLE001 - re-raised as our type
            raise self._run_error(exc, given) from None

    def _run_general(self, run: Any, feeds: Any, outputs: Any, out: Any) -> dict[str, Any]:
        in_specs = self._in
        given = self._given(feeds)
        # 4: which outputs.
        if outputs is None:
            names = self._out_names
        else:
            names = self._output_names(outputs)
        # 5: out= arrays.
        targets: dict[str, np.ndarray] | None = None
        if out is not None:
            targets = self._out_targets(out, names)
        # 6: the core's per-input checks, in model order.
        ort_feeds: dict[str, Any] = {}
        for spec in in_specs:
            if spec.name in given:
                value = self._check_input(spec, given[spec.name])
                if value is not None:
                    ort_feeds[spec.name] = value
        return self._run_checked(run, names, ort_feeds, targets, given)

    def _given(self, feeds: Any) -> dict[str, Any]:
        """Steps 1-3 of the checks: the container, names, dtypes ortnative can take at
        all, and missing inputs."""
        in_specs = self._in
        # 1-2: the container, names, and dtypes ortnative can take at all.
        given: dict[str, Any] = {}
        if type(feeds) is dict or (
            isinstance(feeds, Mapping) and not isinstance(feeds, (str, bytes))
        ):
            by_name = self._in_by_name
            for name, value in feeds.items():
                spec = by_name.get(name) if type(name) is str else None
                if spec is None:
                    self._unknown_feed(name)
                given[name] = self._convert(spec, value)
        elif isinstance(feeds, np.ndarray):
            if len(in_specs) != 1:
                raise self._fail(
                    InvalidInputError,
                    f"a single array was given, but the model has {len(in_specs)} inputs "
                    f"({msg.quoted([s.name for s in in_specs])}); pass a dict {{name: array}}",
                )
            given[in_specs[0].name] = self._convert(in_specs[0], feeds)
        elif isinstance(feeds, (list, tuple)):
            if len(feeds) != len(in_specs):
                raise self._fail(
                    InvalidInputError,
                    f"{len(feeds)} feeds were given in order, but the model has "
                    f"{len(in_specs)} inputs ({msg.quoted([s.name for s in in_specs])})",
                )
            for spec, value in zip(in_specs, feeds, strict=False):
                given[spec.name] = self._convert(spec, value)
        else:
            raise InvalidTypeError(
                f"{self._label}: feeds must be a dict {{name: array}}, a list of arrays in input "
                f"order, or one array for a single-input model; got {type(feeds).__name__}"
            )
        # 3: missing inputs.
        if len(given) != len(in_specs):
            for spec in self._required:
                if spec.name not in given:
                    raise self._fail(
                        InvalidInputError,
                        f"missing input '{spec.name}' ({spec.describe()}); the model needs all "
                        f"of: {msg.quoted([s.name for s in in_specs])}",
                    )
        return given

    def _run_checked(
        self,
        run: Any,
        names: list[str],
        ort_feeds: dict[str, Any],
        targets: dict[str, np.ndarray] | None,
        given: dict[str, Any],
    ) -> dict[str, Any]:
        # 7: out= arrays against the outputs' dtypes and fixed dims.
        if targets:
            for name in names:
                arr = targets.get(name)
                if arr is not None:
                    spec = self._out_by_name[name]
                    if spec.kind != "tensor" or spec.dtype_name == "str":
                        raise self._fail(
                            InvalidInputError,
                            f"out= cannot hold output '{name}' ({spec.describe()}): only numeric "
                            "tensor outputs can be written in place",
                        )
                    self._check_tensor(spec, arr, "out array for output")
        # 8: run.
        try:
            results = run(names, ort_feeds, None)
        except Exception as exc:  # noqa: BLE001 - re-raised as our type
            raise self._run_error(exc, given) from None
        if targets:
            return self._deliver(names, results, targets, given)
        return dict(zip(names, results, strict=False))

    def _run_bfloat16(self, names: list[str], feeds: dict[str, Any], _opts: Any) -> list[Any]:
        ort = _onnxruntime()
        values = {}
        for name, arr in feeds.items():
            if self._in_by_name[name].dtype_name == "bfloat16":
                values[name] = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(
                    np.ascontiguousarray(arr).view(np.uint16), 16
                )
            else:
                values[name] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(arr))
        sess = self._sess
        if sess is None:
            raise self._fail(SessionClosedError, "session is closed")
        results = []
        for name, value in zip(names, sess.run_with_ort_values(names, values), strict=False):
            if self._out_by_name[name].dtype_name == "bfloat16":
                import ctypes

                n = int(np.prod(value.shape()))
                raw: Any = (ctypes.c_uint16 * n).from_address(value.data_ptr()) if n else []
                arr = np.array(raw, dtype=np.uint16).reshape(value.shape())
                bf16 = self._out_by_name[name].dtype
                assert bf16 is not None  # the model has bfloat16 outputs: ml_dtypes loaded
                results.append(arr.view(bf16))
            else:
                results.append(value.numpy())
        return results

    def _unknown_feed(self, name: Any) -> NoReturn:
        if type(name) is not str:
            raise self._fail(
                InvalidInputError, f"feed names must be str, got {type(name).__name__}"
            )
        raise self._fail(
            InvalidInputError,
            f"unknown input name '{name}' (expected one of: "
            f"{msg.quoted([s.name for s in self._in])})",
        )

    def _output_names(self, outputs: Any) -> list[str]:
        if isinstance(outputs, str) or not hasattr(outputs, "__iter__"):
            raise InvalidTypeError(
                f"{self._label}: outputs must be a list of output names, got "
                f"{type(outputs).__name__}"
            )
        names: list[str] = []
        for name in outputs:
            if type(name) is not str:
                raise self._fail(
                    InvalidInputError, f"output names must be str, got {type(name).__name__}"
                )
            if name not in self._out_by_name:
                raise self._fail(
                    InvalidInputError,
                    f"unknown output name '{name}' (expected one of: {msg.quoted(self._out_names)})",
                )
            if name in names:
                raise self._fail(InvalidInputError, f"output '{name}' is requested twice")
            names.append(name)
        return names

    def _out_targets(self, out: Any, names: list[str]) -> dict[str, np.ndarray]:
        if type(out) is not dict:
            raise InvalidTypeError(
                f"{self._label}: out must be a dict {{output name: array}}, got {type(out).__name__}"
            )
        targets: dict[str, np.ndarray] = {}
        for name, arr in out.items():
            if type(name) is not str:
                raise self._fail(
                    InvalidInputError, f"output names must be str, got {type(name).__name__}"
                )
            spec = self._out_by_name.get(name)
            if spec is None:
                raise self._fail(
                    InvalidInputError,
                    f"unknown output name '{name}' (expected one of: {msg.quoted(self._out_names)})",
                )
            if name not in names:
                raise self._fail(
                    InvalidInputError,
                    f"out= has an array for output '{name}', which is not among the requested "
                    "outputs",
                )
            if not isinstance(arr, np.ndarray):
                raise self._fail(
                    InvalidTypeError,
                    f"out array for output '{name}' must be a numpy array, got "
                    f"{type(arr).__name__}",
                )
            if _given_dtype(arr, spec.dtype_name) is None:
                raise self._fail(
                    InvalidTypeError,
                    f"out array for output '{name}' has dtype {_numpy_name(arr, spec)}, expected "
                    f"{spec.dtype_name} (ortnative never casts: {msg.cast_hint(spec.dtype_name)})",
                )
            flags = arr.flags
            if not (flags.c_contiguous and flags.writeable and flags.aligned):
                lacks = " or ".join(
                    what
                    for ok, what in (
                        (flags.c_contiguous, "C-contiguous"),
                        (flags.aligned, "aligned"),
                        (flags.writeable, "writeable"),
                    )
                    if not ok
                )
                raise self._fail(
                    InvalidInputError,
                    f"out array for output '{name}' must be C-contiguous, aligned and writeable; "
                    f"this one is not {lacks}",
                )
            targets[name] = arr
        return targets

    def _deliver(
        self,
        names: list[str],
        results: list[Any],
        targets: dict[str, np.ndarray],
        given: dict[str, Any],
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in zip(names, results, strict=False):
            arr = targets.get(name)
            if arr is None:
                out[name] = value
                continue
            if arr.shape != value.shape:
                # The native backend gets this from ORT when it writes into the array.
                raise self._fail(
                    InvalidInputError,
                    f"out array for output '{name}' has shape {msg.format_shape(arr.shape)}, "
                    f"but the model produces {msg.format_shape(value.shape)} for these inputs",
                )
            np.copyto(arr, value, casting="no")
            out[name] = arr
        return out

    def _run_error(self, exc: Exception, given: dict[str, Any]) -> Exception:
        code = _ort_code(exc)
        text = _INVALID_TEXT if isinstance(exc, UnicodeDecodeError) else _strip(exc)
        feeds = []
        for spec in self._in:
            v = given.get(spec.name)
            if v is None:
                feeds.append(f"{spec.name} none")
            elif isinstance(v, list):
                feeds.append(f"{spec.name} sequence of {len(v)}")
            else:
                feeds.append(
                    f"{spec.name} {_given_dtype(v, spec.dtype_name)} {msg.format_shape(v.shape)}"
                )
        cls = InvalidInputError if code == 2 else OrtError
        err = cls(f"{self._label}: ONNX Runtime failed to run: {text} [feeds: {', '.join(feeds)}]")
        err.ort_code = code
        return err


def _for_ort(arr: np.ndarray, spec: _Spec) -> np.ndarray:
    """What onnxruntime gets for a checked array: strings as str objects (bytes are
    valid UTF-8 by now)."""
    if spec.dtype_name == "str":
        if arr.dtype.kind == "S":
            return np.char.decode(arr, "utf-8").astype(object)
        if arr.dtype.kind in "TU":
            # onnxruntime reads 'U' arrays as C strings (cut at the first NUL); str
            # objects keep every character, as the native backend does.
            return arr.astype(object)
        if arr.dtype.kind == "O" and any(isinstance(v, bytes) for v in arr.reshape(-1)):
            flat = [v.decode("utf-8") if isinstance(v, bytes) else v for v in arr.reshape(-1)]
            return np.array(flat, dtype=object).reshape(arr.shape)
    return arr


def _bad_string_element(arr: np.ndarray) -> str | None:
    """How the core names a string array it refuses: the first element that is not
    str/bytes, or not valid Unicode (UTF-8 for bytes); None when all are fine."""
    kind = arr.dtype.kind
    if kind == "U":
        if arr.size == 0:
            return None
        units = arr.dtype.itemsize // 4
        codes = np.ascontiguousarray(arr).view(np.uint32).reshape(arr.size, units)
        bad = (codes > 0x10FFFF) | ((codes >= 0xD800) & (codes <= 0xDFFF))
        if not bad.any():
            return None
        i = int(np.argmax(bad.any(axis=1)))
        return f"str (element {i} is not valid Unicode: U+{int(codes[i][bad[i]][0]):04X})"
    if kind not in "SO":
        return None
    for i, item in enumerate(arr.reshape(-1)):
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"str (element {i} is not valid Unicode: U+{ord(item[exc.start]):04X})"
        elif isinstance(item, bytes):
            try:
                item.decode("utf-8")
            except UnicodeDecodeError:
                return f"str (element {i} is not valid UTF-8)"
        else:
            return f"object (element {i} is {type(item).__name__})"
    return None


def _numpy_name(arr: np.ndarray, spec: _Spec) -> str:
    if spec.dtype_name == "str" and arr.dtype.kind in "OUS":
        bad = _bad_string_element(arr)
        if bad is not None:
            return bad
    return str(arr.dtype)


def _strip(exc: BaseException) -> str:
    return _ORT_PREFIX.sub("", str(exc), count=1)


def _ort_code(exc: BaseException) -> int | None:
    m = _ORT_PREFIX.match(str(exc))
    return int(m.group(1)) if m else None
