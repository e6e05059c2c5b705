// Loading ORT, the shared thread pools, and process-wide facts.
#include <pybind11/stl.h>

#include "gil.hpp"
#include "numpy_bridge.hpp"
#include "ortnative/ortnative.hpp"
#include "register.hpp"

namespace ortnative::py_bridge {

void register_runtime(py::module_& m) {
  m.def(
      "load_runtime",
      [](const std::vector<std::string>& candidates) {
        ReleaseGil release;  // dlopen of a large library takes milliseconds
        const RuntimeInfo& info = load_runtime(candidates);
        return std::make_pair(info.library_path, info.version);
      },
      py::arg("candidates"),
      "Load libonnxruntime from the first candidate that works; returns (path, version).");
  m.def("runtime_loaded", &runtime_loaded);
  m.def("set_global_thread_pools", &set_global_thread_pools, py::arg("intra_op_threads"),
        py::arg("inter_op_threads"), py::arg("allow_spinning") = true);
  m.def("global_thread_pools", &global_thread_pools);
  m.def("global_thread_spinning", &global_thread_spinning);
  m.def("available_providers", &available_providers);
  m.def("_set_bfloat16_dtype", [](py::handle dtype) { set_bfloat16_descr(dtype.ptr()); });
  m.def("_live_values", &live_values,
        "Number of ORT values owned by arrays this module returned (for lifetime tests).");
}

}  // namespace ortnative::py_bridge
