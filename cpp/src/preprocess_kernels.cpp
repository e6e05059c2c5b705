// The portable kernels of preprocess_kernels.hpp: plain loops, written so compilers can
// vectorize the contiguous ones (affine, vlinear, vaccumulate, to_u8) at the baseline
// instruction set. The gathers (hlinear, nearest, harea) stay scalar here.
#include <cstring>

#include "preprocess_kernels.hpp"

namespace ortnative::detail::pre {

uint16_t float_to_half(float f) noexcept {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7FFFFFFFu;
  uint32_t h;
  if (x >= 0x47800000u) {  // |f| >= 65536 (or inf, nan): inf, or a quiet nan
    h = x > 0x7F800000u ? 0x7E00u : 0x7C00u;
  } else if (x < 0x38800000u) {
    // Below the smallest normal half (2^-14): adding 0.5 lines the half's subnormal
    // unit (2^-24) up with the float's last mantissa bit, so the FPU's own
    // round-to-nearest-even does the rounding; 2^-14 after rounding comes out as the
    // smallest normal half's bits, as it should.
    const float magic_f = 0.5f;
    uint32_t magic;
    std::memcpy(&magic, &magic_f, sizeof magic);
    float v;
    std::memcpy(&v, &x, sizeof v);
    v += magic_f;
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    h = bits - magic;
  } else {
    // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest
    // even (add just under half, plus one more when the kept part is odd). A carry out
    // of the mantissa bumps the exponent, up to inf for 65520 and above.
    const uint32_t odd = (x >> 13) & 1u;
    x += (static_cast<uint32_t>(15 - 127) << 23) + 0xFFFu + odd;
    h = x >> 13;
  }
  return static_cast<uint16_t>(sign | h);
}

uint8_t float_to_u8(float f) noexcept {
  float c = f < 0.0f ? 0.0f : f;
  c = c > 255.0f ? 255.0f : c;
  // Adding and removing 1.5 * 2^23 rounds to an integer, to nearest even (the FPU's
  // default mode), like numpy.rint, for |c| < 2^22.
  c = (c + 12582912.0f) - 12582912.0f;
  return static_cast<uint8_t>(static_cast<int>(c));
}

namespace {

void hlinear(const uint8_t* row, const int32_t* ofs0, const int32_t* ofs1, const int16_t* alpha,
             int32_t* h, std::ptrdiff_t n, std::ptrdiff_t /*fast*/, int /*tap*/) {
  for (std::ptrdiff_t x = 0; x < n; ++x) {
    h[x] = static_cast<int32_t>(row[ofs0[x]]) * alpha[2 * x] +
           static_cast<int32_t>(row[ofs1[x]]) * alpha[2 * x + 1];
  }
}

void hlinear3(const uint8_t* row, const int32_t* ofs0, const int32_t* ofs1, const int16_t* alpha,
              const int* ch, int /*pixel*/, int32_t* h, std::ptrdiff_t hstride, std::ptrdiff_t n,
              std::ptrdiff_t /*fast*/) {
  for (int k = 0; k < 3; ++k) hlinear(row + ch[k], ofs0, ofs1, alpha, h + k * hstride, n, 0, 0);
}

void vlinear(const int32_t* h0, const int32_t* h1, float w0, float w1, float a, float b,
             float* out, std::ptrdiff_t n) {
  for (std::ptrdiff_t x = 0; x < n; ++x) {
    const float v = static_cast<float>(h0[x]) * w0 + static_cast<float>(h1[x]) * w1;
    out[x] = v * a + b;
  }
}

void nearest(const uint8_t* row, const int32_t* ofs, float a, float b, float* out,
             std::ptrdiff_t n, std::ptrdiff_t /*fast*/) {
  for (std::ptrdiff_t x = 0; x < n; ++x) out[x] = static_cast<float>(row[ofs[x]]) * a + b;
}

void hlinear3x2(const uint8_t* row0, const uint8_t* row1, const uint8_t* /*next0*/,
                const uint8_t* /*next1*/, const int32_t* ofs0, const int32_t* ofs1,
                const int16_t* alpha, const int* ch, int pixel, int32_t* h0, int32_t* h1,
                std::ptrdiff_t hstride, std::ptrdiff_t n, std::ptrdiff_t fast) {
  hlinear3(row0, ofs0, ofs1, alpha, ch, pixel, h0, hstride, n, fast);
  hlinear3(row1, ofs0, ofs1, alpha, ch, pixel, h1, hstride, n, fast);
}

void linear3(const uint8_t* row0, const uint8_t* row1, const uint8_t* /*next0*/,
             const uint8_t* /*next1*/, const int32_t* ofs0, const int32_t* ofs1,
             const int16_t* alpha, const int* ch, int /*pixel*/, float w0, float w1,
             const float* a, const float* b, float* const* out, std::ptrdiff_t n,
             std::ptrdiff_t /*fast*/) {
  for (int k = 0; k < 3; ++k) {
    const uint8_t* r0 = row0 + ch[k];
    const uint8_t* r1 = row1 + ch[k];
    for (std::ptrdiff_t x = 0; x < n; ++x) {
      const int32_t h0 = static_cast<int32_t>(r0[ofs0[x]]) * alpha[2 * x] +
                         static_cast<int32_t>(r0[ofs1[x]]) * alpha[2 * x + 1];
      const int32_t h1 = static_cast<int32_t>(r1[ofs0[x]]) * alpha[2 * x] +
                         static_cast<int32_t>(r1[ofs1[x]]) * alpha[2 * x + 1];
      const float v = static_cast<float>(h0) * w0 + static_cast<float>(h1) * w1;
      out[k][x] = v * a[k] + b[k];
    }
  }
}

void nearest3(const uint8_t* row, const int32_t* ofs, const int* ch, const float* a,
              const float* b, float* const* out, std::ptrdiff_t n, std::ptrdiff_t /*fast*/) {
  for (int k = 0; k < 3; ++k) nearest(row + ch[k], ofs, a[k], b[k], out[k], n, 0);
}

void vaccumulate(const uint8_t* row, float w, float* acc, std::ptrdiff_t n, bool first) {
  if (first) {
    for (std::ptrdiff_t i = 0; i < n; ++i) acc[i] = static_cast<float>(row[i]) * w;
  } else {
    for (std::ptrdiff_t i = 0; i < n; ++i) acc[i] += static_cast<float>(row[i]) * w;
  }
}

void harea(const float* acc, const int32_t* idx, const float* w, int taps, float* out,
           std::ptrdiff_t n) {
  for (std::ptrdiff_t x = 0; x < n; ++x) out[x] = acc[idx[x]] * w[x];
  for (int j = 1; j < taps; ++j) {
    const int32_t* ij = idx + j * n;
    const float* wj = w + j * n;
    for (std::ptrdiff_t x = 0; x < n; ++x) out[x] += acc[ij[x]] * wj[x];
  }
}

void affine(const float* v, float a, float b, float* out, std::ptrdiff_t n) {
  for (std::ptrdiff_t x = 0; x < n; ++x) out[x] = v[x] * a + b;
}

void interleave3_f32(const float* p0, const float* p1, const float* p2, float* out,
                     std::ptrdiff_t n) {
  interleave3(p0, p1, p2, out, n);
}
void interleave3_u16(const uint16_t* p0, const uint16_t* p1, const uint16_t* p2, uint16_t* out,
                     std::ptrdiff_t n) {
  interleave3(p0, p1, p2, out, n);
}
void interleave3_u8(const uint8_t* p0, const uint8_t* p1, const uint8_t* p2, uint8_t* out,
                    std::ptrdiff_t n) {
  interleave3(p0, p1, p2, out, n);
}

void to_f16(const float* v, uint16_t* out, std::ptrdiff_t n) {
  for (std::ptrdiff_t x = 0; x < n; ++x) out[x] = float_to_half(v[x]);
}

void to_u8(const float* v, uint8_t* out, std::ptrdiff_t n) {
  for (std::ptrdiff_t x = 0; x < n; ++x) out[x] = float_to_u8(v[x]);
}

constexpr Kernels kPortable{hlinear, hlinear3, hlinear3x2, linear3, vlinear, nearest, nearest3,
                            vaccumulate, harea, affine, interleave3_f32, interleave3_u16,
                            interleave3_u8, to_f16, to_u8};

}  // namespace

const Kernels& portable_kernels() noexcept { return kPortable; }

}  // namespace ortnative::detail::pre
