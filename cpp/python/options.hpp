// Bindings: python/ortnative/options.py's records as the core's option structs
// (options.cpp). Every function needs the GIL; the records were checked in Python, and
// the core checks again what a C++ host could get wrong (names, ranges).
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "ortnative/preprocess.hpp"
#include "ortnative/scheduler.hpp"
#include "ortnative/session.hpp"

namespace ortnative::py_bridge {

namespace py = pybind11;

// What a SessionOptions' views of Python memory need only while the model loads (the
// external data files' buffers): kept by the caller until the load returned.
struct LoadRefs {
  std::vector<py::buffer_info> buffers;
};

// A SessionOptions record; NAME is the model's name in messages. The initializers'
// arrays are kept alive by the result's keep_alive (released with the GIL taken);
// the external data's buffers by LOAD.
SessionOptions session_options(py::handle record, std::string name, LoadRefs& load);
// An ortnative.RunOptions' fields (run_tag, log levels, config) as a new core RunOptions.
RunOptions run_options(py::handle options);
// The native counterpart of an ortnative.RunOptions (a _core.RunOptions that it makes on
// first use and keeps; see python/ortnative/options.py); the TypeError
// ortnative._messages.run_options_type words for anything else.
py::object run_options_of(py::handle options);
// A PreprocessOptions record.
PreprocessOptions preprocess_options(py::handle record);
// A ModelConfig record.
ModelConfig model_config(py::handle record);

}  // namespace ortnative::py_bridge
