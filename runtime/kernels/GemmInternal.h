// Internals shared by the GEMM variants of Gemm.h: the checked problem, the exact decoding
// tables (defined once in Gemm.cpp), the scalar decoders used for K tails, the scalar parts of
// the activation quantization, and the blocking driver that each SIMD variant instantiates
// with its own vector type and weight decoders.
//
// The variants' translation units are compiled with different -m flags, so everything defined
// here has internal linkage (static, or the unnamed namespace): an inline function emitted by
// the AVX-512 unit must never be the copy the linker picks for a baseline caller. For the same
// reason the SIMD units use no standard-library templates.
#pragma once

#include "runtime/kernels/Gemm.h"

#include <cstdint>
#include <cstring>

namespace v4c::kernels {

constexpr int64_t kBlock = 128; // K promotion block and FP8 weight-scale block (MODEL.md §3.4)
constexpr int64_t kGroup = 32;  // FP4 scale group along K, and the decode unit of the SIMD paths

/// Exact fp32 values of every code: E4M3FN (0x7F/0xFF are NaN), E8M0 (2^(e-127), 0xFF NaN,
/// 0 is the subnormal 2^-127), E2M1.
struct alignas(64) DecodeTables {
  float e4m3[256];
  float e8m0[256];
  float e2m1[16];
};
extern const DecodeTables kTables;

/// fp32 → E4M3FN exactly as frontend/checkpoint/LowPrecision.h's floatToE4m3 (PyTorch's cast):
/// round to nearest even, no saturation, magnitudes past 464 (and Inf, NaN) → NaN.
uint8_t floatToE4m3(float value);

/// One v4c_gemm call after the argument checks, with x already quantized when asked.
struct Problem {
  /// m rows of ldx floats, zero from k up to a multiple of kGroup. For FP4 weights on the SIMD
  /// variants each group of 32 is stored in the order their decoders produce weights (see
  /// evenOddElement).
  const float *x;
  int64_t ldx;
  int64_t m, k;
  const uint8_t *w;
  int32_t wformat;
  const void *scale;
  int32_t sformat;
  int64_t nBegin, nEnd;
  float *y;
  int64_t ldy;
};

/// The SIMD decoders expand the 16 bytes of an FP4 group into its 16 low nibbles (elements
/// 0, 2, .., 30) and then its 16 high nibbles (1, 3, .., 31), a table lookup each with no
/// interleaving; x is stored in that order instead. Slot s of a group holds this element.
static inline int64_t evenOddElement(int64_t slot) {
  return slot < kGroup / 2 ? 2 * slot : 2 * (slot - kGroup / 2) + 1;
}

void gemmPortable(const Problem &p);
void gemmAvx2(const Problem &p);
void gemmAvx512(const Problem &p);
/// AVX-512 with BF16 dot products for m <= 4 on FP8/FP4 weights, else gemmAvx512.
void gemmAvx512Bf16(const Problem &p);
/// v4c_fp8_round_trip of each variant (bit-identical; the SIMD ones vectorize the loops).
void fp8RoundTripPortable(float *x, int64_t n, int64_t group);
void fp8RoundTripAvx2(float *x, int64_t n, int64_t group);
void fp8RoundTripAvx512(float *x, int64_t n, int64_t group);

static inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t minI64(int64_t a, int64_t b) { return a < b ? a : b; }

static inline float readScale(const void *scale, int32_t format, int64_t index) {
  if (format == V4C_SCALE_E8M0)
    return kTables.e8m0[static_cast<const uint8_t *>(scale)[index]];
  if (format == V4C_SCALE_F32)
    return static_cast<const float *>(scale)[index];
  return 1.0f;
}

/// The scale of row n in K block kb for the block-scaled formats (F32, BF16, FP8: 128x128).
static inline float blockScale(const Problem &p, int64_t n, int64_t kb) {
  return readScale(p.scale, p.sformat, (n / kBlock) * ceilDiv(p.k, kBlock) + kb);
}
/// The scale of row n in K group g for FP4 (one per 32 along K).
static inline float groupScale(const Problem &p, int64_t n, int64_t g) {
  return readScale(p.scale, p.sformat, n * ceilDiv(p.k, kGroup) + g);
}

/// Bytes of `count` consecutive weights (count even for FP4).
static inline int64_t weightBytes(int32_t format, int64_t count) {
  switch (format) {
  case V4C_W_F32: return 4 * count;
  case V4C_W_BF16: return 2 * count;
  case V4C_W_FP8_E4M3: return count;
  default: return count / 2;
  }
}

/// Element i of a weight row as stored, before any scale.
static inline float decodeElement(int32_t format, const uint8_t *row, int64_t i) {
  switch (format) {
  case V4C_W_F32: {
    float v;
    std::memcpy(&v, row + 4 * i, 4);
    return v;
  }
  case V4C_W_BF16: {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  case V4C_W_FP8_E4M3: return kTables.e4m3[row[i]];
  default: return kTables.e2m1[(row[i / 2] >> (4 * (i & 1))) & 0xF];
  }
}

//===----------------------------------------------------------------------===//
// The activation quantization (DeepSeek's act_quant; the reference's fp8RoundTrip)
//===----------------------------------------------------------------------===//

static inline uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}
static inline float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

/// The E4M3FN code of `value` (floatToE4m3).
static inline uint8_t encodeE4m3(float value) {
  uint32_t bits = bitsOf(value);
  uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80);
  uint32_t magnitude = bits & 0x7FFFFFFF;
  if (magnitude > 0x43E80000u) // above 464 (the tie between 448 and 480), Inf, NaN
    return sign | 0x7F;
  uint32_t exponent = magnitude >> 23;
  if (exponent >= 121) { // ≥ 2^-6, a normal E4M3: keep 3 mantissa bits, round to nearest even;
    // a carry into the exponent is the correct rounding, and the E4M3 code is the rounded fp32
    // exponent/mantissa fields rebiased from 127 to 7.
    uint32_t rounded = magnitude + 0x7FFFF + ((magnitude >> 20) & 1);
    return sign | static_cast<uint8_t>((rounded >> 20) - (120u << 3));
  }
  if (exponent < 117) // below 2^-10, half the smallest subnormal: rounds to zero
    return sign;
  // Subnormal E4M3: the code is the value in units of 2^-9, rounded to nearest even (8 units
  // rounds up into the smallest normal, code 0x08, which is the same number).
  uint32_t significand = (magnitude & 0x7FFFFF) | 0x800000; // value = significand·2^(exponent−150)
  int shift = 141 - static_cast<int>(exponent);
  uint32_t units = (significand + (1u << (shift - 1)) - 1 + ((significand >> shift) & 1)) >> shift;
  return sign | static_cast<uint8_t>(units);
}

/// 2^ceil(log2(amax / 448)) the way DeepSeek's act_quant computes it (LowPrecision.h's
/// ue8m0Scale): amax times the fp32 reciprocal, then the exponent read off the bits plus one
/// when the mantissa is not zero, clamped to [-127, 128] and rebuilt from bits.
static inline float ue8m0Scale448(float amax) {
  uint32_t bits = bitsOf(amax * static_cast<float>(1.0 / 448.0));
  int exponent = static_cast<int>((bits >> 23) & 0xFF) - 127 + ((bits & 0x7FFFFF) != 0);
  exponent = exponent < -127 ? -127 : exponent > 128 ? 128 : exponent;
  return floatOf(static_cast<uint32_t>(exponent + 127) << 23);
}

/// amax < |x[i]| ? |x[i]| : amax over x[0..len): std::max(amax, |x|), which skips NaN.
static inline float scalarAmax(const float *x, int64_t len, float amax) {
  for (int64_t i = 0; i < len; ++i) {
    float a = __builtin_fabsf(x[i]);
    amax = amax < a ? a : amax;
  }
  return amax;
}

/// One element: clamp(x/scale, ±448) → E4M3 → × scale, with x/scale computed as x·inverse.
/// The scale is a power of two in [2^-127, 2^128], so 1/scale is exact (2^128 → 0 is the
/// reciprocal the division by Inf implies) and the product rounds exactly like the quotient.
static inline float scalarRoundTrip(float x, float inverse, float scale) {
  float q = x * inverse;
  q = q < -448.0f ? -448.0f : 448.0f < q ? 448.0f : q; // std::clamp: NaN passes through
  return kTables.e4m3[encodeE4m3(q)] * scale;
}

/// The round trip in groups, written like the reference's fp8RoundTrip so that every bit
/// agrees. `Loops` provides amax(x, len) and roundTrip(x, len, inverse, scale) for one group;
/// the maximum of a set does not depend on the order, so amax may use any number of lanes.
template <class Loops>
static void fp8RoundTripGroups(float *x, int64_t n, int64_t group) {
  for (int64_t g = 0; g < n; g += group) {
    int64_t len = minI64(group, n - g);
    float amax = Loops::amax(x + g, len);
    float scale = ue8m0Scale448(amax < 1e-4f ? 1e-4f : amax);
    Loops::roundTrip(x + g, len, 1.0f / scale, scale);
  }
}

namespace {

//===----------------------------------------------------------------------===//
// The blocking driver of the SIMD variants
//===----------------------------------------------------------------------===//
//
// An `Isa` provides: `V` (a vector of kWidth floats), kMr (rows of x per GEMM microkernel),
// gemvRows(M, format) (weight rows per GEMV tile for M rows of x), zero, load, store, bcast,
// fma, mul, hsum, and transpose (see gemmPanels). A weight-row decoder `Row` (one per format,
// derived from RowBase<format, unitInverse>) provides decodeGroup(kk, V out[kGroup / kWidth]):
// the 32 values at kk..kk+31 of its row divided by unitInverse (FP4: times their group scale,
// in evenOddElement order). A format whose SIMD decoding does not produce NaN itself (FP8's
// codes 0x7F/0xFF) also overrides blockHasNan.

/// The offset from each row's start at which a GEMV tile of R consecutive rows, streamed side
/// by side and now at `offset` in them, prefetches `distance` bytes ahead: past the end of its
/// rows it continues into the next tile's, which follow in memory. (Measured: prefetching only
/// within the tile's own rows leaves each tile to start cold, and the FP8 GEMV at half the
/// read bandwidth.)
static inline int64_t tilePrefetchOffset(int64_t offset, int64_t distance, int64_t rowBytes,
                                         int rows) {
  int64_t ahead = offset + distance;
  return ahead / rowBytes * rows * rowBytes + ahead % rowBytes;
}

/// Where a row starts, its scales, and the scalar K tail shared by all decoders. The format is
/// a template parameter so that none of its tests survive into the loops. Decoders may produce
/// the values divided by a power of two, UnitInverse: block sums are multiplied back.
template <int32_t Format, int UnitInverse = 1>
struct RowBase {
  static constexpr int32_t kFormat = Format;
  static constexpr bool kFp4 = Format == V4C_W_FP4_E2M1;
  const Problem *p = nullptr;
  const uint8_t *row = nullptr;
  int64_t scaleBase = 0; // index of the row's first scale (FP4: per group; others: per block)

  void init(const Problem &problem, int64_t n) {
    p = &problem;
    row = problem.w + n * weightBytes(Format, problem.k);
    scaleBase = kFp4 ? n * ceilDiv(problem.k, kGroup) : (n / kBlock) * ceilDiv(problem.k, kBlock);
  }
  float groupScale(int64_t g) const { return readScale(p->scale, p->sformat, scaleBase + g); }
  /// The `len` < 32 values from kk to the end of the row, like decodeGroup, zero-padded to 32
  /// (x is zero-padded too, so the extra lanes add nothing).
  void decodeTail(int64_t kk, int64_t len, float *out) const {
    float scale = kFp4 ? groupScale(kk / kGroup) : 1.0f / UnitInverse;
    for (int64_t slot = 0; slot < kGroup; ++slot) {
      int64_t i = kFp4 ? evenOddElement(slot) : slot;
      out[slot] = i < len ? decodeElement(Format, row, kk + i) * scale : 0.0f;
    }
  }
  /// Whether the stored values [k0, k0 + len) hold a NaN that decodeGroup does not produce.
  bool blockHasNan(int64_t k0, int64_t len) const { return false; }
  /// What a block's partial sum is multiplied by: its scale (FP4's group scales are already
  /// inside the values) times UnitInverse, or NaN when the block holds a NaN code. Folding the
  /// unit into the scale is exact: both are powers of two, or an f32 scale times a power of two.
  float blockMultiplier(int64_t kb, bool nanSeen) const {
    if (nanSeen)
      return __builtin_nanf("");
    return (kFp4 ? 1.0f : readScale(p->scale, p->sformat, scaleBase + kb)) * UnitInverse;
  }
  /// Touches one block's worth of bytes at `offset` from the row's start (tilePrefetchOffset).
  void prefetch(int64_t offset) const {
    for (int64_t off = 0; off < weightBytes(Format, kBlock); off += 64)
      __builtin_prefetch(row + offset + off);
  }
};

/// part[i] += w[j] · x[i, kk + j·W] over the group at kk of one weight row: every decoded
/// vector meets all M rows of x.
template <class Isa, int M>
__attribute__((always_inline)) static inline void
fmaGroup(const Problem &p, int64_t kk, const typename Isa::V (&w)[kGroup / Isa::kWidth],
         typename Isa::V (&part)[M]) {
#pragma GCC unroll 4
  for (int j = 0; j < kGroup / Isa::kWidth; ++j)
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i)
      part[i] = Isa::fma(w[j], Isa::load(p.x + i * p.ldx + kk + j * Isa::kWidth), part[i]);
}

/// Decode (m <= 4): y[0..M, n..n+R) with lanes along K. The R weight rows are streamed side by
/// side, each once, and decoded in registers. Per K block the lanes hold partial sums, which
/// are scaled into per-lane totals; the lanes are summed once at the end.
template <class Isa, class Row, int M, int R>
static void gemvTile(const Problem &p, int64_t n) {
  using V = typename Isa::V;
  constexpr int W = Isa::kWidth, G = kGroup / W;
  // Software prefetch keeps about 16 KiB in flight (measured: this machine's hardware
  // prefetchers alone leave DRAM bandwidth unused with several streams).
  constexpr int64_t kPrefetchDistance = 16384 / R;
  const int64_t rowBytes = weightBytes(Row::kFormat, p.k);
  Row rows[R];
  V total[R][M];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    rows[r].init(p, n + r);
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i)
      total[r][i] = Isa::zero();
  }
  for (int64_t k0 = 0, kb = 0; k0 < p.k; k0 += kBlock, ++kb) {
    int64_t kEnd = minI64(k0 + kBlock, p.k), kFull = k0 + (kEnd - k0) / kGroup * kGroup;
    V part[R][M];
    int64_t prefetchOffset =
        tilePrefetchOffset(weightBytes(Row::kFormat, k0), kPrefetchDistance, rowBytes, R);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      rows[r].prefetch(prefetchOffset);
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i)
        part[r][i] = Isa::zero();
    }
    // Row by row within a group: a row's decoded vectors die at once, whatever R is, and the
    // R·M accumulator chains are independent.
    for (int64_t kk = k0; kk < kFull; kk += kGroup)
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        V w[G];
        rows[r].decodeGroup(kk, w);
        fmaGroup<Isa, M>(p, kk, w, part[r]);
      }
    if (kFull < kEnd) // the rows' last group, partial
      for (int r = 0; r < R; ++r) {
        alignas(64) float tail[kGroup];
        rows[r].decodeTail(kFull, kEnd - kFull, tail);
        V w[G];
        for (int j = 0; j < G; ++j)
          w[j] = Isa::load(tail + j * W);
        fmaGroup<Isa, M>(p, kFull, w, part[r]);
      }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      V mult = Isa::bcast(rows[r].blockMultiplier(kb, rows[r].blockHasNan(k0, kEnd - k0)));
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i)
        total[r][i] = Isa::fma(part[r][i], mult, total[r][i]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < M; ++i)
      p.y[i * p.ldy + n + r] = Isa::hsum(total[r][i]);
}

template <class Isa, class Row, int M>
static void gemvRange(const Problem &p) {
  constexpr int R = Isa::gemvRows(M, Row::kFormat);
  int64_t n = p.nBegin;
  for (; n + R <= p.nEnd; n += R)
    gemvTile<Isa, Row, M, R>(p, n);
  for (; n < p.nEnd; ++n)
    gemvTile<Isa, Row, M, 1>(p, n);
}

/// y[0..MR, 0..nr) (+)= (x[0..MR, 0..len) · panel) * mult: the outer-product microkernel of the
/// GEMM path, lanes along N. `panel` is one K block of NR = 2·kWidth decoded weight rows,
/// transposed to [len][NR]; the block sum is scaled into y (first block: stored).
template <class Isa, int MR>
static void microKernel(const float *x, int64_t ldx, const float *panel, int64_t len,
                        const float *mult, float *y, int64_t ldy, int64_t nr, bool first) {
  using V = typename Isa::V;
  constexpr int W = Isa::kWidth, NR = 2 * W;
  V acc[MR][2];
  for (int i = 0; i < MR; ++i)
    acc[i][0] = acc[i][1] = Isa::zero();
  for (int64_t kk = 0; kk < len; ++kk) {
    V w0 = Isa::load(panel + kk * NR), w1 = Isa::load(panel + kk * NR + W);
    for (int i = 0; i < MR; ++i) {
      V xi = Isa::bcast(x[i * ldx + kk]);
      acc[i][0] = Isa::fma(xi, w0, acc[i][0]);
      acc[i][1] = Isa::fma(xi, w1, acc[i][1]);
    }
  }
  V mult0 = Isa::load(mult), mult1 = Isa::load(mult + W);
  for (int i = 0; i < MR; ++i) {
    float *yi = y + i * ldy;
    if (nr == NR) {
      Isa::store(yi,
                 first ? Isa::mul(acc[i][0], mult0) : Isa::fma(acc[i][0], mult0, Isa::load(yi)));
      Isa::store(yi + W, first ? Isa::mul(acc[i][1], mult1)
                               : Isa::fma(acc[i][1], mult1, Isa::load(yi + W)));
      continue;
    }
    alignas(64) float sums[NR];
    Isa::store(sums, acc[i][0]);
    Isa::store(sums + W, acc[i][1]);
    for (int64_t c = 0; c < nr; ++c)
      yi[c] = first ? sums[c] * mult[c] : __builtin_fmaf(sums[c], mult[c], yi[c]);
  }
}

/// Runs microKernel<Isa, MR> for a run-time mr <= MR.
template <class Isa, int MR>
static void microKernelRows(int64_t mr, const float *x, int64_t ldx, const float *panel,
                            int64_t len, const float *mult, float *y, int64_t ldy, int64_t nr,
                            bool first) {
  if constexpr (MR > 1)
    if (mr < MR)
      return microKernelRows<Isa, MR - 1>(mr, x, ldx, panel, len, mult, y, ldy, nr, first);
  microKernel<Isa, MR>(x, ldx, panel, len, mult, y, ldy, nr, first);
}

/// Prefill and larger batches (m > 4): each K block of NR weight rows is decoded once,
/// transposed into a panel that stays in L1, and reused by every row of x in a chunk of MC
/// rows, kMr rows at a time. y holds the running block sums, so no extra accumulator memory.
template <class Isa, class Row>
static void gemmPanels(const Problem &p) {
  constexpr int W = Isa::kWidth, NR = 2 * W, MR = Isa::kMr;
  constexpr int64_t MC = 16 * MR;        // rows of x per decoded panel: keeps x's block in L1/L2
  alignas(64) float rowsBuf[NR][kBlock]; // decoded, row-major
  alignas(64) float panel[kBlock * NR];  // the same, transposed
  alignas(64) float mult[NR];
  std::memset(rowsBuf, 0, sizeof rowsBuf); // rows past nr are computed on, then dropped
  for (int64_t mc = 0; mc < p.m; mc += MC) {
    int64_t mEnd = minI64(mc + MC, p.m);
    for (int64_t n0 = p.nBegin; n0 < p.nEnd; n0 += NR) {
      int64_t nr = minI64(NR, p.nEnd - n0);
      Row rows[NR];
      for (int64_t r = 0; r < nr; ++r)
        rows[r].init(p, n0 + r);
      for (int64_t k0 = 0, kb = 0; k0 < p.k; k0 += kBlock, ++kb) {
        // The microkernel runs over whole groups: a partial last group is zero-padded in both
        // the panel and x, and its values may sit anywhere in it (evenOddElement).
        int64_t kEnd = minI64(k0 + kBlock, p.k), len = ceilDiv(kEnd - k0, kGroup) * kGroup;
        for (int64_t r = 0; r < NR; ++r) {
          mult[r] = 0.0f;
          if (r >= nr)
            continue;
          int64_t kk = k0;
          for (; kk + kGroup <= kEnd; kk += kGroup) {
            typename Isa::V w[kGroup / W];
            rows[r].decodeGroup(kk, w);
            for (int j = 0; j < kGroup / W; ++j)
              Isa::store(&rowsBuf[r][kk - k0 + j * W], w[j]);
          }
          if (kk < kEnd)
            rows[r].decodeTail(kk, kEnd - kk, &rowsBuf[r][kk - k0]);
          mult[r] = rows[r].blockMultiplier(kb, rows[r].blockHasNan(k0, kEnd - k0));
        }
        Isa::transpose(&rowsBuf[0][0], kBlock, len, panel);
        for (int64_t m0 = mc; m0 < mEnd; m0 += MR)
          microKernelRows<Isa, MR>(minI64(MR, mEnd - m0), p.x + m0 * p.ldx + k0, p.ldx, panel, len,
                                   mult, p.y + m0 * p.ldy + n0, p.ldy, nr, kb == 0);
      }
    }
  }
}

template <class Isa, class Row>
static void gemmFormat(const Problem &p) {
  switch (p.m) {
  case 1: return gemvRange<Isa, Row, 1>(p);
  case 2: return gemvRange<Isa, Row, 2>(p);
  case 3: return gemvRange<Isa, Row, 3>(p);
  case 4: return gemvRange<Isa, Row, 4>(p);
  default: return gemmPanels<Isa, Row>(p);
  }
}

/// The whole GEMM of one SIMD variant, given its vector type and its four row decoders.
template <class Isa, class F32Row, class Bf16Row, class Fp8Row, class Fp4Row>
static void gemmSimd(const Problem &p) {
  switch (p.wformat) {
  case V4C_W_F32: return gemmFormat<Isa, F32Row>(p);
  case V4C_W_BF16: return gemmFormat<Isa, Bf16Row>(p);
  case V4C_W_FP8_E4M3: return gemmFormat<Isa, Fp8Row>(p);
  default: return gemmFormat<Isa, Fp4Row>(p);
  }
}

} // namespace
} // namespace v4c::kernels
