// Bindings: one register_<concept>() per file; module.cpp only calls them.
#pragma once

#include <pybind11/pybind11.h>

namespace ortnative::py_bridge {

void register_dlpack(pybind11::module_& m);
void register_errors(pybind11::module_& m);
void register_runtime(pybind11::module_& m);
void register_run_options(pybind11::module_& m);
void register_scheduler(pybind11::module_& m);
void register_session(pybind11::module_& m);
void register_preprocess(pybind11::module_& m);

}  // namespace ortnative::py_bridge
