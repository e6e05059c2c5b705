"""Every error message of the Python side, in one place, grouped by concept.

The groups "formats", "runtime", "sessions", "preprocessing" and "scheduling" mirror the
C++ core's message functions (namespace ``ortnative::msg``, gathered in cpp/src/messages.hpp
beside the core's sources in cpp/src, under the same group names): the pure-Python
backend raises these, the native one the core's, and the tests compare the two backends
message for message, so comparing the backends' wording means comparing this file with
that one. Like the core's, each of these returns the text after the ``model 'name': ``
prefix that Session and Scheduler errors carry (the fallback adds it); the exception type
is chosen where it is raised, as the core chooses the error code where it throws.

The last groups are Python's own: errors about Python objects that C++ hosts never meet
(containers, NumPy arrays, str names), raised by both backends (the native bindings look
them up here by name, so their names and parameters stay as they are), and the checks the
Python package makes itself; each of those returns the exception to raise. Between them,
two pieces of text only the Python side writes. Option validation stays with the options
(python/ortnative/options.py): each message there is written where its check is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .errors import InvalidArgumentError, InvalidInputError, InvalidTypeError, SchedulerClosedError

# -- formats (C++: msg:: 'formats' in messages.hpp; format_shape in session.hpp) ------------
# Shapes, values and names as ortnative writes them; each format is written here only.


def format_shape(shape: Sequence[int]) -> str:
    """A concrete shape as the core writes it (and Python writes a tuple): (1, 3), (5,), ()."""
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"


def format_model_shape(shape: Iterable[Any]) -> str:
    """A model shape as the core writes it: [N, 3], with ? for a free unnamed dim."""
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def format_values(values: Sequence[float]) -> str:
    """Per-channel values as Python writes a tuple of them: (0.5,), (0.5, 0.25)."""
    return "(" + ", ".join(repr(v) for v in values) + ("," if len(values) == 1 else "") + ")"


def format_tensor(name: str, dtype: np.dtype[Any] | None, shape: Iterable[Any]) -> str:
    """A model input or output in a repr: ``x: float32 [N, 3]``."""
    return f"{name}: {dtype_name(dtype)} {format_model_shape(shape)}"


def quoted(names: Iterable[str]) -> str:
    """'a', 'b' (or "(none)"): names, quoted, in order."""
    return ", ".join(f"'{n}'" for n in names) or "(none)"


def repr_list(values: Iterable[Any]) -> str:
    """'a', 'b' as Python writes each: values listed in option and argument errors."""
    return ", ".join(repr(v) for v in values)


def dtype_name(dtype: np.dtype[Any] | None) -> str:
    """The core's name for a supported dtype."""
    if dtype is None:
        return "unsupported"
    if dtype.kind in "OUST":
        return "str"
    return str(dtype)


def cast_hint(want: str) -> str:
    """How to convert to the dtype named WANT: "convert with .astype(numpy.float32)"."""
    if want == "str":
        return "pass str values"
    if want == "bfloat16":
        return "convert with .astype(ml_dtypes.bfloat16)"
    if want == "bool":
        return "convert with .astype(numpy.bool_)"
    return f"convert with .astype(numpy.{want})"


def describe(kind: str, dtype: str, shape: Sequence[Any]) -> str:
    """What a model input or output is: "float32 [N, 3]", "sequence of int64 tensors"...
    KIND as ``Session.inputs`` gives it, DTYPE the core's name of its element type."""
    if kind == "tensor":
        return f"{dtype} {format_model_shape(shape)}"
    if kind == "sequence":
        return f"sequence of {dtype} tensors"
    if kind == "optional":
        return f"optional {dtype} tensor"
    if kind == "optional_sequence":
        return f"optional {dtype} sequence"
    return "map" if kind == "map" else "unsupported type"


def label(model: str) -> str:
    """How Session and Scheduler errors name a model: the prefix "model 'name'"."""
    return f"model '{model}'"


def milliseconds(us: int) -> str:
    """A duration in microseconds as milliseconds: 40, 0.5."""
    return f"{us / 1000:g}"


# -- runtime (C++: runtime.cpp) -------------------------------------------------------------


def env_threads(variable: str, value: str) -> str:
    return (
        f"environment variable {variable}='{value}' is not a thread count (an integer from 0 "
        "to 4096)"
    )


def env_log_level(value: str) -> str:
    return (
        f"environment variable ORTNATIVE_LOG_LEVEL='{value}' is not a log level (an integer "
        "from 0 to 4: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal)"
    )


# -- sessions (C++: msg:: 'sessions'; cpp/src/session_load.cpp, session_run.cpp) ------------
# Text after the "model 'name': " prefix; ROLE is "input", "out array for output" or
# "element of input".


def model_file_missing(path: str) -> str:
    return f"model file '{path}' does not exist"


def model_is_directory(path: str) -> str:
    return f"'{path}' is a directory, not a model file"


def model_file_empty(path: str) -> str:
    return f"model file '{path}' is empty"


def model_bytes_empty() -> str:
    return "model bytes are empty"


def loading_file_failed(path: str) -> str:
    return f"loading '{path}' failed"


def loading_bytes_failed(size: int) -> str:
    return f"loading the model from {size} bytes failed"


def invalid_text() -> str:
    """In place of ONNX Runtime's text when the model's own text is not UTF-8."""
    return "the model holds text that is not valid UTF-8"


def config_entry(key: str, ort_text: str) -> str:
    return f"session config entry '{key}': {ort_text}"


def provider_unavailable(name: str, available: Sequence[str]) -> str:
    return (
        f"execution provider '{name}' is not available in this ONNX Runtime build "
        f"(available: {quoted(available)})"
    )


def cpu_provider_options() -> str:
    return "CPUExecutionProvider takes no provider options"


def session_closed() -> str:
    return "session is closed"


def run_terminated() -> str:
    return (
        "run terminated: RunOptions.terminate() was called (unset_terminate() lets runs "
        "with these options run again)"
    )


def custom_op_library(path: str) -> str:
    """Context of a custom op library ONNX Runtime could not load (its text follows)."""
    return f"registering the custom op library '{path}'"


def dtype_mismatch(role: str, name: str, want: str, given: str | None) -> str:
    return (
        f"{role} '{name}' has dtype {given}, expected {want} (ortnative never casts: "
        f"{cast_hint(want)})"
    )


def rank_mismatch(role: str, name: str, model_shape: Sequence[Any], got: Sequence[int]) -> str:
    return (
        f"{role} '{name}' has shape {format_shape(got)} (rank {len(got)}), expected rank "
        f"{len(model_shape)}: {format_model_shape(model_shape)}"
    )


def dim_mismatch(
    role: str, name: str, model_shape: Sequence[Any], got: Sequence[int], dim: int
) -> str:
    return (
        f"{role} '{name}' has shape {format_shape(got)}, expected "
        f"{format_model_shape(model_shape)} (dimension {dim} must be {model_shape[dim]})"
    )


def missing_input(name: str, description: str, inputs: Sequence[str]) -> str:
    return f"missing input '{name}' ({description}); the model needs all of: {quoted(inputs)}"


def not_a_tensor_input(name: str, description: str) -> str:
    return f"input '{name}' is a {description}, got a tensor"


def not_a_sequence_input(name: str, description: str, count: int) -> str:
    return f"input '{name}' is a {description}, got a sequence of {count}"


def unknown_name(what: str, name: str, names: Sequence[str]) -> str:
    """WHAT: "input" or "output"."""
    return f"unknown {what} name '{name}' (expected one of: {quoted(names)})"


def output_requested_twice(name: str) -> str:
    return f"output '{name}' is requested twice"


def out_not_requested(name: str) -> str:
    return f"out= has an array for output '{name}', which is not among the requested outputs"


def out_kind(name: str, description: str) -> str:
    return (
        f"out= cannot hold output '{name}' ({description}): only numeric tensor outputs can "
        "be written in place"
    )


def out_layout(name: str, contiguous: bool, aligned: bool, writeable: bool) -> str:
    lacks = " or ".join(
        what
        for ok, what in (
            (contiguous, "C-contiguous"),
            (aligned, "aligned"),
            (writeable, "writeable"),
        )
        if not ok
    )
    return (
        f"out array for output '{name}' must be C-contiguous, aligned and writeable; "
        f"this one is not {lacks}"
    )


def out_shape_produced(name: str, given: Sequence[int], produced: Sequence[int]) -> str:
    return (
        f"out array for output '{name}' has shape {format_shape(given)}, but the model "
        f"produces {format_shape(produced)} for these inputs"
    )


#: DLPack's device type names (DLDeviceType), by code.
_DEVICE_NAMES = {
    1: "cpu",
    2: "cuda",
    3: "cuda_host",
    4: "opencl",
    7: "vulkan",
    8: "metal",
    9: "vpi",
    10: "rocm",
    11: "rocm_host",
    12: "ext_dev",
    13: "cuda_managed",
    14: "oneapi",
    15: "webgpu",
    16: "hexagon",
    17: "maia",
    18: "trn",
}


def device_name(device_type: int, device_id: int) -> str:
    """A device as "cuda:0", "rocm:1" (DLPack's names)."""
    name = _DEVICE_NAMES.get(device_type, f"device type {device_type}")
    return f"{name}:{device_id}"


def device_needs_cuda(role: str, name: str, device: str) -> str:
    return (
        f"{role} '{name}' is in CUDA memory ({device}), but this session does not run on "
        "CUDA: copy it to the CPU first (.cpu() in PyTorch), or create the session with "
        "providers=['CUDAExecutionProvider', ...]"
    )


def device_unsupported(role: str, name: str, device: str) -> str:
    return (
        f"{role} '{name}' is in {device} memory, which ortnative cannot hand to ONNX Runtime "
        "(it takes host memory, and CUDA memory on a session that runs on CUDA): copy it to "
        "the CPU first"
    )


def output_device_needs_cuda(device: str) -> str:
    return (
        f"output_device='{device}' needs a session that runs on CUDA: pass "
        "providers=['CUDAExecutionProvider', ...]"
    )


#: What one input was fed, for run_failed: None (no value), a list (a sequence), or
#: (dtype name, shape) of a tensor.
Fed = list[Any] | tuple[str | None, Sequence[int]] | None


def run_failed(ort_text: str, feeds: Sequence[tuple[str, Fed]]) -> str:
    """FEEDS: (input name, what it was fed) for each of the model's inputs, in order."""
    parts = []
    for name, fed in feeds:
        if fed is None:
            parts.append(f"{name} none")
        elif isinstance(fed, list):
            parts.append(f"{name} sequence of {len(fed)}")
        else:
            parts.append(f"{name} {fed[0]} {format_shape(fed[1])}")
    return f"ONNX Runtime failed to run: {ort_text} [feeds: {', '.join(parts)}]"


def bad_string_element(element: int, why: str) -> str:
    """A string array the core refuses, in place of its dtype ("str (element 3 is not
    valid UTF-8)"); WHY: "not valid UTF-8", "not valid Unicode: U+D800"."""
    return f"str (element {element} is {why})"


# -- preprocessing (C++: msg:: 'preprocessing'; preprocess.cpp) -----------------------------


def image_dtype(index: int, given: str) -> str:
    return (
        f"image {index} has dtype {given}, expected uint8 (ImagePreprocessor takes 8-bit "
        "images; never cast silently)"
    )


def image_shape(index: int, shape: Sequence[int]) -> str:
    return f"image {index} has shape {format_shape(shape)}, expected an HxW or HxWxC array"


def image_channels(index: int, shape: Sequence[int], got: int, want: int, order: str) -> str:
    return (
        f"image {index} has {got} channel{'' if got == 1 else 's'} (shape "
        f"{format_shape(shape)}), expected {want} for input_order '{order}'"
    )


def image_empty(index: int, shape: Sequence[int]) -> str:
    return f"image {index} is empty (shape {format_shape(shape)})"


def image_rows_too_long(index: int, row_bytes: int) -> str:
    return f"image {index} has rows of {row_bytes} bytes; at most 2147483631 are supported"


def no_images() -> str:
    return "no images given"


def preprocess_out_dtype(given: str, want: str) -> str:
    return f"out has dtype {given}, expected {want} (the preprocessor's dtype)"


def preprocess_out_shape(shape: Sequence[int], want: Sequence[int], layout: str, n: int) -> str:
    dims = "N, C, H, W" if layout == "nchw" else "N, H, W, C"
    return (
        f"out has shape {format_shape(shape)}, expected {format_shape(want)} "
        f"({dims} for {n} image{'' if n == 1 else 's'})"
    )


def preprocess_out_layout() -> str:
    return (
        "out must be writeable and aligned, with a contiguous last dimension (a C-contiguous "
        "array, or a slice of one along its first axes)"
    )


def image_size(height: int, width: int) -> str:
    return f"image size must be positive, got ({height}, {width})"


# -- scheduling (C++: msg:: 'scheduling'; scheduler.cpp, scheduler_run.cpp) -----------------
# Text after the "model 'name': " prefix where the core gives one (requests, batching).


def request_timed_out(timeout_us: int) -> str:
    return f"request timed out after {milliseconds(timeout_us)} ms in the queue; it never ran"


def request_cancelled() -> str:
    return "request cancelled before it ran"


def request_cancelled_running() -> str:
    return "request cancelled while it ran (its run was stopped)"


def closed_before_run() -> str:
    return "the scheduler was closed before the request ran"


def scheduler_closed_request() -> str:
    return "the scheduler is closed; request refused"


def scheduler_closed_model(name: str) -> str:
    """No prefix: the model was not added."""
    return f"the scheduler is closed; model '{name}' was not added"


def queue_full(max_queue_size: int) -> str:
    return f"queue full (max_queue_size={max_queue_size}); request refused, try again later"


def unknown_model(name: str, models: Sequence[str]) -> str:
    """No prefix."""
    known = ", ".join(f"'{m}'" for m in models) or "none"
    return f"unknown model '{name}' (models: {known})"


def model_already_added(name: str) -> str:
    """No prefix."""
    return f"a model named '{name}' was already added"


def cannot_batch(max_batch_size: int, why: str) -> str:
    """WHY: what check_batchable found (in _fallback_batch.py, as in the core)."""
    return (
        f"max_batch_size={max_batch_size} needs every input and output to be a numeric tensor "
        f"with a free first (batch) dimension, but {why}; use max_batch_size=1 for this model"
    )


def warmup_no_value(name: str) -> str:
    return f"warm-up cannot make a value for input '{name}'; add the model without warmup"


def warmup_cannot_split(rows: int) -> str:
    return (
        f"warm-up: the outputs of a batch of {rows} rows do not have that many rows; this "
        "model cannot batch, use max_batch_size=1"
    )


# -- Python-only: objects C++ hosts never meet ------------------------------------------------
# Errors about Python objects (containers, NumPy arrays, str names): worded here once and
# raised by both backends; the native bindings look them up by name. Each returns the
# exception to raise; LABEL is the "model 'name'" prefix.


def feeds_container(label: str, got: str) -> Exception:
    return InvalidTypeError(
        f"{label}: feeds must be a dict {{name: array}}, a list of arrays in input order, or "
        f"one array for a single-input model; got {got}"
    )


def single_array(label: str, names: Sequence[str]) -> Exception:
    return InvalidInputError(
        f"{label}: a single array was given, but the model has {len(names)} inputs "
        f"({quoted(names)}); pass a dict {{name: array}}"
    )


def feeds_in_order(label: str, given: int, names: Sequence[str]) -> Exception:
    return InvalidInputError(
        f"{label}: {given} feeds were given in order, but the model has {len(names)} inputs "
        f"({quoted(names)})"
    )


def name_not_str(label: str, what: str, got: str) -> Exception:
    """WHAT: "feed" or "output"."""
    return InvalidInputError(f"{label}: {what} names must be str, got {got}")


def outputs_not_list(label: str, got: str) -> Exception:
    return InvalidTypeError(f"{label}: outputs must be a list of output names, got {got}")


def out_not_dict(label: str, got: str) -> Exception:
    return InvalidTypeError(f"{label}: out must be a dict {{output name: array}}, got {got}")


def run_options_type(got: str) -> Exception:
    return InvalidTypeError(f"run_options must be an ortnative.RunOptions or None, got {got}")


def out_not_array(label: str, output: str, got: str) -> Exception:
    return InvalidTypeError(
        f"{label}: out array for output '{output}' must be a numpy array or a DLPack tensor "
        f"(torch.Tensor, ...), got {got}"
    )


def requires_grad(label: str, role: str, name: str, got: str) -> Exception:
    """A torch tensor that requires grad, fed or given as an out= target (ROLE: "input",
    "out array for output"). Never detached silently: the caller decides."""
    return InvalidInputError(
        f"{label}: {role} '{name}' is a {got} that requires grad: pass tensor.detach() "
        "instead (ONNX Runtime computes no gradients, and ortnative never detaches silently)"
    )


def dlpack_failed(label: str, role: str, name: str, got: str, why: str) -> Exception:
    """OBJ.__dlpack__() raised, or returned what ortnative cannot read (WHY says which)."""
    return InvalidInputError(f"{label}: {role} '{name}': {got}.__dlpack__() failed: {why}")


def device_copy_impossible(label: str, role: str, name: str, device: str, lacks: str) -> Exception:
    """A device tensor that would need a copy (LACKS: "C-contiguous", "aligned")."""
    return InvalidInputError(
        f"{label}: {role} '{name}' is a {device} tensor that is not {lacks}: ortnative "
        "copies host memory only; pass a contiguous tensor (.contiguous() in PyTorch)"
    )


def dlpack_export_refused(why: str) -> Exception:
    """A consumer asked DeviceTensor.__dlpack__ for what it cannot give (DLPack says:
    BufferError)."""
    return BufferError(f"ortnative.DeviceTensor cannot be exported as asked: {why}")


#: DLPack's DLDataTypeCode names, by code (the bit width follows the first five).
_DLPACK_CODES = {
    0: "int",
    1: "uint",
    2: "float",
    3: "handle",
    4: "bfloat",
    5: "complex",
    6: "bool",
    7: "float8_e3m4",
    8: "float8_e4m3",
    9: "float8_e4m3b11fnuz",
    10: "float8_e4m3fn",
    11: "float8_e4m3fnuz",
    12: "float8_e5m2",
    13: "float8_e5m2fnuz",
    14: "float8_e8m0fnu",
    15: "float6_e2m3fn",
    16: "float6_e3m2fn",
    17: "float4_e2m1fn",
}


def dlpack_dtype(code: int, bits: int, lanes: int) -> str:
    """How a DLPack element type ortnative has no dtype for is named in place of a dtype:
    "float8_e4m3fn", "int4", "float32x4" (lanes), "DLPack type code 99 (8 bits)"."""
    name = _DLPACK_CODES.get(code)
    if name is None:
        return f"DLPack type code {code} ({bits} bits)"
    if code <= 5 or (code == 6 and bits != 8):
        name = f"{name}{bits}"
    return name if lanes == 1 else f"{name}x{lanes}"


def images_container(got: str) -> Exception:
    return InvalidTypeError(
        "images must be a numpy uint8 array (an image, or an NxHxWxC batch) or a list of "
        f"them, got {got}"
    )


def image_not_array(index: int, got: str) -> Exception:
    return InvalidTypeError(f"image {index} must be a numpy array, got {got}")


def preprocess_out_not_array(got: str) -> Exception:
    return InvalidTypeError(f"out must be a numpy array, got {got}")


def str_element(element: int, why: str) -> str:
    """How a string array the core refuses is named in place of its dtype: "str (element
    3 is not valid UTF-8)"."""
    return f"str (element {element} is {why})"


def object_element(element: int, type_name: str) -> str:
    """How an object array with a non-string element is named: "object (element 0 is int)"."""
    return f"object (element {element} is {type_name})"


def scheduler_at_finalization() -> Exception:
    return SchedulerClosedError(
        "the interpreter is finalising: a Scheduler cannot start its threads now"
    )


def no_numpy_dtype(onnx_type: int) -> Exception:
    return InvalidTypeError(f"ortnative has no NumPy dtype for ONNX element type {onnx_type}")


def bfloat16_needs_ml_dtypes() -> Exception:
    return InvalidTypeError("a bfloat16 tensor needs the ml_dtypes package (pip install ml_dtypes)")


# -- Python-only text: pieces of messages that only the Python side writes ---------------
# (the first as the native bindings write it: cpp/python/numpy_bridge.cpp).


def not_a_string_element(element: int, got: str) -> str:
    """An object array for a string input, in place of its dtype: "object (element 2 is
    int)"; the text, as bad_string_element's."""
    return f"object (element {element} is {got})"


def interpreter_exiting() -> str:
    """Text after the prefix: the python backend's runs from other threads at exit."""
    return "the interpreter is exiting: only the exiting thread may run the python backend now"


# -- Python-only: the package's own checks ---------------------------------------------------
# (session.py, scheduler.py, preprocess.py, pipeline.py). Each returns the exception.


def model_source(got: str) -> Exception:
    return InvalidTypeError(
        f"model must be a path (str or os.PathLike) or the model's bytes, got {got}"
    )


def model_bytes_not_contiguous() -> Exception:
    return InvalidArgumentError("model bytes must be a contiguous buffer")


def cannot_pickle_session(name: str) -> Exception:
    return TypeError(
        f"cannot pickle Session {name!r}: it was loaded from bytes and keeps no copy of them; "
        "load it from a path, or pass keep_model=True (which keeps the model's bytes in memory "
        "for the session's lifetime)"
    )


def model_name(got: Any) -> Exception:
    return InvalidArgumentError(f"a model name must be a non-empty str, got {got!r}")


def add_model_both_delays() -> Exception:
    return TypeError("add_model() got both max_queue_delay_us and max_queue_delay_ms")


def add_model_keyword(key: str, session: Iterable[str], model: Iterable[str]) -> Exception:
    return TypeError(
        f"add_model() got an unexpected keyword argument {key!r} (session options: "
        f"{', '.join(session)}; model options: {', '.join(model)})"
    )


def metrics_prefix(got: Any) -> Exception:
    return InvalidArgumentError(
        "prefix must start a Prometheus metric name (a letter or _, then letters, digits or "
        f"_), got {got!r}"
    )


def coordinates(shape: Sequence[int]) -> Exception:
    return InvalidArgumentError(
        f"coordinates must be (x, y) pairs along the last axis, got shape {format_shape(shape)}"
    )


def which_image_input(names: Sequence[str]) -> Exception:
    return InvalidArgumentError(
        f"the model has {len(names)} inputs ({repr_list(names)}): pass input_name"
    )


def unknown_image_input(name: Any, names: Sequence[str]) -> Exception:
    return InvalidArgumentError(f"unknown input name {name!r} (the model has: {repr_list(names)})")


def not_an_image_batch(name: str, shape: Sequence[Any]) -> Exception:
    return InvalidArgumentError(
        f"input '{name}' {format_model_shape(shape)} is not an image batch: "
        "ImagePreprocessor makes 4-D NCHW or NHWC tensors"
    )


def image_layout_unknown(name: str, shape: Sequence[Any]) -> Exception:
    return InvalidArgumentError(
        f"cannot tell the layout of input '{name}' {format_model_shape(shape)}: "
        "pass layout='nchw' or layout='nhwc'"
    )


def image_size_free(name: str, shape: Sequence[Any]) -> Exception:
    return InvalidArgumentError(
        f"input '{name}' {format_model_shape(shape)} has free spatial dimensions: pass "
        "size=(height, width)"
    )


def image_channel_count(name: str, shape: Sequence[Any], channels: int) -> Exception:
    return InvalidArgumentError(
        f"input '{name}' {format_model_shape(shape)} has {channels} channels; "
        "ImagePreprocessor makes 1 (gray) or 3"
    )


def image_input_dtype(name: str, dtype: str | None, supported: Sequence[str]) -> Exception:
    return InvalidArgumentError(
        f"input '{name}' takes {dtype or 'an unsupported type'}; ImagePreprocessor makes "
        f"{', '.join(supported)}"
    )


def pipeline_dtype(makes: Any, name: str, takes: Any) -> Exception:
    return InvalidArgumentError(f"the preprocessor makes {makes}, but input '{name}' takes {takes}")


def pipeline_shape(makes: Sequence[Any], layout: str, name: str, shape: Sequence[Any]) -> Exception:
    return InvalidArgumentError(
        f"the preprocessor makes {format_model_shape(makes)} ({layout}), but input '{name}' "
        f"is {format_model_shape(shape)}"
    )
