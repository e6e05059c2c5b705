// Internal: access to the loaded ORT C API and the process-wide environment.
// Not installed; only cpp/src includes it.
#pragma once

#include <onnxruntime_c_api.h>

#include <string>
#include <string_view>

#include "ortnative/dtype.hpp"
#include "ortnative/error.hpp"

namespace ortnative::detail {

// The OrtApi of the loaded library; loads it with the defaults when nothing is loaded
// yet (throws RuntimeLoadError if that fails).
const OrtApi& api();

// The OrtApi once a session exists (so the runtime is known to be loaded). A load.
extern const OrtApi* g_api;
inline const OrtApi& loaded_api() noexcept { return *g_api; }

// The process-wide environment with global thread pools; created on first call.
OrtEnv* env();

// Describes plain CPU memory, for wrapping caller buffers (created once).
const OrtMemoryInfo* cpu_memory_info();

// ORT's default CPU allocator (never freed: owned by ORT).
OrtAllocator* default_allocator();

// Throws an Error of CODE whose message is CONTEXT + ": " + ORT's message, and frees
// STATUS. ORT's INVALID_ARGUMENT maps to kInvalidInput when CODE is kOrt (a run that
// ORT rejected because of its feeds).
[[noreturn]] void throw_status(OrtStatus* status, ErrorCode code, std::string_view context);

inline void check(OrtStatus* status, ErrorCode code, std::string_view context) {
  if (status != nullptr) throw_status(status, code, context);
}

// A new, empty sequence of DTYPE tensors (the C API cannot make one directly).
OrtValue* empty_sequence(DType dtype);

// Frees a string ORT allocated with the default allocator.
void free_ort_string(char* s) noexcept;

}  // namespace ortnative::detail
