// The options records of python/ortnative/options.py (frozen dataclasses, checked there)
// as the core's structs: the one place where they cross the layer. A field is read by
// name; enum names are parsed by the core's *_from_name functions.
#include "options.hpp"

#include <pybind11/stl.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace

SessionOptions session_options(py::handle r, std::string name) {
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
  return o;
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
