"""``InferenceSession``: onnxruntime's inference API over :class:`ortnative.Session`."""

from __future__ import annotations

import concurrent.futures
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from onnxruntime.capi import onnxruntime_inference_collection as _orticc
from onnxruntime.capi import onnxruntime_pybind11_state as _C

from .. import _backend, _dlpack
from .. import _messages as msg
from .. import errors as _ortn
from ..session import Session
from . import errors as _errors
from ._modelio import ModelIO, read_model_io
from ._options import (
    _TRACKED,
    Plan,
    SessionOptions,
    delegation_reason,
    run_options_plan,
    session_plan,
)

if TYPE_CHECKING:
    from typing_extensions import Self

# The real classes, kept before install() replaces the names in onnxruntime's namespace.
OrtInferenceSession: Any = _orticc.InferenceSession
_normalize_providers: Any = _orticc.check_and_normalize_provider_args

_DTYPE_TYPES = {
    "float32": "float",
    "float64": "double",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "bool": "bool",
    "object": "string",
}


class NodeArg:
    """An input or output: ``name``, ``type`` (``"tensor(float)"``, ``"seq(tensor(int64))"``,
    ``"seq(map(int64,tensor(float)))"``, ...) and ``shape`` (a list: an int per fixed
    dimension, the name of a named free one, None for an unnamed one), as onnxruntime's
    ``NodeArg``."""

    __slots__ = ("name", "shape", "type")

    def __init__(self, name: str, type: str, shape: list[int | str | None]) -> None:
        self.name = name
        self.type = type
        self.shape = shape

    def __str__(self) -> str:
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"

    __repr__ = __str__


class ModelMetadata:
    """The model's metadata, with onnxruntime's ``ModelMetadata`` attributes."""

    __slots__ = (
        "custom_metadata_map",
        "description",
        "domain",
        "graph_description",
        "graph_name",
        "producer_name",
        "version",
    )

    def __init__(
        self,
        producer_name: str = "",
        graph_name: str = "",
        domain: str = "",
        description: str = "",
        graph_description: str = "",
        version: int = 0,
        custom_metadata_map: dict[str, str] | None = None,
    ) -> None:
        self.producer_name = producer_name
        self.graph_name = graph_name
        self.domain = domain
        self.description = description
        self.graph_description = graph_description
        self.version = version
        self.custom_metadata_map = dict(custom_metadata_map or {})

    def __repr__(self) -> str:
        return (
            f"ModelMetadata(producer_name={self.producer_name!r}, graph_name="
            f"{self.graph_name!r}, version={self.version})"
        )


def _node_arg(arg: Any) -> NodeArg:
    return NodeArg(str(arg.name), str(arg.type), list(arg.shape))


class _SessionMeta(type):
    """``isinstance(s, compat.InferenceSession)`` also holds for a session of the real
    class: after ``install()``, code checking ``isinstance(x, onnxruntime.InferenceSession)``
    accepts sessions made before it too."""

    def __instancecheck__(cls, obj: Any) -> bool:
        if type.__instancecheck__(cls, obj):
            return True
        return cls is InferenceSession and isinstance(obj, OrtInferenceSession)

    def __subclasscheck__(cls, sub: Any) -> bool:
        if type.__subclasscheck__(cls, sub):
            return True
        return (
            cls is InferenceSession
            and isinstance(sub, type)
            and issubclass(sub, OrtInferenceSession)
        )


def _fast_run(
    native_run: Callable[..., dict[str, Any]],
    general: weakref.WeakMethod[Callable[..., list[Any]]],
    output_names: list[str],
) -> Callable[..., list[Any]]:
    """The per-call path for the common call: no run options, a dict of plain arrays.
    Everything else, and any error, goes to the session's general path. (Measured with
    callgrind: each line here costs; a single-output model gets ``[result[name]]``, which
    is cheaper than listing the dict's values.)"""
    ndarray = np.ndarray
    if len(output_names) == 1:
        only = output_names[0]
        named = [only]

        def run(output_names: Any, input_feed: Any, run_options: Any = None) -> list[Any]:
            if run_options is None and type(input_feed) is dict:
                for value in input_feed.values():
                    if type(value) is not ndarray:
                        break
                else:
                    try:
                        if not output_names or (
                            type(output_names) is list and output_names == named
                        ):
                            return [native_run(input_feed)[only]]
                        result = native_run(input_feed, output_names)
                        return [result[n] for n in output_names]
                    except _ortn.Error as exc:
                        return _general(general)(output_names, input_feed, run_options, exc)
            return _general(general)(output_names, input_feed, run_options, None)

        return run

    def run_many(output_names: Any, input_feed: Any, run_options: Any = None) -> list[Any]:
        if run_options is None and type(input_feed) is dict:
            for value in input_feed.values():
                if type(value) is not ndarray:
                    break
            else:
                try:
                    if not output_names:
                        return [*native_run(input_feed).values()]
                    result = native_run(input_feed, output_names)
                    return [result[n] for n in output_names]
                except _ortn.Error as exc:
                    return _general(general)(output_names, input_feed, run_options, exc)
        return _general(general)(output_names, input_feed, run_options, None)

    return run_many


def _general(ref: weakref.WeakMethod[Callable[..., list[Any]]]) -> Callable[..., list[Any]]:
    fn = ref()
    if fn is None:  # pragma: no cover - the session is gone while its run is called
        raise _ortn.SessionClosedError("the InferenceSession was garbage-collected")
    return fn


_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    """Threads for run_async (runs release the GIL, so they overlap)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=max(4, (os.cpu_count() or 1) * 2),
                    thread_name_prefix="ortnative-compat",
                )
    return _pool


def _delegated_run(ort_run: Callable[..., list[Any]], label: str) -> Callable[..., list[Any]]:
    def run(output_names: Any, input_feed: Any, run_options: Any = None) -> list[Any]:
        try:
            return ort_run(output_names, input_feed, run_options)
        except Exception as exc:  # noqa: BLE001 - re-raised as the compat class
            raise _errors.from_onnxruntime(exc, label) from None

    return run


class InferenceSession(metaclass=_SessionMeta):
    """onnxruntime's ``InferenceSession`` running on :class:`ortnative.Session`.

    ``InferenceSession(path_or_bytes, sess_options=None, providers=None,
    provider_options=None, **kwargs)`` as in onnxruntime: a path (str or os.PathLike) or
    the model's ``bytes``; ``sess_options`` an ``onnxruntime.SessionOptions`` (the
    compat class or onnxruntime's own: its fields are read and applied); providers as
    onnxruntime takes them (one this build lacks is skipped with a warning, CPU options
    are accepted). One keyword of ortnative's own: ``backend="native" | "python"``
    (default: :data:`ortnative.backend`).

    Sessions whose options, model or call ortnative cannot honour yet run on a real
    ``onnxruntime.InferenceSession`` instead (see ``ortnative_delegation`` and the
    README's compat table); ``run_with_ort_values``, ``io_binding`` and any other
    onnxruntime method not listed here go to a real onnxruntime session made on first
    use (the model is then loaded a second time).

    Errors are instances of onnxruntime's class for the case *and* of ortnative's typed
    error (see :mod:`ortnative.compat.errors`). Sessions pickle (the model is loaded
    again from its path or bytes), and subclasses with their own ``__getstate__`` /
    ``__setstate__`` work as with onnxruntime.
    """

    # -- construction ----------------------------------------------------------------
    def __init__(
        self,
        path_or_bytes: str | bytes | os.PathLike[str],
        sess_options: Any = None,
        providers: Sequence[str | tuple[str, dict[Any, Any]]] | None = None,
        provider_options: Sequence[dict[Any, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        backend = kwargs.pop("backend", None)
        self._compat_lock = threading.Lock()
        self._compat_backend: str | None = backend
        self._compat_ort: Any = None
        self._ortn: Session | None = None
        self._compat_io: ModelIO | None = None
        self._compat_io_read = False
        self._enable_fallback = int(kwargs.get("enable_fallback", 1)) == 1
        self._fallback_providers = ["CPUExecutionProvider"]
        if isinstance(path_or_bytes, (str, os.PathLike)):
            path = os.fspath(path_or_bytes)
            self._model_path: str | None = os.fsdecode(path) if isinstance(path, bytes) else path
            self._model_bytes: bytes | None = None
            self._compat_label = f"model '{os.path.basename(self._model_path) or self._model_path}'"
        elif isinstance(path_or_bytes, bytes):
            self._model_path = None
            self._model_bytes = path_or_bytes
            self._compat_label = "model '<bytes>'"
        else:
            # onnxruntime: TypeError("Unable to load from type ...")
            raise _ortn.InvalidTypeError(
                "InferenceSession takes a model path (str or os.PathLike) or the model's "
                f"bytes, got {type(path_or_bytes).__name__}"
            )
        if sess_options is not None and not isinstance(sess_options, _C.SessionOptions):
            # onnxruntime: TypeError (its binding takes a SessionOptions)
            raise _ortn.InvalidTypeError(
                f"{self._compat_label}: sess_options must be an onnxruntime.SessionOptions, "
                f"got {type(sess_options).__name__}"
            )
        self._sess_options = sess_options
        self._sess_options_initial = sess_options
        self._compat_kwargs = dict(kwargs)
        self._read_config_from_model = bool(kwargs.get("read_config_from_model", 0))
        self._compat_create(providers, provider_options)

    def _compat_create(self, providers: Any, provider_options: Any) -> None:
        backend = _backend.resolve(self._compat_backend)
        available = _backend.available_providers(backend)
        try:
            names, opts = _normalize_providers(providers, provider_options, available)
        except ValueError as exc:
            if not self._enable_fallback:
                raise _ortn.InvalidArgumentError(f"{self._compat_label}: {exc}") from None
            # onnxruntime prints "EP Error" and retries on its fallback providers.
            warnings.warn(
                f"{self._compat_label}: {exc}; using CPUExecutionProvider, as onnxruntime "
                "falls back to it",
                stacklevel=3,
            )
            names, opts = ["CPUExecutionProvider"], [{}]
        # onnxruntime skips providers this build lacks (the warning came above).
        kept = [(n, o) for n, o in zip(names, opts, strict=False) if n in available]
        self._compat_providers_asked = kept
        plan = session_plan(
            self._sess_options, [n for n, _ in kept], [o for _, o in kept], self._compat_kwargs
        )
        self._compat_plan = plan
        self._providers = list(plan.providers)
        self._provider_options = dict(zip(plan.providers, plan.provider_options, strict=False))
        self._compat_ort = None
        self._ortn = None
        reason = delegation_reason(plan=plan)
        session: Session | None = None
        if reason is None:
            session, reason = self._compat_open(plan, backend)
        if session is not None and reason is None:
            infos = session.inputs + session.outputs
            if any(t.dtype is None for t in infos):
                io = self._compat_model_io()
                types = [v.type for v in (io.inputs + io.outputs)] if io else []
                reason = delegation_reason(backend=session.backend, io_types=types)
                if reason is not None:
                    session.close()
                    session = None
        if session is not None and reason is None:
            self._compat_bind_native(session)
        else:
            self._compat_bind_delegate(reason or "")

    def _compat_open(self, plan: Plan, backend: str) -> tuple[Session | None, str | None]:
        source: Any = self._model_path if self._model_path is not None else self._model_bytes
        try:
            return Session(source, backend=backend, **plan.kwargs), None
        except _ortn.ModelLoadError as exc:
            raise self._compat_load_error(exc) from None
        except _ortn.InvalidArgumentError as exc:
            if "providers" in plan.kwargs:
                # Providers ortnative cannot append: onnxruntime's own rules decide.
                return None, delegation_reason(feed=f"providers ortnative cannot use: {exc}")
            raise _errors.from_ortnative(exc, loading=True) from None
        except _ortn.Error as exc:
            raise _errors.from_ortnative(exc, loading=True) from None

    def _compat_load_error(self, exc: _ortn.ModelLoadError) -> _ortn.Error:
        """The class onnxruntime raises for the same model source."""
        if exc.ort_code is not None:
            return _errors.from_ortnative(exc, loading=True)
        ort_cls: type[BaseException] = _C.Fail
        path = self._model_path
        if path is not None:
            if not os.path.exists(path):
                ort_cls = _C.NoSuchFile
            elif os.path.isdir(path):
                ort_cls = _C.InvalidProtobuf
            elif os.path.getsize(path) == 0:
                ort_cls = _C.InvalidArgument
        elif not self._model_bytes:
            ort_cls = _C.InvalidArgument
        return _errors.make(_ortn.ModelLoadError, ort_cls, str(exc))

    def _compat_bind_native(self, session: Session) -> None:
        self._ortn = session
        self.ortnative_delegation: str | None = None
        self._compat_output_names = [o.name for o in session.outputs]
        self._compat_input_names = [i.name for i in session.inputs]
        run = _fast_run(
            session.run, weakref.WeakMethod(self._compat_run_general), self._compat_output_names
        )
        self._compat_run = run
        if type(self).run is InferenceSession.run:
            self.run = run  # type: ignore[method-assign]

    def _compat_bind_delegate(self, reason: str) -> None:
        self.ortnative_delegation = reason
        ort = self._compat_ort_session()
        self._providers = list(ort.get_providers())
        self._provider_options = dict(ort.get_provider_options())
        run = _delegated_run(ort.run, self._compat_label)
        self._compat_run = run
        if type(self).run is InferenceSession.run:
            self.run = run  # type: ignore[method-assign]

    def _compat_ort_session(self) -> Any:
        """The real onnxruntime session for this model, made on first use."""
        ort = self._compat_ort
        if ort is None:
            with self._compat_lock:
                ort = self._compat_ort
                if ort is None:
                    source = self._model_path if self._model_path is not None else self._model_bytes
                    try:
                        ort = OrtInferenceSession(
                            source,
                            self._sess_options,
                            providers=[(n, o) for n, o in self._compat_providers_asked] or None,
                            **self._compat_kwargs,
                        )
                    except Exception as exc:  # noqa: BLE001 - re-raised as the compat class
                        raise _errors.from_onnxruntime(
                            exc, self._compat_label, loading=True
                        ) from None
                    self._compat_ort = ort
        return ort

    def _compat_model_io(self) -> ModelIO | None:
        if not self._compat_io_read:
            source: Any = self._model_path if self._model_path is not None else self._model_bytes
            self._compat_io = read_model_io(source)
            self._compat_io_read = True
        return self._compat_io

    # -- running ---------------------------------------------------------------------
    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> list[Any]:
        """Runs the model: ``output_names`` (None or [] for all), ``input_feed`` a dict
        ``{input name: value}``; returns a list in ``output_names`` order.

        Values as onnxruntime takes them: numpy arrays (any layout: non-contiguous ones
        cost one copy), 0-d arrays, and lists, which are converted to the input's element
        type (``numpy.array(value, dtype=...)``, as onnxruntime does). Python and numpy
        scalars, tuples and other objects are refused, as onnxruntime refuses them.

        (Each instance replaces this method with a precomputed per-call function that
        behaves the same, unless a subclass overrides ``run``.)
        """
        return self._compat_run(output_names, input_feed, run_options)

    def _compat_run_general(
        self,
        output_names: Any,
        input_feed: Any,
        run_options: Any,
        exc: _ortn.Error | None,
    ) -> list[Any]:
        """Everything but the common call: onnxruntime's conversions and checks, in
        onnxruntime's order, then ortnative (or onnxruntime when only it can)."""
        session = self._ortn
        if session is None:
            return list(self._compat_run(output_names, input_feed, run_options))
        if exc is not None and (exc.ort_code is not None or isinstance(exc, _ortn.OrtError)):
            # ONNX Runtime itself failed: running again would only fail again.
            raise _errors.from_ortnative(exc) from None
        ortn_options, gap = self._compat_run_options(run_options)
        if delegation_reason(run_options=gap) is not None:
            return self._compat_delegate_call(output_names, input_feed, run_options)
        feeds, reason = self._compat_feeds(input_feed)
        if reason is not None and delegation_reason(feed=reason) is not None:
            return self._compat_delegate_call(output_names, input_feed, run_options)
        names = self._compat_names(output_names)
        unique = list(dict.fromkeys(names))
        try:
            result = session.run(feeds, unique, run_options=ortn_options)
        except _ortn.Error as err:
            raise _errors.from_ortnative(err) from None
        return [result[n] for n in names]

    def _compat_run_options(self, run_options: Any) -> tuple[Any, str | None]:
        """(the ortnative.RunOptions a call runs with, or what keeps it on onnxruntime)."""
        if run_options is None:
            return None, None
        if not isinstance(run_options, _C.RunOptions):
            # onnxruntime: TypeError (its binding takes a RunOptions)
            raise _ortn.InvalidTypeError(
                f"{self._compat_label}: run_options must be an onnxruntime.RunOptions or None, "
                f"got {type(run_options).__name__}"
            )
        return run_options_plan(run_options)

    def _compat_delegate_call(
        self, output_names: Any, input_feed: Any, run_options: Any
    ) -> list[Any]:
        ort = self._compat_ort_session()
        try:
            return list(ort.run(output_names, input_feed, run_options))
        except Exception as exc:  # noqa: BLE001 - re-raised as the compat class
            raise _errors.from_onnxruntime(exc, self._compat_label) from None

    def _compat_names(self, output_names: Any) -> list[str]:
        all_names = self._compat_output_names
        if not output_names:
            return list(all_names)
        if isinstance(output_names, (str, bytes)) or not isinstance(output_names, Sequence):
            # onnxruntime: TypeError (its binding takes a sequence of str)
            raise _ortn.InvalidTypeError(
                f"{self._compat_label}: output_names must be a list of output names or None, "
                f"got {type(output_names).__name__}"
            )
        names = list(output_names)
        for name in names:
            if type(name) is not str:
                raise _ortn.InvalidTypeError(
                    f"{self._compat_label}: output names must be str, got {type(name).__name__}"
                )
            if name not in all_names:
                raise _errors.make(
                    _ortn.InvalidInputError,
                    _C.InvalidArgument,
                    f"{self._compat_label}: unknown output name '{name}' (expected one of: "
                    f"{msg.quoted(all_names)})",
                )
        return names

    def _compat_input_types(self) -> dict[str, str]:
        io = self._compat_model_io()
        return {v.name: v.type for v in io.inputs} if io else {}

    def _compat_feeds(self, input_feed: Any) -> tuple[dict[str, Any], str | None]:
        """onnxruntime's handling of INPUT_FEED, with ortnative's wording: returns the
        feeds for ortnative, or a reason to hand the call to onnxruntime."""
        label = self._compat_label
        session = self._ortn
        assert session is not None
        if not hasattr(input_feed, "keys"):
            # onnxruntime: AttributeError("'list' object has no attribute 'keys'")
            raise _errors.make(
                _ortn.InvalidTypeError,
                AttributeError,
                f"{label}: input_feed must be a dict {{input name: array}}, got "
                f"{type(input_feed).__name__}",
            )
        keys = list(input_feed.keys())
        types = self._compat_input_types()
        infos = {i.name: i for i in session.inputs}
        for info in session.inputs:
            if info.name not in keys and not types.get(info.name, "").startswith("optional"):
                raise _ortn.InvalidInputError(
                    f"{label}: missing input '{info.name}' ({_describe(info, types)}); "
                    f"the model needs all of: {msg.quoted(list(infos))}"
                )
        feeds: dict[str, Any] = {}
        unknown: str | None = None
        for name in keys:
            value = input_feed[name]
            if type(name) is not str:
                raise _errors.make(
                    _ortn.InvalidInputError,
                    TypeError,
                    f"{label}: feed names must be str, got {type(name).__name__}",
                )
            found = infos.get(name)
            if found is None:
                io = self._compat_model_io()
                if io is not None and any(v.name == name for v in io.overridable()):
                    return {}, f"a feed overriding the initializer '{name}'"
                unknown = unknown or name
                continue
            info = found
            if value is None:
                if not types.get(name, "").startswith("optional"):
                    raise _errors.make(
                        _ortn.InvalidInputError,
                        _C.Fail,
                        f"{label}: input '{name}' is None; onnxruntime drops None feeds and "
                        f"'{name}' is required ({_describe(info, types)})",
                    )
                continue
            if isinstance(value, np.ndarray):
                if type(value) is not np.ndarray:
                    value = np.asarray(value)
                if not value.dtype.isnative:
                    # onnxruntime reads the bytes as if native (wrong numbers); convert.
                    value = value.astype(value.dtype.newbyteorder("="))
                feeds[name] = value
            elif isinstance(value, list):
                typ = types.get(name, "tensor")
                if typ.startswith(("seq(", "optional(seq(")):
                    feeds[name] = value
                elif info.dtype is None:
                    return {}, f"a list for input '{name}', of a type ortnative has no dtype for"
                else:
                    try:
                        feeds[name] = np.asarray(value, dtype=info.dtype)
                    except (ValueError, TypeError, OverflowError) as err:
                        raise _errors.make(
                            _ortn.InvalidTypeError,
                            RuntimeError,
                            f"{label}: input '{name}': the list cannot be made a "
                            f"{msg.dtype_name(info.dtype)} array, as onnxruntime converts "
                            f"lists ({err})",
                        ) from None
            elif isinstance(value, dict):
                return {}, f"a map for input '{name}'"
            elif type(value).__name__ == "OrtValue":
                return {}, f"an OrtValue for input '{name}'"
            elif _dlpack.offers_dlpack(value):
                # torch, JAX, CuPy tensors: ortnative.Session reads them through DLPack
                # (in place when contiguous and of the input's dtype).
                feeds[name] = value
            else:
                raise _errors.make(
                    _ortn.InvalidTypeError,
                    RuntimeError,
                    f"{label}: input '{name}' is a {type(value).__name__}: "
                    "onnxruntime.InferenceSession takes a numpy array (0-d for a scalar) or a "
                    f"list, and refuses anything else; pass numpy.asarray(value"
                    f"{_dtype_arg(info.dtype)})",
                )
        if unknown is not None:
            raise _errors.make(
                _ortn.InvalidInputError,
                _C.InvalidArgument,
                f"{label}: unknown input name '{unknown}' (expected one of: "
                f"{msg.quoted(list(infos))})",
            )
        return feeds, None

    def run_async(
        self,
        output_names: Any,
        input_feed: Any,
        callback: Callable[[Any, Any, str], Any],
        user_data: Any,
        run_options: Any = None,
    ) -> None:
        """Runs on a worker thread and calls ``callback(results, user_data, err)``:
        ``results`` the list :meth:`run` returns and ``err`` ``""``, or ``[]`` and the
        error's message. Bad feeds raise here, before anything runs, as in onnxruntime.
        The callback runs on one of ortnative's threads (onnxruntime: one of its pool's).
        """
        session = self._ortn
        ortn_options, gap = (
            self._compat_run_options(run_options) if session is not None else (None, None)
        )
        if session is None or delegation_reason(run_options=gap) is not None:
            ort = self._compat_ort_session()
            try:
                ort.run_async(output_names, input_feed, callback, user_data, run_options)
            except Exception as exc:  # noqa: BLE001 - re-raised as the compat class
                raise _errors.from_onnxruntime(exc, self._compat_label) from None
            return
        feeds, reason = self._compat_feeds(input_feed)
        if reason is not None and delegation_reason(feed=reason) is not None:
            ort = self._compat_ort_session()
            ort.run_async(output_names, input_feed, callback, user_data, run_options)
            return
        names = self._compat_names(output_names)
        unique = list(dict.fromkeys(names))

        def work() -> None:
            # On a worker thread, always (as onnxruntime calls back from its pool).
            try:
                result = session.run(feeds, unique, run_options=ortn_options)
            except Exception as exc:  # noqa: BLE001 - reported to the callback
                callback([], user_data, str(exc))
                return
            callback([result[n] for n in names], user_data, "")

        _executor().submit(work)

    def run_with_ort_values(
        self, output_names: Any, input_dict_ort_values: Any, run_options: Any = None
    ) -> Any:
        """onnxruntime's, on a real onnxruntime session made on first use."""
        return self._compat_ort_session().run_with_ort_values(
            output_names, input_dict_ort_values, run_options
        )

    def io_binding(self) -> Any:
        """onnxruntime's ``IOBinding``, on a real onnxruntime session made on first use;
        run it with :meth:`run_with_iobinding`."""
        return self._compat_ort_session().io_binding()

    def run_with_iobinding(self, iobinding: Any, run_options: Any = None) -> None:
        """onnxruntime's, on the session :meth:`io_binding` made."""
        self._compat_ort_session().run_with_iobinding(iobinding, run_options)

    # -- facts -----------------------------------------------------------------------
    @property
    def ortnative_session(self) -> Session | None:
        """The :class:`ortnative.Session` that runs this model; None when the session was
        handed to onnxruntime (see ``ortnative_delegation``)."""
        return self._ortn

    def _compat_nodeargs(self, which: str) -> list[NodeArg]:
        cached: list[NodeArg] | None = self.__dict__.get(f"_compat_{which}")
        if cached is not None:
            return cached
        session = self._ortn
        if session is None:
            ort = self._compat_ort_session()
            got = {
                "inputs": ort.get_inputs,
                "outputs": ort.get_outputs,
                "overridable": ort.get_overridable_initializers,
            }[which]()
            args = [_node_arg(a) for a in got]
        else:
            io = self._compat_model_io()
            if which == "overridable":
                args = (
                    [NodeArg(v.name, v.type, list(v.shape)) for v in io.overridable()] if io else []
                )
            else:
                infos = session.inputs if which == "inputs" else session.outputs
                listed = (
                    {v.name: v.type for v in (io.inputs if which == "inputs" else io.outputs)}
                    if io
                    else {}
                )
                args = [
                    NodeArg(
                        i.name,
                        listed.get(i.name) or _type_from_dtype(i.dtype),
                        list(i.shape),
                    )
                    for i in infos
                ]
        self.__dict__[f"_compat_{which}"] = args
        return args

    def get_inputs(self) -> list[NodeArg]:
        """The inputs, as :class:`NodeArg` (name, type, shape)."""
        return self._compat_nodeargs("inputs")

    def get_outputs(self) -> list[NodeArg]:
        """The outputs, as :class:`NodeArg`."""
        return self._compat_nodeargs("outputs")

    def get_overridable_initializers(self) -> list[NodeArg]:
        """Initializers a feed may replace (those the model also lists as inputs)."""
        return self._compat_nodeargs("overridable")

    def get_modelmeta(self) -> ModelMetadata:
        """The model's metadata (producer, graph name, domain, descriptions, version,
        custom entries)."""
        session = self._ortn
        if session is None:
            m = self._compat_ort_session().get_modelmeta()
            return ModelMetadata(
                m.producer_name,
                m.graph_name,
                m.domain,
                m.description,
                m.graph_description,
                m.version,
                dict(m.custom_metadata_map),
            )
        md = session.metadata()
        return ModelMetadata(
            md["producer_name"],
            md["graph_name"],
            md["domain"],
            md["description"],
            md["graph_description"],
            md["version"],
            md["custom"],
        )

    def get_providers(self) -> list[str]:
        """The execution providers in use, in priority order."""
        return list(self._providers)

    def get_provider_options(self) -> dict[str, dict[str, str]]:
        """``{provider: {option: value}}`` for the providers in use."""
        return {k: dict(v) for k, v in self._provider_options.items()}

    def set_providers(
        self,
        providers: Sequence[str | tuple[str, dict[Any, Any]]] | None = None,
        provider_options: Sequence[dict[Any, Any]] | None = None,
    ) -> None:
        """Makes the session again with these providers (as onnxruntime does)."""
        old = self._ortn
        for key in ("_compat_inputs", "_compat_outputs", "_compat_overridable"):
            self.__dict__.pop(key, None)
        self._sess_options = self._sess_options_initial
        self._compat_create(providers, provider_options)
        if old is not None and old is not self._ortn:
            old.close()

    def get_session_options(self) -> Any:
        """The SessionOptions the session was made with (a default one if none was)."""
        if self._sess_options is None:
            self._sess_options = SessionOptions()
        return self._sess_options

    def end_profiling(self) -> str:
        """Ends profiling and returns the JSON trace's file name; ``""`` when profiling is
        off (``SessionOptions.enable_profiling``)."""
        if self._ortn is None:
            return str(self._compat_ort_session().end_profiling())
        return self._ortn.end_profiling()

    def get_profiling_start_time_ns(self) -> int:
        """When profiling started (ONNX Runtime's clock, nanoseconds); 0 when it is off."""
        if self._ortn is None:
            return int(self._compat_ort_session().get_profiling_start_time_ns())
        return self._ortn.profiling_start_time_ns

    def disable_fallback(self) -> None:
        self._enable_fallback = False

    def enable_fallback(self) -> None:
        self._enable_fallback = True

    # onnxruntime's attributes some libraries read directly.
    @property
    def _inputs_meta(self) -> list[NodeArg]:
        return self.get_inputs()

    @property
    def _outputs_meta(self) -> list[NodeArg]:
        return self.get_outputs()

    @property
    def _overridable_initializers(self) -> list[NodeArg]:
        return self.get_overridable_initializers()

    @property
    def _model_meta(self) -> ModelMetadata:
        return self.get_modelmeta()

    @property
    def _profiling_start_time_ns(self) -> int:
        return self.get_profiling_start_time_ns()

    @property
    def _sess(self) -> Any:
        """onnxruntime's C session, for code that reaches for it (made on first use)."""
        return self._compat_ort_session()._sess

    def __getattr__(self, name: str) -> Any:
        # Anything else onnxruntime's InferenceSession has: on the real session.
        if (
            name.startswith(("__", "_compat"))
            or name in _OWN
            or not hasattr(OrtInferenceSession, name)
        ):
            # Not onnxruntime's either: no session is made just to say so.
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        delegation_reason(feed=f"InferenceSession.{name}, which only onnxruntime has")
        ort = self._compat_ort_session()
        try:
            return getattr(ort, name)
        except AttributeError:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}'"
            ) from None

    # -- pickling --------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        plan: Plan = self._compat_plan
        unseen = [g for g in plan.gaps if g in _TRACKED]
        if unseen:
            # They would be lost: onnxruntime cannot report what these calls did.
            raise TypeError(
                f"cannot pickle {self._compat_label}: its SessionOptions used "
                f"{', '.join(unseen)}, which onnxruntime's SessionOptions cannot report back"
            )
        extra = {
            k: v
            for k, v in self.__dict__.items()
            if k not in _BASE_STATE and not k.startswith("_compat")
        }
        return {
            "extra": extra,
            "model_path": self._model_path,
            "model_bytes": self._model_bytes,
            "options": dict(plan.fields) if self._sess_options is not None else None,
            "providers": [list(p) for p in self._compat_providers_asked],
            "kwargs": dict(self._compat_kwargs),
            "backend": self._compat_backend,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        options = _options_from_fields(state["options"]) if state["options"] is not None else None
        model: Any = (
            state["model_path"] if state["model_path"] is not None else state["model_bytes"]
        )
        providers = [(n, o) for n, o in state["providers"]] or None
        InferenceSession.__init__(
            self, model, options, providers, backend=state["backend"], **state["kwargs"]
        )
        self.__dict__.update(state.get("extra", {}))  # what a subclass added

    def __repr__(self) -> str:
        how = (
            f"ortnative backend={self._ortn.backend}"
            if self._ortn is not None
            else f"onnxruntime ({self.__dict__.get('ortnative_delegation')})"
        )
        return f"<ortnative.compat.InferenceSession {self._compat_label} on {how}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


# What InferenceSession itself keeps on an instance: pickling carries anything else (what
# a subclass adds) as the instance's state, and __getattr__ never sends these names to
# onnxruntime (they are set in __init__, or probed by copy/pickle).
_BASE_STATE = frozenset(
    {
        "run",
        "ortnative_delegation",
        "_ortn",
        "_model_path",
        "_model_bytes",
        "_providers",
        "_provider_options",
        "_sess_options",
        "_sess_options_initial",
        "_enable_fallback",
        "_fallback_providers",
        "_read_config_from_model",
    }
)
_OWN = _BASE_STATE


def _options_from_fields(fields: Mapping[str, Any]) -> SessionOptions:
    so = SessionOptions()
    for name, value in fields.items():
        if name == "config":
            for k, v in value.items():
                so.add_session_config_entry(k, v)
        elif name == "calls":
            for call, args in value:
                _replay(so, call, args)
        elif name == "graph_optimization_level":
            so.graph_optimization_level = _C.GraphOptimizationLevel.__members__[value]
        elif name == "execution_mode":
            so.execution_mode = _C.ExecutionMode.__members__[value]
        elif name == "execution_order":
            so.execution_order = _C.ExecutionOrder.__members__[value]
        else:
            setattr(so, name, value)
    return so


def _replay(so: Any, call: str, args: tuple[Any, ...]) -> None:
    """A SessionOptions call session_plan recorded (as it pickles), made again on SO."""
    ortvalue = _orticc.OrtValue.ortvalue_from_numpy
    if call == "add_initializer":
        so.add_initializer(args[0], ortvalue(args[1]))
    elif call == "add_external_initializers":
        so.add_external_initializers(list(args[0]), [ortvalue(a) for a in args[1]])
    elif call == "add_external_initializers_from_files_in_memory":
        so.add_external_initializers_from_files_in_memory(
            list(args[0]), list(args[1]), [len(b) for b in args[1]]
        )
    else:
        getattr(so, call)(*args)


def _type_from_dtype(dtype: np.dtype | None) -> str:
    if dtype is None:
        return "undefined"
    name = "object" if dtype.kind in "OUST" else dtype.name
    return f"tensor({_DTYPE_TYPES.get(name, name)})"


def _describe(info: Any, types: Mapping[str, str]) -> str:
    typ = types.get(info.name)
    shape = msg.format_model_shape(info.shape)
    if typ is not None and not typ.startswith("tensor("):
        return typ
    return f"{msg.dtype_name(info.dtype)} {shape}"


def _dtype_arg(dtype: np.dtype | None) -> str:
    if dtype is None or dtype.kind in "OUST":
        return ""
    return f", dtype=numpy.{dtype.name}"
