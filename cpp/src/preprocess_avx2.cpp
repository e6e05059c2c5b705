// The AVX2 kernels of preprocess_kernels.hpp (x86-64, GCC or Clang). Compiled for the
// baseline instruction set like the rest of the core, with AVX2 and F16C enabled per
// function; avx2_kernels() hands them out only when the CPU has both. Each computes
// exactly what its portable twin does: gathers replace scalar loads, and the float
// operations are the same, in the same order (no FMA: "fma" is not among the targets).
#include "preprocess_kernels.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#include <cstring>

#define ORTN_AVX2 __attribute__((target("avx2,f16c")))

namespace ortnative::detail::pre {

namespace {

ORTN_AVX2 inline __m256i load8_i32(const int32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

ORTN_AVX2 void hlinear(const uint8_t* row, const int32_t* ofs0, const int32_t* ofs1,
                       const int16_t* alpha, int32_t* h, std::ptrdiff_t n, std::ptrdiff_t fast,
                       int tap) {
  std::ptrdiff_t x = 0;
  const auto* base = reinterpret_cast<const int*>(row);
  if (tap <= 3) {
    // One 4-byte load per pixel holds both taps: bytes 0 and TAP become the 16-bit
    // halves (p0, p1) of the lane, which madd multiplies by (alpha0, alpha1) and sums.
    const auto t = static_cast<char>(tap);
    const __m256i pick =
        _mm256_setr_epi8(0, -1, t, -1, 4, -1, static_cast<char>(4 + t), -1, 8, -1,
                         static_cast<char>(8 + t), -1, 12, -1, static_cast<char>(12 + t), -1,
                         0, -1, t, -1, 4, -1, static_cast<char>(4 + t), -1, 8, -1,
                         static_cast<char>(8 + t), -1, 12, -1, static_cast<char>(12 + t), -1);
    for (; x + 8 <= fast; x += 8) {
      __m256i g = _mm256_i32gather_epi32(base, load8_i32(ofs0 + x), 1);
      g = _mm256_shuffle_epi8(g, pick);
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(alpha + 2 * x));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + x), _mm256_madd_epi16(g, a));
    }
  } else {
    const auto* base1 = reinterpret_cast<const int*>(row + tap);
    const __m256i low = _mm256_set1_epi32(0xFF);
    for (; x + 8 <= fast; x += 8) {
      const __m256i idx = load8_i32(ofs0 + x);
      const __m256i g0 = _mm256_and_si256(_mm256_i32gather_epi32(base, idx, 1), low);
      const __m256i g1 = _mm256_and_si256(_mm256_i32gather_epi32(base1, idx, 1), low);
      const __m256i g = _mm256_or_si256(g0, _mm256_slli_epi32(g1, 16));
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(alpha + 2 * x));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + x), _mm256_madd_epi16(g, a));
    }
  }
  for (; x < n; ++x) {
    h[x] = static_cast<int32_t>(row[ofs0[x]]) * alpha[2 * x] +
           static_cast<int32_t>(row[ofs1[x]]) * alpha[2 * x + 1];
  }
}

// Two pixel pairs as one 128-bit lane: the 8 bytes at P and the 8 at Q.
ORTN_AVX2 inline __m128i load_pair(const uint8_t* p, const uint8_t* q) {
  long long lo, hi;
  std::memcpy(&lo, p, sizeof lo);
  std::memcpy(&hi, q, sizeof hi);
  return _mm_set_epi64x(hi, lo);
}

// Byte-shuffle masks for hlinear3: per 128-bit lane holding pixel pairs P (bytes 0-7)
// and Q (bytes 8-15), the 16-bit pairs (p0, p1) of channel c0 for P and Q, then of c1
// for P and Q (or, for the second mask, of c2 for P and Q, then zeros).
ORTN_AVX2 inline __m256i pair_mask(int c0, int c1, int pixel) {
  auto b = [](int v) { return static_cast<char>(v); };
  const char z = -1;
  const char m[16] = {b(c0),     z, b(c0 + pixel),     z, b(8 + c0), z, b(8 + c0 + pixel), z,
                      c1 < 0 ? z : b(c1), z, c1 < 0 ? z : b(c1 + pixel), z,
                      c1 < 0 ? z : b(8 + c1), z, c1 < 0 ? z : b(8 + c1 + pixel), z};
  const __m128i lane = _mm_loadu_si128(reinterpret_cast<const __m128i*>(m));
  return _mm256_broadcastsi128_si256(lane);
}

// The scalar columns of hlinear3 (from X on).
inline void hlinear3_tail(const uint8_t* row, const int32_t* ofs0, const int32_t* ofs1,
                          const int16_t* alpha, const int* ch, int32_t* h, std::ptrdiff_t hstride,
                          std::ptrdiff_t x, std::ptrdiff_t n) {
  for (int k = 0; k < 3; ++k) {
    const uint8_t* r = row + ch[k];
    int32_t* hk = h + k * hstride;
    for (std::ptrdiff_t i = x; i < n; ++i) {
      hk[i] = static_cast<int32_t>(r[ofs0[i]]) * alpha[2 * i] +
              static_cast<int32_t>(r[ofs1[i]]) * alpha[2 * i + 1];
    }
  }
}

// The two 8-byte loads per output pixel, for 8 outputs of one row: A holds the source
// pixel pairs of outputs 0, 1 | 4, 5 and B those of 2, 3 | 6, 7.
struct Pairs {
  __m256i A, B;
};

ORTN_AVX2 inline Pairs load_pairs(const uint8_t* row, const int32_t* o) {
  return {_mm256_inserti128_si256(_mm256_castsi128_si256(load_pair(row + o[0], row + o[1])),
                                  load_pair(row + o[4], row + o[5]), 1),
          _mm256_inserti128_si256(_mm256_castsi128_si256(load_pair(row + o[2], row + o[3])),
                                  load_pair(row + o[6], row + o[7]), 1)};
}

// h = p0 * alpha0 + p1 * alpha1 of outputs 0..7, per channel: shuffles make the 16-bit
// (p0, p1) pairs (channel c0 then c1 per pixel pair, or c2), 64-bit unpacks of A's and
// B's put outputs 0..7 in order, and madd applies the (alpha0, alpha1) pairs AL.
ORTN_AVX2 inline void pairs_to_h(const Pairs& p, __m256i al, __m256i m01, __m256i m2,
                                 __m256i& h0, __m256i& h1, __m256i& h2) {
  const __m256i a01 = _mm256_shuffle_epi8(p.A, m01);
  const __m256i b01 = _mm256_shuffle_epi8(p.B, m01);
  const __m256i a2 = _mm256_shuffle_epi8(p.A, m2);
  const __m256i b2 = _mm256_shuffle_epi8(p.B, m2);
  h0 = _mm256_madd_epi16(_mm256_unpacklo_epi64(a01, b01), al);
  h1 = _mm256_madd_epi16(_mm256_unpackhi_epi64(a01, b01), al);
  h2 = _mm256_madd_epi16(_mm256_unpacklo_epi64(a2, b2), al);
}

ORTN_AVX2 inline __m256i load_alpha(const int16_t* alpha, std::ptrdiff_t x) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(alpha + 2 * x));
}

// Prefetches the cache lines outputs x..x+7 read in rows NEXT0 and NEXT1. Frames fresh
// from a camera or decoder are not in cache: this keeps the next rows' DRAM reads in
// flight while the current rows compute (about 10% faster for 1080p frames from memory,
// about 5% slower for one frame read over and over, which stays in cache).
ORTN_AVX2 inline void prefetch_block(const uint8_t* next0, const uint8_t* next1,
                                     const int32_t* ofs0, std::ptrdiff_t x) {
  const std::ptrdiff_t end = ofs0[x + 7] + 8;
  for (std::ptrdiff_t a = ofs0[x]; a < end; a += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(next0 + a), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(next1 + a), _MM_HINT_T0);
  }
}

ORTN_AVX2 inline void store_h(int32_t* h, std::ptrdiff_t hstride, std::ptrdiff_t x, __m256i h0,
                              __m256i h1, __m256i h2) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + x), h0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + hstride + x), h1);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + 2 * hstride + x), h2);
}

ORTN_AVX2 void hlinear3(const uint8_t* row, const int32_t* ofs0, const int32_t* ofs1,
                        const int16_t* alpha, const int* ch, int pixel, int32_t* h,
                        std::ptrdiff_t hstride, std::ptrdiff_t n, std::ptrdiff_t fast) {
  const __m256i m01 = pair_mask(ch[0], ch[1], pixel);
  const __m256i m2 = pair_mask(ch[2], -1, pixel);
  std::ptrdiff_t x = 0;
  for (; x + 8 <= fast; x += 8) {
    __m256i h0, h1, h2;
    pairs_to_h(load_pairs(row, ofs0 + x), load_alpha(alpha, x), m01, m2, h0, h1, h2);
    store_h(h, hstride, x, h0, h1, h2);
  }
  hlinear3_tail(row, ofs0, ofs1, alpha, ch, h, hstride, x, n);
}

ORTN_AVX2 void hlinear3x2(const uint8_t* row0, const uint8_t* row1, const uint8_t* next0,
                          const uint8_t* next1, const int32_t* ofs0, const int32_t* ofs1,
                          const int16_t* alpha, const int* ch, int pixel, int32_t* h0,
                          int32_t* h1, std::ptrdiff_t hstride, std::ptrdiff_t n,
                          std::ptrdiff_t fast) {
  const __m256i m01 = pair_mask(ch[0], ch[1], pixel);
  const __m256i m2 = pair_mask(ch[2], -1, pixel);
  std::ptrdiff_t x = 0;
  for (; x + 8 <= fast; x += 8) {
    if (next0 != nullptr) prefetch_block(next0, next1, ofs0, x);
    const __m256i al = load_alpha(alpha, x);
    __m256i a0, a1, a2;
    pairs_to_h(load_pairs(row0, ofs0 + x), al, m01, m2, a0, a1, a2);
    store_h(h0, hstride, x, a0, a1, a2);
    pairs_to_h(load_pairs(row1, ofs0 + x), al, m01, m2, a0, a1, a2);
    store_h(h1, hstride, x, a0, a1, a2);
  }
  hlinear3_tail(row0, ofs0, ofs1, alpha, ch, h0, hstride, x, n);
  hlinear3_tail(row1, ofs0, ofs1, alpha, ch, h1, hstride, x, n);
}

// (float(h0) * w0 + float(h1) * w1) * a + b, as vlinear computes it.
ORTN_AVX2 inline __m256 vertical(__m256i h0, __m256i h1, __m256 w0, __m256 w1, __m256 a,
                                 __m256 b) {
  const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(h0), w0),
                                 _mm256_mul_ps(_mm256_cvtepi32_ps(h1), w1));
  return _mm256_add_ps(_mm256_mul_ps(v, a), b);
}

ORTN_AVX2 void linear3(const uint8_t* row0, const uint8_t* row1, const uint8_t* next0,
                       const uint8_t* next1, const int32_t* ofs0, const int32_t* ofs1,
                       const int16_t* alpha, const int* ch, int pixel, float w0, float w1,
                       const float* a, const float* b, float* const* out, std::ptrdiff_t n,
                       std::ptrdiff_t fast) {
  const __m256i m01 = pair_mask(ch[0], ch[1], pixel);
  const __m256i m2 = pair_mask(ch[2], -1, pixel);
  const __m256 vw0 = _mm256_set1_ps(w0), vw1 = _mm256_set1_ps(w1);
  const __m256 a0 = _mm256_set1_ps(a[0]), a1 = _mm256_set1_ps(a[1]), a2 = _mm256_set1_ps(a[2]);
  const __m256 b0 = _mm256_set1_ps(b[0]), b1 = _mm256_set1_ps(b[1]), b2 = _mm256_set1_ps(b[2]);
  float* o0 = out[0];
  float* o1 = out[1];
  float* o2 = out[2];
  std::ptrdiff_t x = 0;
  for (; x + 8 <= fast; x += 8) {
    if (next0 != nullptr) prefetch_block(next0, next1, ofs0, x);
    const __m256i al = load_alpha(alpha, x);
    __m256i p0, p1, p2, q0, q1, q2;
    pairs_to_h(load_pairs(row0, ofs0 + x), al, m01, m2, p0, p1, p2);
    pairs_to_h(load_pairs(row1, ofs0 + x), al, m01, m2, q0, q1, q2);
    _mm256_storeu_ps(o0 + x, vertical(p0, q0, vw0, vw1, a0, b0));
    _mm256_storeu_ps(o1 + x, vertical(p1, q1, vw0, vw1, a1, b1));
    _mm256_storeu_ps(o2 + x, vertical(p2, q2, vw0, vw1, a2, b2));
  }
  for (int k = 0; k < 3; ++k) {
    const uint8_t* r0 = row0 + ch[k];
    const uint8_t* r1 = row1 + ch[k];
    for (std::ptrdiff_t i = x; i < n; ++i) {
      const int32_t h0 = static_cast<int32_t>(r0[ofs0[i]]) * alpha[2 * i] +
                         static_cast<int32_t>(r0[ofs1[i]]) * alpha[2 * i + 1];
      const int32_t h1 = static_cast<int32_t>(r1[ofs0[i]]) * alpha[2 * i] +
                         static_cast<int32_t>(r1[ofs1[i]]) * alpha[2 * i + 1];
      const float v = static_cast<float>(h0) * w0 + static_cast<float>(h1) * w1;
      out[k][i] = v * a[k] + b[k];
    }
  }
}

ORTN_AVX2 void nearest3(const uint8_t* row, const int32_t* ofs, const int* ch, const float* a,
                        const float* b, float* const* out, std::ptrdiff_t n, std::ptrdiff_t fast) {
  // One 4-byte load per pixel (all its channels), then a shuffle per channel.
  __m256i pick[3];
  __m256 va[3], vb[3];
  for (int k = 0; k < 3; ++k) {
    const char c = static_cast<char>(ch[k]);
    const char z = -1;
    pick[k] = _mm256_setr_epi8(c, z, z, z, static_cast<char>(4 + c), z, z, z,
                               static_cast<char>(8 + c), z, z, z, static_cast<char>(12 + c), z,
                               z, z, c, z, z, z, static_cast<char>(4 + c), z, z, z,
                               static_cast<char>(8 + c), z, z, z, static_cast<char>(12 + c), z,
                               z, z);
    va[k] = _mm256_set1_ps(a[k]);
    vb[k] = _mm256_set1_ps(b[k]);
  }
  const auto* base = reinterpret_cast<const int*>(row);
  std::ptrdiff_t x = 0;
  for (; x + 8 <= fast; x += 8) {
    const __m256i g = _mm256_i32gather_epi32(base, load8_i32(ofs + x), 1);
    for (int k = 0; k < 3; ++k) {
      const __m256 f = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(g, pick[k]));
      _mm256_storeu_ps(out[k] + x, _mm256_add_ps(_mm256_mul_ps(f, va[k]), vb[k]));
    }
  }
  for (int k = 0; k < 3; ++k) {
    const uint8_t* r = row + ch[k];
    for (std::ptrdiff_t i = x; i < n; ++i) out[k][i] = static_cast<float>(r[ofs[i]]) * a[k] + b[k];
  }
}

ORTN_AVX2 void vlinear(const int32_t* h0, const int32_t* h1, float w0, float w1, float a,
                       float b, float* out, std::ptrdiff_t n) {
  const __m256 vw0 = _mm256_set1_ps(w0), vw1 = _mm256_set1_ps(w1);
  const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  std::ptrdiff_t x = 0;
  for (; x + 8 <= n; x += 8) {
    const __m256 f0 = _mm256_cvtepi32_ps(load8_i32(h0 + x));
    const __m256 f1 = _mm256_cvtepi32_ps(load8_i32(h1 + x));
    const __m256 v = _mm256_add_ps(_mm256_mul_ps(f0, vw0), _mm256_mul_ps(f1, vw1));
    _mm256_storeu_ps(out + x, _mm256_add_ps(_mm256_mul_ps(v, va), vb));
  }
  for (; x < n; ++x) {
    const float v = static_cast<float>(h0[x]) * w0 + static_cast<float>(h1[x]) * w1;
    out[x] = v * a + b;
  }
}

ORTN_AVX2 void nearest(const uint8_t* row, const int32_t* ofs, float a, float b, float* out,
                       std::ptrdiff_t n, std::ptrdiff_t fast) {
  const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  const __m256i low = _mm256_set1_epi32(0xFF);
  const auto* base = reinterpret_cast<const int*>(row);
  std::ptrdiff_t x = 0;
  for (; x + 8 <= fast; x += 8) {
    const __m256i g = _mm256_and_si256(_mm256_i32gather_epi32(base, load8_i32(ofs + x), 1), low);
    const __m256 f = _mm256_cvtepi32_ps(g);
    _mm256_storeu_ps(out + x, _mm256_add_ps(_mm256_mul_ps(f, va), vb));
  }
  for (; x < n; ++x) out[x] = static_cast<float>(row[ofs[x]]) * a + b;
}

ORTN_AVX2 void vaccumulate(const uint8_t* row, float w, float* acc, std::ptrdiff_t n,
                           bool first) {
  const __m256 vw = _mm256_set1_ps(w);
  std::ptrdiff_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i));
    const __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), vw);
    _mm256_storeu_ps(acc + i, first ? p : _mm256_add_ps(_mm256_loadu_ps(acc + i), p));
  }
  for (; i < n; ++i) {
    const float p = static_cast<float>(row[i]) * w;
    acc[i] = first ? p : acc[i] + p;
  }
}

ORTN_AVX2 void harea(const float* acc, const int32_t* idx, const float* w, int taps, float* out,
                     std::ptrdiff_t n) {
  std::ptrdiff_t x = 0;
  for (; x + 8 <= n; x += 8) {
    __m256 s = _mm256_mul_ps(_mm256_i32gather_ps(acc, load8_i32(idx + x), 4),
                             _mm256_loadu_ps(w + x));
    for (int j = 1; j < taps; ++j) {
      const std::ptrdiff_t o = j * n + x;
      const __m256 v = _mm256_i32gather_ps(acc, load8_i32(idx + o), 4);
      s = _mm256_add_ps(s, _mm256_mul_ps(v, _mm256_loadu_ps(w + o)));
    }
    _mm256_storeu_ps(out + x, s);
  }
  for (; x < n; ++x) {
    float s = acc[idx[x]] * w[x];
    for (int j = 1; j < taps; ++j) s += acc[idx[j * n + x]] * w[j * n + x];
    out[x] = s;
  }
}

ORTN_AVX2 void affine(const float* v, float a, float b, float* out, std::ptrdiff_t n) {
  const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  std::ptrdiff_t x = 0;
  for (; x + 8 <= n; x += 8) {
    _mm256_storeu_ps(out + x, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + x), va), vb));
  }
  for (; x < n; ++x) out[x] = v[x] * a + b;
}

ORTN_AVX2 void interleave3_f32(const float* p0, const float* p1, const float* p2, float* out,
                               std::ptrdiff_t n) {
  interleave3(p0, p1, p2, out, n);
}
ORTN_AVX2 void interleave3_u16(const uint16_t* p0, const uint16_t* p1, const uint16_t* p2,
                               uint16_t* out, std::ptrdiff_t n) {
  interleave3(p0, p1, p2, out, n);
}
ORTN_AVX2 void interleave3_u8(const uint8_t* p0, const uint8_t* p1, const uint8_t* p2,
                              uint8_t* out, std::ptrdiff_t n) {
  interleave3(p0, p1, p2, out, n);
}

ORTN_AVX2 void to_f16(const float* v, uint16_t* out, std::ptrdiff_t n) {
  std::ptrdiff_t x = 0;
  for (; x + 8 <= n; x += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(v + x), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x), h);
  }
  for (; x < n; ++x) out[x] = float_to_half(v[x]);
}

ORTN_AVX2 void to_u8(const float* v, uint8_t* out, std::ptrdiff_t n) {
  const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(255.0f);
  std::ptrdiff_t x = 0;
  for (; x + 8 <= n; x += 8) {
    const __m256 c = _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(v + x), lo), hi);
    const __m256i i = _mm256_cvtps_epi32(c);  // the current rounding mode: nearest even
    const __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + x), _mm_packus_epi16(w16, w16));
  }
  for (; x < n; ++x) out[x] = float_to_u8(v[x]);
}

constexpr Kernels kAvx2{hlinear, hlinear3, hlinear3x2, linear3, vlinear, nearest, nearest3,
                        vaccumulate, harea, affine, interleave3_f32, interleave3_u16,
                        interleave3_u8, to_f16, to_u8};

}  // namespace

const Kernels* avx2_kernels() noexcept {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
  return ok ? &kAvx2 : nullptr;
}

}  // namespace ortnative::detail::pre

#else

namespace ortnative::detail::pre {
const Kernels* avx2_kernels() noexcept { return nullptr; }
}  // namespace ortnative::detail::pre

#endif
