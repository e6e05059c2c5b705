// Tensors going into and coming out of a session.
//
// Ownership, once for the whole API:
//   - TensorView and InputView are borrowed views: copyable, they free nothing, and
//     the memory they point at must outlive every use of the view. Session::run wraps
//     a view's buffer as an ORT tensor without copying it (strings excepted).
//   - Value owns one ORT value (a tensor, a sequence, a map, or nothing). It is
//     move-only and releases the value when destroyed, unless release() handed it on.
//     Data pointers taken from a Value are valid while the Value (or whoever took it
//     with release()) lives.
// None of these types is thread-safe to mutate; const use from many threads is fine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ortnative/dtype.hpp"

struct OrtValue;  // ORT's opaque value type (onnxruntime_c_api.h); no ORT header needed

namespace ortnative {

// Where a tensor's memory is. The device types are DLPack's DLDeviceType codes
// (kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3, kDLCUDAManaged = 13, ...), so a binding hands
// a DLPack tensor's device through unchanged; the core itself includes no DLPack header.
struct Device {
  static constexpr int32_t kCpu = 1;
  static constexpr int32_t kCuda = 2;
  static constexpr int32_t kCudaHost = 3;      // pinned host memory: the CPU reads it
  static constexpr int32_t kCudaManaged = 13;  // unified memory: the CPU reads it too
  int32_t type = kCpu;
  int32_t id = 0;

  // Memory the CPU reads and writes in place (ORT gets it as CPU memory).
  bool host() const noexcept { return type == kCpu || type == kCudaHost || type == kCudaManaged; }
  bool cuda() const noexcept { return type == kCuda; }
  bool operator==(const Device&) const noexcept = default;
};

// A dense, C-order tensor in caller memory.
struct TensorView {
  DType dtype = DType::kUndefined;
  const int64_t* shape = nullptr;
  std::size_t rank = 0;
  // Numeric types: the element buffer (C order, no padding). kString: an array of
  // element_count() std::string_view, copied into ORT's string tensor.
  void* data = nullptr;
  // Where DATA is: host memory (the default), or a CUDA device's (numeric types only; a
  // session takes it when it runs on CUDA, see Session::run).
  Device device{};

  std::size_t element_count() const noexcept;
  // element_count() * dtype_itemsize(dtype); 0 for strings.
  std::size_t byte_size() const noexcept;
};

// One feed: a tensor, a sequence of tensors, or nothing (an optional input left out).
struct InputView {
  enum class Kind : uint8_t { kNone, kTensor, kSequence };
  Kind kind = Kind::kNone;
  TensorView tensor;                     // kTensor
  const TensorView* elements = nullptr;  // kSequence: elements[0..count)
  std::size_t count = 0;

  static InputView of(const TensorView& t) noexcept {
    InputView v;
    v.kind = Kind::kTensor;
    v.tensor = t;
    return v;
  }
  static InputView sequence(const TensorView* elements, std::size_t count) noexcept {
    InputView v;
    v.kind = Kind::kSequence;
    v.elements = elements;
    v.count = count;
    return v;
  }
};

// An owned ORT value. Kind and, for tensors, dtype and shape are read once when the
// Value is made, so the accessors below are plain loads.
class Value {
 public:
  // kSequence: of tensors or of maps; kMap: keys and values, each a tensor (ONNX-ML maps:
  // int64 or string keys; float, double, int64 or string values).
  enum class Kind : uint8_t { kNone, kTensor, kSequence, kMap };

  Value() noexcept = default;
  // Adopts V (which may be null: an absent optional). Wraps OrtApi::GetValueType,
  // GetTensorTypeAndShape, HasValue. Throws OrtError if ORT cannot describe it.
  explicit Value(OrtValue* v);
  // Adopts V, a dense tensor the caller made and so can describe: no ORT calls.
  static Value adopt_tensor(OrtValue* v, DType dtype, std::span<const int64_t> shape, void* data);
  // A tensor in memory someone else owns (an output ORT wrote into a caller's buffer):
  // describes it, owns nothing; get() and release() give null.
  static Value borrowed(DType dtype, std::span<const int64_t> shape, void* data);
  Value(Value&& other) noexcept;
  Value& operator=(Value&& other) noexcept;
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;
  ~Value();  // OrtApi::ReleaseValue

  Kind kind() const noexcept { return kind_; }
  DType dtype() const noexcept { return dtype_; }  // tensors; element type for sequences
  std::span<const int64_t> shape() const noexcept {
    return {rank_ <= kInlineRank ? inline_dims_ : heap_dims_.data(), rank_};
  }
  std::size_t element_count() const noexcept;
  // Numeric tensors: the element buffer, owned by this Value. Null for strings, none,
  // sequences and empty tensors.
  void* data() const noexcept { return data_; }
  // Where data() is: host memory, unless the value was made on a device (an output a
  // session kept on its CUDA device, SessionOptions::output_device).
  const Device& device() const noexcept { return device_; }
  void set_device(const Device& d) noexcept { device_ = d; }

  // kString tensors: copies the elements out (OrtApi::GetStringTensorContent).
  std::vector<std::string> strings() const;

  // Sequences: the number of elements and an owned handle on element I
  // (OrtApi::GetValueCount / GetValue; each call makes a new handle).
  std::size_t sequence_length() const;
  Value sequence_at(std::size_t i) const;

  // Maps: the keys and the values, each a new owned 1-D tensor, entry i of one going with
  // entry i of the other (OrtApi::GetValue with index 0 and 1).
  Value map_keys() const;
  Value map_values() const;

  OrtValue* get() const noexcept { return value_; }
  // Hands the OrtValue to the caller, who must release it (OrtApi::ReleaseValue);
  // this Value becomes empty (kNone).
  OrtValue* release() noexcept;
  // Releases an OrtValue obtained from release() (OrtApi::ReleaseValue). Null is fine.
  static void release_raw(OrtValue* v) noexcept;

 private:
  static constexpr std::size_t kInlineRank = 8;
  void reset() noexcept;
  void describe();

  OrtValue* value_ = nullptr;
  void* data_ = nullptr;
  Device device_{};
  Kind kind_ = Kind::kNone;
  DType dtype_ = DType::kUndefined;
  std::size_t rank_ = 0;
  int64_t inline_dims_[kInlineRank] = {};
  std::vector<int64_t> heap_dims_;  // used when rank_ > kInlineRank
};

}  // namespace ortnative
