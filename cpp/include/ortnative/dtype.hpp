// Element types of tensors. The numeric values are ONNX's TensorProto.DataType, which
// ORT's ONNXTensorElementDataType also uses, so no table is needed to convert.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ortnative {

enum class DType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,  // elements are variable-length UTF-8 strings (see TensorView)
  kBool = 9,    // one byte per element, 0 or 1
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
};

// Bytes per element; 0 for kString and for types ortnative does not support.
std::size_t dtype_itemsize(DType dtype) noexcept;

// NumPy's name for the type ("float32", "bool", "bfloat16", "str"); "undefined(N)"
// style names are not produced: unsupported types give "unsupported".
std::string_view dtype_name(DType dtype) noexcept;

// The inverse of dtype_name for the supported types; kUndefined for any other name.
DType dtype_from_name(std::string_view name) noexcept;

// True for the element types ortnative can feed and return.
bool dtype_supported(DType dtype) noexcept;

}  // namespace ortnative
