// Maps the core's error codes onto the exception classes of ortnative.errors, so both
// backends raise the same types. The classes are looked up when first needed (the
// package imports this module while ortnative.errors is already loaded).
#include <exception>
#include <string_view>

#include "ortnative/error.hpp"
#include "register.hpp"

namespace ortnative::py_bridge {

namespace py = pybind11;

namespace {

PyObject* error_class(ErrorCode code) {
  py::module_ errors = py::module_::import("ortnative.errors");
  return errors.attr(error_code_name(code)).ptr();  // module keeps the class alive
}

}  // namespace

void register_errors(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyObject* cls = error_class(e.code());
      // Never fail to raise: text that is not UTF-8 is escaped, not an error of its own.
      const std::string_view what = e.what();
      PyObject* msg = PyUnicode_DecodeUTF8(what.data(), static_cast<Py_ssize_t>(what.size()),
                                           "backslashreplace");
      if (msg == nullptr) return;
      PyObject* exc = PyObject_CallOneArg(cls, msg);
      Py_DECREF(msg);
      if (exc == nullptr) return;  // the constructor's own error is already set
      if (e.ort_code() != 0) {
        PyObject* code = PyLong_FromLong(e.ort_code());
        if (code != nullptr) {
          PyObject_SetAttrString(exc, "ort_code", code);
          Py_DECREF(code);
        }
      }
      PyErr_SetObject(cls, exc);
      Py_DECREF(exc);
    }
  });
  m.attr("ERROR_CODES") = [] {
    py::dict d;
    for (int c = static_cast<int>(ErrorCode::kRuntimeLoad);
         c <= static_cast<int>(ErrorCode::kTerminated); ++c) {
      d[py::int_(c)] = py::str(error_code_name(static_cast<ErrorCode>(c)));
    }
    return d;
  }();
}

}  // namespace ortnative::py_bridge
