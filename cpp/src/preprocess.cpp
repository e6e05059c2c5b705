// ImagePreprocessor: options, checks, geometry, the per-axis tables, and the row loop
// that drives the kernels (preprocess_kernels.hpp). See preprocess.hpp for the
// semantics; python/ortnative/_fallback_preprocess.py mirrors every formula here
// (same double and float operations, in the same order) so both backends agree bit for
// bit.
#include "ortnative/preprocess.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "messages.hpp"
#include "names.hpp"
#include "ortnative/error.hpp"
#include "ortnative/small_array.hpp"
#include "parallel.hpp"
#include "preprocess_kernels.hpp"

#if defined(__linux__)
#include <sched.h>
#endif

namespace ortnative {

using detail::pre::kAlphaOne;
using detail::pre::Kernels;

// --- names ------------------------------------------------------------------------------

std::string_view color_order_name(ColorOrder o) noexcept {
  switch (o) {
    case ColorOrder::kBGR: return "bgr";
    case ColorOrder::kRGB: return "rgb";
    case ColorOrder::kBGRA: return "bgra";
    case ColorOrder::kRGBA: return "rgba";
    case ColorOrder::kGray: return "gray";
  }
  return "?";
}

std::string_view resize_mode_name(ResizeMode m) noexcept {
  switch (m) {
    case ResizeMode::kNearest: return "nearest";
    case ResizeMode::kBilinear: return "bilinear";
    case ResizeMode::kArea: return "area";
  }
  return "?";
}

std::string_view fit_mode_name(FitMode f) noexcept {
  switch (f) {
    case FitMode::kStretch: return "stretch";
    case FitMode::kLetterbox: return "letterbox";
    case FitMode::kCenterCrop: return "center_crop";
  }
  return "?";
}

std::string_view align_name(Align a) noexcept {
  return a == Align::kCenter ? "center" : "top_left";
}

std::string_view layout_name(Layout l) noexcept {
  return l == Layout::kNCHW ? "nchw" : "nhwc";
}

ColorOrder color_order_from_name(std::string_view name, std::string_view what) {
  static constexpr ColorOrder kAll[] = {ColorOrder::kBGR, ColorOrder::kRGB, ColorOrder::kBGRA,
                                        ColorOrder::kRGBA, ColorOrder::kGray};
  return detail::from_name(what, name, kAll, color_order_name);
}

ResizeMode resize_mode_from_name(std::string_view name) {
  static constexpr ResizeMode kAll[] = {ResizeMode::kNearest, ResizeMode::kBilinear,
                                        ResizeMode::kArea};
  return detail::from_name("resize", name, kAll, resize_mode_name);
}

FitMode fit_mode_from_name(std::string_view name) {
  static constexpr FitMode kAll[] = {FitMode::kStretch, FitMode::kLetterbox, FitMode::kCenterCrop};
  return detail::from_name("fit", name, kAll, fit_mode_name);
}

Align align_from_name(std::string_view name) {
  static constexpr Align kAll[] = {Align::kCenter, Align::kTopLeft};
  return detail::from_name("align", name, kAll, align_name);
}

Layout layout_from_name(std::string_view name) {
  static constexpr Layout kAll[] = {Layout::kNCHW, Layout::kNHWC};
  return detail::from_name("layout", name, kAll, layout_name);
}

int color_order_channels(ColorOrder o) noexcept {
  switch (o) {
    case ColorOrder::kBGR:
    case ColorOrder::kRGB: return 3;
    case ColorOrder::kBGRA:
    case ColorOrder::kRGBA: return 4;
    case ColorOrder::kGray: return 1;
  }
  return 0;
}

int available_cores() noexcept {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

PreprocessOutput PreprocessOutput::dense(void* data, DType dtype,
                                         const std::array<int64_t, 4>& shape) {
  PreprocessOutput o;
  o.data = data;
  o.dtype = dtype;
  o.shape = shape;
  o.strides = {shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1};
  return o;
}

namespace {

const Kernels& active_kernels();

}  // namespace

// --- options --------------------------------------------------------------------------

ImagePreprocessor::ImagePreprocessor(const PreprocessOptions& options) : options_(options) {
  const PreprocessOptions& o = options_;
  if (o.height <= 0 || o.width <= 0) {
    throw InvalidArgumentError(
        "size must be a positive int or a (height, width) pair of positive ints, got (" +
        std::to_string(o.height) + ", " + std::to_string(o.width) + ")");
  }
  if (o.output_order != ColorOrder::kRGB && o.output_order != ColorOrder::kBGR &&
      o.output_order != ColorOrder::kGray) {
    throw InvalidArgumentError("output_order must be one of 'rgb', 'bgr', 'gray', got '" +
                               std::string(color_order_name(o.output_order)) + "'");
  }
  if (o.dtype != DType::kFloat32 && o.dtype != DType::kFloat16 && o.dtype != DType::kUInt8) {
    throw InvalidArgumentError("dtype must be one of 'float32', 'float16', 'uint8', got '" +
                               std::string(dtype_name(o.dtype)) + "'");
  }
  if (o.threads < 0) {
    throw InvalidArgumentError("threads must be an int >= 0, got " + std::to_string(o.threads));
  }
  out_channels_ = o.output_order == ColorOrder::kGray ? 1 : 3;
  if (!std::isfinite(o.scale)) {
    throw InvalidArgumentError("scale must be a finite number, got " + msg::number(o.scale));
  }
  for (int64_t c = 0; c < out_channels_; ++c) {
    const auto i = static_cast<std::size_t>(c);
    const std::pair<const char*, double> values[] = {
        {"mean", o.mean[i]}, {"std", o.std[i]}, {"pad_value", o.pad_value[i]}};
    for (const auto& [name, v] : values) {
      if (!std::isfinite(v)) {
        throw InvalidArgumentError(std::string(name) + " must be finite, got " + msg::number(v) +
                                   " for output channel " + std::to_string(c));
      }
    }
    if (o.std[i] == 0.0) {
      throw InvalidArgumentError("std must be non-zero, got 0 for output channel " +
                                 std::to_string(c));
    }
    // Rounded to float once, from double: numpy.float32(scale / std) in the fallback.
    a_[i] = static_cast<float>(o.scale / o.std[i]);
    b_[i] = static_cast<float>(-o.mean[i] / o.std[i]);
    if (!std::isfinite(a_[i]) || !std::isfinite(b_[i])) {
      throw InvalidArgumentError("scale / std and mean / std must fit in float32, got " +
                                 msg::number(static_cast<double>(a_[i])) + " and " +
                                 msg::number(static_cast<double>(b_[i])) + " for output channel " +
                                 std::to_string(c));
    }
  }
}

std::array<int64_t, 4> ImagePreprocessor::output_shape(int64_t n) const noexcept {
  if (options_.layout == Layout::kNCHW) return {n, out_channels_, options_.height, options_.width};
  return {n, options_.height, options_.width, out_channels_};
}

Transform ImagePreprocessor::geometry(int64_t height, int64_t width) const noexcept {
  const int64_t H = options_.height, W = options_.width;
  Transform t;
  t.source_width = width;
  t.source_height = height;
  switch (options_.fit) {
    case FitMode::kStretch:
      t.resized_width = W;
      t.resized_height = H;
      break;
    case FitMode::kLetterbox: {
      // The usual YOLO letterbox: r = min(H / h, W / w), new size round(w * r) x
      // round(h * r) (Python's round: half to even, which nearbyint does in the
      // default rounding mode), the rest split with the odd pixel at the bottom/right.
      const double r = std::min(static_cast<double>(H) / static_cast<double>(height),
                                static_cast<double>(W) / static_cast<double>(width));
      t.resized_width = std::clamp<int64_t>(
          static_cast<int64_t>(std::nearbyint(static_cast<double>(width) * r)), 1, W);
      t.resized_height = std::clamp<int64_t>(
          static_cast<int64_t>(std::nearbyint(static_cast<double>(height) * r)), 1, H);
      if (options_.align == Align::kCenter) {
        t.left = (W - t.resized_width) / 2;
        t.top = (H - t.resized_height) / 2;
      }
      break;
    }
    case FitMode::kCenterCrop: {
      const double s = std::max(static_cast<double>(H) / static_cast<double>(height),
                                static_cast<double>(W) / static_cast<double>(width));
      const auto rw = static_cast<int64_t>(std::nearbyint(static_cast<double>(width) * s));
      const auto rh = static_cast<int64_t>(std::nearbyint(static_cast<double>(height) * s));
      t.resized_width = std::max(rw, W);
      t.resized_height = std::max(rh, H);
      t.crop_x = (t.resized_width - W) / 2;
      t.crop_y = (t.resized_height - H) / 2;
      break;
    }
  }
  t.visible_width = std::min(t.resized_width, W);
  t.visible_height = std::min(t.resized_height, H);
  t.scale_x = static_cast<double>(t.resized_width) / static_cast<double>(width);
  t.scale_y = static_cast<double>(t.resized_height) / static_cast<double>(height);
  t.offset_x = static_cast<double>(t.left - t.crop_x);
  t.offset_y = static_cast<double>(t.top - t.crop_y);
  return t;
}

// --- checks -----------------------------------------------------------------------------

void ImagePreprocessor::fail_image_dtype(std::size_t index, std::string_view given) const {
  throw InvalidTypeError(msg::image_dtype(index, given));
}

void ImagePreprocessor::fail_image_shape(std::size_t index, std::span<const int64_t> shape) const {
  throw InvalidInputError(msg::image_shape(index, shape));
}

void ImagePreprocessor::fail_output_dtype(std::string_view given) const {
  throw InvalidTypeError(msg::preprocess_out_dtype(given, options_.dtype));
}

void ImagePreprocessor::fail_output_shape(std::span<const int64_t> shape, int64_t n) const {
  const std::array<int64_t, 4> want = output_shape(n);
  throw InvalidInputError(msg::preprocess_out_shape(shape, want, options_.layout, n));
}

void ImagePreprocessor::fail_output_layout() const {
  throw InvalidInputError(msg::preprocess_out_layout());
}

void ImagePreprocessor::check_image(const ImageView& im, std::size_t index) const {
  if (im.dtype != DType::kUInt8) fail_image_dtype(index, dtype_name(im.dtype));
  const int want = color_order_channels(options_.input_order);
  if (im.rank != 2 && im.rank != 3) {
    const int64_t dims[3] = {im.height, im.width, im.channels};
    fail_image_shape(index, {dims, static_cast<std::size_t>(std::clamp(im.rank, 0, 3))});
  }
  if (im.channels != want && !(want == 1 && im.channels == 1)) {
    throw InvalidInputError(msg::image_channels(index, im, want, options_.input_order));
  }
  if (im.height <= 0 || im.width <= 0) {
    throw InvalidInputError(msg::image_empty(index, im));
  }
  if (im.width * im.channels > std::numeric_limits<int32_t>::max() - 16) {
    throw InvalidInputError(msg::image_rows_too_long(index, im.width * im.channels));
  }
  if (im.data == nullptr) throw InvalidInputError(msg::image_no_data(index));
}

void ImagePreprocessor::check_output(const PreprocessOutput& out, int64_t n) const {
  if (out.dtype != options_.dtype) fail_output_dtype(dtype_name(out.dtype));
  if (out.shape != output_shape(n)) fail_output_shape(out.shape, n);
  if (out.strides[3] != 1 || out.data == nullptr || !out.writeable || !out.aligned ||
      !out.element_strides) {
    fail_output_layout();
  }
}

namespace detail {
namespace {
std::atomic<bool> g_simd{true};
}
bool set_preprocess_simd(bool enabled) noexcept {
  return g_simd.exchange(enabled);
}
bool preprocess_simd_active() noexcept {
  return g_simd.load(std::memory_order_relaxed) && pre::avx2_kernels() != nullptr;
}
}  // namespace detail

namespace {

const Kernels& active_kernels() {
  const Kernels* k = detail::preprocess_simd_active() ? detail::pre::avx2_kernels() : nullptr;
  return k ? *k : detail::pre::portable_kernels();
}

// --- per-axis tables (mirrored by the fallback) ----------------------------------------

// floor() for values well inside int64's range, without a libm call: truncate, then
// step down where truncation went up (negative non-integers). Exact, like std::floor.
template <class F>
int64_t floor_int(F v) {
  auto t = static_cast<int64_t>(v);
  return static_cast<F>(t) > v ? t - 1 : t;
}

// Bilinear taps for resized index DX: OpenCV's INTER_LINEAR coordinates (or INTER_AREA's
// when it enlarges, AREA_MODE). The right border is expressed as (len - 2, f = 1) rather
// than OpenCV's (len - 1, f = 0): the same value, and the second tap stays inside.
struct LinearTap {
  int64_t s0;
  int64_t s1;
  float f;
};

LinearTap linear_tap(int64_t dx, int64_t len, double scale, double inv, bool area_mode) {
  int64_t s;
  float f;
  if (!area_mode) {
    f = static_cast<float>((static_cast<double>(dx) + 0.5) * scale - 0.5);
    s = floor_int(f);
    f -= static_cast<float>(s);
  } else {
    s = floor_int(static_cast<double>(dx) * scale);
    f = static_cast<float>(static_cast<double>(dx + 1) - static_cast<double>(s + 1) * inv);
    f = f <= 0.0f ? 0.0f : f - static_cast<float>(floor_int(f));
  }
  if (s < 0) {
    s = 0;
    f = 0.0f;
  }
  if (s >= len - 1) {
    if (len >= 2) {
      s = len - 2;
      f = 1.0f;
    } else {
      s = 0;
      f = 0.0f;
    }
  }
  return {s, std::min(s + 1, len - 1), f};
}

// INTER_AREA taps (shrinking) for resized index DX: (source index, weight), appended.
void area_taps(int64_t dx, int64_t len, double scale, std::vector<int32_t>& idx,
               std::vector<float>& w) {
  const double fs1 = static_cast<double>(dx) * scale;
  const double fs2 = fs1 + scale;
  const double cell = std::min(scale, static_cast<double>(len) - fs1);
  auto s1 = static_cast<int64_t>(std::ceil(fs1));
  auto s2 = static_cast<int64_t>(std::floor(fs2));
  s2 = std::min(s2, len - 1);
  s1 = std::min(s1, s2);
  if (static_cast<double>(s1) - fs1 > 1e-3) {
    idx.push_back(static_cast<int32_t>(s1 - 1));
    w.push_back(static_cast<float>((static_cast<double>(s1) - fs1) / cell));
  }
  for (int64_t s = s1; s < s2; ++s) {
    idx.push_back(static_cast<int32_t>(s));
    w.push_back(static_cast<float>(1.0 / cell));
  }
  if (fs2 - static_cast<double>(s2) > 1e-3) {
    idx.push_back(static_cast<int32_t>(s2));
    w.push_back(
        static_cast<float>(std::min(std::min(fs2 - static_cast<double>(s2), 1.0), cell) / cell));
  }
}

int64_t nearest_tap(int64_t dx, int64_t len, double inv_scale) {
  return std::min(floor_int(static_cast<double>(dx) * inv_scale), len - 1);
}

// How an axis maps: OpenCV's scale (source / resized, as 1 / (resized / source)).
struct Axis {
  int64_t len;      // source length
  int64_t resized;  // resized length
  double inv;       // resized / source
  double scale;     // 1 / inv
};

Axis make_axis(int64_t len, int64_t resized) {
  Axis a{len, resized, static_cast<double>(resized) / static_cast<double>(len), 0.0};
  a.scale = 1.0 / a.inv;
  return a;
}

// --- the row loop -----------------------------------------------------------------------

// Per-thread scratch memory, kept between calls so a call allocates nothing once warm.
struct Scratch {
  std::vector<int32_t> ofs0, ofs1;
  std::vector<int16_t> alpha;
  std::vector<int32_t> hcache;    // 2 slots x channels x width
  std::vector<float> rows;        // output channels x output width (staging)
  std::vector<float> tmp;         // 3 x width (gray from colour)
  std::vector<float> acc;         // area: one vertically accumulated source row
  std::vector<uint16_t> typed16;  // NHWC float16: converted planes before interleaving
  std::vector<uint8_t> typed8;    // NHWC uint8: the same
  std::vector<int32_t> aidx;
  std::vector<float> aw;
  std::vector<int32_t> ytap_idx;  // area: one row's vertical taps (and column taps first)
  std::vector<float> ytap_w;
  std::vector<int64_t> starts;
};

thread_local Scratch t_scratch;

template <class T>
T* sized(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

class Job {
 public:
  Job(const ImagePreprocessor& pre, const ImageView& im, const Transform& g,
      const PreprocessOutput& out, int64_t index)
      : o_(pre.options()), im_(im), g_(g), out_(out), n_(index), k_(active_kernels()) {
    C_ = im.channels;
    out_c_ = pre.output_channels();
    a_ = pre.value_scale();
    b_ = pre.value_offset();
    // Source channel of each output channel (gray output from colour: all three).
    const bool bgr_in = o_.input_order == ColorOrder::kBGR || o_.input_order == ColorOrder::kBGRA;
    if (C_ == 1) {
      src_ch_ = {0, 0, 0};
      n_src_ = 1;
    } else {
      // Positions of B, G, R in the source pixel.
      const int64_t B = bgr_in ? 0 : 2, G = 1, R = bgr_in ? 2 : 0;
      bgr_pos_ = {B, G, R};
      if (o_.output_order == ColorOrder::kRGB) src_ch_ = {R, G, B};
      if (o_.output_order == ColorOrder::kBGR) src_ch_ = {B, G, R};
      if (o_.output_order == ColorOrder::kGray) src_ch_ = {B, G, R};
      n_src_ = 3;
    }
    gray_mix_ = C_ != 1 && o_.output_order == ColorOrder::kGray;
    for (std::size_t k = 0; k < 3; ++k) ch3_[k] = static_cast<int>(src_ch_[k]);
    // Pad pixels after step 4, per output channel.
    for (std::size_t c = 0; c < 3; ++c) {
      pad_[c] = static_cast<float>(o_.pad_value[c]) * a_[c] + b_[c];
    }
    es_ = static_cast<int64_t>(dtype_itemsize(o_.dtype));
    W_ = o_.width;
  }

  void rows(int64_t y_begin, int64_t y_end);

 private:
  // Output element (channel c, row y, column x) of image n_, as a byte pointer.
  char* at(int64_t c, int64_t y, int64_t x) const {
    const auto& s = out_.strides;
    int64_t e;
    if (o_.layout == Layout::kNCHW) {
      e = n_ * s[0] + c * s[1] + y * s[2] + x * s[3];
    } else {
      e = n_ * s[0] + y * s[1] + x * s[2] + c * s[3];
    }
    return static_cast<char*>(out_.data) + e * es_;
  }
  bool direct() const { return o_.layout == Layout::kNCHW && o_.dtype == DType::kFloat32; }
  const uint8_t* src_row(int64_t y) const { return im_.data + y * im_.row_stride; }

  void setup_columns();
  void pad_row(int64_t y);
  void image_row(int64_t y);
  // Resized values of source channel S for the current row, as v * a + b, into DST.
  void produce(int64_t s, float a, float b, float* dst);
  void prepare_linear_row(int64_t ry);
  bool fused_linear_row(int64_t ry, float* const* dst);
  void prepare_area_row(int64_t ry);
  void prepare_nearest_row(int64_t ry);
  void store(int64_t y, const float* const* planes);

  const PreprocessOptions& o_;
  const ImageView& im_;
  const Transform& g_;
  const PreprocessOutput& out_;
  int64_t n_;
  const Kernels& k_;
  Scratch& sc_ = t_scratch;

  int64_t C_ = 3, out_c_ = 3, n_src_ = 3, es_ = 4, W_ = 0;
  std::array<int64_t, 3> src_ch_{0, 1, 2};
  std::array<int64_t, 3> bgr_pos_{0, 1, 2};
  std::array<int, 3> ch3_{0, 1, 2};  // src_ch_ as the kernels take it
  bool gray_mix_ = false;
  std::array<float, 3> a_{}, b_{}, pad_{};
  ResizeMode mode_ = ResizeMode::kBilinear;
  bool area_mode_ = false;  // INTER_AREA enlarging an axis: bilinear with area weights
  Axis ax_{}, ay_{};
  int64_t vw_ = 0;
  std::ptrdiff_t fast_ = 0;  // leading columns the wide loads may read
  int32_t* hslot_[2] = {nullptr, nullptr};
  int64_t hrow_[2] = {-1, -1};
  int taps_ = 1;
  int64_t acc_lo_ = 0, acc_n_ = 0;
  // Current row.
  const uint8_t* row_nearest_ = nullptr;
  const int32_t* h0_ = nullptr;
  const int32_t* h1_ = nullptr;
  int64_t hstride_ = 0;
  float w0_ = 0, w1_ = 0;
};

void Job::setup_columns() {
  mode_ = o_.resize;
  ax_ = make_axis(im_.width, g_.resized_width);
  ay_ = make_axis(im_.height, g_.resized_height);
  if (mode_ == ResizeMode::kArea && !(ax_.scale >= 1.0 && ay_.scale >= 1.0)) {
    mode_ = ResizeMode::kBilinear;
    area_mode_ = true;
  }
  vw_ = g_.visible_width;
  const auto vw = static_cast<std::size_t>(vw_);
  const int64_t row_bytes = im_.width * C_;
  if (mode_ == ResizeMode::kNearest) {
    int32_t* ofs = sized(sc_.ofs0, vw);
    for (int64_t x = 0; x < vw_; ++x) {
      ofs[x] = static_cast<int32_t>(nearest_tap(g_.crop_x + x, ax_.len, ax_.scale) * C_);
    }
    // Columns whose pixel the vector kernels may read as 4 bytes.
    std::ptrdiff_t f = vw_;
    while (f > 0 && ofs[f - 1] + 3 > row_bytes - 1) --f;
    fast_ = f;
  } else if (mode_ == ResizeMode::kBilinear) {
    int32_t* ofs0 = sized(sc_.ofs0, vw);
    int32_t* ofs1 = sized(sc_.ofs1, vw);
    int16_t* alpha = sized(sc_.alpha, 2 * vw);
    for (int64_t x = 0; x < vw_; ++x) {
      const LinearTap t = linear_tap(g_.crop_x + x, ax_.len, ax_.scale, ax_.inv, area_mode_);
      ofs0[x] = static_cast<int32_t>(t.s0 * C_);
      ofs1[x] = static_cast<int32_t>(t.s1 * C_);
      const auto a1 = static_cast<int32_t>(std::nearbyint(t.f * static_cast<float>(kAlphaOne)));
      alpha[2 * x] = static_cast<int16_t>(kAlphaOne - a1);
      alpha[2 * x + 1] = static_cast<int16_t>(a1);
    }
    // Columns the vector kernels may read with wide loads: 4 bytes from the pixel
    // (gray), 8 bytes from the pixel (colour: both taps, every channel).
    const int64_t span = C_ == 1 ? 3 : 7;
    std::ptrdiff_t f = im_.width >= 2 ? vw_ : 0;
    while (f > 0 && ofs0[f - 1] + span > row_bytes - 1) --f;
    fast_ = f;
    hstride_ = vw_;
    int32_t* cache = sized(sc_.hcache, static_cast<std::size_t>(2 * n_src_) * vw);
    hslot_[0] = cache;
    hslot_[1] = cache + n_src_ * vw_;
    hrow_[0] = hrow_[1] = -1;
  } else {  // area, shrinking both axes
    // Taps per column, then laid out tap-major and padded with zero weights.
    std::vector<int32_t>& idx = sc_.ytap_idx;  // free until the first row needs them
    std::vector<float>& w = sc_.ytap_w;
    idx.clear();
    w.clear();
    std::vector<int64_t>& start = sc_.starts;
    start.assign(vw + 1, 0);
    for (int64_t x = 0; x < vw_; ++x) {
      start[static_cast<std::size_t>(x)] = static_cast<int64_t>(idx.size());
      area_taps(g_.crop_x + x, ax_.len, ax_.scale, idx, w);
    }
    start[vw] = static_cast<int64_t>(idx.size());
    taps_ = 1;
    for (std::size_t x = 0; x < vw; ++x) {
      taps_ = std::max(taps_, static_cast<int>(start[x + 1] - start[x]));
    }
    acc_lo_ = idx.front();
    acc_n_ = (idx.back() - acc_lo_ + 1) * C_;
    int32_t* ai = sized(sc_.aidx, static_cast<std::size_t>(taps_) * vw);
    float* aw = sized(sc_.aw, static_cast<std::size_t>(taps_) * vw);
    for (std::size_t x = 0; x < vw; ++x) {
      const auto first = static_cast<std::size_t>(start[x]);
      const auto count = static_cast<int>(start[x + 1] - start[x]);
      for (int j = 0; j < taps_; ++j) {
        const std::size_t o = static_cast<std::size_t>(j) * vw + x;
        const std::size_t from = first + static_cast<std::size_t>(j < count ? j : 0);
        ai[o] = static_cast<int32_t>((idx[from] - acc_lo_) * C_);
        aw[o] = j < count ? w[from] : 0.0f;
      }
    }
    sized(sc_.acc, static_cast<std::size_t>(acc_n_));
  }
  sized(sc_.tmp, 3 * vw);  // gray from colour: the three resized channels
}

void Job::prepare_nearest_row(int64_t ry) {
  row_nearest_ = src_row(nearest_tap(ry, ay_.len, ay_.scale));
}

void Job::prepare_linear_row(int64_t ry) {
  const LinearTap t = linear_tap(ry, ay_.len, ay_.scale, ay_.inv, area_mode_);
  const auto one = static_cast<float>(kAlphaOne);
  w0_ = (1.0f - t.f) / one;
  w1_ = t.f / one;
  const int64_t want[2] = {t.s0, t.s1};
  int slot[2] = {-1, -1};
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) {
      if (hrow_[j] == want[i]) slot[i] = j;
    }
  }
  if (slot[0] < 0 && slot[1] < 0 && want[0] != want[1] && C_ != 1) {
    // Neither row cached (shrinking): both in one pass over the tables.
    hrow_[0] = want[0];
    hrow_[1] = want[1];
    slot[0] = 0;
    slot[1] = 1;
    // Prefetch what the next output row reads (when it does not reuse these rows).
    const uint8_t* next0 = nullptr;
    const uint8_t* next1 = nullptr;
    if (ry + 1 < g_.crop_y + g_.visible_height) {
      const LinearTap n = linear_tap(ry + 1, ay_.len, ay_.scale, ay_.inv, area_mode_);
      if (n.s0 > want[1]) {
        next0 = src_row(n.s0);
        next1 = src_row(n.s1);
      }
    }
    k_.hlinear3x2(src_row(want[0]), src_row(want[1]), next0, next1, sc_.ofs0.data(),
                  sc_.ofs1.data(), sc_.alpha.data(), ch3_.data(), static_cast<int>(C_), hslot_[0],
                  hslot_[1], hstride_, vw_, fast_);
  }
  for (int i = 0; i < 2; ++i) {
    if (slot[i] >= 0) continue;
    const int other = slot[1 - i];
    const int use = other == 0 ? 1 : 0;
    hrow_[use] = want[i];
    slot[i] = use;
    if (want[1 - i] == want[i]) slot[1 - i] = use;
    const uint8_t* row = src_row(want[i]);
    if (C_ == 1) {
      k_.hlinear(row, sc_.ofs0.data(), sc_.ofs1.data(), sc_.alpha.data(), hslot_[use], vw_, fast_,
                 1);
    } else {
      k_.hlinear3(row, sc_.ofs0.data(), sc_.ofs1.data(), sc_.alpha.data(), ch3_.data(),
                  static_cast<int>(C_), hslot_[use], hstride_, vw_, fast_);
    }
  }
  h0_ = hslot_[slot[0]];
  h1_ = hslot_[slot[1]];
}

// Bilinear colour rows that no other output row reads (any shrink by 2x or more): both
// passes and the values in one kernel, nothing cached. False when the general path
// (prepare_linear_row + produce) must run instead.
bool Job::fused_linear_row(int64_t ry, float* const* dst) {
  if (C_ == 1 || gray_mix_) return false;
  const LinearTap t = linear_tap(ry, ay_.len, ay_.scale, ay_.inv, area_mode_);
  if (t.s0 == t.s1) return false;
  for (int64_t cached : hrow_) {
    if (cached == t.s0 || cached == t.s1) return false;
  }
  const uint8_t* next0 = nullptr;
  const uint8_t* next1 = nullptr;
  if (ry + 1 < g_.crop_y + g_.visible_height) {
    const LinearTap n = linear_tap(ry + 1, ay_.len, ay_.scale, ay_.inv, area_mode_);
    if (n.s0 <= t.s1) return false;  // the next row reuses a row: cache it
    next0 = src_row(n.s0);
    next1 = src_row(n.s1);
  }
  const auto one = static_cast<float>(kAlphaOne);
  k_.linear3(src_row(t.s0), src_row(t.s1), next0, next1, sc_.ofs0.data(), sc_.ofs1.data(),
             sc_.alpha.data(), ch3_.data(), static_cast<int>(C_), (1.0f - t.f) / one, t.f / one,
             a_.data(), b_.data(), dst, vw_, fast_);
  return true;
}

void Job::prepare_area_row(int64_t ry) {
  sc_.ytap_idx.clear();
  sc_.ytap_w.clear();
  area_taps(ry, ay_.len, ay_.scale, sc_.ytap_idx, sc_.ytap_w);
  float* acc = sc_.acc.data();
  for (std::size_t k = 0; k < sc_.ytap_idx.size(); ++k) {
    k_.vaccumulate(src_row(sc_.ytap_idx[k]) + acc_lo_ * C_, sc_.ytap_w[k], acc, acc_n_, k == 0);
  }
}

void Job::produce(int64_t s, float a, float b, float* dst) {
  if (mode_ == ResizeMode::kNearest) {
    // Gray sources only (colour goes through nearest3); a 4-byte load is safe where it
    // is for the pixel.
    k_.nearest(row_nearest_ + s, sc_.ofs0.data(), a, b, dst, vw_, fast_);
  } else if (mode_ == ResizeMode::kBilinear) {
    // The cached h rows hold the source channels in src_ch_ order (gray: one).
    int64_t k = 0;
    if (C_ != 1) {
      while (src_ch_[static_cast<std::size_t>(k)] != s) ++k;
    }
    k_.vlinear(h0_ + k * hstride_, h1_ + k * hstride_, w0_, w1_, a, b, dst, vw_);
  } else {
    k_.harea(sc_.acc.data() + s, sc_.aidx.data(), sc_.aw.data(), taps_, dst, vw_);
    if (a != 1.0f || b != 0.0f) k_.affine(dst, a, b, dst, vw_);
  }
}

void Job::image_row(int64_t y) {
  const int64_t ry = g_.crop_y + (y - g_.top);
  float* planes[3] = {nullptr, nullptr, nullptr};
  for (int64_t c = 0; c < out_c_; ++c) {
    planes[c] = direct() ? reinterpret_cast<float*>(at(c, y, 0)) : sc_.rows.data() + c * W_;
  }
  const int64_t left = g_.left;
  // The visible part of each plane (colour output only; gray output uses planes[0]).
  float* const dst3[3] = {planes[0] + left, out_c_ == 3 ? planes[1] + left : nullptr,
                          out_c_ == 3 ? planes[2] + left : nullptr};
  bool done = false;
  if (mode_ == ResizeMode::kNearest) prepare_nearest_row(ry);
  if (mode_ == ResizeMode::kBilinear) {
    done = fused_linear_row(ry, dst3);
    if (!done) prepare_linear_row(ry);
  }
  if (mode_ == ResizeMode::kArea) prepare_area_row(ry);
  if (done) {
    // written by fused_linear_row
  } else if (gray_mix_) {
    // 0.299 R + 0.587 G + 0.114 B on the resized values, then step 4.
    float* t = sc_.tmp.data();
    const std::ptrdiff_t vw = vw_;
    if (mode_ == ResizeMode::kNearest) {
      const float one[3] = {1.0f, 1.0f, 1.0f}, zero[3] = {0.0f, 0.0f, 0.0f};
      float* const tp[3] = {t, t + vw, t + 2 * vw};
      const int pos[3] = {static_cast<int>(bgr_pos_[0]), static_cast<int>(bgr_pos_[1]),
                          static_cast<int>(bgr_pos_[2])};
      k_.nearest3(row_nearest_, sc_.ofs0.data(), pos, one, zero, tp, vw_, fast_);
    } else {
      for (std::size_t i = 0; i < 3; ++i) produce(bgr_pos_[i], 1.0f, 0.0f, t + i * vw);
    }
    float* dst = planes[0] + left;
    const float a = a_[0], b = b_[0];
    for (std::ptrdiff_t x = 0; x < vw; ++x) {
      const float v = (t[x] * 0.114f + t[vw + x] * 0.587f) + t[2 * vw + x] * 0.299f;
      dst[x] = v * a + b;
    }
  } else if (mode_ == ResizeMode::kNearest && C_ != 1) {
    k_.nearest3(row_nearest_, sc_.ofs0.data(), ch3_.data(), a_.data(), b_.data(), dst3, vw_, fast_);
  } else {
    for (int64_t c = 0; c < out_c_; ++c) {
      const auto i = static_cast<std::size_t>(c);
      produce(src_ch_[i], a_[i], b_[i], planes[c] + left);
    }
  }
  // Letterbox columns.
  for (int64_t c = 0; c < out_c_; ++c) {
    const float p = pad_[static_cast<std::size_t>(c)];
    std::fill(planes[c], planes[c] + left, p);
    std::fill(planes[c] + left + vw_, planes[c] + W_, p);
  }
  if (!direct()) store(y, planes);
}

void Job::pad_row(int64_t y) {
  float* planes[3];
  for (int64_t c = 0; c < out_c_; ++c) {
    planes[c] = direct() ? reinterpret_cast<float*>(at(c, y, 0)) : sc_.rows.data() + c * W_;
    std::fill(planes[c], planes[c] + W_, pad_[static_cast<std::size_t>(c)]);
  }
  if (!direct()) store(y, planes);
}

// Converts one staged output row (planar float) to the output's dtype and layout.
void Job::store(int64_t y, const float* const* planes) {
  if (o_.layout == Layout::kNCHW) {
    for (int64_t c = 0; c < out_c_; ++c) {
      char* dst = at(c, y, 0);
      if (o_.dtype == DType::kFloat16) k_.to_f16(planes[c], reinterpret_cast<uint16_t*>(dst), W_);
      if (o_.dtype == DType::kUInt8) k_.to_u8(planes[c], reinterpret_cast<uint8_t*>(dst), W_);
    }
    return;
  }
  // NHWC. Packed pixels (the usual case): convert each plane with the vector kernels,
  // then interleave. Anything else (pixels further apart than the channel count): one
  // element at a time.
  const int64_t xs = out_.strides[2];
  if (xs == out_c_) {
    const auto w = static_cast<std::size_t>(W_);
    if (o_.dtype == DType::kFloat32) {
      auto* dst = reinterpret_cast<float*>(at(0, y, 0));
      if (out_c_ == 3) {
        k_.interleave3_f32(planes[0], planes[1], planes[2], dst, W_);
      } else {
        std::memcpy(dst, planes[0], w * sizeof(float));
      }
    } else if (o_.dtype == DType::kFloat16) {
      auto* dst = reinterpret_cast<uint16_t*>(at(0, y, 0));
      if (out_c_ == 3) {
        uint16_t* t = sized(sc_.typed16, 3 * w);
        for (std::size_t c = 0; c < 3; ++c) k_.to_f16(planes[c], t + c * w, W_);
        k_.interleave3_u16(t, t + w, t + 2 * w, dst, W_);
      } else {
        k_.to_f16(planes[0], dst, W_);
      }
    } else {
      auto* dst = reinterpret_cast<uint8_t*>(at(0, y, 0));
      if (out_c_ == 3) {
        uint8_t* t = sized(sc_.typed8, 3 * w);
        for (std::size_t c = 0; c < 3; ++c) k_.to_u8(planes[c], t + c * w, W_);
        k_.interleave3_u8(t, t + w, t + 2 * w, dst, W_);
      } else {
        k_.to_u8(planes[0], dst, W_);
      }
    }
    return;
  }
  for (int64_t x = 0; x < W_; ++x) {
    for (int64_t c = 0; c < out_c_; ++c) {
      char* dst = at(c, y, x);
      const float v = planes[c][x];
      if (o_.dtype == DType::kFloat32) {
        std::memcpy(dst, &v, sizeof v);
      } else if (o_.dtype == DType::kFloat16) {
        const uint16_t h = detail::pre::float_to_half(v);
        std::memcpy(dst, &h, sizeof h);
      } else {
        *reinterpret_cast<uint8_t*>(dst) = detail::pre::float_to_u8(v);
      }
    }
  }
}

void Job::rows(int64_t y_begin, int64_t y_end) {
  // Staging rows (padding rows use them too): one full output row per output channel.
  if (!direct()) sized(sc_.rows, static_cast<std::size_t>(out_c_ * W_));
  bool ready = false;
  for (int64_t y = y_begin; y < y_end; ++y) {
    if (y < g_.top || y >= g_.top + g_.visible_height) {
      pad_row(y);
      continue;
    }
    if (!ready) {
      setup_columns();
      ready = true;
    }
    image_row(y);
  }
}

// Below this many output values a call runs on the calling thread alone: waking a pool
// thread (tens of microseconds on a busy machine) would cost about what it saves. A
// 224x224x3 image (150,528 values, ~60 us) stays on the caller; 640x640x3 is split.
constexpr int64_t kParallelMinValues = 200'000;

}  // namespace

// --- run ------------------------------------------------------------------------------------

void ImagePreprocessor::run(std::span<const ImageView> images, const PreprocessOutput& out,
                            std::span<Transform> transforms) const {
  const auto n = static_cast<int64_t>(images.size());
  if (n == 0) throw InvalidInputError(msg::no_images());
  check_output(out, n);
  for (std::size_t i = 0; i < images.size(); ++i) check_image(images[i], i);
  if (!transforms.empty() && transforms.size() != images.size()) {
    throw InvalidArgumentError("transforms must have one entry per image");
  }
  detail::SmallArray<Transform, 8> geo(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    geo[i] = geometry(images[i].height, images[i].width);
  }

  const int64_t H = options_.height;
  int threads = options_.threads == 0 ? available_cores() : options_.threads;
  if (n * H * options_.width * out_channels_ < kParallelMinValues) threads = 1;
  // Tasks: whole images, or bands of rows when there are fewer images than threads.
  int64_t bands = 1;
  if (threads > 1 && n < threads) {
    bands = std::min<int64_t>((2 * threads + n - 1) / n, std::max<int64_t>(1, H / 16));
  }
  const int64_t band_rows = (H + bands - 1) / bands;
  bands = (H + band_rows - 1) / band_rows;
  const auto tasks = static_cast<std::size_t>(n * bands);
  detail::parallel_for(tasks, threads, [&](std::size_t t) {
    const auto i = static_cast<int64_t>(t) / bands;
    const int64_t b = static_cast<int64_t>(t) % bands;
    const auto ui = static_cast<std::size_t>(i);
    Job job(*this, images[ui], geo[ui], out, i);
    job.rows(b * band_rows, std::min(H, (b + 1) * band_rows));
  });
  for (std::size_t i = 0; i < transforms.size(); ++i) transforms[i] = geo[i];
}

}  // namespace ortnative
