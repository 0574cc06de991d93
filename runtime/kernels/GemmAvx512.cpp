// The AVX-512 variant (F, BW, VL, DQ): 16 fp32 lanes, weights decoded in registers 32 at a
// time, then GemmInternal.h's driver.
//   FP8 e4m3 → f16 by moving bits, then vcvtph2ps (exact, subnormals included). The two formats
//     differ only in exponent width and bias (7 vs 15): the byte's sign at bit 15 and its
//     exponent|mantissa at bits 7..13 is the f16 of value·2^-8, and the 2^8 goes into the block
//     multiplier. (Building the fp32 of value·2^-120 and multiplying by 2^120 takes fewer
//     instructions, but e4m3 subnormals then become fp32 subnormals, which multiply slowly.)
//     The NaN codes 0x7F/0xFF would come out as ±1.875·2^-8, so each block is checked for them
//     separately; they make its multiplier NaN.
//   FP4 e2m1 → vpermps from the 16-entry value table premultiplied by the group's scale; the
//     low nibbles and the high nibbles make one vector each (evenOddElement order).
//   BF16 → the bits shifted into the high half.
// AVX512-BF16's vdpbf16ps is not used: it would round x to bf16, and x must stay fp32.
#include "runtime/kernels/GemmInternal.h"

#include <immintrin.h>

namespace v4c::kernels {
namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int kWidth = 16;
  static constexpr int kMr = 8; // 8 x 2 accumulators + 2 weights + 1 broadcast of 32 registers
  // Weight rows per decode tile (streams side by side) for m rows of x; measured: FP8's
  // heavier decoding does better with 4 rows at m = 1, the other formats with 8.
  static constexpr int gemvRows(int m, int32_t format) {
    return m == 1 ? (format == V4C_W_FP8_E4M3 ? 4 : 8) : m == 2 ? 4 : 2;
  }
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float *p) { return _mm512_loadu_ps(p); }
  static void store(float *p, V v) { _mm512_storeu_ps(p, v); }
  static V bcast(float f) { return _mm512_set1_ps(f); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static float hsum(V v) { // (GCC 12's _mm512_reduce_add_ps trips -Wuninitialized)
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
  }

  /// panel[kk·32 + r] = src[r·stride + kk] for r < 32, kk < len, by 16x16 register transposes
  /// (reads and writes up to len rounded to 16, inside both buffers' 128 rows).
  static void transpose(const float *src, int64_t stride, int64_t len, float *panel) {
    for (int64_t k0 = 0; k0 < len; k0 += 16)
      for (int r0 = 0; r0 < 32; r0 += 16) {
        __m512 v[16];
        for (int i = 0; i < 16; ++i)
          v[i] = _mm512_loadu_ps(src + (r0 + i) * stride + k0);
        transpose16(v);
        for (int i = 0; i < 16; ++i)
          _mm512_storeu_ps(panel + (k0 + i) * 32 + r0, v[i]);
      }
  }

  /// Rows → columns of a 16x16 block: pairs, then quads within 128-bit lanes, then lanes.
  static void transpose16(__m512 *r) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    auto lo = [](__m512 a, __m512 b) {
      return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
    };
    auto hi = [](__m512 a, __m512 b) {
      return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
    };
    // r[4i + j], 128-bit lane L: column 4L + j of rows 4i..4i+3.
    for (int i = 0; i < 16; i += 4) {
      r[i] = lo(t[i], t[i + 2]);
      r[i + 1] = hi(t[i], t[i + 2]);
      r[i + 2] = lo(t[i + 1], t[i + 3]);
      r[i + 3] = hi(t[i + 1], t[i + 3]);
    }
    for (int j = 0; j < 4; ++j) {
      t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);     // lanes 0, 2 of each
      t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD); // lanes 1, 3 of each
      t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
      t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
      r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
      r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
      r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xDD);
    }
  }
};

struct F32Row : RowBase<V4C_W_F32> {
  void decodeGroup(int64_t kk, __m512 *out) const {
    const float *at = reinterpret_cast<const float *>(row) + kk;
    out[0] = _mm512_loadu_ps(at);
    out[1] = _mm512_loadu_ps(at + 16);
  }
};

struct Bf16Row : RowBase<V4C_W_BF16> {
  void decodeGroup(int64_t kk, __m512 *out) const {
    for (int j = 0; j < 2; ++j) {
      __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + 2 * (kk + 16 * j)));
      out[j] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
  }
};

struct Fp8Row : RowBase<V4C_W_FP8_E4M3, 256> {
  void decodeGroup(int64_t kk, __m512 *out) const {
    __m512i words =
        _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(row + kk)));
    // (byte << 8) >> 1 arithmetic: sign at bits 15 and 14, exponent|mantissa at 7..13; clear 14.
    __m512i half = _mm512_and_si512(_mm512_srai_epi16(_mm512_slli_epi16(words, 8), 1),
                                    _mm512_set1_epi16(static_cast<short>(0xBFFF)));
    out[0] = _mm512_cvtph_ps(_mm512_castsi512_si256(half));
    out[1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(half, 1));
  }
  /// The NaN codes S.1111.111 are the bytes with (byte | 0x80) == 0xFF. Checked once per block,
  /// on bytes that decodeGroup has just brought into L1.
  bool blockHasNan(int64_t k0, int64_t len) const {
    const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80)), ones = _mm512_set1_epi8(-1);
    auto nanBytes = [&](__mmask64 valid, int64_t off) {
      __m512i bytes = _mm512_maskz_loadu_epi8(valid, row + k0 + off);
      return _mm512_mask_cmpeq_epi8_mask(valid, _mm512_or_si512(bytes, sign), ones);
    };
    if (len == kBlock)
      return (nanBytes(~__mmask64(0), 0) | nanBytes(~__mmask64(0), 64)) != 0;
    __mmask64 nan = 0;
    for (int64_t off = 0; off < len; off += 64)
      nan |= nanBytes(len - off >= 64 ? ~__mmask64(0) : (__mmask64(1) << (len - off)) - 1, off);
    return nan != 0;
  }
};

struct Fp4Row : RowBase<V4C_W_FP4_E2M1> {
  void decodeGroup(int64_t kk, __m512 *out) const {
    __m512 table =
        _mm512_mul_ps(_mm512_loadu_ps(kTables.e2m1), _mm512_set1_ps(groupScale(kk / kGroup)));
    __m512i bytes =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(row + kk / 2)));
    out[0] = _mm512_permutexvar_ps(bytes, table); // vpermps reads only index bits 0..3
    out[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), table);
  }
};

/// The activation quantization's loops, 16 lanes at a time; scalar tails.
struct Avx512Loops {
  static float amax(const float *x, int64_t len) {
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) // maxps returns its second operand when |x| is NaN
      acc = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), acc);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, acc);
    return scalarAmax(x + i, len - i, scalarAmax(lanes, 16, 0.0f));
  }
  static void roundTrip(float *x, int64_t len, float inverse, float scale) {
    const __m512 inv = _mm512_set1_ps(inverse), s = _mm512_set1_ps(scale);
    const __m512 hi = _mm512_set1_ps(448.0f), lo = _mm512_set1_ps(-448.0f);
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
      __m512 q = _mm512_mul_ps(_mm512_loadu_ps(x + i), inv);
      q = _mm512_min_ps(hi, _mm512_max_ps(lo, q)); // NaN passes (the second operand)
      __m512i bits = _mm512_castps_si512(q);
      // From 2^-6 up: the bits rounded to 3 mantissa bits, to nearest even (a carry into the
      // exponent is right; the sign bit is never reached). Below: a multiple of 2^-9.
      __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 20), _mm512_set1_epi32(1));
      __m512i normal = _mm512_and_si512(
          _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFFF))),
          _mm512_set1_epi32(static_cast<int>(0xFFF00000)));
      __m512 subnormal =
          _mm512_roundscale_ps(q, (9 << 4) | _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __mmask16 isNormal = _mm512_cmpge_epu32_mask(
          _mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x3C800000));
      __m512 r = _mm512_mask_blend_ps(isNormal, subnormal, _mm512_castsi512_ps(normal));
      // NaN: what the E4M3 NaN code decodes to, a quiet NaN with the input's sign.
      __m512i nan = _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(INT32_MIN)),
                                    _mm512_set1_epi32(0x7FC00000));
      r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(q, q, _CMP_UNORD_Q), _mm512_castsi512_ps(nan));
      _mm512_storeu_ps(x + i, _mm512_mul_ps(r, s));
    }
    for (; i < len; ++i)
      x[i] = scalarRoundTrip(x[i], inverse, scale);
  }
};

} // namespace

void gemmAvx512(const Problem &p) { gemmSimd<Avx512, F32Row, Bf16Row, Fp8Row, Fp4Row>(p); }
void fp8RoundTripAvx512(float *x, int64_t n, int64_t group) {
  fp8RoundTripGroups<Avx512Loops>(x, n, group);
}

} // namespace v4c::kernels
