// Taking the GIL back from native code, safely at interpreter exit.
//
// Who may take the GIL while the interpreter finalises is CPython's decision, and this
// file leaves it to CPython: the thread that finalises (the main thread, normally: it
// runs atexit handlers, then module teardown, where a Scheduler kept in a module global
// is closed by its __del__) takes it as usual; any other thread is ended where it tries.
// On Python < 3.14, CPython ends such a thread with pthread_exit. With glibc that is a
// forced unwind, and through a C++ destructor (noexcept by rule) it calls
// std::terminate: the process would abort at exit ("terminate called without an active
// exception"). The forced unwind is caught here instead (with catch (...): binding
// abi::__forced_unwind& to it is undefined, UBSan says), and the thread parks, for
// good, without the GIL: the process is ending, nothing waits for it, and that is what
// Python 3.14 itself does with these threads. The handler never returns, which is what
// the ABI requires of a handler that does not rethrow a forced unwind.
//
// (An earlier version parked every thread that found the interpreter finalising, the
// finalising thread included: a program holding a Scheduler in a module global hung at
// exit in its __del__.)
//
// Nothing here may wait, during finalisation, for a thread that needs the GIL: it
// would be parked and never come. The scheduler bindings close without waiting then
// (register_scheduler.cpp).
#pragma once

#include <Python.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace ortnative::py_bridge {

inline bool finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// Never returns: for a thread that must not take the GIL because the interpreter is gone.
[[noreturn]] inline void park_forever() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(24));
}

// Calls FN, which takes the GIL (PyEval_RestoreThread, or PyGILState_Ensure on a thread
// that has a Python thread state); parks the thread if CPython ends it there because
// another thread is finalising the interpreter.
template <class Fn>
auto take_gil(Fn&& fn) {
  try {
    return fn();
  } catch (...) {  // only the forced unwind: FN calls C functions, which throw nothing
    park_forever();
  }
}

// py::gil_scoped_release, except that a thread that is not the finalising one parks
// rather than is ended by CPython when it takes the GIL back during finalisation.
class ReleaseGil {
 public:
  ReleaseGil() : state_(PyEval_SaveThread()) {}
  ~ReleaseGil() {
    take_gil([this] { PyEval_RestoreThread(state_); });
  }
  ReleaseGil(const ReleaseGil&) = delete;
  ReleaseGil& operator=(const ReleaseGil&) = delete;

 private:
  PyThreadState* state_;
};

// References whose owner ends on a thread without the GIL (a scheduler thread finishing
// a request whose future nobody holds any more): kept here, and released by the next
// thread that holds the GIL and drains them (every submit and every batch that takes the
// GIL for other reasons does). Cheap when empty: one atomic load.
class Deferred {
 public:
  void add(PyObject* obj) {
    std::lock_guard<std::mutex> g(mu_);
    objs_.push_back(obj);
    any_.store(true, std::memory_order_release);
  }
  // GIL held.
  void drain() {
    if (!any_.load(std::memory_order_acquire)) return;
    std::vector<PyObject*> objs;
    {
      std::lock_guard<std::mutex> g(mu_);
      objs.swap(objs_);
      any_.store(false, std::memory_order_release);
    }
    for (PyObject* o : objs) Py_DECREF(o);
  }

 private:
  std::mutex mu_;
  std::vector<PyObject*> objs_;
  std::atomic<bool> any_{false};
};

inline Deferred& deferred() {
  static Deferred* d = new Deferred();  // leaked on purpose: used until exit
  return *d;
}
// Without the GIL: OBJ's reference is released later, by a thread that holds it.
inline void defer_decref(PyObject* obj) {
  deferred().add(obj);
}
// GIL held: releases the references deferred so far.
inline void drain_deferred() {
  deferred().drain();
}
// For destructors that may run on either side of the GIL: without it, OBJ's reference is
// deferred (and OBJ emptied); with it, left for OBJ's own destructor.
template <class Obj>
inline void defer_without_gil(Obj& obj) {
  if (obj.ptr() != nullptr && PyGILState_Check() == 0) defer_decref(obj.release().ptr());
}

}  // namespace ortnative::py_bridge
