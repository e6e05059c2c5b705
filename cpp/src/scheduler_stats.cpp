// Scheduler statistics and their Prometheus text form. The fallback
// (python/ortnative/_fallback_stats.py) writes the same families, labels and order.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "scheduler_impl.hpp"

namespace ortnative {

namespace sched {

namespace {

// Linear interpolation between closest ranks (numpy.percentile's default).
double percentile(const std::vector<float>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return static_cast<double>(sorted[lo]) +
         (static_cast<double>(sorted[hi]) - static_cast<double>(sorted[lo])) * frac;
}

}  // namespace

LatencyStats Samples::summary() const {
  LatencyStats out;
  out.count = count_;
  out.sum_us = sum_;
  std::vector<float> v(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(
                                                          std::min<uint64_t>(count_, kWindow)));
  std::sort(v.begin(), v.end());
  out.p50_us = percentile(v, 0.50);
  out.p90_us = percentile(v, 0.90);
  out.p99_us = percentile(v, 0.99);
  return out;
}

}  // namespace sched

namespace {

// Counters copied under the lock; latencies summarised after it is released.
struct Snapshot {
  ModelStats stats;
  sched::Samples queue, compute, total;
};

Snapshot snapshot(const sched::Model& m) {
  Snapshot s;
  ModelStats& o = s.stats;
  o.name = m.name;
  o.queued = m.queued;
  o.running = m.running;
  o.submitted = m.submitted;
  o.completed = m.completed;
  o.failed = m.failed;
  o.rejected = m.rejected;
  o.timed_out = m.timed_out;
  o.cancelled = m.cancelled;
  o.closed = m.closed;
  o.batches = m.batches;
  o.rows = m.rows;
  o.retried_batches = m.retried_batches;
  o.warmup_runs = m.warmup_runs;
  o.batch_sizes.assign(m.batch_sizes.begin(), m.batch_sizes.end());
  s.queue = m.queue_us;
  s.compute = m.compute_us;
  s.total = m.total_us;
  return s;
}

ModelStats finish(Snapshot&& s) {
  s.stats.queue = s.queue.summary();
  s.stats.compute = s.compute.summary();
  s.stats.total = s.total.summary();
  return std::move(s.stats);
}

std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

ModelStats Scheduler::stats(std::string_view name) const {
  const sched::Model& m = impl_->model(name);
  Snapshot s;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    s = snapshot(m);
  }
  return finish(std::move(s));
}

std::string Scheduler::metrics_text(std::string_view prefix) const {
  std::vector<Snapshot> snaps;
  {
    std::shared_lock<std::shared_mutex> names(impl_->names_mu);
    std::lock_guard<std::mutex> g(impl_->mu);
    for (const auto& m : impl_->models) snaps.push_back(snapshot(*m));
  }
  std::vector<ModelStats> all;
  for (Snapshot& s : snaps) all.push_back(finish(std::move(s)));

  const std::string p(prefix);
  std::string out;
  auto family = [&](const std::string& name, const char* type, const char* help) {
    out += "# HELP " + p + name + " " + help + "\n# TYPE " + p + name + " " + type + "\n";
  };
  auto sample = [&](const std::string& name, const ModelStats& s, const std::string& extra,
                    const std::string& value) {
    out += p + name + "{model=\"" + escape_label(s.name) + "\"" + extra + "} " + value + "\n";
  };
  using U = uint64_t;
  auto counter = [&](const std::string& name, const char* help, U ModelStats::* field) {
    family(name, "counter", help);
    for (const ModelStats& s : all) sample(name, s, "", std::to_string(s.*field));
  };
  counter("_inference_request_success", "Number of successful inference requests",
          &ModelStats::completed);
  family("_inference_request_failure", "counter",
         "Number of failed inference requests, by reason: BACKEND (the run failed), REJECTED "
         "(queue full or scheduler closed at submit), TIMEOUT, CANCELED, CLOSED (closed "
         "without drain before they ran)");
  const std::pair<const char*, U ModelStats::*> reasons[] = {
      {"BACKEND", &ModelStats::failed},    {"REJECTED", &ModelStats::rejected},
      {"TIMEOUT", &ModelStats::timed_out}, {"CANCELED", &ModelStats::cancelled},
      {"CLOSED", &ModelStats::closed},
  };
  for (const ModelStats& s : all) {
    for (const auto& [reason, field] : reasons) {
      sample("_inference_request_failure", s, std::string(",reason=\"") + reason + "\"",
             std::to_string(s.*field));
    }
  }
  counter("_inference_count", "Number of inferences performed (rows, all batch sizes)",
          &ModelStats::rows);
  counter("_inference_exec_count", "Number of model executions performed (batches)",
          &ModelStats::batches);
  family("_inference_pending_request_count", "gauge",
         "Instantaneous number of pending requests awaiting execution");
  for (const ModelStats& s : all)
    sample("_inference_pending_request_count", s, "", std::to_string(s.queued));
  family("_inference_running_request_count", "gauge",
         "Instantaneous number of requests in batches being executed");
  for (const ModelStats& s : all)
    sample("_inference_running_request_count", s, "", std::to_string(s.running));

  auto duration = [&](const std::string& name, const char* help, LatencyStats ModelStats::* f) {
    family(name, "counter", help);
    for (const ModelStats& s : all) sample(name, s, "", num((s.*f).sum_us));
  };
  duration("_inference_request_duration_us",
           "Cumulative inference request duration in microseconds (submit to outputs ready)",
           &ModelStats::total);
  duration("_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds",
           &ModelStats::queue);
  duration("_inference_compute_infer_duration_us",
           "Cumulative compute inference duration in microseconds (batch assembly, run, split)",
           &ModelStats::compute);

  auto summary = [&](const std::string& name, const char* help, LatencyStats ModelStats::* f) {
    family(name, "summary", help);
    for (const ModelStats& s : all) {
      const LatencyStats& l = s.*f;
      sample(name, s, ",quantile=\"0.5\"", num(l.p50_us));
      sample(name, s, ",quantile=\"0.9\"", num(l.p90_us));
      sample(name, s, ",quantile=\"0.99\"", num(l.p99_us));
      out += p + name + "_sum{model=\"" + escape_label(s.name) + "\"} " + num(l.sum_us) + "\n";
      out += p + name + "_count{model=\"" + escape_label(s.name) + "\"} " +
             std::to_string(l.count) + "\n";
    }
  };
  summary("_inference_request_summary_us",
          "Inference request duration in microseconds, quantiles over recent requests",
          &ModelStats::total);
  summary("_inference_queue_summary_us",
          "Inference queuing duration in microseconds, quantiles over recent requests",
          &ModelStats::queue);
  summary("_inference_compute_infer_summary_us",
          "Compute inference duration in microseconds, quantiles over recent requests",
          &ModelStats::compute);

  const std::string hist = "_inference_batch_size";
  family(hist, "histogram", "Rows per model execution");
  for (const ModelStats& s : all) {
    const std::string label = "{model=\"" + escape_label(s.name) + "\"";
    U cumulative = 0;
    std::size_t next = 0;
    for (int64_t le = 1; le <= 1024; le *= 2) {
      while (next < s.batch_sizes.size() && s.batch_sizes[next].first <= le) {
        cumulative += s.batch_sizes[next++].second;
      }
      out += p + hist + "_bucket" + label + ",le=\"" + std::to_string(le) + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    out += p + hist + "_bucket" + label + ",le=\"+Inf\"} " + std::to_string(s.batches) + "\n";
    out += p + hist + "_sum" + label + "} " + std::to_string(s.rows) + "\n";
    out += p + hist + "_count" + label + "} " + std::to_string(s.batches) + "\n";
  }
  return out;
}

}  // namespace ortnative
