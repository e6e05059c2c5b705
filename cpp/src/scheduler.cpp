// The scheduler's queues and threads (see scheduler.hpp for the contract and
// scheduler_impl.hpp for the locking rules).
#include "ortnative/scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "messages.hpp"
#include "scheduler_impl.hpp"

namespace ortnative {

using sched::Batch;
using sched::Clock;
using sched::Ending;
using sched::kNever;
using sched::Level;
using sched::Model;
using sched::Pending;

namespace {

// The scheduler whose thread this is (null on other threads).
thread_local const Scheduler::Impl* tl_owner = nullptr;

Ending ended_with(std::unique_ptr<Pending> p, std::exception_ptr error) {
  Ending e;
  e.response.id = p->id;
  e.response.error = std::move(error);
  e.req = std::move(p);
  return e;
}

Ending timed_out(std::unique_ptr<Pending> p) {
  const std::string text = p->model->label + ": " + msg::request_timed_out(p->timeout.count());
  return ended_with(std::move(p), std::make_exception_ptr(RequestTimeoutError(text)));
}

bool compatible(const Pending& a, const Pending& b) {
  const auto& x = a.request.inputs;
  const auto& y = b.request.inputs;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const TensorView& s = x[i].tensor;
    const TensorView& t = y[i].tensor;
    if (s.rank != t.rank || s.dtype != t.dtype) return false;
    for (std::size_t d = 1; d < s.rank; ++d) {
      if (s.shape[d] != t.shape[d]) return false;
    }
  }
  return true;
}

void check_config(const std::string& label, const ModelConfig& c) {
  auto fail = [&](const std::string& what) { throw InvalidArgumentError(label + ": " + what); };
  if (c.replicas < 1) fail("replicas must be >= 1, got " + std::to_string(c.replicas));
  if (c.max_batch_size < 1) {
    fail("max_batch_size must be >= 1, got " + std::to_string(c.max_batch_size));
  }
  if (c.max_queue_delay.count() < 0) {
    fail("max_queue_delay must be >= 0, got " + std::to_string(c.max_queue_delay.count()) + " us");
  }
  if (c.max_queue_size < 1) fail("max_queue_size must be >= 1, got 0");
  if (c.timeout.count() < 0) {
    fail("timeout must be >= 0 (0 = none), got " + std::to_string(c.timeout.count()) + " us");
  }
  for (int p : c.preferred_batch_sizes) {
    if (p < 1 || p > c.max_batch_size) {
      fail("preferred batch sizes must be in 1..max_batch_size (" +
           std::to_string(c.max_batch_size) + "), got " + std::to_string(p));
    }
  }
}

}  // namespace

// -- threads ---------------------------------------------------------------------------

void Scheduler::Impl::start() {
  auto self = shared_from_this();
  try {
    threads.reserve(static_cast<std::size_t>(n_workers) + 1);
    threads.emplace_back([self] { self->timer_main(); });
    for (int i = 0; i < n_workers; ++i) threads.emplace_back([self] { self->worker_main(); });
  } catch (...) {
    close(false, true);
    join_threads();
    throw;
  }
}

bool Scheduler::Impl::on_own_thread() const noexcept {
  return tl_owner == this;
}

void Scheduler::Impl::worker_main() {
  tl_owner = this;
  if (options.on_thread_start) options.on_thread_start();
  std::vector<Ending> expired, endings;
  Batch batch;
  std::unique_lock<std::mutex> lk(mu);
  for (;;) {
    Clock::time_point next_ready = kNever;
    const bool got = take_any(Clock::now(), batch, expired, &next_ready);
    if (got || !expired.empty()) {
      lk.unlock();
      if (!expired.empty()) {
        deliver(expired);
        expired.clear();
      }
      if (got) {
        bool retried = false;
        sched::execute(batch, endings, &retried);
        const Clock::time_point done = Clock::now();
        lk.lock();
        finish(batch, endings, retried, done);
        lk.unlock();
        batch = Batch{};
        deliver(endings);
        endings.clear();
      }
      lk.lock();
      continue;
    }
    if (closed && queued_total == 0) break;
    ++idle;
    if (next_ready == kNever) {
      work_cv.wait(lk);
    } else {
      worker_wake = next_ready;
      work_cv.wait_until(lk, next_ready);
    }
    --idle;
    // Nobody may be waiting for worker_wake any more (this worker may have been woken
    // early, and go on to run a batch): forget it, so that the next request that needs a
    // timed wait wakes an idle worker (which sets it again) rather than count on one.
    worker_wake = kNever;
  }
  lk.unlock();
  if (options.on_thread_stop) options.on_thread_stop();
}

void Scheduler::Impl::timer_main() {
  tl_owner = this;
  if (options.on_thread_start) options.on_thread_start();
  std::vector<Ending> expired;
  std::unique_lock<std::mutex> lk(mu);
  for (;;) {
    if (closed && queued_total == 0) break;
    const Clock::time_point now = Clock::now();
    while (!deadlines.empty() && deadlines.begin()->first <= now) {
      Pending* p = deadlines.begin()->second;
      Model& m = *p->model;
      ++m.timed_out;
      expired.push_back(timed_out(unlink(m, p)));
    }
    if (!expired.empty()) {
      lk.unlock();
      deliver(expired);
      expired.clear();
      lk.lock();
      continue;
    }
    timer_wake = deadlines.empty() ? kNever : deadlines.begin()->first;
    if (timer_wake == kNever) {
      timer_cv.wait(lk);
    } else {
      timer_cv.wait_until(lk, timer_wake);
    }
  }
  lk.unlock();
  if (options.on_thread_stop) options.on_thread_stop();
}

void Scheduler::Impl::join_threads(bool detach) {
  std::lock_guard<std::mutex> g(join_mu);
  if (joined) return;
  joined = true;
  detached = detach;
  const auto me = std::this_thread::get_id();
  for (std::thread& t : threads) {
    if (!t.joinable()) continue;
    if (detach || t.get_id() == me) {
      // From our own callback, or told not to wait: the thread ends by itself, and
      // holds a share of this Impl until then.
      t.detach();
    } else {
      t.join();
    }
  }
}

// -- queues (all under mu) ---------------------------------------------------------------

std::unique_ptr<Pending> Scheduler::Impl::unlink(Model& m, Pending* p) {
  auto level = std::find_if(m.levels.begin(), m.levels.end(),
                            [&](const Level& l) { return l.priority == p->priority; });
  if (p->prev != nullptr) {
    p->prev->next = p->next;
  } else {
    level->head = p->next;
  }
  if (p->next != nullptr) {
    p->next->prev = p->prev;
  } else {
    level->tail = p->prev;
  }
  if (level->head == nullptr) m.levels.erase(level);
  p->prev = p->next = nullptr;
  --m.queued;
  m.queued_rows -= m.effective_rows(p->rows);
  --queued_total;
  if (p->deadline != kNever) deadlines.erase(p->deadline_pos);
  if (closed && queued_total == 0) {
    work_cv.notify_all();  // idle workers and the timer may now exit
    timer_cv.notify_all();
  }
  return std::unique_ptr<Pending>(p);
}

Clock::time_point Scheduler::Impl::ready_at(const Model& m, Clock::time_point now) const {
  if (m.queued == 0 || m.busy >= m.config.replicas) return kNever;
  const ModelConfig& c = m.config;
  if (!m.batching || closed || !m.wait_mode || c.max_queue_delay.count() == 0 ||
      m.queued_rows >= m.expected_rows() ||
      (!m.preferred.empty() && m.queued_rows >= m.preferred.front())) {
    return now;
  }
  Clock::time_point oldest = kNever;
  for (const Level& l : m.levels) oldest = std::min(oldest, l.head->submitted);
  return oldest + c.max_queue_delay;
}

void Scheduler::Impl::take_from(Model& m, Clock::time_point now, Batch& batch,
                                std::vector<Ending>& expired) {
  const int max_rows = m.config.max_batch_size;
  int64_t target = max_rows;
  // Did this batch become ready by waiting out the delay (rather than by filling up)?
  const bool waiting = m.batching && !closed && m.wait_mode && m.config.max_queue_delay.count() > 0;
  const bool filled = m.queued_rows >= m.expected_rows();
  const bool preferred = !m.preferred.empty() && m.queued_rows >= m.preferred.front();
  const bool by_delay = waiting && !filled && !preferred;
  if (waiting && !filled && preferred) {
    for (int p : m.preferred) {
      if (p <= m.queued_rows) target = p;  // the largest preferred size it can reach
    }
  }
  int64_t rows = 0;
  // Scans in priority order; a request that can't join (too many rows, other shapes)
  // keeps its place for a later batch.
  for (std::size_t li = 0; li < m.levels.size();) {
    const std::size_t n_levels = m.levels.size();
    Pending* p = m.levels[li].head;
    bool full = false;
    while (p != nullptr && !full) {
      Pending* next = p->next;
      if (p->deadline <= now) {
        ++m.timed_out;
        expired.push_back(timed_out(unlink(m, p)));
      } else if (batch.reqs.empty()) {
        rows = p->rows;
        batch.reqs.push_back(unlink(m, p));
        full = !m.batching || rows < 0 || rows >= target;
      } else if (p->rows >= 0 && rows + p->rows <= target && compatible(*batch.reqs[0], *p)) {
        rows += p->rows;
        batch.reqs.push_back(unlink(m, p));
        full = rows >= target;
      }
      p = next;
    }
    if (full) break;
    if (m.levels.size() == n_levels) ++li;  // else level li emptied and was erased
  }
  if (!batch.reqs.empty()) begin_batch(m, batch, now, rows, by_delay);
}

void Scheduler::Impl::begin_batch(Model& m, Batch& batch, Clock::time_point now, int64_t rows,
                                  bool by_delay) {
  if (!m.batching || rows < 0) rows = batch.reqs[0]->size;
  if (m.batching) m.on_dispatch(by_delay, batch.reqs.size(), rows);
  batch.model = &m;
  batch.rows = rows;
  batch.started = now;
  batch.slot = m.free_slots.back();
  m.free_slots.pop_back();
  auto& slot = m.slots[static_cast<std::size_t>(batch.slot)];
  if (!slot) slot = std::make_unique<sched::Slot>();
  batch.staging = slot.get();
  // A cancel() from here on stops this batch's run; one that stopped the slot's last
  // batch is over.
  slot->run_options.unset_terminate();
  ++m.busy;
  m.running += batch.reqs.size();
  slot->in_flight.clear();
  for (const auto& r : batch.reqs) {
    m.queue_us.add(std::chrono::duration<double, std::micro>(now - r->submitted).count());
    slot->in_flight.push_back(r.get());
  }
}

bool Scheduler::Impl::take_any(Clock::time_point now, Batch& batch, std::vector<Ending>& expired,
                               Clock::time_point* next_ready) {
  const std::size_t n = models.size();
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (rr + k) % n;
    Model& m = *models[i];
    const Clock::time_point r = ready_at(m, now);
    if (r <= now) {
      take_from(m, now, batch, expired);
      if (!batch.reqs.empty()) {
        rr = i + 1;
        return true;
      }
    } else {
      *next_ready = std::min(*next_ready, r);
    }
  }
  return false;
}

void Scheduler::Impl::finish(Batch& batch, std::vector<Ending>& endings, bool retried,
                             Clock::time_point done) {
  Model& m = *batch.model;
  --m.busy;
  m.free_slots.push_back(batch.slot);
  batch.staging->in_flight.clear();
  m.running -= endings.size();  // one ending per request of the batch
  ++m.batches;
  m.rows += static_cast<uint64_t>(batch.rows);
  ++m.batch_sizes[batch.rows];
  if (retried) ++m.retried_batches;
  const double compute = std::chrono::duration<double, std::micro>(done - batch.started).count();
  for (Ending& e : endings) {
    if (e.req->cancelled.load(std::memory_order_relaxed)) {
      // cancel() said so while it ran: cancelled, whatever its run gave.
      ++m.cancelled;
      e.response.outputs.clear();
      e.response.error = std::make_exception_ptr(
          CancelledError(m.label + ": " + msg::request_cancelled_running()));
    } else if (e.response.ok()) {
      ++m.completed;
    } else {
      ++m.failed;
    }
    m.compute_us.add(compute);
    m.total_us.add(std::chrono::duration<double, std::micro>(done - e.req->submitted).count());
  }
  // A slot is free: a batch of this model that was waiting for one may be ready.
  if (m.queued > 0 && idle > 0) work_cv.notify_one();
}

void Scheduler::Impl::deliver(std::vector<Ending>& endings) {
  // Requests that asked for no context first (their waiters need nothing else), then
  // the others in one callback_context call.
  auto end = [](Ending& e) {
    try {
      if (e.req->on_done) e.req->on_done(std::move(e.response));
    } catch (...) {  // NOLINT(bugprone-empty-catch): documented, a callback must not throw
    }
    e.req.reset();  // the callback and keep_alive go here, in the callback context
    e.response = Response{};
  };
  bool in_context = false;
  for (Ending& e : endings) {
    if (options.callback_context && e.req->request.callback_in_context) {
      in_context = true;
    } else {
      end(e);
    }
  }
  if (!in_context) return;
  options.callback_context([&] {
    for (Ending& e : endings) {
      if (e.req) end(e);
    }
  });
}

Model& Scheduler::Impl::model(std::string_view name) const {
  std::shared_lock<std::shared_mutex> g(names_mu);
  auto it = by_name.find(name);
  if (it != by_name.end()) return *it->second;
  if (adding.count(std::string(name)) != 0) {
    throw InvalidArgumentError(msg::model_being_added(name));
  }
  std::vector<std::string> known;
  for (const auto& m : models) known.push_back(m->name);
  throw InvalidArgumentError(msg::unknown_model(name, known));
}

void Scheduler::Impl::close(bool drain, bool wait) {
  std::vector<Ending> ended;
  {
    std::lock_guard<std::mutex> g(mu);
    closed = true;
    closed_flag.store(true, std::memory_order_release);
    if (!drain) {
      for (auto& mp : models) {
        Model& m = *mp;
        while (!m.levels.empty()) {
          ++m.closed;
          ended.push_back(ended_with(unlink(m, m.levels.front().head),
                                     std::make_exception_ptr(SchedulerClosedError(
                                         m.label + ": " + msg::closed_before_run()))));
        }
      }
    }
    work_cv.notify_all();
    timer_cv.notify_all();
  }
  if (!ended.empty()) deliver(ended);
  if (!wait) {
    join_threads(/*detach=*/true);
    return;
  }
  if (on_own_thread()) return;
  join_threads();
  {
    std::lock_guard<std::mutex> g(join_mu);
    if (detached) return;  // an earlier close(drain, false): wait for nothing
  }
  std::unique_lock<std::mutex> lk(mu);  // requests their callers are running (run())
  inline_cv.wait(lk, [this] { return inline_runs == 0; });
}

// -- public API ----------------------------------------------------------------------------

Scheduler::Scheduler(SchedulerOptions options) : impl_(std::make_shared<Impl>()) {
  if (options.threads < 0) {
    throw InvalidArgumentError("threads must be >= 0 (0 = one per CPU), got " +
                               std::to_string(options.threads));
  }
  impl_->options = std::move(options);
  int n = impl_->options.threads;
  if (n == 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl_->n_workers = n;
  impl_->start();
}

Scheduler::Scheduler(Scheduler&&) noexcept = default;
Scheduler& Scheduler::operator=(Scheduler&& other) noexcept {
  if (this != &other) {
    if (impl_) {
      impl_->close(false, true);
      impl_->join_threads();
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Scheduler::~Scheduler() {
  if (!impl_) return;
  impl_->close(false, true);
  impl_->join_threads();
}

void Scheduler::add_model(const std::string& name, Session&& session, const ModelConfig& config) {
  add_model(name, std::make_shared<Session>(std::move(session)), config);
}

void Scheduler::add_model(const std::string& name, std::shared_ptr<Session> session,
                          const ModelConfig& config) {
  Impl& s = *impl_;
  if (name.empty()) throw InvalidArgumentError("a model name must not be empty");
  if (!session) throw InvalidArgumentError("model '" + name + "': session is null");
  auto m = std::make_unique<Model>();
  m->name = name;
  m->label = "model '" + name + "'";
  check_config(m->label, config);
  m->session = std::move(session);
  m->config = config;
  m->batching = config.max_batch_size > 1;
  m->preferred = config.preferred_batch_sizes;
  std::sort(m->preferred.begin(), m->preferred.end());
  m->preferred.erase(std::unique(m->preferred.begin(), m->preferred.end()), m->preferred.end());
  for (std::size_t k = 0; k < m->session->outputs().size(); ++k) m->all_outputs.push_back(k);
  m->slots.resize(static_cast<std::size_t>(config.replicas));
  for (auto& slot : m->slots) slot = std::make_unique<sched::Slot>();  // with run options
  for (int r = config.replicas - 1; r >= 0; --r) m->free_slots.push_back(r);
  {
    // The name is taken from here on (a second add_model of it is refused, a submit is
    // told the model is being added), and visible to submit once the model is ready.
    std::unique_lock<std::shared_mutex> g(s.names_mu);
    if (s.closed_flag.load(std::memory_order_acquire)) {
      throw SchedulerClosedError(msg::scheduler_closed_model(name));
    }
    if (s.by_name.count(name) != 0 || s.adding.count(name) != 0) {
      throw InvalidArgumentError(msg::model_already_added(name));
    }
    s.adding.insert(name);
  }
  struct Unmark {
    Impl& s;
    const std::string& name;
    ~Unmark() {
      std::unique_lock<std::shared_mutex> g(s.names_mu);
      s.adding.erase(name);
    }
  } unmark{s, name};
  if (m->batching) sched::check_batchable(*m);
  if (config.warmup) m->warmup_runs = sched::warm_up(*m);
  std::unique_lock<std::shared_mutex> names(s.names_mu);
  std::lock_guard<std::mutex> g(s.mu);
  if (s.closed) throw SchedulerClosedError(msg::scheduler_closed_model(name));
  s.by_name.emplace(name, m.get());
  s.models.push_back(std::move(m));
}

std::shared_ptr<Session> Scheduler::session(std::string_view name) const {
  return impl_->model(name).session;
}

std::vector<std::string> Scheduler::models() const {
  std::shared_lock<std::shared_mutex> g(impl_->names_mu);
  std::vector<std::string> out;
  for (const auto& m : impl_->models) out.push_back(m->name);
  return out;
}

std::unique_ptr<Pending> Scheduler::Impl::make_pending(Model& m, Request&& request,
                                                       Callback&& on_done) const {
  const Session& sess = *m.session;
  const std::size_t n_in = sess.inputs().size();
  if (request.inputs.size() != n_in) {
    sess.fail(ErrorCode::kInvalidArgument, "submit: " + std::to_string(request.inputs.size()) +
                                               " inputs given, the model has " +
                                               std::to_string(n_in));
  }
  for (std::size_t i = 0; i < n_in; ++i) sess.check_input(i, request.inputs[i]);
  if (request.timeout && request.timeout->count() <= 0) {
    throw InvalidArgumentError(m.label + ": a request's timeout must be > 0, got " +
                               std::to_string(request.timeout->count()) + " us");
  }
  auto p = std::make_unique<Pending>();
  p->model = &m;
  p->priority = request.priority;
  for (const InputView& v : request.inputs) {
    if (v.kind == InputView::Kind::kTensor && v.tensor.rank > 0) {
      p->size = v.tensor.shape[0];
      break;
    }
  }
  if (m.batching) {
    // Every input is a tensor with a free dim 0 (check_batchable), of rank >= 1
    // (check_input): the request batches if they agree on dim 0.
    // Device memory (feeds, or outputs kept on the device) is never concatenated or split
    // on the host: such a request runs alone.
    p->rows = p->size > 0 && sess.output_device().host() ? p->size : -1;
    for (const InputView& v : request.inputs) {
      if (v.kind != InputView::Kind::kTensor || v.tensor.rank == 0 ||
          v.tensor.shape[0] != p->rows || !v.tensor.device.host()) {
        p->rows = -1;  // runs alone; ORT reports the mismatch as Session::run would
      }
    }
  }
  p->timeout = request.timeout ? *request.timeout : m.config.timeout;
  p->request = std::move(request);
  p->on_done = std::move(on_done);
  p->submitted = Clock::now();
  if (p->timeout.count() > 0) p->deadline = p->submitted + p->timeout;
  return p;
}

void Scheduler::Impl::admit(Model& m, Pending& p) {
  if (closed) {
    ++m.rejected;
    throw SchedulerClosedError(m.label + ": " + msg::scheduler_closed_request());
  }
  if (m.queued >= m.config.max_queue_size) {
    ++m.rejected;
    throw QueueFullError(m.label + ": " + msg::queue_full(m.config.max_queue_size));
  }
  p.id = next_id++;
  ++m.submitted;
  m.on_arrival();
}

RequestId Scheduler::Impl::enqueue(Model& m, std::unique_ptr<Pending> p) {
  Wakes wakes;
  RequestId id = 0;
  {
    std::lock_guard<std::mutex> g(mu);
    admit(m, *p);
    id = p->id;
    wakes = link(m, std::move(p));
  }
  wakes.notify(*this);
  return id;
}

Scheduler::Impl::Wakes Scheduler::Impl::link(Model& m, std::unique_ptr<Pending> p) {
  const Clock::time_point now = p->submitted;
  Wakes wakes;
  {
    auto level = std::lower_bound(m.levels.begin(), m.levels.end(), p->priority,
                                  [](const Level& l, int prio) { return l.priority < prio; });
    if (level == m.levels.end() || level->priority != p->priority) {
      level = m.levels.insert(level, Level{p->priority, nullptr, nullptr});
    }
    Pending* raw = p.release();
    raw->prev = level->tail;
    if (level->tail != nullptr) {
      level->tail->next = raw;
    } else {
      level->head = raw;
    }
    level->tail = raw;
    ++m.queued;
    m.queued_rows += m.effective_rows(raw->rows);
    ++queued_total;
    if (raw->deadline != kNever) {
      raw->deadline_pos = deadlines.emplace(raw->deadline, raw);
      if (raw->deadline < timer_wake) {
        timer_wake = raw->deadline;
        wakes.timer = true;
      }
    }
    if (idle > 0) {
      const Clock::time_point r = ready_at(m, now);
      if (r <= now) {
        wakes.worker = true;
      } else if (r != kNever && (r < worker_wake || worker_wake <= now)) {
        worker_wake = r;  // an idle worker must wait for this batch's delay
        wakes.worker = true;
      }
    }
  }
  return wakes;
}

RequestId Scheduler::submit(std::string_view name, Request request, Callback on_done) {
  Impl& s = *impl_;
  Model& m = s.model(name);
  return s.enqueue(m, s.make_pending(m, std::move(request), std::move(on_done)));
}

Response Scheduler::run(std::string_view name, Request request) {
  Impl& s = *impl_;
  Model& m = s.model(name);
  // Where the response lands if the request is queued: the callback only stores it and
  // wakes this thread. (std::atomic::wait, not a condition variable: it spins and yields
  // briefly before it sleeps, and notify_one makes no system call when nobody sleeps; a
  // futex sleep and wake-up cost about as much as a small model's run.)
  struct Waiter {
    // 0 or 1; an int, which futexes wait on directly (libstdc++ makes a std::atomic<bool>
    // wait on a counter shared with other addresses: every completion would wake them all).
    std::atomic<int> done{0};
    Response response;
  };
  auto w = std::make_shared<Waiter>();
  request.callback_in_context = false;
  std::unique_ptr<Pending> p = s.make_pending(m, std::move(request), [w](Response&& r) {
    w->response = std::move(r);
    w->done.store(1, std::memory_order_release);
    w->done.notify_one();
  });
  Batch batch;
  Impl::Wakes wakes;
  {
    std::lock_guard<std::mutex> g(s.mu);
    s.admit(m, *p);
    // Nothing queued, a replica free and no batch worth waiting for: this thread runs it,
    // as Session::run would, with no hand-off to a worker and back.
    if (m.queued == 0 && m.busy < m.config.replicas &&
        (!m.batching || !m.wait_mode || m.config.max_queue_delay.count() == 0)) {
      const Clock::time_point now = p->submitted;
      batch.reqs.push_back(std::move(p));
      s.begin_batch(m, batch, now, -1, false);
      ++s.inline_runs;
    } else {
      wakes = s.link(m, std::move(p));
    }
  }
  wakes.notify(s);
  if (!batch.reqs.empty()) {
    std::vector<Ending> endings;
    bool retried = false;
    sched::execute(batch, endings, &retried);
    const Clock::time_point done = Clock::now();
    {
      std::lock_guard<std::mutex> g(s.mu);
      s.finish(batch, endings, retried, done);
      if (--s.inline_runs == 0 && s.closed) s.inline_cv.notify_all();
    }
    Response r = std::move(endings[0].response);
    return r;
  }
  while (w->done.load(std::memory_order_acquire) == 0) w->done.wait(0);
  return std::move(w->response);
}

std::future<Response> Scheduler::submit(std::string_view model, Request request) {
  auto promise = std::make_shared<std::promise<Response>>();
  std::future<Response> fut = promise->get_future();
  submit(model, std::move(request), [promise](Response&& r) { promise->set_value(std::move(r)); });
  return fut;
}

bool Scheduler::cancel(RequestId id) {
  Impl& s = *impl_;
  std::vector<Ending> ended;
  {
    std::lock_guard<std::mutex> g(s.mu);
    // Running: stop its batch's run; the worker ends it (finish() makes it cancelled)
    // and runs the others of its batch again, alone.
    for (auto& mp : s.models) {
      for (auto& slot : mp->slots) {
        for (Pending* p : slot->in_flight) {
          if (p->id != id) continue;
          p->cancelled.store(true, std::memory_order_seq_cst);
          slot->run_options.terminate();
          return true;
        }
      }
    }
    for (auto& mp : s.models) {
      Model& m = *mp;
      for (const Level& l : m.levels) {
        for (Pending* p = l.head; p != nullptr; p = p->next) {
          if (p->id != id) continue;
          ++m.cancelled;
          ended.push_back(ended_with(
              s.unlink(m, p),
              std::make_exception_ptr(CancelledError(m.label + ": " + msg::request_cancelled()))));
          goto found;
        }
      }
    }
  found:;
  }
  if (ended.empty()) return false;
  s.deliver(ended);
  return true;
}

void Scheduler::close(bool drain, bool wait) {
  impl_->close(drain, wait);
}

bool Scheduler::closed() const noexcept {
  return impl_->closed_flag.load(std::memory_order_acquire);
}

int Scheduler::threads() const noexcept {
  return impl_->n_workers;
}

}  // namespace ortnative
