// Fused image preprocessing: 8-bit camera frames in, a model's input tensor out, in one
// native pass per output pixel (resize, fit, colour order, scale/mean/std, dtype and
// layout together), with no intermediate images.
//
// Ownership: ImageView and PreprocessOutput are borrowed views: copyable, they free
// nothing, and the memory they point at must outlive the call that reads or writes it.
// ImagePreprocessor owns nothing but its options and is cheap to copy.
//
// Thread-safety: every const member of ImagePreprocessor may be called from any number
// of threads at once on one object (run() keeps its per-call state in thread-local
// scratch memory and on its own stack). Threads that run() starts come from one small
// process-wide pool, created on first use and never shut down.
//
// Semantics, in the order they are applied to each output pixel:
//   1. Geometry (fit): the source image is resized to a size R (the whole output for
//      kStretch; aspect kept and padded for kLetterbox; aspect kept, shorter side filling
//      the output, then cropped for kCenterCrop). geometry() says where it lands.
//   2. Resize, per channel, giving a float value v (the "resized image", unrounded):
//      kNearest   == OpenCV INTER_NEAREST: v = src[floor(y * sh / rh)][floor(x * sw / rw)]
//      kBilinear  == OpenCV INTER_LINEAR: half-pixel centres, clamped borders. Horizontal
//                    weights are 14-bit fixed point (like OpenCV's 11-bit ones, finer),
//                    vertical weights float: v = h0 * (1 - fy) / 2^14 + h1 * fy / 2^14,
//                    h = p0 * a0 + p1 * a1, a0 + a1 = 2^14.
//      kArea      == OpenCV INTER_AREA: when both axes shrink, each output pixel is the
//                    area-weighted mean of the source pixels it covers; when an axis
//                    grows, OpenCV's bilinear-like area weights, on both axes.
//   3. Colour: output channels in output_order; alpha is dropped; gray is replicated to
//      three channels; colour to gray is 0.299 R + 0.587 G + 0.114 B (on v, in float).
//   4. Values: y = v * a + b in float32, a = float(scale / std), b = float(-mean / std)
//      per output channel (computed in double, then rounded to float once).
//   5. Output: float32 as is; float16 rounded to nearest even; uint8 rounded to nearest
//      even and saturated to 0..255. Letterbox padding is the pixel value pad_value run
//      through step 4 and 5 like any other pixel.
// Every step is deterministic: the same inputs give bit-identical outputs whatever the
// thread count, and whether or not the CPU has AVX2 (the vector kernels compute exactly
// what the portable ones do). The Python fallback reproduces the same arithmetic.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ortnative/dtype.hpp"

namespace ortnative {

enum class ColorOrder : uint8_t { kBGR, kRGB, kBGRA, kRGBA, kGray };
enum class ResizeMode : uint8_t { kNearest, kBilinear, kArea };
enum class FitMode : uint8_t { kStretch, kLetterbox, kCenterCrop };
enum class Align : uint8_t { kCenter, kTopLeft };  // where a letterboxed image sits
enum class Layout : uint8_t { kNCHW, kNHWC };

// Names as the Python API spells them ("bgr", "bilinear", "center_crop", "top_left",
// "nchw"), used in messages and repr.
std::string_view color_order_name(ColorOrder o) noexcept;
std::string_view resize_mode_name(ResizeMode m) noexcept;
std::string_view fit_mode_name(FitMode f) noexcept;
std::string_view align_name(Align a) noexcept;
std::string_view layout_name(Layout l) noexcept;
// The inverse of the above: InvalidArgumentError ("resize must be one of 'nearest',
// 'bilinear', 'area', got 'x'") for any other name. WHAT names the option in the message.
ColorOrder color_order_from_name(std::string_view name, std::string_view what = "input_order");
ResizeMode resize_mode_from_name(std::string_view name);
FitMode fit_mode_from_name(std::string_view name);
Align align_from_name(std::string_view name);
Layout layout_from_name(std::string_view name);
// Channels an image in order O has: 3 (bgr, rgb), 4 (bgra, rgba) or 1 (gray).
int color_order_channels(ColorOrder o) noexcept;

struct PreprocessOptions {
  int64_t height = 224;  // output size, > 0
  int64_t width = 224;
  ResizeMode resize = ResizeMode::kBilinear;
  FitMode fit = FitMode::kStretch;
  Align align = Align::kCenter;  // kLetterbox only
  ColorOrder input_order = ColorOrder::kBGR;
  ColorOrder output_order = ColorOrder::kRGB;  // kRGB, kBGR or kGray
  // y = (v * scale - mean[c]) / std[c]; entries beyond the output's channel count are
  // ignored. std must be non-zero and everything finite.
  double scale = 1.0 / 255.0;
  std::array<double, 3> mean{0.0, 0.0, 0.0};
  std::array<double, 3> std{1.0, 1.0, 1.0};
  // Letterbox padding, per output channel, in pixel units (before scale/mean/std).
  std::array<double, 3> pad_value{114.0, 114.0, 114.0};
  DType dtype = DType::kFloat32;  // kFloat32, kFloat16 or kUInt8
  Layout layout = Layout::kNCHW;
  // Threads one run() may use, the calling thread included: 0 = every core this
  // process may run on (the Python API's default too), 1 = the calling thread only.
  // Calls too small to gain (under about 200,000 output values) stay on the caller.
  int threads = 0;
};

// One 8-bit image in caller memory: HxW pixels of `channels` interleaved bytes (a
// pixel's channels adjacent, pixels of a row adjacent). Rows are row_stride bytes
// apart (any value, negative included), so a crop of a larger frame is read in place.
struct ImageView {
  const uint8_t* data = nullptr;
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;
  int64_t row_stride = 0;  // bytes from one row to the next
  // The element type the caller has (anything but kUInt8 is refused with a message);
  // rank is 2 (HxW) or 3 (HxWxC), as the caller's array has it, for messages.
  DType dtype = DType::kUInt8;
  int rank = 3;

  // A dense image: row_stride = width * channels.
  static ImageView dense(const uint8_t* data, int64_t height, int64_t width,
                         int64_t channels) noexcept {
    ImageView v;
    v.data = data;
    v.height = height;
    v.width = width;
    v.channels = channels;
    v.row_stride = width * channels;
    v.rank = channels == 1 ? 2 : 3;
    return v;
  }
};

// Where run() writes: a 4-D tensor of options().dtype, shape output_shape(n) in the
// options' layout, with strides in elements (any, as long as the last dimension's is 1:
// a slice of a bigger batch, or a view into a session's input buffer).
struct PreprocessOutput {
  void* data = nullptr;
  DType dtype = DType::kUndefined;
  std::array<int64_t, 4> shape{};
  std::array<int64_t, 4> strides{};  // elements
  // How the caller's memory is, where it can say (check_output refuses memory that is
  // read-only, misaligned, or whose strides are not whole elements).
  bool writeable = true;
  bool aligned = true;
  bool element_strides = true;

  // A dense C-order tensor.
  static PreprocessOutput dense(void* data, DType dtype, const std::array<int64_t, 4>& shape);
};

// Where an image lands in the output, and how to map coordinates back: an output
// coordinate u (in pixels, continuous, corner-based) shows the source coordinate
// s = (u - offset) / scale, per axis. The resized image is resized_width x
// resized_height; the part of it shown starts at (crop_x, crop_y) and covers
// visible_width x visible_height output pixels starting at (left, top); the rest of
// the output is padding.
struct Transform {
  double scale_x = 1.0;  // resized_width / source width
  double scale_y = 1.0;
  double offset_x = 0.0;  // left - crop_x
  double offset_y = 0.0;
  int64_t resized_width = 0;
  int64_t resized_height = 0;
  int64_t crop_x = 0;
  int64_t crop_y = 0;
  int64_t left = 0;
  int64_t top = 0;
  int64_t visible_width = 0;
  int64_t visible_height = 0;
  int64_t source_width = 0;
  int64_t source_height = 0;
};

class ImagePreprocessor {
 public:
  // Validates OPTIONS: throws InvalidArgumentError naming the bad option (size <= 0,
  // std of 0, a non-finite value, an unsupported dtype or output order, threads < 0).
  explicit ImagePreprocessor(const PreprocessOptions& options);

  const PreprocessOptions& options() const noexcept { return options_; }
  // Channels of the output: 1 for gray output, else 3.
  int64_t output_channels() const noexcept { return out_channels_; }
  // {n, C, H, W} for kNCHW, {n, H, W, C} for kNHWC.
  std::array<int64_t, 4> output_shape(int64_t n) const noexcept;
  // The geometry for a source image of HEIGHT x WIDTH (both > 0; no checks).
  Transform geometry(int64_t height, int64_t width) const noexcept;
  // The per-channel coefficients of step 4: y = v * a[c] + b[c].
  std::array<float, 3> value_scale() const noexcept { return a_; }
  std::array<float, 3> value_offset() const noexcept { return b_; }

  // Checks image INDEX of a call: InvalidTypeError for a dtype other than uint8,
  // InvalidInputError for a rank other than 2 or 3, a channel count that does not match
  // input_order, an empty image, or rows too long to index with 32 bits.
  void check_image(const ImageView& image, std::size_t index) const;
  // Checks OUT for N images: InvalidTypeError for its dtype, InvalidInputError for its
  // shape, a last dimension that is not contiguous, or memory that is read-only,
  // misaligned or strided by other than whole elements.
  void check_output(const PreprocessOutput& out, int64_t n) const;
  // The errors those checks throw, for callers whose arrays cannot be described by an
  // ImageView or PreprocessOutput (another rank, an element type without a DType, a
  // read-only or misaligned array); GIVEN is how the caller's type system names a type.
  // Bindings use them so every layer words an error alike.
  [[noreturn]] void fail_image_dtype(std::size_t index, std::string_view given) const;
  [[noreturn]] void fail_image_shape(std::size_t index, std::span<const int64_t> shape) const;
  [[noreturn]] void fail_output_dtype(std::string_view given) const;
  [[noreturn]] void fail_output_shape(std::span<const int64_t> shape, int64_t n) const;
  [[noreturn]] void fail_output_layout() const;

  // Preprocesses IMAGES into OUT (image i into out[i]). Checks everything first (so a
  // bad image leaves OUT untouched), then writes every element of OUT. TRANSFORMS, if
  // not empty, must have one entry per image and receives each image's geometry.
  // Uses up to options().threads threads (splitting images, and rows of an image when
  // there are fewer images than threads); small jobs run on the calling thread alone.
  // OUT must not overlap the images. Thread-safe (see top of file).
  void run(std::span<const ImageView> images, const PreprocessOutput& out,
           std::span<Transform> transforms = {}) const;

 private:
  PreprocessOptions options_;
  int64_t out_channels_ = 3;
  std::array<float, 3> a_{};
  std::array<float, 3> b_{};
};

// Cores this process may run on (sched_getaffinity where available, else
// std::thread::hardware_concurrency), at least 1. What threads = 0 means.
int available_cores() noexcept;

namespace detail {
// Test hook: false makes run() use the portable kernels even where AVX2 is available
// (the two must agree bit for bit). Returns the previous setting. Not thread-safe with
// concurrent run() calls.
bool set_preprocess_simd(bool enabled) noexcept;
// Whether run() uses the AVX2 kernels now.
bool preprocess_simd_active() noexcept;
}  // namespace detail

}  // namespace ortnative
