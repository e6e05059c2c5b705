"""DLPack for the pure-Python backend: the twin of cpp/python/dlpack_bridge.cpp.

Reads a DLPack producer's capsule with ctypes (the ABI is a few plain C structs), so the
python backend takes what the native one takes, refuses what it refuses, in the same
order and with the same words: a tensor that requires grad, a failing ``__dlpack__``, an
element type ortnative has no dtype for, a device tensor that would need a copy. Host
tensors become NumPy arrays over the producer's memory (no copy; the array keeps the
capsule, so the producer's tensor, alive); device tensors become :class:`DeviceFeed`
records, which the fallback binds through onnxruntime's IOBinding.

The capsule is never renamed: the producer's own capsule destructor frees the tensor
when the last array over it goes, as the DLPack protocol provides for.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any, Literal

import numpy as np

from . import _messages as msg

#: DLPack's device types (DLDeviceType) ortnative treats specially.
CPU, CUDA, CUDA_HOST, CUDA_MANAGED = 1, 2, 3, 13
_HOST = (CPU, CUDA_HOST, CUDA_MANAGED)
#: The DLPack version ortnative reads (cpp/python/dlpack_bridge.cpp asks for the header's).
MAX_VERSION = (1, 3)
_READ_ONLY = 1  # DLPACK_FLAG_BITMASK_READ_ONLY


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


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [
        ("dl_tensor", _DLTensor),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
    ]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", _DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", _DLTensor),
    ]


_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_is_valid.restype = ctypes.c_int
_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_get_pointer.restype = ctypes.c_void_p

#: (DLPack type code, bits) -> the core's dtype name.
_DTYPES = {
    (0, 8): "int8",
    (0, 16): "int16",
    (0, 32): "int32",
    (0, 64): "int64",
    (1, 8): "uint8",
    (1, 16): "uint16",
    (1, 32): "uint32",
    (1, 64): "uint64",
    (2, 16): "float16",
    (2, 32): "float32",
    (2, 64): "float64",
    (4, 16): "bfloat16",
    (5, 64): "complex64",
    (5, 128): "complex128",
    (6, 8): "bool",
}
_ORDER: Literal["<", ">"] = "<" if sys.byteorder == "little" else ">"


def offers_dlpack(obj: Any) -> bool:
    """Whether OBJ offers DLPack and is not a NumPy array (those are read as they are)."""
    return not isinstance(obj, np.ndarray) and hasattr(type(obj), "__dlpack__")


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The NumPy dtype of a core dtype name (bfloat16 through ml_dtypes)."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise msg.bfloat16_needs_ml_dtypes() from None
        bf16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
        return bf16
    return np.dtype(name)


class DeviceFeed:
    """A tensor in device memory read from a DLPack capsule (kept here, so the producer's
    tensor stays alive): what the fallback binds with IOBinding."""

    __slots__ = ("capsule", "data_ptr", "device", "dtype", "dtype_name", "shape")

    def __init__(
        self,
        capsule: Any,
        data_ptr: int,
        device: tuple[int, int],
        name: str,
        shape: tuple[int, ...],
    ) -> None:
        self.capsule = capsule
        self.data_ptr = data_ptr
        self.device = device
        self.dtype_name = name
        self.dtype = numpy_dtype(name)
        self.shape = shape


class _Holder:
    """The base of a NumPy array over a capsule's memory: keeps the capsule alive."""

    def __init__(self, capsule: Any, iface: dict[str, Any]) -> None:
        self.capsule = capsule
        self.__array_interface__ = iface


class Read:
    """One DLPack tensor as read: NAME (the core's dtype name, or None with GIVEN naming
    the element type), DEVICE, and either ARRAY (host memory) or FEED (device memory)."""

    __slots__ = (
        "aligned",
        "array",
        "contiguous",
        "device",
        "feed",
        "given",
        "name",
        "source",
        "writeable",
    )

    def __init__(self) -> None:
        self.name: str | None = None
        self.given = ""
        self.device = (CPU, 0)
        self.array: np.ndarray | None = None
        self.feed: DeviceFeed | None = None
        self.contiguous = True
        self.aligned = True
        self.writeable = True
        self.source: Any = None  # an out= target: the caller's object


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def read(obj: Any, label: str, role: str, name: str, stream: int | None) -> Read:
    """Reads OBJ (offers_dlpack(OBJ) holds) as dlpack_view() in the bindings does, in the
    same order, raising the same errors. STREAM: what to pass to __dlpack__ for a device
    tensor (see Session::dlpack_stream); None for host memory is decided here."""
    got = type(obj).__name__
    if getattr(type(obj), "requires_grad", None) is not None and bool(obj.requires_grad):
        raise msg.requires_grad(label, role, name, got)
    device = (CPU, 0)
    if hasattr(type(obj), "__dlpack_device__"):
        try:
            dev = obj.__dlpack_device__()
        except Exception as exc:  # noqa: BLE001 - reported as the native backend reports it
            raise msg.dlpack_failed(label, role, name, got, _error_text(exc)) from None
        if not isinstance(dev, tuple) or len(dev) != 2:
            raise msg.dlpack_failed(
                label,
                role,
                name,
                got,
                "__dlpack_device__() did not return a (device type, id) tuple",
            )
        device = (int(dev[0]), int(dev[1]))
    kwargs: dict[str, Any] = {}
    if device[0] == CUDA:
        kwargs["stream"] = stream
    try:
        try:
            capsule = obj.__dlpack__(max_version=MAX_VERSION, **kwargs)
        except TypeError:  # a producer older than DLPack 1.0
            capsule = obj.__dlpack__(**kwargs)
    except Exception as exc:  # noqa: BLE001 - reported as the native backend reports it
        raise msg.dlpack_failed(label, role, name, got, _error_text(exc)) from None
    out = Read()
    read_only = False
    if type(capsule).__name__ == "PyCapsule" and _is_valid(capsule, b"dltensor_versioned"):
        m = _DLManagedTensorVersioned.from_address(_get_pointer(capsule, b"dltensor_versioned"))
        if m.version.major > MAX_VERSION[0]:
            raise msg.dlpack_failed(
                label,
                role,
                name,
                got,
                f"it gave DLPack {m.version.major}.{m.version.minor}, newer than ortnative "
                f"reads ({MAX_VERSION[0]}.x)",
            )
        t = m.dl_tensor
        read_only = bool(m.flags & _READ_ONLY)
    elif type(capsule).__name__ == "PyCapsule" and _is_valid(capsule, b"dltensor"):
        t = _DLManagedTensor.from_address(_get_pointer(capsule, b"dltensor")).dl_tensor
    else:
        raise msg.dlpack_failed(
            label, role, name, got, f"it returned {type(capsule).__name__}, not a DLPack capsule"
        )
    code, bits, lanes = t.dtype.code, t.dtype.bits, t.dtype.lanes
    out.name = _DTYPES.get((code, bits)) if lanes == 1 else None
    out.device = (t.device.device_type, t.device.device_id)
    if out.name is None:
        out.given = msg.dlpack_dtype(code, bits, lanes)
        return out
    shape = tuple(t.shape[d] for d in range(t.ndim))
    strides = tuple(t.strides[d] for d in range(t.ndim)) if t.strides else None
    data = (t.data or 0) + t.byte_offset
    itemsize = bits // 8
    out.contiguous = _c_contiguous(shape, strides)
    align = itemsize // 2 if code == 5 else itemsize
    out.aligned = align <= 1 or data % align == 0
    out.writeable = not read_only
    if out.device[0] not in _HOST:
        if role == "input" and not (out.contiguous and out.aligned):
            raise msg.device_copy_impossible(
                label,
                role,
                name,
                msg.device_name(*out.device),
                "C-contiguous" if not out.contiguous else "aligned",
            )
        out.feed = DeviceFeed(capsule, data, out.device, out.name, shape)
        return out
    dtype = numpy_dtype(out.name)
    if data == 0 or 0 in shape:
        out.array = np.empty(shape, dtype)
        return out
    iface = {
        "version": 3,
        "data": (data, read_only),
        "shape": shape,
        "typestr": f"|V{itemsize}" if out.name == "bfloat16" else dtype.newbyteorder(_ORDER).str,
        "strides": None if strides is None else tuple(s * itemsize for s in strides),
    }
    arr = np.asarray(_Holder(capsule, iface))
    out.array = arr.view(dtype) if out.name == "bfloat16" else arr
    return out


def _c_contiguous(shape: tuple[int, ...], strides: tuple[int, ...] | None) -> bool:
    if strides is None or 0 in shape:
        return True
    expected = 1
    for size, stride in zip(reversed(shape), reversed(strides), strict=True):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


class DeviceTensor:
    """The python backend's twin of the native ``_core.DeviceTensor``: an output kept in
    device memory (an onnxruntime OrtValue), exported through DLPack without a copy."""

    def __init__(self, value: Any, dtype: np.dtype[Any], device: tuple[int, int]) -> None:
        self._value = value  # onnxruntime.OrtValue
        self.dtype = dtype
        self.shape = tuple(value.shape())
        self._device = device

    @property
    def device(self) -> str:
        return msg.device_name(*self._device)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._device

    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: tuple[int, int] | None = None,
        dl_device: Any = None,
        copy: bool | None = None,
    ) -> Any:
        if dl_device is not None and tuple(dl_device) != self._device:
            raise msg.dlpack_export_refused(
                f"it is on {self.device} and ortnative does not copy it elsewhere"
            )
        if copy:
            raise msg.dlpack_export_refused("ortnative exports without copying (copy=True asked)")
        return self._value._ortvalue.to_dlpack()

    def __repr__(self) -> str:
        return (
            f"<ortnative.DeviceTensor shape={msg.format_shape(self.shape)} "
            f"dtype={self.dtype} device={self.device}>"
        )
