#include "ortnative/dtype.hpp"

#include <onnxruntime_c_api.h>

namespace ortnative {

// DType's values are ORT's element types; the code relies on it.
static_assert(static_cast<int>(DType::kFloat32) == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT);
static_assert(static_cast<int>(DType::kUInt8) == ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8);
static_assert(static_cast<int>(DType::kInt8) == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8);
static_assert(static_cast<int>(DType::kUInt16) == ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16);
static_assert(static_cast<int>(DType::kInt16) == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16);
static_assert(static_cast<int>(DType::kInt32) == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32);
static_assert(static_cast<int>(DType::kInt64) == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64);
static_assert(static_cast<int>(DType::kString) == ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING);
static_assert(static_cast<int>(DType::kBool) == ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL);
static_assert(static_cast<int>(DType::kFloat16) == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16);
static_assert(static_cast<int>(DType::kFloat64) == ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE);
static_assert(static_cast<int>(DType::kUInt32) == ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32);
static_assert(static_cast<int>(DType::kUInt64) == ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64);
static_assert(static_cast<int>(DType::kComplex64) == ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX64);
static_assert(static_cast<int>(DType::kComplex128) == ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX128);
static_assert(static_cast<int>(DType::kBFloat16) == ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16);

std::size_t dtype_itemsize(DType dtype) noexcept {
  switch (dtype) {
    case DType::kBool:
    case DType::kUInt8:
    case DType::kInt8: return 1;
    case DType::kUInt16:
    case DType::kInt16:
    case DType::kFloat16:
    case DType::kBFloat16: return 2;
    case DType::kFloat32:
    case DType::kUInt32:
    case DType::kInt32: return 4;
    case DType::kFloat64:
    case DType::kUInt64:
    case DType::kInt64:
    case DType::kComplex64: return 8;
    case DType::kComplex128: return 16;
    default: return 0;
  }
}

std::string_view dtype_name(DType dtype) noexcept {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kUInt16: return "uint16";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kString: return "str";
    case DType::kBool: return "bool";
    case DType::kFloat16: return "float16";
    case DType::kFloat64: return "float64";
    case DType::kUInt32: return "uint32";
    case DType::kUInt64: return "uint64";
    case DType::kComplex64: return "complex64";
    case DType::kComplex128: return "complex128";
    case DType::kBFloat16: return "bfloat16";
    default: return "unsupported";
  }
}

DType dtype_from_name(std::string_view name) noexcept {
  for (int t = 1; t <= static_cast<int>(DType::kBFloat16); ++t) {
    const auto d = static_cast<DType>(t);
    if (dtype_supported(d) && dtype_name(d) == name) return d;
  }
  return DType::kUndefined;
}

bool dtype_supported(DType dtype) noexcept {
  return dtype == DType::kString || dtype_itemsize(dtype) != 0;
}

}  // namespace ortnative
