// The ONNX Runtime library and the process-wide ORT environment.
//
// ortnative does not link libonnxruntime: it opens it at run time, once per process,
// and keeps it open until exit. Which library:
//   - load_runtime({paths...}) with explicit candidates, tried in order; or
//   - load_runtime() with none: $ORTNATIVE_ORT_LIBRARY if set (and only it), else the
//     system's (libonnxruntime.so.1 / libonnxruntime.so through the dynamic loader's
//     search path; libonnxruntime.dylib on macOS; onnxruntime.dll on Windows).
// The Python package passes $ORTNATIVE_ORT_LIBRARY if set (and only it), else the
// library inside the installed `onnxruntime` (or `onnxruntime-gpu`) wheel, else no
// candidates (the defaults above). The first successful load wins; later calls return it.
// A session created before any load_runtime() call loads with the defaults.
//
// Loading fails three distinct ways, each a RuntimeLoadError naming the path(s) tried:
// the file does not open, it has no OrtGetApiBase, or its API is older than
// kMinOrtApiVersion (ONNX Runtime 1.21).
//
// The environment: one OrtEnv for the process, created on first use, with global
// intra-op and inter-op thread pools that every session shares unless it asks for
// threads of its own (SessionOptions::intra_op_threads/inter_op_threads > 0).
// Their sizes come from set_global_thread_pools() if called before the first session,
// else from $ORTNATIVE_INTRA_OP_THREADS / $ORTNATIVE_INTER_OP_THREADS, else ORT's
// defaults (0: one intra-op thread per physical core). Its log severity comes from
// $ORTNATIVE_LOG_LEVEL, 0 (verbose) to 4 (fatal only, the default); another value makes
// creating the environment, and so the session that needs it, an InvalidArgumentError.
//
// All functions here are thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ortnative {

constexpr int kMinOrtApiVersion = 21;

struct RuntimeInfo {
  std::string library_path;  // the path that loaded (as given to the loader)
  std::string version;       // ORT's own version string, e.g. "1.32.0"
  int api_version = 0;       // the OrtApi version ortnative uses (kMinOrtApiVersion)
};

// Loads libonnxruntime from the first candidate that works (see above) and returns
// what loaded. Throws RuntimeLoadError listing every candidate and why it failed.
// Once a library is loaded, returns it and ignores the candidates.
const RuntimeInfo& load_runtime(const std::vector<std::string>& candidates = {});

// True once load_runtime() has succeeded.
bool runtime_loaded() noexcept;

// Sets the sizes of the shared thread pools (0 = ORT's default) and whether their threads
// spin for a while when they run out of work before they sleep (ALLOW_SPINNING, ORT's
// default: lower latency for the next run, but CPU time burnt between runs; false suits a
// process that shares its cores). Wraps OrtApi::SetGlobalIntraOpNumThreads,
// SetGlobalInterOpNumThreads and SetGlobalSpinControl. Only before the environment
// exists; afterwards, throws InvalidArgumentError unless the settings equal the ones in
// use. (Sessions with pools of their own spin or not by their session config entries
// "session.intra_op.allow_spinning" / "session.inter_op.allow_spinning".)
void set_global_thread_pools(int intra_op_threads, int inter_op_threads,
                             bool allow_spinning = true);

// Whether the shared pools' threads spin (what set_global_thread_pools set; default true).
bool global_thread_spinning();

// The sizes requested for the shared pools (what set_global_thread_pools or the
// environment variables gave; 0 = ORT's default).
std::pair<int, int> global_thread_pools();

// Names of the execution providers the loaded ORT offers (loads the runtime if needed).
std::vector<std::string> available_providers();

}  // namespace ortnative
