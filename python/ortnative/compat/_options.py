"""SessionOptions and RunOptions, what of them ortnative honours, and when a session or
a call goes to a real ``onnxruntime.InferenceSession`` instead.

Three functions decide everything, so that the knobs ortnative gains later plug in here
and nowhere else:

- :func:`session_plan` reads every field of a SessionOptions (the compat class or a
  real ``onnxruntime.SessionOptions``), the calls made on it, the providers and the
  constructor's extra keywords, and returns the keywords for :class:`ortnative.Session`
  plus the list of what was asked for that ortnative cannot do (its *gaps*).
- :func:`run_options_plan` does the same for an ``onnxruntime.RunOptions``: the
  :class:`ortnative.RunOptions` a call runs with (``terminate`` set on the onnxruntime
  object reaches it, from any thread), or why the call must go to onnxruntime.
- :func:`delegation_reason` says whether a session, or one call, must go to
  onnxruntime: a gap, a model whose outputs the backend cannot return, run options
  ortnative cannot honour, a feed only onnxruntime takes. When a knob lands in
  ortnative, its gap line turns into a keyword, and its branch here disappears.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnxruntime.capi import onnxruntime_pybind11_state as _C

from .. import options as _ortn_options

log = logging.getLogger("ortnative.compat")

GraphOptimizationLevel = _C.GraphOptimizationLevel
ExecutionMode = _C.ExecutionMode
ExecutionOrder = _C.ExecutionOrder

_LEVELS = {
    "ORT_DISABLE_ALL": "disable",
    "ORT_ENABLE_BASIC": "basic",
    "ORT_ENABLE_EXTENDED": "extended",
    "ORT_ENABLE_ALL": "all",
}

# Session config keys onnxruntime documents (onnxruntime_session_options_config_keys.h).
# A real onnxruntime.SessionOptions cannot list its entries, only answer for a key, so
# these are the ones read from it; the compat SessionOptions records every entry.
KNOWN_CONFIG_KEYS = (
    "session.disable_prepacking",
    "session.use_env_allocators",
    "session.load_model_format",
    "session.save_model_format",
    "session.set_denormal_as_zero",
    "session.disable_quant_qdq",
    "session.disable_double_qdq_remover",
    "session.enable_quant_qdq_cleanup",
    "session.enable_gelu_approximation",
    "optimization.enable_gelu_approximation",
    "optimization.disable_specified_optimizers",
    "optimization.minimal_build_optimizations",
    "optimization.enable_cast_chain_elimination",
    "session.use_device_allocator_for_initializers",
    "session.inter_op.allow_spinning",
    "session.intra_op.allow_spinning",
    "session.use_ort_model_bytes_directly",
    "session.use_ort_model_bytes_for_initializers",
    "session.qdqisint8allowed",
    "session.x64quantprecision",
    "session.dynamic_block_base",
    "session.force_spinning_stop",
    "session.strict_shape_type_inference",
    "session.allow_released_opsets_only",
    "session.node_partition_config_file",
    "session.intra_op_thread_affinities",
    "session.debug_layout_transformation",
    "session.disable_cpu_ep_fallback",
    "session.optimized_model_external_initializers_file_name",
    "session.optimized_model_external_initializers_min_size_in_bytes",
    "session.disable_aot_function_inlining",
    "session.graph_optimizations_loop_level",
    "session.record_ep_graph_assignment_info",
    "session.disable_model_compile",
    "session.qdq_matmulnbits_accuracy_level",
    "mlas.enable_gemm_fastmath_arm64_bfloat16",
    "mlas.use_lut_gemm",
    "ep.context_enable",
    "ep.context_file_path",
    "ep.context_embed_mode",
    "ep.context_node_name_prefix",
    "ep.share_ep_contexts",
    "ep.stop_share_ep_contexts",
    "ep.enable_weightless_ep_context_nodes",
)


# Run config keys onnxruntime documents (onnxruntime_run_options_config_keys.h), read by
# key from a real onnxruntime.RunOptions whose entries were set before the tracking began.
KNOWN_RUN_CONFIG_KEYS = (
    "memory.enable_memory_arena_shrinkage",
    "disable_synchronize_execution_providers",
    "qnn.htp_perf_mode",
    "qnn.htp_perf_mode_post_run",
    "qnn.rpc_control_latency",
    "gpu_graph_id",
)


# What onnxruntime's SessionOptions and RunOptions cannot report back (config entries, the
# add_* and register_* calls with their arguments), recorded per object by wrappers put
# around those methods of onnxruntime's classes when this module is imported (they call
# the original and note the call; nothing else changes). Objects changed before that
# cannot be read fully: their config entries are probed by key (KNOWN_CONFIG_KEYS,
# KNOWN_RUN_CONFIG_KEYS), their add_* calls unseen.
_TRACKED = (
    "add_session_config_entry",
    "add_initializer",
    "add_external_initializers",
    "add_external_initializers_from_files_in_memory",
    "add_free_dimension_override_by_name",
    "add_free_dimension_override_by_denotation",
    "register_custom_ops_library",
    "add_provider",
    "add_provider_for_devices",
    "set_provider_selection_policy",
    "set_provider_selection_policy_delegate",
    "set_load_cancellation_flag",
    "set_ep_context_data_read_func",
)
_RUN_TRACKED = ("add_run_config_entry", "add_active_adapter")
# The calls on a SessionOptions that ortnative honours (session_plan turns them into
# keywords); any other tracked call is a gap.
_HONOURED = (
    "add_initializer",
    "add_external_initializers",
    "add_external_initializers_from_files_in_memory",
    "add_free_dimension_override_by_name",
    "add_free_dimension_override_by_denotation",
    "register_custom_ops_library",
)


@dataclass
class _Recorded:
    """What was done to one SessionOptions or RunOptions that it cannot report back."""

    config: dict[str, str] = field(default_factory=dict)
    #: (method, its arguments) in call order, config entries excepted
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)


_records: weakref.WeakKeyDictionary[Any, _Recorded] = weakref.WeakKeyDictionary()


def _record(options: Any) -> _Recorded:
    rec = _records.get(options)
    if rec is None:
        rec = _Recorded()
        _records[options] = rec
    return rec


def _tracking(cls: str, name: str, original: Any) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        rec = _record(self)
        given = (*args, *kwargs.values())
        if name in ("add_session_config_entry", "add_run_config_entry"):
            rec.config[str(given[0])] = str(given[1])
        else:
            rec.calls.append((name, given))
        return result

    method.__name__ = name
    method.__qualname__ = f"{cls}.{name}"
    method.__doc__ = getattr(original, "__doc__", None)
    method._ortnative_tracking = True  # type: ignore[attr-defined]
    return method


# The ortnative.RunOptions made for each onnxruntime RunOptions a call ran with, by the
# fields they were made from: setting the onnxruntime object's `terminate` (from any
# thread) sets theirs too.
_run_links: weakref.WeakKeyDictionary[Any, list[tuple[Any, Any]]] = weakref.WeakKeyDictionary()
_run_lock = threading.Lock()


def _terminate_property(original: property) -> property:
    def fset(self: Any, value: Any) -> None:
        original.fset(self, value)  # type: ignore[misc]
        with _run_lock:
            linked = [ro for _, ro in _run_links.get(self, ())]
        for ro in linked:
            if value:
                ro.terminate()
            else:
                ro.unset_terminate()

    return _TrackedProperty(original.fget, fset, doc=original.__doc__)


class _TrackedProperty(property):
    """RunOptions.terminate once _terminate_property has wrapped it."""


def _track_options() -> None:
    for cls, names in ((_C.SessionOptions, _TRACKED), (_C.RunOptions, _RUN_TRACKED)):
        for name in names:
            original = getattr(cls, name, None)
            if original is not None and not getattr(original, "_ortnative_tracking", False):
                setattr(cls, name, _tracking(cls.__name__, name, original))
    terminate = _C.RunOptions.__dict__.get("terminate")
    if isinstance(terminate, property) and not isinstance(terminate, _TrackedProperty):
        _C.RunOptions.terminate = _terminate_property(terminate)


_track_options()


class SessionOptions(_C.SessionOptions):  # type: ignore[misc]
    """``onnxruntime.SessionOptions``: onnxruntime's own class (every field and method
    with onnxruntime's checks), so a session handed to onnxruntime takes it as is.
    ``compat.install()`` puts this name in onnxruntime's namespace; a real
    ``onnxruntime.SessionOptions`` works the same with the compat session."""


class RunOptions(_C.RunOptions):  # type: ignore[misc]
    """``onnxruntime.RunOptions`` (onnxruntime's own class). A call given run options
    runs on ortnative with an :class:`ortnative.RunOptions` of the same fields (run tag
    from ``logid``, log levels, run config entries); setting ``terminate = True`` from
    another thread stops it. Adapters and ``only_execute_path_to_fetches`` send the call
    to onnxruntime (see the README's compat table)."""


@dataclass
class Plan:
    """What :func:`session_plan` made of the options."""

    #: keywords for ortnative.Session
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: what was asked that ortnative cannot honour yet, e.g. "enable_profiling=True"
    gaps: list[str] = field(default_factory=list)
    #: providers as onnxruntime reports them (get_providers / get_provider_options)
    providers: list[str] = field(default_factory=list)
    provider_options: list[dict[str, str]] = field(default_factory=list)
    #: fields read, for pickling: rebuilt into a compat SessionOptions on load
    fields: dict[str, Any] = field(default_factory=dict)


def _config_entries(options: Any, keys: Sequence[str], get: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for key in keys:  # set before the tracking began: ask by key
        try:
            found[key] = str(getattr(options, get)(key))
        except Exception:  # noqa: BLE001, S112 - onnxruntime raises for a key not set
            continue
    rec = _records.get(options)
    if rec is not None:
        found.update(rec.config)
    return found


def _array(value: Any) -> np.ndarray:
    """An onnxruntime OrtValue (or anything NumPy takes) as a NumPy array."""
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def _honour(call: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """A recorded SessionOptions call ortnative honours, as keywords in KWARGS; returns
    its arguments in a form that pickles (what _options_from_fields replays)."""
    if call in ("add_free_dimension_override_by_name", "add_free_dimension_override_by_denotation"):
        key = (
            "free_dimension_overrides"
            if call.endswith("by_name")
            else "free_dimension_overrides_by_denotation"
        )
        kwargs.setdefault(key, {})[str(args[0])] = int(args[1])
        return (str(args[0]), int(args[1]))
    if call == "register_custom_ops_library":
        kwargs.setdefault("custom_op_libraries", []).append(str(args[0]))
        return (str(args[0]),)
    if call == "add_initializer":
        arr = _array(args[1])
        kwargs.setdefault("initializers", {})[str(args[0])] = arr
        return (str(args[0]), arr)
    if call == "add_external_initializers":
        arrays = [_array(v) for v in args[1]]
        kwargs.setdefault("external_initializers", {}).update(
            zip(map(str, args[0]), arrays, strict=True)
        )
        return ([str(n) for n in args[0]], arrays)
    # add_external_initializers_from_files_in_memory(names, buffers, lengths)
    files = {
        str(n): memoryview(b).cast("B")[: int(size)]
        for n, b, size in zip(args[0], args[1], args[2], strict=True)
    }
    kwargs.setdefault("external_data", {}).update(files)
    return ([*files], [bytes(v) for v in files.values()])


_FIELDS = (
    "intra_op_num_threads",
    "inter_op_num_threads",
    "graph_optimization_level",
    "execution_mode",
    "execution_order",
    "enable_cpu_mem_arena",
    "enable_mem_pattern",
    "enable_mem_reuse",
    "enable_profiling",
    "profile_file_prefix",
    "optimized_model_filepath",
    "use_deterministic_compute",
    "use_per_session_threads",
    "log_severity_level",
    "log_verbosity_level",
    "logid",
)


def session_plan(
    options: Any,
    providers: Sequence[str],
    provider_options: Sequence[Mapping[str, str]],
    kwargs: Mapping[str, Any],
) -> Plan:
    """Reads the options in one place: ``options`` (None, the compat SessionOptions or a
    real ``onnxruntime.SessionOptions``), PROVIDERS and PROVIDER_OPTIONS as onnxruntime
    normalised them, and the constructor's extra KWARGS.

    Honoured by ortnative: threads, graph optimisation level (but not
    ``ORT_ENABLE_LAYOUT``), execution mode, session config entries, providers, the CPU
    arena and memory pattern switches, ``optimized_model_filepath``, profiling, the log
    fields (a ``log_severity_level`` left at -1 keeps ortnative's, ``ORTNATIVE_LOG_LEVEL``),
    ``use_deterministic_compute``, and the calls free-dimension overrides,
    ``register_custom_ops_library``, ``add_initializer``, ``add_external_initializers``
    and ``add_external_initializers_from_files_in_memory``.
    Taken without a gap: ``use_per_session_threads`` (ortnative sessions share pools by
    default), CPU provider options (onnxruntime ignores them too).
    Everything else that differs from onnxruntime's default is a gap:
    ``enable_mem_reuse=False`` (ONNX Runtime's C API has no switch for it), an execution
    order, the other tracked calls (providers and policies, load cancellation, EP
    context), ``disabled_optimizers``, ``read_config_from_model``.
    """
    plan = Plan()
    gaps = plan.gaps
    if options is not None:
        f = {name: getattr(options, name) for name in _FIELDS if hasattr(options, name)}
        plan.fields = {k: getattr(v, "name", v) for k, v in f.items()}
        intra, inter = f.get("intra_op_num_threads", 0), f.get("inter_op_num_threads", 0)
        plan.kwargs["intra_op_threads"] = intra if isinstance(intra, int) and intra > 0 else 0
        plan.kwargs["inter_op_threads"] = inter if isinstance(inter, int) and inter > 0 else 0
        level = getattr(f.get("graph_optimization_level"), "name", "ORT_ENABLE_ALL")
        if level in _LEVELS:
            plan.kwargs["graph_optimization"] = _LEVELS[level]
        else:
            gaps.append(f"graph_optimization_level={level}")
        mode = getattr(f.get("execution_mode"), "name", "ORT_SEQUENTIAL")
        plan.kwargs["execution_mode"] = "parallel" if mode == "ORT_PARALLEL" else "sequential"
        order = getattr(f.get("execution_order"), "name", "DEFAULT")
        if order != "DEFAULT":
            gaps.append(f"execution_order={order}")
        for name in ("enable_cpu_mem_arena", "enable_mem_pattern"):
            if f.get(name, True) is False:
                plan.kwargs[name] = False
        if f.get("enable_mem_reuse", True) is False:
            gaps.append("enable_mem_reuse=False (ONNX Runtime's C API has no switch for it)")
        if f.get("use_deterministic_compute", False) is True:
            plan.kwargs["use_deterministic_compute"] = True
        if f.get("enable_profiling", False) is True:
            plan.kwargs["enable_profiling"] = True
            plan.kwargs["profile_file_prefix"] = str(f.get("profile_file_prefix", ""))
        if f.get("optimized_model_filepath"):
            plan.kwargs["optimized_model_filepath"] = str(f["optimized_model_filepath"])
        level = f.get("log_severity_level", -1)
        if isinstance(level, int) and 0 <= level <= 4:
            plan.kwargs["log_severity_level"] = level
        verbosity = f.get("log_verbosity_level", 0)
        if isinstance(verbosity, int) and verbosity > 0:
            plan.kwargs["log_verbosity_level"] = verbosity
        if f.get("logid"):
            plan.kwargs["logid"] = str(f["logid"])
        config = _config_entries(options, KNOWN_CONFIG_KEYS, "get_session_config_entry")
        plan.fields["config"] = dict(config)
        if config:
            plan.kwargs["config"] = config
        rec = _records.get(options)
        replay: list[tuple[str, tuple[Any, ...]]] = []
        for call, args in rec.calls if rec is not None else ():
            honoured = None
            if call in _HONOURED:
                try:
                    honoured = _honour(call, args, plan.kwargs)
                except Exception:  # noqa: BLE001 - a value ortnative cannot read: a gap
                    honoured = None
            if honoured is not None:
                replay.append((call, honoured))
            elif call not in gaps:
                gaps.append(call)
        if replay:
            plan.fields["calls"] = replay
        if hasattr(options, "has_providers") and options.has_providers():
            gaps.append("providers set on the SessionOptions")
    disabled = kwargs.get("disabled_optimizers")
    if disabled:
        gaps.append("disabled_optimizers")
    if "read_config_from_model" in kwargs:
        from_model = int(kwargs["read_config_from_model"]) == 1
    else:
        from_model = os.environ.get("ORT_LOAD_CONFIG_FROM_MODEL") == "1"
    if from_model:
        gaps.append("read_config_from_model")
    # Providers: onnxruntime ignores CPU provider options; others go to ortnative.
    ortn_providers: list[Any] = []
    for name, popts in zip(providers, provider_options, strict=False):
        if name == "AzureExecutionProvider":
            gaps.append("AzureExecutionProvider")
        if name == "CPUExecutionProvider":
            ortn_providers.append(name)
            plan.providers.append(name)
            plan.provider_options.append({})
        else:
            ortn_providers.append((name, dict(popts)) if popts else name)
            plan.providers.append(name)
            plan.provider_options.append(dict(popts))
    if "CPUExecutionProvider" not in plan.providers:
        plan.providers.append("CPUExecutionProvider")
        plan.provider_options.append({})
    if ortn_providers and ortn_providers != ["CPUExecutionProvider"]:
        plan.kwargs["providers"] = ortn_providers
    return plan


_logged: set[str] = set()
_logged_lock = threading.Lock()


def delegation_reason(
    *,
    plan: Plan | None = None,
    backend: str | None = None,
    io_types: Sequence[str] = (),
    run_options: str | None = None,
    feed: str | None = None,
) -> str | None:
    """Why this session (PLAN, BACKEND, IO_TYPES: its inputs' and outputs' onnxruntime
    type strings) or this call (RUN_OPTIONS: what :func:`run_options_plan` found
    ortnative cannot honour; FEED: what the feeds hold that only onnxruntime takes) must
    run on a real ``onnxruntime.InferenceSession``; None when ortnative runs it.

    The single place that decides; shrink it as ortnative's knobs land.
    """
    reason: str | None = None
    if plan is not None and plan.gaps:
        reason = "session options ortnative cannot honour yet: " + ", ".join(plan.gaps)
    elif backend is not None and any("sparse_tensor" in t for t in io_types):
        reason = "sparse tensors, which ortnative cannot return yet"
    elif backend is not None and any(t.startswith("opaque") or "undefined" in t for t in io_types):
        reason = "a type ortnative has no Python value for"
    elif run_options is not None:
        reason = f"run options ortnative cannot honour yet: {run_options}"
    elif feed is not None:
        reason = feed
    if reason is not None and reason not in _logged:
        with _logged_lock:
            if reason not in _logged:
                _logged.add(reason)
                log.debug("ortnative.compat: handing to onnxruntime: %s", reason)
    return reason


def run_options_plan(run_options: Any) -> tuple[_ortn_options.RunOptions | None, str | None]:
    """The :class:`ortnative.RunOptions` a call given RUN_OPTIONS (an
    ``onnxruntime.RunOptions``: the compat class or onnxruntime's own) runs with, or None
    and what ortnative cannot honour of them.

    Honoured: ``logid`` (the run tag), ``log_severity_level``, ``log_verbosity_level``,
    run config entries, ``terminate`` (also set later, from another thread, while the
    call runs: the linked ortnative.RunOptions is terminated with it). Not:
    ``only_execute_path_to_fetches`` and adapters (``add_active_adapter``).
    """
    if getattr(run_options, "only_execute_path_to_fetches", False):
        return None, "only_execute_path_to_fetches=True"
    rec = _records.get(run_options)
    if rec is not None and any(call == "add_active_adapter" for call, _ in rec.calls):
        return None, "add_active_adapter"
    level = run_options.log_severity_level
    fields = (
        str(run_options.logid),
        level if isinstance(level, int) and 0 <= level <= 4 else None,
        max(int(run_options.log_verbosity_level), 0),
        _config_entries(run_options, KNOWN_RUN_CONFIG_KEYS, "get_run_config_entry"),
    )
    with _run_lock:
        linked = _run_links.setdefault(run_options, [])
        ours = next((ro for made, ro in linked if made == fields), None)
        if ours is None:
            ours = _ortn_options.RunOptions(
                run_tag=fields[0],
                log_severity_level=fields[1],
                log_verbosity_level=fields[2],
                config=fields[3],
            )
            linked.append((fields, ours))
            del linked[:-8]  # older field sets: runs with them are long over
        # terminate set before this call, or unset since: the linked object follows.
        if run_options.terminate and not ours.terminated:
            ours.terminate()
        elif not run_options.terminate and ours.terminated:
            ours.unset_terminate()
    return ours, None
