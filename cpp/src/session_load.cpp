// Session, part 1: loading a model (options, providers, ORT's CreateSession), reading its
// signature and metadata, names, and closing. Running is session_run.cpp.
#include <algorithm>
#include <filesystem>
#include <mutex>
#include <utility>

#include "names.hpp"
#include "ortnative/runtime.hpp"
#include "ortnative/utf8.hpp"
#include "session_impl.hpp"

namespace ortnative {

using detail::check;
using detail::loaded_api;

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
  static constexpr GraphOptimization kAll[] = {
      GraphOptimization::kDisable, GraphOptimization::kBasic, GraphOptimization::kExtended,
      GraphOptimization::kAll};
  return detail::from_name("graph_optimization", name, kAll, graph_optimization_name);
}

ExecutionMode execution_mode_from_name(std::string_view name) {
  static constexpr ExecutionMode kAll[] = {ExecutionMode::kSequential, ExecutionMode::kParallel};
  return detail::from_name("execution_mode", name, kAll, execution_mode_name);
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
      check(a.GetOptionalContainedTypeInfo(opt, &inner), ErrorCode::kModelLoad, "reading a type");
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
  check(a.GetDimensions(tensor, info.shape.data(), rank), ErrorCode::kModelLoad, "reading a shape");
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
      throw InvalidArgumentError(label + ": " + msg::cpu_provider_options());
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

// The session options of one load, and the values ORT needs only while the model loads
// (external initializers), released when the load is over.
struct OptionsGuard {
  const OrtApi& a;
  OrtSessionOptions* so = nullptr;
  std::vector<OrtValue*> load_values;
  ~OptionsGuard() {
    for (OrtValue* v : load_values) a.ReleaseValue(v);
    if (so != nullptr) a.ReleaseSessionOptions(so);
  }
};

// A path or name as ORT's C API takes it (ORTCHAR_T: wchar_t on Windows).
std::basic_string<ORTCHAR_T> ort_string(const std::string& s) {
#if defined(_WIN32)
  return std::filesystem::path(s).wstring();
#else
  return s;
#endif
}

// An OrtValue over INIT's memory (no copy), for AddInitializer / AddExternalInitializers.
OrtValue* initializer_value(const OrtApi& a, const Initializer& init, const std::string& label) {
  const TensorView& t = init.tensor;
  if (t.dtype == DType::kString || dtype_itemsize(t.dtype) == 0 ||
      (t.data == nullptr && t.element_count() > 0) || (t.rank > 0 && t.shape == nullptr)) {
    throw InvalidArgumentError(label + ": " + msg::initializer_not_numeric(init.name));
  }
  static char kEmpty[16] = {};
  static const int64_t kNoDims[1] = {0};
  OrtValue* v = nullptr;
  check(a.CreateTensorWithDataAsOrtValue(detail::cpu_memory_info(),
                                         t.data != nullptr ? t.data : kEmpty, t.byte_size(),
                                         t.shape != nullptr ? t.shape : kNoDims, t.rank,
                                         static_cast<ONNXTensorElementDataType>(t.dtype), &v),
        ErrorCode::kInvalidArgument, label + ": initializer '" + init.name + "'");
  return v;
}

OrtSessionOptions* make_options(const OrtApi& a, const SessionOptions& o, Session::Impl& impl,
                                OptionsGuard& guard) {
  const std::string& label = impl.label;
  if (o.intra_op_threads < 0 || o.inter_op_threads < 0) {
    throw InvalidArgumentError(
        label + ": intra_op_threads and inter_op_threads must be >= 0, got " +
        std::to_string(o.intra_op_threads) + " and " + std::to_string(o.inter_op_threads));
  }
  if (o.log_severity_level < -1 || o.log_severity_level > 4) {
    throw InvalidArgumentError(label + ": " + msg::log_severity_level(o.log_severity_level));
  }
  if (o.log_verbosity_level < 0) {
    throw InvalidArgumentError(label + ": " + msg::log_verbosity_level(o.log_verbosity_level));
  }
  for (const auto* overrides :
       {&o.free_dimension_overrides, &o.free_dimension_overrides_by_denotation}) {
    for (const auto& [dim, size] : *overrides) {
      if (size < 0) throw InvalidArgumentError(label + ": " + msg::free_dimension_size(dim, size));
    }
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
  // Memory, saving the optimised model, profiling, logging, determinism: one ORT call each.
  if (!o.enable_cpu_mem_arena) {
    check(a.DisableCpuMemArena(so), ErrorCode::kInvalidArgument, label + ": enable_cpu_mem_arena");
  }
  if (!o.enable_mem_pattern) {
    check(a.DisableMemPattern(so), ErrorCode::kInvalidArgument, label + ": enable_mem_pattern");
  }
  if (!o.optimized_model_filepath.empty()) {
    check(a.SetOptimizedModelFilePath(so, ort_string(o.optimized_model_filepath).c_str()),
          ErrorCode::kInvalidArgument, label + ": optimized_model_filepath");
  }
  if (o.enable_profiling) {
    check(a.EnableProfiling(so, ort_string(o.profile_file_prefix).c_str()),
          ErrorCode::kInvalidArgument, label + ": enable_profiling");
  }
  if (o.log_severity_level >= 0) {
    check(a.SetSessionLogSeverityLevel(so, o.log_severity_level), ErrorCode::kInvalidArgument,
          label + ": log_severity_level");
  }
  if (o.log_verbosity_level != 0) {
    check(a.SetSessionLogVerbosityLevel(so, o.log_verbosity_level), ErrorCode::kInvalidArgument,
          label + ": log_verbosity_level");
  }
  if (!o.logid.empty()) {
    check(a.SetSessionLogId(so, o.logid.c_str()), ErrorCode::kInvalidArgument, label + ": logid");
  }
  if (o.use_deterministic_compute) {
    check(a.SetDeterministicCompute(so, true), ErrorCode::kInvalidArgument,
          label + ": use_deterministic_compute");
  }
  // The model's shapes and weights: free dimensions, initializers, external data.
  for (const auto& [dim, size] : o.free_dimension_overrides) {
    check(a.AddFreeDimensionOverrideByName(so, dim.c_str(), size), ErrorCode::kInvalidArgument,
          label + ": free dimension override '" + dim + "'");
  }
  for (const auto& [dim, size] : o.free_dimension_overrides_by_denotation) {
    check(a.AddFreeDimensionOverride(so, dim.c_str(), size), ErrorCode::kInvalidArgument,
          label + ": free dimension override for denotation '" + dim + "'");
  }
  for (const Initializer& init : o.initializers) {
    OrtValue* v = initializer_value(a, init, label);
    impl.initializers.push_back(v);  // released after the session
    check(a.AddInitializer(so, init.name.c_str(), v), ErrorCode::kInvalidArgument,
          label + ": initializer '" + init.name + "'");
  }
  if (!o.external_initializers.empty()) {
    std::vector<const char*> names;
    for (const Initializer& init : o.external_initializers) {
      guard.load_values.push_back(initializer_value(a, init, label));
      names.push_back(init.name.c_str());
    }
    check(a.AddExternalInitializers(so, names.data(), guard.load_values.data(), names.size()),
          ErrorCode::kInvalidArgument, label + ": external_initializers");
  }
  if (!o.external_data.empty()) {
    std::vector<std::basic_string<ORTCHAR_T>> files;
    std::vector<const ORTCHAR_T*> names;
    std::vector<char*> buffers;
    std::vector<std::size_t> sizes;
    static char kEmpty[1] = {};
    for (const ExternalFile& f : o.external_data) files.push_back(ort_string(f.name));
    for (std::size_t i = 0; i < files.size(); ++i) {
      const ExternalFile& f = o.external_data[i];
      names.push_back(files[i].c_str());
      // ORT reads the buffers (the C API's type is not const).
      buffers.push_back(f.data != nullptr ? static_cast<char*>(const_cast<void*>(f.data)) : kEmpty);
      sizes.push_back(f.size);
    }
    check(a.AddExternalInitializersFromFilesInMemory(so, names.data(), buffers.data(), sizes.data(),
                                                     names.size()),
          ErrorCode::kInvalidArgument, label + ": external_data");
  }
  for (const std::string& lib : o.custom_op_libraries) {
    check(a.RegisterCustomOpsLibrary_V2(so, ort_string(lib).c_str()), ErrorCode::kInvalidArgument,
          label + ": " + msg::custom_op_library(lib));
  }
  if (!o.providers.empty()) {
    std::vector<std::string> available = available_providers();
    for (const Provider& p : o.providers) {
      if (std::find(available.begin(), available.end(), p.name) == available.end()) {
        throw InvalidArgumentError(label + ": " + msg::provider_unavailable(p.name, available));
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
  s.input_cache = detail::TensorCache(s.inputs.size());
  s.output_cache = detail::TensorCache(s.outputs.size());
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

Session::Session(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {
}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Session Session::from_file(const std::string& path, const SessionOptions& options) {
  std::filesystem::path p(path);
  auto impl = make_impl(options.name.empty() ? p.filename().string() : options.name);
  detail::configure_devices(*impl, options);
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(p, ec)) {
    throw ModelLoadError(impl->label + ": " + msg::model_file_missing(path));
  }
  if (std::filesystem::is_directory(p, ec)) {
    throw ModelLoadError(impl->label + ": " + msg::model_is_directory(path));
  }
  if (std::filesystem::file_size(p, ec) == 0 && !ec) {
    throw ModelLoadError(impl->label + ": " + msg::model_file_empty(path));
  }
  OrtEnv* env = detail::env();
  const OrtApi& a = loaded_api();
  impl->keep_alive = options.keep_alive;
  OptionsGuard guard{a, nullptr, {}};
  OrtSessionOptions* so = make_options(a, options, *impl, guard);
  const std::string what = impl->label + ": " + msg::loading_file_failed(path);
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
  detail::configure_devices(*impl, options);
  if (data == nullptr || size == 0) {
    throw ModelLoadError(impl->label + ": " + msg::model_bytes_empty());
  }
  OrtEnv* env = detail::env();
  const OrtApi& a = loaded_api();
  impl->keep_alive = options.keep_alive;
  OptionsGuard guard{a, nullptr, {}};
  OrtSessionOptions* so = make_options(a, options, *impl, guard);
  const std::string what = impl->label + ": " + msg::loading_bytes_failed(size);
  check_load(a, a.CreateSessionFromArray(env, data, size, so, &impl->session), what);
  read_metadata(a, *impl);
  check_names(*impl, what);
  return Session(std::move(impl));
}

const std::string& Session::name() const noexcept {
  return impl_->name;
}
const std::vector<ValueInfo>& Session::inputs() const noexcept {
  return impl_->inputs;
}
const std::vector<ValueInfo>& Session::outputs() const noexcept {
  return impl_->outputs;
}

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
  impl_->fail(ErrorCode::kInvalidInput, msg::unknown_name("input", name, impl_->inputs));
}

std::size_t Session::output_index(std::string_view name) const {
  if (auto i = find_output(name)) return *i;
  impl_->fail(ErrorCode::kInvalidInput, msg::unknown_name("output", name, impl_->outputs));
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

void Session::close() noexcept {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.close_mu);
  constexpr uint32_t kClosed = RunGuard::kClosedBit;
  uint32_t cur = s.state.fetch_or(kClosed, std::memory_order_acq_rel) | kClosed;
  while ((cur & ~kClosed) != 0) {
    s.state.wait(cur, std::memory_order_acquire);
    cur = s.state.load(std::memory_order_acquire);
  }
  s.input_cache.clear();
  s.output_cache.clear();
  s.release_session();
}

std::string Session::end_profiling() const {
  const Impl& s = *impl_;
  RunGuard guard(s);
  char* raw = nullptr;
  check(loaded_api().SessionEndProfiling(s.session, detail::default_allocator(), &raw),
        ErrorCode::kOrt, s.label + ": ending profiling");
  std::string path = raw != nullptr ? raw : "";
  detail::free_ort_string(raw);
  return path;
}

uint64_t Session::profiling_start_time_ns() const {
  const Impl& s = *impl_;
  RunGuard guard(s);
  uint64_t ns = 0;
  check(loaded_api().SessionGetProfilingStartTimeNs(s.session, &ns), ErrorCode::kOrt,
        s.label + ": reading the profiling start time");
  return ns;
}

bool Session::closed() const noexcept {
  return (impl_->state.load(std::memory_order_acquire) & RunGuard::kClosedBit) != 0;
}

}  // namespace ortnative
