// Bindings: what other bindings (the scheduler's) use of a _core.Session, so that feeds
// are converted and checked by one piece of code. Defined in register_session.cpp.
// Every function here needs the GIL.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "numpy_bridge.hpp"
#include "ortnative/session.hpp"

namespace ortnative::py_bridge {

class PySession;

// The PySession inside OBJ, which must be a _core.Session (else a TypeError). Borrowed:
// valid while OBJ lives.
const PySession& py_session(py::handle obj);

// The core Session it runs, shared.
std::shared_ptr<Session> core_session(const PySession& session);

// FEEDS as Session.run takes them (a dict, a list in input order, one array), converted
// to one view per model input in model order, with Session.run's errors for unknown
// names, unsupported dtypes and missing inputs. REFS, STRINGS and SEQS keep alive what the
// views point at.
void convert_feeds(const PySession& session, PyObject* feeds, std::span<InputView> views,
                   Refs& refs, StringStore& strings, std::vector<std::vector<TensorView>>& seqs);

}  // namespace ortnative::py_bridge
