// Implementation detail shared by the core and the bindings (not part of the API): a
// fixed-size array that lives on the stack up to N elements and on the heap beyond,
// so per-call bookkeeping allocates nothing for the usual handful of inputs and
// outputs. T must be default-constructible; elements are value-initialised.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

namespace ortnative::detail {

template <class T, std::size_t N>
class SmallArray {
 public:
  explicit SmallArray(std::size_t n) : size_(n) {
    if (n > N) heap_ = std::make_unique<T[]>(n);
  }
  SmallArray(std::size_t n, const T& init) : SmallArray(n) {
    T* p = data();
    for (std::size_t i = 0; i < n; ++i) p[i] = init;
  }
  SmallArray(SmallArray&& o) noexcept : size_(o.size_), heap_(std::move(o.heap_)) {
    for (std::size_t i = 0; i < N; ++i) inline_[i] = std::move(o.inline_[i]);
  }
  SmallArray& operator=(SmallArray&& o) noexcept {
    size_ = o.size_;
    heap_ = std::move(o.heap_);
    for (std::size_t i = 0; i < N; ++i) inline_[i] = std::move(o.inline_[i]);
    return *this;
  }
  SmallArray(const SmallArray&) = delete;
  SmallArray& operator=(const SmallArray&) = delete;

  T* data() noexcept { return heap_ ? heap_.get() : inline_; }
  const T* data() const noexcept { return heap_ ? heap_.get() : inline_; }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }

 private:
  std::size_t size_;
  std::unique_ptr<T[]> heap_;
  T inline_[N]{};
};

}  // namespace ortnative::detail
