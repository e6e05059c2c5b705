"""Error wording for the pure-Python backend, kept identical to the C++ core's
(cpp/src/session.cpp), so both backends say the same thing; tests compare them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


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
