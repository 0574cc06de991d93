// The AVX-512 variant with BF16 dot products (AVX512_BF16 and VBMI on top of GemmAvx512.cpp's
// F/BW/VL/DQ) for the decode GEMVs, m <= 4, on FP8 and FP4 weights; everything else runs
// GemmAvx512.cpp's code.
//
// Why: decoding weights to fp32 costs more instructions per byte than DRAM delivers bytes
// (GemmAvx512.cpp's FP8 GEMV reaches about half the read bandwidth of one core). Every E4M3
// and E2M1 value is exact in bf16, so the weights are decoded to bf16 by byte table lookups
// and multiplied with vdpbf16ps, two products per fp32 lane per instruction:
//   FP8: vpermi2b looks up the low and high byte of the bf16 of the 7-bit magnitude in two
//     128-entry tables, the byte's sign goes into bit 15, and unpacking the two byte vectors
//     gives 64 bf16 weights in two registers. NaN codes decode to a bf16 NaN, so no check.
//   FP4: vpermb does the same for both nibbles of 64 bytes (128 weights, four registers). A
//     128-bit lane holds one 16-byte group, so each fp32 lane of a product sums one group, and
//     the group scales multiply the lanes (four scales per 128 weights).
// x must be bf16 too, in the order the decoders produce weights. vdpbf16ps multiplies exactly
// (8-bit by 8-bit significands fit fp32) and adds in fp32, so x is split into bf16 pieces that
// sum to it exactly: one piece when x is already bf16 (DeepSeek's FP8 activation quantization
// leaves E4M3 values times a power of two), otherwise three (24 significand bits). The sums
// differ from GemmAvx512.cpp's only in the order of fp32 additions. (vdpbf16ps treats bf16
// subnormals as zero: an x piece below 2^-126 is lost, as is a product sum below that.)
#include "runtime/kernels/GemmInternal.h"

#include <immintrin.h>
#include <stdlib.h>

namespace v4c::kernels {
namespace {

constexpr int64_t kUnit = 128; // weights per step: one FP8 scale block, four FP4 groups
constexpr int kRegs = 4;       // bf16 registers per unit (32 weights each)

/// Low and high bytes of the bf16 of every E4M3 magnitude (0x7F: a quiet NaN) and E2M1 code.
struct alignas(64) Bf16Tables {
  uint8_t e4m3Lo[128], e4m3Hi[128], e2m1Lo[64], e2m1Hi[64];
};
/// Computed from the formats' fields at compile time: this unit is built for AVX-512 VBMI, so
/// it must run no code at load (a static initializer would execute on CPUs the dispatch in
/// Gemm.cpp rules out). tests/CMakeLists.txt checks that the SIMD objects have none.
constexpr Bf16Tables makeBf16Tables() {
  Bf16Tables t{};
  for (int c = 0; c < 128; ++c) {
    int e = c >> 3, m = c & 7;
    uint32_t bf16 = 0; // bits of the bf16: (biased exponent << 7) | mantissa
    if (c == 0x7F) {
      bf16 = 0x7FC0; // NaN
    } else if (e > 0) {
      bf16 = uint32_t(e - 7 + 127) << 7 | uint32_t(m) << 4; // (1 + m/8) 2^(e-7)
    } else if (m > 0) {                                     // m/8 · 2^-6 = m · 2^-9
      int top = m >= 4 ? 2 : m >= 2 ? 1 : 0;                // floor(log2 m)
      bf16 = uint32_t(top - 9 + 127) << 7 | uint32_t(m - (1 << top)) << (7 - top);
    }
    t.e4m3Lo[c] = uint8_t(bf16);
    t.e4m3Hi[c] = uint8_t(bf16 >> 8);
  }
  // E2M1 magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6 as bf16; code bit 3 is the sign.
  const uint32_t e2m1[8] = {0x0000, 0x3F00, 0x3F80, 0x3FC0, 0x4000, 0x4040, 0x4080, 0x40C0};
  for (int c = 0; c < 16; ++c) {
    uint32_t bf16 = e2m1[c & 7] | (c & 8 ? 0x8000u : 0u);
    t.e2m1Lo[c] = uint8_t(bf16);
    t.e2m1Hi[c] = uint8_t(bf16 >> 8);
  }
  return t;
}
constexpr Bf16Tables kBf16 = makeBf16Tables();

/// The x of one call: rows × pieces × units × 128 bf16 words, in decoder order.
struct Bf16Activations {
  const uint16_t *words;
  int64_t units, pieces;
  const __m512i *at(int64_t row, int64_t piece, int64_t unit) const {
    return reinterpret_cast<const __m512i *>(words + ((row * pieces + piece) * units + unit) * kUnit);
  }
};

/// A thread's buffer for the bf16 x (malloc'ed: no standard-library templates in here).
struct Scratch {
  uint16_t *data = nullptr;
  size_t capacity = 0;
  ~Scratch() { free(data); }
  uint16_t *reserve(size_t words) {
    if (words > capacity) {
      free(data);
      data = static_cast<uint16_t *>(aligned_alloc(64, (words * 2 + 63) / 64 * 64));
      capacity = data ? words : 0;
    }
    return data;
  }
};
thread_local Scratch scratch;

/// 16 floats of a row at `at`, zero from `valid` on (valid may be <= 0).
__m512 loadFloats(const float *at, int64_t valid) {
  if (valid >= 16)
    return _mm512_loadu_ps(at);
  return _mm512_maskz_loadu_ps(valid <= 0 ? 0 : __mmask16((1u << valid) - 1), at);
}

/// The 128 bf16 words of one unit's piece, from 32-word vectors in p.x's order (natural[w]
/// holds x 32w..32w+31), moved into decoder order. Both orders keep words in runs of 8 (one
/// 128-bit lane), so this is a shuffle of lanes:
///   FP8: per 64 weights, decoder register h lane L holds weights 16L + 8h + j (j < 8).
///   FP4: decoder register r lane L holds the 8 weights of group L that p.x (evenOddElement
///     order) keeps at 8r..8r+7 of the group: a 4x4 transpose of lanes.
void toDecoderOrder(bool fp4, const __m512i (&natural)[kRegs], __m512i (&out)[kRegs]) {
  if (!fp4) {
    for (int half = 0; half < 2; ++half) {
      out[2 * half] = _mm512_shuffle_i64x2(natural[2 * half], natural[2 * half + 1], 0x88);
      out[2 * half + 1] = _mm512_shuffle_i64x2(natural[2 * half], natural[2 * half + 1], 0xDD);
    }
    return;
  }
  __m512i t0 = _mm512_shuffle_i64x2(natural[0], natural[1], 0x44);
  __m512i t1 = _mm512_shuffle_i64x2(natural[0], natural[1], 0xEE);
  __m512i t2 = _mm512_shuffle_i64x2(natural[2], natural[3], 0x44);
  __m512i t3 = _mm512_shuffle_i64x2(natural[2], natural[3], 0xEE);
  out[0] = _mm512_shuffle_i64x2(t0, t2, 0x88);
  out[1] = _mm512_shuffle_i64x2(t0, t2, 0xDD);
  out[2] = _mm512_shuffle_i64x2(t1, t3, 0x88);
  out[3] = _mm512_shuffle_i64x2(t1, t3, 0xDD);
}

/// Splits p.x into bf16 pieces in decoder order. False when x holds Inf or NaN (the split
/// would turn them into NaN) or memory runs out: the caller takes the fp32 path.
bool prepareActivations(const Problem &p, bool fp4, Bf16Activations &out) {
  const int64_t units = ceilDiv(p.k, kUnit);
  const __m512i exponent = _mm512_set1_epi32(0x7F800000), low = _mm512_set1_epi32(0xFFFF);
  __mmask16 nonFinite = 0, inexact = 0;
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t c = 0; c < p.ldx; c += 16) {
      __m512i bits = _mm512_castps_si512(loadFloats(p.x + i * p.ldx + c, p.ldx - c));
      nonFinite |= _mm512_cmpeq_epi32_mask(_mm512_and_si512(bits, exponent), exponent);
      inexact |= _mm512_test_epi32_mask(bits, low);
    }
  if (nonFinite)
    return false;
  const int64_t pieces = inexact ? 3 : 1;
  uint16_t *words = scratch.reserve(size_t(p.m * pieces * units * kUnit));
  if (!words)
    return false;
  out = {words, units, pieces};
  const __m512 top = _mm512_castsi512_ps(_mm512_set1_epi32(int(0xFFFF0000u)));
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t u = 0; u < units; ++u) {
      __m512 rest[2 * kRegs]; // the unit's x (zero past the padded row), then what is left
      for (int q = 0; q < 2 * kRegs; ++q) {
        int64_t c = u * kUnit + 16 * q;
        rest[q] = loadFloats(p.x + i * p.ldx + c, p.ldx - c);
      }
      for (int64_t s = 0; s < pieces; ++s) {
        __m512i natural[kRegs], ordered[kRegs];
        for (int w = 0; w < kRegs; ++w) {
          // Truncation to bf16 keeps each piece exact and leaves an exact remainder.
          __m512 first = _mm512_and_ps(rest[2 * w], top);
          __m512 second = _mm512_and_ps(rest[2 * w + 1], top);
          natural[w] = __m512i(_mm512_cvtne2ps_pbh(second, first)); // exact: bf16 values
          rest[2 * w] = _mm512_sub_ps(rest[2 * w], first);
          rest[2 * w + 1] = _mm512_sub_ps(rest[2 * w + 1], second);
        }
        toDecoderOrder(fp4, natural, ordered);
        uint16_t *to = words + ((i * pieces + s) * units + u) * kUnit;
        for (int w = 0; w < kRegs; ++w)
          _mm512_store_si512(to + 32 * w, ordered[w]);
      }
    }
  return true;
}

/// Bytes [0, len) of `at` (len < 64 reads nothing past it).
__m512i loadBytes(const uint8_t *at, int64_t len) {
  if (len >= 64)
    return _mm512_loadu_si512(at);
  return _mm512_maskz_loadu_epi8(len <= 0 ? 0 : (__mmask64(1) << len) - 1, at);
}

struct Fp8Row {
  static constexpr bool kFp4 = false;
  const Problem *p;
  const uint8_t *row;
  int64_t scaleBase;
  void init(const Problem &problem, int64_t n) {
    p = &problem;
    row = problem.w + n * problem.k;
    scaleBase = (n / kBlock) * ceilDiv(problem.k, kBlock);
  }
  int64_t unitBytes() const { return kUnit; }
  int64_t rowBytes() const { return p->k; }
  void decode(int64_t u, __m512i (&w)[kRegs]) const {
    const __m512i lo0 = _mm512_load_si512(kBf16.e4m3Lo), lo1 = _mm512_load_si512(kBf16.e4m3Lo + 64);
    const __m512i hi0 = _mm512_load_si512(kBf16.e4m3Hi), hi1 = _mm512_load_si512(kBf16.e4m3Hi + 64);
    for (int h = 0; h < 2; ++h) {
      int64_t first = u * kUnit + 64 * h;
      __m512i bytes = loadBytes(row + first, p->k - first);
      __m512i lo = _mm512_permutex2var_epi8(lo0, bytes, lo1); // index bits 0..6: the magnitude
      __m512i hi = _mm512_permutex2var_epi8(hi0, bytes, hi1);
      hi = _mm512_ternarylogic_epi32(hi, bytes, _mm512_set1_epi8(char(0x80)), 0xF8); // hi | (bytes & 0x80)
      w[2 * h] = _mm512_unpacklo_epi8(lo, hi);
      w[2 * h + 1] = _mm512_unpackhi_epi8(lo, hi);
    }
  }
  __m512 multiplier(int64_t u) const {
    return _mm512_set1_ps(readScale(p->scale, p->sformat, scaleBase + u));
  }
};

struct Fp4Row {
  static constexpr bool kFp4 = true;
  const Problem *p;
  const uint8_t *row;
  int64_t scaleBase, groups;
  void init(const Problem &problem, int64_t n) {
    p = &problem;
    row = problem.w + n * (problem.k / 2);
    groups = ceilDiv(problem.k, kGroup);
    scaleBase = n * groups;
  }
  int64_t unitBytes() const { return kUnit / 2; }
  int64_t rowBytes() const { return p->k / 2; }
  void decode(int64_t u, __m512i (&w)[kRegs]) const {
    const __m512i lo = _mm512_load_si512(kBf16.e2m1Lo), hi = _mm512_load_si512(kBf16.e2m1Hi);
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    __m512i bytes = loadBytes(row + u * kUnit / 2, p->k / 2 - u * kUnit / 2);
    __m512i codes[2] = {_mm512_and_si512(bytes, nibble),
                        _mm512_and_si512(_mm512_srli_epi16(bytes, 4), nibble)};
    for (int o = 0; o < 2; ++o) {
      __m512i l = _mm512_permutexvar_epi8(codes[o], lo), h = _mm512_permutexvar_epi8(codes[o], hi);
      w[2 * o] = _mm512_unpacklo_epi8(l, h);
      w[2 * o + 1] = _mm512_unpackhi_epi8(l, h);
    }
  }
  /// The scales of groups 4u..4u+3, each on the four lanes of its 128-bit lane; groups past the
  /// row get 0 (their weights and x are zero).
  __m512 multiplier(int64_t u) const {
    int64_t g = 4 * u, count = minI64(4, groups - g);
    __m128 four;
    uint32_t codes = 0;
    if (p->sformat == V4C_SCALE_E8M0 && count == 4 &&
        (__builtin_memcpy(&codes, static_cast<const uint8_t *>(p->scale) + scaleBase + g, 4),
         !hasByte(codes, 0x00) && !hasByte(codes, 0xFF))) {
      // 2^(e−127) from the bits for 1 <= e <= 254 (0, the subnormal, and NaN take the table).
      four = _mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(int(codes))), 23));
    } else {
      alignas(16) float s[4] = {0, 0, 0, 0};
      for (int64_t j = 0; j < count; ++j)
        s[j] = readScale(p->scale, p->sformat, scaleBase + g + j);
      four = _mm_load_ps(s);
    }
    const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(four));
  }
  static bool hasByte(uint32_t word, uint8_t byte) {
    uint32_t v = word ^ (0x01010101u * byte);
    return ((v - 0x01010101u) & ~v & 0x80808080u) != 0;
  }
};

float hsum(__m512 v) {
  __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}

/// y[0..M, n..n+R): R weight rows streamed side by side, each unit decoded once and met by the
/// M rows of x (P pieces each); per unit the lanes' sums are scaled into per-lane totals.
template <class Row, int M, int P, int R>
void gemvTile(const Problem &p, const Bf16Activations &x, int64_t n) {
  Row rows[R];
  __m512 total[R][M];
  for (int r = 0; r < R; ++r) {
    rows[r].init(p, n + r);
    for (int i = 0; i < M; ++i)
      total[r][i] = _mm512_setzero_ps();
  }
  // Software prefetch about 16 KiB ahead (see tilePrefetchOffset).
  const int64_t unitBytes = rows[0].unitBytes(), rowBytes = rows[0].rowBytes();
  for (int64_t u = 0; u < x.units; ++u) {
    int64_t prefetchOffset = tilePrefetchOffset(u * unitBytes, 16384 / R, rowBytes, R);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      for (int64_t off = 0; off < unitBytes; off += 64)
        __builtin_prefetch(rows[r].row + prefetchOffset + off);
      __m512i w[kRegs];
      rows[r].decode(u, w);
      __m512 part[M];
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) {
        part[i] = _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int s = 0; s < P; ++s) {
          const __m512i *xv = x.at(i, s, u);
#pragma GCC unroll 4
          for (int j = 0; j < kRegs; ++j)
            part[i] = _mm512_dpbf16_ps(part[i], __m512bh(w[j]), __m512bh(_mm512_load_si512(xv + j)));
        }
      }
      __m512 mult = rows[r].multiplier(u);
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i)
        total[r][i] = _mm512_fmadd_ps(part[i], mult, total[r][i]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < M; ++i)
      p.y[i * p.ldy + n + r] = hsum(total[r][i]);
}

template <class Row, int M, int P>
void gemvRange(const Problem &p, const Bf16Activations &x) {
  constexpr int R = M == 1 ? 8 : 2;
  int64_t n = p.nBegin;
  for (; n + R <= p.nEnd; n += R)
    gemvTile<Row, M, P, R>(p, x, n);
  for (; n < p.nEnd; ++n)
    gemvTile<Row, M, P, 1>(p, x, n);
}

template <class Row, int M>
void gemvPieces(const Problem &p, const Bf16Activations &x) {
  if (x.pieces == 1)
    return gemvRange<Row, M, 1>(p, x);
  return gemvRange<Row, M, 3>(p, x);
}

template <class Row>
void gemv(const Problem &p, const Bf16Activations &x) {
  switch (p.m) {
  case 1: return gemvPieces<Row, 1>(p, x);
  case 2: return gemvPieces<Row, 2>(p, x);
  case 3: return gemvPieces<Row, 3>(p, x);
  default: return gemvPieces<Row, 4>(p, x);
  }
}

} // namespace

void gemmAvx512Bf16(const Problem &p) {
  bool fp8 = p.wformat == V4C_W_FP8_E4M3, fp4 = p.wformat == V4C_W_FP4_E2M1;
  Bf16Activations x{};
  if (p.m > 4 || !(fp8 || fp4) || !prepareActivations(p, fp4, x))
    return gemmAvx512(p);
  if (fp8)
    return gemv<Fp8Row>(p, x);
  return gemv<Fp4Row>(p, x);
}

} // namespace v4c::kernels
