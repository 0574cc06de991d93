// The GEMM microkernels (runtime/kernels/Gemm.h), every variant this CPU has: exact decoding
// of each format against frontend/checkpoint/LowPrecision, the activation quantization bit
// for bit against the reference's fp8RoundTrip, and GEMMs on odd shapes against a
// double-precision product of independently dequantized weights, against the reference's
// blockScaledLinear, and against the portable variant.
#include "runtime/kernels/Gemm.h"
#include "runtime/kernels/GemmInternal.h"

#include "frontend/checkpoint/LowPrecision.h"
#include "runtime/reference/Kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

namespace lowp = v4c::lowp;
namespace ref = v4c::reference;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

uint32_t bitsOf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}
float fromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// The variants this CPU can run (the forced one is reset when the guard ends).
struct VariantGuard {
  ~VariantGuard() { v4c_gemm_force_variant(nullptr); }
};
std::vector<std::string> availableVariants() {
  std::vector<std::string> names;
  for (const char *name : {"portable", "avx2", "avx512", "avx512bf16"})
    if (v4c_gemm_force_variant(name))
      names.push_back(name);
  v4c_gemm_force_variant(nullptr);
  return names;
}

/// A weight matrix in one of the kernel formats plus its exact dequantization, computed with
/// LowPrecision's decoders (not the kernels' tables).
struct Weights {
  int32_t wformat = V4C_W_F32, sformat = V4C_SCALE_NONE;
  int64_t n = 0, k = 0;
  std::vector<uint8_t> w, scale;
  std::vector<double> real; // [n, k]

  int64_t scaleCols() const { return wformat == V4C_W_FP4_E2M1 ? (k + 31) / 32 : (k + 127) / 128; }
  double scaleValue(int64_t index) const {
    if (sformat == V4C_SCALE_E8M0)
      return lowp::e8m0ToFloat(scale[index]);
    if (sformat == V4C_SCALE_F32) {
      float f;
      std::memcpy(&f, &scale[4 * index], 4);
      return f;
    }
    return 1.0;
  }
  void dequantize() {
    real.assign(n * k, 0.0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) {
        double v = 0, s = 1;
        switch (wformat) {
        case V4C_W_F32: {
          float f;
          std::memcpy(&f, &w[4 * (r * k + c)], 4);
          v = f;
          break;
        }
        case V4C_W_BF16: {
          uint16_t h;
          std::memcpy(&h, &w[2 * (r * k + c)], 2);
          v = lowp::bf16ToFloat(h);
          break;
        }
        case V4C_W_FP8_E4M3: v = lowp::e4m3ToFloat(w[r * k + c]); break;
        default:
          v = lowp::e2m1ToFloat(
              lowp::e2m1Nibble(llvm::ArrayRef<uint8_t>(w).slice(r * k / 2, k / 2), c));
        }
        if (sformat != V4C_SCALE_NONE)
          s = wformat == V4C_W_FP4_E2M1 ? scaleValue(r * scaleCols() + c / 32)
                                        : scaleValue((r / 128) * scaleCols() + c / 128);
        real[r * k + c] = v * s;
      }
  }
  /// The dequantized weights rounded to fp32, for the reference kernels.
  std::vector<float> realFloat() const { return std::vector<float>(real.begin(), real.end()); }
};

Weights makeWeights(int32_t wformat, int32_t sformat, int64_t n, int64_t k, std::mt19937 &rng) {
  Weights wt;
  wt.wformat = wformat;
  wt.sformat = sformat;
  wt.n = n;
  wt.k = k;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  switch (wformat) {
  case V4C_W_F32:
    wt.w.resize(4 * n * k);
    for (int64_t i = 0; i < n * k; ++i) {
      float f = normal(rng);
      std::memcpy(&wt.w[4 * i], &f, 4);
    }
    break;
  case V4C_W_BF16:
    wt.w.resize(2 * n * k);
    for (int64_t i = 0; i < n * k; ++i) {
      uint16_t h = lowp::floatToBf16(normal(rng));
      std::memcpy(&wt.w[2 * i], &h, 2);
    }
    break;
  case V4C_W_FP8_E4M3:
    wt.w.resize(n * k);
    for (auto &b : wt.w)
      do
        b = static_cast<uint8_t>(byte(rng));
      while ((b & 0x7F) == 0x7F); // every code but NaN, subnormals included
    break;
  default:
    wt.w.resize(n * k / 2);
    for (auto &b : wt.w)
      b = static_cast<uint8_t>(byte(rng));
  }
  int64_t scaleRows = wformat == V4C_W_FP4_E2M1 ? n : (n + 127) / 128;
  int64_t scales = sformat == V4C_SCALE_NONE ? 0 : scaleRows * wt.scaleCols();
  std::uniform_int_distribution<int> exponent(-12, 4);
  for (int64_t i = 0; i < scales; ++i) {
    int e = exponent(rng);
    if (sformat == V4C_SCALE_E8M0) {
      wt.scale.push_back(lowp::e8m0FromPow2Exponent(e));
    } else { // V3-style f32 scales, not powers of two
      float f = std::ldexp(1.0f + 0.37f * (i % 3), e);
      wt.scale.resize(wt.scale.size() + 4);
      std::memcpy(&wt.scale[4 * i], &f, 4);
    }
  }
  wt.dequantize();
  return wt;
}

/// Activations whose 128-channel groups span many magnitudes (so the ue8m0 scales differ).
std::vector<float> makeActivations(int64_t m, int64_t k, std::mt19937 &rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-10, 6);
  std::vector<float> x(m * k);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t g = 0; g < k; g += 128) {
      float magnitude = std::ldexp(1.0f, exponent(rng));
      for (int64_t c = g; c < std::min(k, g + 128); ++c)
        x[i * k + c] = normal(rng) * magnitude;
    }
  return x;
}

/// x as the kernels see it: quantized per 128 channels with the reference's fp8RoundTrip.
std::vector<float> referenceActivations(const std::vector<float> &x, int64_t m, int64_t k,
                                        bool quantize) {
  std::vector<float> q = x;
  if (quantize)
    for (int64_t i = 0; i < m; ++i)
      ref::fp8RoundTrip(&q[i * k], k, 128);
  return q;
}

struct Expected {
  std::vector<double> y;    // [m, n] exact products in double
  std::vector<double> norm; // [m, n] Σ|x'·w|: the size of the rounding error of an fp32 sum
};
Expected exactProduct(const std::vector<float> &xq, int64_t m, const Weights &wt) {
  Expected e;
  e.y.assign(m * wt.n, 0.0);
  e.norm.assign(m * wt.n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < wt.n; ++r)
      for (int64_t c = 0; c < wt.k; ++c) {
        double t = double(xq[i * wt.k + c]) * wt.real[r * wt.k + c];
        e.y[i * wt.n + r] += t;
        e.norm[i * wt.n + r] += std::fabs(t);
      }
  return e;
}

constexpr float kUntouched = 12345.0f;
constexpr double kTolerance = 1e-5;

/// Runs v4c_gemm over [nBegin, nEnd) into a y with a wider row stride, pre-filled with a marker.
std::vector<float> runGemm(const std::vector<float> &x, int64_t m, const Weights &wt,
                           int64_t nBegin, int64_t nEnd, bool quantize, int64_t ldy) {
  std::vector<float> y(m * ldy, kUntouched);
  v4c_gemm(x.data(), m, wt.k, wt.w.data(), wt.wformat, wt.scale.empty() ? nullptr : wt.scale.data(),
           wt.sformat, wt.n, nBegin, nEnd, quantize, y.data(), ldy);
  return y;
}

void expectClose(double expected, double actual, double norm, const std::string &what) {
  EXPECT_LE(std::fabs(actual - expected), kTolerance * norm + 1e-30)
      << what << ": expected " << expected << ", got " << actual << " (Σ|x·w| " << norm << ")";
}

struct Case {
  int32_t wformat, sformat;
  int64_t n, k;
};

std::string describe(const Case &c, int64_t m, bool quantize, const std::string &variant,
                     int64_t nBegin, int64_t nEnd) {
  static const char *formats[] = {"f32", "bf16", "fp8", "fp4"};
  static const char *scales[] = {"none", "e8m0", "f32"};
  return variant + " " + formats[c.wformat] + "/" + scales[c.sformat] +
         " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) + " m=" + std::to_string(m) +
         (quantize ? " quantized" : "") + " n in [" + std::to_string(nBegin) + "," +
         std::to_string(nEnd) + ")";
}

} // namespace

//===----------------------------------------------------------------------===//
// Decoding and the activation quantization, exact
//===----------------------------------------------------------------------===//

TEST(GemmKernelTest, DecodeTablesMatchLowPrecision) {
  using v4c::kernels::kTables;
  for (unsigned code = 0; code < 256; ++code) {
    float e4m3 = lowp::e4m3ToFloat(code), e8m0 = lowp::e8m0ToFloat(code);
    if (std::isnan(e4m3))
      EXPECT_TRUE(std::isnan(kTables.e4m3[code])) << code;
    else
      EXPECT_EQ(bitsOf(kTables.e4m3[code]), bitsOf(e4m3)) << code;
    if (std::isnan(e8m0))
      EXPECT_TRUE(std::isnan(kTables.e8m0[code])) << code;
    else
      EXPECT_EQ(bitsOf(kTables.e8m0[code]), bitsOf(e8m0)) << code;
  }
  for (unsigned code = 0; code < 16; ++code)
    EXPECT_EQ(bitsOf(kTables.e2m1[code]), bitsOf(lowp::e2m1ToFloat(code))) << code;
}

TEST(GemmKernelTest, E4m3EncoderMatchesLowPrecision) {
  // Every exponent and sign, all top 11 mantissa bits (which hold every E4M3 rounding
  // boundary), and low bits at the edges of the sticky region; then random bit patterns.
  const uint32_t lowBits[] = {0x000, 0x001, 0x3FF, 0x400, 0x401, 0x7FF, 0xFFF};
  int64_t checked = 0, mismatches = 0;
  auto check = [&](uint32_t bits) {
    float v = fromBits(bits);
    uint8_t mine = v4c::kernels::floatToE4m3(v), theirs = lowp::floatToE4m3(v);
    ++checked;
    if (mine != theirs && ++mismatches <= 10)
      ADD_FAILURE() << "bits 0x" << std::hex << bits << ": " << int(mine) << " vs " << int(theirs);
  };
  for (uint32_t signExp = 0; signExp < 512; ++signExp)
    for (uint32_t top = 0; top < 2048; ++top)
      for (uint32_t low : lowBits)
        check(signExp << 23 | top << 12 | low);
  std::mt19937 rng(7);
  for (int i = 0; i < 2000000; ++i)
    check(static_cast<uint32_t>(rng()));
  EXPECT_EQ(mismatches, 0) << "of " << checked;
}

TEST(GemmKernelTest, Fp8RoundTripIsBitIdenticalToReference) {
  VariantGuard guard;
  std::mt19937 rng(11);
  for (const std::string &variant : availableVariants()) {
    ASSERT_TRUE(v4c_gemm_force_variant(variant.c_str()));
    for (int64_t group : {128, 64, 20}) {
      for (int64_t n : {1, 127, 1000}) {
        std::vector<float> x = makeActivations(1, n, rng);
        // Edge values: zeros of both signs, tiny (amax clamp), subnormal, huge, values on and
        // around the E4M3 rounding boundaries, NaN, Inf.
        if (n > 100) {
          x[3] = 0.0f;
          x[4] = -0.0f;
          x[5] = 1e-38f;
          x[6] = -3e-45f;
          for (int64_t i = group; i < std::min(n, 2 * group); ++i)
            x[i] = 1e-7f * float(i % 7 - 3); // a group whose amax is below 1e-4
          for (int64_t i = 2 * group; i < std::min(n, 3 * group); ++i) // 448 = amax: exact grid
            x[i] = i == 2 * group ? 448.0f : float(i % 29) * 0.25f + 0.125f;
          if (n > 3 * group + 10) {
            x[3 * group + 1] = kNaN;
            x[3 * group + 4] = -kNaN;
            x[4 * group + 2] = std::numeric_limits<float>::infinity();
          }
        }
        std::vector<float> mine = x, theirs = x;
        v4c_fp8_round_trip(mine.data(), n, group);
        ref::fp8RoundTrip(theirs.data(), n, group);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(bitsOf(mine[i]), bitsOf(theirs[i]))
              << variant << " group " << group << " n " << n << " element " << i << " of " << x[i];
      }
    }
    // Every magnitude class through the vector lanes: one group of 128 per fp32 exponent,
    // scaled so that the group's values cover the whole E4M3 range, subnormals included.
    for (int e = -30; e <= 30; ++e) {
      std::vector<float> x(4096);
      std::uniform_int_distribution<uint32_t> mantissa(0, 0x7FFFFF);
      for (size_t i = 0; i < x.size(); ++i) {
        int exponent = e - int(i % 24);
        x[i] = std::ldexp(1.0f + mantissa(rng) * 0x1p-23f, exponent) * (i % 3 ? 1.0f : -1.0f);
      }
      std::vector<float> mine = x, theirs = x;
      v4c_fp8_round_trip(mine.data(), int64_t(x.size()), 128);
      ref::fp8RoundTrip(theirs.data(), int64_t(x.size()), 128);
      for (size_t i = 0; i < x.size(); ++i)
        ASSERT_EQ(bitsOf(mine[i]), bitsOf(theirs[i]))
            << variant << " element " << i << " of " << x[i];
    }
  }
}

/// Row r of an FP8/BF16 matrix holds one value everywhere; one-hot x reads it back exactly, at
/// every K position, through the decode path (m = 1) and the packed path (m = 5).
TEST(GemmKernelTest, EveryVariantDecodesEveryCodeExactly) {
  VariantGuard guard;
  const int64_t k = 160; // one full block, one full group, and no K tail for FP4
  for (const std::string &variant : availableVariants()) {
    ASSERT_TRUE(v4c_gemm_force_variant(variant.c_str()));
    Weights fp8{V4C_W_FP8_E4M3, V4C_SCALE_NONE, 256, k};
    for (int64_t r = 0; r < 256; ++r)
      fp8.w.insert(fp8.w.end(), k, static_cast<uint8_t>(r));
    Weights fp4{V4C_W_FP4_E2M1, V4C_SCALE_E8M0, 16, k};
    for (int64_t r = 0; r < 16; ++r) {
      fp4.w.insert(fp4.w.end(), k / 2, static_cast<uint8_t>(r | r << 4));
      for (int64_t g = 0; g < k / 32; ++g)
        fp4.scale.push_back(static_cast<uint8_t>(120 + (r + 3 * g) % 15));
    }
    Weights bf16{V4C_W_BF16, V4C_SCALE_NONE, 512, k};
    std::mt19937 rng(3);
    for (int64_t r = 0; r < 512; ++r) {
      // Random finite patterns, subnormal ones among them.
      uint16_t h = static_cast<uint16_t>(rng());
      if ((h & 0x7F80) == 0x7F80)
        h &= 0x807F;
      for (int64_t c = 0; c < k; ++c)
        bf16.w.insert(bf16.w.end(), {static_cast<uint8_t>(h & 0xFF), static_cast<uint8_t>(h >> 8)});
    }
    for (Weights *wt : {&fp8, &fp4, &bf16}) {
      wt->dequantize();
      for (int64_t m : {1, 5})
        for (int64_t hot = 0; hot < k; hot += m == 1 ? 1 : 37) {
          std::vector<float> x(m * k, 0.0f);
          for (int64_t i = 0; i < m; ++i)
            x[i * k + (hot + 29 * i) % k] = 1.0f;
          std::vector<float> y = runGemm(x, m, *wt, 0, wt->n, false, wt->n);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t r = 0; r < wt->n; ++r) {
              double expected = wt->real[r * k + (hot + 29 * i) % k];
              float got = y[i * wt->n + r];
              if (std::isnan(expected))
                ASSERT_TRUE(std::isnan(got))
                    << variant << " format " << wt->wformat << " row " << r;
              else
                ASSERT_EQ(double(got), expected)
                    << variant << " format " << wt->wformat << " row " << r << " m " << m
                    << " column " << (hot + 29 * i) % k;
            }
        }
    }
  }
}

//===----------------------------------------------------------------------===//
// GEMMs
//===----------------------------------------------------------------------===//

TEST(GemmKernelTest, EveryVariantMatchesExactAndReferenceProducts) {
  VariantGuard guard;
  const std::vector<std::string> variants = availableVariants();
  ASSERT_FALSE(variants.empty());
  ASSERT_EQ(variants.front(), "portable");
  const Case cases[] = {
      {V4C_W_F32, V4C_SCALE_NONE, 7, 256},       {V4C_W_F32, V4C_SCALE_NONE, 33, 77},
      {V4C_W_F32, V4C_SCALE_E8M0, 130, 200},     {V4C_W_BF16, V4C_SCALE_NONE, 1, 128},
      {V4C_W_BF16, V4C_SCALE_NONE, 45, 300},     {V4C_W_FP8_E4M3, V4C_SCALE_E8M0, 1, 128},
      {V4C_W_FP8_E4M3, V4C_SCALE_E8M0, 19, 384}, {V4C_W_FP8_E4M3, V4C_SCALE_E8M0, 150, 200},
      {V4C_W_FP8_E4M3, V4C_SCALE_E8M0, 37, 45},  {V4C_W_FP8_E4M3, V4C_SCALE_F32, 133, 256},
      {V4C_W_FP8_E4M3, V4C_SCALE_NONE, 9, 130},  {V4C_W_FP4_E2M1, V4C_SCALE_E8M0, 5, 32},
      {V4C_W_FP4_E2M1, V4C_SCALE_E8M0, 29, 160}, {V4C_W_FP4_E2M1, V4C_SCALE_E8M0, 66, 512},
      {V4C_W_FP4_E2M1, V4C_SCALE_F32, 17, 96},   {V4C_W_FP4_E2M1, V4C_SCALE_E8M0, 11, 100},
  };
  std::mt19937 rng(42);
  for (const Case &c : cases) {
    Weights wt = makeWeights(c.wformat, c.sformat, c.n, c.k, rng);
    std::vector<float> wf = wt.realFloat();
    for (int64_t m : {1, 2, 3, 4, 5, 17}) {
      std::vector<float> x = makeActivations(m, c.k, rng);
      for (bool quantize : {false, true}) {
        std::vector<float> xq = referenceActivations(x, m, c.k, quantize);
        Expected exact = exactProduct(xq, m, wt);
        std::vector<float> blockScaled(m * c.n);
        if (quantize)
          ref::blockScaledLinear(x.data(), m, c.k, wf.data(), c.n, blockScaled.data());
        std::vector<std::pair<int64_t, int64_t>> ranges = {{0, c.n}};
        if (c.n > 4)
          ranges.push_back({c.n / 3, c.n - c.n / 4});
        for (auto [nBegin, nEnd] : ranges) {
          const int64_t ldy = c.n + 3;
          std::vector<float> portable;
          for (const std::string &variant : variants) {
            ASSERT_TRUE(v4c_gemm_force_variant(variant.c_str()));
            ASSERT_EQ(variant, v4c_gemm_variant());
            std::string what = describe(c, m, quantize, variant, nBegin, nEnd);
            std::vector<float> y = runGemm(x, m, wt, nBegin, nEnd, quantize, ldy);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t r = 0; r < ldy; ++r) {
                float got = y[i * ldy + r];
                if (r < nBegin || r >= nEnd) {
                  ASSERT_EQ(got, kUntouched) << what << ": wrote outside the range at " << r;
                  continue;
                }
                double norm = exact.norm[i * c.n + r];
                expectClose(exact.y[i * c.n + r], got, norm, what + " vs exact");
                if (quantize)
                  expectClose(blockScaled[i * c.n + r], got, norm, what + " vs blockScaledLinear");
                if (!portable.empty())
                  expectClose(portable[i * ldy + r], got, norm, what + " vs portable");
              }
            if (portable.empty())
              portable = y;
            if (HasFailure())
              return;
          }
        }
      }
    }
  }
}

TEST(GemmKernelTest, LargeBatchCrossesRowChunks) {
  // m past the packed path's chunk of rows (16 microkernels) with partial tiles everywhere.
  VariantGuard guard;
  std::mt19937 rng(5);
  const int64_t m = 211, n = 70, k = 300;
  Weights wt = makeWeights(V4C_W_FP8_E4M3, V4C_SCALE_E8M0, n, k, rng);
  std::vector<float> x = makeActivations(m, k, rng);
  Expected exact = exactProduct(referenceActivations(x, m, k, true), m, wt);
  for (const std::string &variant : availableVariants()) {
    ASSERT_TRUE(v4c_gemm_force_variant(variant.c_str()));
    std::vector<float> y = runGemm(x, m, wt, 0, n, true, n);
    for (int64_t i = 0; i < m * n; ++i)
      expectClose(exact.y[i], y[i], exact.norm[i], variant + " element " + std::to_string(i));
  }
}

TEST(GemmKernelTest, NaNScalesAndCodesPropagateToTheirRows) {
  VariantGuard guard;
  std::mt19937 rng(9);
  // FP8: a NaN block scale (rows 128.., K block 0); NaN codes in row 5 (SIMD body) and row 9
  // (scalar K tail).
  Weights fp8 = makeWeights(V4C_W_FP8_E4M3, V4C_SCALE_E8M0, 200, 200, rng);
  fp8.scale[1 * 2 + 0] = 0xFF;
  fp8.w[5 * 200 + 70] = 0x7F;
  fp8.w[9 * 200 + 199] = 0xFF;
  auto fp8Nan = [](int64_t r) { return r >= 128 || r == 5 || r == 9; };
  // FP4: a NaN group scale in row 3.
  Weights fp4 = makeWeights(V4C_W_FP4_E2M1, V4C_SCALE_E8M0, 40, 128, rng);
  fp4.scale[3 * 4 + 1] = 0xFF;
  auto fp4Nan = [](int64_t r) { return r == 3; };
  for (const std::string &variant : availableVariants()) {
    ASSERT_TRUE(v4c_gemm_force_variant(variant.c_str()));
    for (int64_t m : {1, 3, 6})
      for (bool quantize : {false, true})
        for (auto [wt, isNan] : {std::pair{&fp8, +fp8Nan}, std::pair{&fp4, +fp4Nan}}) {
          std::vector<float> x = makeActivations(m, wt->k, rng);
          std::vector<float> y = runGemm(x, m, *wt, 0, wt->n, quantize, wt->n);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t r = 0; r < wt->n; ++r)
              ASSERT_EQ(std::isnan(y[i * wt->n + r]), isNan(r))
                  << variant << " format " << wt->wformat << " m " << m << " row " << r;
        }
  }
}

// The fused prologues give the bits of the reference's op followed by v4c_gemm: rmsNorm with and
// without a weight (f32 or bf16), SwiGLU with and without the clamp; quantized or not, on every
// variant (FP4 reorders x).
TEST(GemmKernelTest, ProloguesEqualTheOpThenGemm) {
  VariantGuard guard;
  std::mt19937 rng(13);
  const int64_t k = 300;
  std::vector<float> normWeight(k);
  std::vector<uint16_t> normWeightBf16(k);
  std::normal_distribution<float> normal(1.0f, 0.3f);
  for (int64_t c = 0; c < k; ++c) {
    normWeightBf16[c] = lowp::floatToBf16(normal(rng));
    normWeight[c] = lowp::bf16ToFloat(normWeightBf16[c]); // the same values in both formats
  }
  for (const std::string &variant : availableVariants()) {
    ASSERT_TRUE(v4c_gemm_force_variant(variant.c_str()));
    for (int32_t wformat : {V4C_W_FP8_E4M3, V4C_W_FP4_E2M1, V4C_W_BF16})
      for (int64_t m : {1, 5})
        for (bool quantize : {false, true})
          for (int weighting = 0; weighting < 3; ++weighting) {
            Weights wt = makeWeights(wformat, V4C_SCALE_E8M0, 70, k, rng);
            std::vector<float> x = makeActivations(m, k, rng), normed = x;
            const float *refWeight = weighting == 0 ? nullptr : normWeight.data();
            for (int64_t i = 0; i < m; ++i)
              ref::rmsNorm(normed.data() + i * k, k, refWeight, 1e-6);
            std::vector<float> expected = runGemm(normed, m, wt, 0, wt.n, quantize, wt.n);
            const void *weight = weighting == 0   ? nullptr
                                 : weighting == 1 ? static_cast<const void *>(normWeight.data())
                                                  : normWeightBf16.data();
            std::vector<float> y(m * wt.n, kUntouched);
            v4c_gemm_rms_norm(x.data(), m, k, weight, weighting == 2 ? V4C_W_BF16 : V4C_W_F32,
                              1e-6, wt.w.data(), wt.wformat, wt.scale.data(), wt.sformat, wt.n, 0,
                              wt.n, quantize, y.data(), wt.n);
            for (int64_t i = 0; i < m * wt.n; ++i)
              ASSERT_EQ(bitsOf(expected[i]), bitsOf(y[i]))
                  << variant << " format " << wformat << " m " << m << " quantize " << quantize
                  << " weighting " << weighting << " element " << i;
          }
  }
  // SwiGLU: the reference's expert activation (ReferenceModel's expert()) then v4c_gemm, with and
  // without the clamp; values past the limit on both sides.
  for (const std::string &variant : availableVariants()) {
    ASSERT_TRUE(v4c_gemm_force_variant(variant.c_str()));
    for (int32_t wformat : {V4C_W_FP8_E4M3, V4C_W_FP4_E2M1})
      for (float limit : {0.0f, 2.5f})
        for (bool quantize : {false, true}) {
          const int64_t m = 3;
          Weights wt = makeWeights(wformat, V4C_SCALE_E8M0, 70, k, rng);
          std::vector<float> gate = makeActivations(m, k, rng), up = makeActivations(m, k, rng);
          std::vector<float> h(m * k);
          for (int64_t i = 0; i < m * k; ++i) {
            float g = gate[i] * 4, u = up[i] * 4;
            gate[i] = g;
            up[i] = u;
            if (limit > 0) {
              u = std::clamp(u, -limit, limit);
              g = std::min(g, limit);
            }
            h[i] = ref::silu(g) * u;
          }
          std::vector<float> expected = runGemm(h, m, wt, 0, wt.n, quantize, wt.n);
          std::vector<float> y(m * wt.n, kUntouched);
          v4c_gemm_swiglu(gate.data(), m, k, up.data(), limit, wt.w.data(), wt.wformat,
                          wt.scale.data(), wt.sformat, wt.n, 0, wt.n, quantize, y.data(), wt.n);
          for (int64_t i = 0; i < m * wt.n; ++i)
            ASSERT_EQ(bitsOf(expected[i]), bitsOf(y[i]))
                << variant << " swiglu format " << wformat << " limit " << limit << " quantize "
                << quantize << " element " << i;
        }
  }
  // A norm weight in a format other than f32/bf16 is refused like any bad argument.
  Weights wt = makeWeights(V4C_W_FP8_E4M3, V4C_SCALE_E8M0, 8, 128, rng);
  std::vector<float> x = makeActivations(1, 128, rng), y(8, kUntouched);
  v4c_gemm_rms_norm(x.data(), 1, 128, normWeight.data(), V4C_W_FP8_E4M3, 1e-6, wt.w.data(),
                    wt.wformat, wt.scale.data(), wt.sformat, 8, 0, 8, 0, y.data(), 8);
  for (float v : y)
    EXPECT_TRUE(std::isnan(v));
}

TEST(GemmKernelTest, BadArgumentsFillTheRangeWithNaN) {
  std::vector<float> x(64, 1.0f), y(8, kUntouched);
  std::vector<uint8_t> w(64 * 8);
  v4c_gemm(x.data(), 1, 64, w.data(), 7, nullptr, V4C_SCALE_NONE, 8, 2, 5, 0, y.data(), 8);
  for (int64_t r = 0; r < 8; ++r)
    EXPECT_EQ(std::isnan(y[r]), r >= 2 && r < 5) << r;
  v4c_gemm(x.data(), 1, 63, w.data(), V4C_W_FP4_E2M1, w.data(), V4C_SCALE_E8M0, 8, 0, 8, 0,
           y.data(), 8);
  EXPECT_TRUE(std::isnan(y[0])); // FP4 needs an even k
}

namespace {

// Threads split N into 64-row chunks; every column is computed the same way whichever thread
// holds it, so a product large enough to be threaded gives the same bits for 1, 2 and 3
// threads (and splits that do not fall on chunk boundaries still cover every column).
TEST(GemmKernelTest, ThreadedProductsAreBitIdentical) {
  const int64_t n = 2048 + 37, k = 4096, m = 3;
  std::mt19937_64 rng(7);
  std::vector<uint8_t> w(size_t(n * k)), scale(size_t(((n + 127) / 128) * (k / 128)));
  for (uint8_t &b : w) {
    b = uint8_t(rng());
    if ((b & 0x7F) == 0x7F) // no NaN codes
      b ^= 1;
  }
  for (uint8_t &s : scale)
    s = uint8_t(120 + rng() % 8);
  std::vector<float> x(size_t(m * k));
  std::normal_distribution<float> normal;
  for (float &v : x)
    v = normal(rng);
  auto run = [&](int threads) {
    v4c_set_num_threads(threads);
    std::vector<float> y(size_t(m * n), -1.0f);
    v4c_gemm(x.data(), m, k, w.data(), V4C_W_FP8_E4M3, scale.data(), V4C_SCALE_E8M0, n, 0, n, 1,
             y.data(), n);
    return y;
  };
  std::vector<float> one = run(1), two = run(2), three = run(3);
  v4c_set_num_threads(1);
  EXPECT_EQ(v4c_get_num_threads(), 1);
  for (float v : two)
    ASSERT_NE(v, -1.0f) << "a column was not computed";
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)), 0);
}

} // namespace
