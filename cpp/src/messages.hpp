// Internal: the wording of every error the core raises about a caller's input, in one
// place. python/ortnative/_messages.py words the pure-Python backend's errors the same
// way (the tests compare the two backends message for message), so a change here is a
// change there. Each function returns the text after the "model 'name': " prefix that
// Session and Scheduler errors carry (Impl::fail adds it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ortnative/dtype.hpp"
#include "ortnative/preprocess.hpp"
#include "ortnative/session.hpp"
#include "ortnative/value.hpp"

namespace ortnative::msg {

// -- formats (the one place each is written) -----------------------------------------------
// format_shape() and format_model_shape() (session.hpp) are the shape formats; these are
// the rest.

// A double as Python's repr writes the values these messages show ("0.5", "1e-05", "nan").
std::string number(double v);
// "'a', 'b'" (or "(none)"): the names of INFOS, quoted, in order.
std::string quoted_names(const std::vector<ValueInfo>& infos);
// What a model input or output is: "float32 [N, 3]", "sequence of int64 tensors", ...
std::string describe(const ValueInfo& info);
// How to convert to DTYPE: "convert with .astype(numpy.float32)".
std::string cast_hint(DType dtype);
// A duration in microseconds as milliseconds ("40", "0.5").
std::string milliseconds(int64_t us);

// -- sessions (session_load.cpp, session_run.cpp) -------------------------------------------

std::string model_file_missing(std::string_view path);
std::string model_is_directory(std::string_view path);
std::string model_file_empty(std::string_view path);
std::string model_bytes_empty();
std::string loading_file_failed(std::string_view path);
std::string loading_bytes_failed(std::size_t size);
std::string provider_unavailable(std::string_view name, const std::vector<std::string>& available);
std::string cpu_provider_options();
std::string session_closed();
// ROLE: "input", "out array for output", "element of input".
std::string dtype_mismatch(std::string_view role, const ValueInfo& info, std::string_view given);
std::string rank_mismatch(std::string_view role, const ValueInfo& info,
                          std::span<const int64_t> got);
std::string dim_mismatch(std::string_view role, const ValueInfo& info, std::span<const int64_t> got,
                         std::size_t dim);
std::string missing_input(const ValueInfo& info, const std::vector<ValueInfo>& inputs);
std::string not_a_tensor_input(const ValueInfo& info);
std::string not_a_sequence_input(const ValueInfo& info, std::size_t count);
std::string unknown_name(std::string_view what, std::string_view name,
                         const std::vector<ValueInfo>& infos);
std::string output_requested_twice(const ValueInfo& info);
std::string output_index_out_of_range(std::size_t index, std::size_t outputs);
std::string out_not_requested(const ValueInfo& info);
std::string out_kind(const ValueInfo& info);
std::string out_layout(const ValueInfo& info, bool contiguous, bool aligned, bool writeable);
std::string out_shape_produced(const ValueInfo& info, std::span<const int64_t> given,
                               std::span<const int64_t> produced);
std::string run_failed(std::string_view ort_text, const std::vector<ValueInfo>& inputs,
                       std::span<const InputView> feeds);
std::string run_arity(std::size_t inputs, std::size_t model_inputs, std::size_t results,
                      std::size_t outputs, std::size_t buffers);
// A run RunOptions::terminate() stopped.
std::string run_terminated();
// Context of a custom op library ORT could not load or register (ORT's text follows).
std::string custom_op_library(std::string_view path);
// Options a C++ host can get wrong (Python's records check them first, in their words).
std::string log_severity_level(int level);
std::string log_verbosity_level(int level);
std::string run_log_severity_level(int level);
std::string free_dimension_size(std::string_view dim, int64_t size);
std::string initializer_not_numeric(std::string_view name);
// Devices (ROLE as above). A device as "cuda:0", "rocm:1": DLPack's device type names.
std::string device_name(const Device& device);
std::string device_needs_cuda(std::string_view role, const ValueInfo& info, const Device& device);
std::string device_unsupported(std::string_view role, const ValueInfo& info, const Device& device);
std::string output_device_needs_cuda(const Device& device);
std::string output_device_unsupported(const Device& device);
// How a string element the core refuses is described in place of a dtype ("str (element
// 3 is not valid UTF-8)"); WHY: "not valid UTF-8", "not valid Unicode: U+D800".
std::string bad_string_element(std::size_t element, std::string_view why);

// -- preprocessing (preprocess.cpp) ----------------------------------------------------------

std::string image_dtype(std::size_t index, std::string_view given);
std::string image_shape(std::size_t index, std::span<const int64_t> shape);
std::string image_channels(std::size_t index, const ImageView& image, int want,
                           ColorOrder input_order);
std::string image_empty(std::size_t index, const ImageView& image);
std::string image_rows_too_long(std::size_t index, int64_t bytes);
std::string image_no_data(std::size_t index);
std::string no_images();
std::string preprocess_out_dtype(std::string_view given, DType want);
std::string preprocess_out_shape(std::span<const int64_t> shape, std::span<const int64_t> want,
                                 Layout layout, int64_t n);
std::string preprocess_out_layout();
std::string image_size(int64_t height, int64_t width);

// -- scheduling (scheduler.cpp, scheduler_run.cpp) ----------------------------------------

std::string request_timed_out(int64_t timeout_us);
std::string request_cancelled();
std::string request_cancelled_running();
std::string closed_before_run();
std::string scheduler_closed_request();
std::string scheduler_closed_model(std::string_view name);
std::string queue_full(std::size_t max_queue_size);
std::string unknown_model(std::string_view name, const std::vector<std::string>& models);
std::string model_being_added(std::string_view name);
std::string model_already_added(std::string_view name);
std::string cannot_batch(int max_batch_size, std::string_view why);
std::string warmup_no_value(const ValueInfo& info);
std::string warmup_cannot_split(int rows);

}  // namespace ortnative::msg
