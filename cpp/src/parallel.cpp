#include "parallel.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define ORTNATIVE_HAVE_GETPID 1
#endif

namespace ortnative::detail {

namespace {

// One parallel_for call: shared by the caller and the workers that help it.
struct Job {
  std::size_t n = 0;
  const std::function<void(std::size_t)>* fn = nullptr;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::condition_variable cv;
  std::size_t finished = 0;  // tasks done or skipped, guarded by mu
  std::exception_ptr error;  // the first, guarded by mu

  // Takes tasks until none are left. FN is only touched for tasks taken here, and the
  // caller waits until every task is finished, so FN outlives every use.
  void work() {
    std::size_t done = 0;
    for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) {
      if (!failed.load(std::memory_order_relaxed)) {
        try {
          (*fn)(i);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mu);
          if (!error) error = std::current_exception();
          failed.store(true, std::memory_order_relaxed);
        }
      }
      ++done;
    }
    if (done != 0) {
      std::lock_guard<std::mutex> lock(mu);
      finished += done;
      if (finished == n) cv.notify_all();
    }
  }
};

thread_local bool t_in_pool_task = false;

class Pool {
 public:
  void ensure_workers(std::size_t want) {
    std::lock_guard<std::mutex> lock(mu_);
    while (workers_ < want) {
      std::thread([this] { loop(); }).detach();
      ++workers_;
    }
  }

  void post(const std::shared_ptr<Job>& job, std::size_t copies) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (std::size_t i = 0; i < copies; ++i) queue_.push_back(job);
    }
    if (copies == 1) {
      cv_.notify_one();
    } else {
      cv_.notify_all();
    }
  }

 private:
  void loop() {
    t_in_pool_task = true;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job->work();  // a job already finished by others finds no task and returns
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::size_t workers_ = 0;
};

std::mutex g_pool_mu;
Pool* g_pool = nullptr;  // leaked on purpose: its threads are never joined
#ifdef ORTNATIVE_HAVE_GETPID
pid_t g_pool_pid = 0;
#endif

Pool& pool() {
  std::lock_guard<std::mutex> lock(g_pool_mu);
#ifdef ORTNATIVE_HAVE_GETPID
  if (g_pool != nullptr && g_pool_pid != getpid()) g_pool = nullptr;  // forked: start over
  g_pool_pid = getpid();
#endif
  if (g_pool == nullptr) g_pool = new Pool();
  return *g_pool;
}

}  // namespace

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  std::size_t helpers = threads > 1 ? static_cast<std::size_t>(threads - 1) : 0;
  if (helpers > n - 1) helpers = n - 1;
  if (helpers == 0 || t_in_pool_task) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  auto job = std::make_shared<Job>();
  job->n = n;
  job->fn = &fn;
  Pool& p = pool();
  p.ensure_workers(helpers);
  p.post(job, helpers);
  job->work();
  {
    std::unique_lock<std::mutex> lock(job->mu);
    job->cv.wait(lock, [&] { return job->finished == job->n; });
  }
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace ortnative::detail
