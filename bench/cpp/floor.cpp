// The native floor for the session benchmarks: the same run loop as the Python
// benchmark, in C++, with no Python in the process.
//
//   floor MODEL --mode MODE --iters N [--warmup W] [--dim NAME=SIZE ...] [--threads T]
//         [--ort-library PATH]
//
// MODE:
//   core-fresh     ortnative::Session::run, each output into a new buffer sized from
//                  planned_output_shape (what ortnative's Python run() does)
//   core-ort       ortnative::Session::run, ORT allocates the outputs
//   core-prealloc  ortnative::Session::run into the same buffers every call (out=)
//   c-ort          the ORT C API alone: Run with ORT-allocated outputs, released each call
//   c-prealloc     the ORT C API alone: Run into OrtValues created once (IoBinding-like)
// Inputs are float32 filled with a ramp; free dimensions default to 1 (--dim sets them).
// Each call is timed with steady_clock; prints one JSON object with the median, p99,
// mean and the 25th/75th percentiles in nanoseconds.
#include <onnxruntime_c_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "ortnative/ortnative.hpp"

namespace {

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

}  // namespace

int main(int argc, char** argv) {
  std::string model, mode = "core-fresh", library;
  long iters = 10000, warmup = 1000;
  int threads = 1;
  std::map<std::string, int64_t> dims;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--mode") mode = next();
    else if (a == "--iters") iters = std::atol(next().c_str());
    else if (a == "--warmup") warmup = std::atol(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--ort-library") library = next();
    else if (a == "--dim") {
      std::string kv = next();
      auto eq = kv.find('=');
      if (eq == std::string::npos) die("--dim wants NAME=SIZE");
      dims[kv.substr(0, eq)] = std::atoll(kv.c_str() + eq + 1);
    } else if (model.empty()) model = a;
    else die("unexpected argument " + a);
  }
  if (model.empty() || iters <= 0) die("usage: floor MODEL --mode MODE --iters N");

  try {
    const auto& rt = library.empty() ? ortnative::load_runtime() : ortnative::load_runtime({library});
    ortnative::SessionOptions so;
    so.intra_op_threads = threads;
    ortnative::Session s = ortnative::Session::from_file(model, so);
    std::vector<Tensor> inputs;
    for (std::size_t i = 0; i < s.inputs().size(); ++i) {
      inputs.push_back(make_tensor(s.inputs()[i], dims, static_cast<float>(i)));
    }
    std::vector<ortnative::InputView> views;
    for (Tensor& t : inputs) views.push_back(ortnative::InputView::of(view_of(t)));
    const std::size_t n_out = s.outputs().size();
    std::vector<std::size_t> outs(n_out);
    for (std::size_t k = 0; k < n_out; ++k) outs[k] = k;
    std::vector<std::vector<int64_t>> out_shapes(n_out);
    for (std::size_t k = 0; k < n_out; ++k) {
      out_shapes[k].resize(s.outputs()[k].shape.size());
      if (!s.planned_output_shape(k, views, out_shapes[k].data())) {
        if (mode != "core-ort" && mode != "c-ort") die("output shape not plannable for " + mode);
      }
    }
    std::vector<std::vector<float>> kept(n_out);  // core-prealloc / c-prealloc buffers
    for (std::size_t k = 0; k < n_out; ++k) {
      std::size_t count = 1;
      for (int64_t d : out_shapes[k]) count *= static_cast<std::size_t>(d);
      kept[k].resize(count);
    }

    // The raw C API, on the same library the core loaded.
#if defined(_WIN32)
    HMODULE h = LoadLibraryA(rt.library_path.c_str());
    auto base_fn = reinterpret_cast<const OrtApiBase*(ORT_API_CALL*)()>(GetProcAddress(h, "OrtGetApiBase"));
#else
    void* h = dlopen(rt.library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    auto base_fn = reinterpret_cast<const OrtApiBase*(ORT_API_CALL*)()>(dlsym(h, "OrtGetApiBase"));
#endif
    if (base_fn == nullptr) die("cannot find OrtGetApiBase in " + rt.library_path);
    const OrtApi* api = base_fn()->GetApi(ortnative::kMinOrtApiVersion);
    OrtEnv* env = nullptr;
    OrtSession* raw = nullptr;
    OrtMemoryInfo* mem = nullptr;
    std::vector<OrtValue*> raw_in, raw_pre;
    std::vector<const char*> in_names, out_names;
    if (mode.rfind("c-", 0) == 0) {
      ort_check(api, api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "floor", &env));
      OrtSessionOptions* opts = nullptr;
      ort_check(api, api->CreateSessionOptions(&opts));
      ort_check(api, api->SetIntraOpNumThreads(opts, threads));
      ort_check(api, api->CreateSession(env, model.c_str(), opts, &raw));
      api->ReleaseSessionOptions(opts);
      ort_check(api, api->CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &mem));
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        OrtValue* v = nullptr;
        ort_check(api, api->CreateTensorWithDataAsOrtValue(
                           mem, inputs[i].data.data(), inputs[i].data.size() * sizeof(float),
                           inputs[i].shape.data(), inputs[i].shape.size(),
                           ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &v));
        raw_in.push_back(v);
        in_names.push_back(s.inputs()[i].name.c_str());
      }
      for (std::size_t k = 0; k < n_out; ++k) {
        out_names.push_back(s.outputs()[k].name.c_str());
        OrtValue* v = nullptr;
        if (mode == "c-prealloc") {
          ort_check(api, api->CreateTensorWithDataAsOrtValue(
                             mem, kept[k].data(), kept[k].size() * sizeof(float),
                             out_shapes[k].data(), out_shapes[k].size(),
                             ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &v));
        }
        raw_pre.push_back(v);
      }
    }

    std::vector<ortnative::Value> results(n_out);
    std::vector<ortnative::OutputBuffer> buffers(n_out);
    std::vector<OrtValue*> raw_out(n_out, nullptr);
    float checksum = 0;
    auto once = [&]() {
      if (mode == "core-ort") {
        s.run(views, outs, results);
        checksum += static_cast<const float*>(results[0].data())[0];
      } else if (mode == "core-fresh") {
        std::vector<std::vector<float>> fresh(n_out);
        for (std::size_t k = 0; k < n_out; ++k) {
          fresh[k].resize(kept[k].size());
          buffers[k] = {{ortnative::DType::kFloat32, out_shapes[k].data(), out_shapes[k].size(),
                         fresh[k].data()},
                        true};
        }
        s.run(views, outs, results, buffers);
        checksum += fresh[0][0];
      } else if (mode == "core-prealloc") {
        for (std::size_t k = 0; k < n_out; ++k) {
          buffers[k] = {{ortnative::DType::kFloat32, out_shapes[k].data(), out_shapes[k].size(),
                         kept[k].data()},
                        false};
        }
        s.run(views, outs, results, buffers);
        checksum += kept[0][0];
      } else if (mode == "c-ort") {
        ort_check(api, api->Run(raw, nullptr, in_names.data(), raw_in.data(), raw_in.size(),
                                out_names.data(), n_out, raw_out.data()));
        float* p = nullptr;
        ort_check(api, api->GetTensorMutableData(raw_out[0], reinterpret_cast<void**>(&p)));
        checksum += p[0];
        for (auto& v : raw_out) {
          api->ReleaseValue(v);
          v = nullptr;
        }
      } else if (mode == "c-prealloc") {
        ort_check(api, api->Run(raw, nullptr, in_names.data(), raw_in.data(), raw_in.size(),
                                out_names.data(), n_out, raw_pre.data()));
        checksum += kept[0][0];
      } else {
        die("unknown mode " + mode);
      }
    };
    for (long i = 0; i < warmup; ++i) once();
    std::vector<double> ns(static_cast<std::size_t>(iters));
    for (long i = 0; i < iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      once();
      auto t1 = std::chrono::steady_clock::now();
      ns[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::nano>(t1 - t0).count();
    }
    double mean = 0;
    for (double v : ns) mean += v;
    mean /= static_cast<double>(ns.size());
    std::sort(ns.begin(), ns.end());
    auto q = [&](double p) { return ns[static_cast<std::size_t>(p * static_cast<double>(ns.size() - 1))]; };
    std::printf(
        "{\"mode\": \"%s\", \"n\": %ld, \"median_ns\": %.1f, \"p99_ns\": %.1f, \"mean_ns\": %.1f, "
        "\"p25_ns\": %.1f, \"p75_ns\": %.1f, \"checksum\": %g}\n",
        mode.c_str(), iters, q(0.5), q(0.99), mean, q(0.25), q(0.75), static_cast<double>(checksum));
    for (OrtValue* v : raw_in) api->ReleaseValue(v);
    for (OrtValue* v : raw_pre) api->ReleaseValue(v);
    if (raw != nullptr) api->ReleaseSession(raw);
    if (mem != nullptr) api->ReleaseMemoryInfo(mem);
    if (env != nullptr) api->ReleaseEnv(env);
  } catch (const ortnative::Error& e) {
    die(std::string(ortnative::error_code_name(e.code())) + ": " + e.what());
  }
  return 0;
}
