"""Types shared by both backends."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._messages import dtype_name, format_model_shape

Dim = int | str | None
#: A model input or output as a backend describes it: (name, NumPy dtype or None, shape,
#: kind), kind one of "tensor", "sequence", "optional", "optional_sequence", "map", "other".
IOInfo = tuple[str, np.dtype[Any] | None, tuple[Dim, ...], str]


class TensorInfo(NamedTuple):
    """A model input or output.

    ``dtype`` is the NumPy dtype of the tensor's elements (``object`` for strings;
    ``None`` for an element type NumPy cannot hold). ``shape`` has an ``int`` per fixed
    dimension, the symbolic name (``str``) of a named free one, and ``None`` for an
    unnamed free one. For a sequence or optional input these describe the tensors it
    holds.
    """

    name: str
    dtype: np.dtype | None
    shape: tuple[Dim, ...]

    def __repr__(self) -> str:
        return (
            f"TensorInfo({self.name!r}, {dtype_name(self.dtype)}, {format_model_shape(self.shape)})"
        )
