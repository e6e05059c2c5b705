// Session, part 2: running. The checks on feeds and out= buffers, output planning, the ORT
// values over caller memory (and their cache), OrtApi::Run and what happens when a run
// fails because of a buffer. Loading is session_load.cpp.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>

#include "ortnative/small_array.hpp"
#include "ortnative/utf8.hpp"
#include "session_impl.hpp"

namespace ortnative {

using detail::CachedTensor;
using detail::loaded_api;
using detail::SmallArray;

namespace {

constexpr const char* kInput = "input";
constexpr const char* kOutArray = "out array for output";

// The element buffer ORT gets for T: T's, or a static byte for an empty tensor (ORT wants
// a non-null pointer).
void* tensor_data(const TensorView& t) {
  static char kEmpty[16] = {};
  return t.byte_size() > 0 ? t.data : static_cast<void*>(kEmpty);
}

// Wraps T's buffer as an ORT tensor (zero-copy), or copies T's strings into one. The
// caller owns the result. (Messages are built only on failure: this is the per-call path.)
OrtValue* make_tensor(const Session::Impl& s, const TensorView& t) {
  const OrtApi& a = loaded_api();
  OrtValue* v = nullptr;
  static const int64_t kNoDims[1] = {0};
  const int64_t* shape = t.shape != nullptr ? t.shape : kNoDims;
  const auto type = static_cast<ONNXTensorElementDataType>(t.dtype);
  if (t.dtype == DType::kString) {
    if (OrtStatus* st =
            a.CreateTensorAsOrtValue(detail::default_allocator(), shape, t.rank, type, &v)) {
      detail::throw_status(st, ErrorCode::kOrt, s.label + ": creating a string tensor");
    }
    const auto* strings = static_cast<const std::string_view*>(t.data);
    const std::size_t n = t.element_count();
    for (std::size_t i = 0; i < n; ++i) {
      char* buf = nullptr;
      OrtStatus* st = a.GetResizedStringTensorElementBuffer(v, i, strings[i].size(), &buf);
      if (st != nullptr) {
        a.ReleaseValue(v);
        detail::throw_status(st, ErrorCode::kOrt, s.label + ": filling a string tensor");
      }
      if (!strings[i].empty()) std::memcpy(buf, strings[i].data(), strings[i].size());
    }
    return v;
  }
  if (OrtStatus* st =
          a.CreateTensorWithDataAsOrtValue(detail::memory_info_for(t.device), tensor_data(t),
                                           t.byte_size(), shape, t.rank, type, &v)) {
    detail::throw_status(st, ErrorCode::kOrt, s.label + ": wrapping a buffer as a tensor");
  }
  return v;
}

// The ORT values of one run, however it ends: each either goes back to its cache slot
// (a value over caller memory the next call may reuse) or is released.
struct RunValues {
  detail::TensorCache& cache;
  SmallArray<OrtValue*, 16> values;      // what ORT gets
  SmallArray<CachedTensor*, 16> cached;  // the cache entry values[k] came from, if any
  SmallArray<std::size_t, 16> slot;

  RunValues(detail::TensorCache& c, std::size_t n)
      : cache(c), values(n, nullptr), cached(n, nullptr), slot(n, 0) {}
  RunValues(const RunValues&) = delete;
  RunValues& operator=(const RunValues&) = delete;
  ~RunValues() {
    for (std::size_t k = 0; k < values.size(); ++k) drop(k, /*keep=*/true);
  }

  // values[k] for T's memory, cache slot CACHE_SLOT: the cached value if it describes
  // that memory (returns true), else a new one (cached when this run is done).
  bool wrap(const Session::Impl& s, std::size_t k, std::size_t cache_slot, const TensorView& t) {
    slot[k] = cache_slot;
    void* data = tensor_data(t);
    if (t.dtype != DType::kString && t.rank <= CachedTensor::kMaxRank) {
      cached[k] = cache.take(cache_slot, t, data);
      const bool hit = cached[k] != nullptr;
      if (!hit) cached[k] = detail::TensorCache::make(make_tensor(s, t), t, data);
      values[k] = cached[k]->value;
      return hit;
    }
    values[k] = make_tensor(s, t);
    return false;
  }
  // The cached value for T's memory in CACHE_SLOT, if there is one (then values[k] is
  // it); else false and nothing changes.
  bool reuse(std::size_t k, std::size_t cache_slot, const TensorView& t) noexcept {
    if (t.dtype == DType::kString || t.rank > CachedTensor::kMaxRank) return false;
    CachedTensor* c = cache.take(cache_slot, t, tensor_data(t));
    if (c == nullptr) return false;
    slot[k] = cache_slot;
    cached[k] = c;
    values[k] = c->value;
    return true;
  }
  // Lets ORT allocate output k in a retry: values[k] becomes null, the wrapper is kept
  // for the cache (or released).
  void unwrap(std::size_t k) noexcept {
    if (cached[k] == nullptr && values[k] != nullptr) loaded_api().ReleaseValue(values[k]);
    values[k] = nullptr;
  }
  // Hands values[k] to the caller (who must release it): an output ORT allocated, or a
  // wrapper that may now describe another shape (forgotten by the cache).
  OrtValue* take(std::size_t k) noexcept {
    if (cached[k] != nullptr && cached[k]->value == values[k]) {
      cached[k]->value = nullptr;
      detail::TensorCache::destroy(std::exchange(cached[k], nullptr));
    }
    return std::exchange(values[k], nullptr);
  }
  // Lets go of slot K: the cache entry goes back to the cache (KEEP) or is destroyed;
  // any other value is released.
  void drop(std::size_t k, bool keep) noexcept {
    if (values[k] != nullptr && (cached[k] == nullptr || values[k] != cached[k]->value)) {
      loaded_api().ReleaseValue(values[k]);
    }
    values[k] = nullptr;
    if (CachedTensor* c = std::exchange(cached[k], nullptr)) {
      if (keep) {
        cache.give(slot[k], c);
      } else {
        detail::TensorCache::destroy(c);
      }
    }
  }
};

void check_device(const Session::Impl& s, const ValueInfo& info, const Device& d,
                  const char* role) {
  if (d.host()) return;
  if (!d.cuda()) s.fail(ErrorCode::kInvalidInput, msg::device_unsupported(role, info, d));
  if (!s.cuda) s.fail(ErrorCode::kInvalidInput, msg::device_needs_cuda(role, info, d));
}

void check_tensor(const Session::Impl& s, const ValueInfo& info, const TensorView& t,
                  const char* role) {
  check_device(s, info, t.device, role);
  if (t.dtype != info.dtype) {
    s.fail(ErrorCode::kInvalidType, msg::dtype_mismatch(role, info, dtype_name(t.dtype)));
  }
  if (info.shape.empty()) return;  // unknown rank (ORT reports it like a scalar)
  std::span<const int64_t> got(t.shape, t.rank);
  if (t.rank != info.shape.size()) {
    s.fail(ErrorCode::kInvalidInput, msg::rank_mismatch(role, info, got));
  }
  for (std::size_t d = 0; d < t.rank; ++d) {
    if (info.shape[d] >= 0 && t.shape[d] != info.shape[d]) {
      s.fail(ErrorCode::kInvalidInput, msg::dim_mismatch(role, info, got, d));
    }
  }
}

[[noreturn]] void fail_run(const Session::Impl& s, OrtStatus* st, std::span<const InputView> feeds,
                           const RunOptions* run_options) {
  const OrtApi& a = loaded_api();
  int ort_code = static_cast<int>(a.GetErrorCode(st));
  std::string text = a.GetErrorMessage(st);
  a.ReleaseStatus(st);
  if (run_options != nullptr && run_options->terminated()) {
    // ORT's own text ("Exiting due to terminate flag being set to true.") says less.
    throw RunTerminatedError(s.label + ": " + msg::run_terminated(), ort_code);
  }
  if (!detail::valid_utf8(text)) {
    text = detail::kInvalidText;
    ort_code = ORT_FAIL;  // the Python backend cannot know ORT's code either
  }
  throw_error(ort_code == ORT_INVALID_ARGUMENT ? ErrorCode::kInvalidInput : ErrorCode::kOrt,
              s.label + ": " + msg::run_failed(text, s.inputs, feeds), ort_code);
}

}  // namespace

// -- the value cache ---------------------------------------------------------------------

namespace detail {

CachedTensor* TensorCache::take(std::size_t slot, const TensorView& t, void* data) noexcept {
  if (slot >= n_) return nullptr;
  CachedTensor* c = slots_[slot].entry.exchange(nullptr, std::memory_order_acquire);
  if (c == nullptr || c->matches(t, data)) return c;
  destroy(c);  // other memory: this run makes its own
  return nullptr;
}

void TensorCache::give(std::size_t slot, CachedTensor* c) noexcept {
  if (slot >= n_) {
    destroy(c);
    return;
  }
  destroy(slots_[slot].entry.exchange(c, std::memory_order_acq_rel));
}

void TensorCache::clear() noexcept {
  for (std::size_t i = 0; i < n_; ++i) destroy(slots_[i].entry.exchange(nullptr));
}

CachedTensor* TensorCache::make(OrtValue* v, const TensorView& t, void* data) {
  auto* c = new CachedTensor;
  c->value = v;
  c->data = data;
  c->dtype = t.dtype;
  c->rank = t.rank;
  c->device = t.device;
  for (std::size_t d = 0; d < t.rank; ++d) c->dims[d] = t.shape[d];
  return c;
}

void TensorCache::destroy(CachedTensor* c) noexcept {
  if (c == nullptr) return;
  if (c->value != nullptr) loaded_api().ReleaseValue(c->value);
  delete c;
}

}  // namespace detail

// -- checks and planning -----------------------------------------------------------------

bool Session::planned_output_shape(std::size_t output, std::span<const InputView> inputs,
                                   int64_t* dims) const {
  const Impl& s = *impl_;
  if (output >= s.plans.size() || s.plans[output].empty() ||
      s.plan_broken[output].load(std::memory_order_relaxed)) {
    return false;
  }
  const std::vector<int64_t>& rule = s.plans[output];
  for (std::size_t d = 0; d < rule.size(); ++d) {
    if (rule[d] >= 0) {
      dims[d] = rule[d];
      continue;
    }
    const auto code = static_cast<std::size_t>(-1 - rule[d]);
    const std::size_t i = code / Impl::kMaxRank, j = code % Impl::kMaxRank;
    if (i >= inputs.size() || inputs[i].kind != InputView::Kind::kTensor ||
        inputs[i].tensor.rank <= j) {
      return false;
    }
    dims[d] = inputs[i].tensor.shape[j];
  }
  return true;
}

void Session::check_input(std::size_t index, const InputView& view) const {
  const Impl& s = *impl_;
  const ValueInfo& info = s.inputs.at(index);
  using K = ValueInfo::Kind;
  const K want = info.kind == K::kOptional ? info.contained : info.kind;
  switch (view.kind) {
    case InputView::Kind::kNone:
      if (info.kind != K::kOptional) {
        s.fail(ErrorCode::kInvalidInput, msg::missing_input(info, s.inputs));
      }
      return;
    case InputView::Kind::kTensor:
      if (want != K::kTensor) s.fail(ErrorCode::kInvalidInput, msg::not_a_tensor_input(info));
      check_tensor(s, info, view.tensor, kInput);
      return;
    case InputView::Kind::kSequence:
      if (want != K::kSequence) {
        s.fail(ErrorCode::kInvalidInput, msg::not_a_sequence_input(info, view.count));
      }
      for (std::size_t e = 0; e < view.count; ++e) {
        // Sequences are built in host memory (OrtApi::CreateValue copies the elements).
        if (!view.elements[e].device.host()) {
          s.fail(ErrorCode::kInvalidInput,
                 msg::device_unsupported("element of input", info, view.elements[e].device));
        }
        if (view.elements[e].dtype != info.dtype) {
          s.fail(ErrorCode::kInvalidType,
                 msg::dtype_mismatch("element of input", info, dtype_name(view.elements[e].dtype)));
        }
      }
      return;
  }
}

void Session::check_output_buffer(std::size_t output_index, const TensorView& view) const {
  const Impl& s = *impl_;
  const ValueInfo& info = s.outputs.at(output_index);
  if (info.kind != ValueInfo::Kind::kTensor || info.dtype == DType::kString) {
    s.fail(ErrorCode::kInvalidInput, msg::out_kind(info));
  }
  check_tensor(s, info, view, kOutArray);
}

void Session::fail_input_dtype(std::size_t index, std::string_view given) const {
  impl_->fail(ErrorCode::kInvalidType, msg::dtype_mismatch(kInput, impl_->inputs.at(index), given));
}

void Session::fail_output_dtype(std::size_t output_index, std::string_view given) const {
  impl_->fail(ErrorCode::kInvalidType,
              msg::dtype_mismatch(kOutArray, impl_->outputs.at(output_index), given));
}

void Session::fail(ErrorCode code, const std::string& what) const {
  impl_->fail(code, what);
}

std::size_t Session::plan_outputs(std::span<const InputView> inputs,
                                  std::span<const std::size_t> outputs,
                                  std::span<const OutArray> out, std::span<OutputBuffer> buffers,
                                  std::span<PlannedShape> shapes) const {
  const Impl& s = *impl_;
  const std::size_t n_out = outputs.size();
  for (const OutArray& o : out) {
    const ValueInfo& info = s.outputs.at(o.output);
    std::size_t k = 0;
    while (k < n_out && outputs[k] != o.output) ++k;
    if (k == n_out) s.fail(ErrorCode::kInvalidInput, msg::out_not_requested(info));
    if (o.view.dtype == DType::kUndefined) fail_output_dtype(o.output, o.given_dtype);
    if (!o.contiguous || !o.aligned || !o.writeable) {
      s.fail(ErrorCode::kInvalidInput, msg::out_layout(info, o.contiguous, o.aligned, o.writeable));
    }
    buffers[k].view = o.view;
    buffers[k].planned = false;
  }
  std::size_t planned = 0;
  for (std::size_t k = 0; k < n_out; ++k) {
    shapes[k].rank = 0;
    // Outputs kept on a device are ORT's to allocate there (the caller's buffers are host).
    if (buffers[k].view.data != nullptr || !s.output_device.host()) continue;
    const std::size_t idx = outputs[k];
    if (idx >= s.outputs.size()) continue;  // run() reports it
    const std::size_t rank = s.outputs[idx].shape.size();
    if (rank == 0 || rank > PlannedShape::kMaxRank ||
        !planned_output_shape(idx, inputs, shapes[k].dims)) {
      continue;
    }
    bool empty = false;
    for (std::size_t d = 0; d < rank; ++d) empty = empty || shapes[k].dims[d] <= 0;
    if (empty) continue;
    shapes[k].rank = rank;
    buffers[k].planned = true;
    ++planned;
  }
  return planned;
}

// -- run ---------------------------------------------------------------------------------

namespace {

// A caller's out= buffer against the shape the model will produce, when known; returns
// whether it could check (false: only ORT's run will tell).
bool check_planned_shape(const Session& self, const Session::Impl& s, std::size_t output,
                         std::span<const InputView> inputs, const TensorView& t) {
  const std::size_t rank = s.outputs[output].shape.size();
  if (rank == 0 || rank != t.rank || rank > PlannedShape::kMaxRank) return false;
  int64_t dims[PlannedShape::kMaxRank];
  if (!self.planned_output_shape(output, inputs, dims)) return false;
  for (std::size_t d = 0; d < rank; ++d) {
    if (dims[d] != t.shape[d]) {
      s.fail(ErrorCode::kInvalidInput,
             msg::out_shape_produced(s.outputs[output], {t.shape, t.rank}, {dims, rank}));
    }
  }
  return true;
}

// The arguments of one OrtApi::Run besides the outputs.
struct RunCall {
  const char* const* names;
  OrtValue* const* in_values;
  std::size_t n_given;
  const char* const* out_names;
  const OrtRunOptions* run_options;
};

// After OrtApi::Run failed with ST while some outputs went to buffers: was it the
// buffers' fault? Runs have no side effects, so find out by running again (only ever on
// this error path). Returns null when a retry succeeded (OUT then holds its outputs and
// IN_BUFFER says which still went to buffers), else the status to report; throws
// InvalidInputError when a caller's out= array has another shape than the model makes.
OrtStatus* retry_without_buffers(const Session::Impl& s, OrtStatus* st, const RunCall& call,
                                 std::span<const std::size_t> outputs,
                                 std::span<const OutputBuffer> buffers, RunValues& out,
                                 bool* in_buffer) {
  const OrtApi& a = loaded_api();
  OrtValue** out_values = out.values.data();
  const std::size_t n_out = outputs.size();
  auto rerun_without = [&](bool planned, bool firm) {
    for (std::size_t k = 0; k < n_out; ++k) {
      if (in_buffer[k] && ((buffers[k].planned && planned) || (!buffers[k].planned && firm))) {
        out.unwrap(k);  // ORT allocates this output now
        in_buffer[k] = false;
      }
    }
    return a.Run(s.session, call.run_options, call.names, call.in_values, call.n_given,
                 call.out_names, n_out, out_values);
  };
  // 1. A planned buffer may be wrong (the model declared a shape it does not make): run
  //    with ORT allocating those outputs. Only if that succeeds were the plans at fault;
  //    then stop planning them.
  bool any_planned = false;
  for (std::size_t k = 0; k < n_out; ++k)
    any_planned = any_planned || (in_buffer[k] && buffers[k].planned);
  if (any_planned) {
    SmallArray<bool, 16> was(n_out, false);
    for (std::size_t k = 0; k < n_out; ++k) was[k] = in_buffer[k] && buffers[k].planned;
    OrtStatus* again = rerun_without(true, false);
    if (again == nullptr) {
      a.ReleaseStatus(st);
      for (std::size_t k = 0; k < n_out; ++k) {
        if (was[k]) s.plan_broken[outputs[k]].store(true, std::memory_order_relaxed);
      }
      return nullptr;
    }
    a.ReleaseStatus(again);
  }
  // 2. A caller's out= array ORT would not take (a shape the metadata could not check):
  //    run with ORT allocating everything and, if that works, say which array and what
  //    shape the model produces, as the python backend does.
  bool any_firm = false;
  for (std::size_t k = 0; k < n_out; ++k) any_firm = any_firm || in_buffer[k];
  if (!any_firm) return st;
  SmallArray<bool, 16> firm(n_out, false);
  for (std::size_t k = 0; k < n_out; ++k) firm[k] = in_buffer[k] && !buffers[k].planned;
  OrtStatus* again = rerun_without(true, true);
  if (again != nullptr) {
    a.ReleaseStatus(st);
    return again;  // not the buffers' fault: report what ORT says about the feeds
  }
  for (std::size_t k = 0; k < n_out; ++k) {
    Value got(out.take(k));
    if (!firm[k]) continue;
    const TensorView& b = buffers[k].view;
    std::span<const int64_t> want = got.shape();
    if (got.kind() == Value::Kind::kTensor &&
        !std::equal(want.begin(), want.end(), b.shape, b.shape + b.rank)) {
      a.ReleaseStatus(st);
      s.fail(ErrorCode::kInvalidInput,
             msg::out_shape_produced(s.outputs[outputs[k]], {b.shape, b.rank}, want));
    }
  }
  return st;  // the arrays had the shapes the model makes: report ORT's first error
}

}  // namespace

void Session::run(std::span<const InputView> inputs, std::span<const std::size_t> outputs,
                  std::span<Value> results, std::span<const OutputBuffer> buffers,
                  const RunOptions* run_options) const {
  const Impl& s = *impl_;
  const std::size_t n_in = s.inputs.size();
  const std::size_t n_out = outputs.size();
  if (inputs.size() != n_in || results.size() != n_out ||
      (!buffers.empty() && buffers.size() != n_out)) {
    s.fail(ErrorCode::kInvalidArgument,
           msg::run_arity(inputs.size(), n_in, results.size(), n_out, buffers.size()));
  }
  RunGuard guard(s);
  const OrtApi& a = loaded_api();

  // Inputs: checked, then wrapped (tensors without a copy) or built (sequences).
  RunValues in(s.input_cache, n_in);
  SmallArray<const char*, 16> in_names(n_in);  // used if an optional is left out
  bool own_names = false;
  const char* const* names = s.input_names.data();
  std::size_t n_given = 0;
  for (std::size_t i = 0; i < n_in; ++i) {
    const InputView& view = inputs[i];
    // A tensor whose memory, dtype and shape equal the cached value's was checked when
    // that value was made (values are cached only once their checks passed).
    if (view.kind != InputView::Kind::kTensor || !in.reuse(n_given, i, view.tensor)) {
      check_input(i, view);
      if (view.kind == InputView::Kind::kTensor) in.wrap(s, n_given, i, view.tensor);
    }
    switch (view.kind) {
      case InputView::Kind::kNone: continue;  // an optional input left out
      case InputView::Kind::kTensor: break;   // wrapped above
      case InputView::Kind::kSequence: {
        if (view.count == 0) {
          in.values[n_given] = detail::empty_sequence(s.inputs[i].dtype);
          break;
        }
        SmallArray<OrtValue*, 16> elems(view.count, nullptr);
        struct Release {
          SmallArray<OrtValue*, 16>& e;
          ~Release() {
            for (std::size_t k = 0; k < e.size(); ++k) {
              if (e[k] != nullptr) loaded_api().ReleaseValue(e[k]);
            }
          }
        } release{elems};
        for (std::size_t e = 0; e < view.count; ++e) elems[e] = make_tensor(s, view.elements[e]);
        // CreateValue copies the tensors into the sequence; ours are released after.
        if (OrtStatus* st =
                a.CreateValue(elems.data(), view.count, ONNX_TYPE_SEQUENCE, &in.values[n_given])) {
          detail::throw_status(st, ErrorCode::kInvalidInput,
                               s.label + ": building sequence input '" + s.inputs[i].name + "'");
        }
        break;
      }
    }
    if (n_given != i && !own_names) {
      // An optional input was left out before this one: names need their own array.
      own_names = true;
      for (std::size_t j = 0, k = 0; j < i; ++j) {
        if (inputs[j].kind != InputView::Kind::kNone) in_names[k++] = s.input_names[j];
      }
    }
    if (own_names) in_names[n_given] = s.input_names[i];
    ++n_given;
  }
  if (own_names) names = in_names.data();

  // Outputs: which, and where (the caller's buffers are checked against the model, and
  // wrapped; the others ORT allocates).
  SmallArray<const char*, 16> out_names(n_out, nullptr);
  RunValues out(s.output_cache, n_out);
  SmallArray<bool, 16> in_buffer(n_out, false);    // output k goes to buffers[k]
  SmallArray<bool, 16> shape_known(n_out, false);  // ... whose shape was checked
  bool any_planned = false, any_firm = false;
  for (std::size_t k = 0; k < n_out; ++k) {
    if (outputs[k] >= s.outputs.size()) {
      s.fail(ErrorCode::kInvalidArgument,
             msg::output_index_out_of_range(outputs[k], s.outputs.size()));
    }
    for (std::size_t j = 0; j < k; ++j) {
      if (outputs[j] == outputs[k]) {
        s.fail(ErrorCode::kInvalidInput, msg::output_requested_twice(s.outputs[outputs[k]]));
      }
    }
    out_names[k] = s.output_names[outputs[k]];
    if (buffers.empty() || buffers[k].view.data == nullptr) continue;
    const TensorView& b = buffers[k].view;
    if (buffers[k].planned) {
      any_planned = shape_known[k] = true;
      out.wrap(s, k, outputs[k], b);
    } else {
      // As for inputs: a cached value for this memory was made after check_output_buffer
      // passed; the shape against these inputs is checked every time.
      const bool reused = out.reuse(k, outputs[k], b);
      if (!reused) check_output_buffer(outputs[k], b);
      shape_known[k] = check_planned_shape(*this, s, outputs[k], inputs, b);
      if (!reused) out.wrap(s, k, outputs[k], b);
      any_firm = true;
    }
    in_buffer[k] = true;
  }

  const OrtRunOptions* ro = run_options != nullptr ? run_options->get() : nullptr;
  // Device memory anywhere (CUDA feeds or out= buffers, or outputs kept on the device):
  // the run goes through an IoBinding (session_device.cpp), without the retries below.
  bool device_feeds = false, on_device = !s.output_device.host();
  for (std::size_t i = 0; i < n_in; ++i) {
    device_feeds = device_feeds ||
                   (inputs[i].kind == InputView::Kind::kTensor && !inputs[i].tensor.device.host());
  }
  for (std::size_t k = 0; k < n_out && !buffers.empty(); ++k) {
    on_device = on_device || (in_buffer[k] && !buffers[k].view.device.host());
  }
  if (device_feeds || on_device) {
    OrtStatus* dst = detail::run_bound(s, names, in.values.data(), n_given, out_names.data(), n_out,
                                       out.values.data(), device_feeds && !s.user_stream, ro);
    if (dst != nullptr) fail_run(s, dst, inputs, run_options);
    for (std::size_t k = 0; k < n_out; ++k) {
      if (in_buffer[k]) {
        const TensorView& b = buffers[k].view;
        results[k] = Value::borrowed(b.dtype, {b.shape, b.rank}, b.data);
        results[k].set_device(b.device);
      } else {
        results[k] = Value(out.take(k));  // ORT's memory on the output device
        if (results[k].kind() == Value::Kind::kTensor) results[k].set_device(s.output_device);
      }
    }
    return;
  }

  OrtStatus* st = a.Run(s.session, ro, names, in.values.data(), n_given, out_names.data(), n_out,
                        out.values.data());
  if (st != nullptr && (any_planned || any_firm) &&
      (run_options == nullptr || !run_options->terminated())) {
    const RunCall call{names, in.values.data(), n_given, out_names.data(), ro};
    st = retry_without_buffers(s, st, call, outputs, buffers, out, in_buffer.data());
  }
  if (st != nullptr) fail_run(s, st, inputs, run_options);

  for (std::size_t k = 0; k < n_out; ++k) {
    if (!in_buffer[k]) {
      results[k] = Value(out.take(k));  // ORT's memory, owned by the result
      continue;
    }
    const TensorView& b = buffers[k].view;
    if (!shape_known[k]) {
      // An out= array for an output whose shape could not be known up front: ORT takes
      // any buffer of the right size, so compare the shape it reports (the data has been
      // written by now). That value may describe another shape now: not kept.
      Value made(out.take(k));
      std::span<const int64_t> shape = made.shape();
      if (!std::equal(shape.begin(), shape.end(), b.shape, b.shape + b.rank)) {
        s.fail(ErrorCode::kInvalidInput,
               msg::out_shape_produced(s.outputs[outputs[k]], {b.shape, b.rank}, shape));
      }
    }
    results[k] = Value::borrowed(b.dtype, {b.shape, b.rank}, b.data);
  }
}

std::vector<Value> Session::run(const std::vector<std::pair<std::string, TensorView>>& feeds,
                                const std::vector<std::string>& output_names,
                                const RunOptions* run_options) const {
  const Impl& s = *impl_;
  std::vector<InputView> views(s.inputs.size());
  for (const auto& [name, view] : feeds) views[input_index(name)] = InputView::of(view);
  std::vector<std::size_t> outs;
  if (output_names.empty()) {
    for (std::size_t k = 0; k < s.outputs.size(); ++k) outs.push_back(k);
  } else {
    for (const std::string& n : output_names) outs.push_back(output_index(n));
  }
  std::vector<Value> results(outs.size());
  run(views, outs, results, {}, run_options);
  return results;
}

// -- run options -------------------------------------------------------------------------

struct RunOptions::State {
  OrtRunOptions* options = nullptr;
  std::atomic<bool> terminated{false};
  // terminate() and unset_terminate() each set two flags, ORT's and ours: one at a time,
  // or a terminate() racing an unset_terminate() could leave ORT's set and ours clear,
  // and the run ORT then stops would fail as a plain OrtError, not RunTerminatedError.
  std::mutex flip;
  ~State() {
    if (options != nullptr) loaded_api().ReleaseRunOptions(options);
  }
};

RunOptions::RunOptions() : state_(std::make_unique<State>()) {
  detail::check(detail::api().CreateRunOptions(&state_->options), ErrorCode::kOrt,
                "creating run options");
}
RunOptions::RunOptions(RunOptions&&) noexcept = default;
RunOptions& RunOptions::operator=(RunOptions&&) noexcept = default;
RunOptions::~RunOptions() = default;

void RunOptions::set_tag(const std::string& tag) {
  detail::check(loaded_api().RunOptionsSetRunTag(state_->options, tag.c_str()),
                ErrorCode::kInvalidArgument, "run_tag");
}

void RunOptions::set_log_severity_level(int level) {
  if (level < 0 || level > 4) {
    throw InvalidArgumentError(msg::run_log_severity_level(level));
  }
  detail::check(loaded_api().RunOptionsSetRunLogSeverityLevel(state_->options, level),
                ErrorCode::kInvalidArgument, "log_severity_level");
}

void RunOptions::set_log_verbosity_level(int level) {
  if (level < 0) throw InvalidArgumentError(msg::log_verbosity_level(level));
  detail::check(loaded_api().RunOptionsSetRunLogVerbosityLevel(state_->options, level),
                ErrorCode::kInvalidArgument, "log_verbosity_level");
}

void RunOptions::add_config_entry(const std::string& key, const std::string& value) {
  detail::check(loaded_api().AddRunConfigEntry(state_->options, key.c_str(), value.c_str()),
                ErrorCode::kInvalidArgument, "run config entry '" + key + "'");
}

void RunOptions::terminate() noexcept {
  std::lock_guard<std::mutex> g(state_->flip);
  // The flag first: a run that fails because of ORT's flag then finds ours set.
  state_->terminated.store(true, std::memory_order_release);
  if (OrtStatus* st = loaded_api().RunOptionsSetTerminate(state_->options)) {
    loaded_api().ReleaseStatus(st);  // ORT's implementation cannot fail
  }
}

void RunOptions::unset_terminate() noexcept {
  std::lock_guard<std::mutex> g(state_->flip);
  if (OrtStatus* st = loaded_api().RunOptionsUnsetTerminate(state_->options)) {
    loaded_api().ReleaseStatus(st);
  }
  state_->terminated.store(false, std::memory_order_release);
}

bool RunOptions::terminated() const noexcept {
  return state_->terminated.load(std::memory_order_acquire);
}

OrtRunOptions* RunOptions::get() const noexcept {
  return state_->options;
}

}  // namespace ortnative
