// The portable variant: plain C++ on the exact decoding tables. It is the fallback for CPUs
// without AVX2 and the baseline the SIMD variants are tested against, so it is written to be
// obviously right: each weight row is decoded once to fp32 (FP4 with its group scales applied)
// and then meets every row of x, one 128-wide K block at a time.
#include "runtime/kernels/GemmInternal.h"

#include <vector>

namespace v4c::kernels {

void gemmPortable(const Problem &p) {
  std::vector<float> row(static_cast<size_t>(p.k));
  bool fp4 = p.wformat == V4C_W_FP4_E2M1;
  for (int64_t n = p.nBegin; n < p.nEnd; ++n) {
    const uint8_t *stored = p.w + n * weightBytes(p.wformat, p.k);
    for (int64_t g = 0; g * kGroup < p.k; ++g) {
      float scale = fp4 ? groupScale(p, n, g) : 1.0f;
      for (int64_t i = g * kGroup, e = minI64(i + kGroup, p.k); i < e; ++i)
        row[i] = decodeElement(p.wformat, stored, i) * scale;
    }
    for (int64_t i = 0; i < p.m; ++i) {
      const float *x = p.x + i * p.ldx;
      float total = 0.0f;
      for (int64_t k0 = 0, kb = 0; k0 < p.k; k0 += kBlock, ++kb) {
        // Eight interleaved partial sums let the compiler use SIMD lanes (it may not
        // reassociate one running sum).
        float lanes[8] = {};
        int64_t kEnd = minI64(k0 + kBlock, p.k), kk = k0;
        for (; kk + 8 <= kEnd; kk += 8)
          for (int j = 0; j < 8; ++j)
            lanes[j] += x[kk + j] * row[kk + j];
        for (; kk < kEnd; ++kk)
          lanes[0] += x[kk] * row[kk];
        float part = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                     ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        total += part * (fp4 ? 1.0f : blockScale(p, n, kb));
      }
      p.y[i * p.ldy + n] = total;
    }
  }
}

namespace {
struct PortableLoops {
  static float amax(const float *x, int64_t len) { return scalarAmax(x, len, 0.0f); }
  static void roundTrip(float *x, int64_t len, float inverse, float scale) {
    for (int64_t i = 0; i < len; ++i)
      x[i] = scalarRoundTrip(x[i], inverse, scale);
  }
};
} // namespace

void fp8RoundTripPortable(float *x, int64_t n, int64_t group) {
  fp8RoundTripGroups<PortableLoops>(x, n, group);
}

} // namespace v4c::kernels
