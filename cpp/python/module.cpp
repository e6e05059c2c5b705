// ortnative._core: the native backend of the ortnative Python package.
#include "numpy_bridge.hpp"
#include "register.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "Native backend of ortnative (use the ortnative package, not this module).";
  ortnative::py_bridge::init_numpy();
  ortnative::py_bridge::register_errors(m);
  ortnative::py_bridge::register_runtime(m);
  ortnative::py_bridge::register_run_options(m);
  ortnative::py_bridge::register_session(m);
  ortnative::py_bridge::register_dlpack(m);
  ortnative::py_bridge::register_preprocess(m);
  ortnative::py_bridge::register_scheduler(m);
}
