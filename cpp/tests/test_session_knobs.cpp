// The session knobs without Python: memory and logging options, the optimised model file,
// profiling, free-dimension overrides, custom op libraries, initializers and external data
// from memory, RunOptions (terminate from another thread), map outputs, and the shared
// pools' spinning.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "check.hpp"
#include "model_builder.hpp"
#include "ortnative/ortnative.hpp"

using namespace ortnative;
namespace fs = std::filesystem;
using ortnative::test::add_model;

namespace {

Session load(const std::string& bytes, const SessionOptions& o = {}) {
  return Session::from_bytes(bytes.data(), bytes.size(), o);
}

TensorView floats(std::vector<float>& data, const std::vector<int64_t>& shape) {
  return TensorView{DType::kFloat32, shape.data(), shape.size(), data.data()};
}

// A fresh directory under the system's temporary one, removed at the end of its scope.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() /
             ("ortnative_" + name + "_" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()))) {
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("memory, logging and determinism options load and run") {
  SessionOptions o;
  o.enable_cpu_mem_arena = false;
  o.enable_mem_pattern = false;
  o.use_deterministic_compute = true;
  o.log_severity_level = 4;
  o.log_verbosity_level = 1;
  o.logid = "knobs";
  Session s = load(add_model(), o);
  std::vector<float> x = {1, 2, 3, 4};
  std::vector<int64_t> shape = {1, 4};
  auto out = s.run({{"x", floats(x, shape)}}, {"y"});
  CHECK(static_cast<const float*>(out[0].data())[3] == 8);
  SessionOptions bad;
  bad.log_severity_level = 5;
  CHECK_THROWS(load(add_model(), bad), InvalidArgumentError, "log_severity_level must be -1");
}

TEST_CASE("optimized_model_filepath: ORT writes the optimised model, which loads") {
  TempDir dir("optimized");
  SessionOptions o;
  o.optimized_model_filepath = (dir.path / "optimized.onnx").string();
  Session s = load(add_model(), o);
  CHECK(fs::exists(o.optimized_model_filepath));
  Session again = Session::from_file(o.optimized_model_filepath);
  std::vector<float> x = {0, 0, 0, 0};
  std::vector<int64_t> shape = {1, 4};
  auto out = again.run({{"x", floats(x, shape)}}, {"y"});
  CHECK(static_cast<const float*>(out[0].data())[1] == 2);
}

TEST_CASE("profiling writes a JSON trace; end_profiling returns its path once") {
  TempDir dir("profile");
  SessionOptions o;
  o.enable_profiling = true;
  o.profile_file_prefix = (dir.path / "trace").string();
  Session s = load(add_model(), o);
  CHECK(s.profiling_start_time_ns() > 0);
  std::vector<float> x = {1, 2, 3, 4};
  std::vector<int64_t> shape = {1, 4};
  s.run({{"x", floats(x, shape)}});
  const std::string path = s.end_profiling();
  CHECK(path.rfind((dir.path / "trace").string(), 0) == 0);
  const std::string trace = read(path);
  CHECK(!trace.empty() && trace.front() == '[');
  CHECK(trace.find("\"model_run\"") != std::string::npos);
  CHECK(s.end_profiling().empty());
  Session plain = load(add_model());
  CHECK(plain.end_profiling().empty());
  CHECK(plain.profiling_start_time_ns() == 0);
  plain.close();
  CHECK_THROWS(plain.end_profiling(), SessionClosedError, "session is closed");
}

TEST_CASE("free dimension overrides, by name and by denotation, fix the input's shape") {
  SessionOptions by_name;
  by_name.free_dimension_overrides = {{"N", 3}};
  Session s = load(add_model(), by_name);
  CHECK(s.inputs()[0].shape[0] == 3);
  std::vector<float> x(8, 0.0f);
  std::vector<int64_t> two = {2, 4};
  CHECK_THROWS(s.run({{"x", floats(x, two)}}), InvalidInputError, "(dimension 0 must be 3)");

  using ortnative::test::node;
  using ortnative::test::value_info;
  ortnative::test::Proto g;
  g.message(1, node("Identity", {"x"}, {"y"}));
  g.bytes(2, "denoted");
  g.message(11, value_info("x", 1, {{-1, "B", "DATA_BATCH"}, {2, ""}}));
  g.message(12, value_info("y", 1, {{-1, "B", "DATA_BATCH"}, {2, ""}}));
  SessionOptions by_denotation;
  by_denotation.free_dimension_overrides_by_denotation = {{"DATA_BATCH", 5}};
  Session d = load(ortnative::test::model(g), by_denotation);
  CHECK(d.inputs()[0].shape[0] == 5);
  SessionOptions bad;
  bad.free_dimension_overrides = {{"N", -2}};
  CHECK_THROWS(load(add_model(), bad), InvalidArgumentError, "free dimension 'N' must be");
}

TEST_CASE("initializers from memory replace the model's; keep_alive lives as long as the session") {
  std::vector<float> c = {10, 20, 30, 40};
  std::vector<int64_t> dims = {4};
  auto released = std::make_shared<std::atomic<bool>>(false);
  SessionOptions o;
  o.initializers.push_back({"c", TensorView{DType::kFloat32, dims.data(), 1, c.data()}});
  o.keep_alive = std::shared_ptr<const void>(new int(0), [released](const void* p) {
    released->store(true);
    delete static_cast<const int*>(p);
  });
  {
    Session s = load(add_model(), o);
    o.keep_alive.reset();
    o.initializers.clear();
    std::vector<float> x = {1, 1, 1, 1};
    std::vector<int64_t> shape = {1, 4};
    auto out = s.run({{"x", floats(x, shape)}}, {"y"});
    CHECK(static_cast<const float*>(out[0].data())[3] == 41);
    CHECK(!released->load());
  }
  CHECK(released->load());
  SessionOptions strings;
  std::string_view text[1] = {"a"};
  int64_t one[1] = {1};
  strings.initializers.push_back({"c", TensorView{DType::kString, one, 1, text}});
  CHECK_THROWS(load(add_model(), strings), InvalidArgumentError, "initializer 'c' must be");
}

TEST_CASE("external data: from a path beside the model, and from memory") {
  TempDir dir("external");
  write(dir.path / "model.onnx", ortnative::test::external_data_model("weights.bin"));
  write(dir.path / "weights.bin", ortnative::test::external_weights());
  std::vector<float> x = {0, 0, 0, 0};
  std::vector<int64_t> shape = {2, 2};
  Session from_path = Session::from_file((dir.path / "model.onnx").string());
  auto out = from_path.run({{"x", floats(x, shape)}});
  CHECK(static_cast<const float*>(out[0].data())[3] == 4);

  const std::string bytes = ortnative::test::external_data_model("weights.bin");
  const std::string weights = ortnative::test::external_weights();
  SessionOptions o;
  o.external_data.push_back({"weights.bin", weights.data(), weights.size()});
  Session from_memory = load(bytes, o);
  out = from_memory.run({{"x", floats(x, shape)}});
  CHECK(static_cast<const float*>(out[0].data())[2] == 3);

  std::vector<float> w = {5, 6, 7, 8};
  std::vector<int64_t> wdims = {2, 2};
  SessionOptions given;
  given.external_initializers.push_back({"w", floats(w, wdims)});
  Session replaced = load(bytes, given);
  w.assign(4, -1.0f);  // copied while loading: the session no longer reads W
  out = replaced.run({{"x", floats(x, shape)}});
  CHECK(static_cast<const float*>(out[0].data())[0] == 5);
  CHECK_THROWS(load(bytes), ModelLoadError, "failed");
}

TEST_CASE("custom op libraries: a missing one is an InvalidArgumentError; a real one runs") {
  SessionOptions missing;
  missing.custom_op_libraries = {"/nonexistent/libcustom_ops.so"};
  CHECK_THROWS(load(add_model(), missing), InvalidArgumentError,
               "registering the custom op library '/nonexistent/libcustom_ops.so'");
  // Built beside this test (custom_op_library.cpp); ctest passes its path.
  const char* lib = std::getenv("ORTNATIVE_TEST_CUSTOM_OP_LIBRARY");
  CHECK(lib != nullptr && fs::exists(lib));
  const std::string model = ortnative::test::negate_model();
  CHECK_THROWS(load(model), ModelLoadError, "Negate");
  SessionOptions o;
  o.custom_op_libraries = {lib};
  Session s = load(model, o);
  std::vector<float> x = {1.5f, -2.0f, 0.0f};
  std::vector<int64_t> shape = {3};
  auto out = s.run({{"x", floats(x, shape)}});
  const auto* y = static_cast<const float*>(out[0].data());
  CHECK(y[0] == -1.5f && y[1] == 2.0f && y[2] == 0.0f);
}

TEST_CASE("RunOptions: terminate() from another thread ends a long run; the session stays usable") {
  Session s = load(ortnative::test::loop_model());
  std::vector<float> x(64 * 64, 0.5f);
  std::vector<int64_t> shape = {64, 64};
  int64_t forever = int64_t{1} << 40;  // far longer than any test could wait
  TensorView n{DType::kInt64, nullptr, 0, &forever};
  RunOptions ro;
  ro.set_tag("long");
  ro.add_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0");
  std::atomic<bool> started{false};
  std::thread stopper([&] {
    while (!started.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ro.terminate();
  });
  started = true;
  CHECK_THROWS(s.run({{"x", floats(x, shape)}, {"n", n}}, {}, &ro), RunTerminatedError,
               "run terminated");
  stopper.join();
  CHECK(ro.terminated());
  int64_t two = 2;
  TensorView short_n{DType::kInt64, nullptr, 0, &two};
  // Still terminated: a run with these options ends at once.
  CHECK_THROWS(s.run({{"x", floats(x, shape)}, {"n", short_n}}, {}, &ro), RunTerminatedError, "");
  ro.unset_terminate();
  CHECK(s.run({{"x", floats(x, shape)}, {"n", short_n}}, {}, &ro).size() == 1);
  CHECK(s.run({{"x", floats(x, shape)}, {"n", short_n}}).size() == 1);
  CHECK_THROWS(ro.set_log_severity_level(7), InvalidArgumentError, "log_severity_level");
}

TEST_CASE("maps: a ZipMap's sequence of maps, keys and values as tensors") {
  Session s = load(ortnative::test::zipmap_model());
  std::vector<float> p = {0.25f, 0.75f, 0.5f, 0.5f, 1.0f, 0.0f};
  std::vector<int64_t> shape = {3, 2};
  auto out = s.run({{"p", floats(p, shape)}});
  CHECK(out[0].kind() == Value::Kind::kSequence);
  CHECK(out[0].sequence_length() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    Value m = out[0].sequence_at(i);
    CHECK(m.kind() == Value::Kind::kMap);
    Value keys = m.map_keys(), values = m.map_values();
    CHECK(keys.dtype() == DType::kInt64 && values.dtype() == DType::kFloat32);
    CHECK(keys.element_count() == 2 && values.element_count() == 2);
    const auto* k = static_cast<const int64_t*>(keys.data());
    const auto* v = static_cast<const float*>(values.data());
    CHECK(k[0] == 10 && k[1] == 20);
    CHECK(v[0] == p[2 * i] && v[1] == p[2 * i + 1]);
  }
  CHECK_THROWS(out[0].map_keys(), InvalidArgumentError, "not a map");
}

TEST_CASE("the shared pools' spinning is fixed once they exist") {
  load(add_model());  // the environment, and its pools, exist from here
  const auto [intra, inter] = global_thread_pools();
  const bool spin = global_thread_spinning();
  set_global_thread_pools(intra, inter, spin);  // the same settings: fine
  CHECK_THROWS(set_global_thread_pools(intra, inter, !spin), InvalidArgumentError,
               "the shared thread pools already exist");
}

int main() {
  return ortnative::test::run_all();
}
