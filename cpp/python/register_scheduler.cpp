// Bindings for ortnative::Scheduler: feeds are converted and checked like Session.run's
// (session_bridge.hpp) and kept alive until the request ends; results complete a
// concurrent.futures.Future or an asyncio future from the scheduler's threads, or are
// returned to a run() caller. No scheduling logic lives here.
//
// The GIL:
//   - submit, cancel and stats hold it: they only take the scheduler's short lock, which
//     no scheduler thread ever holds while waiting for the GIL.
//   - the constructor, add_model (warm-up), close and the destructor release it: they
//     wait for scheduler threads, which need the GIL to finish their callbacks. run()
//     releases it while its request waits or runs.
//   - while the interpreter finalises (a Scheduler in a module global closed by its
//     __del__ or destructor during module teardown), only the finalising thread may
//     take the GIL: close and the destructor then wait for no scheduler thread (one
//     that needs the GIL would never come back, see gil.hpp); the threads end by
//     themselves, or park. No Scheduler starts during finalisation.
//   - each scheduler thread gets a Python thread state once, when it starts (so taking the
//     GIL later is cheap). Completing requests needs no GIL in the common cases: run()
//     requests only wake their waiting caller, who converts the outputs itself; submit()
//     requests store their outcome in their future's FutureState and wake whoever waits
//     in Future.result(), who converts it with the GIL it then holds. Only what needs
//     Python on the scheduler thread takes the GIL, once per batch (callback_context:
//     deliver_group): asyncio results (handed to their loop, one call_soon_threadsafe
//     per loop) and futures Python code is to be told about (done-callbacks,
//     concurrent.futures.wait/as_completed waiters).
//   - Python references a request held (its feeds) that end on a thread without the GIL
//     are released by the next thread that holds it (Deferred, in gil.hpp).

#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gil.hpp"
#include "messages.hpp"
#include "numpy_bridge.hpp"
#include "options.hpp"
#include "ortnative/ortnative.hpp"
#include "register.hpp"
#include "session_bridge.hpp"

namespace ortnative::py_bridge {

namespace {

std::atomic<long> g_live_slices{0};
constexpr const char* kSliceCapsule = "ortnative.BatchOutput";

// A scheduler thread's Python thread state, made once when the thread starts and kept
// (without the GIL) until it stops, so that each batch's PyGILState_Ensure is cheap.
thread_local PyGILState_STATE tl_gil_state;
thread_local PyThreadState* tl_saved = nullptr;

void thread_start() {
  if (finalizing()) return;
  tl_gil_state = take_gil([] { return PyGILState_Ensure(); });
  tl_saved = PyEval_SaveThread();
}

void thread_stop() {
  if (tl_saved == nullptr || finalizing()) return;
  take_gil([] { PyEval_RestoreThread(tl_saved); });
  tl_saved = nullptr;
  PyGILState_Release(tl_gil_state);
}

// asyncio completions of the group being delivered on this thread, by event loop: handed
// to each loop at the end of the group, in one call_soon_threadsafe (one wake-up of the
// loop per batch, not per request).
struct LoopBatch {
  py::object loop;
  py::object resolve;  // Python function(items) that resolves the futures, in the loop
  py::list items;      // (future, result or None, exception or None)
};

void call_soon(const py::object& loop, const py::object& fn, PyObject* arg) {
  PyObject* r = PyObject_CallMethod(loop.ptr(), "call_soon_threadsafe", "OO", fn.ptr(), arg);
  if (r == nullptr) {
    PyErr_Clear();  // the loop is closed: nobody awaits these any more
  } else {
    Py_DECREF(r);
  }
}

struct PyRequest;

// What one group's callbacks leave for Python: asyncio outcomes, and futures to settle
// (Python waits on them: callbacks or waiters). Filled without the GIL.
struct Stash {
  std::vector<std::pair<std::shared_ptr<PyRequest>, Response>> async;
  std::vector<PyObject*> settle;  // strong references
  bool empty() const { return async.empty() && settle.empty(); }
};
thread_local Stash* tl_stash = nullptr;

void finish_stash(Stash& stash);  // GIL held; below

// SchedulerOptions::callback_context: the callbacks run without the GIL (see the top of
// the file); what they leave for Python is done in one go afterwards. Also called on
// threads that hold the GIL already (cancel, close): Ensure nests. A worker of a
// scheduler still open while the interpreter finalises parks when it takes the GIL (see
// gil.hpp).
void deliver_group(const std::function<void()>& deliver) {
  Stash stash;
  Stash* outer = std::exchange(tl_stash, &stash);
  deliver();
  tl_stash = outer;
  if (stash.empty()) return;
  PyGILState_STATE st = take_gil([] { return PyGILState_Ensure(); });
  finish_stash(stash);
  PyGILState_Release(st);
}

void release_slice(PyObject* capsule) {
  delete static_cast<std::shared_ptr<const void>*>(PyCapsule_GetPointer(capsule, kSliceCapsule));
  g_live_slices.fetch_sub(1, std::memory_order_relaxed);
}

// The rows of a batch output one request owns, as an array sharing the batch's buffer.
PyObject* slice_to_python(PyObject* descr, RequestOutput&& o) {
  std::span<const int64_t> shape = o.shape();
  auto* dims = reinterpret_cast<npy_intp*>(const_cast<int64_t*>(shape.data()));
  const int rank = static_cast<int>(shape.size());
  Py_INCREF(descr);               // stolen
  if (o.slice_data == nullptr) {  // empty: nothing to share
    return PyArray_NewFromDescr(&PyArray_Type, reinterpret_cast<PyArray_Descr*>(descr), rank, dims,
                                nullptr, nullptr, 0, nullptr);
  }
  PyObject* arr = PyArray_NewFromDescr(&PyArray_Type, reinterpret_cast<PyArray_Descr*>(descr), rank,
                                       dims, nullptr, o.slice_data, NPY_ARRAY_CARRAY, nullptr);
  if (arr == nullptr) return nullptr;
  auto* owner = new std::shared_ptr<const void>(std::move(o.owner));
  PyObject* cap = PyCapsule_New(owner, kSliceCapsule, release_slice);
  if (cap == nullptr) {
    delete owner;
    Py_DECREF(arr);
    return nullptr;
  }
  g_live_slices.fetch_add(1, std::memory_order_relaxed);
  if (PyArray_SetBaseObject(reinterpret_cast<PyArrayObject*>(arr), cap) != 0) {
    Py_DECREF(arr);  // the capsule was stolen even on failure
    return nullptr;
  }
  return arr;
}

// The exception now set, as an object (clears it).
py::object take_error() {
#if PY_VERSION_HEX >= 0x030C0000
  return py::reinterpret_steal<py::object>(PyErr_GetRaisedException());
#else
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return py::reinterpret_steal<py::object>(value);
#endif
}

// A model's Python side. Shared by the PyScheduler and its requests: the last share may
// go on a scheduler thread (a scheduler dropped while requests ran), hence the deferral.
struct PyModel {
  std::string name;
  py::object session;  // the _core.Session: keeps the PySession (and its converter) alive
  const PySession* converter = nullptr;
  std::size_t n_in = 0;
  std::vector<py::object> out_names;  // interned
  std::vector<py::object> out_descr;  // NumPy dtype of numeric tensor outputs, else None

  PyModel() = default;
  PyModel(const PyModel&) = delete;
  PyModel& operator=(const PyModel&) = delete;
  ~PyModel() {
    defer_without_gil(session);
    for (py::object& o : out_names) defer_without_gil(o);
    for (py::object& o : out_descr) defer_without_gil(o);
  }
};

// A successful response as {output name: array} (GIL held); throws on a Python error.
py::dict to_dict(const PyModel& m, Response& resp) {
  py::dict d;
  for (std::size_t k = 0; k < resp.outputs.size(); ++k) {
    RequestOutput& o = resp.outputs[k];
    PyObject* arr = o.is_slice() ? slice_to_python(m.out_descr[k].ptr(), std::move(o))
                                 : to_python(std::move(o.value));
    if (arr == nullptr) throw py::error_already_set();
    const int rc = PyDict_SetItem(d.ptr(), m.out_names[k].ptr(), arr);
    Py_DECREF(arr);
    if (rc != 0) throw py::error_already_set();
  }
  return d;
}

// A response as (outputs dict, None) or (None, the exception it ended with) (GIL held).
std::pair<py::object, py::object> outcome_of(const PyModel& m, Response& resp) {
  try {
    if (!resp.ok()) std::rethrow_exception(resp.error);
    return {to_dict(m, resp), py::none()};
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (...) {
    py::detail::try_translate_exceptions();
  }
  return {py::none(), take_error()};
}

// The asyncio futures' resolver: called in their loop with [(future, value, error)].
struct FutureApi {
  py::object resolve_async;
};

// A submit() request's outcome, shared by the request (while it runs) and its Python
// future (its `_native`, a _core.FutureState): the scheduler thread completes it without
// the GIL and wakes whoever waits; Python takes the outcome when someone asks (result(),
// exception(), done()), converting it with the GIL it then holds. Once Python has asked to
// be notified (want_notify: a done-callback, a concurrent.futures waiter), the completion
// settles the future on the scheduler thread instead, under the GIL.
class FutureState {
 public:
  explicit FutureState(std::shared_ptr<const PyModel> model) : model_(std::move(model)) {}
  FutureState(const FutureState&) = delete;
  FutureState& operator=(const FutureState&) = delete;
  // The last share may go on a scheduler thread (the future was dropped before its
  // request ended): Python references are then deferred.
  ~FutureState() {
    if (notify_ != nullptr) defer_decref(notify_);  // never settled
    defer_without_gil(outcome_);
  }

  // Any thread, GIL or not: stores RESP and wakes waiters. Returns the future to settle
  // (a strong reference the caller now owns) if Python asked to be notified, else null.
  PyObject* complete(Response&& resp) {
    PyObject* notify = nullptr;
    {
      std::lock_guard<std::mutex> g(mu_);
      resp_ = std::move(resp);
      done_.store(1, std::memory_order_release);
      notify = std::exchange(notify_, nullptr);
      if (timed_waiters_ > 0) cv_.notify_all();
    }
    done_.notify_all();  // no system call unless someone sleeps in wait()
    return notify;
  }

  // GIL held: from now on a completion settles FUTURE (kept alive until then). Returns
  // whether it is done already (the caller settles it then).
  bool want_notify(py::handle future) {
    std::lock_guard<std::mutex> g(mu_);
    if (done()) return true;
    if (notify_ == nullptr) notify_ = py::reinterpret_borrow<py::object>(future).release().ptr();
    return false;
  }

  bool done() const { return done_.load(std::memory_order_acquire) != 0; }

  // GIL held: waits (GIL released) until done, at most TIMEOUT seconds (< 0: no limit).
  // Returns whether it is done. Without a limit the wait is std::atomic::wait, as the
  // core's Scheduler::run waits: it spins and yields briefly before it sleeps, and the
  // completion wakes a sleeper only (a request that takes tens of microseconds then
  // costs its caller no futex sleep and its completer no wake-up call, which on a
  // virtual machine each cost about as much as the MLP's whole run).
  bool wait(double timeout) {
    if (done()) return true;
    ReleaseGil release;
    if (timeout < 0) {
      done_.wait(0, std::memory_order_acquire);
      return true;
    }
    std::unique_lock<std::mutex> lk(mu_);
    ++timed_waiters_;
    cv_.wait_for(lk, std::chrono::duration<double>(timeout), [this] { return done(); });
    --timed_waiters_;
    return done();
  }

  // GIL held: wait(TIMEOUT), then outcome(); None if the time ran out.
  py::object wait_outcome(double timeout) { return wait(timeout) ? outcome() : py::none(); }

  // GIL held, once done: (outputs dict, None) or (None, exception); the same objects on
  // every call.
  py::object outcome() {
    drain_deferred();
    std::lock_guard<std::mutex> g(mu_);
    if (!outcome_) {
      auto [value, error] = outcome_of(*model_, resp_);
      resp_ = Response{};
      outcome_ = py::make_tuple(value, error);
    }
    return outcome_;
  }

 private:
  std::shared_ptr<const PyModel> model_;
  std::mutex mu_;
  std::condition_variable cv_;  // for waits with a time limit (timed_waiters_ of them)
  int timed_waiters_ = 0;
  // 0 or 1; an int, which futexes wait on directly (libstdc++ makes a std::atomic<bool>
  // wait on a counter shared with other addresses: every completion would wake them all).
  std::atomic<int> done_{0};
  Response resp_;
  PyObject* notify_ = nullptr;  // the future to settle on completion (strong)
  py::object outcome_;          // a (value, error) tuple once taken (made and freed with the GIL)
};

// One request's Python side: what its views point at, and (asyncio) its future and loop,
// or (submit) its FutureState. It shares its model and the future API, which outlive it
// even if the PyScheduler is destroyed while the request's batch is being delivered (the
// last reference dropped by a callback). Destroyed where the request ends, with or
// without the GIL: without it, its Python references are released later (Deferred).
struct PyRequest : std::enable_shared_from_this<PyRequest> {
  Refs refs;
  StringStore strings;
  std::vector<std::vector<TensorView>> seqs;
  py::object future;  // asyncio: the loop's future (released with the GIL: finish_stash)
  py::object loop;
  std::shared_ptr<FutureState> state;  // submit()
  std::shared_ptr<const PyModel> model;
  std::shared_ptr<const FutureApi> api;

  PyRequest() = default;
  PyRequest(const PyRequest&) = delete;
  PyRequest& operator=(const PyRequest&) = delete;
  ~PyRequest() {
    if (PyGILState_Check() == 0) refs.defer();
  }
};

// An asyncio request's outcome, queued for its loop (GIL held).
void complete_async(PyRequest& r, Response&& resp, std::vector<LoopBatch>& loops) {
  auto [value, error] = outcome_of(*r.model, resp);
  py::tuple item = py::make_tuple(r.future, value, error);
  for (LoopBatch& b : loops) {
    if (b.loop.is(r.loop) && b.resolve.is(r.api->resolve_async)) {
      b.items.append(item);
      return;
    }
  }
  loops.push_back(LoopBatch{r.loop, r.api->resolve_async, py::list()});
  loops.back().items.append(item);
}

void finish_stash(Stash& stash) {
  drain_deferred();
  std::vector<LoopBatch> loops;
  for (auto& [req, resp] : stash.async) complete_async(*req, std::move(resp), loops);
  stash.async.clear();  // the requests' Python references go here, with the GIL
  for (LoopBatch& b : loops) call_soon(b.loop, b.resolve, b.items.ptr());
  for (PyObject* fut : stash.settle) {
    PyObject* r = PyObject_CallMethod(fut, "_settle", nullptr);
    if (r == nullptr) {
      // A done-callback raised what concurrent.futures does not catch (SystemExit): as
      // in any thread but the main one, it ends the callback, not the program.
      PyErr_Clear();
    } else {
      Py_DECREF(r);
    }
    Py_DECREF(fut);
  }
  stash.settle.clear();
}

// A request ended, on a scheduler thread or the caller of cancel()/close(), with the GIL
// or without: submit() futures are completed natively; what needs Python goes to this
// group's Stash (or, outside a group, is done at once).
void complete(PyRequest& r, Response&& resp) {
  Stash alone;
  Stash* stash = tl_stash != nullptr ? tl_stash : &alone;
  if (r.state) {
    PyObject* fut = r.state->complete(std::move(resp));
    if (fut == nullptr) return;  // nobody asked to be told: result() converts it
    stash->settle.push_back(fut);
  } else {
    stash->async.emplace_back(r.shared_from_this(), std::move(resp));
  }
  if (stash == &alone) {
    PyGILState_STATE st = take_gil([] { return PyGILState_Ensure(); });
    finish_stash(alone);
    PyGILState_Release(st);
  }
}

py::dict latency(const LatencyStats& l) {
  py::dict d;
  d["p50"] = l.p50_us;
  d["p90"] = l.p90_us;
  d["p99"] = l.p99_us;
  d["count"] = l.count;
  d["sum"] = l.sum_us;
  return d;
}

class PyScheduler {
 public:
  PyScheduler(int threads, FutureApi api)
      : api_(std::make_shared<const FutureApi>(std::move(api))) {
    if (finalizing()) raise_py("scheduler_at_finalization");
    SchedulerOptions o;
    o.threads = threads;
    o.on_thread_start = thread_start;
    o.on_thread_stop = thread_stop;
    o.callback_context = deliver_group;
    // The threads start by taking the GIL (thread_start): let them.
    ReleaseGil release;
    core_.emplace(std::move(o));
  }

  ~PyScheduler() {
    // Closing waits for the threads, which need the GIL to finish their callbacks
    // (unless the interpreter is finalising: see the top of the file).
    if (finalizing()) core_->close(false, /*wait=*/false);
    ReleaseGil release;
    core_.reset();
  }

  PyScheduler(const PyScheduler&) = delete;
  PyScheduler& operator=(const PyScheduler&) = delete;

  void add_model(const std::string& name, py::object session, const ModelConfig& config) {
    const PySession& ps = py_session(session);
    std::shared_ptr<Session> core = core_session(ps);
    auto m = std::make_shared<PyModel>();
    m->name = name;
    m->converter = &ps;
    m->n_in = core->inputs().size();
    for (const ValueInfo& info : core->outputs()) {
      py::str n(info.name);
      PyUnicode_InternInPlace(&n.ptr());
      m->out_names.push_back(n);
      m->out_descr.push_back(info.kind == ValueInfo::Kind::kTensor &&
                                     dtype_itemsize(info.dtype) != 0 && dtype_supported(info.dtype)
                                 ? py::reinterpret_steal<py::object>(
                                       reinterpret_cast<PyObject*>(descr_for(info.dtype)))
                                 : py::none());
    }
    m->session = std::move(session);
    // Known to submit() from now on (the core says "being added" until add_model is
    // done), unless the name is taken: then the core refuses it below.
    py::str key(name);
    const bool taken = PyDict_Contains(index_.ptr(), key.ptr()) == 1;
    if (!taken) {
      index_[key] = py::int_(models_.size());
      models_.push_back(m);
    }
    try {
      // Warm-up runs the model; checks and errors need no Python.
      ReleaseGil release;
      core_->add_model(name, std::move(core), config);
    } catch (...) {
      if (!taken) PyDict_DelItem(index_.ptr(), key.ptr());  // models_ never shrinks
      throw;
    }
  }

  const std::shared_ptr<const PyModel>& model_of(py::handle name) const {
    PyObject* idx = PyDict_GetItemWithError(index_.ptr(), name.ptr());
    if (idx == nullptr) {
      if (PyErr_Occurred()) throw py::error_already_set();
      // Unknown here is unknown to the core, or being added (index_ knows every model
      // the core does): the core says which.
      core_->session(py::str(name).cast<std::string>());
      throw std::logic_error("scheduler bindings: model index out of step with the core");
    }
    return models_[PyLong_AsSize_t(idx)];
  }

  // Queues a request. LOOP None: FUTURE is a concurrent.futures.Future whose `_native`
  // becomes the request's FutureState; else FUTURE is an asyncio future of LOOP.
  RequestId submit(py::handle name, py::handle feeds, py::handle future, int priority,
                   int64_t timeout_us, py::handle loop) {
    drain_deferred();
    const std::shared_ptr<const PyModel>& model = model_of(name);
    const PyModel& m = *model;
    auto st = std::make_shared<PyRequest>();
    st->model = model;
    st->api = api_;
    Request req;
    req.inputs.resize(m.n_in);
    convert_feeds(*m.converter, feeds.ptr(), req.inputs, st->refs, st->strings, st->seqs);
    if (loop.is_none()) {
      st->state = std::make_shared<FutureState>(model);
      if (PyObject_SetAttrString(future.ptr(), "_native", py::cast(st->state).ptr()) != 0) {
        throw py::error_already_set();
      }
    } else {
      st->future = py::reinterpret_borrow<py::object>(future);
      st->loop = py::reinterpret_borrow<py::object>(loop);
    }
    req.priority = priority;
    if (timeout_us != 0) req.timeout = std::chrono::microseconds(timeout_us);
    PyRequest* raw = st.get();
    req.keep_alive = std::move(st);
    // The GIL stays held: submit takes the scheduler's lock only briefly, and any error
    // (which destroys the request, Python references included) is raised right here.
    return core_->submit(m.name, std::move(req),
                         [raw](Response&& resp) { complete(*raw, std::move(resp)); });
  }

  py::dict run(py::handle name, py::handle feeds, int priority, int64_t timeout_us) {
    const PyModel& m = *model_of(name);
    Refs refs;  // destroyed last, with the GIL held, after the request ended
    StringStore strings;
    std::vector<std::vector<TensorView>> seqs;
    Request req;
    req.inputs.resize(m.n_in);
    convert_feeds(*m.converter, feeds.ptr(), req.inputs, refs, strings, seqs);
    req.priority = priority;
    if (timeout_us != 0) req.timeout = std::chrono::microseconds(timeout_us);
    Response resp;
    {
      // Safe: REFS keeps every array the request reads alive until it has ended, and
      // Scheduler::run touches no Python object (its callback only wakes this thread).
      ReleaseGil release;
      resp = core_->run(m.name, std::move(req));
    }
    if (!resp.ok()) std::rethrow_exception(resp.error);
    return to_dict(m, resp);
  }

  bool cancel(RequestId id) { return core_->cancel(id); }

  void close(bool drain) {
    if (finalizing()) {  // see the top of the file
      core_->close(drain, /*wait=*/false);
      return;
    }
    ReleaseGil release;
    core_->close(drain);
  }

  bool closed() const { return core_->closed(); }
  int threads() const { return core_->threads(); }
  std::vector<std::string> models() const { return core_->models(); }

  py::dict stats(const std::string& name) const {
    ModelStats s = core_->stats(name);
    py::dict d;
    d["queued"] = s.queued;
    d["running"] = s.running;
    d["submitted"] = s.submitted;
    d["completed"] = s.completed;
    d["failed"] = s.failed;
    d["rejected"] = s.rejected;
    d["timed_out"] = s.timed_out;
    d["cancelled"] = s.cancelled;
    d["closed"] = s.closed;
    d["batches"] = s.batches;
    d["rows"] = s.rows;
    d["retried_batches"] = s.retried_batches;
    d["warmup_runs"] = s.warmup_runs;
    py::dict sizes;
    for (const auto& [rows, n] : s.batch_sizes) sizes[py::int_(rows)] = py::int_(n);
    d["batch_sizes"] = sizes;
    d["queue_us"] = latency(s.queue);
    d["compute_us"] = latency(s.compute);
    d["total_us"] = latency(s.total);
    return d;
  }

  std::string metrics_text(const std::string& prefix) const { return core_->metrics_text(prefix); }

 private:
  std::shared_ptr<const FutureApi> api_;
  std::vector<std::shared_ptr<const PyModel>> models_;  // never shrinks
  py::dict index_;                                      // name -> index into models_
  std::optional<Scheduler> core_;
};

}  // namespace

void register_scheduler(py::module_& m) {
  py::class_<FutureState, std::shared_ptr<FutureState>>(m, "FutureState")
      .def("done", &FutureState::done)
      .def("wait", &FutureState::wait, py::arg("timeout"))
      .def("want_notify", &FutureState::want_notify, py::arg("future"))
      .def("outcome", &FutureState::outcome)
      .def("wait_outcome", &FutureState::wait_outcome, py::arg("timeout"));
  py::class_<PyScheduler>(m, "Scheduler")
      .def(py::init([](int threads, py::object resolve_async) {
             return std::make_unique<PyScheduler>(threads, FutureApi{std::move(resolve_async)});
           }),
           py::arg("threads"), py::arg("resolve_async"))
      .def(
          "add_model",
          [](PyScheduler& self, const std::string& name, py::object session, py::handle config) {
            self.add_model(name, std::move(session), model_config(config));
          },
          py::arg("name"), py::arg("session"), py::arg("config"))
      .def("submit", &PyScheduler::submit, py::arg("name"), py::arg("feeds"), py::arg("future"),
           py::arg("priority"), py::arg("timeout_us"), py::arg("loop") = py::none())
      .def("run", &PyScheduler::run, py::arg("name"), py::arg("feeds"), py::arg("priority"),
           py::arg("timeout_us"))
      .def("cancel", &PyScheduler::cancel, py::arg("request_id"))
      .def("close", &PyScheduler::close, py::arg("drain"))
      .def_property_readonly("closed", &PyScheduler::closed)
      .def_property_readonly("threads", &PyScheduler::threads)
      .def("models", &PyScheduler::models)
      .def("stats", &PyScheduler::stats, py::arg("name"))
      .def("metrics_text", &PyScheduler::metrics_text, py::arg("prefix"));
  m.def(
      "_live_slices", [] { return g_live_slices.load(std::memory_order_relaxed); },
      "Arrays over shared batch outputs still alive (for lifetime tests).");
}

}  // namespace ortnative::py_bridge
