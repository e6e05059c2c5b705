// Implementation detail shared by the core and the bindings (not part of the API): a
// fixed-size array that lives on the stack up to N elements and on the heap beyond,
// so per-call bookkeeping allocates nothing for the usual handful of inputs and
// outputs. Only the first size() elements are constructed (value-initialised, or
// copies of INIT); the rest of the inline storage stays untouched, so a large N costs
// nothing per call. Neither copyable nor movable: a local of one function.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>

namespace ortnative::detail {

template <class T, std::size_t N>
class SmallArray {
 public:
  explicit SmallArray(std::size_t n) : size_(n), data_(allocate(n)) {
    for (std::size_t i = 0; i < n; ++i) new (data_ + i) T();
  }
  SmallArray(std::size_t n, const T& init) : size_(n), data_(allocate(n)) {
    for (std::size_t i = 0; i < n; ++i) new (data_ + i) T(init);
  }
  ~SmallArray() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      for (std::size_t i = 0; i < size_; ++i) data_[i].~T();
    }
    if (data_ != inline_data()) ::operator delete(data_, std::align_val_t(alignof(T)));
  }
  SmallArray(const SmallArray&) = delete;
  SmallArray& operator=(const SmallArray&) = delete;

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  T* inline_data() noexcept { return reinterpret_cast<T*>(inline_); }
  T* allocate(std::size_t n) {
    if (n <= N) return inline_data();
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(alignof(T))));
  }

  std::size_t size_;
  T* data_;
  alignas(T) unsigned char inline_[N * sizeof(T)];
};

}  // namespace ortnative::detail
