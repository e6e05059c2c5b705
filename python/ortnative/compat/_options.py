"""SessionOptions and RunOptions, what of them ortnative honours, and when a session or
a call goes to a real ``onnxruntime.InferenceSession`` instead.

Two functions decide everything, so that the knobs ortnative gains later plug in here
and nowhere else:

- :func:`session_plan` reads every field of a SessionOptions (the compat class or a
  real ``onnxruntime.SessionOptions``), the providers and the constructor's extra
  keywords, and returns the keywords for :class:`ortnative.Session` plus the list of
  what was asked for that ortnative cannot do yet (its *gaps*).
- :func:`delegation_reason` says whether a session, or one call, must go to
  onnxruntime: a gap, a model whose outputs the backend cannot return, run options, a
  feed only onnxruntime takes. When a knob lands in ortnative, its gap line in
  :func:`session_plan` turns into a keyword, and the branch here disappears.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from onnxruntime.capi import onnxruntime_pybind11_state as _C

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


# What onnxruntime's SessionOptions cannot report back (config entries, the add_* and
# register_* calls), recorded per object by wrappers put around those methods of
# onnxruntime's class when this module is imported (they call the original and note
# the call; nothing else changes). Objects changed before that cannot be read fully:
# their config entries are probed by key (KNOWN_CONFIG_KEYS), their add_* calls unseen.
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
_records: weakref.WeakKeyDictionary[Any, tuple[dict[str, str], list[str]]] = (
    weakref.WeakKeyDictionary()
)


def _record(options: Any) -> tuple[dict[str, str], list[str]]:
    rec = _records.get(options)
    if rec is None:
        rec = ({}, [])
        _records[options] = rec
    return rec


def _tracking(name: str, original: Any) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        config, calls = _record(self)
        if name == "add_session_config_entry":
            key, value = (list(args) + list(kwargs.values()))[:2]
            config[str(key)] = str(value)
        elif name not in calls:
            calls.append(name)
        return result

    method.__name__ = name
    method.__qualname__ = f"SessionOptions.{name}"
    method.__doc__ = getattr(original, "__doc__", None)
    method._ortnative_tracking = True  # type: ignore[attr-defined]
    return method


def _track_session_options() -> None:
    for name in _TRACKED:
        original = getattr(_C.SessionOptions, name, None)
        if original is not None and not getattr(original, "_ortnative_tracking", False):
            setattr(_C.SessionOptions, name, _tracking(name, original))


_track_session_options()


class SessionOptions(_C.SessionOptions):  # type: ignore[misc]
    """``onnxruntime.SessionOptions``: onnxruntime's own class (every field and method
    with onnxruntime's checks), so a session handed to onnxruntime takes it as is.
    ``compat.install()`` puts this name in onnxruntime's namespace; a real
    ``onnxruntime.SessionOptions`` works the same with the compat session."""


class RunOptions(_C.RunOptions):  # type: ignore[misc]
    """``onnxruntime.RunOptions`` (onnxruntime's own class). A call given run options
    runs on onnxruntime for now: see the README's compat table."""


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


def _config_entries(options: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for key in KNOWN_CONFIG_KEYS:  # set before the tracking began: ask by key
        try:
            found[key] = str(options.get_session_config_entry(key))
        except Exception:  # noqa: BLE001, S112 - onnxruntime raises for a key not set
            continue
    found.update(_records.get(options, ({}, []))[0])
    return found


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
    ``ORT_ENABLE_LAYOUT``), execution mode, session config entries, providers.
    Not affecting results, taken without a gap: the log fields (ortnative's errors are
    exceptions; ORT's own log follows ``ORTNATIVE_LOG_LEVEL``), ``use_per_session_threads``
    (ortnative sessions share pools by default), ``profile_file_prefix`` without
    profiling, CPU provider options (onnxruntime ignores them too).
    Everything else that differs from onnxruntime's default is a gap.
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
        for name in ("enable_cpu_mem_arena", "enable_mem_pattern", "enable_mem_reuse"):
            if f.get(name, True) is False:
                gaps.append(f"{name}=False")
        for name in ("enable_profiling", "use_deterministic_compute"):
            if f.get(name, False) is True:
                gaps.append(f"{name}=True")
        if f.get("optimized_model_filepath"):
            gaps.append("optimized_model_filepath")
        config = _config_entries(options)
        plan.fields["config"] = dict(config)
        if config:
            plan.kwargs["config"] = config
        for call in _records.get(options, ({}, []))[1]:
            gaps.append(call)
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
    run_options: Any = None,
    feed: str | None = None,
) -> str | None:
    """Why this session (PLAN, BACKEND, IO_TYPES: its inputs' and outputs' onnxruntime
    type strings) or this call (RUN_OPTIONS, FEED: what the feeds hold that only
    onnxruntime takes) must run on a real ``onnxruntime.InferenceSession``; None when
    ortnative runs it.

    The single place that decides; shrink it as ortnative's knobs land (the lead's
    options work: memory arena, profiling, free-dimension overrides, custom-op
    libraries, external data, RunOptions, maps).
    """
    reason: str | None = None
    if plan is not None and plan.gaps:
        reason = "session options ortnative cannot honour yet: " + ", ".join(plan.gaps)
    elif backend == "native" and any("map(" in t or "sparse_tensor" in t for t in io_types):
        reason = "maps or sparse tensors, which the native backend cannot return yet"
    elif backend is not None and any(t.startswith("opaque") or "undefined" in t for t in io_types):
        reason = "a type ortnative has no Python value for"
    elif run_options is not None:
        reason = "run options (terminate, run config entries, adapters) are not in ortnative yet"
    elif feed is not None:
        reason = feed
    if reason is not None and reason not in _logged:
        with _logged_lock:
            if reason not in _logged:
                _logged.add(reason)
                log.debug("ortnative.compat: handing to onnxruntime: %s", reason)
    return reason
