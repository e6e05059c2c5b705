// Session, part 3: devices. Which memory a session takes (host always; CUDA memory when a
// provider runs on CUDA), the OrtMemoryInfo that describes it, the stream a producer of
// device tensors must order its work before, and the run through an IoBinding that runs
// involving device memory take.
//
// Nothing here needs CUDA's headers or libraries: ORT's C API takes device pointers as
// void* and describes device memory by name ("Cuda", OrtApi::CreateMemoryInfo); ORT's CUDA
// provider, loaded by ORT from onnxruntime-gpu, does the device work.
//
// Verification: this path is built and its CPU-side decisions are tested on machines
// without a GPU (tests/test_dlpack.py, cpp/tests/test_session.cpp); the GPU runs are
// tools/gpu_check.py's, on a machine with one.
#include <array>
#include <atomic>
#include <charconv>
#include <string>

#include "ortnative/small_array.hpp"
#include "session_impl.hpp"

namespace ortnative {

using detail::loaded_api;

namespace detail {

namespace {

// Providers whose kernels run on CUDA devices and take CUDA memory as input.
bool is_cuda_provider(const std::string& name) {
  return name == "CUDAExecutionProvider" || name == "TensorrtExecutionProvider";
}

// "user_compute_stream": the stream handle as a decimal integer (how ORT's Python API and
// its docs pass it: str(torch.cuda.current_stream().cuda_stream)).
std::optional<uint64_t> parse_stream(const std::string& text) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || v == 0) return std::nullopt;
  return v;
}

}  // namespace

void configure_devices(Session::Impl& s, const SessionOptions& o) {
  for (const Provider& p : o.providers) {
    if (!is_cuda_provider(p.name)) continue;
    s.cuda = true;
    for (const auto& [k, v] : p.options) {
      if (k == "user_compute_stream" && !s.user_stream) s.user_stream = parse_stream(v);
    }
  }
  const Device& d = o.output_device;
  if (!d.host() && !d.cuda()) {
    s.fail(ErrorCode::kInvalidArgument, msg::output_device_unsupported(d));
  }
  if (d.cuda() && !s.cuda) s.fail(ErrorCode::kInvalidArgument, msg::output_device_needs_cuda(d));
  s.output_device = d.host() ? Device{} : d;
}

const OrtMemoryInfo* memory_info_for(const Device& device) {
  if (device.host()) return cpu_memory_info();
  // One per CUDA device id, made on first use and kept (like cpu_memory_info()).
  static constexpr int kMaxDevices = 64;
  static std::array<std::atomic<OrtMemoryInfo*>, kMaxDevices> infos{};
  const int id = device.id;
  if (id < 0 || id >= kMaxDevices) {
    throw InvalidInputError("CUDA device id " + std::to_string(id) + " is out of range (0 to " +
                            std::to_string(kMaxDevices - 1) + ")");
  }
  if (OrtMemoryInfo* m = infos[static_cast<std::size_t>(id)].load(std::memory_order_acquire)) {
    return m;
  }
  OrtMemoryInfo* made = nullptr;
  check(api().CreateMemoryInfo("Cuda", OrtDeviceAllocator, id, OrtMemTypeDefault, &made),
        ErrorCode::kOrt, "creating CUDA memory info");
  OrtMemoryInfo* expected = nullptr;
  if (!infos[static_cast<std::size_t>(id)].compare_exchange_strong(expected, made,
                                                                   std::memory_order_acq_rel)) {
    api().ReleaseMemoryInfo(made);  // another thread made it first
    return expected;
  }
  return made;
}

OrtStatus* run_bound(const Session::Impl& s, const char* const* names, OrtValue* const* in_values,
                     std::size_t n_given, const char* const* out_names, std::size_t n_out,
                     OrtValue** out_values, bool sync_inputs,
                     const OrtRunOptions* run_options) {
  const OrtApi& a = loaded_api();
  OrtIoBinding* b = nullptr;
  if (OrtStatus* st = a.CreateIoBinding(s.session, &b)) return st;
  struct Guard {
    const OrtApi& a;
    OrtIoBinding* b;
    ~Guard() { a.ReleaseIoBinding(b); }
  } guard{a, b};
  for (std::size_t i = 0; i < n_given; ++i) {
    if (OrtStatus* st = a.BindInput(b, names[i], in_values[i])) return st;
  }
  const OrtMemoryInfo* out_info = memory_info_for(s.output_device);
  for (std::size_t k = 0; k < n_out; ++k) {
    OrtStatus* st = out_values[k] != nullptr ? a.BindOutput(b, out_names[k], out_values[k])
                                             : a.BindOutputToDevice(b, out_names[k], out_info);
    if (st != nullptr) return st;
  }
  // Without a stream of the session's to order the producer's work before, wait for the
  // whole device (ORT's CUDA provider synchronises the device here).
  if (sync_inputs) {
    if (OrtStatus* st = a.SynchronizeBoundInputs(b)) return st;
  }
  if (OrtStatus* st = a.RunWithBinding(s.session, run_options, b)) return st;
  // Outputs complete before run() returns, as after OrtApi::Run.
  if (OrtStatus* st = a.SynchronizeBoundOutputs(b)) return st;
  OrtAllocator* alloc = default_allocator();
  OrtValue** values = nullptr;
  std::size_t count = 0;
  if (OrtStatus* st = a.GetBoundOutputValues(b, alloc, &values, &count)) return st;
  for (std::size_t k = 0; k < count; ++k) {
    if (k < n_out && out_values[k] == nullptr) {
      out_values[k] = values[k];  // the caller owns it now
    } else {
      a.ReleaseValue(values[k]);  // a caller's buffer: already described by out_values[k]
    }
  }
  if (values != nullptr) alloc->Free(alloc, values);
  return nullptr;
}

}  // namespace detail

bool Session::runs_on_cuda() const noexcept {
  return impl_->cuda;
}

std::optional<uint64_t> Session::cuda_stream() const noexcept {
  return impl_->user_stream;
}

std::optional<int64_t> Session::dlpack_stream(const Device& device) const noexcept {
  if (!device.cuda()) return std::nullopt;
  if (impl_->user_stream) return static_cast<int64_t>(*impl_->user_stream);
  return 1;  // CUDA's legacy default stream; run() synchronises the device (run_bound)
}

const Device& Session::output_device() const noexcept {
  return impl_->output_device;
}

}  // namespace ortnative
