// ImagePreprocessor without Python: reference values computed here from the documented
// formulas, the AVX2 and portable kernels agreeing bit for bit, threads, strided input
// and output views, letterbox geometry, concurrency, and every error.
#include <algorithm>
#include <array>
#include <barrier>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "check.hpp"
#include "ortnative/ortnative.hpp"

using namespace ortnative;

namespace {

struct Image {
  int64_t h, w, c;
  std::vector<uint8_t> px;
  ImageView view() const { return ImageView::dense(px.data(), h, w, c); }
  uint8_t at(int64_t y, int64_t x, int64_t ch) const {
    return px[static_cast<std::size_t>((y * w + x) * c + ch)];
  }
};

Image random_image(int64_t h, int64_t w, int64_t c, unsigned seed) {
  std::mt19937 rng(seed);
  Image im{h, w, c, std::vector<uint8_t>(static_cast<std::size_t>(h * w * c))};
  for (auto& v : im.px) v = static_cast<uint8_t>(rng() & 0xFF);
  return im;
}

template <class T>
std::vector<T> run(const ImagePreprocessor& p, std::span<const ImageView> images,
                   std::vector<Transform>* transforms = nullptr) {
  const auto shape = p.output_shape(static_cast<int64_t>(images.size()));
  std::vector<T> out(static_cast<std::size_t>(shape[0] * shape[1] * shape[2] * shape[3]));
  std::vector<Transform> t(images.size());
  p.run(images, PreprocessOutput::dense(out.data(), p.options().dtype, shape), t);
  if (transforms) *transforms = t;
  return out;
}

// The output as raw bytes, whatever its dtype.
std::vector<uint8_t> run_bytes(const ImagePreprocessor& p, const ImageView& v) {
  const auto shape = p.output_shape(1);
  const auto n = static_cast<std::size_t>(shape[1] * shape[2] * shape[3]);
  std::vector<uint8_t> out(n * dtype_itemsize(p.options().dtype));
  p.run({&v, 1}, PreprocessOutput::dense(out.data(), p.options().dtype, shape));
  return out;
}

template <class T>
std::vector<T> run1(const ImagePreprocessor& p, const Image& im) {
  const ImageView v = im.view();
  return run<T>(p, {&v, 1});
}

PreprocessOptions raw(int64_t h, int64_t w, ResizeMode mode) {
  PreprocessOptions o;
  o.height = h;
  o.width = w;
  o.resize = mode;
  o.scale = 1.0;
  o.output_order = ColorOrder::kBGR;
  return o;
}

// The SIMD switch restored at scope exit.
struct SimdScope {
  bool old;
  explicit SimdScope(bool on) : old(detail::set_preprocess_simd(on)) {}
  ~SimdScope() { detail::set_preprocess_simd(old); }
};

}  // namespace

TEST_CASE("options are checked") {
  PreprocessOptions o;
  o.height = 0;
  CHECK_THROWS(ImagePreprocessor{o}, InvalidArgumentError, "size must be a positive int");
  o = {};
  o.std = {1.0, 0.0, 1.0};
  CHECK_THROWS(ImagePreprocessor{o}, InvalidArgumentError,
               "std must be non-zero, got 0 for output channel 1");
  o = {};
  o.mean = {0.0, std::nan(""), 0.0};
  CHECK_THROWS(ImagePreprocessor{o}, InvalidArgumentError, "mean must be finite, got nan");
  o = {};
  o.scale = INFINITY;
  CHECK_THROWS(ImagePreprocessor{o}, InvalidArgumentError,
               "scale must be a finite number, got inf");
  o = {};
  o.dtype = DType::kInt8;
  CHECK_THROWS(ImagePreprocessor{o}, InvalidArgumentError,
               "dtype must be one of 'float32', 'float16', 'uint8', got 'int8'");
  o = {};
  o.output_order = ColorOrder::kBGRA;
  CHECK_THROWS(ImagePreprocessor{o}, InvalidArgumentError, "output_order must be one of");
  o = {};
  o.threads = -1;
  CHECK_THROWS(ImagePreprocessor{o}, InvalidArgumentError, "threads must be an int >= 0");
  o = {};
  o.output_order = ColorOrder::kGray;
  o.std = {2.0, 0.0, 0.0};  // only the first channel matters for gray output
  ImagePreprocessor gray(o);
  CHECK(gray.output_channels() == 1);
  CHECK((gray.output_shape(2) == std::array<int64_t, 4>{2, 1, 224, 224}));
}

TEST_CASE("nearest: the floor(dst * src / dst_size) pixel, exactly") {
  for (auto [sh, sw, dh, dw] : {std::array<int64_t, 4>{37, 53, 16, 24}, {5, 7, 31, 29},
                                {1, 1, 4, 3}, {100, 3, 7, 11}}) {
    const Image im = random_image(sh, sw, 3, 1);
    const ImagePreprocessor p(raw(dh, dw, ResizeMode::kNearest));
    const auto out = run1<float>(p, im);
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t y = 0; y < dh; ++y) {
        for (int64_t x = 0; x < dw; ++x) {
          const double ify = 1.0 / (static_cast<double>(dh) / static_cast<double>(sh));
          const double ifx = 1.0 / (static_cast<double>(dw) / static_cast<double>(sw));
          const auto fy = std::floor(static_cast<double>(y) * ify);
          const auto fx = std::floor(static_cast<double>(x) * ifx);
          const int64_t sy = std::min(static_cast<int64_t>(fy), sh - 1);
          const int64_t sx = std::min(static_cast<int64_t>(fx), sw - 1);
          CHECK(out[static_cast<std::size_t>((c * dh + y) * dw + x)] == im.at(sy, sx, c));
        }
      }
    }
  }
}

TEST_CASE("bilinear: same size is the identity; constant stays constant; 2x down averages") {
  const Image im = random_image(9, 13, 3, 2);
  const auto same = run1<float>(ImagePreprocessor(raw(9, 13, ResizeMode::kBilinear)), im);
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < 9; ++y) {
      for (int64_t x = 0; x < 13; ++x) {
        CHECK(same[static_cast<std::size_t>((c * 9 + y) * 13 + x)] == im.at(y, x, c));
      }
    }
  }
  Image flat{40, 50, 1, std::vector<uint8_t>(2000, 77)};
  PreprocessOptions o = raw(17, 91, ResizeMode::kBilinear);
  o.input_order = ColorOrder::kGray;
  for (float v : run1<float>(ImagePreprocessor(o), flat)) CHECK(v == 77.0f);
  o.resize = ResizeMode::kArea;
  for (float v : run1<float>(ImagePreprocessor(o), flat)) CHECK(std::fabs(v - 77.0f) < 1e-3f);
  // Exactly half: each output is the mean of a 2x2 block (weights 1/2, 1/2).
  const Image big = random_image(8, 10, 3, 3);
  const auto half = run1<float>(ImagePreprocessor(raw(4, 5, ResizeMode::kBilinear)), big);
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < 4; ++y) {
      for (int64_t x = 0; x < 5; ++x) {
        const int sum = big.at(2 * y, 2 * x, c) + big.at(2 * y, 2 * x + 1, c) +
                        big.at(2 * y + 1, 2 * x, c) + big.at(2 * y + 1, 2 * x + 1, c);
        const float want = static_cast<float>(sum) / 4.0f;
        CHECK(std::fabs(half[static_cast<std::size_t>((c * 4 + y) * 5 + x)] - want) < 1e-3f);
      }
    }
  }
}

TEST_CASE("values, colour order and layouts follow the documented formula") {
  const Image im = random_image(30, 40, 3, 4);
  PreprocessOptions o = raw(12, 16, ResizeMode::kNearest);
  const auto base = run1<float>(ImagePreprocessor(o), im);  // BGR planes, raw values
  o.output_order = ColorOrder::kRGB;
  o.scale = 1.0 / 255.0;
  o.mean = {0.485, 0.456, 0.406};
  o.std = {0.229, 0.224, 0.225};
  o.layout = Layout::kNHWC;
  const ImagePreprocessor p(o);
  const auto out = run1<float>(p, im);
  for (int64_t c = 0; c < 3; ++c) {
    const auto i = static_cast<std::size_t>(c);
    const auto a = static_cast<float>(o.scale / o.std[i]);
    const auto b = static_cast<float>(-o.mean[i] / o.std[i]);
    CHECK(p.value_scale()[i] == a);
    CHECK(p.value_offset()[i] == b);
    for (int64_t k = 0; k < 12 * 16; ++k) {
      const float v = base[static_cast<std::size_t>((2 - c) * 192 + k)];  // RGB from BGR
      CHECK(out[static_cast<std::size_t>(k * 3 + c)] == v * a + b);
    }
  }
  // uint8 and float16 outputs: rounded to nearest even (and saturated).
  o = raw(12, 16, ResizeMode::kNearest);
  o.scale = 1.5;
  o.dtype = DType::kUInt8;
  const auto u8 = run1<uint8_t>(ImagePreprocessor(o), im);
  o.dtype = DType::kFloat16;
  const auto f16 = run1<uint16_t>(ImagePreprocessor(o), im);
  for (std::size_t i = 0; i < base.size(); ++i) {
    const float v = base[i] * 1.5f;
    CHECK(u8[i] == static_cast<uint8_t>(std::nearbyint(std::min(v, 255.0f))));
    // float16 has 11 significant bits: exact below 2048 for multiples of 0.5.
    uint16_t want;
    {
      const float h = v;  // representable exactly in half (v = k * 1.5, k < 256)
      uint32_t bits;
      std::memcpy(&bits, &h, 4);
      const int e = static_cast<int>((bits >> 23) & 0xFF) - 127 + 15;
      want = v == 0.0f ? 0
                       : static_cast<uint16_t>((e << 10) | ((bits >> 13) & 0x3FF));
    }
    CHECK(f16[i] == want);
  }
}

TEST_CASE("gray: replicated to three channels; colour to gray by BT.601 weights") {
  const Image gray = random_image(20, 20, 1, 5);
  PreprocessOptions o = raw(10, 10, ResizeMode::kNearest);
  o.input_order = ColorOrder::kGray;
  const auto rgb = run1<float>(ImagePreprocessor(o), gray);
  for (int64_t i = 0; i < 100; ++i) {
    CHECK(rgb[static_cast<std::size_t>(i)] == rgb[static_cast<std::size_t>(100 + i)]);
    CHECK(rgb[static_cast<std::size_t>(i)] == rgb[static_cast<std::size_t>(200 + i)]);
  }
  const Image bgr = random_image(20, 20, 3, 6);
  o = raw(10, 10, ResizeMode::kNearest);
  o.output_order = ColorOrder::kGray;
  const auto g = run1<float>(ImagePreprocessor(o), bgr);
  const auto planes = run1<float>(ImagePreprocessor(raw(10, 10, ResizeMode::kNearest)), bgr);
  for (std::size_t i = 0; i < 100; ++i) {
    const float want = (planes[i] * 0.114f + planes[100 + i] * 0.587f) + planes[200 + i] * 0.299f;
    CHECK(g[i] == want);
  }
}

TEST_CASE("letterbox: YOLO geometry, padding, and the inverse transform") {
  PreprocessOptions o;
  o.height = o.width = 640;
  o.fit = FitMode::kLetterbox;
  const ImagePreprocessor p(o);
  Transform t = p.geometry(1080, 1920);
  CHECK(t.resized_width == 640 && t.resized_height == 360);
  CHECK(t.left == 0 && t.top == 140);
  CHECK(t.visible_height == 360);
  CHECK(std::fabs(t.scale_x - 1.0 / 3.0) < 1e-12 && t.offset_y == 140.0);
  t = p.geometry(333, 500);  // 640 x 426.24 -> 426; 214 rows of padding, 107 on top
  CHECK(t.resized_width == 640 && t.resized_height == 426 && t.top == 107);
  o.align = Align::kTopLeft;
  CHECK(ImagePreprocessor(o).geometry(333, 500).top == 0);
  // Padding rows get pad_value through the value step.
  o = raw(8, 8, ResizeMode::kBilinear);
  o.fit = FitMode::kLetterbox;
  o.pad_value = {1.0, 2.0, 3.0};
  const Image im = random_image(2, 8, 3, 7);
  const auto out = run1<float>(ImagePreprocessor(o), im);
  // 8x2 -> 8x2 at rows 3..4; rows 0..2 and 5..7 are padding.
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t y : {0, 1, 2, 5, 6, 7}) {
      for (int64_t x = 0; x < 8; ++x) {
        CHECK(out[static_cast<std::size_t>((c * 8 + y) * 8 + x)] == static_cast<float>(c + 1));
      }
    }
    CHECK(out[static_cast<std::size_t>((c * 8 + 3) * 8)] == im.at(0, 0, c));
  }
}

TEST_CASE("center_crop: the shorter side fills, the rest is cropped evenly") {
  PreprocessOptions o;
  o.fit = FitMode::kCenterCrop;
  const Transform t = ImagePreprocessor(o).geometry(480, 640);
  CHECK(t.resized_height == 224 && t.resized_width == 299);
  CHECK(t.crop_x == 37 && t.crop_y == 0 && t.offset_x == -37.0);
  CHECK(t.visible_width == 224 && t.left == 0);
}

TEST_CASE("AVX2 and portable kernels agree bit for bit") {
  if (!detail::preprocess_simd_active()) {
    std::printf("      (no AVX2 here: both runs use the portable kernels)\n");
  }
  const std::array<int64_t, 4> sizes[] = {{1080, 1920, 224, 224}, {37, 61, 97, 33},
                                          {1, 1, 9, 9},           {5, 300, 3, 40},
                                          {480, 640, 640, 640},   {2, 2, 1, 1}};
  unsigned seed = 10;
  for (const auto& s : sizes) {
    for (int64_t c : {1, 3, 4}) {
      const Image im = random_image(s[0], s[1], c, seed++);
      for (ResizeMode m : {ResizeMode::kNearest, ResizeMode::kBilinear, ResizeMode::kArea}) {
        for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kUInt8}) {
          PreprocessOptions o;
          o.height = s[2];
          o.width = s[3];
          o.resize = m;
          o.dtype = dt;
          o.input_order = c == 1   ? ColorOrder::kGray
                          : c == 3 ? ColorOrder::kBGR
                                   : ColorOrder::kRGBA;
          o.output_order = seed % 3 == 0 ? ColorOrder::kGray : ColorOrder::kRGB;
          o.fit = seed % 2 ? FitMode::kLetterbox : FitMode::kStretch;
          o.layout = seed % 4 < 2 ? Layout::kNCHW : Layout::kNHWC;
          o.mean = {0.5, 0.4, 0.3};
          o.std = {0.2, 0.3, 0.4};
          const ImagePreprocessor p(o);
          std::vector<uint8_t> a, b;
          {
            SimdScope on(true);
            a = run_bytes(p, im.view());
          }
          {
            SimdScope off(false);
            b = run_bytes(p, im.view());
          }
          CHECK(a == b);
        }
      }
    }
  }
}

TEST_CASE("strided views: crops and flipped rows are read in place") {
  const Image frame = random_image(60, 80, 3, 20);
  // A crop frame[10:50, 20:70] as a view with the frame's row stride.
  ImageView crop;
  crop.data = frame.px.data() + (10 * 80 + 20) * 3;
  crop.height = 40;
  crop.width = 50;
  crop.channels = 3;
  crop.row_stride = 80 * 3;
  Image dense{40, 50, 3, {}};
  for (int64_t y = 0; y < 40; ++y) {
    const uint8_t* row = frame.px.data() + ((10 + y) * 80 + 20) * 3;
    dense.px.insert(dense.px.end(), row, row + 150);
  }
  for (ResizeMode m : {ResizeMode::kNearest, ResizeMode::kBilinear, ResizeMode::kArea}) {
    PreprocessOptions o = raw(23, 31, m);
    const ImagePreprocessor p(o);
    CHECK(run<float>(p, {&crop, 1}) == run1<float>(p, dense));
  }
  // Upside down: the last row first, a negative stride.
  ImageView flipped = frame.view();
  flipped.data = frame.px.data() + 59 * 240;
  flipped.row_stride = -240;
  Image flipped_copy{60, 80, 3, {}};
  for (int64_t y = 59; y >= 0; --y) {
    flipped_copy.px.insert(flipped_copy.px.end(), frame.px.begin() + y * 240,
                           frame.px.begin() + (y + 1) * 240);
  }
  const ImagePreprocessor p(raw(33, 17, ResizeMode::kBilinear));
  CHECK(run<float>(p, {&flipped, 1}) == run1<float>(p, flipped_copy));
}

TEST_CASE("out: a strided slice of a bigger tensor; nothing outside it is touched") {
  const Image im = random_image(50, 70, 3, 30);
  PreprocessOptions o = raw(8, 6, ResizeMode::kBilinear);
  o.layout = Layout::kNHWC;
  const ImagePreprocessor p(o);
  const auto want = run1<float>(p, im);
  // out is big[1, 2:10, 3:9, :] of big = float[3, 12, 10, 3].
  std::vector<float> big(3 * 12 * 10 * 3, -7.0f);
  PreprocessOutput out;
  out.data = big.data() + ((1 * 12 + 2) * 10 + 3) * 3;
  out.dtype = DType::kFloat32;
  out.shape = {1, 8, 6, 3};
  out.strides = {12 * 10 * 3, 10 * 3, 3, 1};
  const ImageView v = im.view();
  p.run({&v, 1}, out);
  std::size_t written = 0;
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t y = 0; y < 12; ++y) {
      for (int64_t x = 0; x < 10; ++x) {
        for (int64_t c = 0; c < 3; ++c) {
          const float got = big[static_cast<std::size_t>(((n * 12 + y) * 10 + x) * 3 + c)];
          const bool inside = n == 1 && y >= 2 && y < 10 && x >= 3 && x < 9;
          if (!inside) {
            CHECK(got == -7.0f);
          } else {
            CHECK(got == want[static_cast<std::size_t>(((y - 2) * 6 + (x - 3)) * 3 + c)]);
            ++written;
          }
        }
      }
    }
  }
  CHECK(written == want.size());
}

TEST_CASE("batches: images of different sizes; threads change nothing") {
  std::vector<Image> imgs;
  for (int i = 0; i < 7; ++i) {
    imgs.push_back(random_image(20 + 13 * i, 90 - 9 * i, 3, 40u + static_cast<unsigned>(i)));
  }
  std::vector<ImageView> views;
  for (const Image& im : imgs) views.push_back(im.view());
  PreprocessOptions o;
  o.height = 96;
  o.width = 128;
  o.fit = FitMode::kLetterbox;
  o.threads = 1;
  const auto one = run<float>(ImagePreprocessor(o), views);
  for (int t : {2, 3, 0}) {
    o.threads = t;
    CHECK(run<float>(ImagePreprocessor(o), views) == one);
  }
  // Image i of the batch equals image i alone.
  o.threads = 1;
  const ImagePreprocessor p(o);
  const std::size_t per = 3 * 96 * 128;
  for (std::size_t i = 0; i < imgs.size(); ++i) {
    const auto alone = run1<float>(p, imgs[i]);
    const auto at = one.begin() + static_cast<std::ptrdiff_t>(i * per);
    CHECK(std::equal(alone.begin(), alone.end(), at));
  }
  // One big image split in row bands.
  const Image big = random_image(1080, 1920, 3, 50);
  o = {};
  o.height = o.width = 640;
  o.fit = FitMode::kLetterbox;
  o.threads = 1;
  const auto serial = run1<float>(ImagePreprocessor(o), big);
  o.threads = 4;
  CHECK(run1<float>(ImagePreprocessor(o), big) == serial);
}

TEST_CASE("concurrent run() calls on one preprocessor match serial ones") {
  PreprocessOptions o;
  o.threads = 2;
  const ImagePreprocessor p(o);
  std::vector<Image> imgs;
  std::vector<std::vector<float>> want;
  for (int i = 0; i < 6; ++i) {
    imgs.push_back(random_image(100 + 50 * i, 300 - 30 * i, 3, 60u + static_cast<unsigned>(i)));
    want.push_back(run1<float>(p, imgs.back()));
  }
  std::barrier sync(6);
  std::vector<int> ok(6, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      sync.arrive_and_wait();
      const auto k = static_cast<std::size_t>(i);
      bool same = true;
      for (int r = 0; r < 20; ++r) same = same && run1<float>(p, imgs[k]) == want[k];
      ok[k] = same ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  for (int v : ok) CHECK(v == 1);
}

TEST_CASE("bad input: typed errors naming what was wrong; out untouched") {
  const ImagePreprocessor p{PreprocessOptions{}};
  std::vector<float> out(3 * 224 * 224, -1.0f);
  const auto dense = PreprocessOutput::dense(out.data(), DType::kFloat32, {1, 3, 224, 224});
  const Image rgba = random_image(10, 10, 4, 70);
  ImageView v = rgba.view();
  CHECK_THROWS(p.run({&v, 1}, dense), InvalidInputError,
               "image 0 has 4 channels (shape (10, 10, 4)), expected 3 for input_order 'bgr'");
  CHECK(out[0] == -1.0f);
  v = ImageView::dense(rgba.px.data(), 0, 10, 3);
  CHECK_THROWS(p.run({&v, 1}, dense), InvalidInputError, "image 0 is empty (shape (0, 10, 3))");
  v = ImageView::dense(rgba.px.data(), 10, 10, 3);
  v.dtype = DType::kFloat32;
  CHECK_THROWS(p.run({&v, 1}, dense), InvalidTypeError,
               "image 0 has dtype float32, expected uint8");
  v.dtype = DType::kUInt8;
  CHECK_THROWS(p.run({}, dense), InvalidInputError, "no images given");
  auto wrong = dense;
  wrong.shape = {1, 3, 224, 225};
  CHECK_THROWS(p.run({&v, 1}, wrong), InvalidInputError,
               "out has shape (1, 3, 224, 225), expected (1, 3, 224, 224) "
               "(N, C, H, W for 1 image)");
  wrong = dense;
  wrong.dtype = DType::kFloat16;
  CHECK_THROWS(p.run({&v, 1}, wrong), InvalidTypeError,
               "out has dtype float16, expected float32 (the preprocessor's dtype)");
  wrong = dense;
  wrong.strides[3] = 2;
  CHECK_THROWS(p.run({&v, 1}, wrong), InvalidInputError, "contiguous last dimension");
  CHECK(std::all_of(out.begin(), out.end(), [](float f) { return f == -1.0f; }));
  p.run({&v, 1}, dense);  // the preprocessor still works
  CHECK(out[0] != -1.0f);
}

int main() { return ortnative::test::run_all(); }
