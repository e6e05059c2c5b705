// Bindings for ortnative::RunOptions: made from an ortnative.RunOptions (options.cpp
// converts its fields), which keeps it and calls terminate()/unset_terminate() on it.
#include "options.hpp"
#include "ortnative/ortnative.hpp"
#include "register.hpp"

namespace ortnative::py_bridge {

void register_run_options(py::module_& m) {
  py::class_<RunOptions>(m, "RunOptions")
      .def(py::init([](py::handle options) { return run_options(options); }), py::arg("options"))
      // Safe to call while a run using these options is in flight (that is their use).
      .def("terminate", &RunOptions::terminate)
      .def("unset_terminate", &RunOptions::unset_terminate)
      .def_property_readonly("terminated", &RunOptions::terminated);
}

}  // namespace ortnative::py_bridge
