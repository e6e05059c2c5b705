// Bindings: conversions between NumPy arrays and the core's views and values.
// Uses the NumPy C API directly (the per-call path builds arrays without pybind11's
// intermediate objects). Every function here needs the GIL.
#pragma once

#define PY_ARRAY_UNIQUE_SYMBOL ortnative_ARRAY_API
#ifndef ORTNATIVE_NUMPY_IMPORT
#define NO_IMPORT_ARRAY
#endif
#define NPY_NO_DEPRECATED_API NPY_1_23_API_VERSION
#define NPY_TARGET_VERSION NPY_1_23_API_VERSION
#include <pybind11/pybind11.h>
// pybind11 first: it includes Python.h as NumPy expects.
#include <numpy/arrayobject.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gil.hpp"
#include "ortnative/dtype.hpp"
#include "ortnative/session.hpp"
#include "ortnative/value.hpp"

namespace ortnative::py_bridge {

namespace py = pybind11;

// Imports NumPy's C API; once, from module init.
void init_numpy();

// The core dtype of a NumPy dtype; kUndefined when ortnative cannot take it as is
// (unsupported, or not in native byte order). Strings ('U', 'S', StringDType) map to
// kString; object arrays do too, but only where a string is wanted (WANT).
DType dtype_of(PyArray_Descr* descr, DType want) noexcept;

// NumPy's name for a dtype, as str(dtype) gives it (for messages).
std::string numpy_dtype_name(PyArray_Descr* descr);

// An out= array as the core's OutArray takes it: its dtype (against the output's
// DECLARED one), shape, memory and layout flags. A dtype the core has none for is named
// in DTYPE_TEXT, which O then points at (so it must outlive O's use).
void describe_out_array(PyArrayObject* arr, DType declared, OutArray& o, std::string& dtype_text);

// A new reference to the NumPy dtype for a core dtype (object for strings).
PyArray_Descr* descr_for(DType dtype);

// Registers ml_dtypes.bfloat16 (passed from Python when ml_dtypes is importable).
void set_bfloat16_descr(PyObject* descr);

// Number of OrtValues currently owned by arrays this module made (for lifetime tests).
long live_values() noexcept;

// Wraps a tensor Value as a NumPy array without copying: the array's base owns the
// OrtValue and releases it when the array (and every view of it) is gone. Strings
// become an object array of str; sequences a list; maps a dict (int keys or str keys,
// float, int or str values, as onnxruntime gives them); an absent optional None.
// Returns a new reference.
PyObject* to_python(Value&& value);

// Keeps Python objects alive for the length of one call (references released in the
// destructor, which must run with the GIL held).
class Refs {
 public:
  Refs() = default;
  Refs(const Refs&) = delete;
  Refs& operator=(const Refs&) = delete;
  ~Refs() {
    for (std::size_t i = 0; i < n_; ++i) Py_DECREF(at(i));
  }
  // Steals NEW_REF.
  void own(PyObject* new_ref) {
    if (n_ < kInline) {
      inline_[n_++] = new_ref;
    } else {
      extra_.push_back(new_ref);
      ++n_;
    }
  }
  // Borrows and keeps BORROWED alive.
  void keep(PyObject* borrowed) {
    Py_INCREF(borrowed);
    own(borrowed);
  }
  // Without the GIL: hands every reference to the deferred releases (gil.hpp).
  void defer() {
    for (std::size_t i = 0; i < n_; ++i) defer_decref(at(i));
    n_ = 0;
    extra_.clear();
  }

 private:
  static constexpr std::size_t kInline = 16;
  PyObject* at(std::size_t i) const { return i < kInline ? inline_[i] : extra_[i - kInline]; }
  PyObject* inline_[kInline];  // first n_ are set
  std::vector<PyObject*> extra_;
  std::size_t n_ = 0;
};

// Storage for string elements converted for one call. Views point into `owned` and
// into Python objects kept alive by the call's Refs; both must stay put, hence deques
// (stable addresses as they grow). Made on first use: a std::deque allocates when it is
// constructed, and most calls have no strings.
class StringStore {
 public:
  std::deque<std::vector<std::string_view>>& views() { return get().views; }
  std::deque<std::string>& owned() { return get().owned; }  // UTF-8 encodings made here

 private:
  struct Store {
    std::deque<std::vector<std::string_view>> views;
    std::deque<std::string> owned;
  };
  Store& get() {
    if (!store_) store_ = std::make_unique<Store>();
    return *store_;
  }
  std::unique_ptr<Store> store_;
};

// Fills VIEW from an array-like OBJ for an input of dtype WANT (used to pick how a
// non-array converts and how strings are taken). Takes at most one copy (for
// non-contiguous or misaligned numeric arrays) and keeps what it made alive in REFS.
// Leaves view.dtype kUndefined for dtypes ortnative does not take; *given_name then
// holds NumPy's name for it.
void to_tensor_view(PyObject* obj, DType want, Refs& refs, StringStore& strings, TensorView& view,
                    std::string& given_name);

}  // namespace ortnative::py_bridge
