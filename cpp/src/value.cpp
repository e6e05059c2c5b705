#include "ortnative/value.hpp"

#include <utility>

#include "ort_api.hpp"

namespace ortnative {

using detail::check;
using detail::loaded_api;

std::size_t TensorView::element_count() const noexcept {
  std::size_t n = 1;
  for (std::size_t i = 0; i < rank; ++i) n *= static_cast<std::size_t>(shape[i]);
  return n;
}

std::size_t TensorView::byte_size() const noexcept {
  return element_count() * dtype_itemsize(dtype);
}

Value::Value(OrtValue* v) : value_(v) {
  if (v == nullptr) return;
  try {
    describe();
  } catch (...) {
    reset();  // adopted: released even when it cannot be described
    throw;
  }
}

Value Value::adopt_tensor(OrtValue* v, DType dtype, std::span<const int64_t> shape, void* data) {
  Value out;
  out.value_ = v;
  out.kind_ = Kind::kTensor;
  out.dtype_ = dtype;
  out.rank_ = shape.size();
  int64_t* dims = out.inline_dims_;
  if (out.rank_ > kInlineRank) {
    out.heap_dims_.resize(out.rank_);
    dims = out.heap_dims_.data();
  }
  for (std::size_t i = 0; i < out.rank_; ++i) dims[i] = shape[i];
  out.data_ = data;
  return out;
}

Value Value::borrowed(DType dtype, std::span<const int64_t> shape, void* data) {
  return adopt_tensor(nullptr, dtype, shape, data);
}

void Value::describe() {
  OrtValue* v = value_;
  const OrtApi& a = loaded_api();
  int has_value = 1;
  check(a.HasValue(v, &has_value), ErrorCode::kOrt, "reading an ORT value");
  if (has_value == 0) return;  // an absent optional: kind stays kNone, value_ is released
  ONNXType type = ONNX_TYPE_UNKNOWN;
  check(a.GetValueType(v, &type), ErrorCode::kOrt, "reading an ORT value's type");
  if (type == ONNX_TYPE_SEQUENCE) {
    kind_ = Kind::kSequence;
    return;
  }
  if (type == ONNX_TYPE_MAP) {
    kind_ = Kind::kMap;
    return;
  }
  if (type != ONNX_TYPE_TENSOR) {
    throw OrtError(
        "ortnative returns tensors, sequences and maps; this output has ONNX "
        "value type " +
        std::to_string(static_cast<int>(type)) +
        " (opaque or sparse), which ortnative does not support");
  }
  OrtTensorTypeAndShapeInfo* info = nullptr;
  check(a.GetTensorTypeAndShape(v, &info), ErrorCode::kOrt, "reading a tensor's shape");
  ONNXTensorElementDataType et = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  OrtStatus* st = a.GetTensorElementType(info, &et);
  if (st == nullptr) st = a.GetDimensionsCount(info, &rank_);
  if (st == nullptr) {
    int64_t* dims = inline_dims_;
    if (rank_ > kInlineRank) {
      heap_dims_.resize(rank_);
      dims = heap_dims_.data();
    }
    st = a.GetDimensions(info, dims, rank_);
  }
  a.ReleaseTensorTypeAndShapeInfo(info);
  if (st != nullptr) {
    detail::throw_status(st, ErrorCode::kOrt, "reading a tensor's shape");
  }
  kind_ = Kind::kTensor;
  dtype_ = static_cast<DType>(et);
  if (dtype_ != DType::kString && element_count() > 0) {
    check(a.GetTensorMutableData(v, &data_), ErrorCode::kOrt, "reading a tensor's data");
  }
}

Value::Value(Value&& o) noexcept
    : value_(std::exchange(o.value_, nullptr)),
      data_(std::exchange(o.data_, nullptr)),
      device_(std::exchange(o.device_, Device{})),
      kind_(std::exchange(o.kind_, Kind::kNone)),
      dtype_(std::exchange(o.dtype_, DType::kUndefined)),
      rank_(std::exchange(o.rank_, 0)),
      heap_dims_(std::move(o.heap_dims_)) {
  for (std::size_t i = 0; i < kInlineRank; ++i) inline_dims_[i] = o.inline_dims_[i];
}

Value& Value::operator=(Value&& o) noexcept {
  if (this != &o) {
    reset();
    value_ = std::exchange(o.value_, nullptr);
    data_ = std::exchange(o.data_, nullptr);
    device_ = std::exchange(o.device_, Device{});
    kind_ = std::exchange(o.kind_, Kind::kNone);
    dtype_ = std::exchange(o.dtype_, DType::kUndefined);
    rank_ = std::exchange(o.rank_, 0);
    heap_dims_ = std::move(o.heap_dims_);
    for (std::size_t i = 0; i < kInlineRank; ++i) inline_dims_[i] = o.inline_dims_[i];
  }
  return *this;
}

Value::~Value() {
  reset();
}

void Value::reset() noexcept {
  if (value_ != nullptr) loaded_api().ReleaseValue(value_);
  value_ = nullptr;
  data_ = nullptr;
  device_ = Device{};
  kind_ = Kind::kNone;
  dtype_ = DType::kUndefined;
  rank_ = 0;
}

OrtValue* Value::release() noexcept {
  OrtValue* v = value_;
  value_ = nullptr;
  reset();
  return v;
}

void Value::release_raw(OrtValue* v) noexcept {
  if (v != nullptr) loaded_api().ReleaseValue(v);
}

std::size_t Value::element_count() const noexcept {
  std::size_t n = 1;
  for (int64_t d : shape()) n *= static_cast<std::size_t>(d);
  return n;
}

std::vector<std::string> Value::strings() const {
  if (kind_ != Kind::kTensor || dtype_ != DType::kString) {
    throw InvalidArgumentError("Value::strings(): not a string tensor");
  }
  const OrtApi& a = loaded_api();
  const std::size_t n = element_count();
  std::size_t total = 0;
  check(a.GetStringTensorDataLength(value_, &total), ErrorCode::kOrt, "reading strings");
  std::string buf(total, '\0');
  std::vector<std::size_t> offsets(n);
  if (n > 0) {
    check(a.GetStringTensorContent(value_, buf.data(), total, offsets.data(), n), ErrorCode::kOrt,
          "reading strings");
  }
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t end = i + 1 < n ? offsets[i + 1] : total;
    out.emplace_back(buf, offsets[i], end - offsets[i]);
  }
  return out;
}

std::size_t Value::sequence_length() const {
  if (kind_ != Kind::kSequence) throw InvalidArgumentError("Value: not a sequence");
  std::size_t n = 0;
  check(loaded_api().GetValueCount(value_, &n), ErrorCode::kOrt, "reading a sequence");
  return n;
}

Value Value::map_keys() const {
  if (kind_ != Kind::kMap) throw InvalidArgumentError("Value: not a map");
  OrtValue* out = nullptr;
  check(loaded_api().GetValue(value_, 0, detail::default_allocator(), &out), ErrorCode::kOrt,
        "reading a map's keys");
  return Value(out);
}

Value Value::map_values() const {
  if (kind_ != Kind::kMap) throw InvalidArgumentError("Value: not a map");
  OrtValue* out = nullptr;
  check(loaded_api().GetValue(value_, 1, detail::default_allocator(), &out), ErrorCode::kOrt,
        "reading a map's values");
  return Value(out);
}

Value Value::sequence_at(std::size_t i) const {
  if (kind_ != Kind::kSequence) throw InvalidArgumentError("Value: not a sequence");
  OrtValue* out = nullptr;
  check(loaded_api().GetValue(value_, static_cast<int>(i), detail::default_allocator(), &out),
        ErrorCode::kOrt, "reading a sequence element");
  return Value(out);
}

}  // namespace ortnative
