#include "dlpack_bridge.hpp"

#include <dlpack/dlpack.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "gil.hpp"
#include "messages.hpp"

namespace ortnative::py_bridge {

namespace {

constexpr const char* kVersioned = "dltensor_versioned";
constexpr const char* kLegacy = "dltensor";

PyObject* interned(const char* s) {
  return PyUnicode_InternFromString(s);
}

// The core's dtype of a DLPack element type; kUndefined for the others.
DType dtype_of_dl(DLDataType t) {
  if (t.lanes != 1) return DType::kUndefined;
  switch (t.code) {
    case kDLInt:
      switch (t.bits) {
        case 8: return DType::kInt8;
        case 16: return DType::kInt16;
        case 32: return DType::kInt32;
        case 64: return DType::kInt64;
        default: return DType::kUndefined;
      }
    case kDLUInt:
      switch (t.bits) {
        case 8: return DType::kUInt8;
        case 16: return DType::kUInt16;
        case 32: return DType::kUInt32;
        case 64: return DType::kUInt64;
        default: return DType::kUndefined;
      }
    case kDLFloat:
      switch (t.bits) {
        case 16: return DType::kFloat16;
        case 32: return DType::kFloat32;
        case 64: return DType::kFloat64;
        default: return DType::kUndefined;
      }
    case kDLBfloat: return t.bits == 16 ? DType::kBFloat16 : DType::kUndefined;
    case kDLComplex:
      return t.bits == 64    ? DType::kComplex64
             : t.bits == 128 ? DType::kComplex128
                             : DType::kUndefined;
    case kDLBool: return t.bits == 8 ? DType::kBool : DType::kUndefined;
    default: return DType::kUndefined;
  }
}

// The DLPack element type of a core dtype (numeric types only).
DLDataType dl_of_dtype(DType d) {
  const auto bits = static_cast<uint8_t>(dtype_itemsize(d) * 8);
  switch (d) {
    case DType::kBool: return {kDLBool, 8, 1};
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64: return {kDLInt, bits, 1};
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64: return {kDLUInt, bits, 1};
    case DType::kFloat16:
    case DType::kFloat32:
    case DType::kFloat64: return {kDLFloat, bits, 1};
    case DType::kBFloat16: return {kDLBfloat, 16, 1};
    case DType::kComplex64:
    case DType::kComplex128: return {kDLComplex, bits, 1};
    default: return {kDLOpaqueHandle, 0, 1};
  }
}

bool c_contiguous(const DLTensor& t) {
  if (t.strides == nullptr) return true;  // DLPack: compact, row-major
  for (int32_t d = 0; d < t.ndim; ++d) {
    if (t.shape[d] == 0) return true;  // no elements: any strides will do
  }
  int64_t expected = 1;
  for (int32_t d = t.ndim - 1; d >= 0; --d) {
    if (t.shape[d] != 1 && t.strides[d] != expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

bool aligned_for(const void* data, DType d) {
  std::size_t align = dtype_itemsize(d);
  if (d == DType::kComplex64 || d == DType::kComplex128) align /= 2;
  return align <= 1 || reinterpret_cast<std::uintptr_t>(data) % align == 0;
}

// "BufferError: Can't export tensors that require gradient" from the pending exception.
std::string pending_error_text() {
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  std::string text = "unknown error";
  if (value != nullptr) {
    py::object v = py::reinterpret_borrow<py::object>(value);
    text = py::str(type_name(value)).cast<std::string>() + ": " + py::str(v).cast<std::string>();
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return text;
}

[[noreturn]] void fail_dlpack(PyObject* obj, const DLPackUse& use, const std::string& why) {
  raise_py("dlpack_failed", "model '" + use.session.name() + "'", use.role, use.name,
           type_name(obj), why);
}

// OBJ.__dlpack__(...) as a new reference: a versioned capsule when the producer knows
// DLPack 1.x (max_version), else a legacy one. STREAM for device tensors (see
// Session::dlpack_stream).
PyObject* call_dlpack(PyObject* obj, const DLPackUse& use, std::optional<int64_t> stream) {
  static PyObject* const kMethod = interned("__dlpack__");
  static PyObject* const kMaxVersion = interned("max_version");
  static PyObject* const kStream = interned("stream");
  py::object method = py::reinterpret_steal<py::object>(PyObject_GetAttr(obj, kMethod));
  if (!method) fail_dlpack(obj, use, pending_error_text());
  py::dict kwargs;
  if (stream) kwargs[kStream] = py::int_(*stream);
  kwargs[kMaxVersion] = py::make_tuple(DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION);
  PyObject* cap = PyObject_Call(method.ptr(), py::tuple().ptr(), kwargs.ptr());
  if (cap == nullptr && PyErr_ExceptionMatches(PyExc_TypeError)) {
    // A producer older than DLPack 1.0 (no max_version keyword): ask for a legacy capsule.
    PyErr_Clear();
    PyDict_DelItem(kwargs.ptr(), kMaxVersion);
    cap = PyObject_Call(method.ptr(), py::tuple().ptr(), kwargs.ptr());
  }
  if (cap == nullptr) fail_dlpack(obj, use, pending_error_text());
  return cap;
}

[[noreturn]] void fail_requires_grad(PyObject* obj, const DLPackUse& use) {
  raise_py("requires_grad", "model '" + use.session.name() + "'", use.role, use.name,
           type_name(obj));
}

// A tensor that requires grad (PyTorch): the caller decides whether to detach it.
void check_grad(PyObject* obj, const DLPackUse& use) {
  static PyObject* const kRequiresGrad = interned("requires_grad");
  if (_PyType_Lookup(Py_TYPE(obj), kRequiresGrad) == nullptr) return;
  PyObject* rg = PyObject_GetAttr(obj, kRequiresGrad);
  if (rg == nullptr) throw py::error_already_set();
  const int truth = PyObject_IsTrue(rg);
  Py_DECREF(rg);
  if (truth < 0) throw py::error_already_set();
  if (truth == 1) fail_requires_grad(obj, use);
}

// OBJ's numpy() view when OBJ is a torch.Tensor in CPU memory that NumPy can describe
// (new reference, kept in REFS); null otherwise (the DLPack path then reads it). torch is
// looked up, never imported: a process without it has no torch tensors.
PyObject* torch_cpu_view(PyObject* obj, Refs& refs) {
  static PyObject* torch_tensor = nullptr;  // torch.Tensor, once torch is imported
  static PyObject* const kIsCpu = interned("is_cpu");
  static PyObject* const kNumpy = interned("numpy");
  if (torch_tensor == nullptr) {
    PyObject* torch = PyImport_GetModule(py::str("torch").ptr());
    if (torch == nullptr) {
      PyErr_Clear();
      return nullptr;
    }
    torch_tensor = PyObject_GetAttrString(torch, "Tensor");  // kept for the process
    Py_DECREF(torch);
    if (torch_tensor == nullptr || !PyType_Check(torch_tensor)) {
      PyErr_Clear();
      Py_CLEAR(torch_tensor);
      return nullptr;
    }
  }
  if (PyObject_TypeCheck(obj, reinterpret_cast<PyTypeObject*>(torch_tensor)) == 0) return nullptr;
  PyObject* cpu = PyObject_GetAttr(obj, kIsCpu);
  if (cpu == nullptr) {
    PyErr_Clear();
    return nullptr;
  }
  const bool on_cpu = cpu == Py_True;
  Py_DECREF(cpu);
  if (!on_cpu) return nullptr;
  PyObject* arr = PyObject_CallMethodNoArgs(obj, kNumpy);
  if (arr == nullptr || !PyArray_Check(arr)) {
    PyErr_Clear();  // a dtype or state numpy() refuses: DLPack says what it is
    Py_XDECREF(arr);
    return nullptr;
  }
  refs.own(arr);
  return arr;
}

}  // namespace

bool offers_dlpack(PyObject* obj) {
  static PyObject* const kMethod = interned("__dlpack__");
  if (PyArray_Check(obj)) return false;
  return _PyType_Lookup(Py_TYPE(obj), kMethod) != nullptr;
}

void dlpack_view(PyObject* obj, const DLPackUse& use, Refs& refs, TensorView& view,
                 std::string& given_name, DLPackLayout* layout) {
  static PyObject* const kDevice = interned("__dlpack_device__");
  const std::string label = "model '" + use.session.name() + "'";
  check_grad(obj, use);
  // Where it is decides which stream the producer must order its work before.
  Device device{};
  if (_PyType_Lookup(Py_TYPE(obj), kDevice) != nullptr) {
    PyObject* dev = PyObject_CallMethodNoArgs(obj, kDevice);
    if (dev == nullptr) fail_dlpack(obj, use, pending_error_text());
    refs.own(dev);
    if (!PyTuple_Check(dev) || PyTuple_GET_SIZE(dev) != 2) {
      fail_dlpack(obj, use, "__dlpack_device__() did not return a (device type, id) tuple");
    }
    device.type = static_cast<int32_t>(PyLong_AsLong(PyTuple_GET_ITEM(dev, 0)));
    device.id = static_cast<int32_t>(PyLong_AsLong(PyTuple_GET_ITEM(dev, 1)));
    if (PyErr_Occurred()) fail_dlpack(obj, use, pending_error_text());
  }
  PyObject* cap = call_dlpack(obj, use, use.session.dlpack_stream(device));
  refs.own(cap);  // never renamed: the producer's destructor frees the tensor with it
  const DLTensor* t = nullptr;
  bool read_only = false;
  if (PyCapsule_IsValid(cap, kVersioned)) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap, kVersioned));
    if (m->version.major > DLPACK_MAJOR_VERSION) {
      fail_dlpack(obj, use,
                  "it gave DLPack " + std::to_string(m->version.major) + "." +
                      std::to_string(m->version.minor) + ", newer than ortnative reads (" +
                      std::to_string(DLPACK_MAJOR_VERSION) + ".x)");
    }
    t = &m->dl_tensor;
    read_only = (m->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0;
  } else if (PyCapsule_IsValid(cap, kLegacy)) {
    t = &static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, kLegacy))->dl_tensor;
  } else {
    fail_dlpack(
        obj, use,
        "it returned " + py::str(type_name(cap)).cast<std::string>() + ", not a DLPack capsule");
  }
  view.dtype = dtype_of_dl(t->dtype);
  view.rank = static_cast<std::size_t>(t->ndim);
  view.shape = t->shape;
  view.data = static_cast<char*>(t->data) + t->byte_offset;
  view.device = Device{static_cast<int32_t>(t->device.device_type), t->device.device_id};
  if (view.dtype == DType::kUndefined) {
    given_name = py_text("dlpack_dtype", static_cast<int>(t->dtype.code),
                         static_cast<int>(t->dtype.bits), static_cast<int>(t->dtype.lanes));
    return;
  }
  const bool contiguous = c_contiguous(*t);
  const bool aligned = aligned_for(view.data, view.dtype);
  if (layout != nullptr) {
    *layout = DLPackLayout{contiguous, aligned, !read_only};
    return;
  }
  if (contiguous && aligned) return;
  if (!view.device.host()) {
    raise_py("device_copy_impossible", label, use.role, use.name,
             py_text("device_name", view.device.type, view.device.id),
             !contiguous ? "C-contiguous" : "aligned");
  }
  // The one copy the docs promise for host tensors ORT cannot read in place: NumPy's, of
  // an array over the producer's memory (strides in bytes).
  const auto item = static_cast<npy_intp>(dtype_itemsize(view.dtype));
  std::vector<npy_intp> strides(view.rank);
  for (std::size_t d = 0; d < view.rank; ++d) {
    strides[d] = (t->strides != nullptr ? static_cast<npy_intp>(t->strides[d]) : 1) * item;
  }
  PyArray_Descr* descr = descr_for(view.dtype);  // stolen
  PyObject* over =
      PyArray_NewFromDescr(&PyArray_Type, descr, static_cast<int>(view.rank),
                           reinterpret_cast<npy_intp*>(const_cast<int64_t*>(view.shape)),
                           strides.data(), view.data, 0, nullptr);
  if (over == nullptr) throw py::error_already_set();
  refs.own(over);
  PyObject* copy = PyArray_NewCopy(reinterpret_cast<PyArrayObject*>(over), NPY_CORDER);
  if (copy == nullptr) throw py::error_already_set();
  refs.own(copy);
  auto* arr = reinterpret_cast<PyArrayObject*>(copy);
  view.data = PyArray_DATA(arr);
  view.shape = reinterpret_cast<const int64_t*>(PyArray_DIMS(arr));
}

void dlpack_feed(PyObject* obj, const DLPackUse& use, DType want, Refs& refs, StringStore& strings,
                 TensorView& view, std::string& given_name) {
  check_grad(obj, use);
  if (PyObject* arr = torch_cpu_view(obj, refs)) {
    to_tensor_view(arr, want, refs, strings, view, given_name);
    return;
  }
  dlpack_view(obj, use, refs, view, given_name, nullptr);
}

void dlpack_out_array(PyObject* obj, const Session& session, Refs& refs, OutArray& o,
                      std::string& given_dtype) {
  refs.keep(obj);  // returned to the caller as the output
  const DLPackUse use{session, "out array for output", session.outputs()[o.output].name};
  check_grad(obj, use);
  if (PyObject* view = torch_cpu_view(obj, refs)) {  // as dlpack_feed: the same memory
    describe_out_array(reinterpret_cast<PyArrayObject*>(view), session.outputs()[o.output].dtype, o,
                       given_dtype);
    return;
  }
  DLPackLayout layout;
  dlpack_view(obj, use, refs, o.view, given_dtype, &layout);
  if (o.view.dtype == DType::kUndefined) o.given_dtype = given_dtype;
  o.contiguous = layout.contiguous;
  o.aligned = layout.aligned;
  o.writeable = layout.writeable;
}

// -- DeviceTensor: a value in device memory, exported through DLPack ----------------------

namespace {

struct DeviceTensor {
  Value value;
  py::object keep;  // the test hook's array, whose memory VALUE borrows
};

// One export: the capsule's DLManagedTensor(Versioned) and what it points at. Holds a
// reference to the DeviceTensor (so to its value) until the consumer calls the deleter.
struct Export {
  PyObject* owner = nullptr;
  std::vector<int64_t> shape;
  DLManagedTensorVersioned versioned{};
  DLManagedTensor legacy{};
};

void release_export(Export* e) {
  if (Py_IsInitialized() != 0 && !finalizing()) {
    // Consumers may call the deleter from any thread, with or without the GIL.
    PyGILState_STATE g = take_gil([] { return PyGILState_Ensure(); });
    Py_DECREF(e->owner);
    PyGILState_Release(g);
  }
  delete e;
}

void delete_versioned(DLManagedTensorVersioned* m) {
  release_export(static_cast<Export*>(m->manager_ctx));
}

void delete_legacy(DLManagedTensor* m) {
  release_export(static_cast<Export*>(m->manager_ctx));
}

// Capsules no consumer took (still named "dltensor[_versioned]") free their tensor here.
void capsule_destructor(PyObject* cap) {
  if (PyCapsule_IsValid(cap, kVersioned)) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap, kVersioned));
    m->deleter(m);
  } else if (PyCapsule_IsValid(cap, kLegacy)) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, kLegacy));
    m->deleter(m);
  }
}

py::tuple dlpack_device_of(const DeviceTensor& t) {
  const Device& d = t.value.device();
  return py::make_tuple(d.type, d.id);
}

py::object export_dlpack(py::object self, py::object stream, py::object max_version,
                         py::object dl_device, py::object copy) {
  (void)stream;  // the run synchronised its outputs: they are ready on any stream
  const DeviceTensor& t = self.cast<const DeviceTensor&>();
  if (!dl_device.is_none() && !dl_device.equal(dlpack_device_of(t))) {
    raise_py("dlpack_export_refused",
             "it is on " + py_text("device_name", t.value.device().type, t.value.device().id) +
                 " and ortnative does not copy it elsewhere");
  }
  if (!copy.is_none() && copy.cast<bool>()) {
    raise_py("dlpack_export_refused", "ortnative exports without copying (copy=True asked)");
  }
  const bool versioned =
      !max_version.is_none() && max_version.cast<std::pair<int, int>>().first >= 1;
  auto* e = new Export;
  std::span<const int64_t> shape = t.value.shape();
  e->shape.assign(shape.begin(), shape.end());
  DLTensor dl{};
  dl.data = t.value.data();
  dl.device = DLDevice{static_cast<DLDeviceType>(t.value.device().type), t.value.device().id};
  dl.ndim = static_cast<int32_t>(e->shape.size());
  dl.dtype = dl_of_dtype(t.value.dtype());
  dl.shape = e->shape.data();
  dl.strides = nullptr;  // compact, row-major
  dl.byte_offset = 0;
  e->owner = self.inc_ref().ptr();
  void* managed = nullptr;
  if (versioned) {
    e->versioned.version = DLPackVersion{DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION};
    e->versioned.manager_ctx = e;
    e->versioned.deleter = delete_versioned;
    e->versioned.flags = 0;
    e->versioned.dl_tensor = dl;
    managed = &e->versioned;
  } else {
    e->legacy.manager_ctx = e;
    e->legacy.deleter = delete_legacy;
    e->legacy.dl_tensor = dl;
    managed = &e->legacy;
  }
  PyObject* cap = PyCapsule_New(managed, versioned ? kVersioned : kLegacy, capsule_destructor);
  if (cap == nullptr) {
    release_export(e);
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(cap);
}

}  // namespace

PyObject* device_tensor(Value&& value) {
  py::object t = py::cast(DeviceTensor{std::move(value), py::none()});
  return t.release().ptr();
}

void register_dlpack(py::module_& m) {
  py::class_<DeviceTensor>(m, "DeviceTensor",
                           "An output kept in device memory (Session(..., output_device='cuda')): "
                           "hand it to a framework with its from_dlpack (torch.from_dlpack(t)), "
                           "without a copy.")
      .def_property_readonly("shape",
                             [](const DeviceTensor& t) {
                               py::tuple out(t.value.shape().size());
                               for (std::size_t i = 0; i < t.value.shape().size(); ++i) {
                                 out[i] = py::int_(t.value.shape()[i]);
                               }
                               return out;
                             })
      .def_property_readonly("dtype",
                             [](const DeviceTensor& t) {
                               return py::reinterpret_steal<py::object>(
                                   reinterpret_cast<PyObject*>(descr_for(t.value.dtype())));
                             })
      .def_property_readonly("device",
                             [](const DeviceTensor& t) {
                               return py_text("device_name", t.value.device().type,
                                              t.value.device().id);
                             })
      .def("__dlpack_device__", &dlpack_device_of)
      .def("__dlpack__", &export_dlpack, py::kw_only(), py::arg("stream") = py::none(),
           py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(),
           py::arg("copy") = py::none())
      .def("__repr__", [](const DeviceTensor& t) {
        return "<ortnative.DeviceTensor shape=" + format_shape(t.value.shape()) +
               " dtype=" + std::string(dtype_name(t.value.dtype())) +
               " device=" + py_text("device_name", t.value.device().type, t.value.device().id) +
               ">";
      });
  // Test hook: a DeviceTensor over a C-contiguous host array (device cpu:0), so the DLPack
  // export is tested on machines without a GPU.
  m.def("_device_tensor_for_test", [](py::object arr) {
    if (!PyArray_Check(arr.ptr())) throw py::type_error("a numpy array is needed");
    auto* a = reinterpret_cast<PyArrayObject*>(arr.ptr());
    const DType d = dtype_of(PyArray_DESCR(a), DType::kUndefined);
    if (d == DType::kUndefined || d == DType::kString || !PyArray_IS_C_CONTIGUOUS(a)) {
      throw py::type_error("a C-contiguous numeric array is needed");
    }
    Value v = Value::borrowed(d,
                              {reinterpret_cast<const int64_t*>(PyArray_DIMS(a)),
                               static_cast<std::size_t>(PyArray_NDIM(a))},
                              PyArray_DATA(a));
    return py::cast(DeviceTensor{std::move(v), arr});
  });
}

}  // namespace ortnative::py_bridge
