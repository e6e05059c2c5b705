// The options records of python/ortnative/options.py (frozen dataclasses, checked there)
// as the core's structs: the one place where they cross the layer. A field is read by
// name; enum names are parsed by the core's *_from_name functions.
#include "options.hpp"

#include <pybind11/stl.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

#include "gil.hpp"
#include "messages.hpp"
#include "numpy_bridge.hpp"
#include "ortnative/dtype.hpp"

namespace ortnative::py_bridge {

namespace {

template <class T>
T field(py::handle record, const char* name) {
  return record.attr(name).cast<T>();
}

std::array<double, 3> three(py::handle record, const char* name) {
  return record.attr("padded")(name).cast<std::array<double, 3>>();
}

// A reference to OBJ as a SessionOptions::keep_alive: released with the GIL taken, on
// whichever thread drops the session last (not during finalisation: then it is left).
std::shared_ptr<const void> keep(py::object obj) {
  PyObject* raw = obj.release().ptr();
  return std::shared_ptr<const void>(raw, [](const void* p) {
    if (finalizing()) return;
    PyGILState_STATE st = take_gil([] { return PyGILState_Ensure(); });
    Py_DECREF(static_cast<PyObject*>(const_cast<void*>(p)));
    PyGILState_Release(st);
  });
}

// The arrays of an initializers dict (checked by the record: C-contiguous, numeric).
std::vector<Initializer> initializers(py::handle dict, py::list& arrays) {
  std::vector<Initializer> out;
  for (auto [k, v] : dict.cast<py::dict>()) {
    auto* arr = reinterpret_cast<PyArrayObject*>(v.ptr());
    Initializer init;
    init.name = k.cast<std::string>();
    init.tensor.dtype = dtype_of(PyArray_DESCR(arr), DType::kUndefined);
    init.tensor.rank = static_cast<std::size_t>(PyArray_NDIM(arr));
    init.tensor.shape = reinterpret_cast<const int64_t*>(PyArray_DIMS(arr));
    init.tensor.data = PyArray_DATA(arr);
    arrays.append(v);
    out.push_back(std::move(init));
  }
  return out;
}

}  // namespace

SessionOptions session_options(py::handle r, std::string name, LoadRefs& load) {
  SessionOptions o;
  for (py::handle p : r.attr("providers")) {
    auto [pname, popts] =
        p.cast<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>();
    o.providers.push_back({std::move(pname), std::move(popts)});
  }
  o.intra_op_threads = field<int>(r, "intra_op_threads");
  o.inter_op_threads = field<int>(r, "inter_op_threads");
  o.graph_optimization = graph_optimization_from_name(field<std::string>(r, "graph_optimization"));
  o.execution_mode = execution_mode_from_name(field<std::string>(r, "execution_mode"));
  for (auto [k, v] : r.attr("config").cast<py::dict>()) {
    o.config.emplace_back(k.cast<std::string>(), v.cast<std::string>());
  }
  auto [device_type, device_id] = field<std::pair<int32_t, int32_t>>(r, "output_device_spec");
  o.output_device = Device{device_type, device_id};
  o.name = std::move(name);
  o.enable_cpu_mem_arena = field<bool>(r, "enable_cpu_mem_arena");
  o.enable_mem_pattern = field<bool>(r, "enable_mem_pattern");
  o.optimized_model_filepath = field<std::string>(r, "optimized_model_filepath");
  o.enable_profiling = field<bool>(r, "enable_profiling");
  o.profile_file_prefix = field<std::string>(r, "profile_file_prefix");
  for (auto [k, v] : r.attr("free_dimension_overrides").cast<py::dict>()) {
    o.free_dimension_overrides.emplace_back(k.cast<std::string>(), v.cast<int64_t>());
  }
  for (auto [k, v] : r.attr("free_dimension_overrides_by_denotation").cast<py::dict>()) {
    o.free_dimension_overrides_by_denotation.emplace_back(k.cast<std::string>(), v.cast<int64_t>());
  }
  o.custom_op_libraries = field<std::vector<std::string>>(r, "custom_op_libraries");
  py::list arrays;  // what the session must keep alive: the initializers read in place
  o.initializers = initializers(r.attr("initializers"), arrays);
  py::list copied;  // read while loading only, kept alive by the record
  o.external_initializers = initializers(r.attr("external_initializers"), copied);
  for (auto [k, v] : r.attr("external_data").cast<py::dict>()) {
    py::buffer_info& info =
        load.buffers.emplace_back(py::reinterpret_borrow<py::buffer>(v).request());
    o.external_data.push_back(ExternalFile{k.cast<std::string>(), info.ptr,
                                           static_cast<std::size_t>(info.size * info.itemsize)});
  }
  py::object level = r.attr("log_severity_level");
  o.log_severity_level = level.is_none() ? -1 : level.cast<int>();
  o.log_verbosity_level = field<int>(r, "log_verbosity_level");
  o.logid = field<std::string>(r, "logid");
  o.use_deterministic_compute = field<bool>(r, "use_deterministic_compute");
  if (!o.initializers.empty()) o.keep_alive = keep(std::move(arrays));
  return o;
}

RunOptions run_options(py::handle r) {
  RunOptions o;
  o.set_tag(field<std::string>(r, "run_tag"));
  py::object level = r.attr("log_severity_level");
  if (!level.is_none()) o.set_log_severity_level(level.cast<int>());
  o.set_log_verbosity_level(field<int>(r, "log_verbosity_level"));
  for (auto [k, v] : r.attr("config").cast<py::dict>()) {
    o.add_config_entry(k.cast<std::string>(), v.cast<std::string>());
  }
  return o;
}

py::object run_options_of(py::handle obj) {
  // The class, looked up once and kept (never released: it lives as long as the module).
  static PyObject* cls =
      py::object(py::module_::import("ortnative.options").attr("RunOptions")).release().ptr();
  const int is = PyObject_IsInstance(obj.ptr(), cls);
  if (is < 0) throw py::error_already_set();
  if (is == 0) raise_py("run_options_type", type_name(obj.ptr()));
  return obj.attr("_impl")("native");
}

PreprocessOptions preprocess_options(py::handle r) {
  PreprocessOptions o;
  auto [height, width] = field<std::pair<int64_t, int64_t>>(r, "size");
  o.height = height;
  o.width = width;
  o.resize = resize_mode_from_name(field<std::string>(r, "resize"));
  o.fit = fit_mode_from_name(field<std::string>(r, "fit"));
  o.align = align_from_name(field<std::string>(r, "align"));
  o.input_order = color_order_from_name(field<std::string>(r, "input_order"), "input_order");
  o.output_order = color_order_from_name(field<std::string>(r, "output_order"), "output_order");
  o.scale = field<double>(r, "scale");
  o.mean = three(r, "mean");
  o.std = three(r, "std");
  o.pad_value = three(r, "pad_value");
  o.dtype = dtype_from_name(field<std::string>(r, "dtype"));
  o.layout = layout_from_name(field<std::string>(r, "layout"));
  o.threads = field<int>(r, "threads");
  return o;
}

ModelConfig model_config(py::handle r) {
  ModelConfig c;
  c.replicas = field<int>(r, "replicas");
  c.max_batch_size = field<int>(r, "max_batch_size");
  c.max_queue_delay = std::chrono::microseconds(field<int64_t>(r, "max_queue_delay_us"));
  c.max_queue_size = field<std::size_t>(r, "max_queue_size");
  c.timeout = std::chrono::microseconds(field<int64_t>(r, "timeout_us"));
  c.preferred_batch_sizes = field<std::vector<int>>(r, "preferred_batch_sizes");
  c.warmup = field<bool>(r, "warmup");
  return c;
}

}  // namespace ortnative::py_bridge
