#define ORTNATIVE_NUMPY_IMPORT
#include "numpy_bridge.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

#include "dlpack_bridge.hpp"
#include "messages.hpp"
#include "ortnative/utf8.hpp"

namespace ortnative::py_bridge {

namespace {

std::atomic<long> g_live{0};
int g_bfloat16_typenum = -1;
PyArray_Descr* g_bfloat16_descr = nullptr;
constexpr const char* kCapsuleName = "ortnative.OrtValue";
#ifndef NPY_VSTRING
constexpr int NPY_VSTRING = 2056;  // NumPy 2's StringDType
#endif

void release_capsule(PyObject* capsule) {
  auto* v = static_cast<OrtValue*>(PyCapsule_GetPointer(capsule, kCapsuleName));
  Value::release_raw(v);
  g_live.fetch_sub(1, std::memory_order_relaxed);
}

PyObject* owner_of(OrtValue* v) {
  PyObject* cap = PyCapsule_New(v, kCapsuleName, release_capsule);
  if (cap == nullptr) {
    Value::release_raw(v);
    throw py::error_already_set();
  }
  g_live.fetch_add(1, std::memory_order_relaxed);
  return cap;
}

PyObject* tensor_to_array(Value&& value) {
  // Kept on a device (SessionOptions::output_device): NumPy cannot hold it; DLPack can.
  if (!value.device().host()) return device_tensor(std::move(value));
  std::span<const int64_t> shape = value.shape();
  const int rank = static_cast<int>(shape.size());
  static_assert(sizeof(npy_intp) == sizeof(int64_t), "64-bit platforms only");
  auto* dims = reinterpret_cast<npy_intp*>(const_cast<int64_t*>(shape.data()));
  if (value.dtype() == DType::kString) {
    std::vector<std::string> items = value.strings();
    PyObject* arr = PyArray_SimpleNew(rank, dims, NPY_OBJECT);
    if (arr == nullptr) throw py::error_already_set();
    auto** slots = static_cast<PyObject**>(PyArray_DATA(reinterpret_cast<PyArrayObject*>(arr)));
    for (std::size_t i = 0; i < items.size(); ++i) {
      PyObject* s = PyUnicode_DecodeUTF8(items[i].data(), static_cast<Py_ssize_t>(items[i].size()),
                                         "surrogateescape");
      if (s == nullptr) {
        Py_DECREF(arr);
        throw py::error_already_set();
      }
      Py_XDECREF(slots[i]);  // PyArray_SimpleNew fills object arrays with None
      slots[i] = s;
    }
    return arr;
  }
  PyArray_Descr* descr = descr_for(value.dtype());  // stolen below
  void* data = value.data();
  if (data == nullptr) {
    // Empty tensor: nothing to share; NumPy allocates its own (zero bytes).
    return PyArray_NewFromDescr(&PyArray_Type, descr, rank, dims, nullptr, nullptr, 0, nullptr);
  }
  PyObject* arr = PyArray_NewFromDescr(&PyArray_Type, descr, rank, dims, nullptr, data,
                                       NPY_ARRAY_CARRAY, nullptr);
  if (arr == nullptr) throw py::error_already_set();
  PyObject* owner = owner_of(value.release());
  if (PyArray_SetBaseObject(reinterpret_cast<PyArrayObject*>(arr), owner) != 0) {
    Py_DECREF(arr);  // the base was stolen even on failure
    throw py::error_already_set();
  }
  return arr;
}

// Element I of a map's keys or values as the Python object onnxruntime gives for it:
// int for integers, float for floating point (float32 widened), str for strings.
PyObject* map_item(const Value& t, const std::vector<std::string>& strings, std::size_t i) {
  const void* d = t.data();
  switch (t.dtype()) {
    case DType::kString: {
      const std::string& s = strings[i];
      return PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
    }
    case DType::kInt64: return PyLong_FromLongLong(static_cast<const int64_t*>(d)[i]);
    case DType::kInt32: return PyLong_FromLong(static_cast<const int32_t*>(d)[i]);
    case DType::kFloat32: return PyFloat_FromDouble(static_cast<const float*>(d)[i]);
    case DType::kFloat64: return PyFloat_FromDouble(static_cast<const double*>(d)[i]);
    default: raise_py("no_numpy_dtype", static_cast<int>(t.dtype()));
  }
}

// A map as a dict (keys and values as onnxruntime's Python API gives them).
PyObject* map_to_dict(const Value& map) {
  Value keys = map.map_keys();
  Value values = map.map_values();
  std::vector<std::string> key_strings, value_strings;
  if (keys.dtype() == DType::kString) key_strings = keys.strings();
  if (values.dtype() == DType::kString) value_strings = values.strings();
  const std::size_t n = std::min(keys.element_count(), values.element_count());
  PyObject* dict = PyDict_New();
  if (dict == nullptr) throw py::error_already_set();
  for (std::size_t i = 0; i < n; ++i) {
    PyObject* k = map_item(keys, key_strings, i);
    PyObject* v = k != nullptr ? map_item(values, value_strings, i) : nullptr;
    const int rc = v != nullptr ? PyDict_SetItem(dict, k, v) : -1;
    Py_XDECREF(k);
    Py_XDECREF(v);
    if (rc != 0) {
      Py_DECREF(dict);
      throw py::error_already_set();
    }
  }
  return dict;
}

}  // namespace

void init_numpy() {
  if (_import_array() < 0) throw py::error_already_set();
}

DType dtype_of(PyArray_Descr* descr, DType want) noexcept {
  if (!PyArray_ISNBO(descr->byteorder)) return DType::kUndefined;
  const int t = descr->type_num;
  const auto size = PyDataType_ELSIZE(descr);
  switch (t) {
    case NPY_BOOL: return DType::kBool;
    case NPY_BYTE: return DType::kInt8;
    case NPY_UBYTE: return DType::kUInt8;
    case NPY_SHORT: return DType::kInt16;
    case NPY_USHORT: return DType::kUInt16;
    case NPY_INT:
    case NPY_LONG:
    case NPY_LONGLONG:
      return size == 4 ? DType::kInt32 : size == 8 ? DType::kInt64 : DType::kUndefined;
    case NPY_UINT:
    case NPY_ULONG:
    case NPY_ULONGLONG:
      return size == 4 ? DType::kUInt32 : size == 8 ? DType::kUInt64 : DType::kUndefined;
    case NPY_HALF: return DType::kFloat16;
    case NPY_FLOAT: return DType::kFloat32;
    case NPY_DOUBLE: return DType::kFloat64;
    case NPY_CFLOAT: return DType::kComplex64;
    case NPY_CDOUBLE: return DType::kComplex128;
    case NPY_UNICODE:
    case NPY_STRING: return DType::kString;
    case NPY_OBJECT: return want == DType::kString ? DType::kString : DType::kUndefined;
    default:
      if (t == NPY_VSTRING) return DType::kString;
      if (t == g_bfloat16_typenum && g_bfloat16_typenum >= 0) return DType::kBFloat16;
      return DType::kUndefined;
  }
}

std::string numpy_dtype_name(PyArray_Descr* descr) {
  PyObject* s = PyObject_Str(reinterpret_cast<PyObject*>(descr));
  if (s == nullptr) {
    PyErr_Clear();
    return "unknown";
  }
  Py_ssize_t n = 0;
  const char* c = PyUnicode_AsUTF8AndSize(s, &n);
  std::string out = c ? std::string(c, static_cast<std::size_t>(n)) : "unknown";
  Py_DECREF(s);
  return out;
}

void describe_out_array(PyArrayObject* arr, DType declared, OutArray& o, std::string& dtype_text) {
  o.view.dtype = dtype_of(PyArray_DESCR(arr), declared);
  if (o.view.dtype == DType::kUndefined) {
    dtype_text = numpy_dtype_name(PyArray_DESCR(arr));
    o.given_dtype = dtype_text;
  }
  o.view.rank = static_cast<std::size_t>(PyArray_NDIM(arr));
  o.view.shape = reinterpret_cast<const int64_t*>(PyArray_DIMS(arr));
  o.view.data = PyArray_DATA(arr);
  o.contiguous = PyArray_IS_C_CONTIGUOUS(arr);
  o.aligned = PyArray_ISALIGNED(arr);
  o.writeable = PyArray_ISWRITEABLE(arr);
}

PyArray_Descr* descr_for(DType dtype) {
  int t = NPY_NOTYPE;
  switch (dtype) {
    case DType::kBool: t = NPY_BOOL; break;
    case DType::kInt8: t = NPY_INT8; break;
    case DType::kUInt8: t = NPY_UINT8; break;
    case DType::kInt16: t = NPY_INT16; break;
    case DType::kUInt16: t = NPY_UINT16; break;
    case DType::kInt32: t = NPY_INT32; break;
    case DType::kUInt32: t = NPY_UINT32; break;
    case DType::kInt64: t = NPY_INT64; break;
    case DType::kUInt64: t = NPY_UINT64; break;
    case DType::kFloat16: t = NPY_HALF; break;
    case DType::kFloat32: t = NPY_FLOAT32; break;
    case DType::kFloat64: t = NPY_FLOAT64; break;
    case DType::kComplex64: t = NPY_COMPLEX64; break;
    case DType::kComplex128: t = NPY_COMPLEX128; break;
    case DType::kString: t = NPY_OBJECT; break;
    case DType::kBFloat16:
      if (g_bfloat16_descr == nullptr) raise_py("bfloat16_needs_ml_dtypes");
      Py_INCREF(g_bfloat16_descr);
      return g_bfloat16_descr;
    default: raise_py("no_numpy_dtype", static_cast<int>(dtype));
  }
  return PyArray_DescrFromType(t);
}

void set_bfloat16_descr(PyObject* descr) {
  if (!PyArray_DescrCheck(descr)) throw py::type_error("expected a numpy dtype");
  Py_XDECREF(g_bfloat16_descr);
  Py_INCREF(descr);
  g_bfloat16_descr = reinterpret_cast<PyArray_Descr*>(descr);
  g_bfloat16_typenum = g_bfloat16_descr->type_num;
}

long live_values() noexcept {
  return g_live.load(std::memory_order_relaxed);
}

PyObject* to_python(Value&& value) {
  switch (value.kind()) {
    case Value::Kind::kNone: Py_RETURN_NONE;
    case Value::Kind::kTensor: return tensor_to_array(std::move(value));
    case Value::Kind::kSequence: {
      const std::size_t n = value.sequence_length();
      PyObject* list = PyList_New(static_cast<Py_ssize_t>(n));
      if (list == nullptr) throw py::error_already_set();
      for (std::size_t i = 0; i < n; ++i) {
        PyObject* item = nullptr;
        try {
          item = to_python(value.sequence_at(i));
        } catch (...) {
          Py_DECREF(list);
          throw;
        }
        PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
      }
      return list;
    }
    case Value::Kind::kMap: return map_to_dict(value);
  }
  Py_RETURN_NONE;
}

void to_tensor_view(PyObject* obj, DType want, Refs& refs, StringStore& strings, TensorView& view,
                    std::string& given_name) {
  PyArrayObject* arr = nullptr;
  if (PyArray_Check(obj)) {
    arr = reinterpret_cast<PyArrayObject*>(obj);
    refs.keep(obj);  // the caller's dict may lose it while the GIL is released
  } else {
    // Array-likes (lists, scalars) become arrays of whatever dtype NumPy infers; the
    // dtype check then refuses a mismatch instead of casting.
    PyObject* made = PyArray_FROM_O(obj);
    if (made == nullptr) throw py::error_already_set();
    refs.own(made);
    arr = reinterpret_cast<PyArrayObject*>(made);
  }
  PyArray_Descr* descr = PyArray_DESCR(arr);
  view.dtype = dtype_of(descr, want);
  view.rank = static_cast<std::size_t>(PyArray_NDIM(arr));
  view.shape = reinterpret_cast<const int64_t*>(PyArray_DIMS(arr));
  if (view.dtype == DType::kUndefined) {
    given_name = numpy_dtype_name(descr);
    return;
  }
  if (view.dtype != DType::kString) {
    if (!PyArray_IS_C_CONTIGUOUS(arr) || !PyArray_ISALIGNED(arr)) {
      // The one copy the docs promise for arrays ORT cannot read in place.
      PyObject* copy = PyArray_NewCopy(arr, NPY_CORDER);
      if (copy == nullptr) throw py::error_already_set();
      refs.own(copy);
      arr = reinterpret_cast<PyArrayObject*>(copy);
      view.shape = reinterpret_cast<const int64_t*>(PyArray_DIMS(arr));
    }
    view.data = PyArray_DATA(arr);
    return;
  }
  if (want != DType::kString) return;  // the core reports the dtype mismatch
  // Strings are copied into ORT's string tensor as UTF-8; collect views of them first.
  // Text that is not valid Unicode (UTF-8 for bytes) is refused like a wrong dtype.
  if (descr->type_num != NPY_OBJECT && descr->type_num != NPY_STRING &&
      descr->type_num != NPY_UNICODE) {
    // StringDType: let NumPy make Python str objects.
    PyObject* as_obj =
        PyArray_FromAny(reinterpret_cast<PyObject*>(arr), PyArray_DescrFromType(NPY_OBJECT), 0, 0,
                        NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_FORCECAST, nullptr);
    if (as_obj == nullptr) throw py::error_already_set();
    refs.own(as_obj);
    arr = reinterpret_cast<PyArrayObject*>(as_obj);
  } else if (!PyArray_IS_C_CONTIGUOUS(arr)) {
    PyObject* copy = PyArray_NewCopy(arr, NPY_CORDER);
    if (copy == nullptr) throw py::error_already_set();
    refs.own(copy);
    arr = reinterpret_cast<PyArrayObject*>(copy);
  }
  view.shape = reinterpret_cast<const int64_t*>(PyArray_DIMS(arr));
  const std::size_t n = static_cast<std::size_t>(PyArray_SIZE(arr));
  std::vector<std::string_view>& out = strings.views().emplace_back();
  out.reserve(n);
  auto refuse = [&](std::size_t i, const std::string& why) {
    given_name = py_text("str_element", i, why);
    view.dtype = DType::kUndefined;
  };
  const int type = PyArray_DESCR(arr)->type_num;
  if (type == NPY_UNICODE) {
    // UCS-4, NUL-padded: encode each element to UTF-8 here.
    const auto units = static_cast<std::size_t>(PyArray_ITEMSIZE(arr)) / 4;
    const auto* base = static_cast<const uint32_t*>(PyArray_DATA(arr));
    std::vector<std::string> encoded(n);
    for (std::size_t i = 0; i < n; ++i) {
      const uint32_t* p = base + i * units;
      std::size_t len = units;
      while (len > 0 && p[len - 1] == 0) --len;
      std::string& u = encoded[i];
      u.reserve(len);
      for (std::size_t c = 0; c < len; ++c) {
        const uint32_t cp = p[c];
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          char hex[16];
          std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(cp));
          refuse(i, std::string("not valid Unicode: ") + hex);
          return;
        }
        detail::append_utf8(u, cp);
      }
    }
    std::deque<std::string>& owned = strings.owned();
    for (std::string& u : encoded) owned.push_back(std::move(u));
    for (std::size_t i = 0; i < n; ++i) {
      out.emplace_back(owned[owned.size() - n + i]);
    }
  } else if (type == NPY_STRING) {
    const auto item = static_cast<std::size_t>(PyArray_ITEMSIZE(arr));
    const char* base = static_cast<const char*>(PyArray_DATA(arr));
    for (std::size_t i = 0; i < n; ++i) {
      const char* p = base + i * item;
      std::size_t len = item;
      while (len > 0 && p[len - 1] == '\0') --len;  // NumPy strips trailing NULs only
      if (!detail::valid_utf8({p, len})) {
        refuse(i, "not valid UTF-8");
        return;
      }
      out.emplace_back(p, len);
    }
  } else {
    auto** items = static_cast<PyObject**>(PyArray_DATA(arr));
    for (std::size_t i = 0; i < n; ++i) {
      PyObject* o = items[i];
      if (PyUnicode_Check(o)) {
        Py_ssize_t len = 0;
        const char* p = PyUnicode_AsUTF8AndSize(o, &len);
        if (p == nullptr) {  // a lone surrogate: name it
          PyErr_Clear();
          uint32_t bad = 0;
          for (Py_ssize_t c = 0; c < PyUnicode_GET_LENGTH(o); ++c) {
            Py_UCS4 ch = PyUnicode_READ_CHAR(o, c);
            if (ch >= 0xD800 && ch <= 0xDFFF) {
              bad = ch;
              break;
            }
          }
          char hex[16];
          std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(bad));
          refuse(i, std::string("not valid Unicode: ") + hex);
          return;
        }
        out.emplace_back(p, static_cast<std::size_t>(len));
      } else if (PyBytes_Check(o)) {
        const char* p = PyBytes_AS_STRING(o);
        const auto len = static_cast<std::size_t>(PyBytes_GET_SIZE(o));
        if (!detail::valid_utf8({p, len})) {
          refuse(i, "not valid UTF-8");
          return;
        }
        out.emplace_back(p, len);
      } else {
        // Reported by the caller like any other dtype mismatch.
        given_name = py_text("object_element", i, type_name(o));
        view.dtype = DType::kUndefined;
        return;
      }
    }
  }
  view.data = out.data();
}

}  // namespace ortnative::py_bridge
