// The core without Python: load models made on the fly, run them, check errors,
// zero-copy inputs and outputs written in place, concurrency and close().
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

#include "check.hpp"
#include "model_builder.hpp"
#include "ort_api.hpp"
#include "ortnative/ortnative.hpp"
#include "session_impl.hpp"

using namespace ortnative;
using ortnative::test::add_model;
using ortnative::test::concat_model;

namespace {

Session add_session() {
  std::string bytes = add_model();
  SessionOptions o;
  o.name = "add";
  return Session::from_bytes(bytes.data(), bytes.size(), o);
}

TensorView view(std::vector<float>& data, const std::vector<int64_t>& shape) {
  TensorView v;
  v.dtype = DType::kFloat32;
  v.shape = shape.data();
  v.rank = shape.size();
  v.data = data.data();
  return v;
}

}  // namespace

TEST_CASE("runtime loads and reports a version") {
  const RuntimeInfo& info = load_runtime();
  CHECK(!info.version.empty());
  CHECK(info.api_version == kMinOrtApiVersion);
  CHECK(runtime_loaded());
  auto providers = available_providers();
  CHECK(!providers.empty());
}

TEST_CASE("metadata: names, dtypes, symbolic dims") {
  Session s = add_session();
  CHECK(s.name() == "add");
  CHECK(s.inputs().size() == 1);
  CHECK(s.outputs().size() == 2);
  CHECK(s.inputs()[0].name == "x");
  CHECK(s.inputs()[0].dtype == DType::kFloat32);
  CHECK(s.inputs()[0].shape.size() == 2);
  CHECK(s.inputs()[0].shape[0] == -1);
  CHECK(s.inputs()[0].dim_names[0] == "N");
  CHECK(s.inputs()[0].shape[1] == 4);
  CHECK(format_model_shape(s.inputs()[0]) == "[N, 4]");
  CHECK(s.metadata().producer_name == "ortnative-tests");
}

TEST_CASE("run computes y = x + c and reads the input in place") {
  Session s = add_session();
  std::vector<float> x = {0, 1, 2, 3, 10, 20, 30, 40};
  std::vector<int64_t> shape = {2, 4};
  auto out = s.run({{"x", view(x, shape)}});
  CHECK(out.size() == 2);
  CHECK(out[0].kind() == Value::Kind::kTensor);
  CHECK(out[0].dtype() == DType::kFloat32);
  CHECK(out[0].shape().size() == 2 && out[0].shape()[0] == 2 && out[0].shape()[1] == 4);
  const float* y = static_cast<const float*>(out[0].data());
  const float want[] = {1, 3, 5, 7, 11, 22, 33, 44};
  for (int i = 0; i < 8; ++i) CHECK(y[i] == want[i]);
  // z = Identity(x): same values.
  const float* z = static_cast<const float*>(out[1].data());
  for (int i = 0; i < 8; ++i) CHECK(z[i] == x[i]);
}

TEST_CASE("preallocated output is written in place") {
  Session s = add_session();
  std::vector<float> x = {1, 1, 1, 1};
  std::vector<int64_t> shape = {1, 4};
  std::vector<float> y(4, -1.0f);
  InputView in = InputView::of(view(x, shape));
  std::size_t outs[] = {0};
  Value results[1];
  OutputBuffer pre[] = {{view(y, shape), false}};
  s.run({&in, 1}, outs, results, pre);
  CHECK(y[0] == 2 && y[1] == 3 && y[2] == 4 && y[3] == 5);
  CHECK(results[0].data() == y.data());
}

TEST_CASE("planned output shapes follow named input dims; a wrong plan is retried") {
  Session s = add_session();
  std::vector<float> x(12, 1.0f);
  std::vector<int64_t> shape = {3, 4};
  InputView in = InputView::of(view(x, shape));
  int64_t dims[2] = {0, 0};
  CHECK(s.planned_output_shape(0, {&in, 1}, dims));
  CHECK(dims[0] == 3 && dims[1] == 4);
  // A deliberately wrong planned buffer: run() retries with ORT allocating.
  std::vector<float> wrong(8, 0.0f);
  std::vector<int64_t> wrong_shape = {2, 4};
  std::size_t outs[] = {0};
  Value results[1];
  OutputBuffer bufs[] = {{view(wrong, wrong_shape), true}};
  s.run({&in, 1}, outs, results, bufs);
  CHECK(results[0].data() != wrong.data());
  CHECK(results[0].shape()[0] == 3);
  CHECK(static_cast<const float*>(results[0].data())[0] == 2.0f);
  // ...and stops planning that output.
  CHECK(!s.planned_output_shape(0, {&in, 1}, dims));
  // A wrong firm buffer is the caller's error.
  OutputBuffer firm[] = {{view(wrong, wrong_shape), false}};
  Value r2[1];
  CHECK_THROWS(s.run({&in, 1}, outs, r2, firm), InvalidInputError, "");
}

TEST_CASE("bad input: dtype, rank, dimension, unknown and missing names") {
  Session s = add_session();
  std::vector<double> xd(4, 0.0);
  std::vector<int64_t> shape = {1, 4};
  TensorView dv{DType::kFloat64, shape.data(), 2, xd.data()};
  CHECK_THROWS(s.run({{"x", dv}}), InvalidTypeError,
               "model 'add': input 'x' has dtype float64, expected float32");
  std::vector<float> x(8, 0.0f);
  std::vector<int64_t> r3 = {1, 2, 4};
  CHECK_THROWS(s.run({{"x", view(x, r3)}}), InvalidInputError,
               "input 'x' has shape (1, 2, 4) (rank 3), expected rank 2: [N, 4]");
  std::vector<int64_t> bad = {1, 5};
  std::vector<float> x5(5, 0.0f);
  CHECK_THROWS(s.run({{"x", view(x5, bad)}}), InvalidInputError, "(dimension 1 must be 4)");
  CHECK_THROWS(s.run({{"nope", view(x, shape)}}), InvalidInputError,
               "unknown input name 'nope' (expected one of: 'x')");
  CHECK_THROWS(s.run({}), InvalidInputError, "missing input 'x' (float32 [N, 4])");
  CHECK_THROWS(s.run({{"x", view(x, shape)}}, {"w"}), InvalidInputError, "unknown output name 'w'");
  // The session still works afterwards.
  CHECK(s.run({{"x", view(x, shape)}}).size() == 2);
}

TEST_CASE("ORT's own run errors keep ORT's text and name the model and feeds") {
  std::string bytes = concat_model();
  Session s = Session::from_bytes(bytes.data(), bytes.size());
  std::vector<int64_t> a = {1, 2}, b = {3};
  std::vector<int64_t> sa = {2}, sb = {1};
  auto out = s.run({{"a", {DType::kInt64, sa.data(), 1, a.data()}},
                    {"b", {DType::kInt64, sb.data(), 1, b.data()}}});
  CHECK(out[0].shape()[0] == 3);
  const int64_t* o = static_cast<const int64_t*>(out[0].data());
  CHECK(o[0] == 1 && o[1] == 2 && o[2] == 3);
  // Rank 2 for one of them: a symbolic-rank-1 input, so our check catches it first.
  std::vector<int64_t> s2 = {1, 1};
  CHECK_THROWS(s.run({{"a", {DType::kInt64, s2.data(), 2, a.data()}},
                      {"b", {DType::kInt64, sb.data(), 1, b.data()}}}),
               InvalidInputError, "expected rank 1");
}

TEST_CASE("model load errors") {
  CHECK_THROWS(Session::from_file("/nonexistent/model.onnx"), ModelLoadError, "does not exist");
  CHECK_THROWS(Session::from_bytes("", 0), ModelLoadError, "model bytes are empty");
  std::string junk = "this is not a model";
  CHECK_THROWS(Session::from_bytes(junk.data(), junk.size()), ModelLoadError, "failed");
  std::string path = "ortnative_test_model.onnx";
  {
    std::ofstream f(path, std::ios::binary);
    std::string bytes = add_model();
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  Session s = Session::from_file(path);
  CHECK(s.name() == "ortnative_test_model.onnx");
  std::remove(path.c_str());
  SessionOptions bad;
  bad.providers.push_back({"NoSuchExecutionProvider", {}});
  std::string bytes = add_model();
  CHECK_THROWS(Session::from_bytes(bytes.data(), bytes.size(), bad), InvalidArgumentError,
               "execution provider 'NoSuchExecutionProvider' is not available");
}

TEST_CASE("many threads run one session at once; results match") {
  Session s = add_session();
  constexpr int kThreads = 8;
  constexpr int kIters = 200;
  std::atomic<int> wrong{0};
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> x(4 * (t + 1));
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(t * 100 + i);
      std::vector<int64_t> shape = {t + 1, 4};
      start.arrive_and_wait();
      for (int it = 0; it < kIters; ++it) {
        auto out = s.run({{"x", view(x, shape)}}, {"y"});
        const float* y = static_cast<const float*>(out[0].data());
        for (std::size_t i = 0; i < x.size(); ++i) {
          if (y[i] != x[i] + static_cast<float>(i % 4 + 1)) wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("close waits for runs, then runs fail with SessionClosedError") {
  Session s = add_session();
  std::vector<float> x(4 * 256, 1.0f);
  std::vector<int64_t> shape = {256, 4};
  std::atomic<bool> stop{false};
  std::atomic<int> closed_errors{0}, ok{0};
  std::thread runner([&] {
    while (!stop.load()) {
      try {
        s.run({{"x", view(x, shape)}});
        ok.fetch_add(1);
      } catch (const SessionClosedError&) {
        closed_errors.fetch_add(1);
        break;
      }
    }
  });
  while (ok.load() < 10) std::this_thread::yield();
  s.close();
  CHECK(s.closed());
  runner.join();
  stop = true;
  CHECK(closed_errors.load() == 1);
  CHECK_THROWS(s.run({{"x", view(x, shape)}}), SessionClosedError, "model 'add': session is closed");
  s.close();  // idempotent
}

TEST_CASE("outputs outlive the session") {
  std::vector<Value> out;
  {
    Session s = add_session();
    std::vector<float> x = {1, 2, 3, 4};
    std::vector<int64_t> shape = {1, 4};
    out = s.run({{"x", view(x, shape)}}, {"y"});
  }
  const float* y = static_cast<const float*>(out[0].data());
  CHECK(y[0] == 2 && y[3] == 8);
}

TEST_CASE("devices: device tensors on a CPU session are refused before ORT sees them") {
  Session s = add_session();
  CHECK(!s.runs_on_cuda());
  CHECK(!s.cuda_stream());
  std::vector<float> x = {1, 2, 3, 4};
  std::vector<int64_t> shape = {1, 4};
  TensorView v = view(x, shape);
  v.device = Device{Device::kCuda, 1};
  CHECK_THROWS(s.run({{"x", v}}), InvalidInputError,
               "model 'add': input 'x' is in CUDA memory (cuda:1), but this session does not "
               "run on CUDA: copy it to the CPU first (.cpu() in PyTorch), or create the "
               "session with providers=['CUDAExecutionProvider', ...]");
  v.device = Device{10, 0};  // kDLROCM
  CHECK_THROWS(s.run({{"x", v}}), InvalidInputError,
               "model 'add': input 'x' is in rocm:0 memory, which ortnative cannot hand to "
               "ONNX Runtime (it takes host memory, and CUDA memory on a session that runs on "
               "CUDA): copy it to the CPU first");
  // Pinned and managed CUDA memory are host memory: read in place.
  for (int32_t type : {Device::kCudaHost, Device::kCudaManaged}) {
    v.device = Device{type, 0};
    std::vector<Value> out = s.run({{"x", v}});
    CHECK(static_cast<const float*>(out[0].data())[3] == 8);
  }
  // The stream a DLPack producer is asked for: none for host memory, CUDA's legacy
  // default stream (1) for device memory when the session has no stream of its own.
  CHECK(!s.dlpack_stream(Device{}));
  CHECK(s.dlpack_stream(Device{Device::kCuda, 0}) == 1);
  CHECK(s.output_device().host());
}

TEST_CASE("devices: providers, user_compute_stream and output_device") {
  load_runtime();
  SessionOptions o;
  o.providers = {{"CUDAExecutionProvider", {{"device_id", "0"}, {"user_compute_stream", "12345"}}}};
  o.output_device = Device{Device::kCuda, 0};
  Session::Impl cuda;
  detail::configure_devices(cuda, o);
  CHECK(cuda.cuda);
  CHECK(cuda.user_stream && *cuda.user_stream == 12345);
  CHECK(cuda.output_device.cuda());
  o.providers = {{"TensorrtExecutionProvider", {{"user_compute_stream", "not a number"}}}};
  Session::Impl trt;
  detail::configure_devices(trt, o);
  CHECK(trt.cuda && !trt.user_stream);
  o.providers = {{"CPUExecutionProvider", {}}};
  Session::Impl cpu;
  cpu.label = "model 'm'";
  CHECK_THROWS(detail::configure_devices(cpu, o), InvalidArgumentError,
               "model 'm': output_device='cuda:0' needs a session that runs on CUDA: pass "
               "providers=['CUDAExecutionProvider', ...]");
  // Memory infos: host memory (pinned and managed too) is ORT's CPU memory; CUDA memory
  // is "Cuda" with its device id (made without CUDA in the process).
  const OrtApi& a = detail::api();
  for (int32_t type : {Device::kCpu, Device::kCudaHost, Device::kCudaManaged}) {
    CHECK(detail::memory_info_for(Device{type, 0}) == detail::cpu_memory_info());
  }
  const OrtMemoryInfo* m = detail::memory_info_for(Device{Device::kCuda, 3});
  const char* name = nullptr;
  int id = -1;
  CHECK(a.MemoryInfoGetName(m, &name) == nullptr && std::string(name) == "Cuda");
  CHECK(a.MemoryInfoGetId(m, &id) == nullptr && id == 3);
  CHECK(detail::memory_info_for(Device{Device::kCuda, 3}) == m);  // made once
}

int main() { return ortnative::test::run_all(); }
