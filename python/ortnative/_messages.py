"""Error wording for the pure-Python backend, kept identical to the C++ core's
(cpp/src/session.cpp), so both backends say the same thing; tests compare them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InvalidInputError, InvalidTypeError


def format_shape(shape: Sequence[int]) -> str:
    """A concrete shape as the core writes it: (1, 3), (5,), ()."""
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"


def format_model_shape(shape: Sequence[Any]) -> str:
    """A model shape as the core writes it: [N, 3], with ? for a free unnamed dim."""
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names) if names else "(none)"


def cast_hint(want: str) -> str:
    if want == "str":
        return "pass str values"
    if want == "bfloat16":
        return "convert with .astype(ml_dtypes.bfloat16)"
    if want == "bool":
        return "convert with .astype(numpy.bool_)"
    return f"convert with .astype(numpy.{want})"


def dtype_name(dtype: np.dtype | None) -> str:
    """The core's name for a supported dtype."""
    if dtype is None:
        return "unsupported"
    if dtype.kind in "OUST":
        return "str"
    return str(dtype)


# -- Python-only wording -------------------------------------------------------------------
# Errors about Python objects that C++ hosts never meet (containers, NumPy arrays, str
# names): worded here once and raised by both backends; the native bindings look them up
# by name (cpp/python/messages.hpp, py_error()). Each returns the exception to raise.


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


def out_not_array(label: str, output: str, got: str) -> Exception:
    return InvalidTypeError(
        f"{label}: out array for output '{output}' must be a numpy array, got {got}"
    )


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


def no_numpy_dtype(onnx_type: int) -> Exception:
    return InvalidTypeError(f"ortnative has no NumPy dtype for ONNX element type {onnx_type}")


def bfloat16_needs_ml_dtypes() -> Exception:
    return InvalidTypeError("a bfloat16 tensor needs the ml_dtypes package (pip install ml_dtypes)")
