// Bindings: python/ortnative/options.py's records as the core's option structs
// (options.cpp). Every function needs the GIL; the records were checked in Python, and
// the core checks again what a C++ host could get wrong (names, ranges).
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "ortnative/preprocess.hpp"
#include "ortnative/scheduler.hpp"
#include "ortnative/session.hpp"

namespace ortnative::py_bridge {

namespace py = pybind11;

// A SessionOptions record; NAME is the model's name in messages.
SessionOptions session_options(py::handle record, std::string name);
// A PreprocessOptions record.
PreprocessOptions preprocess_options(py::handle record);
// A ModelConfig record.
ModelConfig model_config(py::handle record);

}  // namespace ortnative::py_bridge
