// The scheduler without Python: batching gives each request what Session::run gives it,
// priorities, timeouts, cancellation, close with and without drain, exactly-once under a
// storm, a failing batch that fails only its bad request, lifetimes, bounded threads,
// metrics.
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "check.hpp"
#include "model_builder.hpp"
#include "ortnative/ortnative.hpp"

using namespace ortnative;
using namespace std::chrono_literals;
using ortnative::test::add_model;
using ortnative::test::Dim;
using ortnative::test::node;
using ortnative::test::Proto;
using ortnative::test::value_info;

namespace {

Session load(const std::string& bytes, const std::string& name) {
  SessionOptions o;
  o.name = name;
  return Session::from_bytes(bytes.data(), bytes.size(), o);
}

// y = x * 2 with x, y float32 [2, 4]: no free batch dimension.
std::string fixed_model() {
  Proto g;
  g.message(1, node("Add", {"x", "x"}, {"y"}));
  g.bytes(2, "fixed");
  g.message(11, value_info("x", 1, {{2, ""}, {4, ""}}));
  g.message(12, value_info("y", 1, {{2, ""}, {4, ""}}));
  return ortnative::test::model(g);
}

// y = Gather(table, idx), table = 0..9 (float32), idx int64 [N]: an index out of range
// makes ORT fail at run time.
std::string gather_model() {
  Proto g;
  g.message(1, node("Gather", {"table", "idx"}, {"y"}));
  g.bytes(2, "gather");
  g.message(5, ortnative::test::float_initializer("table", {10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  g.message(11, value_info("idx", 7, {{-1, "N"}}));
  g.message(12, value_info("y", 1, {{-1, "N"}}));
  return ortnative::test::model(g);
}

// A float32 [rows, 4] request whose buffers it owns (keep_alive).
struct Owned {
  std::vector<float> x;
  std::vector<int64_t> shape;
  std::atomic<int>* freed = nullptr;
  ~Owned() {
    if (freed != nullptr) ++*freed;
  }
};

Request request(int64_t rows, float base, int priority = 0, std::atomic<int>* freed = nullptr) {
  auto o = std::make_shared<Owned>();
  o->shape = {rows, 4};
  for (int64_t i = 0; i < rows * 4; ++i) o->x.push_back(base + static_cast<float>(i));
  o->freed = freed;
  Request r;
  r.inputs = {InputView::of(TensorView{DType::kFloat32, o->shape.data(), 2, o->x.data()})};
  r.priority = priority;
  r.keep_alive = o;
  return r;
}

Request index_request(std::vector<int64_t> idx) {
  struct Idx {
    std::vector<int64_t> v, shape;
  };
  auto o = std::make_shared<Idx>();
  o->shape = {static_cast<int64_t>(idx.size())};
  o->v = std::move(idx);
  Request r;
  r.inputs = {InputView::of(TensorView{DType::kInt64, o->shape.data(), 1, o->v.data()})};
  r.keep_alive = o;
  return r;
}

// y = x + (1, 2, 3, 4) for rows*4 values starting at BASE: what the add model gives.
void check_add(const RequestOutput& y, int64_t rows, float base) {
  CHECK(y.dtype() == DType::kFloat32);
  CHECK(y.shape().size() == 2 && y.shape()[0] == rows && y.shape()[1] == 4);
  const auto* p = static_cast<const float*>(y.data());
  for (int64_t i = 0; i < rows * 4; ++i) {
    CHECK(p[i] == base + static_cast<float>(i) + static_cast<float>(i % 4 + 1));
  }
}

// Holds the single worker of a scheduler inside a callback until release().
struct Gate {
  std::promise<void> entered, go;
  std::shared_future<void> go_f = go.get_future().share();
  Callback hold() {
    return [this](Response&&) {
      entered.set_value();
      go_f.wait();
    };
  }
  void release() { go.set_value(); }
};

int thread_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

}  // namespace

TEST_CASE("batched results equal Session::run per request, and batches form") {
  SchedulerOptions so;
  so.threads = 1;
  Scheduler sched(so);
  ModelConfig c;
  c.max_batch_size = 8;
  c.max_queue_delay = 100ms;
  sched.add_model("add", load(add_model(), "add"), c);
  Gate gate;
  std::future<void> entered = gate.entered.get_future();
  sched.submit("add", request(1, 0), gate.hold());
  entered.wait();  // the worker is stuck in that callback: the next requests queue up
  std::vector<std::future<Response>> futs;
  const int64_t rows[] = {1, 2, 1, 3, 1};  // 8 rows: one full batch
  for (int i = 0; i < 5; ++i)
    futs.push_back(sched.submit("add", request(rows[i], 10.0f * static_cast<float>(i))));
  gate.release();
  for (int i = 0; i < 5; ++i) {
    Response r = futs[static_cast<std::size_t>(i)].get();
    r.rethrow_if_error();
    CHECK(r.outputs.size() == 2);
    CHECK(r.outputs[0].is_slice());
    check_add(r.outputs[0], rows[i], 10.0f * static_cast<float>(i));
  }
  ModelStats st = sched.stats("add");
  CHECK(st.completed == 6);
  CHECK(st.batches == 2);
  CHECK(st.batch_sizes.size() == 2 && st.batch_sizes[1].first == 8 &&
        st.batch_sizes[1].second == 1);
  CHECK(st.rows == 9);
}

TEST_CASE("many threads, mixed rows: every request gets its own rows") {
  SchedulerOptions so;
  so.threads = 2;
  Scheduler sched(so);
  ModelConfig c;
  c.max_batch_size = 16;
  c.max_queue_delay = 2ms;
  c.replicas = 2;
  sched.add_model("add", load(add_model(), "add"), c);
  constexpr int kThreads = 16, kEach = 40;
  std::barrier sync(kThreads);
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      sync.arrive_and_wait();
      for (int i = 0; i < kEach; ++i) {
        const int64_t rows = 1 + (t + i) % 3;
        const float base = static_cast<float>(t * 1000 + i * 10);
        Response r = sched.submit("add", request(rows, base)).get();
        try {
          r.rethrow_if_error();
          check_add(r.outputs[0], rows, base);
        } catch (...) {
          ++bad;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK(bad == 0);
  ModelStats st = sched.stats("add");
  CHECK(st.completed == kThreads * kEach);
  CHECK(st.queued == 0 && st.running == 0);
}

TEST_CASE("run: a lone caller runs its request itself; otherwise it is queued and batched") {
  SchedulerOptions so;
  so.threads = 1;
  Scheduler sched(so);
  ModelConfig c;
  c.max_batch_size = 4;
  c.max_queue_delay = 100ms;
  sched.add_model("add", load(add_model(), "add"), c);
  Response alone = sched.run("add", request(2, 1.0f));
  alone.rethrow_if_error();
  check_add(alone.outputs[0], 2, 1.0f);
  CHECK(!alone.outputs[0].is_slice());  // ran unbatched, on this thread
  Gate gate;
  std::future<void> entered = gate.entered.get_future();
  sched.submit("add", request(1, 0), gate.hold());
  entered.wait();
  // Something is queued: run() queues behind it instead of running on its own.
  auto first = sched.submit("add", request(1, 30.0f));
  std::vector<std::thread> callers;
  std::vector<Response> got(3);
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&, i] {
      got[static_cast<std::size_t>(i)] =
          sched.run("add", request(1, 10.0f * static_cast<float>(i)));
    });
  }
  for (int spins = 0; sched.stats("add").queued < 4 && spins < 3000; ++spins) {
    std::this_thread::sleep_for(1ms);
  }
  CHECK(sched.stats("add").queued == 4);
  CHECK_THROWS(sched.run("nope", request(1, 0)), InvalidArgumentError, "unknown model");
  gate.release();
  for (auto& t : callers) t.join();
  for (int i = 0; i < 3; ++i) {
    got[static_cast<std::size_t>(i)].rethrow_if_error();
    CHECK(got[static_cast<std::size_t>(i)].outputs[0].is_slice());
    check_add(got[static_cast<std::size_t>(i)].outputs[0], 1, 10.0f * static_cast<float>(i));
  }
  first.get().rethrow_if_error();
  ModelStats st = sched.stats("add");
  CHECK(st.completed == 6);
  CHECK(st.batch_sizes.size() == 3);  // 2 (alone), 1 (held), 4 (the batch)
  CHECK(st.batch_sizes[2].first == 4 && st.batch_sizes[2].second == 1);
  sched.close(true);
  CHECK_THROWS(sched.run("add", request(1, 0)), SchedulerClosedError, "closed");
}

TEST_CASE("priorities: lower first, FIFO within a level") {
  SchedulerOptions so;
  so.threads = 1;
  Scheduler sched(so);
  sched.add_model("add", load(add_model(), "add"));
  Gate gate;
  std::future<void> entered = gate.entered.get_future();
  sched.submit("add", request(1, 0), gate.hold());
  entered.wait();
  std::mutex mu;
  std::vector<int> order;
  const int prio[] = {5, 0, 3, 0, 1, 5, -2};
  for (int i = 0; i < 7; ++i) {
    sched.submit("add", request(1, 0, prio[i]), [&, i](Response&&) {
      std::lock_guard<std::mutex> g(mu);
      order.push_back(i);
    });
  }
  gate.release();
  sched.close(true);
  CHECK((order == std::vector<int>{6, 1, 3, 4, 2, 0, 5}));
}

TEST_CASE("a queued request times out at its deadline and never runs") {
  SchedulerOptions so;
  so.threads = 1;
  Scheduler sched(so);
  ModelConfig c;
  c.timeout = 20ms;
  sched.add_model("add", load(add_model(), "add"), c);
  Gate gate;
  std::future<void> entered = gate.entered.get_future();
  sched.submit("add", request(1, 0), gate.hold());
  entered.wait();
  auto late = sched.submit("add", request(1, 0));  // the model's 20 ms
  Request own = request(1, 0);
  own.timeout = 5ms;
  auto early = sched.submit("add", std::move(own));  // its own 5 ms
  // Both end while the only worker is still held: the timer thread ends them.
  CHECK_THROWS(early.get().rethrow_if_error(), RequestTimeoutError,
               "model 'add': request timed out after 5 ms in the queue; it never ran");
  CHECK_THROWS(late.get().rethrow_if_error(), RequestTimeoutError, "after 20 ms");
  gate.release();
  sched.close(true);
  ModelStats st = sched.stats("add");
  CHECK(st.timed_out == 2 && st.completed == 1 && st.batches == 1);
  Request bad = request(1, 0);
  bad.timeout = 0ms;
  CHECK_THROWS(sched.submit("add", std::move(bad)), InvalidArgumentError, "must be > 0");
}

TEST_CASE("cancel ends a queued request, not a finished one") {
  SchedulerOptions so;
  so.threads = 1;
  Scheduler sched(so);
  sched.add_model("add", load(add_model(), "add"));
  Gate gate;
  std::future<void> entered = gate.entered.get_future();
  RequestId first = sched.submit("add", request(1, 0), gate.hold());
  entered.wait();
  std::atomic<int> calls{0};
  std::exception_ptr err;
  RequestId id = sched.submit("add", request(1, 0), [&](Response&& r) {
    ++calls;
    err = r.error;
  });
  CHECK(sched.cancel(id));
  CHECK(calls == 1);  // called on this thread, before cancel returned
  CHECK_THROWS(std::rethrow_exception(err), CancelledError, "request cancelled before it ran");
  CHECK(!sched.cancel(id));
  CHECK(!sched.cancel(first));  // already ran
  CHECK(!sched.cancel(987654));
  gate.release();
  sched.close(true);
  CHECK(calls == 1);
  CHECK(sched.stats("add").cancelled == 1);
}

namespace {

// One row of the batchable loop model: x (64 values of V), n iterations.
Request loop_request(float v, int64_t n) {
  struct Row {
    std::vector<float> x = std::vector<float>(64);
    std::vector<int64_t> x_shape = {1, 64}, n = {0}, n_shape = {1};
  };
  auto o = std::make_shared<Row>();
  std::fill(o->x.begin(), o->x.end(), v);
  o->n[0] = n;
  Request r;
  r.inputs = {InputView::of(TensorView{DType::kFloat32, o->x_shape.data(), 2, o->x.data()}),
              InputView::of(TensorView{DType::kInt64, o->n_shape.data(), 1, o->n.data()})};
  r.keep_alive = o;
  return r;
}

// Each request's ending, counted.
struct Endings {
  std::mutex mu;
  std::map<RequestId, int> calls;
  std::map<RequestId, Response> last;
  Callback on_done() {
    return [this](Response&& r) {
      std::lock_guard<std::mutex> g(mu);
      ++calls[r.id];
      last[r.id] = std::move(r);
    };
  }
  int count(RequestId id) {
    std::lock_guard<std::mutex> g(mu);
    return calls.count(id) != 0 ? calls[id] : 0;
  }
};

void wait_for(const std::function<bool()>& cond) {
  while (!cond()) std::this_thread::sleep_for(1ms);
}

}  // namespace

TEST_CASE("cancel stops a running request's batch; the others of the batch run again alone") {
  SchedulerOptions so;
  so.threads = 2;
  Scheduler sched(so);
  ModelConfig cfg;
  cfg.max_batch_size = 4;
  cfg.max_queue_delay = 100ms;
  const std::string bytes = ortnative::test::batch_loop_model();
  sched.add_model("loop", load(bytes, "loop"), cfg);
  Session alone = load(bytes, "alone");
  const int64_t forever = int64_t{1} << 40;  // only a cancel ends these
  Endings ends;
  // D holds the one replica; A, B and C queue behind it and then form one batch.
  RequestId d = sched.submit("loop", loop_request(0.5f, forever), ends.on_done());
  wait_for([&] { return sched.stats("loop").running == 1; });
  RequestId a = sched.submit("loop", loop_request(0.1f, forever), ends.on_done());
  RequestId b = sched.submit("loop", loop_request(0.2f, 3), ends.on_done());
  RequestId c = sched.submit("loop", loop_request(0.3f, 3), ends.on_done());
  CHECK(sched.cancel(d));  // running: its run stops, and it ends on the worker
  wait_for([&] { return ends.count(d) == 1; });
  wait_for([&] { return sched.stats("loop").running == 3; });  // A, B, C: one batch
  CHECK(sched.cancel(a));
  wait_for([&] { return ends.count(a) + ends.count(b) + ends.count(c) == 3; });
  sched.close(true);
  for (RequestId id : {a, b, c, d}) CHECK(ends.count(id) == 1);
  for (RequestId id : {a, d}) {
    CHECK_THROWS(ends.last[id].rethrow_if_error(), CancelledError,
                 "request cancelled while it ran (its run was stopped)");
  }
  // B and C get what a run of their own gives (3 iterations, not the batch's).
  for (auto [id, v] : {std::pair{b, 0.2f}, std::pair{c, 0.3f}}) {
    CHECK(ends.last[id].ok());
    std::vector<float> x(64, v);
    std::vector<int64_t> xs = {1, 64}, n = {3}, ns = {1};
    auto want = alone.run({{"x", {DType::kFloat32, xs.data(), 2, x.data()}},
                           {"n", {DType::kInt64, ns.data(), 1, n.data()}}});
    const auto* got = static_cast<const float*>(ends.last[id].outputs[0].data());
    const auto* ref = static_cast<const float*>(want[0].data());
    CHECK(std::equal(got, got + 64, ref));
  }
  CHECK(!sched.cancel(b));  // ended
  ModelStats st = sched.stats("loop");
  CHECK(st.submitted == 4 && st.cancelled == 2 && st.completed == 2 && st.failed == 0);
  CHECK(st.running == 0 && st.queued == 0);
  CHECK(st.retried_batches == 1);
}

TEST_CASE("close: drain runs what is queued, no drain ends it; submit then refuses") {
  for (bool drain : {true, false}) {
    SchedulerOptions so;
    so.threads = 1;
    Scheduler sched(so);
    sched.add_model("add", load(add_model(), "add"));
    Gate gate;
    std::future<void> entered = gate.entered.get_future();
    sched.submit("add", request(1, 0), gate.hold());
    entered.wait();
    std::vector<std::future<Response>> futs;
    for (int i = 0; i < 5; ++i)
      futs.push_back(sched.submit("add", request(1, 1.0f * static_cast<float>(i))));
    std::thread closer([&] { sched.close(drain); });
    while (!sched.closed()) std::this_thread::yield();
    CHECK_THROWS(sched.submit("add", request(1, 0)), SchedulerClosedError, "scheduler is closed");
    gate.release();
    closer.join();
    for (int i = 0; i < 5; ++i) {
      Response r = futs[static_cast<std::size_t>(i)].get();
      if (drain) {
        r.rethrow_if_error();
        check_add(r.outputs[0], 1, 1.0f * static_cast<float>(i));
      } else {
        CHECK_THROWS(r.rethrow_if_error(), SchedulerClosedError, "closed before the request ran");
      }
    }
    ModelStats st = sched.stats("add");
    CHECK(st.completed == (drain ? 6u : 1u));
    CHECK(st.closed == (drain ? 0u : 5u));
    CHECK(st.rejected == 1);
    CHECK_THROWS(sched.add_model("b", load(add_model(), "b")), SchedulerClosedError, "closed");
  }
}

TEST_CASE("exactly once: a storm of submits, timeouts, cancels, a full queue and close") {
  SchedulerOptions so;
  so.threads = 2;
  Scheduler sched(so);
  ModelConfig c;
  c.max_batch_size = 4;
  c.max_queue_delay = 200us;
  c.max_queue_size = 16;
  sched.add_model("add", load(add_model(), "add"), c);
  constexpr int kThreads = 8, kEach = 300;
  std::vector<std::atomic<int>> calls(kThreads * kEach);
  std::atomic<int> ok{0}, failed{0}, timeout{0}, cancelled{0}, closed{0}, full{0}, refused{0},
      freed{0}, accepted{0};
  std::barrier sync(kThreads + 1);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      sync.arrive_and_wait();
      for (int i = 0; i < kEach; ++i) {
        const int k = t * kEach + i;
        Request r =
            request(1 + static_cast<int64_t>(rng() % 2), 0, static_cast<int>(rng() % 3), &freed);
        if (rng() % 4 == 0) r.timeout = std::chrono::microseconds(1 + rng() % 300);
        try {
          RequestId id = sched.submit("add", std::move(r), [&, k](Response&& resp) {
            ++calls[static_cast<std::size_t>(k)];
            if (resp.ok()) {
              ++ok;
              return;
            }
            try {
              std::rethrow_exception(resp.error);
            } catch (const RequestTimeoutError&) {
              ++timeout;
            } catch (const CancelledError&) {
              ++cancelled;
            } catch (const SchedulerClosedError&) {
              ++closed;
            } catch (...) {
              ++failed;
            }
          });
          ++accepted;
          if (rng() % 5 == 0) sched.cancel(id);
        } catch (const QueueFullError&) {
          ++full;
        } catch (const SchedulerClosedError&) {
          ++refused;
        }
      }
    });
  }
  sync.arrive_and_wait();
  while (accepted + full < kThreads * kEach / 2) std::this_thread::yield();
  sched.close(false);  // half way through: the rest is refused
  for (auto& t : ts) t.join();
  const int n = kThreads * kEach;
  int once = 0, never = 0;
  for (auto& c2 : calls) {
    once += c2 == 1;
    never += c2 == 0;
  }
  std::printf(
      "      exactly-once: %d submitted: %d ok, %d timed out, %d cancelled, %d closed, "
      "%d failed, %d queue full, %d refused after close\n",
      n, ok.load(), timeout.load(), cancelled.load(), closed.load(), failed.load(), full.load(),
      refused.load());
  CHECK(once == accepted);
  CHECK(never == full + refused);
  CHECK(ok + timeout + cancelled + closed + failed == accepted);
  CHECK(accepted + full + refused == n);
  CHECK(failed == 0);
  CHECK(freed == n);  // every request's keep_alive was released, accepted or not
  ModelStats st = sched.stats("add");
  CHECK(st.submitted == static_cast<uint64_t>(accepted.load()));
  CHECK(st.completed == static_cast<uint64_t>(ok.load()));
  CHECK(st.timed_out == static_cast<uint64_t>(timeout.load()));
  CHECK(st.cancelled == static_cast<uint64_t>(cancelled.load()));
  CHECK(st.closed == static_cast<uint64_t>(closed.load()));
  CHECK(st.rejected == static_cast<uint64_t>(full + refused));
  CHECK(st.queued == 0 && st.running == 0);
}

TEST_CASE("a failing request fails alone; its batch neighbours succeed") {
  SchedulerOptions so;
  so.threads = 1;
  Scheduler sched(so);
  ModelConfig c;
  c.max_batch_size = 8;
  c.max_queue_delay = 100ms;
  sched.add_model("gather", load(gather_model(), "gather"), c);
  Session alone = load(gather_model(), "gather");
  Gate gate;
  std::future<void> entered = gate.entered.get_future();
  sched.submit("gather", index_request({0}), gate.hold());
  entered.wait();
  std::vector<std::future<Response>> futs;
  for (int64_t i = 0; i < 6; ++i) {
    futs.push_back(sched.submit("gather", index_request({i, 9 - i})));
  }
  futs.push_back(sched.submit("gather", index_request({3, 42})));  // 42: out of range
  gate.release();
  for (int64_t i = 0; i < 6; ++i) {
    Response r = futs[static_cast<std::size_t>(i)].get();
    r.rethrow_if_error();
    const auto* y = static_cast<const float*>(r.outputs[0].data());
    CHECK(r.outputs[0].shape()[0] == 2 && y[0] == static_cast<float>(i) &&
          y[1] == 9.0f - static_cast<float>(i));
  }
  std::string want;
  try {
    std::vector<int64_t> idx = {3, 42}, shape = {2};
    alone.run({{"idx", TensorView{DType::kInt64, shape.data(), 1, idx.data()}}});
  } catch (const Error& e) {
    want = e.what();
  }
  CHECK(!want.empty());
  CHECK_THROWS(futs[6].get().rethrow_if_error(), Error, want);  // Session::run's own error
  ModelStats st = sched.stats("gather");
  CHECK(st.completed == 7 && st.failed == 1 && st.retried_batches == 1);
}

TEST_CASE("models that can't batch are refused with max_batch_size > 1") {
  Scheduler sched;
  ModelConfig c;
  c.max_batch_size = 4;
  CHECK_THROWS(sched.add_model("fixed", load(fixed_model(), "fixed"), c), InvalidArgumentError,
               "model 'fixed': max_batch_size=4 needs every input and output to be a numeric "
               "tensor with a free first (batch) dimension, but input 'x' has a fixed first "
               "dimension: [2, 4]; use max_batch_size=1 for this model");
  sched.add_model("fixed", load(fixed_model(), "fixed"));  // unbatched is fine
  c.preferred_batch_sizes = {8};
  CHECK_THROWS(sched.add_model("add", load(add_model(), "add"), c), InvalidArgumentError,
               "preferred batch sizes must be in 1..max_batch_size (4), got 8");
  CHECK_THROWS(sched.add_model("fixed", load(add_model(), "x")), InvalidArgumentError,
               "already added");
  CHECK_THROWS(sched.submit("nope", request(1, 0)), InvalidArgumentError,
               "unknown model 'nope' (models: 'fixed')");
}

TEST_CASE("submit checks feeds like Session::run; a full queue refuses at once") {
  SchedulerOptions so;
  so.threads = 1;
  Scheduler sched(so);
  ModelConfig c;
  c.max_queue_size = 2;
  sched.add_model("add", load(add_model(), "add"), c);
  Request bad = request(1, 0);
  std::vector<int64_t> shape3 = {1, 3};
  bad.inputs[0].tensor.shape = shape3.data();
  std::string want;
  try {
    std::vector<Value> results(1);
    const std::size_t outs[] = {0};
    load(add_model(), "add").run(bad.inputs, outs, results);
  } catch (const InvalidInputError& e) {
    want = e.what();
  }
  CHECK(!want.empty());
  CHECK_THROWS(sched.submit("add", std::move(bad)), InvalidInputError, want);
  Gate gate;
  std::future<void> entered = gate.entered.get_future();
  sched.submit("add", request(1, 0), gate.hold());
  entered.wait();
  auto a = sched.submit("add", request(1, 0));
  auto b = sched.submit("add", request(1, 0));
  CHECK_THROWS(sched.submit("add", request(1, 0)), QueueFullError,
               "model 'add': queue full (max_queue_size=2)");
  gate.release();
  a.get().rethrow_if_error();
  b.get().rethrow_if_error();
  CHECK(sched.stats("add").rejected == 1);
}

TEST_CASE("lifetimes: inputs released after the callback, outputs outlive the scheduler") {
  std::atomic<int> freed{0};
  std::vector<Response> kept;
  {
    SchedulerOptions so;
    so.threads = 1;
    Scheduler sched(so);
    ModelConfig c;
    c.max_batch_size = 4;
    c.max_queue_delay = 50ms;
    sched.add_model("add", load(add_model(), "add"), c);
    Gate gate;
    std::future<void> entered = gate.entered.get_future();
    sched.submit("add", request(1, 0, 0, &freed), gate.hold());
    entered.wait();
    std::vector<std::future<Response>> futs;
    for (int i = 0; i < 4; ++i)
      futs.push_back(sched.submit("add", request(1, 5.0f * static_cast<float>(i), 0, &freed)));
    gate.release();
    for (auto& f : futs) kept.push_back(f.get());
    sched.close(true);
    CHECK(freed == 5);
  }
  for (int i = 0; i < 4; ++i) {
    CHECK(kept[static_cast<std::size_t>(i)].outputs[0].is_slice());
    check_add(kept[static_cast<std::size_t>(i)].outputs[0], 1, 5.0f * static_cast<float>(i));
  }
}

TEST_CASE("threads: fixed at construction, not per model or replica") {
  SchedulerOptions so;
  so.threads = 2;
  Scheduler sched(so);
  CHECK(sched.threads() == 2);
  sched.add_model("m0", load(add_model(), "m0"));
  sched.submit("m0", request(1, 0)).get().rethrow_if_error();
  const int before = thread_count();
  for (int i = 1; i < 6; ++i) {
    ModelConfig c;
    c.replicas = 4;
    c.max_batch_size = 4;
    c.warmup = true;
    std::string name = "m";  // (not "m" + ...: GCC 12's -Wrestrict false positive at -O3)
    name += std::to_string(i);
    sched.add_model(name, load(add_model(), name), c);
    CHECK(sched.stats(name).warmup_runs == 4 * 2);  // 4 replica slots x sizes {1, 4}
    sched.submit(name, request(2, 0)).get().rethrow_if_error();
  }
  CHECK(thread_count() == before);
}

TEST_CASE("close from inside a callback does not deadlock") {
  SchedulerOptions so;
  so.threads = 1;
  Scheduler sched(so);
  sched.add_model("add", load(add_model(), "add"));
  std::promise<void> done;
  sched.submit("add", request(1, 0), [&](Response&&) {
    sched.close(true);
    done.set_value();
  });
  done.get_future().wait();
  CHECK(sched.closed());
}

TEST_CASE("metrics text: Triton-style families, one sample per model") {
  SchedulerOptions so;
  so.threads = 1;
  Scheduler sched(so);
  sched.add_model("a\"b", load(add_model(), "q"));
  sched.submit("a\"b", request(1, 0)).get().rethrow_if_error();
  const std::string text = sched.metrics_text();
  for (const char* want : {
           "# TYPE ortnative_inference_request_success counter\n",
           "ortnative_inference_request_success{model=\"a\\\"b\"} 1\n",
           "ortnative_inference_request_failure{model=\"a\\\"b\",reason=\"REJECTED\"} 0\n",
           "ortnative_inference_exec_count{model=\"a\\\"b\"} 1\n",
           "ortnative_inference_pending_request_count{model=\"a\\\"b\"} 0\n",
           "# TYPE ortnative_inference_queue_summary_us summary\n",
           "ortnative_inference_queue_summary_us_count{model=\"a\\\"b\"} 1\n",
           "ortnative_inference_batch_size_bucket{model=\"a\\\"b\",le=\"1\"} 1\n",
           "ortnative_inference_batch_size_bucket{model=\"a\\\"b\",le=\"+Inf\"} 1\n",
       }) {
    if (text.find(want) == std::string::npos) {
      throw ortnative::test::Failure("metrics text lacks: " + std::string(want) + "\n" + text);
    }
  }
  CHECK(sched.metrics_text("nv").find("nv_inference_count{") != std::string::npos);
}

int main() {
  return ortnative::test::run_all();
}
