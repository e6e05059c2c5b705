"""Bad input: a typed error with a message naming what was wrong, the same on both
backends, and the process (and the session) alive afterwards.

CASES is the catalogue: each entry builds a model, does one bad thing, and names the
exception and the message it must give. test_same_message_on_both_backends then
checks the two backends word it identically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dlpack_fakes as fakes
import numpy as np
import ortnative as ortn
import pytest
from conftest import check_error, require_backend
from ortnative import models

F32 = np.float32


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the bad input, in words (for the docs' catalogue)
    model: Callable[[], bytes] | None  # None: the case builds its own session
    act: Callable[[Any], Any]  # gets a Session (or the backend name when model is None)
    exc: type[BaseException]
    match: str  # regular expression the message must match
    also: tuple[type[BaseException], ...] = ()  # built-in bases it must also be


def x14(shape=(1, 4), dtype=F32):
    return np.zeros(shape, dtype)


def read_only(shape: tuple[int, ...]) -> np.ndarray:
    a = np.zeros(shape, F32)
    a.flags.writeable = False
    return a


def new_session(backend: str, model: Any, **kw: Any) -> ortn.Session:
    return ortn.Session(model, backend=backend, **kw)


def _terminated() -> ortn.RunOptions:
    ro = ortn.RunOptions()
    ro.terminate()
    return ro


CASES = [
    # --- feeds ---------------------------------------------------------------------
    Case(
        "unknown-input",
        "a feed name the model does not have",
        models.add_one,
        lambda s: s.run({"z": x14()}),
        ortn.InvalidInputError,
        r"^model '<bytes>': unknown input name 'z' \(expected one of: 'x'\)$",
        (ValueError,),
    ),
    Case(
        "missing-input",
        "a required input left out",
        models.two_inputs,
        lambda s: s.run({"a": x14((1, 3))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': missing input 'b' \(float32 \[N, 3\]\); the model needs all of: 'a', 'b'$",
    ),
    Case(
        "wrong-dtype",
        "float64 where float32 is expected",
        models.add_one,
        lambda s: s.run({"x": x14(dtype=np.float64)}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype float64, expected float32 \(ortnative never "
        r"casts: convert with \.astype\(numpy\.float32\)\)$",
        (TypeError,),
    ),
    Case(
        "wrong-dtype-int",
        "int64 where float32 is expected",
        models.add_one,
        lambda s: s.run({"x": np.zeros((1, 4), np.int64)}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype int64, expected float32 \(ortnative "
        r"never casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    Case(
        "python-list",
        "a Python list of floats (float64) for a float32 input",
        models.add_one,
        lambda s: s.run({"x": [[0.0, 1.0, 2.0, 3.0]]}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype float64, expected float32 \(ortnative "
        r"never casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    Case(
        "wrong-rank",
        "an array of the wrong rank",
        models.add_one,
        lambda s: s.run({"x": x14((1, 1, 4))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': input 'x' has shape \(1, 1, 4\) \(rank 3\), expected rank 2: \[1, 4\]$",
    ),
    Case(
        "wrong-dim",
        "a fixed dimension of the wrong size",
        models.two_inputs,
        lambda s: s.run({"a": x14((2, 3)), "b": x14((2, 4))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': input 'b' has shape \(2, 4\), expected \[N, 3\] \(dimension 1 must be 3\)$",
    ),
    Case(
        "big-endian",
        "a float32 array in non-native byte order",
        models.add_one,
        lambda s: s.run({"x": x14().astype(">f4")}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype >f4, expected float32 \(ortnative never "
        r"casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    Case(
        "complex-unsupported",
        "a dtype ortnative has no ONNX type for (clongdouble)",
        models.add_one,
        lambda s: s.run({"x": x14(dtype=np.clongdouble)}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype complex256, expected float32 "
        r"\(ortnative never casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    Case(
        "object-for-float",
        "an object array for a numeric input",
        models.add_one,
        lambda s: s.run({"x": np.zeros((1, 4), object)}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype object, expected float32 \(ortnative never "
        r"casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    Case(
        "none-for-required",
        "None for a required input",
        models.add_one,
        lambda s: s.run({"x": None}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype object, expected float32 \(ortnative never "
        r"casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    Case(
        "str-for-float",
        "strings for a numeric input",
        models.add_one,
        lambda s: s.run({"x": np.array([["a", "b", "c", "d"]])}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype str, expected float32 \(ortnative never "
        r"casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    Case(
        "float-for-str",
        "numbers for a string input",
        lambda: models.identity("str"),
        lambda s: s.run({"x": np.zeros(2, F32)}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype float32, expected str \(ortnative never "
        r"casts: pass str values\)$",
    ),
    Case(
        "bad-string-element",
        "a non-string element in an object array for a string input",
        lambda: models.identity("str"),
        lambda s: s.run({"x": np.array(["a", 3], dtype=object)}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype object \(element 1 is int\), expected "
        r"str \(ortnative never casts: pass str values\)$",
    ),
    Case(
        "invalid-unicode",
        "a str array holding a code point beyond U+10FFFF",
        lambda: models.identity("str"),
        lambda s: s.run({"x": np.frombuffer(np.array([65, 0x110000], np.uint32).tobytes(), "<U1")}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype str \(element 1 is not valid Unicode: "
        r"U\+110000\), expected str \(ortnative never casts: pass str values\)$",
    ),
    Case(
        "lone-surrogate",
        "a str with a lone surrogate for a string input",
        lambda: models.identity("str"),
        lambda s: s.run({"x": np.array(["ok", "a\ud800"], dtype=object)}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype str \(element 1 is not valid Unicode: "
        r"U\+D800\), expected str \(ortnative never casts: pass str values\)$",
    ),
    Case(
        "invalid-utf8",
        "bytes that are not UTF-8 for a string input",
        lambda: models.identity("str"),
        lambda s: s.run({"x": np.array([b"ok", b"\xff\xfe"])}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype str \(element 1 is not valid UTF-8\), "
        r"expected str \(ortnative never casts: pass str values\)$",
    ),
    Case(
        "feed-name-type",
        "a feed name that is not a str",
        models.add_one,
        lambda s: s.run({1: x14()}),
        ortn.InvalidInputError,
        r"^model '<bytes>': feed names must be str, got int$",
    ),
    Case(
        "feeds-type",
        "feeds that are not a dict, list or array",
        models.add_one,
        lambda s: s.run(42),
        ortn.InvalidTypeError,
        r"^model '<bytes>': feeds must be a dict \{name: array\}, a list of arrays in input "
        r"order, or one array for a single-input model; got int$",
    ),
    Case(
        "single-array-multi-input",
        "one array for a model with several inputs",
        models.two_inputs,
        lambda s: s.run(x14((1, 3))),
        ortn.InvalidInputError,
        r"^model '<bytes>': a single array was given, but the model has 2 inputs \('a', "
        r"'b'\); pass a dict \{name: array\}$",
    ),
    Case(
        "list-length",
        "a list of feeds of the wrong length",
        models.two_inputs,
        lambda s: s.run([x14((1, 3))]),
        ortn.InvalidInputError,
        r"^model '<bytes>': 1 feeds were given in order, but the model has 2 inputs "
        r"\('a', 'b'\)$",
    ),
    Case(
        "sequence-as-tensor",
        "an array where a sequence of tensors is expected",
        models.sequence_model,
        lambda s: s.run({"seq": np.zeros(2, F32)}),
        ortn.InvalidInputError,
        r"^model '<bytes>': input 'seq' is a sequence of float32 tensors, got a tensor$",
    ),
    Case(
        "sequence-element-dtype",
        "a sequence element of the wrong dtype",
        models.sequence_model,
        lambda s: s.run({"seq": [np.zeros(2, np.float64)]}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': element of input 'seq' has dtype float64, expected float32 "
        r"\(ortnative never casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    # --- DLPack tensors (torch, JAX, CuPy, ...; tests/dlpack_fakes.py stands in) -----
    Case(
        "dlpack-requires-grad",
        "a torch tensor that requires grad",
        models.add_one,
        lambda s: s.run({"x": fakes.Tensor.over(x14(), requires_grad=True)}),
        ortn.InvalidInputError,
        r"^model '<bytes>': input 'x' is a Tensor that requires grad: pass tensor\.detach\(\) "
        r"instead \(ONNX Runtime computes no gradients, and ortnative never detaches "
        r"silently\)$",
        (ValueError,),
    ),
    Case(
        "dlpack-cuda-on-cpu-session",
        "a CUDA tensor for a session that does not run on CUDA",
        models.add_one,
        lambda s: s.run({"x": fakes.Tensor((1, 4))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': input 'x' is in CUDA memory \(cuda:0\), but this session does not "
        r"run on CUDA: copy it to the CPU first \(\.cpu\(\) in PyTorch\), or create the "
        r"session with providers=\['CUDAExecutionProvider', \.\.\.\]$",
    ),
    Case(
        "dlpack-other-device",
        "a tensor in memory ortnative cannot hand to ONNX Runtime (ROCm)",
        models.add_one,
        lambda s: s.run({"x": fakes.Tensor((1, 4), device=(fakes.ROCM, 0))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': input 'x' is in rocm:0 memory, which ortnative cannot hand to ONNX "
        r"Runtime \(it takes host memory, and CUDA memory on a session that runs on CUDA\): "
        r"copy it to the CPU first$",
    ),
    Case(
        "dlpack-device-copy",
        "a non-contiguous CUDA tensor (a copy would be needed)",
        models.add_one,
        lambda s: s.run({"x": fakes.Tensor((1, 4), strides=(1, 2))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': input 'x' is a cuda:0 tensor that is not C-contiguous: ortnative "
        r"copies host memory only; pass a contiguous tensor \(\.contiguous\(\) in PyTorch\)$",
    ),
    Case(
        "dlpack-unknown-dtype",
        "a DLPack element type ortnative has no dtype for",
        models.add_one,
        lambda s: s.run({"x": fakes.Tensor.over(x14(), dtype=(10, 8, 1))}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': input 'x' has dtype float8_e4m3fn, expected float32 \(ortnative "
        r"never casts: convert with \.astype\(numpy\.float32\)\)$",
        (TypeError,),
    ),
    Case(
        "dlpack-failing-export",
        "an object whose __dlpack__ raises",
        models.add_one,
        lambda s: s.run({"x": fakes.Tensor.over(x14(), version=(2, 0))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': input 'x': Tensor\.__dlpack__\(\) failed: it gave DLPack 2\.0, "
        r"newer than ortnative reads \(1\.x\)$",
    ),
    Case(
        "dlpack-out-read-only",
        "a read-only DLPack tensor as out=",
        models.add_one,
        lambda s: s.run({"x": x14()}, out={"y": fakes.Tensor.over(x14(), read_only=True)}),
        ortn.InvalidInputError,
        r"^model '<bytes>': out array for output 'y' must be C-contiguous, aligned and "
        r"writeable; this one is not writeable$",
    ),
    Case(
        "dlpack-out-cuda-on-cpu-session",
        "a CUDA tensor as out= for a session that does not run on CUDA",
        models.add_one,
        lambda s: s.run({"x": x14()}, out={"y": fakes.Tensor((1, 4))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': out array for output 'y' is in CUDA memory \(cuda:0\), but this "
        r"session does not run on CUDA",
    ),
    # --- outputs and out= ------------------------------------------------------------
    Case(
        "unknown-output",
        "an unknown name in outputs=",
        models.add_one,
        lambda s: s.run({"x": x14()}, ["nope"]),
        ortn.InvalidInputError,
        r"^model '<bytes>': unknown output name 'nope' \(expected one of: 'y'\)$",
    ),
    Case(
        "outputs-str",
        "outputs= given as a str, not a list",
        models.add_one,
        lambda s: s.run({"x": x14()}, "y"),
        ortn.InvalidTypeError,
        r"^model '<bytes>': outputs must be a list of output names, got str$",
    ),
    Case(
        "outputs-twice",
        "the same output requested twice",
        models.add_one,
        lambda s: s.run({"x": x14()}, ["y", "y"]),
        ortn.InvalidInputError,
        r"^model '<bytes>': output 'y' is requested twice$",
    ),
    Case(
        "out-type",
        "out= that is not a dict",
        models.add_one,
        lambda s: s.run({"x": x14()}, out=[x14()]),
        ortn.InvalidTypeError,
        r"^model '<bytes>': out must be a dict \{output name: array\}, got list$",
    ),
    Case(
        "out-unknown",
        "an out= array for an output the model lacks",
        models.add_one,
        lambda s: s.run({"x": x14()}, out={"z": x14()}),
        ortn.InvalidInputError,
        r"^model '<bytes>': unknown output name 'z' \(expected one of: 'y'\)$",
    ),
    Case(
        "out-not-requested",
        "an out= array for an output not in outputs=",
        models.two_inputs,
        lambda s: s.run({"a": x14((1, 3)), "b": x14((1, 3))}, ["sum"], out={"prod": x14((1, 3))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': out= has an array for output 'prod', which is not among the "
        r"requested outputs$",
    ),
    Case(
        "out-not-array-not-requested",
        "an out= value that is not an array, for an output not requested: the type first",
        models.two_inputs,
        lambda s: s.run({"a": x14((2, 3)), "b": x14((2, 3))}, ["sum"], out={"prod": None}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': out array for output 'prod' must be a numpy array or a DLPack "
        r"tensor \(torch\.Tensor, \.\.\.\), got NoneType$",
    ),
    Case(
        "out-not-array",
        "an out= value that is not an array",
        models.add_one,
        lambda s: s.run({"x": x14()}, out={"y": [0.0] * 4}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': out array for output 'y' must be a numpy array or a DLPack tensor "
        r"\(torch\.Tensor, \.\.\.\), got list$",
    ),
    Case(
        "out-dtype",
        "an out= array of the wrong dtype",
        models.add_one,
        lambda s: s.run({"x": x14()}, out={"y": x14(dtype=np.float64)}),
        ortn.InvalidTypeError,
        r"^model '<bytes>': out array for output 'y' has dtype float64, expected "
        r"float32 \(ortnative never casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    Case(
        "out-dtypes-two",
        "two out= arrays of dtypes ortnative has no ONNX type for: the first is named",
        models.two_inputs,
        lambda s: s.run(
            {"a": x14((2, 3)), "b": x14((2, 3))},
            out={"sum": x14((2, 3), dtype=np.clongdouble), "prod": x14((2, 3)).astype(">f4")},
        ),
        ortn.InvalidTypeError,
        r"^model '<bytes>': out array for output 'sum' has dtype complex256, expected "
        r"float32 \(ortnative never casts: convert with \.astype\(numpy\.float32\)\)$",
    ),
    Case(
        "out-shape-fixed",
        "an out= array of the wrong shape (fixed output shape)",
        models.fixed_output,
        lambda s: s.run({"x": x14((2, 3))}, out={"y": x14((2, 4))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': out array for output 'y' has shape \(2, 4\), expected \[2, 3\] "
        r"\(dimension 1 must be 3\)$",
    ),
    Case(
        "out-shape-planned",
        "an out= array whose free dimension disagrees with the inputs",
        models.two_inputs,
        lambda s: s.run({"a": x14((2, 3)), "b": x14((2, 3))}, out={"sum": x14((5, 3))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': out array for output 'sum' has shape \(5, 3\), but the model "
        r"produces \(2, 3\) for these inputs$",
    ),
    Case(
        "out-non-contiguous",
        "a non-contiguous out= array",
        models.fixed_output,
        lambda s: s.run({"x": x14((2, 3))}, out={"y": np.zeros((3, 2), F32).T}),
        ortn.InvalidInputError,
        r"^model '<bytes>': out array for output 'y' must be C-contiguous, aligned and "
        r"writeable; this one is not C-contiguous$",
    ),
    Case(
        "out-read-only",
        "a read-only out= array",
        models.fixed_output,
        lambda s: s.run({"x": x14((2, 3))}, out={"y": read_only((2, 3))}),
        ortn.InvalidInputError,
        r"^model '<bytes>': out array for output 'y' must be C-contiguous, aligned and "
        r"writeable; this one is not writeable$",
    ),
    Case(
        "out-string-output",
        "an out= array for a string output",
        lambda: models.identity("str"),
        lambda s: s.run({"x": np.array(["a"])}, out={"y": np.empty(1, object)}),
        ortn.InvalidInputError,
        r"^model '<bytes>': out= cannot hold output 'y' \(str \[N\]\): only numeric "
        r"tensor outputs can be written in place$",
    ),
    # --- running ----------------------------------------------------------------------
    Case(
        "ort-run-failure",
        "a value ORT rejects while running (Gather index out of range)",
        models.gather,
        lambda s: s.run({"idx": np.array([0, 99], np.int64)}),
        ortn.Error,
        r"^model '<bytes>': ONNX Runtime failed to run: .*out of .*bounds.* \[feeds: idx int64 \(2,\)\]$",
    ),
    Case(
        "closed",
        "run after close()",
        models.add_one,
        lambda s: (s.close(), s.run({"x": x14()})),
        ortn.SessionClosedError,
        r"^model '<bytes>': session is closed$",
    ),
    # --- loading ----------------------------------------------------------------------
    Case(
        "corrupt-bytes",
        "bytes that are not a model",
        None,
        lambda b: new_session(b, b"this is not an onnx model"),
        ortn.ModelLoadError,
        r"^model '<bytes>': loading the model from 25 bytes failed: .*(rotobuf|parse)",
    ),
    Case(
        "truncated-model",
        "a model cut short",
        None,
        lambda b: new_session(b, models.mlp()[:1000]),
        ortn.ModelLoadError,
        r"^model '<bytes>': loading the model from 1000 bytes failed",
    ),
    Case(
        "non-utf8-names",
        "a model whose input name is not UTF-8",
        None,
        lambda b: new_session(
            b, models.identity("float32", shape=("N",)).replace(b"\x01x", b"\x01\xcc")
        ),
        ortn.ModelLoadError,
        r"^model '<bytes>': loading the model from \d+ bytes failed: the model holds text that "
        r"is not valid UTF-8$",
    ),
    Case(
        "empty-bytes",
        "empty model bytes",
        None,
        lambda b: new_session(b, b""),
        ortn.ModelLoadError,
        r"^model '<bytes>': model bytes are empty$",
    ),
    Case(
        "missing-file",
        "a model path that does not exist",
        None,
        lambda b: new_session(b, "/nonexistent/dir/m.onnx"),
        ortn.ModelLoadError,
        r"^model 'm.onnx': model file '/nonexistent/dir/m.onnx' does not exist$",
    ),
    Case(
        "directory",
        "a directory as the model path",
        None,
        lambda b: new_session(b, "/"),
        ortn.ModelLoadError,
        r"^model '/': '/' is a directory, not a model file$",
    ),
    Case(
        "model-type",
        "a model that is neither a path nor bytes",
        None,
        lambda b: new_session(b, 12345),
        ortn.InvalidTypeError,
        r"^model must be a path \(str or os\.PathLike\) or the model's bytes, got int$",
    ),
    # --- options ----------------------------------------------------------------------
    Case(
        "provider-unavailable",
        "an execution provider this ORT build lacks",
        None,
        lambda b: new_session(b, models.add_one(), providers=["NoSuchExecutionProvider"]),
        ortn.InvalidArgumentError,
        r"^model '<bytes>': execution provider 'NoSuchExecutionProvider' is not available in "
        r"this ONNX Runtime build \(available: .*'CPUExecutionProvider'.*\)$",
        (ValueError,),
    ),
    Case(
        "output-device-without-cuda",
        "outputs kept on a CUDA device, for a session that does not run on CUDA",
        None,
        lambda b: new_session(b, models.add_one(), output_device="cuda"),
        ortn.InvalidArgumentError,
        r"^model '<bytes>': output_device='cuda:0' needs a session that runs on CUDA: pass "
        r"providers=\['CUDAExecutionProvider', \.\.\.\]$",
        (ValueError,),
    ),
    Case(
        "output-device-name",
        "an output_device that is neither the CPU nor CUDA",
        None,
        lambda b: new_session(b, models.add_one(), output_device="gpu"),
        ortn.InvalidArgumentError,
        r"^output_device must be 'cpu', 'cuda' or 'cuda:N', got 'gpu'$",
    ),
    Case(
        "providers-str",
        "providers given as a str",
        None,
        lambda b: new_session(b, models.add_one(), providers="CPUExecutionProvider"),
        ortn.InvalidArgumentError,
        r"^providers must be a list such as \['CPUExecutionProvider'\], got "
        r"'CPUExecutionProvider'$",
    ),
    Case(
        "provider-spec",
        "a provider entry of the wrong form",
        None,
        lambda b: new_session(b, models.add_one(), providers=[("CPUExecutionProvider",)]),
        ortn.InvalidArgumentError,
        r"^each provider must be a name or a \(name, \{option: value\}\) pair, got "
        r"\('CPUExecutionProvider',\)$",
    ),
    Case(
        "cpu-provider-options",
        "options for the CPU provider",
        None,
        lambda b: new_session(b, models.add_one(), providers=[("CPUExecutionProvider", {"a": 1})]),
        ortn.InvalidArgumentError,
        r"^model '<bytes>': CPUExecutionProvider takes no provider options$",
    ),
    Case(
        "threads-negative",
        "a negative thread count",
        None,
        lambda b: new_session(b, models.add_one(), intra_op_threads=-1),
        ortn.InvalidArgumentError,
        r"^intra_op_threads must be an int >= 0 \(0 = shared pools\), got -1$",
    ),
    Case(
        "threads-float",
        "a thread count that is not an int",
        None,
        lambda b: new_session(b, models.add_one(), inter_op_threads=1.5),
        ortn.InvalidArgumentError,
        r"^inter_op_threads must be an int >= 0 \(0 = shared pools\), got 1\.5$",
    ),
    Case(
        "graph-optimization",
        "an unknown graph_optimization level",
        None,
        lambda b: new_session(b, models.add_one(), graph_optimization="fast"),
        ortn.InvalidArgumentError,
        r"^graph_optimization must be one of 'disable', 'basic', 'extended', 'all', got "
        r"'fast'$",
    ),
    Case(
        "execution-mode",
        "an unknown execution_mode",
        None,
        lambda b: new_session(b, models.add_one(), execution_mode="async"),
        ortn.InvalidArgumentError,
        r"^execution_mode must be 'sequential' or 'parallel', got 'async'$",
    ),
    Case(
        "config-type",
        "config that is not a dict",
        None,
        lambda b: new_session(b, models.add_one(), config=[("a", "b")]),
        ortn.InvalidArgumentError,
        r"^config must be a dict of str to str, got \[\('a', 'b'\)\]$",
    ),
    Case(
        "custom-op-library-missing",
        "a custom op library that does not exist",
        None,
        lambda b: new_session(b, models.add_one(), custom_op_libraries=["/nonexistent/libops.so"]),
        ortn.InvalidArgumentError,
        r"^model '<bytes>': registering the custom op library '/nonexistent/libops\.so': .*"
        r"/nonexistent/libops\.so.*$",
    ),
    Case(
        "free-dimension-negative",
        "a negative size for a free dimension",
        None,
        lambda b: new_session(b, models.add_one(), free_dimension_overrides={"N": -1}),
        ortn.InvalidArgumentError,
        r"^free_dimension_overrides\['N'\] must be an int from 0 to \d+, got -1$",
    ),
    Case(
        "initializer-strings",
        "a string array as an initializer from memory",
        None,
        lambda b: new_session(b, models.add_one(), initializers={"one": np.array(["a"])}),
        ortn.InvalidArgumentError,
        r"^initializers\['one'\] must have a numeric dtype in native byte order, got <U1 "
        r"\(string tensors cannot be given from memory\)$",
    ),
    Case(
        "initializer-unknown",
        "an external initializer the model does not have",
        None,
        lambda b: new_session(b, models.add_one(), external_initializers={"w": x14()}),
        ortn.ModelLoadError,
        r"^model '<bytes>': loading the model from \d+ bytes failed: .*",
    ),
    Case(
        "log-severity-level",
        "a log severity level out of range",
        None,
        lambda b: new_session(b, models.add_one(), log_severity_level=5),
        ortn.InvalidArgumentError,
        r"^log_severity_level must be an int from 0 to 4 \(0 verbose \.\. 4 fatal, or None\), "
        r"got 5$",
    ),
    Case(
        "run-options-type",
        "run_options that are not an ortnative.RunOptions",
        models.add_one,
        lambda s: s.run({"x": x14()}, run_options={"terminate": True}),
        ortn.InvalidTypeError,
        r"^run_options must be an ortnative\.RunOptions or None, got dict$",
    ),
    Case(
        "run-terminated",
        "a run with RunOptions that were terminated",
        models.add_one,
        lambda s: s.run({"x": x14()}, run_options=_terminated()),
        ortn.RunTerminatedError,
        r"^model '<bytes>': run terminated: RunOptions\.terminate\(\) was called "
        r"\(unset_terminate\(\) lets runs with these options run again\)$",
        (RuntimeError,),
    ),
    Case(
        "backend-name",
        "an unknown backend name",
        None,
        lambda b: new_session(b, models.add_one(), backend="gpu"),
        ortn.InvalidArgumentError,
        r"^backend must be 'native', 'python' or None, got 'gpu'$",
    ),
]


def _trigger(case: Case, backend: str) -> BaseException:
    if case.model is None:
        if case.id == "backend-name":
            with pytest.raises(case.exc) as info:
                ortn.Session(models.add_one(), backend="gpu")
            return info.value
        with pytest.raises(case.exc) as info:
            case.act(backend)
        return info.value
    s = ortn.Session(case.model(), backend=backend)
    with pytest.raises(case.exc) as info:
        case.act(s)
    if case.id != "closed":
        # The session still works after the error.
        good = {i.name: _good_value(i) for i in s.inputs}
        assert isinstance(s.run(good), dict)
    s.close()
    return info.value


def _good_value(info: ortn.TensorInfo) -> Any:
    if info.name == "seq":
        return [np.zeros(1, F32)]
    if info.dtype == np.dtype(object):
        return np.array(["ok"])
    shape = tuple(1 if not isinstance(d, int) else d for d in info.shape)
    return np.zeros(shape, info.dtype)


@pytest.mark.smoke
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, backend: str):
    check_error(_trigger(case, backend), case)


@pytest.mark.smoke
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_message_on_both_backends(case: Case):
    require_backend("native")
    native = _trigger(case, "native")
    python = _trigger(case, "python")
    assert type(native) is type(python)
    assert str(native) == str(python)


def test_catalogue_size():
    # The docs promise a catalogue; keep it from shrinking unnoticed.
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


def test_ort_code_is_kept(backend):
    s = ortn.Session(models.gather(), backend=backend)
    with pytest.raises(ortn.Error) as info:
        s.run({"idx": np.array([99], np.int64)})
    assert isinstance(info.value.ort_code, int)
    assert info.value.ort_code > 0


def test_a_failed_run_logs_nothing(backend, capfd, monkeypatch):
    # The error reaches the caller as an exception; ONNX Runtime's own log line for it
    # would only flood a service's stderr (one line per bad request).
    monkeypatch.delenv("ORTNATIVE_LOG_LEVEL", raising=False)
    s = ortn.Session(models.gather(), backend=backend)
    capfd.readouterr()
    for _ in range(3):
        with pytest.raises(ortn.InvalidInputError):
            s.run({"idx": np.array([99], np.int64)})
    assert capfd.readouterr().err == ""


def test_empty_file(backend, tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    with pytest.raises(
        ortn.ModelLoadError, match=r"^model 'empty.onnx': model file '.*' is empty$"
    ):
        ortn.Session(p, backend=backend)
