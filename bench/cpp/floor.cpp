// The native floor for the session benchmarks: the same run loop as the Python
// benchmark, in C++, with no Python in the process.
//
//   floor MODEL --serve [--dim NAME=SIZE ...] [--threads T] [--ort-library PATH]
//   floor MODEL --mode MODE --iters N [--warmup W] [--dim NAME=SIZE ...] [--threads T]
//         [--ort-library PATH]
//
// --serve (what bench/session.py uses): set every mode up once, then answer one command
// per line on stdin, one JSON line on stdout each, so that the Python benchmark can time
// the floor in the same rounds as its own variants (interleaved, bench/common.py):
//   check MODE     one call; {"out": [output 0's values]} (the benchmark checks them
//                  against onnxruntime before timing anything)
//   warm MODE N    N untimed calls; {"ok": true}
//   time MODE N    N calls, each timed alone; {"ns": [...]}, the timer's own cost
//                  (measured at start-up around an empty call) subtracted
//   quit           (or end of input) exit 0
// --mode: one mode, W warm-up calls then N timed calls; prints one JSON object with the
// median, p99, mean and the 25th/75th percentiles in nanoseconds.
//
// MODE:
//   core-fresh     ortnative::Session::run, each output into a new buffer sized from
//                  planned_output_shape (what ortnative's Python run() does)
//   core-ort       ortnative::Session::run, ORT allocates the outputs
//   core-prealloc  ortnative::Session::run into the same buffers every call (out=)
//   c-ort          the ORT C API alone: Run with ORT-allocated outputs, released each call
//   c-prealloc     the ORT C API alone: Run into OrtValues created once (IoBinding-like)
// Inputs are float32 filled with a ramp (input i, element j: i + (j % 97) * 0.01); free
// dimensions default to 1 (--dim sets them). Each call is timed with steady_clock.
#include <onnxruntime_c_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "ortnative/ortnative.hpp"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "floor: %s\n", msg.c_str());
  std::exit(1);
}

void ort_check(const OrtApi* api, OrtStatus* st) {
  if (st != nullptr) {
    std::string msg = api->GetErrorMessage(st);
    api->ReleaseStatus(st);
    die(msg);
  }
}

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

Tensor make_tensor(const ortnative::ValueInfo& info, const std::map<std::string, int64_t>& dims,
                   float start) {
  if (info.kind != ortnative::ValueInfo::Kind::kTensor ||
      info.dtype != ortnative::DType::kFloat32) {
    die("input '" + info.name + "' is not a float32 tensor");
  }
  Tensor t;
  for (std::size_t d = 0; d < info.shape.size(); ++d) {
    int64_t n = info.shape[d];
    if (n < 0) {
      auto it = dims.find(info.dim_names[d]);
      n = it == dims.end() ? 1 : it->second;
    }
    t.shape.push_back(n);
  }
  std::size_t count = 1;
  for (int64_t n : t.shape) count *= static_cast<std::size_t>(n);
  t.data.resize(count);
  for (std::size_t i = 0; i < count; ++i) t.data[i] = start + static_cast<float>(i % 97) * 0.01f;
  return t;
}

ortnative::TensorView view_of(Tensor& t) {
  return {ortnative::DType::kFloat32, t.shape.data(), t.shape.size(), t.data.data()};
}

enum class Mode { kCoreFresh, kCoreOrt, kCorePrealloc, kCOrt, kCPrealloc };

Mode parse_mode(const std::string& m) {
  if (m == "core-fresh") return Mode::kCoreFresh;
  if (m == "core-ort") return Mode::kCoreOrt;
  if (m == "core-prealloc") return Mode::kCorePrealloc;
  if (m == "c-ort") return Mode::kCOrt;
  if (m == "c-prealloc") return Mode::kCPrealloc;
  die("unknown mode " + m);
}

// The timer's own cost: the median of back-to-back steady_clock reads.
double timer_overhead_ns() {
  std::vector<double> t(20000);
  for (double& v : t) {
    auto t0 = Clock::now();
    v = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  }
  std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.size() / 2), t.end());
  return t[t.size() / 2];
}

// Every mode's state, set up once: the core session and a raw C API session on the same
// library, the inputs, and the kept output buffers.
class Floor {
 public:
  Floor(const std::string& model, const std::string& library, int threads,
        const std::map<std::string, int64_t>& dims)
      : rt_(library.empty() ? ortnative::load_runtime() : ortnative::load_runtime({library})),
        s_(make_session(model, threads)) {
    for (std::size_t i = 0; i < s_.inputs().size(); ++i) {
      inputs_.push_back(make_tensor(s_.inputs()[i], dims, static_cast<float>(i)));
    }
    for (Tensor& t : inputs_) views_.push_back(ortnative::InputView::of(view_of(t)));
    n_out_ = s_.outputs().size();
    outs_.resize(n_out_);
    for (std::size_t k = 0; k < n_out_; ++k) outs_[k] = k;
    out_shapes_.resize(n_out_);
    kept_.resize(n_out_);
    for (std::size_t k = 0; k < n_out_; ++k) {
      out_shapes_[k].resize(s_.outputs()[k].shape.size());
      plannable_ = s_.planned_output_shape(k, views_, out_shapes_[k].data()) && plannable_;
      std::size_t count = 1;
      for (int64_t d : out_shapes_[k]) count *= static_cast<std::size_t>(d);
      kept_[k].resize(plannable_ ? count : 0);
    }
    results_.resize(n_out_);
    buffers_.resize(n_out_);
    raw_out_.assign(n_out_, nullptr);
    setup_c_api(model, threads);
  }

  ~Floor() {
    for (OrtValue* v : raw_in_) api_->ReleaseValue(v);
    for (OrtValue* v : raw_pre_) api_->ReleaseValue(v);
    if (raw_ != nullptr) api_->ReleaseSession(raw_);
    if (mem_ != nullptr) api_->ReleaseMemoryInfo(mem_);
    if (env_ != nullptr) api_->ReleaseEnv(env_);
  }

  Floor(const Floor&) = delete;
  Floor& operator=(const Floor&) = delete;

  // One call in MODE; CAPTURE, when given, receives output 0's values.
  void once(Mode mode, std::vector<float>* capture = nullptr) {
    if (!plannable_ && mode != Mode::kCoreOrt && mode != Mode::kCOrt) {
      die("output shapes not plannable: only core-ort and c-ort run this model");
    }
    const float* first = nullptr;
    std::size_t count = plannable_ ? kept_[0].size() : 0;
    switch (mode) {
      case Mode::kCoreOrt:
        s_.run(views_, outs_, results_);
        first = static_cast<const float*>(results_[0].data());
        count = results_[0].element_count();
        break;
      case Mode::kCoreFresh: {
        std::vector<std::vector<float>> fresh(n_out_);
        for (std::size_t k = 0; k < n_out_; ++k) {
          fresh[k].resize(kept_[k].size());
          buffers_[k] = {{ortnative::DType::kFloat32, out_shapes_[k].data(), out_shapes_[k].size(),
                          fresh[k].data()},
                         true};
        }
        s_.run(views_, outs_, results_, buffers_);
        checksum_ += fresh[0][0];
        if (capture != nullptr) capture->assign(fresh[0].begin(), fresh[0].end());
        return;
      }
      case Mode::kCorePrealloc:
        for (std::size_t k = 0; k < n_out_; ++k) {
          buffers_[k] = {{ortnative::DType::kFloat32, out_shapes_[k].data(), out_shapes_[k].size(),
                          kept_[k].data()},
                         false};
        }
        s_.run(views_, outs_, results_, buffers_);
        first = kept_[0].data();
        break;
      case Mode::kCOrt: {
        ort_check(api_, api_->Run(raw_, nullptr, in_names_.data(), raw_in_.data(), raw_in_.size(),
                                  out_names_.data(), n_out_, raw_out_.data()));
        float* p = nullptr;
        ort_check(api_, api_->GetTensorMutableData(raw_out_[0], reinterpret_cast<void**>(&p)));
        checksum_ += p[0];
        if (capture != nullptr) {
          OrtTensorTypeAndShapeInfo* info = nullptr;
          ort_check(api_, api_->GetTensorTypeAndShape(raw_out_[0], &info));
          ort_check(api_, api_->GetTensorShapeElementCount(info, &count));
          api_->ReleaseTensorTypeAndShapeInfo(info);
          capture->assign(p, p + count);
        }
        for (auto& v : raw_out_) {
          api_->ReleaseValue(v);
          v = nullptr;
        }
        return;
      }
      case Mode::kCPrealloc:
        ort_check(api_, api_->Run(raw_, nullptr, in_names_.data(), raw_in_.data(), raw_in_.size(),
                                  out_names_.data(), n_out_, raw_pre_.data()));
        first = kept_[0].data();
        break;
    }
    checksum_ += first[0];
    if (capture != nullptr) capture->assign(first, first + count);
  }

  // N calls in MODE, each timed alone, the timer's cost subtracted (never below 0).
  std::vector<double> time(Mode mode, long n, double overhead) {
    std::vector<double> ns(static_cast<std::size_t>(n));
    for (double& v : ns) {
      auto t0 = Clock::now();
      once(mode);
      auto t1 = Clock::now();
      v = std::max(0.0, std::chrono::duration<double, std::nano>(t1 - t0).count() - overhead);
    }
    return ns;
  }

  float checksum() const { return checksum_; }

 private:
  static ortnative::Session make_session(const std::string& model, int threads) {
    ortnative::SessionOptions so;
    so.intra_op_threads = threads;
    return ortnative::Session::from_file(model, so);
  }

  // The raw C API, on the same library the core loaded.
  void setup_c_api(const std::string& model, int threads) {
#if defined(_WIN32)
    HMODULE h = LoadLibraryA(rt_.library_path.c_str());
    auto base_fn =
        reinterpret_cast<const OrtApiBase*(ORT_API_CALL*)()>(GetProcAddress(h, "OrtGetApiBase"));
#else
    void* h = dlopen(rt_.library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    auto base_fn = reinterpret_cast<const OrtApiBase*(ORT_API_CALL*)()>(dlsym(h, "OrtGetApiBase"));
#endif
    if (base_fn == nullptr) die("cannot find OrtGetApiBase in " + rt_.library_path);
    api_ = base_fn()->GetApi(ortnative::kMinOrtApiVersion);
    ort_check(api_, api_->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "floor", &env_));
    OrtSessionOptions* opts = nullptr;
    ort_check(api_, api_->CreateSessionOptions(&opts));
    ort_check(api_, api_->SetIntraOpNumThreads(opts, threads));
    ort_check(api_, api_->CreateSession(env_, model.c_str(), opts, &raw_));
    api_->ReleaseSessionOptions(opts);
    ort_check(api_, api_->CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &mem_));
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
      OrtValue* v = nullptr;
      ort_check(api_, api_->CreateTensorWithDataAsOrtValue(
                          mem_, inputs_[i].data.data(), inputs_[i].data.size() * sizeof(float),
                          inputs_[i].shape.data(), inputs_[i].shape.size(),
                          ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &v));
      raw_in_.push_back(v);
      in_names_.push_back(s_.inputs()[i].name.c_str());
    }
    for (std::size_t k = 0; k < n_out_; ++k) {
      out_names_.push_back(s_.outputs()[k].name.c_str());
      OrtValue* v = nullptr;
      if (plannable_) {
        ort_check(api_,
                  api_->CreateTensorWithDataAsOrtValue(
                      mem_, kept_[k].data(), kept_[k].size() * sizeof(float), out_shapes_[k].data(),
                      out_shapes_[k].size(), ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &v));
      }
      raw_pre_.push_back(v);
    }
  }

  const ortnative::RuntimeInfo& rt_;
  ortnative::Session s_;
  std::vector<Tensor> inputs_;
  std::vector<ortnative::InputView> views_;
  std::size_t n_out_ = 0;
  std::vector<std::size_t> outs_;
  std::vector<std::vector<int64_t>> out_shapes_;
  bool plannable_ = true;
  std::vector<std::vector<float>> kept_;  // core-prealloc / c-prealloc buffers
  std::vector<ortnative::Value> results_;
  std::vector<ortnative::OutputBuffer> buffers_;
  const OrtApi* api_ = nullptr;
  OrtEnv* env_ = nullptr;
  OrtSession* raw_ = nullptr;
  OrtMemoryInfo* mem_ = nullptr;
  std::vector<OrtValue*> raw_in_, raw_pre_, raw_out_;
  std::vector<const char*> in_names_, out_names_;
  float checksum_ = 0;
};

void print_array(const char* key, const std::vector<double>& v, const char* fmt) {
  std::string line = std::string("{\"") + key + "\": [";
  char buf[64];
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, fmt, v[i]);
    if (i != 0) line += ", ";
    line += buf;
  }
  line += "]}\n";
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

int serve(Floor& f) {
  const double overhead = timer_overhead_ns();
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, mode_name;
    long n = 0;
    in >> cmd;
    if (cmd == "quit") break;
    in >> mode_name;
    Mode mode = parse_mode(mode_name);
    if (cmd == "check") {
      std::vector<float> out;
      f.once(mode, &out);
      print_array("out", std::vector<double>(out.begin(), out.end()), "%.9g");
      continue;
    }
    if (!(in >> n) || n <= 0) die("'" + line + "': want COMMAND MODE N with N > 0");
    if (cmd == "warm") {
      for (long i = 0; i < n; ++i) f.once(mode);
      std::fputs("{\"ok\": true}\n", stdout);
      std::fflush(stdout);
    } else if (cmd == "time") {
      print_array("ns", f.time(mode, n, overhead), "%.1f");
    } else {
      die("unknown command '" + cmd + "'");
    }
  }
  // The checksum keeps the calls from being optimised away.
  std::fprintf(stderr, "floor: checksum %g\n", static_cast<double>(f.checksum()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, mode = "core-fresh", library;
  long iters = 10000, warmup = 1000;
  int threads = 1;
  bool serving = false;
  std::map<std::string, int64_t> dims;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--mode") {
      mode = next();
    } else if (a == "--serve") {
      serving = true;
    } else if (a == "--iters") {
      iters = std::atol(next().c_str());
    } else if (a == "--warmup") {
      warmup = std::atol(next().c_str());
    } else if (a == "--threads") {
      threads = std::atoi(next().c_str());
    } else if (a == "--ort-library") {
      library = next();
    } else if (a == "--dim") {
      std::string kv = next();
      auto eq = kv.find('=');
      if (eq == std::string::npos) die("--dim wants NAME=SIZE");
      dims[kv.substr(0, eq)] = std::atoll(kv.c_str() + eq + 1);
    } else if (model.empty()) {
      model = a;
    } else {
      die("unexpected argument " + a);
    }
  }
  if (model.empty() || iters <= 0) die("usage: floor MODEL (--serve | --mode MODE --iters N)");

  try {
    Floor f(model, library, threads, dims);
    if (serving) return serve(f);
    const Mode m = parse_mode(mode);
    for (long i = 0; i < warmup; ++i) f.once(m);
    std::vector<double> ns = f.time(m, iters, timer_overhead_ns());
    double mean = 0;
    for (double v : ns) mean += v;
    mean /= static_cast<double>(ns.size());
    std::sort(ns.begin(), ns.end());
    auto q = [&](double p) {
      return ns[static_cast<std::size_t>(p * static_cast<double>(ns.size() - 1))];
    };
    std::printf(
        "{\"mode\": \"%s\", \"n\": %ld, \"median_ns\": %.1f, \"p99_ns\": %.1f, \"mean_ns\": %.1f, "
        "\"p25_ns\": %.1f, \"p75_ns\": %.1f, \"checksum\": %g}\n",
        mode.c_str(), iters, q(0.5), q(0.99), mean, q(0.25), q(0.75),
        static_cast<double>(f.checksum()));
  } catch (const ortnative::Error& e) {
    die(std::string(ortnative::error_code_name(e.code())) + ": " + e.what());
  }
  return 0;
}
