"""The pure-Python backend: the same Session behaviour on plain onnxruntime + numpy.

It checks feeds in the same order and words errors the same way as the C++ core
(see _messages.py), then calls onnxruntime. Outputs are whatever onnxruntime returns
(its own copies); ``out=`` arrays are filled with ``numpy.copyto`` (one copy).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

import numpy as np

from . import _dlpack, _exit
from . import _messages as msg
from ._types import IOInfo
from .errors import (
    InvalidArgumentError,
    InvalidInputError,
    InvalidTypeError,
    ModelLoadError,
    OrtError,
    RunTerminatedError,
    SessionClosedError,
)
from .options import RunOptions, SessionOptions

_E = TypeVar("_E", bound=Exception)
_ort: Any = None
_pools_lock = threading.Lock()
_pools_requested: tuple[int, int] | None = None
_pools_spinning = True
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


def set_global_thread_pools(intra: int, inter: int, allow_spinning: bool = True) -> None:
    """Sizes (and spinning) for sessions that ask for the shared pools (threads 0).

    onnxruntime's Python API can share pools between sessions only by switching the
    whole process to global pools, after which it refuses every session that has pools
    of its own, the user's plain onnxruntime sessions included. The fallback will not
    do that to its host process: each of its sessions gets pools of its own, of these
    sizes, spinning or not as ALLOW_SPINNING says (the session config entries
    "session.intra_op.allow_spinning" / "session.inter_op.allow_spinning", unless the
    session's config sets them).
    """
    global _pools_requested, _pools_spinning
    with _pools_lock:
        _pools_requested = (intra, inter)
        _pools_spinning = allow_spinning


def _env_threads(name: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) > 4096:
        raise InvalidArgumentError(msg.env_threads(name, raw))
    return int(raw)


@functools.cache  # read at the first session made (again while that raises), as the core
def _log_level() -> int:
    """ONNX Runtime's log severity, parsed as the native core does (runtime.cpp,
    env_log_level): ORTNATIVE_LOG_LEVEL, an integer from 0 (verbose) to 4 (fatal only,
    the default: ORT's errors reach the caller as exceptions anyway), surrounding
    whitespace ignored; anything else is an InvalidArgumentError naming the variable."""
    raw = os.environ.get("ORTNATIVE_LOG_LEVEL", "")
    value = raw.strip(" \t\n\v\f\r")
    if not value:
        return 4
    digits = value.lstrip("0")
    if any(c not in "0123456789" for c in value) or len(digits) > 1 or digits > "4":
        shown = os.fsencode(raw).decode("utf-8", "backslashreplace")  # bytes as the core's
        raise InvalidArgumentError(msg.env_log_level(shown))
    return int(digits or "0")


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


class Spec:
    """What one input or output is, precomputed for the per-call checks (read-only)."""

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
        return msg.describe(self.kind, self.dtype_name, self.shape)


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
        self._label = msg.label(name)
        self._closed = False
        # Devices (the core's configure_devices): CUDA memory is taken when a provider runs
        # on CUDA; the stream producers must order their work before; where outputs go.
        self._cuda = False
        self._user_stream: int | None = None
        for pname, popts in opts.provider_list:
            if pname in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
                self._cuda = True
                for k, v in popts:
                    if k == "user_compute_stream" and self._user_stream is None:
                        self._user_stream = int(v) if v.isdigit() and int(v) > 0 else None
        self._dlpack_stream = self._user_stream if self._user_stream is not None else 1
        self._output_device = opts.output_device_spec
        if self._output_device[0] != _dlpack.CPU and not self._cuda:
            raise self._fail(
                InvalidArgumentError,
                msg.output_device_needs_cuda(msg.device_name(*self._output_device)),
            )
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
        config = dict(opts.config)
        if opts.intra_op_threads == 0 and opts.inter_op_threads == 0 and not _pools_spinning:
            # Standing in for the shared pools: they do not spin.
            config.setdefault("session.intra_op.allow_spinning", "0")
            config.setdefault("session.inter_op.allow_spinning", "0")
        for k, v in config.items():
            try:
                so.add_session_config_entry(k, v)
            except Exception as exc:  # noqa: BLE001 - re-raised as our type
                raise self._fail(InvalidArgumentError, msg.config_entry(k, _strip(exc))) from None
        self._keep = _apply_options(so, opts)  # what ORT reads after the load
        for lib in map(str, opts.custom_op_libraries):  # paths as str (the record's)
            try:
                so.register_custom_ops_library(lib)
            except Exception as exc:  # noqa: BLE001 - re-raised as our type
                raise self._fail(
                    InvalidArgumentError, f"{msg.custom_op_library(lib)}: {_strip(exc)}"
                ) from None
        self.ort_options = so  # for tests: what onnxruntime was given
        providers: list[Any] = []
        if opts.providers:
            available = ort.get_available_providers()
            for pname, popts in opts.provider_list:
                if pname not in available:
                    raise self._fail(
                        InvalidArgumentError, msg.provider_unavailable(pname, available)
                    )
                if pname == "CPUExecutionProvider" and popts:
                    raise self._fail(InvalidArgumentError, msg.cpu_provider_options())
                providers.append((pname, dict(popts)) if popts else pname)
        else:
            providers = ["CPUExecutionProvider"]
        if isinstance(source, str):
            if not source or not os.path.exists(source):
                raise self._fail(ModelLoadError, msg.model_file_missing(source))
            if os.path.isdir(source):
                raise self._fail(ModelLoadError, msg.model_is_directory(source))
            if os.path.getsize(source) == 0:
                raise self._fail(ModelLoadError, msg.model_file_empty(source))
            where = msg.loading_file_failed(source)
        else:
            if len(source) == 0:
                raise self._fail(ModelLoadError, msg.model_bytes_empty())
            where = msg.loading_bytes_failed(len(source))
        # onnxruntime's own class, by its defining module: ortnative.compat.install()
        # puts its own InferenceSession (which runs on this backend) in onnxruntime's
        # namespace.
        from onnxruntime.capi.onnxruntime_inference_collection import InferenceSession

        try:
            with _exit.OrtCall(self._fail(ModelLoadError, msg.interpreter_exiting())):
                self._sess = InferenceSession(source, so, providers=providers)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises many types; re-raised
            # onnxruntime cannot turn text from the model that is not UTF-8 into str
            # (names, or its own message quoting them); the core says the same then.
            text = msg.invalid_text() if isinstance(exc, UnicodeDecodeError) else _strip(exc)
            err = self._fail(ModelLoadError, f"{where}: {text}")
            err.ort_code = _ort_code(exc)
            raise err from None
        # onnxruntime keeps the model's bytes for its set_providers() and pickling, which
        # the fallback never uses: drop them, as the native backend keeps none either.
        if getattr(self._sess, "_model_bytes", None) is not None:
            self._sess._model_bytes = None
        # The C-level session: skips InferenceSession.run's own Python-side checks,
        # which ours replace.
        self._run = self._sess._sess.run
        try:
            #: What each input and output is (read-only): for the checks, and for the
            #: fallback scheduler's batching and warm-up.
            self.input_specs = tuple(Spec(i, a) for i, a in enumerate(self._sess.get_inputs()))
            self.output_specs = tuple(Spec(i, a) for i, a in enumerate(self._sess.get_outputs()))
        except UnicodeDecodeError:  # names that are not UTF-8: refused, as by the core
            raise self._fail(ModelLoadError, f"{where}: {msg.invalid_text()}") from None
        self._in_by_name = {s.name: s for s in self.input_specs}
        self._out_by_name = {s.name: s for s in self.output_specs}
        self._out_names = [s.name for s in self.output_specs]
        self._required = [s for s in self.input_specs if not s.kind.startswith("optional")]
        # For the fast path: plain tensor inputs only, {name: (dtype, rank, fixed dims)}.
        self._fast = (
            {s.name: (s.dtype, s.rank, s.fixed) for s in self.input_specs}
            if all(s.kind == "tensor" and s.dtype_name != "str" for s in self.input_specs)
            else None
        )
        self._n_in = len(self.input_specs)
        if self._output_device[0] != _dlpack.CPU:
            self._fast = None  # outputs kept on the device: the general path binds them
        if any(sp.dtype_name == "bfloat16" for sp in self.input_specs + self.output_specs):
            # onnxruntime's Python API has no NumPy type for bfloat16: go through
            # OrtValues (see _run_bfloat16), on the general path only.
            self._fast = None
            self._run = self._run_bfloat16

    # -- metadata ------------------------------------------------------------------
    @property
    def outputs_on_host(self) -> bool:
        """Whether the outputs onnxruntime allocates come back as NumPy arrays."""
        return self._output_device[0] == _dlpack.CPU

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def inputs(self) -> list[IOInfo]:
        return [(s.name, s.dtype, s.shape, s.kind) for s in self.input_specs]

    @property
    def outputs(self) -> list[IOInfo]:
        return [(s.name, s.dtype, s.shape, s.kind) for s in self.output_specs]

    def bound_run(self) -> Callable[..., dict[str, Any]]:
        """The per-call entry point (the native session's is a builtin; this is :meth:`run`)."""
        return self.run

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

    def end_profiling(self) -> str:
        self._check_open()
        return str(self._sess.end_profiling())

    def profiling_start_time_ns(self) -> int:
        self._check_open()
        return int(self._sess.get_profiling_start_time_ns())

    def close(self) -> None:
        # Runs in flight hold their own reference to onnxruntime's session, so dropping
        # ours cannot pull it from under them; it is freed when the last one returns.
        self._closed = True
        self._sess = None
        self._run = None

    # -- run -----------------------------------------------------------------------
    def _fail(self, cls: type[_E], what: str) -> _E:
        return cls(f"{self._label}: {what}")

    def _check_open(self) -> None:
        if self._closed:
            raise self._fail(SessionClosedError, msg.session_closed())

    def _convert(self, spec: Spec, value: Any) -> Any:
        """Step 2 of the checks: make VALUE something onnxruntime takes, refusing
        dtypes ortnative has no type for (mismatches are step 6)."""
        if value is None and spec.kind.startswith("optional"):
            return None
        if spec.kind in ("sequence", "optional_sequence") and isinstance(value, (list, tuple)):
            return [self._element(spec, v) for v in value]
        return self._element(spec, value)

    def _element(self, spec: Spec, value: Any) -> Any:
        if type(value) is not np.ndarray and _dlpack.offers_dlpack(value):
            # torch, JAX, CuPy, ...: host memory as an array over it, device memory as a
            # DeviceFeed (cpp/python/dlpack_bridge.cpp's twin, same checks and order).
            r = _dlpack.read(value, self._label, "input", spec.name, self._dlpack_stream)
            if r.name is None:
                raise self._fail(
                    InvalidTypeError,
                    msg.dtype_mismatch("input", spec.name, spec.dtype_name, r.given),
                )
            return r.array if r.array is not None else r.feed
        arr = value if type(value) is np.ndarray else np.asarray(value)
        if _given_dtype(arr, spec.dtype_name) is None or (
            spec.dtype_name == "str"
            and arr.dtype.kind in "OUS"
            and _bad_string_element(arr) is not None
        ):
            raise self._fail(
                InvalidTypeError,
                msg.dtype_mismatch("input", spec.name, spec.dtype_name, _numpy_name(arr, spec)),
            )
        return arr

    def _check_device(self, spec: Spec, value: Any, role: str) -> None:
        """The core's check_device: host memory always, CUDA memory on a CUDA session."""
        if not isinstance(value, _dlpack.DeviceFeed):
            return
        device = msg.device_name(*value.device)
        if value.device[0] != _dlpack.CUDA:
            raise self._fail(InvalidInputError, msg.device_unsupported(role, spec.name, device))
        if not self._cuda:
            raise self._fail(InvalidInputError, msg.device_needs_cuda(role, spec.name, device))

    def _check_tensor(self, spec: Spec, arr: Any, role: str) -> None:
        """Step 6/7: dtype, rank and fixed dimensions, worded as the core words them."""
        self._check_device(spec, arr, role)
        if arr.dtype is not spec.dtype:
            got = _given_dtype(arr, spec.dtype_name)
            if got != spec.dtype_name:
                raise self._fail(
                    InvalidTypeError, msg.dtype_mismatch(role, spec.name, spec.dtype_name, got)
                )
        if spec.rank is None:
            return
        shape = arr.shape
        if len(shape) != spec.rank:
            raise self._fail(
                InvalidInputError, msg.rank_mismatch(role, spec.name, spec.shape, shape)
            )
        for axis, size in spec.fixed:
            if shape[axis] != size:
                raise self._fail(
                    InvalidInputError, msg.dim_mismatch(role, spec.name, spec.shape, shape, axis)
                )

    def _check_input(self, spec: Spec, value: Any) -> Any:
        kind = spec.kind
        want = "sequence" if kind in ("sequence", "optional_sequence") else "tensor"
        if value is None:
            return None
        if isinstance(value, list):
            if want != "sequence":  # pragma: no cover - lists are arrays for tensor inputs
                raise self._fail(
                    InvalidInputError,
                    msg.not_a_sequence_input(spec.name, spec.describe(), len(value)),
                )
            for v in value:
                if isinstance(v, _dlpack.DeviceFeed):
                    raise self._fail(
                        InvalidInputError,
                        msg.device_unsupported(
                            "element of input", spec.name, msg.device_name(*v.device)
                        ),
                    )
                if _given_dtype(v, spec.dtype_name) != spec.dtype_name:
                    raise self._fail(
                        InvalidTypeError,
                        msg.dtype_mismatch(
                            "element of input",
                            spec.name,
                            spec.dtype_name,
                            _given_dtype(v, spec.dtype_name),
                        ),
                    )
            return value
        if want != "tensor":
            raise self._fail(InvalidInputError, msg.not_a_tensor_input(spec.name, spec.describe()))
        self._check_tensor(spec, value, "input")
        if isinstance(value, _dlpack.DeviceFeed):
            return value
        return _for_ort(value, spec)

    def run(
        self, feeds: Any, outputs: Any = None, *, out: Any = None, run_options: Any = None
    ) -> dict[str, Any]:
        run = self._run
        if run is None:
            raise self._fail(SessionClosedError, msg.session_closed())
        if outputs is None and out is None and run_options is None and self._fast_ok(feeds):
            names = self._out_names
            return dict(zip(names, self._ort_run(run, names, feeds, feeds), strict=False))
        return self._run_general(run, feeds, outputs, out, run_options)

    def _ort_run(
        self, run: Any, names: list[str], feeds: Any, given: Any, options: Any = None
    ) -> Any:
        """onnxruntime's run, counted in ``_exit.inside_ort`` (see _exit.py: at exit,
        the interpreter waits for these and refuses new ones from other threads).
        OPTIONS: an ortnative.RunOptions or None."""
        inside = _exit.inside_ort
        inside.append(None)
        if _exit.exiting and not _exit.may_run():
            _exit.refuse(self._fail(SessionClosedError, msg.interpreter_exiting()))
        ort_options = None if options is None else options._impl("python").ort
        try:
            return run(names, feeds, ort_options)
        except Exception as exc:  # noqa: BLE001 - re-raised as our type
            if options is not None and options.terminated:
                err = self._fail(RunTerminatedError, msg.run_terminated())
                err.ort_code = _ort_code(exc)
                raise err from None
            raise self._run_error(exc, given) from None
        finally:
            inside.pop()

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
            raise self._fail(SessionClosedError, msg.session_closed())
        if self._fast_ok(feeds):
            same = dict(feeds)  # the caller may change their dict later
            return same, same
        given = self._given(feeds)
        ort_feeds: dict[str, Any] = {}
        for spec in self.input_specs:
            if spec.name in given:
                value = self._check_input(spec, given[spec.name])
                if value is not None:
                    ort_feeds[spec.name] = value
        return given, ort_feeds

    def run_prepared(
        self, ort_feeds: dict[str, Any], given: dict[str, Any], run_options: Any = None
    ) -> dict[str, Any]:
        """Runs feeds :meth:`prepare` checked; all outputs; errors as :meth:`run`'s.
        RUN_OPTIONS: an ortnative.RunOptions or None."""
        run = self._run
        if run is None:
            raise self._fail(SessionClosedError, msg.session_closed())
        names = self._out_names
        if self._fast is None and self._on_device(ort_feeds, None):
            return self._run_bound(names, ort_feeds, None, given, run_options)
        return dict(
            zip(names, self._ort_run(run, names, ort_feeds, given, run_options), strict=False)
        )

    def _run_general(
        self, run: Any, feeds: Any, outputs: Any, out: Any, run_options: Any = None
    ) -> dict[str, Any]:
        if run_options is not None and not isinstance(run_options, RunOptions):
            raise msg.run_options_type(type(run_options).__name__)
        in_specs = self.input_specs
        given = self._given(feeds)
        # 4: which outputs.
        if outputs is None:
            names = self._out_names
        else:
            names = self._output_names(outputs)
        # 5: out= arrays.
        targets: dict[str, Any] | None = None
        if out is not None:
            targets = self._out_targets(out, names)
        # 6: the core's per-input checks, in model order.
        ort_feeds: dict[str, Any] = {}
        for spec in in_specs:
            if spec.name in given:
                value = self._check_input(spec, given[spec.name])
                if value is not None:
                    ort_feeds[spec.name] = value
        return self._run_checked(run, names, ort_feeds, targets, given, run_options)

    def _given(self, feeds: Any) -> dict[str, Any]:
        """Steps 1-3 of the checks: the container, names, dtypes ortnative can take at
        all, and missing inputs."""
        in_specs = self.input_specs
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
        elif isinstance(feeds, np.ndarray) or _dlpack.offers_dlpack(feeds):
            if len(in_specs) != 1:
                raise msg.single_array(self._label, [s.name for s in in_specs])
            given[in_specs[0].name] = self._convert(in_specs[0], feeds)
        elif isinstance(feeds, (list, tuple)):
            if len(feeds) != len(in_specs):
                raise msg.feeds_in_order(self._label, len(feeds), [s.name for s in in_specs])
            for spec, value in zip(in_specs, feeds, strict=False):
                given[spec.name] = self._convert(spec, value)
        else:
            raise msg.feeds_container(self._label, type(feeds).__name__)
        # 3: missing inputs.
        if len(given) != len(in_specs):
            for spec in self._required:
                if spec.name not in given:
                    raise self._fail(
                        InvalidInputError,
                        msg.missing_input(spec.name, spec.describe(), [s.name for s in in_specs]),
                    )
        return given

    def _run_checked(
        self,
        run: Any,
        names: list[str],
        ort_feeds: dict[str, Any],
        targets: dict[str, Any] | None,
        given: dict[str, Any],
        run_options: Any = None,
    ) -> dict[str, Any]:
        # 7: out= arrays against the outputs' dtypes and fixed dims.
        if targets:
            for name in names:
                arr = targets.get(name)
                if arr is not None:
                    spec = self._out_by_name[name]
                    if spec.kind != "tensor" or spec.dtype_name == "str":
                        raise self._fail(InvalidInputError, msg.out_kind(name, spec.describe()))
                    self._check_tensor(spec, _target_memory(arr), "out array for output")
        # 8: run.
        if self._on_device(ort_feeds, targets):
            return self._run_bound(names, ort_feeds, targets, given, run_options)
        results = self._ort_run(run, names, ort_feeds, given, run_options)
        if targets:
            return self._deliver(names, results, targets, given)
        return dict(zip(names, results, strict=False))

    def _run_bfloat16(self, names: list[str], feeds: dict[str, Any], opts: Any) -> list[Any]:
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
            raise self._fail(SessionClosedError, msg.session_closed())
        results = []
        for name, value in zip(names, sess.run_with_ort_values(names, values, opts), strict=False):
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
            raise msg.name_not_str(self._label, "feed", type(name).__name__)
        raise self._fail(
            InvalidInputError, msg.unknown_name("input", name, [s.name for s in self.input_specs])
        )

    def _output_names(self, outputs: Any) -> list[str]:
        if isinstance(outputs, str) or not hasattr(outputs, "__iter__"):
            raise msg.outputs_not_list(self._label, type(outputs).__name__)
        names: list[str] = []
        for name in outputs:
            if type(name) is not str:
                raise msg.name_not_str(self._label, "output", type(name).__name__)
            if name not in self._out_by_name:
                raise self._fail(
                    InvalidInputError, msg.unknown_name("output", name, self._out_names)
                )
            if name in names:
                raise self._fail(InvalidInputError, msg.output_requested_twice(name))
            names.append(name)
        return names

    def _out_targets(self, out: Any, names: list[str]) -> dict[str, Any]:
        """{output name: a NumPy array, or a _dlpack.Read of a DLPack target}. In the
        native backend's order: every entry converted first (the bindings: its name,
        then whether it is an array or a DLPack tensor at all), then each checked against
        the call (the core's plan_outputs: requested, dtype, layout)."""
        if type(out) is not dict:
            raise msg.out_not_dict(self._label, type(out).__name__)
        given: list[tuple[str, Any, Any]] = []
        for name, arr in out.items():
            if type(name) is not str:
                raise msg.name_not_str(self._label, "output", type(name).__name__)
            spec = self._out_by_name.get(name)
            if spec is None:
                raise self._fail(
                    InvalidInputError, msg.unknown_name("output", name, self._out_names)
                )
            if isinstance(arr, np.ndarray):
                given.append((name, spec, arr))
            elif _dlpack.offers_dlpack(arr):
                role = "out array for output"
                r = _dlpack.read(arr, self._label, role, name, self._dlpack_stream)
                r.source = arr  # what run returns: the caller's own object
                given.append((name, spec, r))
            else:
                raise msg.out_not_array(self._label, name, type(arr).__name__)
        targets: dict[str, Any] = {}
        for name, spec, arr in given:
            if name not in names:
                raise self._fail(InvalidInputError, msg.out_not_requested(name))
            if not isinstance(arr, np.ndarray):  # a DLPack target
                if arr.name is None:
                    raise self._fail(
                        InvalidTypeError,
                        msg.dtype_mismatch(
                            "out array for output", name, spec.dtype_name, arr.given
                        ),
                    )
                if not (arr.contiguous and arr.writeable and arr.aligned):
                    raise self._fail(
                        InvalidInputError,
                        msg.out_layout(name, arr.contiguous, arr.aligned, arr.writeable),
                    )
                targets[name] = arr
                continue
            if _given_dtype(arr, spec.dtype_name) is None:
                raise self._fail(
                    InvalidTypeError,
                    msg.dtype_mismatch(
                        "out array for output", name, spec.dtype_name, _numpy_name(arr, spec)
                    ),
                )
            flags = arr.flags
            if not (flags.c_contiguous and flags.writeable and flags.aligned):
                raise self._fail(
                    InvalidInputError,
                    msg.out_layout(name, flags.c_contiguous, flags.aligned, flags.writeable),
                )
            targets[name] = arr
        return targets

    def _deliver(
        self,
        names: list[str],
        results: list[Any],
        targets: dict[str, Any],
        given: dict[str, Any],
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in zip(names, results, strict=False):
            arr = targets.get(name)
            if arr is None:
                out[name] = value
                continue
            source = arr
            if isinstance(arr, _dlpack.Read):  # a DLPack target in host memory
                source, arr = arr.source, _target_memory(arr)
            if arr.shape != value.shape:
                # The native backend gets this from ORT when it writes into the array.
                raise self._fail(
                    InvalidInputError, msg.out_shape_produced(name, arr.shape, value.shape)
                )
            np.copyto(arr, value, casting="no")
            out[name] = source
        return out

    # -- device memory (the core's run_bound) ---------------------------------------
    def _on_device(self, ort_feeds: dict[str, Any], targets: dict[str, Any] | None) -> bool:
        return (
            self._output_device[0] != _dlpack.CPU
            or any(isinstance(v, _dlpack.DeviceFeed) for v in ort_feeds.values())
            or any(
                isinstance(t, _dlpack.Read) and t.feed is not None for t in (targets or {}).values()
            )
        )

    def _run_bound(
        self,
        names: list[str],
        ort_feeds: dict[str, Any],
        targets: dict[str, Any] | None,
        given: dict[str, Any],
        options: RunOptions | None,
    ) -> dict[str, Any]:
        """A run involving device memory, through onnxruntime's IOBinding: device feeds and
        out= targets bound where they are (no copy), other outputs bound to the session's
        output device. Without a stream of the session's that producers ordered their work
        before, the device is synchronised first (ORT's CUDA provider does that in
        synchronize_inputs). Not verified on a GPU (see the README)."""
        sess = self._sess
        if sess is None or self._run is None:
            raise self._fail(SessionClosedError, msg.session_closed())
        io = sess.io_binding()
        sync = False
        for name, v in ort_feeds.items():
            if isinstance(v, _dlpack.DeviceFeed):
                io.bind_input(name, "cuda", v.device[1], v.dtype, list(v.shape), v.data_ptr)
                sync = sync or self._user_stream is None
            else:
                io.bind_cpu_input(name, v)
        kind = "cuda" if self._output_device[0] == _dlpack.CUDA else "cpu"
        for name in names:
            t = (targets or {}).get(name)
            if t is None:
                io.bind_output(name, kind, self._output_device[1])
                continue
            m = _target_memory(t)
            if isinstance(m, _dlpack.DeviceFeed):
                io.bind_output(name, "cuda", m.device[1], m.dtype, list(m.shape), m.data_ptr)
            else:
                io.bind_output(name, "cpu", 0, m.dtype, list(m.shape), m.ctypes.data)

        def run_bound(_names: Any, _feeds: Any, ort_options: Any) -> Any:
            if sync:
                io.synchronize_inputs()
            sess.run_with_iobinding(io, ort_options)
            io.synchronize_outputs()
            return io.get_outputs()

        values = self._ort_run(run_bound, names, None, given, options)
        out: dict[str, Any] = {}
        for name, value in zip(names, values, strict=True):
            t = (targets or {}).get(name)
            if t is not None:
                out[name] = t.source if isinstance(t, _dlpack.Read) else t
            elif kind == "cuda":
                dtype = self._out_by_name[name].dtype
                out[name] = _dlpack.DeviceTensor(value, dtype, self._output_device)  # type: ignore[arg-type]
            else:
                out[name] = value.numpy()
        return out

    def _run_error(self, exc: Exception, given: dict[str, Any]) -> Exception:
        code = _ort_code(exc)
        text = msg.invalid_text() if isinstance(exc, UnicodeDecodeError) else _strip(exc)
        feeds: list[tuple[str, msg.Fed]] = []
        for spec in self.input_specs:
            v = given.get(spec.name)
            if v is None or isinstance(v, list):
                feeds.append((spec.name, v))
            else:
                feeds.append((spec.name, (_given_dtype(v, spec.dtype_name), v.shape)))
        cls = InvalidInputError if code == 2 else OrtError
        err = self._fail(cls, msg.run_failed(text, feeds))
        err.ort_code = code
        return err


class PythonRunOptions:
    """An ortnative.RunOptions as an ``onnxruntime.RunOptions`` (``ort``), made once."""

    def __init__(self, options: RunOptions) -> None:
        ro = _onnxruntime().RunOptions()
        ro.logid = options.run_tag
        if options.log_severity_level is not None:
            ro.log_severity_level = options.log_severity_level
        ro.log_verbosity_level = options.log_verbosity_level
        for k, v in options.config.items():
            try:
                ro.add_run_config_entry(k, v)
            except Exception as exc:  # noqa: BLE001 - re-raised as our type
                raise InvalidArgumentError(f"run config entry '{k}': {_strip(exc)}") from None
        self.ort = ro

    def terminate(self) -> None:
        self.ort.terminate = True

    def unset_terminate(self) -> None:
        self.ort.terminate = False

    @property
    def terminated(self) -> bool:
        return bool(self.ort.terminate)


def _ort_value(arr: np.ndarray) -> Any:
    """A C-level onnxruntime OrtValue over ARR's memory (bfloat16 as ONNX type 16)."""
    ort = _onnxruntime()
    if arr.dtype.name == "bfloat16":
        value = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(arr.view(np.uint16), 16)
    else:
        value = ort.OrtValue.ortvalue_from_numpy(arr)
    return value


def _apply_options(so: Any, opts: SessionOptions) -> list[Any]:
    """The record's memory, profiling, logging, shape and weight options on onnxruntime's
    SessionOptions SO (custom op libraries and config entries are the caller's, for their
    messages); returns what must stay alive as long as the session (the initializers'
    OrtValues, which read the record's arrays in place)."""
    so.enable_cpu_mem_arena = opts.enable_cpu_mem_arena
    so.enable_mem_pattern = opts.enable_mem_pattern
    if opts.optimized_model_filepath:
        so.optimized_model_filepath = opts.optimized_model_filepath
    if opts.enable_profiling:
        so.enable_profiling = True
        so.profile_file_prefix = opts.profile_file_prefix
    if opts.log_severity_level is not None:
        so.log_severity_level = opts.log_severity_level
    so.log_verbosity_level = opts.log_verbosity_level
    if opts.logid:
        so.logid = opts.logid
    if opts.use_deterministic_compute:
        so.use_deterministic_compute = True
    for dim, size in opts.free_dimension_overrides.items():
        so.add_free_dimension_override_by_name(dim, size)
    for dim, size in opts.free_dimension_overrides_by_denotation.items():
        so.add_free_dimension_override_by_denotation(dim, size)
    keep: list[Any] = []
    for name, arr in opts.initializers.items():
        value = _ort_value(arr)
        keep.append(value)
        so.add_initializer(name, value)
    if opts.external_initializers:
        values = [_ort_value(a) for a in opts.external_initializers.values()]
        keep += values
        so.add_external_initializers(list(opts.external_initializers), values)
    if opts.external_data:
        so.add_external_initializers_from_files_in_memory(
            list(opts.external_data),
            list(opts.external_data.values()),
            [memoryview(b).nbytes for b in opts.external_data.values()],
        )
    return keep


def _target_memory(target: Any) -> Any:
    """The memory an out= target names: its array, or a DLPack target's array or feed."""
    if isinstance(target, _dlpack.Read):
        return target.array if target.array is not None else target.feed
    return target


def _for_ort(arr: np.ndarray, spec: Spec) -> np.ndarray:
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
        return msg.bad_string_element(i, f"not valid Unicode: U+{int(codes[i][bad[i]][0]):04X}")
    if kind not in "SO":
        return None
    for i, item in enumerate(arr.reshape(-1)):
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return msg.bad_string_element(i, f"not valid Unicode: U+{ord(item[exc.start]):04X}")
        elif isinstance(item, bytes):
            try:
                item.decode("utf-8")
            except UnicodeDecodeError:
                return msg.bad_string_element(i, "not valid UTF-8")
        else:
            return msg.not_a_string_element(i, type(item).__name__)
    return None


def _numpy_name(arr: np.ndarray, spec: Spec) -> str:
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
