// Bindings for ortnative::ImagePreprocessor: turns NumPy images and the out= array into
// core views, releases the GIL around the core, and returns the output array. Checks and
// messages are the core's (its fail_* helpers word what a view cannot express); errors
// about Python objects are worded by ortnative._messages, as for the python backend.

#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <string>

#include "gil.hpp"
#include "messages.hpp"
#include "numpy_bridge.hpp"
#include "options.hpp"
#include "ortnative/error.hpp"
#include "ortnative/preprocess.hpp"
#include "ortnative/small_array.hpp"
#include "register.hpp"

namespace ortnative::py_bridge {

namespace {

using detail::SmallArray;

class PyPreprocessor {
 public:
  explicit PyPreprocessor(py::handle options)
      : pre_(preprocess_options(options)),
        descr_(py::reinterpret_steal<py::object>(
            reinterpret_cast<PyObject*>(descr_for(pre_.options().dtype)))) {}

  py::tuple output_shape(int64_t n) const {
    const auto s = pre_.output_shape(n);
    return py::make_tuple(s[0], s[1], s[2], s[3]);
  }

  // (scale_x, scale_y, offset_x, offset_y, left, top, width, height) of the visible
  // region, for a source image of HEIGHT x WIDTH (> 0: checked by ortnative.preprocess).
  py::tuple geometry(int64_t height, int64_t width) const {
    const Transform t = pre_.geometry(height, width);
    return py::make_tuple(t.scale_x, t.scale_y, t.offset_x, t.offset_y, t.left, t.top,
                          t.visible_width, t.visible_height);
  }

  py::object run(py::handle images, py::handle out) const;

 private:
  // Fills VIEW from image INDEX, ARR (a uint8 array of rank 2 or 3). An array whose
  // pixels are not packed (channel stride 1, pixel stride = channels) is copied once.
  void image_view(std::size_t index, PyArrayObject* arr, Refs& refs, ImageView& view) const;

  ImagePreprocessor pre_;
  py::object descr_;  // NumPy dtype of the output
};

void PyPreprocessor::image_view(std::size_t index, PyArrayObject* arr, Refs& refs,
                                ImageView& view) const {
  PyArray_Descr* descr = PyArray_DESCR(arr);
  if (descr->type_num != NPY_UBYTE) pre_.fail_image_dtype(index, numpy_dtype_name(descr));
  const int nd = PyArray_NDIM(arr);
  const npy_intp* dims = PyArray_DIMS(arr);
  if (nd != 2 && nd != 3) {
    static_assert(sizeof(npy_intp) == sizeof(int64_t), "64-bit platforms only");
    pre_.fail_image_shape(index,
                          {reinterpret_cast<const int64_t*>(dims), static_cast<std::size_t>(nd)});
  }
  const int64_t channels = nd == 3 ? dims[2] : 1;
  const npy_intp* strides = PyArray_STRIDES(arr);
  const bool packed =
      dims[0] == 0 || dims[1] == 0 ||
      ((dims[1] == 1 || strides[1] == channels) && (nd == 2 || channels == 1 || strides[2] == 1));
  if (!packed) {
    // The one copy the docs promise for images whose pixels are not packed.
    PyObject* copy = PyArray_NewCopy(arr, NPY_CORDER);
    if (copy == nullptr) throw py::error_already_set();
    refs.own(copy);
    arr = reinterpret_cast<PyArrayObject*>(copy);
    strides = PyArray_STRIDES(arr);
  }
  view.data = static_cast<const uint8_t*>(PyArray_DATA(arr));
  view.height = dims[0];
  view.width = dims[1];
  view.channels = channels;
  view.row_stride = strides[0];
  view.dtype = DType::kUInt8;
  view.rank = nd;
  pre_.check_image(view, index);  // now, so errors come in image order
}

py::object PyPreprocessor::run(py::handle images, py::handle out) const {
  Refs refs;  // destroyed last, with the GIL held
  PyObject* obj = images.ptr();
  // What the images are: one array (HxW, HxWxC, or an NxHxWxC batch), or a sequence.
  PyObject* fast = nullptr;
  int64_t n = 0;
  bool batch = false;
  if (PyArray_Check(obj)) {
    auto* arr = reinterpret_cast<PyArrayObject*>(obj);
    batch = PyArray_NDIM(arr) == 4;
    n = batch ? PyArray_DIMS(arr)[0] : 1;
  } else if (PyList_Check(obj) || PyTuple_Check(obj)) {
    fast = obj;
    n = PySequence_Fast_GET_SIZE(obj);
  } else {
    raise_py("images_container", type_name(obj));
  }

  // The output: the caller's array, checked, or a new one.
  PreprocessOutput o;
  PyObject* result = nullptr;
  if (n == 0) {
    // Nothing to convert: the core says so (PreprocessOutput stays empty).
  } else if (out.is_none()) {
    const auto shape = pre_.output_shape(n);
    PyObject* descr = descr_.ptr();
    Py_INCREF(descr);  // stolen
    npy_intp dims[4] = {shape[0], shape[1], shape[2], shape[3]};
    result = PyArray_NewFromDescr(&PyArray_Type, reinterpret_cast<PyArray_Descr*>(descr), 4, dims,
                                  nullptr, nullptr, 0, nullptr);
    if (result == nullptr) throw py::error_already_set();
    refs.own(result);
    o = PreprocessOutput::dense(PyArray_DATA(reinterpret_cast<PyArrayObject*>(result)),
                                pre_.options().dtype, shape);
  } else {
    PyObject* op = out.ptr();
    if (!PyArray_Check(op)) raise_py("preprocess_out_not_array", type_name(op));
    auto* arr = reinterpret_cast<PyArrayObject*>(op);
    PyArray_Descr* descr = PyArray_DESCR(arr);
    const DType dt = dtype_of(descr, DType::kUndefined);
    // The dtype before the shape, as the core's check_output orders them.
    if (dt != pre_.options().dtype) pre_.fail_output_dtype(numpy_dtype_name(descr));
    const int nd = PyArray_NDIM(arr);
    const auto* dims = reinterpret_cast<const int64_t*>(PyArray_DIMS(arr));
    // Not expressible as a PreprocessOutput: the core's message for a wrong shape.
    if (nd != 4) pre_.fail_output_shape({dims, static_cast<std::size_t>(nd)}, n);
    const auto item = static_cast<int64_t>(PyArray_ITEMSIZE(arr));
    const npy_intp* st = PyArray_STRIDES(arr);
    o.data = PyArray_DATA(arr);
    o.dtype = dt;
    o.writeable = PyArray_ISWRITEABLE(arr);
    o.aligned = PyArray_ISALIGNED(arr);
    for (std::size_t d = 0; d < 4; ++d) {
      o.shape[d] = dims[d];
      o.element_strides = o.element_strides && st[d] % item == 0;
      o.strides[d] = st[d] / item;
    }
    if (o.shape[3] == 1) o.strides[3] = 1;  // a dimension of size 1 has no meaningful stride
    pre_.check_output(o, n);                // now, before the images, as the core's run() orders it
    refs.keep(op);
    result = op;
  }

  SmallArray<ImageView, 8> views(static_cast<std::size_t>(n));
  if (fast != nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      PyObject* item = PySequence_Fast_GET_ITEM(fast, static_cast<Py_ssize_t>(i));
      if (!PyArray_Check(item)) raise_py("image_not_array", i, type_name(item));
      refs.keep(item);  // the caller's list may lose it while the GIL is released
      image_view(static_cast<std::size_t>(i), reinterpret_cast<PyArrayObject*>(item), refs,
                 views[static_cast<std::size_t>(i)]);
    }
  } else if (!batch) {
    refs.keep(obj);
    image_view(0, reinterpret_cast<PyArrayObject*>(obj), refs, views[0]);
  } else {
    // An NxHxWxC batch: image i is arr[i], read in place.
    refs.keep(obj);
    auto* arr = reinterpret_cast<PyArrayObject*>(obj);
    PyArray_Descr* descr = PyArray_DESCR(arr);
    if (descr->type_num != NPY_UBYTE) pre_.fail_image_dtype(0, numpy_dtype_name(descr));
    const npy_intp* dims = PyArray_DIMS(arr);
    const npy_intp* st = PyArray_STRIDES(arr);
    if (!(dims[1] == 0 || dims[2] == 0 || ((dims[2] == 1 || st[2] == dims[3]) && st[3] == 1))) {
      PyObject* copy = PyArray_NewCopy(arr, NPY_CORDER);
      if (copy == nullptr) throw py::error_already_set();
      refs.own(copy);
      arr = reinterpret_cast<PyArrayObject*>(copy);
      st = PyArray_STRIDES(arr);
    }
    const auto* base = static_cast<const uint8_t*>(PyArray_DATA(arr));
    for (int64_t i = 0; i < n; ++i) {
      ImageView& v = views[static_cast<std::size_t>(i)];
      v.data = base + i * st[0];
      v.height = dims[1];
      v.width = dims[2];
      v.channels = dims[3];
      v.row_stride = st[1];
      v.dtype = DType::kUInt8;
      v.rank = 3;
      pre_.check_image(v, static_cast<std::size_t>(i));
    }
  }
  {
    // Safe: REFS keeps every image array (and copy) and the output alive, and nothing
    // below touches a Python object. The caller must not resize or free them from
    // another thread meanwhile, which NumPy forbids for arrays with live references.
    ReleaseGil release;
    pre_.run({views.data(), views.size()}, o);
  }
  return py::reinterpret_borrow<py::object>(result);
}

}  // namespace

void register_preprocess(py::module_& m) {
  py::class_<PyPreprocessor>(m, "ImagePreprocessor")
      .def(py::init<py::handle>(), py::arg("options"))
      .def("run", &PyPreprocessor::run, py::arg("images"), py::arg("out") = py::none(),
           "Preprocesses IMAGES into OUT (or a new array), which it returns.")
      .def("output_shape", &PyPreprocessor::output_shape, py::arg("n"))
      .def("geometry", &PyPreprocessor::geometry, py::arg("height"), py::arg("width"));
  m.def("available_cores", &available_cores);
  m.def(
      "_set_preprocess_simd", [](bool enabled) { return detail::set_preprocess_simd(enabled); },
      py::arg("enabled"), "Test hook: False forces the portable kernels; returns the old value.");
  m.def("_preprocess_simd_active", &detail::preprocess_simd_active);
}

}  // namespace ortnative::py_bridge
