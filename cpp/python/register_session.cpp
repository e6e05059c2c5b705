// Bindings for ortnative::Session: converts feeds and out= arrays to core views,
// releases the GIL around the core, and wraps results as NumPy arrays over ORT's
// memory. Checks, output planning and messages are the core's (Session::plan_outputs,
// Session::run); errors about Python objects are worded by ortnative._messages.

#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "dlpack_bridge.hpp"
#include "gil.hpp"
#include "messages.hpp"
#include "numpy_bridge.hpp"
#include "options.hpp"
#include "ortnative/ortnative.hpp"
#include "ortnative/small_array.hpp"
#include "register.hpp"
#include "session_bridge.hpp"

namespace ortnative::py_bridge {

namespace {

using detail::SmallArray;

const char* kind_name(ValueInfo::Kind k) {
  switch (k) {
    case ValueInfo::Kind::kTensor: return "tensor";
    case ValueInfo::Kind::kSequence: return "sequence";
    case ValueInfo::Kind::kOptional: return "optional";
    case ValueInfo::Kind::kMap: return "map";
    case ValueInfo::Kind::kOther: break;
  }
  return "other";
}

std::string utf8(PyObject* s) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s, &n);
  if (p == nullptr) throw py::error_already_set();
  return std::string(p, static_cast<std::size_t>(n));
}

}  // namespace

class PySession {
 public:
  explicit PySession(Session s) : s_(std::make_shared<Session>(std::move(s))) {
    for (std::size_t i = 0; i < s_->inputs().size(); ++i) {
      py::str name(s_->inputs()[i].name);
      PyUnicode_InternInPlace(&name.ptr());
      in_index_[name] = py::int_(i);
      in_names_.push_back(name);
    }
    for (std::size_t i = 0; i < s_->outputs().size(); ++i) {
      py::str name(s_->outputs()[i].name);
      PyUnicode_InternInPlace(&name.ptr());
      out_index_[name] = py::int_(i);
      out_names_.push_back(name);
      all_outputs_.push_back(i);
      const ValueInfo& info = s_->outputs()[i];
      out_descr_.push_back(info.kind == ValueInfo::Kind::kTensor && dtype_itemsize(info.dtype) != 0
                               ? py::reinterpret_steal<py::object>(
                                     reinterpret_cast<PyObject*>(descr_for(info.dtype)))
                               : py::object());
    }
  }

  static PySession from_file(const std::string& path, const SessionOptions& o) {
    std::optional<Session> s;
    {
      // Model load and graph optimisation take long; other threads keep running.
      ReleaseGil release;
      s.emplace(Session::from_file(path, o));
    }
    return PySession(std::move(*s));
  }

  static PySession from_bytes(const py::buffer& data, const SessionOptions& o) {
    py::buffer_info info = data.request();  // holds the buffer until we return (contiguous:
                                            // checked by ortnative.session._source)
    const auto size = static_cast<std::size_t>(info.size * info.itemsize);
    std::optional<Session> s;
    {
      // Safe: INFO keeps the exporter's buffer alive and unmodifiable-by-us; we only
      // read it, and ORT copies what it needs before from_bytes returns.
      ReleaseGil release;
      s.emplace(Session::from_bytes(info.ptr, size, o));
    }
    return PySession(std::move(*s));
  }

  std::string name() const { return s_->name(); }
  bool closed() const { return s_->closed(); }

  void close() {
    ReleaseGil release;  // waits for runs in flight on other threads
    s_->close();
  }

  py::list inputs() const { return describe(s_->inputs()); }
  py::list outputs() const { return describe(s_->outputs()); }

  py::list describe(const std::vector<ValueInfo>& infos) const {
    py::list out;
    for (const ValueInfo& v : infos) {
      py::object dtype = py::none();
      if (dtype_supported(v.dtype)) {
        dtype = py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(descr_for(v.dtype)));
      }
      py::list shape;
      for (std::size_t d = 0; d < v.shape.size(); ++d) {
        if (v.shape[d] >= 0) {
          shape.append(py::int_(v.shape[d]));
        } else if (!v.dim_names[d].empty()) {
          shape.append(py::str(v.dim_names[d]));
        } else {
          shape.append(py::none());
        }
      }
      const char* kind = kind_name(v.kind);
      if (v.kind == ValueInfo::Kind::kOptional) {
        kind = v.contained == ValueInfo::Kind::kSequence ? "optional_sequence" : "optional";
      }
      out.append(py::make_tuple(v.name, dtype, py::tuple(shape), kind));
    }
    return out;
  }

  py::dict metadata() const {
    ModelMetadata md = s_->metadata();
    py::dict custom;
    for (const auto& [k, v] : md.custom) custom[py::str(k)] = py::str(v);
    py::dict out;
    out["producer_name"] = md.producer_name;
    out["graph_name"] = md.graph_name;
    out["domain"] = md.domain;
    out["description"] = md.description;
    out["graph_description"] = md.graph_description;
    out["version"] = md.version;
    out["custom"] = custom;
    return out;
  }

  py::object run(py::handle feeds, py::handle outputs, py::handle out,
                 py::handle run_options = py::none());

  std::string end_profiling() {
    ReleaseGil release;  // ORT writes the trace file
    return s_->end_profiling();
  }
  uint64_t profiling_start_time_ns() const { return s_->profiling_start_time_ns(); }

  // FEEDS (a dict, a list in input order, one array, or a mapping) as one view per model
  // input, in model order (kNone where left out); throws as run() does for unknown names,
  // unsupported dtypes and missing inputs. What the views point at is kept alive by REFS,
  // STRINGS and SEQS.
  void convert_feeds(PyObject* feeds, std::span<InputView> views, Refs& refs, StringStore& strings,
                     std::vector<std::vector<TensorView>>& seqs) const;
  const std::shared_ptr<Session>& core() const { return s_; }
  // How errors name the model (ortnative._messages.label; error paths only).
  std::string label() const { return py_text("label", s_->name()); }

 private:
  void fill(std::size_t i, PyObject* value, std::span<InputView> views, Refs& refs,
            StringStore& strings, std::vector<std::vector<TensorView>>& seqs) const;
  std::size_t input_of(PyObject* key) const;
  std::vector<std::string> input_names() const {
    std::vector<std::string> names;
    for (const ValueInfo& v : s_->inputs()) names.push_back(v.name);
    return names;
  }
  std::size_t output_of(PyObject* key) const;

  std::shared_ptr<Session> s_;  // shared with schedulers that run this session
  py::dict in_index_;
  py::dict out_index_;
  std::vector<py::str> in_names_;      // interned
  std::vector<py::str> out_names_;     // interned
  std::vector<py::object> out_descr_;  // NumPy dtype per numeric tensor output
  std::vector<std::size_t> all_outputs_;
};

std::size_t PySession::input_of(PyObject* key) const {
  // The name objects a caller's dict holds are usually the interned ones (string
  // literals): a pointer compare finds them without hashing.
  for (std::size_t i = 0; i < in_names_.size() && i < 8; ++i) {
    if (in_names_[i].ptr() == key) return i;
  }
  if (!PyUnicode_Check(key)) raise_py("name_not_str", label(), "feed", type_name(key));
  PyObject* idx = PyDict_GetItemWithError(in_index_.ptr(), key);
  if (idx == nullptr) {
    if (PyErr_Occurred()) throw py::error_already_set();
    return s_->input_index(utf8(key));  // throws: unknown input name
  }
  return PyLong_AsSize_t(idx);
}

std::size_t PySession::output_of(PyObject* key) const {
  for (std::size_t i = 0; i < out_names_.size() && i < 8; ++i) {
    if (out_names_[i].ptr() == key) return i;
  }
  if (!PyUnicode_Check(key)) raise_py("name_not_str", label(), "output", type_name(key));
  PyObject* idx = PyDict_GetItemWithError(out_index_.ptr(), key);
  if (idx == nullptr) {
    if (PyErr_Occurred()) throw py::error_already_set();
    return s_->output_index(utf8(key));  // throws: unknown output name
  }
  return PyLong_AsSize_t(idx);
}

void PySession::fill(std::size_t i, PyObject* value, std::span<InputView> views, Refs& refs,
                     StringStore& strings, std::vector<std::vector<TensorView>>& seqs) const {
  const ValueInfo& info = s_->inputs()[i];
  const bool optional = info.kind == ValueInfo::Kind::kOptional;
  const ValueInfo::Kind kind = optional ? info.contained : info.kind;
  if (value == Py_None && optional) {
    views[i] = InputView{};  // an optional left out
    return;
  }
  std::string given;
  if (kind == ValueInfo::Kind::kSequence && (PyList_Check(value) || PyTuple_Check(value))) {
    PyObject* fast = PySequence_Fast(value, "a sequence");
    if (fast == nullptr) throw py::error_already_set();
    refs.own(fast);
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    std::vector<TensorView>& elems = seqs.emplace_back(static_cast<std::size_t>(n));
    for (Py_ssize_t e = 0; e < n; ++e) {
      PyObject* item = PySequence_Fast_GET_ITEM(fast, e);
      TensorView& elem = elems[static_cast<std::size_t>(e)];
      if (offers_dlpack(item)) {
        dlpack_feed(item, DLPackUse{*s_, "input", info.name}, info.dtype, refs, strings, elem,
                    given);
      } else {
        to_tensor_view(item, info.dtype, refs, strings, elem, given);
      }
      if (elems[static_cast<std::size_t>(e)].dtype == DType::kUndefined) {
        s_->fail_input_dtype(i, given);
      }
    }
    views[i] = InputView::sequence(elems.data(), elems.size());
    return;
  }
  TensorView tv;
  if (offers_dlpack(value)) {  // torch, JAX, CuPy, ... (NumPy arrays take the next line)
    dlpack_feed(value, DLPackUse{*s_, "input", info.name}, info.dtype, refs, strings, tv, given);
  } else {
    to_tensor_view(value, info.dtype, refs, strings, tv, given);
  }
  if (tv.dtype == DType::kUndefined) s_->fail_input_dtype(i, given);
  views[i] = InputView::of(tv);
}

void PySession::convert_feeds(PyObject* f, std::span<InputView> views, Refs& refs,
                              StringStore& strings,
                              std::vector<std::vector<TensorView>>& seqs) const {
  const std::vector<ValueInfo>& infos = s_->inputs();
  const std::size_t n_in = infos.size();
  SmallArray<bool, 16> seen(n_in, false);
  if (PyDict_Check(f)) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(f, &pos, &key, &value)) {
      std::size_t i = input_of(key);
      seen[i] = true;
      fill(i, value, views, refs, strings, seqs);
    }
  } else if (PyArray_Check(f) || offers_dlpack(f)) {
    if (n_in != 1) raise_py("single_array", label(), input_names());
    seen[0] = true;
    fill(0, f, views, refs, strings, seqs);
  } else if (PyList_Check(f) || PyTuple_Check(f)) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(f);
    if (static_cast<std::size_t>(n) != n_in) raise_py("feeds_in_order", label(), n, input_names());
    for (std::size_t i = 0; i < n_in; ++i) {
      seen[i] = true;
      fill(i, PySequence_Fast_GET_ITEM(f, static_cast<Py_ssize_t>(i)), views, refs, strings, seqs);
    }
  } else if (PyMapping_Check(f) && !PyUnicode_Check(f) && !PyBytes_Check(f)) {
    PyObject* items = PyMapping_Items(f);
    if (items == nullptr) throw py::error_already_set();
    refs.own(items);
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(items); ++k) {
      PyObject* kv = PyList_GET_ITEM(items, k);
      std::size_t i = input_of(PyTuple_GET_ITEM(kv, 0));
      seen[i] = true;
      fill(i, PyTuple_GET_ITEM(kv, 1), views, refs, strings, seqs);
    }
  } else {
    raise_py("feeds_container", label(), type_name(f));
  }
  // Inputs not given stay kNone: the core reports them missing unless optional.
  for (std::size_t i = 0; i < n_in; ++i) {
    if (!seen[i] && infos[i].kind != ValueInfo::Kind::kOptional) {
      s_->check_input(i, InputView{});  // throws: missing input
    }
  }
}

py::object PySession::run(py::handle feeds, py::handle outputs, py::handle out,
                          py::handle run_options) {
  const std::size_t n_in = s_->inputs().size();
  Refs refs;  // destroyed last, with the GIL held
  StringStore strings;
  std::vector<std::vector<TensorView>> seqs;
  SmallArray<InputView, 16> views(n_in);
  convert_feeds(feeds.ptr(), {views.data(), n_in}, refs, strings, seqs);

  // Which outputs: names as indices (the core checks them further).
  PyObject* fast = nullptr;
  if (!outputs.is_none()) {
    PyObject* o = outputs.ptr();
    if (PyUnicode_Check(o) || !PySequence_Check(o))
      raise_py("outputs_not_list", label(), type_name(o));
    fast = PySequence_Fast(o, "outputs");
    if (fast == nullptr) throw py::error_already_set();
    refs.own(fast);
  }
  SmallArray<std::size_t, 16> chosen(fast ? static_cast<std::size_t>(PySequence_Fast_GET_SIZE(fast))
                                          : 0);
  std::span<const std::size_t> indices = all_outputs_;
  if (fast != nullptr) {
    for (std::size_t k = 0; k < chosen.size(); ++k) {
      chosen[k] = output_of(PySequence_Fast_GET_ITEM(fast, static_cast<Py_ssize_t>(k)));
    }
    indices = {chosen.data(), chosen.size()};
  }
  const std::size_t n_out = indices.size();

  // The caller's out= arrays, as the core's OutArrays (it checks and places them).
  PyObject* out_dict = out.is_none() ? nullptr : out.ptr();
  if (out_dict != nullptr && !PyDict_Check(out_dict)) {
    raise_py("out_not_dict", label(), type_name(out_dict));
  }
  const auto n_arrays = static_cast<std::size_t>(out_dict ? PyDict_GET_SIZE(out_dict) : 0);
  SmallArray<OutArray, 4> given(n_arrays);
  SmallArray<PyObject*, 4> given_obj(n_arrays, nullptr);  // borrowed; kept alive by REFS
  // NumPy's name of a dtype the core has none for, one per array (each OutArray's
  // given_dtype views its own: one shared string named the last array's dtype for all).
  SmallArray<std::string, 4> dtype_text(n_arrays);
  if (out_dict != nullptr) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    for (std::size_t j = 0; PyDict_Next(out_dict, &pos, &key, &value); ++j) {
      OutArray& o = given[j];
      o.output = output_of(key);
      if (!PyArray_Check(value)) {
        if (!offers_dlpack(value)) {
          raise_py("out_not_array", label(), s_->outputs()[o.output].name, type_name(value));
        }
        dlpack_out_array(value, *s_, refs, o, dtype_text[j]);  // torch, ...: written in place
        given_obj[j] = value;
        continue;
      }
      describe_out_array(reinterpret_cast<PyArrayObject*>(value), s_->outputs()[o.output].dtype, o,
                         dtype_text[j]);
      refs.keep(value);
      given_obj[j] = value;
    }
  }
  SmallArray<OutputBuffer, 16> buffers(n_out);
  SmallArray<PlannedShape, 16> shapes(n_out);
  const std::size_t planned =
      s_->plan_outputs({views.data(), n_in}, indices, {given.data(), given.size()},
                       {buffers.data(), n_out}, {shapes.data(), n_out});

  // The arrays the outputs go to: the caller's, and new ones for the outputs the core
  // planned (ORT writes them in place: cheaper than wrapping ORT's memory).
  SmallArray<PyObject*, 16> target(n_out, nullptr);  // borrowed; kept alive by REFS
  for (std::size_t j = 0; j < given.size(); ++j) {
    std::size_t k = 0;
    while (indices[k] != given[j].output) ++k;  // plan_outputs placed it: it is there
    target[k] = given_obj[j];
  }
  for (std::size_t k = 0; planned > 0 && k < n_out; ++k) {
    if (!buffers[k].planned) continue;
    PyObject* descr = out_descr_[indices[k]].ptr();
    Py_INCREF(descr);  // stolen
    PyObject* arr = PyArray_NewFromDescr(
        &PyArray_Type, reinterpret_cast<PyArray_Descr*>(descr), static_cast<int>(shapes[k].rank),
        reinterpret_cast<npy_intp*>(shapes[k].dims), nullptr, nullptr, 0, nullptr);
    if (arr == nullptr) throw py::error_already_set();
    refs.own(arr);
    target[k] = arr;
    auto* a = reinterpret_cast<PyArrayObject*>(arr);
    buffers[k].view = TensorView{s_->outputs()[indices[k]].dtype,
                                 reinterpret_cast<const int64_t*>(PyArray_DIMS(a)), shapes[k].rank,
                                 PyArray_DATA(a)};
  }

  // ortnative.RunOptions: its native counterpart, kept alive by REFS for the run.
  const RunOptions* ro = nullptr;
  if (!run_options.is_none()) {
    py::object impl = run_options_of(run_options);
    ro = impl.cast<const RunOptions*>();
    refs.own(impl.release().ptr());
  }
  SmallArray<Value, 4> results(n_out);
  {
    // Safe: every buffer the views point at is kept alive by REFS (or by the caller's
    // own objects referenced from REFS), and nothing below touches Python objects.
    ReleaseGil release;
    s_->run({views.data(), n_in}, indices, {results.data(), n_out}, {buffers.data(), n_out}, ro);
  }

  PyObject* dict = PyDict_New();
  if (dict == nullptr) throw py::error_already_set();
  py::object result = py::reinterpret_steal<py::object>(dict);
  for (std::size_t k = 0; k < n_out; ++k) {
    PyObject* arr = target[k];
    if (arr != nullptr && results[k].data() == buffers[k].view.data) {
      Py_INCREF(arr);  // ORT wrote into the caller's or our planned array
    } else {
      arr = to_python(std::move(results[k]));  // ORT's memory, shared without a copy
    }
    int rc = PyDict_SetItem(dict, out_names_[indices[k]].ptr(), arr);
    Py_DECREF(arr);
    if (rc != 0) throw py::error_already_set();
  }
  return result;
}

namespace {

// Session.run's per-call entry point, bypassing pybind11's argument dispatch (about a
// thousand instructions a call in callgrind): a METH_FASTCALL builtin whose self is a
// capsule holding the PySession and, as its context, a reference to the Python object
// that owns it. The Python Session installs it as the instance's `run`, so a call
// goes straight here. Signature: run(feeds, outputs=None, *, out=None, run_options=None).
PyObject* run_fastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  constexpr int kSlots = 4;
  PyObject* slots[kSlots] = {nullptr, Py_None, Py_None, Py_None};  // feeds, outputs, out, ro
  static const char* const kNames[kSlots] = {"feeds", "outputs", "out", "run_options"};
  // Keyword names arrive interned: compare pointers first (a string compare each costs
  // more than the rest of this function).
  static PyObject* const kInterned[kSlots] = {
      PyUnicode_InternFromString("feeds"), PyUnicode_InternFromString("outputs"),
      PyUnicode_InternFromString("out"), PyUnicode_InternFromString("run_options")};
  if (nargs > 2) {  // out and run_options are keyword-only, as in ortnative.Session.run
    PyErr_Format(PyExc_TypeError, "run() takes at most 2 positional arguments (%zd given)", nargs);
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) slots[i] = args[i];
  if (kwnames != nullptr) {
    const Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nk; ++k) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, k);
      int slot = -1;
      for (int j = 0; j < kSlots && slot < 0; ++j) {
        if (key == kInterned[j]) slot = j;
      }
      for (int j = 0; j < kSlots && slot < 0; ++j) {
        if (PyUnicode_CompareWithASCIIString(key, kNames[j]) == 0) slot = j;
      }
      if (slot < 0) {
        PyErr_Format(PyExc_TypeError, "run() got an unexpected keyword argument '%U'", key);
        return nullptr;
      }
      if (slot < nargs) {
        PyErr_Format(PyExc_TypeError, "run() got multiple values for argument '%s'", kNames[slot]);
        return nullptr;
      }
      slots[slot] = args[nargs + k];
    }
  }
  if (slots[0] == nullptr) {
    PyErr_SetString(PyExc_TypeError, "run() missing required argument 'feeds'");
    return nullptr;
  }
  auto* session = static_cast<PySession*>(PyCapsule_GetPointer(self, nullptr));
  if (session == nullptr) return nullptr;
  try {
    return session->run(slots[0], slots[1], slots[2], slots[3]).release().ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
}

PyMethodDef g_run_def = {
    "run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&run_fastcall)),
    METH_FASTCALL | METH_KEYWORDS,
    "run(feeds, outputs=None, *, out=None, run_options=None) -> dict[str, numpy.ndarray]\n\n"
    "Runs the model (see ortnative.Session.run)."};

void release_owner(PyObject* capsule) {
  Py_XDECREF(static_cast<PyObject*>(PyCapsule_GetContext(capsule)));
}

py::object bound_run(py::object owner) {
  auto* session = owner.cast<PySession*>();
  PyObject* cap = PyCapsule_New(session, nullptr, release_owner);
  if (cap == nullptr) throw py::error_already_set();
  if (PyCapsule_SetContext(cap, owner.inc_ref().ptr()) != 0) {
    owner.dec_ref();
    Py_DECREF(cap);
    throw py::error_already_set();
  }
  PyObject* fn = PyCFunction_New(&g_run_def, cap);
  Py_DECREF(cap);
  if (fn == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(fn);
}

}  // namespace

const PySession& py_session(py::handle obj) {
  return *obj.cast<PySession*>();
}

std::shared_ptr<Session> core_session(const PySession& session) {
  return session.core();
}

void convert_feeds(const PySession& session, PyObject* feeds, std::span<InputView> views,
                   Refs& refs, StringStore& strings, std::vector<std::vector<TensorView>>& seqs) {
  session.convert_feeds(feeds, views, refs, strings, seqs);
}

void register_session(py::module_& m) {
  py::class_<PySession>(m, "Session")
      .def_static(
          "from_file",
          [](const std::string& path, py::handle options, const std::string& name) {
            LoadRefs load;
            return PySession::from_file(path, session_options(options, name, load));
          },
          py::arg("path"), py::arg("options"), py::arg("name"))
      .def_static(
          "from_bytes",
          [](const py::buffer& data, py::handle options, const std::string& name) {
            LoadRefs load;
            return PySession::from_bytes(data, session_options(options, name, load));
          },
          py::arg("data"), py::arg("options"), py::arg("name"))
      .def_property_readonly("name", &PySession::name)
      .def_property_readonly("closed", &PySession::closed)
      .def_property_readonly("inputs", &PySession::inputs)
      .def_property_readonly("outputs", &PySession::outputs)
      .def("run", &PySession::run, py::arg("feeds"), py::arg("outputs") = py::none(),
           py::arg("out") = py::none(), py::arg("run_options") = py::none())
      .def("end_profiling", &PySession::end_profiling)
      .def("profiling_start_time_ns", &PySession::profiling_start_time_ns)
      .def("bound_run", &bound_run,
           "The run method as a fast builtin bound to this session (what Session.run calls).")
      .def("metadata", &PySession::metadata)
      .def("close", &PySession::close);
}

}  // namespace ortnative::py_bridge
