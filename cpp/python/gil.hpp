// Releasing the GIL for native work, safely at interpreter exit.
//
// On Python < 3.14 a thread that takes the GIL back while the interpreter finalises
// (a daemon thread still inside ortnative when the program ends, or a scheduler worker
// delivering results) is ended by CPython with pthread_exit. With glibc that is a forced
// unwind, and through a C++ destructor (noexcept by rule) it calls std::terminate: the
// process aborts at exit ("terminate called without an active exception"). Such a
// thread parks instead, for good, without the GIL: the process is ending, nothing waits
// for it, and that is what Python 3.14 itself does with these threads. Checking
// finalisation first is not enough (the thread may wait in take_gil while it starts), so
// the forced unwind itself is caught (with catch (...): binding abi::__forced_unwind& to
// it is undefined, UBSan says); the handler never returns, which is what the ABI
// requires of a handler that does not rethrow it.
#pragma once

#include <Python.h>

#include <chrono>
#include <thread>

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

// Calls FN, which takes the GIL (PyEval_RestoreThread, PyGILState_Ensure); parks the
// thread if CPython ends it there because the interpreter is finalising.
template <class Fn>
auto take_gil(Fn&& fn) {
  if (finalizing() && PyGILState_Check() == 0) park_forever();
  try {
    return fn();
  } catch (...) {  // only the forced unwind: FN calls C functions, which throw nothing
    park_forever();
  }
}

// py::gil_scoped_release, except that the thread parks rather than is ended by CPython
// when it takes the GIL back during finalisation.
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

}  // namespace ortnative::py_bridge
