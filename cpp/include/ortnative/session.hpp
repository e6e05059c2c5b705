// A loaded model, ready to run.
//
// Ownership: Session is move-only and owns its ORT session. Values it returns own
// their memory independently of it (dropping the Session does not invalidate them).
//
// Thread-safety: run() and every const accessor may be called from any number of
// threads at once on one Session. This is safe because ORT's OrtApi::Run is
// documented thread-safe for concurrent calls on one OrtSession, and run() keeps no
// per-call state in the Session: each call builds its ORT values on its own stack.
// close() may race with run(): it marks the session closed (later runs throw
// SessionClosedError), waits for the runs already inside ORT to return, then releases
// the ORT session. Moving or destroying a Session while another thread uses it is a
// bug, as for any C++ object.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ortnative/dtype.hpp"
#include "ortnative/error.hpp"
#include "ortnative/value.hpp"

struct OrtRunOptions;  // ORT's opaque run options (onnxruntime_c_api.h)

namespace ortnative {

enum class GraphOptimization : uint8_t { kDisable, kBasic, kExtended, kAll };
enum class ExecutionMode : uint8_t { kSequential, kParallel };

// Names as the Python API and configuration files spell them ("disable", "basic",
// "extended", "all"; "sequential", "parallel"), and back: the *_from_name functions throw
// InvalidArgumentError naming the allowed values for any other name.
std::string_view graph_optimization_name(GraphOptimization g) noexcept;
std::string_view execution_mode_name(ExecutionMode m) noexcept;
GraphOptimization graph_optimization_from_name(std::string_view name);
ExecutionMode execution_mode_from_name(std::string_view name);

// An execution provider by ORT's name ("CPUExecutionProvider", "CUDAExecutionProvider",
// ...) with provider options as key/value strings.
struct Provider {
  std::string name;
  std::vector<std::pair<std::string, std::string>> options;
};

// An initializer given from memory (SessionOptions::initializers): a dense numeric
// tensor in the caller's memory (strings are not allowed).
struct Initializer {
  std::string name;
  TensorView tensor;
};

// A file of external data given from memory (SessionOptions::external_data): NAME as the
// model's external data entries spell the file ("weights.bin"), DATA its contents.
struct ExternalFile {
  std::string name;
  const void* data = nullptr;
  std::size_t size = 0;
};

// How a model is loaded. Every field maps onto one ORT call, named beside it; a model
// loads with ORT's own defaults for whatever is left at its default here.
struct SessionOptions {
  std::vector<Provider> providers;  // priority order; empty = CPU. Unavailable: error.
  int intra_op_threads = 0;         // > 0: a pool of this size for this session only
  int inter_op_threads = 0;         // > 0: likewise; both 0: the process-wide pools
  GraphOptimization graph_optimization = GraphOptimization::kAll;
  ExecutionMode execution_mode = ExecutionMode::kSequential;
  // Free-form ORT session config entries (OrtApi::AddSessionConfigEntry).
  std::vector<std::pair<std::string, std::string>> config;
  std::string name;  // used in messages; default: the file name, or "<bytes>"

  // Memory: ORT's CPU arena (OrtApi::EnableCpuMemArena / DisableCpuMemArena) and its
  // memory pattern optimisation (EnableMemPattern / DisableMemPattern). ORT's C API
  // has no switch for memory reuse (onnxruntime's Python `enable_mem_reuse`).
  bool enable_cpu_mem_arena = true;
  bool enable_mem_pattern = true;
  // Where ORT writes the model after graph optimisation (SetOptimizedModelFilePath);
  // empty: nowhere.
  std::string optimized_model_filepath;
  // Profiling (EnableProfiling): ORT writes a JSON trace, named
  // "<profile_file_prefix>_<date and time>.json", ended by Session::end_profiling().
  bool enable_profiling = false;
  std::string profile_file_prefix = "onnxruntime_profile_";
  // Free dimensions given a size (AddFreeDimensionOverrideByName: by the dimension's
  // name in the model; AddFreeDimensionOverride: by its denotation, e.g. "DATA_BATCH").
  // The session then reports those dimensions as fixed.
  std::vector<std::pair<std::string, int64_t>> free_dimension_overrides;
  std::vector<std::pair<std::string, int64_t>> free_dimension_overrides_by_denotation;
  // Shared libraries of custom operators, loaded and registered in order
  // (RegisterCustomOpsLibrary_V2; ORT unloads them with the last session using them).
  std::vector<std::string> custom_op_libraries;
  // Initializers given from memory, used instead of the model's own of the same name
  // (AddInitializer). Not copied: the memory must outlive the session (see keep_alive).
  std::vector<Initializer> initializers;
  // Values for initializers the model keeps as external data (AddExternalInitializers):
  // copied while the model loads; the memory may go after the load.
  std::vector<Initializer> external_initializers;
  // Files of external data, from memory, for a model loaded from bytes whose weights are
  // external data (AddExternalInitializersFromFilesInMemory): copied while the model
  // loads. (A model loaded from a path finds its external data files beside it.)
  std::vector<ExternalFile> external_data;
  // Logging of this session (SetSessionLogSeverityLevel: -1 = the process's level, see
  // runtime.hpp, else 0 verbose .. 4 fatal; SetSessionLogVerbosityLevel; SetSessionLogId).
  int log_severity_level = -1;
  int log_verbosity_level = 0;
  std::string logid;
  // Deterministic kernels where ORT has them (SetDeterministicCompute).
  bool use_deterministic_compute = false;
  // Held by the session until it is destroyed (after the ORT session is released): put
  // whatever owns the memory of `initializers` here and the session keeps it alive.
  std::shared_ptr<const void> keep_alive;
  // Where the outputs ORT allocates go: host memory (the default), or a CUDA device's
  // (Device::kCuda; needs a CUDA provider, InvalidArgumentError otherwise). Outputs a
  // caller gives buffers for go to those buffers, wherever they are.
  Device output_device{};
};

// What a model input or output is.
struct ValueInfo {
  enum class Kind : uint8_t { kTensor, kSequence, kOptional, kMap, kOther };
  std::string name;
  Kind kind = Kind::kTensor;
  // For kOptional: what the optional holds (kTensor or kSequence).
  Kind contained = Kind::kTensor;
  // The tensor's element type (for sequences and optionals: of the tensors inside).
  DType dtype = DType::kUndefined;
  // Tensors: one entry per dimension, -1 where the model leaves it free. ORT reports
  // a tensor of unknown rank like a scalar (no dims), so rank 0 is not enforced.
  std::vector<int64_t> shape;
  std::vector<std::string> dim_names;  // symbolic dimension names, "" where none
};

// Where Session::run writes one output.
struct OutputBuffer {
  // The caller's memory for the output (dense, C order). data == nullptr: ORT allocates.
  TensorView view;
  // A buffer sized from planned_output_shape() rather than one the user insisted on:
  // if ORT rejects it (the model declared a shape it does not produce), run() retries
  // once with ORT allocating, and stops planning that output. A buffer that is not
  // planned (a user's out= array) that ORT rejects is an error instead.
  bool planned = false;
};

// An array of the caller's that one output is to be written into (Python's out=), as
// the caller found it; plan_outputs() checks it and places it.
struct OutArray {
  std::size_t output = 0;  // index into outputs()
  // The memory, dense in C order when CONTIGUOUS. view.dtype kUndefined: an element type
  // that has no DType; GIVEN_DTYPE then names it (for the message).
  TensorView view;
  std::string_view given_dtype;
  bool contiguous = true;  // C-contiguous
  bool aligned = true;     // aligned for its element type
  bool writeable = true;
};

// The shape plan_outputs() planned for one output (rank 0: none planned).
struct PlannedShape {
  static constexpr std::size_t kMaxRank = 16;
  std::size_t rank = 0;
  int64_t dims[kMaxRank] = {};
};

struct ModelMetadata {
  std::string producer_name;
  std::string graph_name;
  std::string domain;
  std::string description;
  std::string graph_description;
  int64_t version = 0;
  std::vector<std::pair<std::string, std::string>> custom;
};

// Options for runs (an OrtRunOptions): a tag and log levels for ORT's log, run config
// entries, and a flag that stops the runs using them. One RunOptions may serve any number
// of runs, on any sessions, at once.
//
// Ownership: move-only; owns its OrtRunOptions. Runs borrow it: it must outlive them.
// Thread-safety: terminate() and unset_terminate() may be called from any thread at any
// time, while runs using these options are in flight too (that is what they are for).
// The setters must not race with runs using these options, nor with each other.
class RunOptions {
 public:
  // OrtApi::CreateRunOptions (loads the runtime if nothing is loaded yet).
  RunOptions();
  RunOptions(RunOptions&&) noexcept;
  RunOptions& operator=(RunOptions&&) noexcept;
  ~RunOptions();  // OrtApi::ReleaseRunOptions

  // The run's tag in ORT's log (RunOptionsSetRunTag).
  void set_tag(const std::string& tag);
  // ORT's log for these runs (RunOptionsSetRunLogSeverityLevel: 0 verbose .. 4 fatal;
  // RunOptionsSetRunLogVerbosityLevel: >= 0). InvalidArgumentError out of range.
  void set_log_severity_level(int level);
  void set_log_verbosity_level(int level);
  // A run config entry (AddRunConfigEntry), e.g. "memory.enable_memory_arena_shrinkage".
  void add_config_entry(const std::string& key, const std::string& value);

  // Asks every run using these options to stop as soon as it can (RunOptionsSetTerminate;
  // ORT checks between kernels): each ends with RunTerminatedError, and runs started
  // afterwards end at once the same way, until unset_terminate(). The session stays
  // usable. Never throws.
  void terminate() noexcept;
  // Clears the flag (RunOptionsUnsetTerminate): later runs run.
  void unset_terminate() noexcept;
  bool terminated() const noexcept;

  // The OrtRunOptions, for OrtApi::Run; owned by this object.
  OrtRunOptions* get() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class Session {
 public:
  // Loads a model. Throws ModelLoadError (missing file, empty buffer, a model ORT
  // rejects; ORT's message kept), InvalidArgumentError (bad options, unavailable
  // provider) or RuntimeLoadError. DATA is read during the call only.
  // Wraps OrtApi::CreateSession / CreateSessionFromArray.
  static Session from_file(const std::string& path, const SessionOptions& options = {});
  static Session from_bytes(const void* data, std::size_t size, const SessionOptions& options = {});

  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  const std::string& name() const noexcept;
  const std::vector<ValueInfo>& inputs() const noexcept;
  const std::vector<ValueInfo>& outputs() const noexcept;
  std::optional<std::size_t> find_input(std::string_view name) const noexcept;
  std::optional<std::size_t> find_output(std::string_view name) const noexcept;
  // As find_*, but throw InvalidInputError naming what the model has.
  std::size_t input_index(std::string_view name) const;
  std::size_t output_index(std::string_view name) const;
  ModelMetadata metadata() const;  // OrtApi::SessionGetModelMetadata

  // Runs the model.
  //   inputs:       one view per model input, in model order. InputView::Kind::kNone
  //                 leaves an optional input out; for any other input it is an error.
  //   outputs:      indices into outputs() to compute, each at most once.
  //   results:      receives one Value per entry of OUTPUTS (same order).
  //   buffers:      empty, or one OutputBuffer per entry of OUTPUTS: where its data is
  //                 non-null, ORT writes that output into the caller's buffer (no copy)
  //                 and the result Value describes that memory and owns nothing (compare
  //                 data()); where null, ORT allocates and the Value owns ORT's memory.
  // The ORT values wrapping caller memory are kept, one per input and output, and
  // reused when the next call gives the same memory (same address, dtype and shape), so
  // a loop over the same arrays makes none per call (see session_impl.hpp).
  // Inputs are checked before ORT sees them (InvalidTypeError for a dtype,
  // InvalidInputError for rank, fixed dimensions or a missing input); numeric tensors
  // are not copied. Errors from ORT itself become InvalidInputError (ORT's
  // INVALID_ARGUMENT) or OrtError, keeping ORT's text and naming the model and feeds.
  // Wraps OrtApi::Run. Thread-safe (see top of file).
  //   run_options:  null, or options for this run (see RunOptions); a run it terminates
  //                 throws RunTerminatedError.
  void run(std::span<const InputView> inputs, std::span<const std::size_t> outputs,
           std::span<Value> results, std::span<const OutputBuffer> buffers = {},
           const RunOptions* run_options = nullptr) const;

  // Convenience for hosts: feeds by name, all outputs (or the named ones), results in
  // that order. Allocates; run() above does not beyond what ORT does.
  std::vector<Value> run(const std::vector<std::pair<std::string, TensorView>>& feeds,
                         const std::vector<std::string>& output_names = {},
                         const RunOptions* run_options = nullptr) const;

  // Profiling (SessionOptions::enable_profiling): ends it and returns the path of the
  // JSON trace ORT wrote (OrtApi::SessionEndProfiling); "" when the session was not
  // profiling, or after an earlier call ended it. Later runs are not profiled.
  // SessionClosedError after close().
  std::string end_profiling() const;
  // When profiling started, in nanoseconds of ORT's clock (std::chrono::steady_clock's on
  // Linux); 0 when the session does not profile (SessionGetProfilingStartTimeNs).
  uint64_t profiling_start_time_ns() const;

  // The shape output OUTPUT will have for INPUTS when the model determines it: every
  // dimension either fixed in the model or named like a free dimension of a tensor
  // input (ONNX binds equal names to equal sizes). Writes outputs()[OUTPUT].shape.size()
  // entries to DIMS and returns true; returns false when the shape depends on values,
  // the rank is unknown, the output is not a numeric tensor, or a run showed the
  // declared shape to be wrong. Lets callers allocate outputs themselves (see
  // OutputBuffer::planned), which is cheaper than wrapping ORT's memory.
  bool planned_output_shape(std::size_t output, std::span<const InputView> inputs,
                            int64_t* dims) const;

  // Before run(), what a binding does while it still may touch its objects: checks OUT
  // (each an array for a requested output, at most one per output, whose memory ORT can
  // write: InvalidInputError; of an element type with a DType: InvalidTypeError; dtype
  // and shape against the model are run()'s checks) and places it in BUFFERS (one entry
  // per entry of OUTPUTS; entries without an array are left as they are). For every
  // other requested output whose shape INPUTS determine (planned_output_shape) and which
  // has elements, sets buffers[k].planned and writes the shape to SHAPES[k] (SHAPES has
  // one entry per entry of OUTPUTS; others get rank 0): the caller may allocate a dense
  // buffer of that dtype and shape and point buffers[k].view at it, which is cheaper than
  // wrapping ORT's memory afterwards; one it leaves null ORT allocates. Returns how many
  // outputs were planned.
  std::size_t plan_outputs(std::span<const InputView> inputs, std::span<const std::size_t> outputs,
                           std::span<const OutArray> out, std::span<OutputBuffer> buffers,
                           std::span<PlannedShape> shapes) const;

  // The checks run() applies, callable up front (e.g. when a request is queued).
  void check_input(std::size_t index, const InputView& view) const;
  void check_output_buffer(std::size_t output_index, const TensorView& view) const;
  // Throw the InvalidTypeError those checks give for a dtype mismatch, for a value whose
  // element type has no DType; GIVEN is how the caller's type system names it.
  [[noreturn]] void fail_input_dtype(std::size_t index, std::string_view given) const;
  [[noreturn]] void fail_output_dtype(std::size_t output_index, std::string_view given) const;
  // Throws an error of CODE whose message is prefixed with "model '<name>': ", so
  // callers' own checks word their errors like the core's.
  [[noreturn]] void fail(ErrorCode code, const std::string& what) const;

  // Devices. A session runs on CUDA when its providers include CUDAExecutionProvider or
  // TensorrtExecutionProvider; then run() takes tensors in CUDA memory of that device (and
  // out= buffers there), binding them as device values (OrtMemoryInfo "Cuda") without a
  // copy. A session that does not refuses them with InvalidInputError.
  bool runs_on_cuda() const noexcept;
  // The CUDA stream the session computes on, when its provider options name one
  // ("user_compute_stream", the stream handle as an integer). A producer of device
  // tensors must order its work before this stream (DLPack's __dlpack__(stream=...)).
  std::optional<uint64_t> cuda_stream() const noexcept;
  // The stream number a DLPack consumer passes to a producer's __dlpack__(stream=...) for
  // a tensor on DEVICE: none for host memory; for CUDA memory the session's stream, or
  // else 1 (CUDA's legacy default stream, DLPack's conservative choice; run() then
  // synchronises the device before ORT reads the tensor, as ORT's own stream is not
  // ordered after it).
  std::optional<int64_t> dlpack_stream(const Device& device) const noexcept;
  const Device& output_device() const noexcept;

  // Marks the session closed, waits for runs in flight, releases the ORT session.
  // Idempotent. Later run() calls throw SessionClosedError.
  void close() noexcept;
  bool closed() const noexcept;

  struct Impl;

 private:
  explicit Session(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// Human-readable forms used in messages, shared so every layer words things alike
// (implemented with the other message templates, cpp/src/messages.cpp): a concrete shape
// as a Python tuple "(1, 3)", "(5,)", "()"; a model shape as "[N, 3]" with "?" for a free
// dimension without a name.
std::string format_shape(std::span<const int64_t> shape);
std::string format_model_shape(const ValueInfo& info);

}  // namespace ortnative
