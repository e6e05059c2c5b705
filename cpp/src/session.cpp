#include "ortnative/session.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <utility>

#include "names.hpp"
#include "ort_api.hpp"
#include "ortnative/runtime.hpp"
#include "ortnative/small_array.hpp"
#include "ortnative/utf8.hpp"

namespace ortnative {

using detail::check;
using detail::loaded_api;

namespace {

constexpr uint32_t kClosedBit = 0x80000000u;

std::string quoted_names(const std::vector<ValueInfo>& infos) {
  std::string out;
  for (const ValueInfo& info : infos) {
    if (!out.empty()) out += ", ";
    out += "'" + info.name + "'";
  }
  return out.empty() ? "(none)" : out;
}

std::string cast_hint(DType want) {
  switch (want) {
    case DType::kString: return "pass str values";
    case DType::kBFloat16: return "convert with .astype(ml_dtypes.bfloat16)";
    case DType::kBool: return "convert with .astype(numpy.bool_)";
    default: return "convert with .astype(numpy." + std::string(dtype_name(want)) + ")";
  }
}

std::string describe(const ValueInfo& info) {
  switch (info.kind) {
    case ValueInfo::Kind::kTensor:
      return std::string(dtype_name(info.dtype)) + " " + format_model_shape(info);
    case ValueInfo::Kind::kSequence:
      return "sequence of " + std::string(dtype_name(info.dtype)) + " tensors";
    case ValueInfo::Kind::kOptional:
      return "optional " + std::string(dtype_name(info.dtype)) +
             (info.contained == ValueInfo::Kind::kSequence ? " sequence" : " tensor");
    case ValueInfo::Kind::kMap: return "map";
    case ValueInfo::Kind::kOther: break;
  }
  return "unsupported type";
}

// Releases ORT values made during one run, however it ends.
template <std::size_t N>
struct ValueReleaser {
  detail::SmallArray<OrtValue*, N>& values;
  ~ValueReleaser() {
    const OrtApi& a = loaded_api();
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (values[i] != nullptr) a.ReleaseValue(values[i]);
    }
  }
};

}  // namespace

std::string format_shape(std::span<const int64_t> shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  out += ")";
  return out;
}

std::string format_model_shape(const ValueInfo& info) {
  std::string out = "[";
  for (std::size_t i = 0; i < info.shape.size(); ++i) {
    if (i > 0) out += ", ";
    if (info.shape[i] >= 0) {
      out += std::to_string(info.shape[i]);
    } else if (i < info.dim_names.size() && !info.dim_names[i].empty()) {
      out += info.dim_names[i];
    } else {
      out += "?";
    }
  }
  out += "]";
  return out;
}

std::string_view graph_optimization_name(GraphOptimization g) noexcept {
  switch (g) {
    case GraphOptimization::kDisable: return "disable";
    case GraphOptimization::kBasic: return "basic";
    case GraphOptimization::kExtended: return "extended";
    case GraphOptimization::kAll: return "all";
  }
  return "?";
}

std::string_view execution_mode_name(ExecutionMode m) noexcept {
  return m == ExecutionMode::kParallel ? "parallel" : "sequential";
}

GraphOptimization graph_optimization_from_name(std::string_view name) {
  static constexpr GraphOptimization kAll[] = {GraphOptimization::kDisable,
                                               GraphOptimization::kBasic,
                                               GraphOptimization::kExtended,
                                               GraphOptimization::kAll};
  return detail::from_name("graph_optimization", name, kAll, graph_optimization_name);
}

ExecutionMode execution_mode_from_name(std::string_view name) {
  static constexpr ExecutionMode kAll[] = {ExecutionMode::kSequential, ExecutionMode::kParallel};
  return detail::from_name("execution_mode", name, kAll, execution_mode_name);
}

struct Session::Impl {
  std::string name;
  std::string label;  // "model 'name'", the prefix of every message
  OrtSession* session = nullptr;
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::vector<const char*> input_names;   // point into inputs[i].name
  std::vector<const char*> output_names;  // point into outputs[i].name
  // How each output's shape follows from the inputs (see planned_output_shape): one
  // rule per dimension, a fixed size (>= 0) or -1 - (input * kMaxRank + dim).
  std::vector<std::vector<int64_t>> plans;  // empty: not plannable
  std::unique_ptr<std::atomic<bool>[]> plan_broken;  // set once a run proved a plan wrong
  static constexpr int64_t kMaxRank = 1024;
  // Low 31 bits: runs inside ORT now; top bit: closed.
  mutable std::atomic<uint32_t> state{0};
  std::mutex close_mu;

  ~Impl() {
    if (session != nullptr) loaded_api().ReleaseSession(session);
  }

  [[noreturn]] void fail(ErrorCode code, const std::string& what) const {
    throw_error(code, label + ": " + what);
  }

  void check_tensor(const ValueInfo& info, const TensorView& t, const char* role) const;
  [[noreturn]] void fail_dtype(const ValueInfo& info, std::string_view given,
                               const char* role) const {
    fail(ErrorCode::kInvalidType,
         std::string(role) + " '" + info.name + "' has dtype " + std::string(given) +
             ", expected " + std::string(dtype_name(info.dtype)) + " (ortnative never casts: " +
             cast_hint(info.dtype) + ")");
  }
  OrtValue* make_tensor(const TensorView& t) const;
  // Whether run() can know output OUTPUT's shape before running (see planned_output_shape).
  bool shape_known(const Session& self, std::size_t output, std::span<const InputView> feeds) const {
    const std::size_t rank = outputs[output].shape.size();
    int64_t dims[16];
    return rank > 0 && rank <= 16 && self.planned_output_shape(output, feeds, dims);
  }
  // A user's out= buffer against the shape the model will produce, when known; returns
  // whether it could check (false: only ORT's run will tell).
  bool check_planned_shape(const Session& self, std::size_t output,
                           std::span<const InputView> feeds, const TensorView& t) const {
    const std::size_t rank = outputs[output].shape.size();
    if (rank == 0 || rank != t.rank || rank > 16) return false;
    int64_t dims[16];
    if (!self.planned_output_shape(output, feeds, dims)) return false;
    for (std::size_t d = 0; d < rank; ++d) {
      if (dims[d] != t.shape[d]) {
        fail(ErrorCode::kInvalidInput,
             "out array for output '" + outputs[output].name + "' has shape " +
                 format_shape({t.shape, t.rank}) + ", but the model produces " +
                 format_shape({dims, rank}) + " for these inputs");
      }
    }
    return true;
  }
  [[noreturn]] void fail_run(OrtStatus* st, std::span<const InputView> inputs) const;
};

// Counts a run in flight for its whole scope, refusing to start on a closed session.
class RunGuard {
 public:
  explicit RunGuard(const Session::Impl& s) : s_(s) {
    uint32_t prev = s_.state.fetch_add(1, std::memory_order_acquire);
    if ((prev & kClosedBit) != 0) {
      leave();
      throw SessionClosedError(s_.label + ": session is closed");
    }
  }
  ~RunGuard() { leave(); }
  RunGuard(const RunGuard&) = delete;
  RunGuard& operator=(const RunGuard&) = delete;

 private:
  void leave() noexcept {
    uint32_t prev = s_.state.fetch_sub(1, std::memory_order_release);
    if ((prev & kClosedBit) != 0 && (prev & ~kClosedBit) == 1) s_.state.notify_all();
  }
  const Session::Impl& s_;
};

void Session::Impl::check_tensor(const ValueInfo& info, const TensorView& t,
                                 const char* role) const {
  if (t.dtype != info.dtype) fail_dtype(info, dtype_name(t.dtype), role);
  if (info.shape.empty()) return;  // unknown rank (ORT reports it like a scalar)
  std::span<const int64_t> got(t.shape, t.rank);
  if (t.rank != info.shape.size()) {
    fail(ErrorCode::kInvalidInput,
         std::string(role) + " '" + info.name + "' has shape " + format_shape(got) + " (rank " +
             std::to_string(t.rank) + "), expected rank " + std::to_string(info.shape.size()) +
             ": " + format_model_shape(info));
  }
  for (std::size_t d = 0; d < t.rank; ++d) {
    if (info.shape[d] >= 0 && t.shape[d] != info.shape[d]) {
      fail(ErrorCode::kInvalidInput,
           std::string(role) + " '" + info.name + "' has shape " + format_shape(got) +
               ", expected " + format_model_shape(info) + " (dimension " + std::to_string(d) +
               " must be " + std::to_string(info.shape[d]) + ")");
    }
  }
}

OrtValue* Session::Impl::make_tensor(const TensorView& t) const {
  const OrtApi& a = loaded_api();
  OrtValue* v = nullptr;
  static const int64_t kNoDims[1] = {0};
  const int64_t* shape = t.shape != nullptr ? t.shape : kNoDims;
  const auto type = static_cast<ONNXTensorElementDataType>(t.dtype);
  if (t.dtype == DType::kString) {
    if (OrtStatus* st = a.CreateTensorAsOrtValue(detail::default_allocator(), shape, t.rank, type, &v)) {
      detail::throw_status(st, ErrorCode::kOrt, label + ": creating a string tensor");
    }
    const auto* strings = static_cast<const std::string_view*>(t.data);
    const std::size_t n = t.element_count();
    for (std::size_t i = 0; i < n; ++i) {
      char* buf = nullptr;
      OrtStatus* st = a.GetResizedStringTensorElementBuffer(v, i, strings[i].size(), &buf);
      if (st != nullptr) {
        a.ReleaseValue(v);
        detail::throw_status(st, ErrorCode::kOrt, label + ": filling a string tensor");
      }
      if (!strings[i].empty()) std::memcpy(buf, strings[i].data(), strings[i].size());
    }
    return v;
  }
  // Zero-copy: ORT reads the caller's buffer in place. An empty tensor still needs a
  // non-null pointer.
  static char kEmpty[16] = {};
  std::size_t bytes = t.byte_size();
  void* data = bytes > 0 ? t.data : static_cast<void*>(kEmpty);
  // (Messages are built only on failure: this is the per-call path.)
  if (OrtStatus* st = a.CreateTensorWithDataAsOrtValue(detail::cpu_memory_info(), data, bytes,
                                                       shape, t.rank, type, &v)) {
    detail::throw_status(st, ErrorCode::kOrt, label + ": wrapping a buffer as a tensor");
  }
  return v;
}

void Session::Impl::fail_run(OrtStatus* st, std::span<const InputView> feeds) const {
  const OrtApi& a = loaded_api();
  int ort_code = static_cast<int>(a.GetErrorCode(st));
  std::string text = a.GetErrorMessage(st);
  a.ReleaseStatus(st);
  if (!detail::valid_utf8(text)) {
    text = detail::kInvalidText;
    ort_code = ORT_FAIL;  // the Python backend cannot know ORT's code either
  }
  std::string msg = label + ": ONNX Runtime failed to run: " + text;
  msg += " [feeds: ";
  for (std::size_t i = 0; i < feeds.size(); ++i) {
    if (i > 0) msg += ", ";
    msg += inputs[i].name + " ";
    const InputView& f = feeds[i];
    if (f.kind == InputView::Kind::kTensor) {
      msg += std::string(dtype_name(f.tensor.dtype)) + " " +
             format_shape({f.tensor.shape, f.tensor.rank});
    } else if (f.kind == InputView::Kind::kSequence) {
      msg += "sequence of " + std::to_string(f.count);
    } else {
      msg += "none";
    }
  }
  msg += "]";
  throw_error(ort_code == ORT_INVALID_ARGUMENT ? ErrorCode::kInvalidInput : ErrorCode::kOrt, msg,
              ort_code);
}

namespace {

ValueInfo read_type_info(const OrtApi& a, OrtTypeInfo* ti, std::string name) {
  ValueInfo info;
  info.name = std::move(name);
  ONNXType type = ONNX_TYPE_UNKNOWN;
  check(a.GetOnnxTypeFromTypeInfo(ti, &type), ErrorCode::kModelLoad, "reading a type");
  const OrtTensorTypeAndShapeInfo* tensor = nullptr;
  OrtTypeInfo* inner = nullptr;  // owned when set
  switch (type) {
    case ONNX_TYPE_TENSOR:
      info.kind = ValueInfo::Kind::kTensor;
      check(a.CastTypeInfoToTensorInfo(ti, &tensor), ErrorCode::kModelLoad, "reading a type");
      break;
    case ONNX_TYPE_SEQUENCE: {
      info.kind = ValueInfo::Kind::kSequence;
      const OrtSequenceTypeInfo* seq = nullptr;
      check(a.CastTypeInfoToSequenceTypeInfo(ti, &seq), ErrorCode::kModelLoad, "reading a type");
      check(a.GetSequenceElementType(seq, &inner), ErrorCode::kModelLoad, "reading a type");
      break;
    }
    case ONNX_TYPE_OPTIONAL: {
      info.kind = ValueInfo::Kind::kOptional;
      const OrtOptionalTypeInfo* opt = nullptr;
      check(a.CastTypeInfoToOptionalTypeInfo(ti, &opt), ErrorCode::kModelLoad, "reading a type");
      check(a.GetOptionalContainedTypeInfo(opt, &inner), ErrorCode::kModelLoad,
            "reading a type");
      ValueInfo contained = read_type_info(a, inner, info.name);
      a.ReleaseTypeInfo(inner);
      info.contained = contained.kind;
      info.dtype = contained.dtype;
      info.shape = std::move(contained.shape);
      info.dim_names = std::move(contained.dim_names);
      return info;
    }
    case ONNX_TYPE_MAP: info.kind = ValueInfo::Kind::kMap; return info;
    default: info.kind = ValueInfo::Kind::kOther; return info;
  }
  if (inner != nullptr) {
    // A sequence: describe its element type (a tensor, or something we don't support).
    ONNXType inner_type = ONNX_TYPE_UNKNOWN;
    OrtStatus* st = a.GetOnnxTypeFromTypeInfo(inner, &inner_type);
    if (st == nullptr && inner_type == ONNX_TYPE_TENSOR) {
      st = a.CastTypeInfoToTensorInfo(inner, &tensor);
      if (st == nullptr) {
        ONNXTensorElementDataType et = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
        st = a.GetTensorElementType(tensor, &et);
        info.dtype = static_cast<DType>(et);
      }
    } else if (st == nullptr) {
      info.kind = ValueInfo::Kind::kOther;  // e.g. a sequence of maps
    }
    a.ReleaseTypeInfo(inner);
    if (st != nullptr) detail::throw_status(st, ErrorCode::kModelLoad, "reading a type");
    return info;
  }
  ONNXTensorElementDataType et = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  check(a.GetTensorElementType(tensor, &et), ErrorCode::kModelLoad, "reading a type");
  info.dtype = static_cast<DType>(et);
  std::size_t rank = 0;
  check(a.GetDimensionsCount(tensor, &rank), ErrorCode::kModelLoad, "reading a shape");
  info.shape.resize(rank);
  check(a.GetDimensions(tensor, info.shape.data(), rank), ErrorCode::kModelLoad,
        "reading a shape");
  std::vector<const char*> sym(rank, nullptr);
  check(a.GetSymbolicDimensions(tensor, sym.data(), rank), ErrorCode::kModelLoad,
        "reading a shape");
  info.dim_names.resize(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    if (sym[d] != nullptr) info.dim_names[d] = sym[d];
    if (info.shape[d] < 0) info.shape[d] = -1;
  }
  return info;
}

void append_provider(const OrtApi& a, OrtSessionOptions* so, const Provider& p,
                     const std::string& label) {
  if (p.name == "CPUExecutionProvider") {
    if (!p.options.empty()) {
      throw InvalidArgumentError(label + ": CPUExecutionProvider takes no provider options");
    }
    return;
  }
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : p.options) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  const std::string ctx = label + ": adding execution provider " + p.name;
  if (p.name == "CUDAExecutionProvider") {
    OrtCUDAProviderOptionsV2* o = nullptr;
    check(a.CreateCUDAProviderOptions(&o), ErrorCode::kInvalidArgument, ctx);
    OrtStatus* st = a.UpdateCUDAProviderOptions(o, keys.data(), values.data(), keys.size());
    if (st == nullptr) st = a.SessionOptionsAppendExecutionProvider_CUDA_V2(so, o);
    a.ReleaseCUDAProviderOptions(o);
    check(st, ErrorCode::kInvalidArgument, ctx);
  } else if (p.name == "TensorrtExecutionProvider") {
    OrtTensorRTProviderOptionsV2* o = nullptr;
    check(a.CreateTensorRTProviderOptions(&o), ErrorCode::kInvalidArgument, ctx);
    OrtStatus* st = a.UpdateTensorRTProviderOptions(o, keys.data(), values.data(), keys.size());
    if (st == nullptr) st = a.SessionOptionsAppendExecutionProvider_TensorRT_V2(so, o);
    a.ReleaseTensorRTProviderOptions(o);
    check(st, ErrorCode::kInvalidArgument, ctx);
  } else {
    // The generic entry point takes the short name ("OpenVINO", "QNN", "XNNPACK", ...).
    std::string short_name = p.name;
    const std::string suffix = "ExecutionProvider";
    if (short_name.size() > suffix.size() &&
        short_name.compare(short_name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      short_name.resize(short_name.size() - suffix.size());
    }
    check(a.SessionOptionsAppendExecutionProvider(so, short_name.c_str(), keys.data(),
                                                  values.data(), keys.size()),
          ErrorCode::kInvalidArgument, ctx);
  }
}

struct OptionsGuard {
  const OrtApi& a;
  OrtSessionOptions* so = nullptr;
  ~OptionsGuard() {
    if (so != nullptr) a.ReleaseSessionOptions(so);
  }
};

OrtSessionOptions* make_options(const OrtApi& a, const SessionOptions& o, const std::string& label,
                                OptionsGuard& guard) {
  if (o.intra_op_threads < 0 || o.inter_op_threads < 0) {
    throw InvalidArgumentError(label + ": intra_op_threads and inter_op_threads must be >= 0, got " +
                               std::to_string(o.intra_op_threads) + " and " +
                               std::to_string(o.inter_op_threads));
  }
  check(a.CreateSessionOptions(&guard.so), ErrorCode::kOrt, label + ": creating session options");
  OrtSessionOptions* so = guard.so;
  if (o.intra_op_threads == 0 && o.inter_op_threads == 0) {
    check(a.DisablePerSessionThreads(so), ErrorCode::kOrt, label + ": using the shared pools");
  } else {
    if (o.intra_op_threads > 0) {
      check(a.SetIntraOpNumThreads(so, o.intra_op_threads), ErrorCode::kInvalidArgument, label);
    }
    if (o.inter_op_threads > 0) {
      check(a.SetInterOpNumThreads(so, o.inter_op_threads), ErrorCode::kInvalidArgument, label);
    }
  }
  GraphOptimizationLevel level = ORT_ENABLE_ALL;
  switch (o.graph_optimization) {
    case GraphOptimization::kDisable: level = ORT_DISABLE_ALL; break;
    case GraphOptimization::kBasic: level = ORT_ENABLE_BASIC; break;
    case GraphOptimization::kExtended: level = ORT_ENABLE_EXTENDED; break;
    case GraphOptimization::kAll: level = ORT_ENABLE_ALL; break;
  }
  check(a.SetSessionGraphOptimizationLevel(so, level), ErrorCode::kInvalidArgument, label);
  check(a.SetSessionExecutionMode(
            so, o.execution_mode == ExecutionMode::kParallel ? ORT_PARALLEL : ORT_SEQUENTIAL),
        ErrorCode::kInvalidArgument, label);
  for (const auto& [k, v] : o.config) {
    check(a.AddSessionConfigEntry(so, k.c_str(), v.c_str()), ErrorCode::kInvalidArgument,
          label + ": session config entry '" + k + "'");
  }
  if (!o.providers.empty()) {
    std::vector<std::string> available = available_providers();
    for (const Provider& p : o.providers) {
      if (std::find(available.begin(), available.end(), p.name) == available.end()) {
        std::string list;
        for (const std::string& n : available) list += (list.empty() ? "'" : ", '") + n + "'";
        throw InvalidArgumentError(label + ": execution provider '" + p.name +
                                   "' is not available in this ONNX Runtime build (available: " +
                                   list + ")");
      }
      append_provider(a, so, p, label);
    }
  }
  return so;
}

// A failed OrtApi::CreateSession*: ModelLoadError with WHAT and ORT's words.
void check_load(const OrtApi& a, OrtStatus* st, const std::string& what) {
  if (st == nullptr) return;
  std::string text = a.GetErrorMessage(st);
  int code = static_cast<int>(a.GetErrorCode(st));
  a.ReleaseStatus(st);
  if (!detail::valid_utf8(text)) {
    text = detail::kInvalidText;
    code = 0;
  }
  throw ModelLoadError(what + ": " + text, code);
}

// Names reach Python as str: a model whose input or output names are not UTF-8 is
// refused at load, as the Python backend refuses it.
void check_names(const Session::Impl& s, const std::string& what) {
  for (const auto* infos : {&s.inputs, &s.outputs}) {
    for (const ValueInfo& v : *infos) {
      bool ok = detail::valid_utf8(v.name);
      for (const std::string& d : v.dim_names) ok = ok && detail::valid_utf8(d);
      if (!ok) throw ModelLoadError(what + ": " + detail::kInvalidText);
    }
  }
}

std::unique_ptr<Session::Impl> make_impl(std::string name) {
  auto impl = std::make_unique<Session::Impl>();
  impl->name = std::move(name);
  impl->label = "model '" + impl->name + "'";
  return impl;
}

void build_plans(Session::Impl& s);

void read_metadata(const OrtApi& a, Session::Impl& s) {
  OrtAllocator* alloc = detail::default_allocator();
  for (int io = 0; io < 2; ++io) {
    std::size_t n = 0;
    check(io == 0 ? a.SessionGetInputCount(s.session, &n) : a.SessionGetOutputCount(s.session, &n),
          ErrorCode::kModelLoad, s.label + ": reading the model's signature");
    auto& infos = io == 0 ? s.inputs : s.outputs;
    infos.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      char* raw = nullptr;
      check(io == 0 ? a.SessionGetInputName(s.session, i, alloc, &raw)
                    : a.SessionGetOutputName(s.session, i, alloc, &raw),
            ErrorCode::kModelLoad, s.label + ": reading the model's signature");
      std::string name(raw);
      detail::free_ort_string(raw);
      OrtTypeInfo* ti = nullptr;
      check(io == 0 ? a.SessionGetInputTypeInfo(s.session, i, &ti)
                    : a.SessionGetOutputTypeInfo(s.session, i, &ti),
            ErrorCode::kModelLoad, s.label + ": reading the model's signature");
      try {
        infos.push_back(read_type_info(a, ti, std::move(name)));
      } catch (...) {
        a.ReleaseTypeInfo(ti);
        throw;
      }
      a.ReleaseTypeInfo(ti);
    }
  }
  for (const ValueInfo& v : s.inputs) s.input_names.push_back(v.name.c_str());
  for (const ValueInfo& v : s.outputs) s.output_names.push_back(v.name.c_str());
  build_plans(s);
}

// For each output: can its shape be known before the run? Yes when every dimension
// is fixed, or carries a name that a free dimension of a tensor input also carries.
void build_plans(Session::Impl& s) {
  s.plans.resize(s.outputs.size());
  s.plan_broken = std::make_unique<std::atomic<bool>[]>(s.outputs.size());
  for (std::size_t k = 0; k < s.outputs.size(); ++k) {
    const ValueInfo& out = s.outputs[k];
    // Rank 0 is how ORT reports an unknown rank too, so scalars are not planned.
    if (out.kind != ValueInfo::Kind::kTensor || out.shape.empty() ||
        dtype_itemsize(out.dtype) == 0) {
      continue;
    }
    std::vector<int64_t> rule;
    for (std::size_t d = 0; d < out.shape.size(); ++d) {
      if (out.shape[d] >= 0) {
        rule.push_back(out.shape[d]);
        continue;
      }
      const std::string& name = out.dim_names[d];
      int64_t source = 0;
      for (std::size_t i = 0; i < s.inputs.size() && source == 0 && !name.empty(); ++i) {
        const ValueInfo& in = s.inputs[i];
        if (in.kind != ValueInfo::Kind::kTensor) continue;
        for (std::size_t j = 0; j < in.shape.size() && j < Session::Impl::kMaxRank; ++j) {
          if (in.shape[j] < 0 && in.dim_names[j] == name) {
            source = -1 - static_cast<int64_t>(i * Session::Impl::kMaxRank + j);
            break;
          }
        }
      }
      if (source == 0) {
        rule.clear();
        break;
      }
      rule.push_back(source);
    }
    s.plans[k] = std::move(rule);
  }
}

}  // namespace

Session::Session(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Session Session::from_file(const std::string& path, const SessionOptions& options) {
  std::filesystem::path p(path);
  auto impl = make_impl(options.name.empty() ? p.filename().string() : options.name);
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(p, ec)) {
    throw ModelLoadError(impl->label + ": model file '" + path + "' does not exist");
  }
  if (std::filesystem::is_directory(p, ec)) {
    throw ModelLoadError(impl->label + ": '" + path + "' is a directory, not a model file");
  }
  if (std::filesystem::file_size(p, ec) == 0 && !ec) {
    throw ModelLoadError(impl->label + ": model file '" + path + "' is empty");
  }
  OrtEnv* env = detail::env();
  const OrtApi& a = loaded_api();
  OptionsGuard guard{a};
  OrtSessionOptions* so = make_options(a, options, impl->label, guard);
  const std::string what = impl->label + ": loading '" + path + "' failed";
#if defined(_WIN32)
  std::wstring wpath = p.wstring();
  check_load(a, a.CreateSession(env, wpath.c_str(), so, &impl->session), what);
#else
  check_load(a, a.CreateSession(env, path.c_str(), so, &impl->session), what);
#endif
  read_metadata(a, *impl);
  check_names(*impl, what);
  return Session(std::move(impl));
}

Session Session::from_bytes(const void* data, std::size_t size, const SessionOptions& options) {
  auto impl = make_impl(options.name.empty() ? "<bytes>" : options.name);
  if (data == nullptr || size == 0) {
    throw ModelLoadError(impl->label + ": model bytes are empty");
  }
  OrtEnv* env = detail::env();
  const OrtApi& a = loaded_api();
  OptionsGuard guard{a};
  OrtSessionOptions* so = make_options(a, options, impl->label, guard);
  const std::string what =
      impl->label + ": loading the model from " + std::to_string(size) + " bytes failed";
  check_load(a, a.CreateSessionFromArray(env, data, size, so, &impl->session), what);
  read_metadata(a, *impl);
  check_names(*impl, what);
  return Session(std::move(impl));
}

const std::string& Session::name() const noexcept { return impl_->name; }
const std::vector<ValueInfo>& Session::inputs() const noexcept { return impl_->inputs; }
const std::vector<ValueInfo>& Session::outputs() const noexcept { return impl_->outputs; }

std::optional<std::size_t> Session::find_input(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < impl_->inputs.size(); ++i) {
    if (impl_->inputs[i].name == name) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> Session::find_output(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < impl_->outputs.size(); ++i) {
    if (impl_->outputs[i].name == name) return i;
  }
  return std::nullopt;
}

std::size_t Session::input_index(std::string_view name) const {
  if (auto i = find_input(name)) return *i;
  impl_->fail(ErrorCode::kInvalidInput, "unknown input name '" + std::string(name) +
                                            "' (expected one of: " + quoted_names(impl_->inputs) +
                                            ")");
}

std::size_t Session::output_index(std::string_view name) const {
  if (auto i = find_output(name)) return *i;
  impl_->fail(ErrorCode::kInvalidInput, "unknown output name '" + std::string(name) +
                                            "' (expected one of: " +
                                            quoted_names(impl_->outputs) + ")");
}

ModelMetadata Session::metadata() const {
  const Impl& s = *impl_;
  RunGuard guard(s);
  const OrtApi& a = loaded_api();
  OrtAllocator* alloc = detail::default_allocator();
  OrtModelMetadata* md = nullptr;
  check(a.SessionGetModelMetadata(s.session, &md), ErrorCode::kOrt, s.label + ": metadata");
  ModelMetadata out;
  using Getter = OrtStatus*(ORT_API_CALL*)(const OrtModelMetadata*, OrtAllocator*, char**);
  auto take = [&](Getter get, std::string& dst) {
    char* raw = nullptr;
    if (OrtStatus* st = get(md, alloc, &raw)) {
      a.ReleaseModelMetadata(md);
      detail::throw_status(st, ErrorCode::kOrt, s.label + ": metadata");
    }
    dst = raw != nullptr ? raw : "";
    detail::free_ort_string(raw);
  };
  take(a.ModelMetadataGetProducerName, out.producer_name);
  take(a.ModelMetadataGetGraphName, out.graph_name);
  take(a.ModelMetadataGetDomain, out.domain);
  take(a.ModelMetadataGetDescription, out.description);
  take(a.ModelMetadataGetGraphDescription, out.graph_description);
  OrtStatus* st = a.ModelMetadataGetVersion(md, &out.version);
  char** keys = nullptr;
  int64_t nkeys = 0;
  if (st == nullptr) st = a.ModelMetadataGetCustomMetadataMapKeys(md, alloc, &keys, &nkeys);
  if (st != nullptr) {
    a.ReleaseModelMetadata(md);
    detail::throw_status(st, ErrorCode::kOrt, s.label + ": metadata");
  }
  for (int64_t k = 0; k < nkeys; ++k) {
    char* value = nullptr;
    OrtStatus* vs = a.ModelMetadataLookupCustomMetadataMap(md, alloc, keys[k], &value);
    if (vs == nullptr) out.custom.emplace_back(keys[k], value != nullptr ? value : "");
    if (vs != nullptr) a.ReleaseStatus(vs);
    detail::free_ort_string(value);
    detail::free_ort_string(keys[k]);
  }
  if (keys != nullptr) alloc->Free(alloc, keys);
  a.ReleaseModelMetadata(md);
  return out;
}

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
  K want = info.kind == K::kOptional ? info.contained : info.kind;
  switch (view.kind) {
    case InputView::Kind::kNone:
      if (info.kind != K::kOptional) {
        s.fail(ErrorCode::kInvalidInput, "missing input '" + info.name + "' (" + describe(info) +
                                             "); the model needs all of: " +
                                             quoted_names(s.inputs));
      }
      return;
    case InputView::Kind::kTensor:
      if (want != K::kTensor) {
        s.fail(ErrorCode::kInvalidInput,
               "input '" + info.name + "' is a " + describe(info) + ", got a tensor");
      }
      s.check_tensor(info, view.tensor, "input");
      return;
    case InputView::Kind::kSequence:
      if (want != K::kSequence) {
        s.fail(ErrorCode::kInvalidInput, "input '" + info.name + "' is a " + describe(info) +
                                             ", got a sequence of " + std::to_string(view.count) +
                                             " arrays");
      }
      for (std::size_t e = 0; e < view.count; ++e) {
        if (view.elements[e].dtype != info.dtype) {
          s.fail_dtype(info, dtype_name(view.elements[e].dtype), "element of input");
        }
      }
      return;
  }
}

void Session::check_output_buffer(std::size_t output_index, const TensorView& view) const {
  const Impl& s = *impl_;
  const ValueInfo& info = s.outputs.at(output_index);
  if (info.kind != ValueInfo::Kind::kTensor || info.dtype == DType::kString) {
    s.fail(ErrorCode::kInvalidInput, "out= cannot hold output '" + info.name + "' (" +
                                         describe(info) +
                                         "): only numeric tensor outputs can be written in place");
  }
  s.check_tensor(info, view, "out array for output");
}

void Session::fail_input_dtype(std::size_t index, std::string_view given) const {
  impl_->fail_dtype(impl_->inputs.at(index), given, "input");
}

void Session::fail_output_dtype(std::size_t output_index, std::string_view given) const {
  impl_->fail_dtype(impl_->outputs.at(output_index), given, "out array for output");
}

void Session::fail(ErrorCode code, const std::string& what) const { impl_->fail(code, what); }

void Session::run(std::span<const InputView> inputs, std::span<const std::size_t> outputs,
                  std::span<Value> results, std::span<const OutputBuffer> buffers) const {
  const Impl& s = *impl_;
  const std::size_t n_in = s.inputs.size();
  const std::size_t n_out = outputs.size();
  if (inputs.size() != n_in || results.size() != n_out ||
      (!buffers.empty() && buffers.size() != n_out)) {
    s.fail(ErrorCode::kInvalidArgument,
           "Session::run: " + std::to_string(inputs.size()) + " inputs for " +
               std::to_string(n_in) + ", " + std::to_string(results.size()) + " results for " +
               std::to_string(n_out) + " outputs, " + std::to_string(buffers.size()) +
               " output buffers");
  }
  RunGuard guard(s);
  const OrtApi& a = loaded_api();

  detail::SmallArray<OrtValue*, 16> in_values(n_in, nullptr);
  ValueReleaser<16> release_inputs{in_values};
  detail::SmallArray<const char*, 16> in_names(n_in);  // used if an optional is left out
  bool own_names = false;
  const char* const* names = s.input_names.data();
  std::size_t n_given = 0;
  for (std::size_t i = 0; i < n_in; ++i) {
    const InputView& view = inputs[i];
    check_input(i, view);
    switch (view.kind) {
      case InputView::Kind::kNone: continue;  // an optional input left out
      case InputView::Kind::kTensor: in_values[n_given] = s.make_tensor(view.tensor); break;
      case InputView::Kind::kSequence: {
        if (view.count == 0) {
          in_values[n_given] = detail::empty_sequence(s.inputs[i].dtype);
          break;
        }
        detail::SmallArray<OrtValue*, 16> elems(view.count, nullptr);
        ValueReleaser<16> release_elems{elems};
        for (std::size_t e = 0; e < view.count; ++e) elems[e] = s.make_tensor(view.elements[e]);
        // CreateValue copies the tensors into the sequence; ours are released after.
        if (OrtStatus* st = a.CreateValue(elems.data(), view.count, ONNX_TYPE_SEQUENCE,
                                          &in_values[n_given])) {
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

  detail::SmallArray<const char*, 16> out_names(n_out, nullptr);
  detail::SmallArray<OrtValue*, 16> out_values(n_out, nullptr);
  ValueReleaser<16> release_outputs{out_values};
  detail::SmallArray<bool, 16> in_buffer(n_out, false);  // output k goes to buffers[k]
  detail::SmallArray<bool, 16> shape_checked(n_out, false);  // ... whose shape was checked
  bool any_planned = false;
  for (std::size_t k = 0; k < n_out; ++k) {
    if (outputs[k] >= s.outputs.size()) {
      s.fail(ErrorCode::kInvalidArgument, "output index " + std::to_string(outputs[k]) +
                                              " out of range (the model has " +
                                              std::to_string(s.outputs.size()) + " outputs)");
    }
    out_names[k] = s.output_names[outputs[k]];
    if (!buffers.empty() && buffers[k].view.data != nullptr) {
      if (buffers[k].planned) {
        any_planned = true;
      } else {
        check_output_buffer(outputs[k], buffers[k].view);
        shape_checked[k] = s.check_planned_shape(*this, outputs[k], inputs, buffers[k].view);
      }
      out_values[k] = s.make_tensor(buffers[k].view);
      in_buffer[k] = true;
    }
  }

  OrtStatus* st = a.Run(s.session, nullptr, names, in_values.data(), n_given, out_names.data(),
                        n_out, out_values.data());
  // A failed run with outputs going to buffers may be the buffers' fault. Runs have no
  // side effects, so find out by running again (only ever on this error path).
  auto drop_buffers = [&](bool planned_too, bool firm_too) {
    for (std::size_t k = 0; k < n_out; ++k) {
      if (in_buffer[k] && ((buffers[k].planned && planned_too) || (!buffers[k].planned && firm_too))) {
        a.ReleaseValue(out_values[k]);
        out_values[k] = nullptr;
        in_buffer[k] = false;
      }
    }
  };
  auto rerun = [&]() {
    return a.Run(s.session, nullptr, names, in_values.data(), n_given, out_names.data(), n_out,
                 out_values.data());
  };
  if (st != nullptr && any_planned) {
    // A planned buffer may be wrong (the model declared a shape it does not make): run
    // again with ORT allocating those outputs. Only if that succeeds were the plans at
    // fault; then stop planning them.
    drop_buffers(true, false);
    OrtStatus* again = rerun();
    if (again == nullptr) {
      a.ReleaseStatus(st);
      st = nullptr;
      for (std::size_t k = 0; k < n_out; ++k) {
        if (buffers[k].planned && buffers[k].view.data != nullptr) {
          s.plan_broken[outputs[k]].store(true, std::memory_order_relaxed);
        }
      }
    } else {
      a.ReleaseStatus(again);
    }
  }
  bool any_firm = false;
  for (std::size_t k = 0; k < n_out; ++k) any_firm = any_firm || in_buffer[k];
  if (st != nullptr && any_firm) {
    // A caller's out= array ORT would not take (a shape the metadata could not check):
    // run with ORT allocating everything and, if that works, say which array and what
    // shape the model produces, as the fallback backend does.
    drop_buffers(true, true);
    OrtStatus* again = rerun();
    if (again != nullptr) {
      a.ReleaseStatus(st);
      st = again;  // not the buffers' fault: report what ORT says about the feeds
    } else {
      for (std::size_t k = 0; k < n_out; ++k) {
        if (buffers[k].planned || buffers[k].view.data == nullptr) continue;
        Value got(std::exchange(out_values[k], nullptr));
        const TensorView& b = buffers[k].view;
        std::span<const int64_t> want = got.shape();
        if (got.kind() == Value::Kind::kTensor &&
            !std::equal(want.begin(), want.end(), b.shape, b.shape + b.rank)) {
          a.ReleaseStatus(st);
          s.fail(ErrorCode::kInvalidInput,
                 "out array for output '" + s.outputs[outputs[k]].name + "' has shape " +
                     format_shape({b.shape, b.rank}) + ", but the model produces " +
                     format_shape(want) + " for these inputs");
        }
      }
    }
  }
  if (st != nullptr) s.fail_run(st, inputs);
  for (std::size_t k = 0; k < n_out; ++k) {
    OrtValue* v = std::exchange(out_values[k], nullptr);
    if (!in_buffer[k]) {
      results[k] = Value(v);
      continue;
    }
    const TensorView& b = buffers[k].view;
    if (buffers[k].planned || shape_checked[k]) {
      // The buffer's shape was checked (or planned) against the shape the model makes.
      results[k] = Value::adopt_tensor(v, b.dtype, {b.shape, b.rank}, b.data);
      continue;
    }
    // An out= array for an output whose shape could not be known up front: ORT takes
    // any buffer of the right size, so compare the shape it reports (the data has been
    // written by now).
    Value got(v);
    std::span<const int64_t> made = got.shape();
    if (!std::equal(made.begin(), made.end(), b.shape, b.shape + b.rank)) {
      s.fail(ErrorCode::kInvalidInput, "out array for output '" + s.outputs[outputs[k]].name +
                                           "' has shape " + format_shape({b.shape, b.rank}) +
                                           ", but the model produces " + format_shape(made) +
                                           " for these inputs");
    }
    results[k] = std::move(got);
  }
}

std::vector<Value> Session::run(const std::vector<std::pair<std::string, TensorView>>& feeds,
                                const std::vector<std::string>& output_names) const {
  const Impl& s = *impl_;
  std::vector<InputView> views(s.inputs.size());
  for (const auto& [name, view] : feeds) {
    std::size_t i = input_index(name);
    views[i] = InputView::of(view);
  }
  std::vector<std::size_t> outs;
  if (output_names.empty()) {
    for (std::size_t k = 0; k < s.outputs.size(); ++k) outs.push_back(k);
  } else {
    for (const std::string& n : output_names) outs.push_back(output_index(n));
  }
  std::vector<Value> results(outs.size());
  run(views, outs, results);
  return results;
}

void Session::close() noexcept {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.close_mu);
  uint32_t cur = s.state.fetch_or(kClosedBit, std::memory_order_acq_rel) | kClosedBit;
  while ((cur & ~kClosedBit) != 0) {
    s.state.wait(cur, std::memory_order_acquire);
    cur = s.state.load(std::memory_order_acquire);
  }
  if (s.session != nullptr) {
    loaded_api().ReleaseSession(s.session);
    s.session = nullptr;
  }
}

bool Session::closed() const noexcept {
  return (impl_->state.load(std::memory_order_acquire) & kClosedBit) != 0;
}

}  // namespace ortnative
