// Loading libonnxruntime at run time, and the process-wide ORT environment.

#include "ortnative/runtime.hpp"

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "ort_api.hpp"

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace ortnative {
namespace detail {

const OrtApi* g_api = nullptr;

namespace {

struct RuntimeState {
  std::mutex mu;
  bool loaded = false;
  RuntimeInfo info;
  OrtEnv* env = nullptr;  // never released: ORT's global pools live until exit
  int intra = -1;         // requested pool sizes; -1 = not chosen yet
  int inter = -1;
  bool spin = true;  // whether the pools' threads spin while waiting for work
};

RuntimeState& state() {
  static RuntimeState* s = new RuntimeState();  // leaked on purpose: used until exit
  return *s;
}

std::string env_string(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

int env_int(const char* name, int fallback) {
  std::string v = env_string(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0' || n < 0 || n > 4096) {
    throw InvalidArgumentError(std::string("environment variable ") + name + "='" + v +
                               "' is not a thread count (an integer from 0 to 4096)");
  }
  return static_cast<int>(n);
}

// ORTNATIVE_LOG_LEVEL: ORT's log severity, from 0 (verbose) to 4 (fatal only, the
// default: ORT's errors reach the caller as exceptions already, and an error ORT logs
// for a run ortnative retries, a wrong planned shape, is not one). Surrounding
// whitespace is ignored; anything but an integer from 0 to 4 is an InvalidArgumentError
// naming the variable. The Python fallback parses it the same way (_fallback._log_level).
int env_log_level() {
  const char* name = "ORTNATIVE_LOG_LEVEL";
  const std::string raw = env_string(name);
  const char* space = " \t\n\v\f\r";
  const std::size_t first = raw.find_first_not_of(space);
  if (first == std::string::npos) return ORT_LOGGING_LEVEL_FATAL;  // unset or blank
  const std::string v = raw.substr(first, raw.find_last_not_of(space) - first + 1);
  const std::size_t nonzero = v.find_first_not_of('0');
  const std::string digits = nonzero == std::string::npos ? "" : v.substr(nonzero);
  if (v.find_first_not_of("0123456789") != std::string::npos || digits.size() > 1 ||
      (digits.size() == 1 && digits[0] > '4')) {
    throw InvalidArgumentError(std::string("environment variable ") + name + "='" + raw +
                               "' is not a log level (an integer from 0 to 4: 0 verbose, "
                               "1 info, 2 warning, 3 error, 4 fatal)");
  }
  return digits.empty() ? 0 : digits[0] - '0';
}

// Tries to open one candidate; on success fills INFO and returns the API.
// Appends a line to WHY on failure.
const OrtApi* try_load(const std::string& path, RuntimeInfo& info, std::string& why) {
  using GetApiBaseFn = const OrtApiBase*(ORT_API_CALL*)();
  GetApiBaseFn get_base = nullptr;
#if defined(_WIN32)
  HMODULE h = LoadLibraryA(path.c_str());
  if (h == nullptr) {
    why += "\n  " + path + ": could not open (LoadLibrary error " +
           std::to_string(GetLastError()) + ")";
    return nullptr;
  }
  get_base = reinterpret_cast<GetApiBaseFn>(GetProcAddress(h, "OrtGetApiBase"));
#else
  // RTLD_LOCAL: ORT's symbols stay out of the global namespace, so a second copy of
  // ORT in the process (the `onnxruntime` Python module links its own) cannot clash.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* err = dlerror();
    why += "\n  " + path + ": could not open (" + (err ? err : "unknown error") + ")";
    return nullptr;
  }
  get_base = reinterpret_cast<GetApiBaseFn>(dlsym(h, "OrtGetApiBase"));
#endif
  if (get_base == nullptr) {
    why += "\n  " + path + ": opened, but has no OrtGetApiBase symbol (not an ONNX Runtime library)";
    return nullptr;
  }
  const OrtApiBase* base = get_base();
  const char* version = base ? base->GetVersionString() : nullptr;
  const OrtApi* api = base ? base->GetApi(kMinOrtApiVersion) : nullptr;
  if (api == nullptr) {
    why += "\n  " + path + ": ONNX Runtime " + (version ? version : "(unknown version)") +
           " is too old: ortnative needs API version " + std::to_string(kMinOrtApiVersion) +
           " (ONNX Runtime 1.21) or newer";
    return nullptr;
  }
  info.library_path = path;
  info.version = version ? version : "";
  info.api_version = kMinOrtApiVersion;
  return api;
}

std::vector<std::string> default_candidates(bool& explicit_env) {
  std::string from_env = env_string("ORTNATIVE_ORT_LIBRARY");
  explicit_env = !from_env.empty();
  if (explicit_env) return {from_env};
#if defined(_WIN32)
  return {"onnxruntime.dll"};
#elif defined(__APPLE__)
  return {"libonnxruntime.dylib"};
#else
  return {"libonnxruntime.so.1", "libonnxruntime.so"};
#endif
}

const RuntimeInfo& load_locked(RuntimeState& s, const std::vector<std::string>& given) {
  if (s.loaded) return s.info;
  bool from_env = false;
  std::vector<std::string> candidates = given.empty() ? default_candidates(from_env) : given;
  std::string why;
  for (const std::string& path : candidates) {
    RuntimeInfo info;
    if (const OrtApi* api = try_load(path, info, why)) {
      g_api = api;
      s.info = std::move(info);
      s.loaded = true;
      return s.info;
    }
  }
  std::string msg = "could not load the ONNX Runtime library; tried:" + why;
  if (from_env) {
    msg += "\n(the path came from ORTNATIVE_ORT_LIBRARY; unset it to use the default)";
  } else {
    msg += "\nInstall the `onnxruntime` package (pip install onnxruntime), or point "
           "ORTNATIVE_ORT_LIBRARY at a libonnxruntime shared library.";
  }
  throw RuntimeLoadError(msg);
}

}  // namespace

const OrtApi& api() {
  if (g_api != nullptr) return *g_api;
  RuntimeState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  load_locked(s, {});
  return *g_api;
}

OrtEnv* env() {
  RuntimeState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.env != nullptr) return s.env;
  load_locked(s, {});
  const OrtApi& a = *g_api;
  if (s.intra < 0) s.intra = env_int("ORTNATIVE_INTRA_OP_THREADS", 0);
  if (s.inter < 0) s.inter = env_int("ORTNATIVE_INTER_OP_THREADS", 0);
  const int level = env_log_level();

  OrtThreadingOptions* tp = nullptr;
  check(a.CreateThreadingOptions(&tp), ErrorCode::kOrt, "creating ORT threading options");
  struct TpGuard {
    const OrtApi& a;
    OrtThreadingOptions* tp;
    ~TpGuard() { a.ReleaseThreadingOptions(tp); }
  } guard{a, tp};
  check(a.SetGlobalIntraOpNumThreads(tp, s.intra), ErrorCode::kInvalidArgument,
        "setting the global intra-op thread count");
  check(a.SetGlobalInterOpNumThreads(tp, s.inter), ErrorCode::kInvalidArgument,
        "setting the global inter-op thread count");
  check(a.SetGlobalSpinControl(tp, s.spin ? 1 : 0), ErrorCode::kInvalidArgument,
        "setting the global thread pools' spinning");
  OrtEnv* e = nullptr;
  check(a.CreateEnvWithGlobalThreadPools(static_cast<OrtLoggingLevel>(level), "ortnative", tp,
                                         &e),
        ErrorCode::kOrt, "creating the ORT environment");
  s.env = e;
  return e;
}

const OrtMemoryInfo* cpu_memory_info() {
  static const OrtMemoryInfo* info = [] {
    OrtMemoryInfo* m = nullptr;
    check(api().CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &m), ErrorCode::kOrt,
          "creating CPU memory info");
    return m;
  }();
  return info;
}

OrtAllocator* default_allocator() {
  static OrtAllocator* alloc = [] {
    OrtAllocator* a = nullptr;
    check(api().GetAllocatorWithDefaultOptions(&a), ErrorCode::kOrt,
          "getting ORT's default allocator");
    return a;
  }();
  return alloc;
}

void free_ort_string(char* s) noexcept {
  if (s != nullptr) default_allocator()->Free(default_allocator(), s);
}

void throw_status(OrtStatus* status, ErrorCode code, std::string_view context) {
  const OrtApi& a = *g_api;
  int ort_code = static_cast<int>(a.GetErrorCode(status));
  std::string msg(context);
  msg += ": ";
  msg += a.GetErrorMessage(status);
  a.ReleaseStatus(status);
  if (code == ErrorCode::kOrt && ort_code == ORT_INVALID_ARGUMENT) code = ErrorCode::kInvalidInput;
  throw_error(code, msg, ort_code);
}

}  // namespace detail

const RuntimeInfo& load_runtime(const std::vector<std::string>& candidates) {
  auto& s = detail::state();
  std::lock_guard<std::mutex> lock(s.mu);
  return detail::load_locked(s, candidates);
}

bool runtime_loaded() noexcept { return detail::g_api != nullptr; }

void set_global_thread_pools(int intra_op_threads, int inter_op_threads, bool allow_spinning) {
  if (intra_op_threads < 0 || inter_op_threads < 0) {
    throw InvalidArgumentError("thread pool sizes must be >= 0 (0 = ORT's default), got intra=" +
                               std::to_string(intra_op_threads) +
                               ", inter=" + std::to_string(inter_op_threads));
  }
  auto& s = detail::state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.env != nullptr &&
      (s.intra != intra_op_threads || s.inter != inter_op_threads || s.spin != allow_spinning)) {
    throw InvalidArgumentError(
        "the shared thread pools already exist (intra=" + std::to_string(s.intra) +
        ", inter=" + std::to_string(s.inter) + ", allow_spinning=" + (s.spin ? "true" : "false") +
        "); set them before the first session is created");
  }
  s.intra = intra_op_threads;
  s.inter = inter_op_threads;
  s.spin = allow_spinning;
}

bool global_thread_spinning() {
  auto& s = detail::state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.spin;
}

std::pair<int, int> global_thread_pools() {
  auto& s = detail::state();
  std::lock_guard<std::mutex> lock(s.mu);
  int intra = s.intra >= 0 ? s.intra : detail::env_int("ORTNATIVE_INTRA_OP_THREADS", 0);
  int inter = s.inter >= 0 ? s.inter : detail::env_int("ORTNATIVE_INTER_OP_THREADS", 0);
  return {intra, inter};
}

std::vector<std::string> available_providers() {
  const OrtApi& a = detail::api();
  char** names = nullptr;
  int n = 0;
  detail::check(a.GetAvailableProviders(&names, &n), ErrorCode::kOrt,
                "listing ORT's execution providers");
  std::vector<std::string> out(names, names + n);
  detail::check(a.ReleaseAvailableProviders(names, n), ErrorCode::kOrt, "releasing provider names");
  return out;
}

}  // namespace ortnative
