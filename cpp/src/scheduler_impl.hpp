// Internal: the scheduler's data structures, shared by scheduler.cpp (queues, threads),
// scheduler_run.cpp (batches: concatenate, run, split, warm-up) and scheduler_stats.cpp.
// Not installed.
//
// Locking: one mutex (Impl::mu) guards every queue, every model's counters and the
// scheduler's state. It is held only to link, unlink and count: never while a model
// runs, never while a callback runs. Callbacks run after the lock is released, so they
// may call back into the scheduler.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ortnative/scheduler.hpp"

namespace ortnative {

namespace sched {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

// A request between submit() and its callback. Linked into its model's queue (one
// doubly linked list per priority level) while queued.
struct Model;

struct Pending {
  Pending* prev = nullptr;
  Pending* next = nullptr;
  Model* model = nullptr;
  RequestId id = 0;
  int priority = 0;
  // Rows this request contributes to a batch (dim 0 of its inputs); -1: it runs alone.
  int64_t rows = -1;
  // Its batch size for the statistics: dim 0 of its first tensor input, else 1.
  int64_t size = 1;
  Clock::time_point submitted;
  Clock::time_point deadline = kNever;
  std::chrono::microseconds timeout{0};  // what set the deadline, for the message
  std::multimap<Clock::time_point, Pending*>::iterator deadline_pos;
  Request request;
  Callback on_done;
  // Set (under Impl::mu) when cancel() came while the request was running: it then ends
  // with CancelledError however its run ended (finish() decides, under mu), and is not
  // run again. Read without the lock by the worker running its batch.
  std::atomic<bool> cancelled{false};
};

// A request that has ended and whose callback is due.
struct Ending {
  std::unique_ptr<Pending> req;
  Response response;
};

struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

struct Level {
  int priority = 0;
  Pending* head = nullptr;
  Pending* tail = nullptr;
};

// The most recent latency samples (microseconds) plus all-time count and sum.
class Samples {
 public:
  static constexpr std::size_t kWindow = 4096;
  void add(double us) {
    if (ring_.empty()) ring_.resize(kWindow);
    ring_[static_cast<std::size_t>(count_ % kWindow)] = static_cast<float>(us);
    ++count_;
    sum_ += us;
  }
  LatencyStats summary() const;

 private:
  std::vector<float> ring_;
  uint64_t count_ = 0;
  double sum_ = 0;
};

// A replica slot's staging buffers (one per input, grown on demand, reused) and the run
// options of its runs: cancel() of a request its batch runs terminates them (reset, under
// Impl::mu, when a batch begins).
struct Slot {
  std::vector<std::vector<std::byte>> inputs;
  std::vector<std::vector<int64_t>> shapes;
  RunOptions run_options;
  // The requests of the batch this slot runs now (guarded by Impl::mu; capacity reused,
  // so a batch allocates nothing here): what cancel() looks through.
  std::vector<Pending*> in_flight;
};

struct Model {
  std::string name;
  std::string label;  // "model 'name'"
  std::shared_ptr<Session> session;
  ModelConfig config;
  bool batching = false;
  std::vector<int> preferred;  // ascending
  std::vector<std::size_t> all_outputs;

  // -- guarded by Impl::mu --
  std::vector<Level> levels;  // ascending priority
  std::size_t queued = 0;
  int64_t queued_rows = 0;  // rows of queued requests (a request that runs alone counts max)
  uint64_t running = 0;     // requests in batches being run
  int busy = 0;             // slots in use
  std::vector<int> free_slots;
  std::vector<std::unique_ptr<Slot>> slots;
  // Whether batches wait up to max_queue_delay for more requests (scheduler.hpp,
  // "Batching"): set by a request that arrives to find others queued or running, or
  // right after a batch of several requests, or as a probe after `probe_every` lone
  // arrivals in a row; cleared when a batch waited the whole delay and got no one else.
  bool wait_mode = false;
  std::size_t last_batch = 0;  // requests in the latest batch taken
  // Rows of the latest batches taken: a waiting batch that has as many rows as the
  // largest of them goes at once (with N callers in a closed loop, N is what comes).
  std::array<int64_t, 8> recent_rows{};
  std::size_t recent_next = 0;
  bool probing = false;
  int lonely = 0;
  int probe_every = kFirstProbe;
  static constexpr int kFirstProbe = 16;
  static constexpr int kLastProbe = 1024;
  uint64_t submitted = 0, completed = 0, failed = 0, rejected = 0, timed_out = 0, cancelled = 0,
           closed = 0, batches = 0, rows = 0, retried_batches = 0, warmup_runs = 0;
  std::map<int64_t, uint64_t> batch_sizes;
  Samples queue_us, compute_us, total_us;

  // A request arrives (before it is counted as queued).
  void on_arrival() {
    if (queued + running > 0 || last_batch > 1) {
      wait_mode = true;
      lonely = 0;
    } else if (++lonely >= probe_every) {
      lonely = 0;
      wait_mode = probing = true;
    } else {
      wait_mode = false;
    }
  }
  // A batch of N requests leaves the queue; BY_DELAY: it went because it had waited.
  // Rows a waiting batch goes at once with: the largest recent batch, if one had
  // several rows (else max_batch_size).
  int64_t expected_rows() const {
    const int64_t most = *std::max_element(recent_rows.begin(), recent_rows.end());
    return most > 1 ? std::min<int64_t>(most, config.max_batch_size) : config.max_batch_size;
  }
  void on_dispatch(bool by_delay, std::size_t n, int64_t n_rows) {
    recent_rows[recent_next++ % recent_rows.size()] = n_rows;
    last_batch = n;
    if (probing) {
      probing = false;
      probe_every = n > 1 ? kFirstProbe : std::min(probe_every * 2, kLastProbe);
    }
    if (by_delay && n == 1) wait_mode = false;
  }

  int64_t effective_rows(int64_t n) const {
    return n > 0 && n <= config.max_batch_size ? n : config.max_batch_size;
  }
};

// One batch taken from a queue: run outside the lock by the worker that took it.
struct Batch {
  Model* model = nullptr;
  int slot = -1;
  Slot* staging = nullptr;
  std::vector<std::unique_ptr<Pending>> reqs;
  int64_t rows = 0;
  Clock::time_point started;
};

// Runs BATCH (scheduler_run.cpp): fills ENDINGS with one entry per request, in order.
// Sets *retried when a batched run failed and its requests ran again one by one.
void execute(Batch& batch, std::vector<Ending>& endings, bool* retried);

// Warm-up for a model not yet visible to submit (scheduler_run.cpp): returns the runs made.
uint64_t warm_up(Model& model);

// Checks that MODEL can batch (InvalidArgumentError naming why not) (scheduler_run.cpp).
void check_batchable(const Model& model);

}  // namespace sched

struct Scheduler::Impl : std::enable_shared_from_this<Scheduler::Impl> {
  SchedulerOptions options;
  int n_workers = 0;

  // Models by name: shared lock to look up, exclusive to add. Models are never removed,
  // so a Model* stays valid for the scheduler's life.
  mutable std::shared_mutex names_mu;
  std::vector<std::unique_ptr<sched::Model>> models;
  std::unordered_map<std::string, sched::Model*, sched::NameHash, std::equal_to<>> by_name;
  std::set<std::string> adding;  // names of models add_model is loading (warm-up)

  mutable std::mutex mu;
  std::condition_variable work_cv;    // workers: a batch may be ready
  std::condition_variable timer_cv;   // timer: an earlier deadline
  std::condition_variable inline_cv;  // close(): the last request run by its caller ended
  int inline_runs = 0;                // requests being run by their caller (run())
  std::multimap<sched::Clock::time_point, sched::Pending*> deadlines;
  sched::Clock::time_point timer_wake = sched::kNever;   // when the timer sleeps until
  sched::Clock::time_point worker_wake = sched::kNever;  // earliest timed wait of a worker
  std::size_t queued_total = 0;
  int idle = 0;
  std::size_t rr = 0;  // round robin over models
  RequestId next_id = 1;
  bool closed = false;
  std::atomic<bool> closed_flag{false};

  std::mutex join_mu;
  std::vector<std::thread> threads;
  bool joined = false;    // joined or detached: join_threads() does nothing more
  bool detached = false;  // close(drain, wait=false) came: nothing waits for the threads

  // Which threads a newly queued request must wake (notified after mu is released).
  struct Wakes {
    bool worker = false, timer = false;
    void notify(Impl& s) const {
      if (worker) s.work_cv.notify_one();
      if (timer) s.timer_cv.notify_one();
    }
  };

  void start();
  // submit(), in steps: checks and makes the request (no lock); refuses it or gives it an
  // id (under mu); links it into its queue (under mu).
  std::unique_ptr<sched::Pending> make_pending(sched::Model& m, Request&& request,
                                               Callback&& on_done) const;
  void admit(sched::Model& m, sched::Pending& p);
  Wakes link(sched::Model& m, std::unique_ptr<sched::Pending> p);
  RequestId enqueue(sched::Model& m, std::unique_ptr<sched::Pending> p);
  // Under mu: BATCH (taken from M's queue, or one request run by its caller) gets a slot.
  void begin_batch(sched::Model& m, sched::Batch& batch, sched::Clock::time_point now, int64_t rows,
                   bool by_delay);
  void worker_main();
  void timer_main();
  // Under mu: takes one ready batch, or returns false and sets *next_ready to when the
  // earliest waiting batch becomes ready. Requests found past their deadline go to EXPIRED.
  bool take_any(sched::Clock::time_point now, sched::Batch& batch,
                std::vector<sched::Ending>& expired, sched::Clock::time_point* next_ready);
  sched::Clock::time_point ready_at(const sched::Model& m, sched::Clock::time_point now) const;
  void take_from(sched::Model& m, sched::Clock::time_point now, sched::Batch& batch,
                 std::vector<sched::Ending>& expired);
  std::unique_ptr<sched::Pending> unlink(sched::Model& m, sched::Pending* p);
  void finish(sched::Batch& batch, std::vector<sched::Ending>& endings, bool retried,
              sched::Clock::time_point done);
  void deliver(std::vector<sched::Ending>& endings);
  sched::Model& model(std::string_view name) const;  // takes names_mu
  void close(bool drain, bool wait);
  // Joins the threads (detaches the calling thread if it is one of them); with DETACH,
  // detaches them all. Once only.
  void join_threads(bool detach = false);
  bool on_own_thread() const noexcept;
};

}  // namespace ortnative
