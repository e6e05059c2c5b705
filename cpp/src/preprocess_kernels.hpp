// Implementation detail of preprocess.cpp: the inner loops, one output row (or one
// source row) at a time, as a table of function pointers. Two implementations exist:
// portable C++ (every platform) and AVX2 (x86-64 with GCC or Clang, chosen at run time
// when the CPU has AVX2 and F16C). They compute bit-identical results: the same integer
// arithmetic and the same float32 operations in the same order (no FMA contraction:
// the core is built with -ffp-contract=off).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ortnative::detail::pre {

// Bilinear horizontal weights are fixed point with this many fractional bits.
constexpr int kAlphaBits = 14;
constexpr int32_t kAlphaOne = 1 << kAlphaBits;

struct Kernels {
  // Horizontal bilinear pass over one source row and channel (ROW points at that
  // channel of the row's first pixel): h[x] = row[ofs0[x]] * alpha[2x] +
  // row[ofs1[x]] * alpha[2x + 1] for x in [0, n). For x < fast, the 4 bytes from
  // row + ofs0[x] (and, for TAP 4, the 4 from row + ofs0[x] + 4) are inside the image
  // and ofs1[x] = ofs0[x] + TAP (1 to 4).
  void (*hlinear)(const uint8_t* row, const int32_t* ofs0, const int32_t* ofs1,
                  const int16_t* alpha, int32_t* h, std::ptrdiff_t n, std::ptrdiff_t fast,
                  int tap);
  // The same for three channels at once from 3- or 4-byte pixels (ROW points at the
  // row's first pixel): channel CH[k] of the source pixels goes to h + k * hstride. For
  // x < fast, the 8 bytes from row + ofs0[x] are inside the image and ofs1[x] =
  // ofs0[x] + PIXEL.
  void (*hlinear3)(const uint8_t* row, const int32_t* ofs0, const int32_t* ofs1,
                   const int16_t* alpha, const int* ch, int pixel, int32_t* h,
                   std::ptrdiff_t hstride, std::ptrdiff_t n, std::ptrdiff_t fast);
  // hlinear3 over two rows at once (both taps tables shared): ROW0 into H0, ROW1 into H1.
  // NEXT0 and NEXT1, when not null, are the rows the next call will read: the bytes the
  // same columns need there are prefetched meanwhile (frames that are not in cache).
  void (*hlinear3x2)(const uint8_t* row0, const uint8_t* row1, const uint8_t* next0,
                     const uint8_t* next1, const int32_t* ofs0, const int32_t* ofs1,
                     const int16_t* alpha, const int* ch, int pixel, int32_t* h0, int32_t* h1,
                     std::ptrdiff_t hstride, std::ptrdiff_t n, std::ptrdiff_t fast);
  // Both bilinear passes and the values at once, for three channels of two rows that no
  // other output row reads (so nothing is cached): out[k][x] = (float(h0) * w0 +
  // float(h1) * w1) * a[k] + b[k], with h0, h1 what hlinear3 gives for ROW0, ROW1.
  // NEXT0 and NEXT1 as for hlinear3x2.
  void (*linear3)(const uint8_t* row0, const uint8_t* row1, const uint8_t* next0,
                  const uint8_t* next1, const int32_t* ofs0, const int32_t* ofs1,
                  const int16_t* alpha, const int* ch, int pixel, float w0, float w1,
                  const float* a, const float* b, float* const* out, std::ptrdiff_t n,
                  std::ptrdiff_t fast);
  // Vertical bilinear pass and values: out[x] = (float(h0[x]) * w0 + float(h1[x]) * w1)
  // * a + b.
  void (*vlinear)(const int32_t* h0, const int32_t* h1, float w0, float w1, float a, float b,
                  float* out, std::ptrdiff_t n);
  // Nearest: out[x] = float(row[ofs[x]]) * a + b. For x < fast, the 4 bytes from
  // row + ofs[x] are inside the image.
  void (*nearest)(const uint8_t* row, const int32_t* ofs, float a, float b, float* out,
                  std::ptrdiff_t n, std::ptrdiff_t fast);
  // Nearest for three channels at once from 3- or 4-byte pixels (ROW points at the row's
  // first pixel): out[k][x] = float(row[ofs[x] + ch[k]]) * a[k] + b[k]. For x < fast,
  // the 4 bytes from row + ofs[x] are inside the image.
  void (*nearest3)(const uint8_t* row, const int32_t* ofs, const int* ch, const float* a,
                   const float* b, float* const* out, std::ptrdiff_t n, std::ptrdiff_t fast);
  // Area, vertical: acc[i] = float(row[i]) * w (FIRST) or acc[i] += float(row[i]) * w.
  void (*vaccumulate)(const uint8_t* row, float w, float* acc, std::ptrdiff_t n, bool first);
  // Area, horizontal: out[x] = sum over j < taps, in order, of acc[idx[j * n + x]] *
  // w[j * n + x] (starting from the j = 0 product). Tables are tap-major.
  void (*harea)(const float* acc, const int32_t* idx, const float* w, int taps, float* out,
                std::ptrdiff_t n);
  // out[x] = v[x] * a + b (OUT may be V).
  void (*affine)(const float* v, float a, float b, float* out, std::ptrdiff_t n);
  // Interleaves three planes into pixels: out[3x + k] = plane k's [x] (NHWC rows).
  void (*interleave3_f32)(const float* p0, const float* p1, const float* p2, float* out,
                          std::ptrdiff_t n);
  void (*interleave3_u16)(const uint16_t* p0, const uint16_t* p1, const uint16_t* p2,
                          uint16_t* out, std::ptrdiff_t n);
  void (*interleave3_u8)(const uint8_t* p0, const uint8_t* p1, const uint8_t* p2, uint8_t* out,
                         std::ptrdiff_t n);
  // Float32 to float16 bits, rounding to nearest even (NumPy's astype(float16)).
  void (*to_f16)(const float* v, uint16_t* out, std::ptrdiff_t n);
  // Float32 to uint8: rounded to nearest even, saturated to 0..255.
  void (*to_u8)(const float* v, uint8_t* out, std::ptrdiff_t n);
};

const Kernels& portable_kernels() noexcept;
// The AVX2 kernels, or null where they are not compiled in or the CPU lacks AVX2/F16C.
const Kernels* avx2_kernels() noexcept;

// The interleave loops, written once: compilers vectorize them (the AVX2 table holds
// copies compiled for AVX2).
template <class V>
inline void interleave3(const V* p0, const V* p1, const V* p2, V* out, std::ptrdiff_t n) {
  for (std::ptrdiff_t x = 0; x < n; ++x) {
    out[3 * x] = p0[x];
    out[3 * x + 1] = p1[x];
    out[3 * x + 2] = p2[x];
  }
}

// Scalar reference conversions, shared by both implementations' tails.
uint16_t float_to_half(float f) noexcept;
uint8_t float_to_u8(float f) noexcept;

}  // namespace ortnative::detail::pre
