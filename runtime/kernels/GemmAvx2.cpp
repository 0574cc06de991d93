// The AVX2 variant (with FMA and F16C): 8 fp32 lanes, weights decoded in registers 32 at a
// time, then GemmInternal.h's driver. FP8 decodes as in GemmAvx512.cpp (bits moved into the
// f16 of value·2^-8, vcvtph2ps; NaN codes checked per block). FP4 has no 16-entry vpermps
// here: a pshufb table gives each code's f16 high byte (the low byte of every E2M1 value's f16
// is zero), then vcvtph2ps and the group's scale; low nibbles first (evenOddElement order).
#include "runtime/kernels/GemmInternal.h"

#include <immintrin.h>

namespace v4c::kernels {
namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int kWidth = 8;
  static constexpr int kMr = 6; // 6 x 2 accumulators + 2 weights + 1 broadcast of 16 registers
  static constexpr int gemvRows(int m, int32_t format) { return m == 1 ? 4 : m == 2 ? 2 : 1; }
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float *p) { return _mm256_loadu_ps(p); }
  static void store(float *p, V v) { _mm256_storeu_ps(p, v); }
  static V bcast(float f) { return _mm256_set1_ps(f); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static float hsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
  }

  /// panel[kk·16 + r] = src[r·stride + kk] for r < 16, kk < len, by 8x8 register transposes
  /// (reads and writes up to len rounded to 8, inside both buffers' 128 rows).
  static void transpose(const float *src, int64_t stride, int64_t len, float *panel) {
    for (int64_t k0 = 0; k0 < len; k0 += 8)
      for (int r0 = 0; r0 < 16; r0 += 8) {
        __m256 v[8];
        for (int i = 0; i < 8; ++i)
          v[i] = _mm256_loadu_ps(src + (r0 + i) * stride + k0);
        transpose8(v);
        for (int i = 0; i < 8; ++i)
          _mm256_storeu_ps(panel + (k0 + i) * 16 + r0, v[i]);
      }
  }

  /// Rows → columns of an 8x8 block: pairs, then quads within 128-bit lanes, then lanes.
  static void transpose8(__m256 *r) {
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    // s[4i + j], 128-bit lane L: column 4L + j of rows 4i..4i+3.
    for (int i = 0; i < 8; i += 4) {
      s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
      s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
      s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x20);
      r[4 + j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x31);
    }
  }
};

struct F32Row : RowBase<V4C_W_F32> {
  void decodeGroup(int64_t kk, __m256 *out) const {
    const float *at = reinterpret_cast<const float *>(row) + kk;
    for (int j = 0; j < 4; ++j)
      out[j] = _mm256_loadu_ps(at + 8 * j);
  }
};

struct Bf16Row : RowBase<V4C_W_BF16> {
  void decodeGroup(int64_t kk, __m256 *out) const {
    for (int j = 0; j < 4; ++j) {
      __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 2 * (kk + 8 * j)));
      out[j] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
  }
};

struct Fp8Row : RowBase<V4C_W_FP8_E4M3, 256> {
  void decodeGroup(int64_t kk, __m256 *out) const {
    for (int h = 0; h < 2; ++h) {
      __m256i words = _mm256_cvtepu8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + kk + 16 * h)));
      __m256i half = _mm256_and_si256(_mm256_srai_epi16(_mm256_slli_epi16(words, 8), 1),
                                      _mm256_set1_epi16(static_cast<short>(0xBFFF)));
      out[2 * h] = _mm256_cvtph_ps(_mm256_castsi256_si128(half));
      out[2 * h + 1] = _mm256_cvtph_ps(_mm256_extracti128_si256(half, 1));
    }
  }
  /// The NaN codes are the bytes with (byte | 0x80) == 0xFF.
  bool blockHasNan(int64_t k0, int64_t len) const {
    const __m256i sign = _mm256_set1_epi8(static_cast<char>(0x80)), ones = _mm256_set1_epi8(-1);
    __m256i any = _mm256_setzero_si256();
    int64_t off = 0;
    for (; off + 32 <= len; off += 32) {
      __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + k0 + off));
      any = _mm256_or_si256(any, _mm256_cmpeq_epi8(_mm256_or_si256(bytes, sign), ones));
    }
    bool nan = _mm256_movemask_epi8(any) != 0;
    for (; off < len; ++off)
      nan |= (row[k0 + off] | 0x80) == 0xFF;
    return nan;
  }
};

struct Fp4Row : RowBase<V4C_W_FP4_E2M1> {
  void decodeGroup(int64_t kk, __m256 *out) const {
    // f16 high byte of each E2M1 code: 0, .5, 1, 1.5, 2, 3, 4, 6, then the same negated.
    const __m128i highBytes = _mm_setr_epi8(0x00, 0x38, 0x3C, 0x3E, 0x40, 0x42, 0x44, 0x46, -0x80,
                                            -0x48, -0x44, -0x42, -0x40, -0x3E, -0x3C, -0x3A);
    const __m128i lowNibble = _mm_set1_epi8(0x0F), zero = _mm_setzero_si128();
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + kk / 2));
    __m256 scale = _mm256_set1_ps(groupScale(kk / kGroup));
    for (int h = 0; h < 2; ++h) {
      __m128i nibbles = h == 0 ? _mm_and_si128(bytes, lowNibble)
                               : _mm_and_si128(_mm_srli_epi16(bytes, 4), lowNibble);
      __m128i high = _mm_shuffle_epi8(highBytes, nibbles);
      out[2 * h] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpacklo_epi8(zero, high)), scale);
      out[2 * h + 1] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpackhi_epi8(zero, high)), scale);
    }
  }
};

/// The activation quantization's loops, as in GemmAvx512.cpp, 8 lanes at a time.
struct Avx2Loops {
  static float amax(const float *x, int64_t len) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) // maxps returns its second operand when |x| is NaN
      acc = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), acc);
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc);
    return scalarAmax(x + i, len - i, scalarAmax(lanes, 8, 0.0f));
  }
  static void roundTrip(float *x, int64_t len, float inverse, float scale) {
    const __m256 inv = _mm256_set1_ps(inverse), s = _mm256_set1_ps(scale);
    const __m256 hi = _mm256_set1_ps(448.0f), lo = _mm256_set1_ps(-448.0f);
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) {
      __m256 q = _mm256_mul_ps(_mm256_loadu_ps(x + i), inv);
      q = _mm256_min_ps(hi, _mm256_max_ps(lo, q)); // NaN passes (the second operand)
      __m256i bits = _mm256_castps_si256(q);
      __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 20), _mm256_set1_epi32(1));
      __m256i normal = _mm256_and_si256(
          _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFFF))),
          _mm256_set1_epi32(static_cast<int>(0xFFF00000)));
      __m256 subnormal =
          _mm256_mul_ps(_mm256_round_ps(_mm256_mul_ps(q, _mm256_set1_ps(512.0f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                        _mm256_set1_ps(1.0f / 512));
      __m256i isNormal = _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF)),
                                            _mm256_set1_epi32(0x3C7FFFFF));
      __m256 r =
          _mm256_blendv_ps(subnormal, _mm256_castsi256_ps(normal), _mm256_castsi256_ps(isNormal));
      __m256i nan = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(INT32_MIN)),
                                    _mm256_set1_epi32(0x7FC00000));
      r = _mm256_blendv_ps(r, _mm256_castsi256_ps(nan), _mm256_cmp_ps(q, q, _CMP_UNORD_Q));
      _mm256_storeu_ps(x + i, _mm256_mul_ps(r, s));
    }
    for (; i < len; ++i)
      x[i] = scalarRoundTrip(x[i], inverse, scale);
  }
};

} // namespace

void gemmAvx2(const Problem &p) { gemmSimd<Avx2, F32Row, Bf16Row, Fp8Row, Fp4Row>(p); }
void fp8RoundTripAvx2(float *x, int64_t n, int64_t group) {
  fp8RoundTripGroups<Avx2Loops>(x, n, group);
}

} // namespace v4c::kernels
