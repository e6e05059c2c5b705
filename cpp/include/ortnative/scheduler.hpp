// Many models, many callers: a scheduler with per-model queues, replicas and dynamic
// batching, in process.
//
// Ownership:
//   - Scheduler is move-only and owns its threads, its queues and the models added to
//     it (each model's Session is held by shared_ptr: a caller may keep a share, and
//     the session lives until the last share goes).
//   - A Request borrows its input memory: InputView/TensorView point at caller memory
//     that must stay valid until the request ends. Request::keep_alive makes that
//     automatic: put whatever owns the memory there (a shared_ptr to a vector, to a
//     struct of buffers...) and the scheduler releases it after the request's callback
//     has returned, however the request ended. Unbatched runs read that memory in
//     place; batched runs copy it into the batch.
//   - A Response owns its results. A RequestOutput either owns a whole Value or shares
//     ownership of a batch's output buffer (its rows are a slice of it): in both cases
//     its data stays valid while the RequestOutput (or a copy of its `owner`) lives,
//     after the Scheduler is gone too.
//
// Threads (what the scheduler starts, fixed at construction, never more):
//   - SchedulerOptions::threads worker threads, shared by every model: each takes a
//     batch of one model's queue, runs it on that model's session (ORT's own work goes
//     to the session's intra-op threads: the process-wide pool unless the session has
//     its own, see runtime.hpp), splits the outputs and calls the requests' callbacks.
//     Adding models or replicas starts no thread.
//   - one timer thread: ends queued requests at their deadline.
//   Besides, run() may execute a request on its caller's thread (see run()). At most
//   `replicas` batches of one model run at once, and at most `threads` on the workers.
//
// A replica is a concurrent run slot, not a copy of the model: the replicas of a model
// share one Session (ORT's OrtApi::Run is thread-safe), so a model's memory does not grow
// with its replicas. Each slot owns the staging buffers its batches are concatenated
// into (allocated on first use, reused after).
//
// Batching (max_batch_size > 1): a worker takes queued requests with compatible inputs
// (the same shape past dim 0 for every input; dtypes are checked at submit) up to
// max_batch_size rows in all (a request may carry several rows of its own), concatenates
// them along dim 0, runs the model once and gives each request its rows of every
// output. A request with more rows than max_batch_size runs alone. The rows of a batch
// must be independent: enable batching only for models whose output row i depends on
// input row i alone. A batch is dispatched when it reaches max_batch_size rows (or a
// preferred size: then the largest it can reach), or when its oldest request has waited
// max_queue_delay. It waits only while there are signs of concurrent callers: the latest
// request arrived to find others of its model queued or running, or right after a batch
// of several requests. A request that arrives to an idle model after a batch of one goes
// at once, so a lone caller does not pay the delay; a batch that waited the whole delay
// for nothing stops the waiting. (So that concurrent callers whose requests happen never
// to overlap are noticed, one lone request in 16 waits as a probe; each probe that finds
// no one doubles that interval, up to 1 in 1024.)
//
// Failures: an error in a batched run (ORT fails, or the outputs can't be split) does not
// fail the batch: each of its requests is run again alone, so a request fails only with
// its own error (the one Session::run would give it) and never because of a neighbour.
//
// Every submitted request ends exactly once: its callback is called once, with outputs
// or with an error (the error of its run, RequestTimeoutError, CancelledError or
// SchedulerClosedError). A submit that throws accepted nothing and calls no callback.
// Cancelling a running request stops its batch's run (see cancel()).
//
// Thread-safety: every member function may be called from any thread, concurrently,
// including from inside a callback (close() from a callback does not wait for the
// callback's own batch). Moving or destroying a Scheduler while another thread uses it
// is a bug, as for any C++ object.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ortnative/dtype.hpp"
#include "ortnative/error.hpp"
#include "ortnative/session.hpp"
#include "ortnative/value.hpp"

namespace ortnative {

struct SchedulerOptions {
  // Worker threads shared by all models; 0 = std::thread::hardware_concurrency().
  int threads = 0;
  // Called on each thread the scheduler starts, first thing and last thing (workers and
  // the timer), e.g. to register the thread with a runtime. Must not throw.
  std::function<void()> on_thread_start;
  std::function<void()> on_thread_stop;
  // If set, callbacks are delivered through it: the scheduler calls
  // callback_context(deliver) and `deliver` calls the callbacks of one group of requests
  // that ended together (a batch, or a single request) and then destroys those requests
  // (their callbacks and keep_alive). It runs on the thread that ended the requests: a
  // worker, the timer, or the caller of cancel()/close(). The Python binding takes the
  // GIL here, once per batch. Must call `deliver` exactly once and not throw. Requests
  // with Request::callback_in_context == false are delivered outside it.
  std::function<void(const std::function<void()>& deliver)> callback_context;
};

struct ModelConfig {
  // Concurrent run slots over the model's one session (>= 1).
  int replicas = 1;
  // Rows per run (>= 1); > 1 turns batching on, which needs every input to be a numeric
  // tensor with a free dim 0 of the same name (or none) and every output a tensor with a
  // free dim 0: add_model throws InvalidArgumentError otherwise.
  int max_batch_size = 1;
  // How long a batch may wait for more requests (see the top of this file).
  std::chrono::microseconds max_queue_delay{0};
  // Requests queued (not yet running) at most; submit throws QueueFullError beyond.
  std::size_t max_queue_size = 1024;
  // A request still queued this long after submit ends with RequestTimeoutError and never
  // runs. 0 = no timeout. Submit may give its own.
  std::chrono::microseconds timeout{0};
  // Batch sizes to prefer (each in 1..max_batch_size): a batch that can reach one goes at
  // once with the largest it can reach, without waiting for max_batch_size.
  std::vector<int> preferred_batch_sizes;
  // Before the model takes traffic, run it once per batch size (1, each preferred size,
  // max_batch_size) on each replica slot, with zeros (empty strings) as inputs and 1 for
  // free dimensions past dim 0, so that the first requests don't pay for ORT's lazy
  // initialisation. A failing warm-up makes add_model throw that error.
  bool warmup = false;
};

// One run of a model on some inputs, as submitted.
struct Request {
  // One view per model input, in model order (InputView::Kind::kNone for an optional
  // input left out). Borrowed: see keep_alive.
  std::vector<InputView> inputs;
  // Owns the memory INPUTS point at (may be null when the caller guarantees it some
  // other way); released after the request's callback returned.
  std::shared_ptr<const void> keep_alive;
  // Lower runs first; FIFO within a priority.
  int priority = 0;
  // Replaces the model's timeout for this request: > 0; nullopt = the model's.
  std::optional<std::chrono::microseconds> timeout;
  // false: this request's callback (and its destruction) runs outside
  // SchedulerOptions::callback_context, for callbacks that need none (the Python
  // binding's blocking run() only wakes a waiting thread, so it needs no GIL).
  bool callback_in_context = true;
};

using RequestId = uint64_t;

// One output of one request.
struct RequestOutput {
  // Unbatched runs: the Value the run produced (any kind: tensor, sequence, none).
  Value value;
  // Batched runs (owner != null): a dense C-order numeric tensor of DTYPE and SHAPE at
  // DATA, which lies in a buffer shared by the batch's requests and kept alive by OWNER.
  DType slice_dtype = DType::kUndefined;
  std::vector<int64_t> slice_shape;
  void* slice_data = nullptr;
  std::shared_ptr<const void> owner;

  bool is_slice() const noexcept { return owner != nullptr; }
  DType dtype() const noexcept { return is_slice() ? slice_dtype : value.dtype(); }
  std::span<const int64_t> shape() const noexcept {
    return is_slice() ? std::span<const int64_t>(slice_shape) : value.shape();
  }
  // Numeric tensors: the elements (null for strings, sequences, none and empty tensors).
  void* data() const noexcept { return is_slice() ? slice_data : value.data(); }
};

// How a request ended.
struct Response {
  RequestId id = 0;
  // On success: one entry per model output, in model order.
  std::vector<RequestOutput> outputs;
  // Null on success; else the error (an ortnative::Error: use rethrow_if_error()).
  std::exception_ptr error;

  bool ok() const noexcept { return error == nullptr; }
  void rethrow_if_error() const {
    if (error) std::rethrow_exception(error);
  }
};

// Called exactly once per accepted request, on a scheduler thread or on the thread that
// called cancel()/close() (see SchedulerOptions::callback_context). Keep it short: it
// runs on a worker that could be running the next batch. It may call the Scheduler
// (submit, cancel, stats, close). Must not throw (what escapes is caught and dropped).
using Callback = std::function<void(Response&&)>;

// Latency of requests over the most recent samples (up to 8192 per model), plus the
// all-time count and sum.
struct LatencyStats {
  double p50_us = 0, p90_us = 0, p99_us = 0;
  uint64_t count = 0;
  double sum_us = 0;
};

// A snapshot of one model's counters. Every accepted request is counted once in
// `submitted`, and is at any time in exactly one of queued, running, completed, failed,
// timed_out, cancelled, closed. Refused submits count in `rejected` only.
struct ModelStats {
  std::string name;
  uint64_t queued = 0;           // waiting in the queue now
  uint64_t running = 0;          // in a batch being run now
  uint64_t submitted = 0;        // accepted by submit()
  uint64_t completed = 0;        // ended with outputs
  uint64_t failed = 0;           // ended with their run's error
  uint64_t rejected = 0;         // refused by submit(): queue full or scheduler closed
  uint64_t timed_out = 0;        // ended at their deadline, never run
  uint64_t cancelled = 0;        // cancelled: while queued (never run) or while running
  uint64_t closed = 0;           // ended by close(drain=false), never run
  uint64_t batches = 0;          // runs of the model (batched or not; retries excluded)
  uint64_t rows = 0;             // rows those runs processed (the sum of batch sizes)
  uint64_t retried_batches = 0;  // batched runs that failed (or could not be split by
                                 // rows) and whose requests then ran one by one
  uint64_t warmup_runs = 0;
  // Runs per batch size in rows, ascending by size.
  std::vector<std::pair<int64_t, uint64_t>> batch_sizes;
  LatencyStats queue;    // submit -> its batch starts
  LatencyStats compute;  // its batch's run (the model's run, concatenation and split)
  LatencyStats total;    // submit -> outputs ready (callback called next)
};

class Scheduler {
 public:
  // Starts the threads (see the top of the file). Throws InvalidArgumentError for
  // threads < 0.
  explicit Scheduler(SchedulerOptions options = {});
  Scheduler(Scheduler&&) noexcept;
  Scheduler& operator=(Scheduler&&) noexcept;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  // close(false), then joins the threads (a scheduler destroyed from one of its own
  // callbacks leaves that thread to finish by itself; after close(drain, false) it
  // waits for none).
  ~Scheduler();

  // Adds SESSION as model NAME. Throws InvalidArgumentError for a name already in use, an
  // empty name, a bad CONFIG or a model that can't batch with max_batch_size > 1;
  // SchedulerClosedError after close(); the warm-up's error if it fails. Warm-up runs on
  // the calling thread, before the model is visible to submit().
  void add_model(const std::string& name, std::shared_ptr<Session> session,
                 const ModelConfig& config = {});
  void add_model(const std::string& name, Session&& session, const ModelConfig& config = {});

  // The session of model NAME (InvalidArgumentError if unknown): to check feeds or read
  // metadata. Don't close it while the scheduler uses it.
  std::shared_ptr<Session> session(std::string_view name) const;
  std::vector<std::string> models() const;

  // Queues REQUEST for model MODEL; ON_DONE is called exactly once when it ends. Checks
  // the inputs first (Session::check_input: InvalidInputError / InvalidTypeError, the
  // messages Session::run gives), then throws InvalidArgumentError for an unknown model
  // or a bad timeout, SchedulerClosedError after close(), QueueFullError when the
  // model's queue holds max_queue_size requests. Does not block beyond a short lock and
  // never calls a callback. Returns an id for cancel().
  RequestId submit(std::string_view model, Request request, Callback on_done);
  // As above, with the response delivered through a std::future.
  std::future<Response> submit(std::string_view model, Request request);

  // Submits REQUEST and waits for its response (throws what submit throws). When the
  // model has nothing queued, a replica free and no batch to wait for (a lone caller), the
  // calling thread runs it itself, as Session::run would: no hand-off to a worker and
  // back. Otherwise it is queued, batched and run by a worker like any other request
  // (Request::callback_in_context is ignored: nothing runs in the callback context).
  Response run(std::string_view model, Request request);

  // Cancels request ID, which then ends with CancelledError, and returns true:
  //   - still queued: it ends at once (its callback has been called on this thread when
  //     cancel returns) and never runs;
  //   - running: its batch's run is stopped (RunOptions::terminate on the replica slot's
  //     run options; ORT stops between kernels), and it ends on the thread that ran it,
  //     shortly, with CancelledError whatever its run gave. The other requests of its
  //     batch then run again, each alone, and each still ends once, with its own result
  //     or error (a batch run that way counts in retried_batches).
  // Returns false when the request has ended, or never existed.
  bool cancel(RequestId id);

  // Stops taking requests (submit and add_model then throw SchedulerClosedError). With
  // DRAIN, queued requests still run (or time out); without, they end with
  // SchedulerClosedError. With WAIT, waits for running batches and their callbacks, then
  // stops the threads (from a callback of this scheduler it does not wait: the threads
  // finish by themselves). Without WAIT it returns at once, and neither this call nor
  // the destructor waits for the threads: running batches finish, their callbacks run
  // and the threads end by themselves, keeping what they use alive. That is for a host
  // whose threads may be unable to finish (an embedding runtime shutting down, whose
  // callbacks can no longer run); the Python bindings close so during interpreter
  // finalisation. Idempotent; close(false) after close(true) ends whatever is still
  // queued.
  void close(bool drain = true, bool wait = true);
  bool closed() const noexcept;

  // Snapshots (InvalidArgumentError for an unknown model).
  ModelStats stats(std::string_view model) const;
  // Every model's counters in the Prometheus text exposition format (version 0.0.4),
  // named like Triton's metrics with PREFIX instead of "nv" (e.g.
  // ortnative_inference_request_success{model="m"}). See README, "Scheduling many models".
  std::string metrics_text(std::string_view prefix = "ortnative") const;

  // The worker threads this scheduler runs (not counting the timer thread).
  int threads() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ortnative
