// The native floor of the scheduler benchmarks: closed-loop client threads in C++, with no
// Python in the process, so that what the scheduler itself sustains is measured apart
// from what Python clients cost.
//
//   sched-floor MODEL --mode MODE --clients N --seconds S [--max-batch B] [--delay-us D]
//               [--replicas R] [--intra T] [--ort-library PATH]
//
// MODE:
//   session   N threads call ortnative::Session::run on one shared session
//   scheduler N threads call ortnative::Scheduler::run (model added with --max-batch,
//             --delay-us, --replicas)
// --intra: the session's intra-op threads (0 = the process-wide pool). Requests are
// batch-1 float32 inputs (free dimensions 1) filled with a ramp. Prints one JSON object:
// requests/s and per-request latency percentiles in nanoseconds.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ortnative/ortnative.hpp"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "sched-floor: %s\n", msg.c_str());
  std::exit(1);
}

struct Feeds {
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::vector<float>> data;
  std::vector<ortnative::InputView> views;
};

Feeds make_feeds(const ortnative::Session& s) {
  Feeds f;
  for (const ortnative::ValueInfo& info : s.inputs()) {
    if (info.kind != ortnative::ValueInfo::Kind::kTensor ||
        info.dtype != ortnative::DType::kFloat32) {
      die("input '" + info.name + "' is not a float32 tensor");
    }
    std::vector<int64_t> shape = info.shape;
    std::size_t n = 1;
    for (int64_t& d : shape) {
      if (d < 0) d = 1;
      n *= static_cast<std::size_t>(d);
    }
    std::vector<float> data(n);
    for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<float>(i % 17) / 17.0f;
    f.shapes.push_back(std::move(shape));
    f.data.push_back(std::move(data));
  }
  for (std::size_t i = 0; i < f.shapes.size(); ++i) {
    f.views.push_back(ortnative::InputView::of(ortnative::TensorView{
        ortnative::DType::kFloat32, f.shapes[i].data(), f.shapes[i].size(), f.data[i].data()}));
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, mode = "scheduler", library;
  int clients = 64, max_batch = 64, replicas = 2, intra = 1;
  long delay_us = 200;
  double seconds = 2.0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--mode") {
      mode = next();
    } else if (a == "--clients") {
      clients = std::stoi(next());
    } else if (a == "--seconds") {
      seconds = std::stod(next());
    } else if (a == "--max-batch") {
      max_batch = std::stoi(next());
    } else if (a == "--delay-us") {
      delay_us = std::stol(next());
    } else if (a == "--replicas") {
      replicas = std::stoi(next());
    } else if (a == "--intra") {
      intra = std::stoi(next());
    } else if (a == "--ort-library") {
      library = next();
    } else if (model.empty()) {
      model = a;
    } else {
      die("unexpected argument " + a);
    }
  }
  if (model.empty() || clients < 1) die("usage: sched-floor MODEL --mode MODE --clients N");
  try {
    if (!library.empty()) ortnative::load_runtime({library});
    ortnative::SessionOptions so;
    so.intra_op_threads = intra;
    so.name = "model";
    auto session = std::make_shared<ortnative::Session>(ortnative::Session::from_file(model, so));
    std::optional<ortnative::Scheduler> sched;
    if (mode == "scheduler") {
      sched.emplace();
      ortnative::ModelConfig c;
      c.max_batch_size = max_batch;
      c.max_queue_delay = std::chrono::microseconds(delay_us);
      c.replicas = replicas;
      c.warmup = true;
      sched->add_model("m", session, c);
    } else if (mode != "session") {
      die("unknown mode " + mode);
    }
    std::vector<std::size_t> outputs(session->outputs().size());
    for (std::size_t k = 0; k < outputs.size(); ++k) outputs[k] = k;

    std::vector<std::vector<int64_t>> lats(static_cast<std::size_t>(clients));
    std::barrier sync(clients + 1);
    std::atomic<int64_t> deadline{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&, t] {
        Feeds f = make_feeds(*session);
        std::vector<ortnative::Value> results(outputs.size());
        std::vector<int64_t>& mine = lats[static_cast<std::size_t>(t)];
        mine.reserve(1 << 16);
        sync.arrive_and_wait();
        const int64_t end = deadline.load();
        for (;;) {
          const auto t0 = Clock::now();
          if (t0.time_since_epoch().count() >= end) break;
          if (sched) {
            ortnative::Request r;
            r.inputs = f.views;
            sched->run("m", std::move(r)).rethrow_if_error();
          } else {
            session->run(f.views, outputs, results);
          }
          mine.push_back((Clock::now() - t0).count());
        }
      });
    }
    const auto start = Clock::now();
    deadline.store((start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(seconds)))
                       .time_since_epoch()
                       .count());
    sync.arrive_and_wait();
    for (auto& th : threads) th.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<int64_t> all;
    for (auto& v : lats) all.insert(all.end(), v.begin(), v.end());
    if (all.empty()) die("no request completed");
    std::sort(all.begin(), all.end());
    auto q = [&](double p) {
      return static_cast<double>(
          all[static_cast<std::size_t>(p * static_cast<double>(all.size() - 1))]);
    };
    double mean = 0;
    for (int64_t v : all) mean += static_cast<double>(v);
    mean /= static_cast<double>(all.size());
    double rows_per_batch = 1.0;
    if (sched) {
      const ortnative::ModelStats st = sched->stats("m");
      rows_per_batch =
          st.batches ? static_cast<double>(st.rows) / static_cast<double>(st.batches) : 0.0;
    }
    std::printf(
        "{\"mode\": \"%s\", \"clients\": %d, \"n\": %zu, \"throughput_rps\": %.1f, \"median_ns\": "
        "%.1f, \"p99_ns\": %.1f, \"p25_ns\": %.1f, \"p75_ns\": %.1f, \"mean_ns\": %.1f, "
        "\"rows_per_batch\": %.2f}\n",
        mode.c_str(), clients, all.size(), static_cast<double>(all.size()) / elapsed, q(0.5),
        q(0.99), q(0.25), q(0.75), mean, rows_per_batch);
  } catch (const std::exception& e) {
    die(e.what());
  }
  return 0;
}
