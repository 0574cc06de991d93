// v4c_gemm's entry point: argument checks, the preparation of x (the activation quantization,
// zero padding, FP4's group order) and the choice of variant, made once from the CPU's features.
// Compiled for the baseline ISA; the variants live in GemmAvx512/GemmAvx2/GemmPortable.
#include "runtime/kernels/GemmInternal.h"
#include "runtime/kernels/ThreadPool.h"

#if V4C_KERNELS_X86
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace v4c::kernels {

namespace {

constexpr DecodeTables makeTables() {
  DecodeTables t{};
  constexpr float nan = std::numeric_limits<float>::quiet_NaN();
  // E4M3FN: normal (−1)^s·2^(e−7)·(1 + m/8), subnormal (e = 0) (−1)^s·2^−6·(m/8); S.1111.111 is
  // NaN. Every step is a product of small powers of two, so exact in a constant expression.
  for (int code = 0; code < 256; ++code) {
    int e = (code >> 3) & 0xF, m = code & 7;
    float pow2 = 1.0f; // 2^(max(e,1) − 7)
    for (int i = 0; i < 6; ++i)
      pow2 *= 0.5f;
    for (int i = 1; i < e; ++i)
      pow2 *= 2.0f;
    float magnitude = e == 0 ? pow2 * (m / 8.0f) : pow2 * (1.0f + m / 8.0f);
    if (e == 15 && m == 7)
      magnitude = nan;
    t.e4m3[code] = code & 0x80 ? -magnitude : magnitude;
  }
  // E8M0: 2^(e − 127), down to the fp32 subnormal 2^-127; 0xFF is NaN.
  float pow2 = 1.0f;
  for (int i = 0; i < 127; ++i)
    pow2 *= 0.5f;
  for (int code = 0; code < 255; ++code) {
    t.e8m0[code] = pow2;
    if (code < 254) // 2^128 would overflow, and the constant evaluation with it
      pow2 *= 2.0f;
  }
  t.e8m0[255] = nan;
  const float e2m1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (int code = 0; code < 16; ++code)
    t.e2m1[code] = code & 8 ? -e2m1[code & 7] : e2m1[code & 7];
  return t;
}

} // namespace

const DecodeTables kTables = makeTables();

uint8_t floatToE4m3(float value) { return encodeE4m3(value); }

namespace {

//===----------------------------------------------------------------------===//
// Variants and dispatch
//===----------------------------------------------------------------------===//

struct Variant {
  const char *name;
  void (*run)(const Problem &);
  void (*fp8RoundTrip)(float *x, int64_t n, int64_t group);
  bool (*available)();
  bool fp4EvenOdd; // wants FP4's x groups in evenOddElement order
};

#if V4C_KERNELS_X86
bool hasAvx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
bool hasAvx512Bf16() {
  return hasAvx512() && __builtin_cpu_supports("avx512bf16") &&
         __builtin_cpu_supports("avx512vbmi");
}
bool hasAvx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}
#endif
bool always() { return true; }

// Best first.
const Variant kVariants[] = {
#if V4C_KERNELS_X86
    {"avx512bf16", gemmAvx512Bf16, fp8RoundTripAvx512, hasAvx512Bf16, true},
    {"avx512", gemmAvx512, fp8RoundTripAvx512, hasAvx512, true},
    {"avx2", gemmAvx2, fp8RoundTripAvx2, hasAvx2, true},
#endif
    {"portable", gemmPortable, fp8RoundTripPortable, always, false},
};

const Variant *bestVariant() {
  static const Variant *best = [] {
    for (const Variant &v : kVariants)
      if (v.available())
        return &v;
    return &kVariants[0];
  }();
  return best;
}

std::atomic<const Variant *> forced{nullptr};

const Variant &currentVariant() {
  const Variant *v = forced.load(std::memory_order_relaxed);
  return v ? *v : *bestVariant();
}

/// Runs the variants in a fixed floating-point environment, whatever the caller's: round to
/// nearest even, no flush-to-zero, no denormals-are-zero. Results must not depend on the
/// caller's MXCSR (DAZ would turn subnormal activations and the E8M0 scale 2^-127 into zero,
/// FTZ would flush tiny products), and every rounding in here assumes RNE.
class PinnedFpEnvironment {
public:
#if V4C_KERNELS_X86
  PinnedFpEnvironment() : saved_(_mm_getcsr()) {
    if (saved_ != kDefault)
      _mm_setcsr(kDefault);
  }
  ~PinnedFpEnvironment() {
    if (saved_ != kDefault)
      _mm_setcsr(saved_);
  }

private:
  static constexpr unsigned kDefault = 0x1F80; // all exceptions masked, RNE, no FTZ/DAZ
  unsigned saved_;
#endif
};

void fillNaN(float *y, int64_t ldy, int64_t m, int64_t nBegin, int64_t nEnd) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t n = nBegin; n < nEnd; ++n)
      y[i * ldy + n] = std::numeric_limits<float>::quiet_NaN();
}

} // namespace
} // namespace v4c::kernels

using namespace v4c::kernels;

extern "C" void v4c_fp8_round_trip(float *x, int64_t n, int64_t group) {
  if (n <= 0 || group <= 0)
    return;
  PinnedFpEnvironment pinned;
  currentVariant().fp8RoundTrip(x, n, group);
}

namespace {

/// What v4c_gemm_rms_norm and v4c_gemm_swiglu compute from their inputs before the product.
struct Prologue {
  enum Kind { kRmsNorm, kSwiglu } kind;
  const void *normWeight; // rms norm: k values in normFormat (V4C_W_F32 or V4C_W_BF16), or null
  int32_t normFormat;
  double eps;
  const float *up; // swiglu: x is the gate
  float limit;
};

// The reference's rmsNorm and SwiGLU (runtime/reference), in place on one row. This unit is
// compiled for the baseline ISA, so no multiply-add is contracted and the values are the same.
void rmsNormRow(float *row, int64_t k, const Prologue &norm) {
  double sumSq = 0;
  for (int64_t c = 0; c < k; ++c)
    sumSq += double(row[c]) * row[c];
  float r = float(1.0 / std::sqrt(sumSq / double(k) + norm.eps));
  const auto *weight = static_cast<const uint8_t *>(norm.normWeight);
  for (int64_t c = 0; c < k; ++c)
    row[c] = row[c] * r * (weight ? decodeElement(norm.normFormat, weight, c) : 1.0f);
}
void swigluRow(float *gate, const float *up, int64_t k, float limit) {
  for (int64_t c = 0; c < k; ++c) {
    float g = gate[c], u = up[c];
    if (limit > 0) { // NaN stays NaN through both, as with arith.minimumf/maximumf
      u = std::clamp(u, -limit, limit);
      g = std::min(g, limit);
    }
    gate[c] = g / (1.0f + std::exp(-g)) * u;
  }
}

void gemm(const float *x, int64_t m, int64_t k, const Prologue *prologue, const void *w,
          int32_t wformat, const void *scale, int32_t sformat, int64_t n_total, int64_t n_begin,
          int64_t n_end, int32_t quantize_act, float *y, int64_t ldy) {
  if (n_begin < 0)
    n_begin = 0;
  if (n_end > n_total)
    n_end = n_total;
  if (m <= 0 || n_begin >= n_end)
    return;
  bool badFormat = wformat < V4C_W_F32 || wformat > V4C_W_FP4_E2M1 || sformat < V4C_SCALE_NONE ||
                   sformat > V4C_SCALE_F32 || (sformat != V4C_SCALE_NONE && !scale) ||
                   (wformat == V4C_W_FP4_E2M1 && k % 2 != 0) ||
                   (prologue && prologue->kind == Prologue::kRmsNorm &&
                    prologue->normFormat != V4C_W_F32 && prologue->normFormat != V4C_W_BF16);
  if (badFormat || k < 0)
    return fillNaN(y, ldy, m, n_begin, n_end);
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t n = n_begin; n < n_end; ++n)
        y[i * ldy + n] = 0.0f;
    return;
  }

  // The SIMD paths read x in whole groups of 32: copy it into a zero-padded buffer when its rows
  // do not end on one, when they are to be normalized or quantized, or when the groups are to be
  // reordered.
  PinnedFpEnvironment pinned;
  const Variant &variant = currentVariant();
  bool evenOdd = variant.fp4EvenOdd && wformat == V4C_W_FP4_E2M1;
  Problem p{};
  p.x = x;
  p.ldx = p.k = k;
  p.m = m;
  p.w = static_cast<const uint8_t *>(w);
  p.wformat = wformat;
  p.scale = scale;
  p.sformat = sformat;
  p.nBegin = n_begin;
  p.nEnd = n_end;
  p.y = y;
  p.ldy = ldy;
  if (prologue || quantize_act || evenOdd || k % kGroup != 0) {
    thread_local std::vector<float> prepared, row;
    int64_t ldx = ceilDiv(k, kGroup) * kGroup;
    prepared.assign(static_cast<size_t>(m * ldx), 0.0f);
    row.resize(static_cast<size_t>(k));
    for (int64_t i = 0; i < m; ++i) {
      std::memcpy(row.data(), x + i * k, static_cast<size_t>(k) * sizeof(float));
      if (prologue && prologue->kind == Prologue::kRmsNorm)
        rmsNormRow(row.data(), k, *prologue);
      if (prologue && prologue->kind == Prologue::kSwiglu)
        swigluRow(row.data(), prologue->up + i * k, k, prologue->limit);
      if (quantize_act)
        variant.fp8RoundTrip(row.data(), k, kBlock);
      float *out = prepared.data() + i * ldx;
      for (int64_t c = 0; c < ldx; ++c) {
        int64_t e = evenOdd ? c / kGroup * kGroup + evenOddElement(c % kGroup) : c;
        out[c] = e < k ? row[e] : 0.0f;
      }
    }
    p.x = prepared.data();
    p.ldx = ldx;
  }
  // Split N over the threads in 64-row chunks (each column is computed the same way whichever
  // chunk holds it, so results do not depend on the thread count). Products under ~128K
  // multiply-adds stay serial: handing them to a spinning worker costs more than it saves.
  // (One task per thread: finer tasks, claimed dynamically, measured slower.)
  constexpr int64_t kChunk = 64, kSerialWork = int64_t(1) << 17;
  int64_t chunks = ceilDiv(n_end - n_begin, kChunk);
  int tasks = int(std::min<int64_t>(chunks, threadCount()));
  if (tasks <= 1 || m * k * (n_end - n_begin) < kSerialWork)
    return variant.run(p);
  int64_t perTask = ceilDiv(chunks, tasks) * kChunk;
  parallelFor(tasks, [&](int t) {
    PinnedFpEnvironment pinnedHere; // MXCSR is per thread
    Problem part = p;
    part.nBegin = n_begin + t * perTask;
    part.nEnd = std::min(n_end, part.nBegin + perTask);
    if (part.nBegin < part.nEnd)
      variant.run(part);
  });
}

} // namespace

extern "C" void v4c_gemm(const float *x, int64_t m, int64_t k, const void *w, int32_t wformat,
                         const void *scale, int32_t sformat, int64_t n_total, int64_t n_begin,
                         int64_t n_end, int32_t quantize_act, float *y, int64_t ldy) {
  gemm(x, m, k, nullptr, w, wformat, scale, sformat, n_total, n_begin, n_end, quantize_act, y, ldy);
}

extern "C" void v4c_gemm_rms_norm(const float *x, int64_t m, int64_t k, const void *norm_weight,
                                  int32_t norm_wformat, double eps, const void *w, int32_t wformat,
                                  const void *scale, int32_t sformat, int64_t n_total,
                                  int64_t n_begin, int64_t n_end, int32_t quantize_act, float *y,
                                  int64_t ldy) {
  Prologue norm{Prologue::kRmsNorm, norm_weight, norm_wformat, eps, nullptr, 0.0f};
  gemm(x, m, k, &norm, w, wformat, scale, sformat, n_total, n_begin, n_end, quantize_act, y, ldy);
}

extern "C" void v4c_gemm_swiglu(const float *gate, int64_t m, int64_t k, const float *up,
                                float limit, const void *w, int32_t wformat, const void *scale,
                                int32_t sformat, int64_t n_total, int64_t n_begin, int64_t n_end,
                                int32_t quantize_act, float *y, int64_t ldy) {
  Prologue swiglu{Prologue::kSwiglu, nullptr, V4C_W_F32, 0.0, up, limit};
  gemm(gate, m, k, &swiglu, w, wformat, scale, sformat, n_total, n_begin, n_end, quantize_act, y,
       ldy);
}

extern "C" void v4c_set_num_threads(int threads) { setThreadCount(threads); }
extern "C" int v4c_get_num_threads(void) { return threadCount(); }

extern "C" const char *v4c_gemm_variant(void) { return currentVariant().name; }

extern "C" int v4c_gemm_force_variant(const char *name) {
  if (!name || std::strcmp(name, "auto") == 0) {
    forced.store(nullptr);
    return 1;
  }
  for (const Variant &v : kVariants)
    if (std::strcmp(v.name, name) == 0 && v.available()) {
      forced.store(&v);
      return 1;
    }
  return 0;
}
