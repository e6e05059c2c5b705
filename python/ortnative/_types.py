"""Types shared by both backends."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

Dim = int | str | None


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
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        dt = "unsupported" if self.dtype is None else _dtype_label(self.dtype)
        return f"TensorInfo({self.name!r}, {dt}, [{dims}])"


def _dtype_label(dtype: np.dtype) -> str:
    return "str" if dtype == np.dtype(object) else str(dtype)
