// Bindings: errors about Python objects (a container that is not one, an out= value that
// is not an array, a name that is not a str) are worded by python/ortnative/_messages.py,
// which the python backend raises too: one text for both backends, in the language the
// objects belong to. Everything about tensors is worded by the core (cpp/src/messages.*).
// Error path only; needs the GIL.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <utility>

namespace ortnative::py_bridge {

// Raises the exception that ortnative._messages.NAME(*ARGS) returns.
template <class... Args>
[[noreturn]] void raise_py(const char* name, Args&&... args) {
  namespace py = pybind11;
  py::object exc =
      py::module_::import("ortnative._messages").attr(name)(std::forward<Args>(args)...);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw py::error_already_set();
}

// The text that ortnative._messages.NAME(*ARGS) returns (how a Python value the core
// cannot take is described in the core's messages, e.g. "str (element 3 is not valid
// UTF-8)").
template <class... Args>
std::string py_text(const char* name, Args&&... args) {
  namespace py = pybind11;
  return py::module_::import("ortnative._messages")
      .attr(name)(std::forward<Args>(args)...)
      .template cast<std::string>();
}

// type(OBJ).__name__, as the python backend names a type ("dict", "Tensor").
inline pybind11::object type_name(PyObject* obj) {
  return pybind11::handle(reinterpret_cast<PyObject*>(Py_TYPE(obj))).attr("__name__");
}

}  // namespace ortnative::py_bridge
