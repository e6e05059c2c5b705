// The wording of the core's errors (see messages.hpp); python/ortnative/_messages.py is
// its twin for the pure-Python backend.
#include "messages.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace ortnative {

std::string format_shape(std::span<const int64_t> shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  out += ")";
  return out;
}

std::string format_model_shape(const ValueInfo& info) {
  std::string out = "[";
  for (std::size_t i = 0; i < info.shape.size(); ++i) {
    if (i > 0) out += ", ";
    if (info.shape[i] >= 0) {
      out += std::to_string(info.shape[i]);
    } else if (i < info.dim_names.size() && !info.dim_names[i].empty()) {
      out += info.dim_names[i];
    } else {
      out += "?";
    }
  }
  out += "]";
  return out;
}

}  // namespace ortnative

namespace ortnative::msg {

namespace {

std::string quote(std::string_view s) {
  return "'" + std::string(s) + "'";
}

std::string image_shape_text(const ImageView& im) {
  if (im.rank == 2) return format_shape(std::array<int64_t, 2>{im.height, im.width});
  return format_shape(std::array<int64_t, 3>{im.height, im.width, im.channels});
}

}  // namespace

// -- formats -------------------------------------------------------------------------------

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string quoted_names(const std::vector<ValueInfo>& infos) {
  std::string out;
  for (const ValueInfo& info : infos) {
    if (!out.empty()) out += ", ";
    out += quote(info.name);
  }
  return out.empty() ? "(none)" : out;
}

std::string describe(const ValueInfo& info) {
  switch (info.kind) {
    case ValueInfo::Kind::kTensor:
      return std::string(dtype_name(info.dtype)) + " " + format_model_shape(info);
    case ValueInfo::Kind::kSequence:
      return "sequence of " + std::string(dtype_name(info.dtype)) + " tensors";
    case ValueInfo::Kind::kOptional:
      return "optional " + std::string(dtype_name(info.dtype)) +
             (info.contained == ValueInfo::Kind::kSequence ? " sequence" : " tensor");
    case ValueInfo::Kind::kMap: return "map";
    case ValueInfo::Kind::kOther: break;
  }
  return "unsupported type";
}

std::string cast_hint(DType want) {
  switch (want) {
    case DType::kString: return "pass str values";
    case DType::kBFloat16: return "convert with .astype(ml_dtypes.bfloat16)";
    case DType::kBool: return "convert with .astype(numpy.bool_)";
    default: return "convert with .astype(numpy." + std::string(dtype_name(want)) + ")";
  }
}

std::string milliseconds(int64_t us) {
  // As Python's f"{us / 1000:g}".
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(us) / 1000.0);
  return buf;
}

// -- sessions ------------------------------------------------------------------------------

std::string model_file_missing(std::string_view path) {
  return "model file " + quote(path) + " does not exist";
}

std::string model_is_directory(std::string_view path) {
  return quote(path) + " is a directory, not a model file";
}

std::string model_file_empty(std::string_view path) {
  return "model file " + quote(path) + " is empty";
}

std::string model_bytes_empty() {
  return "model bytes are empty";
}

std::string loading_file_failed(std::string_view path) {
  return "loading " + quote(path) + " failed";
}

std::string loading_bytes_failed(std::size_t size) {
  return "loading the model from " + std::to_string(size) + " bytes failed";
}

std::string provider_unavailable(std::string_view name, const std::vector<std::string>& available) {
  std::string list;
  for (const std::string& n : available) list += (list.empty() ? "" : ", ") + quote(n);
  return "execution provider " + quote(name) +
         " is not available in this ONNX Runtime build (available: " + list + ")";
}

std::string cpu_provider_options() {
  return "CPUExecutionProvider takes no provider options";
}

std::string session_closed() {
  return "session is closed";
}

std::string run_terminated() {
  return "run terminated: RunOptions.terminate() was called (unset_terminate() lets runs "
         "with these options run again)";
}

std::string custom_op_library(std::string_view path) {
  return "registering the custom op library " + quote(path);
}

std::string log_severity_level(int level) {
  return "log_severity_level must be -1 (the process's level) or from 0 (verbose) to 4 "
         "(fatal), got " +
         std::to_string(level);
}

std::string run_log_severity_level(int level) {
  return "log_severity_level must be from 0 (verbose) to 4 (fatal), got " + std::to_string(level);
}

std::string log_verbosity_level(int level) {
  return "log_verbosity_level must be >= 0, got " + std::to_string(level);
}

std::string free_dimension_size(std::string_view dim, int64_t size) {
  return "free dimension " + quote(dim) + " must be given a size >= 0, got " + std::to_string(size);
}

std::string initializer_not_numeric(std::string_view name) {
  return "initializer " + quote(name) +
         " must be a dense numeric tensor with its data (string tensors cannot be given "
         "from memory)";
}

std::string dtype_mismatch(std::string_view role, const ValueInfo& info, std::string_view given) {
  return std::string(role) + " " + quote(info.name) + " has dtype " + std::string(given) +
         ", expected " + std::string(dtype_name(info.dtype)) +
         " (ortnative never casts: " + cast_hint(info.dtype) + ")";
}

std::string rank_mismatch(std::string_view role, const ValueInfo& info,
                          std::span<const int64_t> got) {
  return std::string(role) + " " + quote(info.name) + " has shape " + format_shape(got) +
         " (rank " + std::to_string(got.size()) + "), expected rank " +
         std::to_string(info.shape.size()) + ": " + format_model_shape(info);
}

std::string dim_mismatch(std::string_view role, const ValueInfo& info, std::span<const int64_t> got,
                         std::size_t dim) {
  return std::string(role) + " " + quote(info.name) + " has shape " + format_shape(got) +
         ", expected " + format_model_shape(info) + " (dimension " + std::to_string(dim) +
         " must be " + std::to_string(info.shape[dim]) + ")";
}

std::string missing_input(const ValueInfo& info, const std::vector<ValueInfo>& inputs) {
  return "missing input " + quote(info.name) + " (" + describe(info) +
         "); the model needs all of: " + quoted_names(inputs);
}

std::string not_a_tensor_input(const ValueInfo& info) {
  return "input " + quote(info.name) + " is a " + describe(info) + ", got a tensor";
}

std::string not_a_sequence_input(const ValueInfo& info, std::size_t count) {
  return "input " + quote(info.name) + " is a " + describe(info) + ", got a sequence of " +
         std::to_string(count) + " arrays";
}

std::string unknown_name(std::string_view what, std::string_view name,
                         const std::vector<ValueInfo>& infos) {
  return "unknown " + std::string(what) + " name " + quote(name) +
         " (expected one of: " + quoted_names(infos) + ")";
}

std::string output_requested_twice(const ValueInfo& info) {
  return "output " + quote(info.name) + " is requested twice";
}

std::string output_index_out_of_range(std::size_t index, std::size_t outputs) {
  return "output index " + std::to_string(index) + " out of range (the model has " +
         std::to_string(outputs) + " outputs)";
}

std::string out_not_requested(const ValueInfo& info) {
  return "out= has an array for output " + quote(info.name) +
         ", which is not among the requested outputs";
}

std::string out_kind(const ValueInfo& info) {
  return "out= cannot hold output " + quote(info.name) + " (" + describe(info) +
         "): only numeric tensor outputs can be written in place";
}

std::string out_layout(const ValueInfo& info, bool contiguous, bool aligned, bool writeable) {
  std::string lacks;
  for (auto [ok, what] : {std::pair{contiguous, "C-contiguous"}, std::pair{aligned, "aligned"},
                          std::pair{writeable, "writeable"}}) {
    if (!ok) lacks += std::string(lacks.empty() ? "" : " or ") + what;
  }
  return "out array for output " + quote(info.name) +
         " must be C-contiguous, aligned and writeable; this one is not " + lacks;
}

std::string device_name(const Device& device) {
  // DLPack's DLDeviceType, by code.
  static constexpr std::array<const char*, 19> kNames = {
      "",       "cpu",    "cuda",    "cuda_host", "opencl",    "",        "",
      "vulkan", "metal",  "vpi",     "rocm",      "rocm_host", "ext_dev", "cuda_managed",
      "oneapi", "webgpu", "hexagon", "maia",      "trn"};
  const auto t = static_cast<std::size_t>(device.type);
  const std::string name = t < kNames.size() && kNames[t][0] != '\0'
                               ? kNames[t]
                               : "device type " + std::to_string(device.type);
  return name + ":" + std::to_string(device.id);
}

std::string device_needs_cuda(std::string_view role, const ValueInfo& info, const Device& device) {
  return std::string(role) + " " + quote(info.name) + " is in CUDA memory (" + device_name(device) +
         "), but this session does not run on CUDA: copy it to the CPU first (.cpu() in "
         "PyTorch), or create the session with providers=['CUDAExecutionProvider', ...]";
}

std::string device_unsupported(std::string_view role, const ValueInfo& info, const Device& device) {
  return std::string(role) + " " + quote(info.name) + " is in " + device_name(device) +
         " memory, which ortnative cannot hand to ONNX Runtime (it takes host memory, and "
         "CUDA memory on a session that runs on CUDA): copy it to the CPU first";
}

std::string output_device_needs_cuda(const Device& device) {
  return "output_device='" + device_name(device) +
         "' needs a session that runs on CUDA: pass providers=['CUDAExecutionProvider', ...]";
}

std::string output_device_unsupported(const Device& device) {
  return "output_device must be 'cpu' or 'cuda[:N]', got '" + device_name(device) + "'";
}

std::string out_shape_produced(const ValueInfo& info, std::span<const int64_t> given,
                               std::span<const int64_t> produced) {
  return "out array for output " + quote(info.name) + " has shape " + format_shape(given) +
         ", but the model produces " + format_shape(produced) + " for these inputs";
}

std::string run_failed(std::string_view ort_text, const std::vector<ValueInfo>& inputs,
                       std::span<const InputView> feeds) {
  std::string msg = "ONNX Runtime failed to run: " + std::string(ort_text) + " [feeds: ";
  for (std::size_t i = 0; i < feeds.size(); ++i) {
    if (i > 0) msg += ", ";
    msg += inputs[i].name + " ";
    const InputView& f = feeds[i];
    if (f.kind == InputView::Kind::kTensor) {
      msg += std::string(dtype_name(f.tensor.dtype)) + " " +
             format_shape({f.tensor.shape, f.tensor.rank});
    } else if (f.kind == InputView::Kind::kSequence) {
      msg += "sequence of " + std::to_string(f.count);
    } else {
      msg += "none";
    }
  }
  return msg + "]";
}

std::string run_arity(std::size_t inputs, std::size_t model_inputs, std::size_t results,
                      std::size_t outputs, std::size_t buffers) {
  return "Session::run: " + std::to_string(inputs) + " inputs for " + std::to_string(model_inputs) +
         ", " + std::to_string(results) + " results for " + std::to_string(outputs) + " outputs, " +
         std::to_string(buffers) + " output buffers";
}

std::string bad_string_element(std::size_t element, std::string_view why) {
  return "str (element " + std::to_string(element) + " is " + std::string(why) + ")";
}

// -- preprocessing -------------------------------------------------------------------------

std::string image_dtype(std::size_t index, std::string_view given) {
  return "image " + std::to_string(index) + " has dtype " + std::string(given) +
         ", expected uint8 (ImagePreprocessor takes 8-bit images; never cast silently)";
}

std::string image_shape(std::size_t index, std::span<const int64_t> shape) {
  return "image " + std::to_string(index) + " has shape " + format_shape(shape) +
         ", expected an HxW or HxWxC array";
}

std::string image_channels(std::size_t index, const ImageView& im, int want,
                           ColorOrder input_order) {
  return "image " + std::to_string(index) + " has " + std::to_string(im.channels) + " channel" +
         (im.channels == 1 ? "" : "s") + " (shape " + image_shape_text(im) + "), expected " +
         std::to_string(want) + " for input_order " + quote(color_order_name(input_order));
}

std::string image_empty(std::size_t index, const ImageView& im) {
  return "image " + std::to_string(index) + " is empty (shape " + image_shape_text(im) + ")";
}

std::string image_rows_too_long(std::size_t index, int64_t bytes) {
  return "image " + std::to_string(index) + " has rows of " + std::to_string(bytes) +
         " bytes; at most 2147483631 are supported";
}

std::string image_no_data(std::size_t index) {
  return "image " + std::to_string(index) + " has no data";
}

std::string no_images() {
  return "no images given";
}

std::string preprocess_out_dtype(std::string_view given, DType want) {
  return "out has dtype " + std::string(given) + ", expected " + std::string(dtype_name(want)) +
         " (the preprocessor's dtype)";
}

std::string preprocess_out_shape(std::span<const int64_t> shape, std::span<const int64_t> want,
                                 Layout layout, int64_t n) {
  return "out has shape " + format_shape(shape) + ", expected " + format_shape(want) + " (" +
         (layout == Layout::kNCHW ? "N, C, H, W" : "N, H, W, C") + " for " + std::to_string(n) +
         (n == 1 ? " image)" : " images)");
}

std::string preprocess_out_layout() {
  return "out must be writeable and aligned, with a contiguous last dimension (a "
         "C-contiguous array, or a slice of one along its first axes)";
}

std::string image_size(int64_t height, int64_t width) {
  return "image size must be positive, got (" + std::to_string(height) + ", " +
         std::to_string(width) + ")";
}

// -- scheduling ----------------------------------------------------------------------------

std::string request_timed_out(int64_t timeout_us) {
  return "request timed out after " + milliseconds(timeout_us) + " ms in the queue; it never ran";
}

std::string request_cancelled() {
  return "request cancelled before it ran";
}

std::string request_cancelled_running() {
  return "request cancelled while it ran (its run was stopped)";
}

std::string closed_before_run() { return "the scheduler was closed before the request ran"; }

std::string scheduler_closed_request() {
  return "the scheduler is closed; request refused";
}

std::string scheduler_closed_model(std::string_view name) {
  return "the scheduler is closed; model " + quote(name) + " was not added";
}

std::string queue_full(std::size_t max_queue_size) {
  return "queue full (max_queue_size=" + std::to_string(max_queue_size) +
         "); request refused, try again later";
}

std::string unknown_model(std::string_view name, const std::vector<std::string>& models) {
  std::string known;
  for (const std::string& m : models) known += (known.empty() ? "" : ", ") + quote(m);
  return "unknown model " + quote(name) + " (models: " + (known.empty() ? "none" : known) + ")";
}

std::string model_being_added(std::string_view name) {
  return "model " + quote(name) + " is being added; submit once add_model returned";
}

std::string model_already_added(std::string_view name) {
  return "a model named " + quote(name) + " was already added";
}

std::string cannot_batch(int max_batch_size, std::string_view why) {
  return "max_batch_size=" + std::to_string(max_batch_size) +
         " needs every input and output to be a numeric tensor with a free first (batch) "
         "dimension, but " +
         std::string(why) + "; use max_batch_size=1 for this model";
}

std::string warmup_no_value(const ValueInfo& info) {
  return "warm-up cannot make a value for input " + quote(info.name) +
         "; add the model without warmup";
}

std::string warmup_cannot_split(int rows) {
  return "warm-up: the outputs of a batch of " + std::to_string(rows) +
         " rows do not have that many rows; this model cannot batch, use max_batch_size=1";
}

}  // namespace ortnative::msg
