// ortnative-run: a small host application embedding the ortnative core, no Python.
//
//   ortnative-run MODEL [--bench N] [--threads T] [--ort-library PATH]
//
// Loads MODEL, feeds every input a deterministic tensor (free dimensions set to 1;
// numbers 0, 1, 2, ... scaled to the dtype; strings "s0", "s1", ...), runs it, and
// prints each output's dtype, shape and first values. With --bench N it also runs N
// more times and prints the median and p99 latency. Errors are reported with their
// ortnative error class and message, and exit status 1: never an abort.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ortnative/ortnative.hpp"

namespace {

struct Buffer {
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;
  std::vector<std::string> strings;
  std::vector<std::string_view> views;
  ortnative::TensorView view;
};

template <class T>
void fill_numeric(Buffer& b, std::size_t n) {
  b.bytes.resize(n * sizeof(T));
  T* p = reinterpret_cast<T*>(b.bytes.data());
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<T>(i % 7);
}

Buffer make_input(const ortnative::ValueInfo& info) {
  using ortnative::DType;
  Buffer b;
  for (int64_t d : info.shape) b.shape.push_back(d < 0 ? 1 : d);
  std::size_t n = 1;
  for (int64_t d : b.shape) n *= static_cast<std::size_t>(d);
  switch (info.dtype) {
    case DType::kFloat32: fill_numeric<float>(b, n); break;
    case DType::kFloat64: fill_numeric<double>(b, n); break;
    case DType::kInt8: fill_numeric<int8_t>(b, n); break;
    case DType::kUInt8:
    case DType::kBool: fill_numeric<uint8_t>(b, n); break;
    case DType::kInt16: fill_numeric<int16_t>(b, n); break;
    case DType::kUInt16: fill_numeric<uint16_t>(b, n); break;
    case DType::kInt32: fill_numeric<int32_t>(b, n); break;
    case DType::kUInt32: fill_numeric<uint32_t>(b, n); break;
    case DType::kInt64: fill_numeric<int64_t>(b, n); break;
    case DType::kUInt64: fill_numeric<uint64_t>(b, n); break;
    case DType::kString:
      for (std::size_t i = 0; i < n; ++i) b.strings.push_back("s" + std::to_string(i));
      for (const std::string& s : b.strings) b.views.emplace_back(s);
      break;
    default:
      b.bytes.assign(n * ortnative::dtype_itemsize(info.dtype), 0);  // zeros
  }
  if (info.dtype == DType::kBool) {
    for (auto& c : b.bytes) c = c % 2;
  }
  b.view.dtype = info.dtype;
  b.view.shape = b.shape.data();
  b.view.rank = b.shape.size();
  b.view.data = info.dtype == DType::kString ? static_cast<void*>(b.views.data())
                                             : static_cast<void*>(b.bytes.data());
  return b;
}

void print_value(const std::string& name, const ortnative::Value& v) {
  using ortnative::DType;
  if (v.kind() != ortnative::Value::Kind::kTensor) {
    std::printf("%s: %s\n", name.c_str(),
                v.kind() == ortnative::Value::Kind::kSequence ? "sequence" : "none");
    return;
  }
  std::string shape = ortnative::format_shape(v.shape());
  std::printf("%s: %s %s", name.c_str(), std::string(ortnative::dtype_name(v.dtype())).c_str(),
              shape.c_str());
  const std::size_t n = std::min<std::size_t>(v.element_count(), 5);
  if (v.dtype() == DType::kFloat32) {
    const float* p = static_cast<const float*>(v.data());
    std::printf(" [");
    for (std::size_t i = 0; i < n; ++i) std::printf("%s%.6g", i ? ", " : "", p[i]);
    std::printf("%s]", v.element_count() > n ? ", ..." : "");
  } else if (v.dtype() == DType::kInt64) {
    const int64_t* p = static_cast<const int64_t*>(v.data());
    std::printf(" [");
    for (std::size_t i = 0; i < n; ++i) std::printf("%s%lld", i ? ", " : "", static_cast<long long>(p[i]));
    std::printf("%s]", v.element_count() > n ? ", ..." : "");
  } else if (v.dtype() == DType::kString) {
    auto s = v.strings();
    std::printf(" [");
    for (std::size_t i = 0; i < n; ++i) std::printf("%s\"%s\"", i ? ", " : "", s[i].c_str());
    std::printf("%s]", v.element_count() > n ? ", ..." : "");
  }
  std::printf("\n");
}

int usage() {
  std::fprintf(stderr, "usage: ortnative-run MODEL [--bench N] [--threads T] [--ort-library PATH]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, library;
  int bench = 0, threads = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--bench" || a == "--threads" || a == "--ort-library") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--ort-library") {
        library = v;
      } else {
        char* end = nullptr;
        long n = std::strtol(v.c_str(), &end, 10);
        if (*end != '\0' || n < 0) return usage();
        (a == "--bench" ? bench : threads) = static_cast<int>(n);
      }
    } else if (model.empty() && a.rfind("--", 0) != 0) {
      model = a;
    } else {
      return usage();
    }
  }
  if (model.empty()) return usage();
  try {
    // The host decides which libonnxruntime: an explicit path, else
    // $ORTNATIVE_ORT_LIBRARY, else the system's.
    const auto& rt = library.empty() ? ortnative::load_runtime()
                                     : ortnative::load_runtime({library});
    std::printf("ONNX Runtime %s (%s)\n", rt.version.c_str(), rt.library_path.c_str());
    ortnative::SessionOptions opts;
    opts.intra_op_threads = threads;
    ortnative::Session s = ortnative::Session::from_file(model, opts);
    std::vector<Buffer> buffers;
    std::vector<std::pair<std::string, ortnative::TensorView>> feeds;
    buffers.reserve(s.inputs().size());
    for (const auto& info : s.inputs()) {
      if (info.kind != ortnative::ValueInfo::Kind::kTensor) {
        std::fprintf(stderr, "ortnative-run: input '%s' is not a tensor; not supported here\n",
                     info.name.c_str());
        return 1;
      }
      buffers.push_back(make_input(info));
      feeds.emplace_back(info.name, buffers.back().view);
    }
    std::vector<ortnative::Value> out = s.run(feeds);
    for (std::size_t k = 0; k < out.size(); ++k) print_value(s.outputs()[k].name, out[k]);
    if (bench > 0) {
      std::vector<double> us(static_cast<std::size_t>(bench));
      for (int i = 0; i < bench; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = s.run(feeds);
        auto t1 = std::chrono::steady_clock::now();
        us[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::micro>(t1 - t0).count();
      }
      std::sort(us.begin(), us.end());
      auto at = [&](double q) { return us[static_cast<std::size_t>(q * (us.size() - 1))]; };
      std::printf("bench: %d runs, median %.2f us, p99 %.2f us\n", bench, at(0.5), at(0.99));
    }
  } catch (const ortnative::Error& e) {
    std::fprintf(stderr, "ortnative-run: %s: %s\n", ortnative::error_code_name(e.code()), e.what());
    return 1;
  }
  return 0;
}
