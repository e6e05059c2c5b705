"""A DLPack producer written with ctypes, for what no framework here can make: tensors in
CUDA (or ROCm) memory on a machine without a GPU, producers older than DLPack 1.0, odd
layouts. ortnative must refuse device tensors a session cannot take before it reads a
byte of them, so a fake address is enough for those; host-memory fakes point at a NumPy
array they keep alive.

The class is named ``Tensor`` so that messages read as they do for torch.Tensor. The
DLPack structs are written out here from the DLPack header, not imported from
``ortnative._dlpack``: a layout mistake there must not be repeated by the fakes that test
it.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

_VERSIONED = b"dltensor_versioned"
_LEGACY = b"dltensor"

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _Managed(ctypes.Structure):
    _fields_ = [
        ("dl_tensor", _DLTensor),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _ManagedVersioned(ctypes.Structure):
    _fields_ = [
        ("version", _Version),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", _DLTensor),
    ]


CPU, CUDA, ROCM = 1, 2, 10
FLOAT32 = (2, 32, 1)


class Tensor:
    """A DLPack producer. DEVICE (type, id), DTYPE (code, bits, lanes), SHAPE and STRIDES
    (elements; None = compact) describe the tensor; ARRAY, when given, is its memory
    (kept alive here), else DATA is a made-up address. LEGACY_ONLY: a pre-1.0 producer
    (no max_version keyword). READ_ONLY sets DLPack's read-only flag. Every __dlpack__
    call's keywords are recorded in ``calls``. The capsules have no destructor: the
    structs they point at live as long as this object."""

    requires_grad = False  # a class attribute, as torch.Tensor's

    def __init__(
        self,
        shape: tuple[int, ...],
        *,
        device: tuple[int, int] = (CUDA, 0),
        dtype: tuple[int, int, int] = FLOAT32,
        strides: tuple[int, ...] | None = None,
        array: np.ndarray | None = None,
        data: int = 0x1000,
        legacy_only: bool = False,
        read_only: bool = False,
        requires_grad: bool = False,
        version: tuple[int, int] = (1, 0),
    ) -> None:
        self.shape = shape
        self.device = device
        self.dtype = dtype
        self.strides = strides
        self.array = array
        self.data = array.ctypes.data if array is not None else data
        self.legacy_only = legacy_only
        self.read_only = read_only
        self.requires_grad = requires_grad
        self.version = version
        self.calls: list[dict[str, Any]] = []
        self._keep: list[Any] = []

    @classmethod
    def over(cls, array: np.ndarray, **kw: Any) -> Tensor:
        """A host-memory fake over ARRAY (C-contiguous float32)."""
        assert array.dtype == np.float32
        assert array.flags.c_contiguous
        return cls(array.shape, device=(CPU, 0), array=array, **kw)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.legacy_only and "max_version" in kwargs:
            raise TypeError("__dlpack__() got an unexpected keyword argument 'max_version'")
        n = len(self.shape)
        shape = (ctypes.c_int64 * max(n, 1))(*self.shape)
        strides = (ctypes.c_int64 * max(n, 1))(*self.strides) if self.strides else None
        t = _DLTensor(
            ctypes.c_void_p(self.data),
            _DLDevice(*self.device),
            n,
            _DLDataType(*self.dtype),
            ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64)),
            ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64)) if strides else None,
            0,
        )
        if "max_version" in kwargs and kwargs["max_version"] is not None:
            m: Any = _ManagedVersioned(_Version(*self.version), None, None, int(self.read_only), t)
            name = _VERSIONED
        else:
            m = _Managed(t, None, None)
            name = _LEGACY
        self._keep += [shape, strides, m]
        return _capsule_new(ctypes.addressof(m), name, None)
