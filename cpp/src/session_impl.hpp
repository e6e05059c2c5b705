// Internal: what a Session holds, shared by session_load.cpp (loading, options, the
// model's signature and metadata) and session_run.cpp (checks, output planning, run).
// Not installed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "messages.hpp"
#include "ort_api.hpp"
#include "ortnative/session.hpp"

namespace ortnative {

namespace detail {

// An OrtValue that wraps caller memory (OrtApi::CreateTensorWithDataAsOrtValue), kept so
// that the next run given the same memory (same address, dtype and shape: the same array
// again, or one NumPy's allocator put at the same address) reuses it instead of making
// and releasing one per call. Such a value is only a description of the memory: it
// owns nothing, ORT reads and writes through it and keeps no state in it, so reusing it
// for the same memory is what making a new one would give.
struct CachedTensor {
  static constexpr std::size_t kMaxRank = 8;
  OrtValue* value = nullptr;
  void* data = nullptr;
  DType dtype = DType::kUndefined;
  std::size_t rank = 0;
  int64_t dims[kMaxRank] = {};

  Device device{};

  bool matches(const TensorView& t, void* ptr) const noexcept {
    if (data != ptr || dtype != t.dtype || rank != t.rank || !(device == t.device)) return false;
    for (std::size_t d = 0; d < rank; ++d) {
      if (dims[d] != t.shape[d]) return false;
    }
    return true;
  }
};

// One cache slot per model input and output. A run takes the slot's value (an atomic
// exchange, so concurrent runs never share one), and gives a value back when it is done;
// a run that finds the slot empty or holding other memory makes its own.
class TensorCache {
 public:
  TensorCache() = default;
  explicit TensorCache(std::size_t slots) : slots_(std::make_unique<Slot[]>(slots)), n_(slots) {}
  TensorCache(TensorCache&& o) noexcept : slots_(std::move(o.slots_)), n_(std::exchange(o.n_, 0)) {}
  TensorCache& operator=(TensorCache&& o) noexcept {
    if (this != &o) {
      clear();
      slots_ = std::move(o.slots_);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~TensorCache() { clear(); }

  // The slot's value if it describes T's memory at DATA (the caller owns it now), else null.
  CachedTensor* take(std::size_t slot, const TensorView& t, void* data) noexcept;
  // Gives C back to SLOT (the caller no longer uses it); releases what it displaces.
  void give(std::size_t slot, CachedTensor* c) noexcept;
  // Releases every cached value.
  void clear() noexcept;
  // A new entry for T's memory at DATA, wrapping V (which it now owns).
  static CachedTensor* make(OrtValue* v, const TensorView& t, void* data);
  static void destroy(CachedTensor* c) noexcept;

 private:
  struct Slot {
    std::atomic<CachedTensor*> entry{nullptr};
  };
  std::unique_ptr<Slot[]> slots_;
  std::size_t n_ = 0;
};

}  // namespace detail

namespace detail {

// Reads the device facts of OPTIONS into S (before the model loads); InvalidArgumentError
// for an output_device the providers cannot serve.
void configure_devices(Session::Impl& s, const SessionOptions& options);

// The OrtMemoryInfo describing memory on DEVICE: CPU memory for host memory (pinned and
// managed memory included), "Cuda" with the device id for CUDA memory (made once per id;
// OrtApi::CreateMemoryInfo, which needs no CUDA in this process). Not freed.
const OrtMemoryInfo* memory_info_for(const Device& device);

// OrtApi::Run through an IoBinding, for runs that involve device memory: binds IN_VALUES
// and every OUT_VALUES entry that is set (caller buffers), binds the rest to the session's
// output device, synchronises the device first when SYNC_INPUTS (device feeds whose
// producer could not be ordered before ORT's stream), runs, and puts the values ORT made
// into the empty OUT_VALUES entries (the caller owns them). Returns ORT's status.
OrtStatus* run_bound(const Session::Impl& s, const char* const* names, OrtValue* const* in_values,
                     std::size_t n_given, const char* const* out_names, std::size_t n_out,
                     OrtValue** out_values, bool sync_inputs,
                     const OrtRunOptions* run_options);

}  // namespace detail

struct Session::Impl {
  // SessionOptions::keep_alive: released last, after the ORT session and its initializers.
  std::shared_ptr<const void> keep_alive;
  // OrtValues over the caller's memory given to AddInitializer: ORT uses them for as long
  // as the session lives, so they are released after it.
  std::vector<OrtValue*> initializers;
  std::string name;
  std::string label;  // "model 'name'", the prefix of every message
  OrtSession* session = nullptr;
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::vector<const char*> input_names;   // point into inputs[i].name
  std::vector<const char*> output_names;  // point into outputs[i].name
  // How each output's shape follows from the inputs (see planned_output_shape): one
  // rule per dimension, a fixed size (>= 0) or -1 - (input * kMaxRank + dim).
  std::vector<std::vector<int64_t>> plans;           // empty: not plannable
  std::unique_ptr<std::atomic<bool>[]> plan_broken;  // set once a run proved a plan wrong
  static constexpr int64_t kMaxRank = 1024;
  // Not part of the session's state (runs on a const Session use them): mutable.
  mutable detail::TensorCache input_cache;   // one slot per input
  mutable detail::TensorCache output_cache;  // one slot per output
  // Devices (session_device.cpp): whether a provider runs on CUDA (CUDA or TensorRT), the
  // stream it was given ("user_compute_stream"), where ORT-allocated outputs go.
  bool cuda = false;
  std::optional<uint64_t> user_stream;
  Device output_device{};
  // Low 31 bits: runs inside ORT now; top bit: closed.
  mutable std::atomic<uint32_t> state{0};
  std::mutex close_mu;

  ~Impl() {
    input_cache.clear();
    output_cache.clear();
    release_session();
  }

  // Releases the ORT session, then the initializers it used (close() and ~Impl).
  void release_session() noexcept {
    if (session != nullptr) detail::loaded_api().ReleaseSession(session);
    session = nullptr;
    for (OrtValue* v : initializers) detail::loaded_api().ReleaseValue(v);
    initializers.clear();
  }

  [[noreturn]] void fail(ErrorCode code, const std::string& what) const {
    throw_error(code, label + ": " + what);
  }
};

// Counts a run in flight for its whole scope, refusing to start on a closed session.
class RunGuard {
 public:
  static constexpr uint32_t kClosedBit = 0x80000000u;

  explicit RunGuard(const Session::Impl& s) : s_(s) {
    const uint32_t prev = s_.state.fetch_add(1, std::memory_order_acquire);
    if ((prev & kClosedBit) != 0) {
      leave();
      s_.fail(ErrorCode::kClosed, msg::session_closed());
    }
  }
  ~RunGuard() { leave(); }
  RunGuard(const RunGuard&) = delete;
  RunGuard& operator=(const RunGuard&) = delete;

 private:
  void leave() noexcept {
    const uint32_t prev = s_.state.fetch_sub(1, std::memory_order_release);
    if ((prev & kClosedBit) != 0 && (prev & ~kClosedBit) == 1) s_.state.notify_all();
  }
  const Session::Impl& s_;
};

}  // namespace ortnative
