// The numerical reference's building blocks (runtime/reference/Kernels.h) and its weight decoder
// (runtime/reference/Weights.h) against expectations computed independently here, straight from
// MODEL.md (§2.3, §3.1-§3.4, §6.4-§6.7): closed forms, double precision, explicit matrices, and
// brute-force searches over every code of the narrow formats. Nothing here calls the kernels'
// helpers (LowPrecision.h) to build an expected value.
#include "runtime/reference/Kernels.h"
#include "runtime/reference/Weights.h"

#include "frontend/checkpoint/Safetensors.h"

#include "TestSupport.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

using namespace v4c;
namespace ref = v4c::reference;

namespace {

//===----------------------------------------------------------------------===//
// Independent format decoders and brute-force quantizers
//===----------------------------------------------------------------------===//

/// E4M3FN value of `code` from its bit fields (s eeee mmm, bias 7); NaN for S.1111.111.
double e4m3Value(unsigned code) {
  unsigned s = code >> 7, e = (code >> 3) & 15, m = code & 7;
  if (e == 15 && m == 7)
    return std::numeric_limits<double>::quiet_NaN();
  double mag = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1 + m / 8.0, int(e) - 7);
  return s ? -mag : mag;
}

/// E2M1 value of a nibble from its bit fields (s ee m, bias 1).
double e2m1Value(unsigned nibble) {
  unsigned s = (nibble >> 3) & 1, e = (nibble >> 1) & 3, m = nibble & 1;
  double mag = e == 0 ? 0.5 * m : std::ldexp(1 + m / 2.0, int(e) - 1);
  return s ? -mag : mag;
}

/// Nearest value to `x` among the codes' finite values; an exact tie goes to the even code
/// (for both formats the code's last bit is the mantissa's last bit).
double nearestCode(double x, unsigned numCodes, double (*decode)(unsigned)) {
  double best = 0, bestDist = std::numeric_limits<double>::infinity();
  unsigned bestCode = 0;
  for (unsigned c = 0; c < numCodes; ++c) {
    double v = decode(c);
    if (std::isnan(v))
      continue;
    double d = std::fabs(x - v);
    if (d < bestDist || (d == bestDist && (bestCode & 1) && !(c & 1))) {
      best = v;
      bestDist = d;
      bestCode = c;
    }
  }
  return best;
}

/// ceil(log2(r)) for r > 0, exactly (frexp: r = f·2^e, f in [0.5, 1)).
int ceilLog2(double r) {
  int e;
  double f = std::frexp(r, &e);
  return f == 0.5 ? e - 1 : e;
}

/// MODEL.md §3.3 / §6.7 FP8 activation quantize-dequantize of one row, brute force: per group,
/// amax clamped to ≥ 1e-4, s = 2^ceil(log2(amax/448)), q = clamp(x/s, ±448) → nearest e4m3
/// (ties to even), result q·s.
std::vector<float> bruteFp8(const std::vector<float> &x, size_t group) {
  std::vector<float> out(x.size());
  for (size_t g = 0; g < x.size(); g += group) {
    size_t end = std::min(x.size(), g + group);
    double amax = 0;
    for (size_t i = g; i < end; ++i)
      amax = std::max(amax, std::fabs(double(x[i])));
    amax = std::max(amax, double(1e-4f));
    double s = std::ldexp(1.0, ceilLog2(amax / 448.0));
    for (size_t i = g; i < end; ++i) {
      double q = std::clamp(double(x[i]) / s, -448.0, 448.0);
      out[i] = float(nearestCode(q, 256, e4m3Value) * s);
    }
  }
  return out;
}

/// MODEL.md §6.7 FP4 quantize-dequantize, brute force: amax clamped to ≥ 6·2^-126, s =
/// 2^ceil(log2(amax · fp32(1/6))) (an fp32 product, as the rule says), x/s → nearest e2m1.
std::vector<float> bruteFp4(const std::vector<float> &x, size_t group) {
  std::vector<float> out(x.size());
  const float inv6 = 1.0f / 6.0f;
  for (size_t g = 0; g < x.size(); g += group) {
    size_t end = std::min(x.size(), g + group);
    float amax = 0;
    for (size_t i = g; i < end; ++i)
      amax = std::max(amax, std::fabs(x[i]));
    amax = std::max(amax, std::ldexp(6.0f, -126));
    float product = amax * inv6;
    double s = std::ldexp(1.0, ceilLog2(product));
    for (size_t i = g; i < end; ++i)
      out[i] = float(nearestCode(double(x[i]) / s, 16, e2m1Value) * s);
  }
  return out;
}

std::vector<float> randomNormal(std::mt19937 &rng, size_t n, double stddev = 1.0) {
  std::normal_distribution<float> dist(0.0f, float(stddev));
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

/// Random row whose groups have magnitudes spread over 10^-3..10^3, with some exact zeros.
std::vector<float> randomQuantRow(std::mt19937 &rng, size_t n, size_t group) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> exponent(-3.0, 3.0);
  std::uniform_int_distribution<int> zero(0, 15);
  std::vector<float> v(n);
  double mag = 1;
  for (size_t i = 0; i < n; ++i) {
    if (i % group == 0)
      mag = std::pow(10.0, exponent(rng));
    v[i] = zero(rng) == 0 ? 0.0f : float(normal(rng) * mag);
  }
  return v;
}

//===----------------------------------------------------------------------===//
// YaRN / RoPE
//===----------------------------------------------------------------------===//

/// MODEL.md §2.3 in double: ω_i = θ^(-2i/d), ramp r_i = clamp((i-low)/(high-low)) with
/// low = max(floor(corr(βfast)), 0), high = min(ceil(corr(βslow)), d-1), ω'_i = ω_i(1-r_i) + ω_i/s·r_i.
struct YarnExpected {
  int low, high;
  std::vector<double> freqs;
};
YarnExpected yarnDouble(int dim, double theta, double factor, double original, double betaFast,
                        double betaSlow) {
  auto corr = [&](double n) {
    return dim * std::log(original / (2 * M_PI * n)) / (2 * std::log(theta));
  };
  YarnExpected y;
  y.low = int(std::max(std::floor(corr(betaFast)), 0.0));
  y.high = int(std::min(std::ceil(corr(betaSlow)), double(dim - 1)));
  for (int i = 0; i < dim / 2; ++i) {
    double w = std::pow(theta, -2.0 * i / dim);
    double r = std::clamp(double(i - y.low) / (y.high - y.low), 0.0, 1.0);
    y.freqs.push_back(w * (1 - r) + w / factor * r);
  }
  return y;
}

TEST(ReferenceKernelsTest, YarnTableCompressedLayers) {
  // V4 compressed layers: dim 64, θ = 160000, factor 16, L0 = 65536, β 32 / 1 (MODEL.md §6.4).
  YarnExpected y = yarnDouble(64, 160000, 16, 65536, 32, 1);
  ASSERT_EQ(y.low, 15); // MODEL.md §6.4 / §8: "low 15, high 25"
  ASSERT_EQ(y.high, 25);
  std::vector<float> f = ref::ropeInvFreqs(64, 160000, 16, 65536, 32, 1);
  ASSERT_EQ(f.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    SCOPED_TRACE(i);
    double plain = std::pow(160000.0, -2.0 * i / 64);
    EXPECT_NEAR(f[i], y.freqs[i], 1e-6 * y.freqs[i]);
    if (i <= 15) {
      EXPECT_NEAR(f[i], plain, 1e-6 * plain); // below/at low: unchanged
    } else if (i >= 25) {
      EXPECT_NEAR(f[i], plain / 16, 1e-6 * plain / 16); // above/at high: divided by 16
    } else {
      // Strictly between, on the linear blend with weight (i - 15) / 10.
      EXPECT_LT(f[i], plain * (1 - 1e-3));
      EXPECT_GT(f[i], plain / 16 * (1 + 1e-3));
      double r = (i - 15) / 10.0;
      EXPECT_NEAR(f[i], plain * (1 - r) + plain / 16 * r, 1e-6 * plain);
    }
  }
}

TEST(ReferenceKernelsTest, YarnTableMatchesV3TableOfModelDoc) {
  // MODEL.md §2.3 prints the V3 table (θ = 1e4, s = 40, L0 = 4096; low 10, high 23) to 7 digits.
  const double doc[32] = {1,           7.498942e-1, 5.623413e-1, 4.216965e-1, 3.162278e-1,
                          2.371374e-1, 1.778279e-1, 1.333521e-1, 1e-1,        7.498942e-2,
                          5.623413e-2, 3.900693e-2, 2.687936e-2, 1.837815e-2, 1.244796e-2,
                          8.334509e-3, 5.5e-3,      3.561997e-3, 2.249365e-3, 1.370514e-3,
                          7.905694e-4, 4.149904e-4, 1.778279e-4, 3.333804e-5, 2.5e-5,
                          1.874736e-5, 1.405853e-5, 1.054241e-5, 7.905694e-6, 5.928434e-6,
                          4.445699e-6, 3.333804e-6};
  YarnExpected y = yarnDouble(64, 10000, 40, 4096, 32, 1);
  EXPECT_EQ(y.low, 10);
  EXPECT_EQ(y.high, 23);
  std::vector<float> f = ref::ropeInvFreqs(64, 10000, 40, 4096, 32, 1);
  ASSERT_EQ(f.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    EXPECT_NEAR(f[i], doc[i], 1e-6 * doc[i]) << i;
    EXPECT_NEAR(y.freqs[i], doc[i], 1e-6 * doc[i]) << i;
  }
}

TEST(ReferenceKernelsTest, RopeTableWindowLayers) {
  // Window-only layers: θ = 10000, no YaRN (yarnOriginal 0) — other YaRN arguments ignored.
  std::vector<float> f = ref::ropeInvFreqs(64, 10000, 16, 0, 32, 1);
  ASSERT_EQ(f.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    double expected = std::pow(10000.0, -2.0 * i / 64);
    EXPECT_NEAR(f[i], expected, 1e-6 * expected) << i;
  }
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_NEAR(f[16], 0.01, 1e-9); // 10000^(-1/2)
}

TEST(ReferenceKernelsTest, RopeRotationInverseNormAndIdentity) {
  std::mt19937 rng(11);
  std::vector<float> freqs = ref::ropeInvFreqs(64, 160000, 16, 65536, 32, 1);
  for (int64_t pos : {1, 7, 127, 12345, 1000003}) {
    SCOPED_TRACE(pos);
    std::vector<float> x = randomNormal(rng, 64), y = x;
    ref::applyRope(y.data(), freqs, pos, false);
    bool moved = false;
    for (int i = 0; i < 32; ++i) {
      double n0 = std::hypot(double(x[2 * i]), double(x[2 * i + 1]));
      double n1 = std::hypot(double(y[2 * i]), double(y[2 * i + 1]));
      EXPECT_NEAR(n1, n0, 1e-6 * std::max(1.0, n0)) << "pair " << i;
      moved |= y[2 * i] != x[2 * i];
    }
    EXPECT_TRUE(moved);
    ref::applyRope(y.data(), freqs, pos, true);
    for (int i = 0; i < 64; ++i)
      EXPECT_NEAR(y[i], x[i], 1e-6) << i;
  }
  // The rotation itself, vs a double-precision complex multiply by e^{j·pos·ω_i} (small pos so
  // the fp32 angle is accurate): (a + jb)(cos + j sin) on interleaved pairs (MODEL.md §2.3).
  std::vector<float> x = randomNormal(rng, 64), y = x;
  ref::applyRope(y.data(), freqs, 7, false);
  for (int i = 0; i < 32; ++i) {
    double angle = 7.0 * freqs[i], a = x[2 * i], b = x[2 * i + 1];
    EXPECT_NEAR(y[2 * i], a * std::cos(angle) - b * std::sin(angle), 2e-6) << i;
    EXPECT_NEAR(y[2 * i + 1], a * std::sin(angle) + b * std::cos(angle), 2e-6) << i;
  }
  // Position 0 is the identity, exactly, in both directions.
  for (bool inverse : {false, true}) {
    std::vector<float> z = x;
    ref::applyRope(z.data(), freqs, 0, inverse);
    EXPECT_EQ(z, x);
  }
}

//===----------------------------------------------------------------------===//
// Hadamard
//===----------------------------------------------------------------------===//

TEST(ReferenceKernelsTest, HadamardIsSylvesterOrthonormal) {
  const int n = 128;
  const double entry = 1 / std::sqrt(double(n));
  std::vector<std::vector<float>> columns;
  for (int k = 0; k < n; ++k) {
    std::vector<float> e(n, 0.0f);
    e[k] = 1.0f;
    ref::hadamard(e.data(), n);
    for (int i = 0; i < n; ++i) {
      // Sylvester: H_ik = (-1)^popcount(i & k) / sqrt(n); H e_k is column k.
      double expected = (std::bitset<32>(i & k).count() % 2 ? -1 : 1) * entry;
      ASSERT_NEAR(e[i], expected, 1e-6) << "row " << i << " col " << k;
    }
    columns.push_back(e);
  }
  double worst = 0;
  for (int k = 0; k < n; ++k)
    for (int l = 0; l < n; ++l) {
      double dot = 0;
      for (int i = 0; i < n; ++i)
        dot += double(columns[k][i]) * columns[l][i];
      worst = std::max(worst, std::fabs(dot - (k == l ? 1.0 : 0.0)));
    }
  EXPECT_LT(worst, 1e-6);

  // H/√n is symmetric and orthogonal: applying it twice gives the input back.
  std::mt19937 rng(3);
  std::vector<float> x = randomNormal(rng, n), y = x;
  ref::hadamard(y.data(), n);
  EXPECT_NE(y, x);
  ref::hadamard(y.data(), n);
  for (int i = 0; i < n; ++i)
    EXPECT_NEAR(y[i], x[i], 1e-6) << i;
}

//===----------------------------------------------------------------------===//
// Sinkhorn
//===----------------------------------------------------------------------===//

/// MODEL.md §6.4 step 3 in double: R = softmax_k(R̃) + ε; columns; then (iters−1) × {rows, columns}.
std::vector<double> sinkhornDouble(const std::vector<float> &in, int n, int iters, double eps) {
  std::vector<double> r(in.begin(), in.end());
  for (int j = 0; j < n; ++j) {
    double mx = -std::numeric_limits<double>::infinity(), sum = 0;
    for (int k = 0; k < n; ++k)
      mx = std::max(mx, r[j * n + k]);
    for (int k = 0; k < n; ++k)
      sum += std::exp(r[j * n + k] - mx);
    for (int k = 0; k < n; ++k)
      r[j * n + k] = std::exp(r[j * n + k] - mx) / sum + eps;
  }
  auto cols = [&] {
    for (int k = 0; k < n; ++k) {
      double s = 0;
      for (int j = 0; j < n; ++j)
        s += r[j * n + k];
      for (int j = 0; j < n; ++j)
        r[j * n + k] /= s + eps;
    }
  };
  auto rows = [&] {
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int k = 0; k < n; ++k)
        s += r[j * n + k];
      for (int k = 0; k < n; ++k)
        r[j * n + k] /= s + eps;
    }
  };
  cols();
  for (int it = 1; it < iters; ++it) {
    rows();
    cols();
  }
  return r;
}

TEST(ReferenceKernelsTest, SinkhornDoublyStochasticAndMatchesDouble) {
  std::mt19937 rng(5);
  const int n = 4;
  // Two input spreads: N(0, 1) logits (moderate) and N(0, 3) (peaked softmax rows, where 20
  // iterations leave the rows visibly off 1 — in exact arithmetic too, so the row tolerance
  // is the algorithm's, checked against the double implementation's own row error).
  for (double spread : {1.0, 3.0}) {
    SCOPED_TRACE(testing::Message() << "spread " << spread);
    double worstRow = 0, worstCol = 0, worstRef = 0, worstRowDouble = 0;
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> m = randomNormal(rng, n * n, spread);
      std::vector<double> expected = sinkhornDouble(m, n, 20, 1e-6);
      ref::sinkhorn(m.data(), n, 20, 1e-6);
      for (int a = 0; a < n; ++a) {
        double row = 0, col = 0, rowDouble = 0;
        for (int b = 0; b < n; ++b) {
          row += m[a * n + b];
          col += m[b * n + a];
          rowDouble += expected[a * n + b];
        }
        worstRow = std::max(worstRow, std::fabs(row - 1));
        worstCol = std::max(worstCol, std::fabs(col - 1));
        worstRowDouble = std::max(worstRowDouble, std::fabs(rowDouble - 1));
      }
      for (int i = 0; i < n * n; ++i) {
        EXPECT_TRUE(m[i] > 0) << "trial " << trial;
        worstRef = std::max(worstRef, std::fabs(m[i] - expected[i]));
      }
    }
    std::printf("[sinkhorn spread %g] max |row sum - 1| %.3g (double impl %.3g), max |col sum - 1| "
                "%.3g, max |fp32 - double| %.3g\n",
                spread, worstRow, worstRowDouble, worstCol, worstRef);
    // Columns are normalized last: 1 − O(ε) plus fp32 rounding.
    EXPECT_LT(worstCol, 1e-5);
    // Rows: what 20 iterations leave; the fp32 kernel may not be worse than exact arithmetic.
    EXPECT_LT(worstRow, spread == 1.0 ? 1e-5 : 5e-2);
    EXPECT_NEAR(worstRow, worstRowDouble, 1e-5);
    EXPECT_LT(worstRef, 1e-5);
  }
}

//===----------------------------------------------------------------------===//
// FP8 / FP4 round trips
//===----------------------------------------------------------------------===//

TEST(ReferenceKernelsTest, Fp8RoundTripCraftedRows) {
  // Representable e4m3 values (normal, subnormal, extremes, zero) times a power of two 2^k, with
  // amax = 448·2^k, so the scale is exactly 2^k and every value survives unchanged.
  const float base[] = {448, -448, 1.75f, 0.5f, -13, 208, 0, std::ldexp(1.0f, -9),
                        -std::ldexp(3.0f, -9), 0.875f, 240, -0.0703125f /* 1.125·2^-4 */};
  for (int64_t group : {128, 64}) {
    for (int k : {-20, -3, 0, 5, 17}) {
      SCOPED_TRACE(testing::Message() << "group " << group << " k " << k);
      std::vector<float> x(group);
      for (int64_t i = 0; i < group; ++i)
        x[i] = std::ldexp(base[i % std::size(base)], k);
      std::vector<float> y = x;
      ref::fp8RoundTrip(y.data(), group, group);
      EXPECT_EQ(y, x);
    }
  }

  // Ties at scale 1 (amax = 448): each value sits halfway between two e4m3 neighbours and goes
  // to the even mantissa; just past a midpoint goes up.
  struct Case { float in, out; };
  const Case ties[] = {
      {448, 448},
      {17, 16},          // 16 (m=000) | 18 (m=001)
      {19, 20},          // 18 (m=001) | 20 (m=010)
      {-17, -16},
      {1.0625f, 1},      // 1 | 1.125
      {1.1875f, 1.25f},  // 1.125 | 1.25
      {std::ldexp(1.0f, -10), 0},                         // 0 | 2^-9 (subnormal)
      {std::ldexp(3.0f, -10), std::ldexp(1.0f, -8)},      // 2^-9 | 2^-8
      {232, 224},        // 224 (m=110) | 240 (m=111)
      {248, 256},        // 240 (m=111) | 256 (m=000, next binade)
      {17.001f, 18},     // past the midpoint
      {16.999f, 16},
  };
  std::vector<float> row, want;
  for (const Case &c : ties) {
    row.push_back(c.in);
    want.push_back(c.out);
  }
  for (int64_t group : {128, 64}) {
    std::vector<float> y = row;
    ref::fp8RoundTrip(y.data(), int64_t(y.size()), group);
    for (size_t i = 0; i < y.size(); ++i)
      EXPECT_EQ(y[i], want[i]) << "group " << group << " in " << row[i];
  }

  // amax just above 448 → scale 2: 449/2 = 224.5 → 224 → 448; 17/2 = 8.5 → 8 (tie, even) → 16.
  std::vector<float> above = {449, 17, -3};
  ref::fp8RoundTrip(above.data(), 3, 128);
  EXPECT_EQ(above, (std::vector<float>{448, 16, -3}));

  // All zeros: the amax clamp (1e-4) keeps the scale finite; zeros stay zeros, no NaN.
  std::vector<float> zeros(256, 0.0f);
  ref::fp8RoundTrip(zeros.data(), 256, 128);
  for (float v : zeros)
    EXPECT_EQ(v, 0.0f);

  // Groups are independent: a zero group next to one with amax 448·4 (scale 4), and a group
  // below the clamp: 1e-6 with scale 2^ceil(log2(1e-4/448)) = 2^-22 → 4.19 → 4 → 2^-20.
  std::vector<float> mixed(192, 0.0f);
  mixed[64] = 1792;
  mixed[65] = 17 * 4; // tie at scale 4 → 64
  mixed[66] = 5;      // 1.25 at scale 4 → representable → 5
  for (int i = 128; i < 192; ++i)
    mixed[i] = 1e-6f;
  ref::fp8RoundTrip(mixed.data(), 192, 64);
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(mixed[i], 0.0f);
  EXPECT_EQ(mixed[64], 1792);
  EXPECT_EQ(mixed[65], 64);
  EXPECT_EQ(mixed[66], 5);
  for (int i = 128; i < 192; ++i)
    EXPECT_EQ(mixed[i], std::ldexp(1.0f, -20)) << i;
}

TEST(ReferenceKernelsTest, Fp8RoundTripMatchesBruteForce) {
  std::mt19937 rng(17);
  size_t checked = 0;
  for (int64_t group : {128, 64}) {
    for (size_t n : {128u, 300u, 1024u}) { // 300: a partial last group
      for (int trial = 0; trial < 8; ++trial) {
        std::vector<float> x = randomQuantRow(rng, n, group);
        std::vector<float> expected = bruteFp8(x, group);
        std::vector<float> y = x;
        ref::fp8RoundTrip(y.data(), int64_t(n), group);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(y[i], expected[i]) << "group " << group << " n " << n << " i " << i
                                       << " x " << x[i];
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 10000u);
}

TEST(ReferenceKernelsTest, Fp4RoundTripCraftedRows) {
  // amax = 6·2^k → scale 2^k; all e2m1 values times 2^k survive.
  const float grid[] = {6, -6, 0, 0.5f, 1, 1.5f, 2, 3, 4, -0.5f, -1, -1.5f, -2, -3, -4};
  for (int k : {-30, -2, 0, 3, 40}) {
    std::vector<float> x(32);
    for (int i = 0; i < 32; ++i)
      x[i] = std::ldexp(grid[i % std::size(grid)], k);
    std::vector<float> y = x;
    ref::fp4RoundTrip(y.data(), 32, 32);
    EXPECT_EQ(y, x) << "k " << k;
  }
  // Ties at scale 1 (amax 6) go to the even code; past the midpoint goes up.
  std::vector<float> in = {6, 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5, -2.5f, -5, 2.51f, 4.99f};
  std::vector<float> out = {6, 0, 1, 1, 2, 2, 4, 4, -2, -4, 3, 4};
  std::vector<float> y = in;
  ref::fp4RoundTrip(y.data(), int64_t(y.size()), 32);
  EXPECT_EQ(y, out);
  // amax 6.5 → 6.5·(1/6) > 1 → scale 2: 6.5/2 = 3.25 → 3 → 6; 5/2 = 2.5 → 2 (tie) → 4.
  std::vector<float> above = {6.5f, 5, 1};
  ref::fp4RoundTrip(above.data(), 3, 32);
  EXPECT_EQ(above, (std::vector<float>{6, 4, 1}));
  // A zero group (amax clamp 6·2^-126 → scale 2^-126) stays zero; the next group is independent.
  std::vector<float> z(64, 0.0f);
  z[32] = 12;
  z[33] = 5; // scale 2: 2.5 → 2 → 4
  ref::fp4RoundTrip(z.data(), 64, 32);
  for (int i = 0; i < 32; ++i)
    EXPECT_EQ(z[i], 0.0f) << i;
  EXPECT_EQ(z[32], 12);
  EXPECT_EQ(z[33], 4);
  // Tiny groups near the clamp: the scale bottoms out at 2^-126 (smallest normal).
  std::vector<float> tiny = {std::ldexp(1.0f, -127), std::ldexp(3.0f, -128)};
  ref::fp4RoundTrip(tiny.data(), 2, 32);
  EXPECT_EQ(tiny[0], std::ldexp(1.0f, -127)); // 2^-127 / 2^-126 = 0.5: representable
  EXPECT_EQ(tiny[1], std::ldexp(1.0f, -126)); // 3·2^-128 / 2^-126 = 0.75: tie 0.5 | 1 → 1 (even)
}

TEST(ReferenceKernelsTest, Fp4RoundTripMatchesBruteForce) {
  std::mt19937 rng(23);
  size_t checked = 0;
  for (size_t n : {32u, 100u, 512u}) {
    for (int trial = 0; trial < 16; ++trial) {
      std::vector<float> x = randomQuantRow(rng, n, 32);
      std::vector<float> expected = bruteFp4(x, 32);
      std::vector<float> y = x;
      ref::fp4RoundTrip(y.data(), int64_t(n), 32);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(y[i], expected[i]) << "n " << n << " i " << i << " x " << x[i];
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 5000u);
}

//===----------------------------------------------------------------------===//
// Linears
//===----------------------------------------------------------------------===//

TEST(ReferenceKernelsTest, MatmulMatchesDouble) {
  std::mt19937 rng(29);
  const int rows = 3, k = 300, n = 7;
  std::vector<float> x = randomNormal(rng, rows * k), w = randomNormal(rng, n * k);
  std::vector<float> y(rows * n);
  ref::matmul(x.data(), rows, k, w.data(), n, y.data());
  for (int t = 0; t < rows; ++t)
    for (int o = 0; o < n; ++o) {
      double exact = 0, mag = 0;
      for (int i = 0; i < k; ++i) {
        exact += double(x[t * k + i]) * w[o * k + i];
        mag += std::fabs(double(x[t * k + i]) * w[o * k + i]);
      }
      EXPECT_NEAR(y[t * n + o], exact, 1e-6 * mag) << t << "," << o;
    }
}

TEST(ReferenceKernelsTest, BlockScaledLinearMatchesIndependentQuantizedProduct) {
  std::mt19937 rng(31);
  const int rows = 4, k = 300, n = 6; // 300: two full 128-blocks and a partial one
  std::vector<float> x(rows * k);
  for (int t = 0; t < rows; ++t) {
    // Magnitudes change every 32 channels, so the 128-wide groups matter (64-wide ones would
    // give different scales).
    std::vector<float> r = randomQuantRow(rng, k, 32);
    std::copy(r.begin(), r.end(), x.begin() + t * k);
  }
  std::vector<float> w = randomNormal(rng, n * k, 0.05);
  std::vector<float> y(rows * n), plain(rows * n);
  ref::blockScaledLinear(x.data(), rows, k, w.data(), n, y.data());
  ref::matmul(x.data(), rows, k, w.data(), n, plain.data());
  double worstRel = 0, maxDiff = 0;
  for (int t = 0; t < rows; ++t) {
    std::vector<float> row(x.begin() + t * k, x.begin() + (t + 1) * k);
    std::vector<float> q = bruteFp8(row, 128);
    std::vector<double> groupScale(k);
    for (int g = 0; g < k; g += 128) {
      double amax = 1e-4;
      for (int i = g; i < std::min(k, g + 128); ++i)
        amax = std::max(amax, std::fabs(double(row[i])));
      for (int i = g; i < std::min(k, g + 128); ++i)
        groupScale[i] = std::ldexp(1.0, ceilLog2(amax / 448));
    }
    for (int o = 0; o < n; ++o) {
      double exact = 0, mag = 0, bound = 0;
      for (int i = 0; i < k; ++i) {
        double wi = w[o * k + i];
        exact += q[i] * wi;
        mag += std::fabs(q[i] * wi);
        // Per element the e4m3 rounding error is ≤ half an ulp: 2^-4 relative for normals,
        // 2^-10·s in the subnormal range.
        bound += (std::fabs(row[i]) * 0.0625 + std::ldexp(groupScale[i], -10)) * std::fabs(wi);
      }
      bound += 1e-5 * mag; // fp32 summation of both products
      double err = std::fabs(y[t * n + o] - exact);
      worstRel = std::max(worstRel, err / mag);
      EXPECT_LE(err, 1e-5 * mag) << t << "," << o;
      // vs the unquantized matmul: the difference is the quantization error, small but not 0.
      double diff = std::fabs(double(y[t * n + o]) - plain[t * n + o]);
      maxDiff = std::max(maxDiff, diff);
      EXPECT_LE(diff, bound) << t << "," << o;
    }
  }
  EXPECT_GT(maxDiff, 0.0);

  // One 128-wide group, whose first half is large (amax 1000 → scale 4) and only feeds zero
  // weights, and whose second half is small (|x| ~ 0.01, so x/4 falls in e4m3's subnormal
  // range with step 2^-9·4): the output depends on how coarsely the small half was quantized,
  // i.e. on the 128-wide group sharing one scale.
  std::vector<float> xc(128), wc(2 * 128, 0.0f);
  std::uniform_real_distribution<float> small(-0.01f, 0.01f), large(500.0f, 1000.0f);
  for (int i = 0; i < 64; ++i)
    xc[i] = (i % 2 ? -1 : 1) * large(rng);
  xc[0] = 1000;
  for (int i = 64; i < 128; ++i) {
    xc[i] = small(rng);
    wc[i] = 1.0f;
    wc[128 + i] = i % 2 ? 0.5f : -0.25f;
  }
  std::vector<float> qc = bruteFp8(xc, 128), yc(2), plainC(2);
  ref::blockScaledLinear(xc.data(), 1, 128, wc.data(), 2, yc.data());
  ref::matmul(xc.data(), 1, 128, wc.data(), 2, plainC.data());
  for (int o = 0; o < 2; ++o) {
    double exact = 0, mag = 0, exactPlain = 0;
    for (int i = 0; i < 128; ++i) {
      exact += double(qc[i]) * wc[o * 128 + i];
      mag += std::fabs(double(qc[i]) * wc[o * 128 + i]);
      exactPlain += double(xc[i]) * wc[o * 128 + i];
    }
    EXPECT_NEAR(yc[o], exact, 1e-5 * mag + 1e-12) << o;
    EXPECT_GT(std::fabs(double(yc[o]) - plainC[o]), 1e-3) << "quantization error expected, " << o;
    EXPECT_NEAR(plainC[o], exactPlain, 1e-6);
  }
  std::printf("[blockScaledLinear] max |y - exact(q·w)| / Σ|q·w| = %.3g; max |y - matmul| = %.3g\n",
              worstRel, maxDiff);
}

//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

/// Brute-force top-k: an index is chosen when fewer than k others beat it, where j beats i if
/// v_j > v_i or (v_j == v_i and j < i); its position in the result is that count.
std::vector<int32_t> bruteTopk(const std::vector<double> &v, int k) {
  std::vector<int32_t> out(std::min<size_t>(k, v.size()), -1);
  for (size_t i = 0; i < v.size(); ++i) {
    size_t beaten = 0;
    for (size_t j = 0; j < v.size(); ++j)
      beaten += v[j] > v[i] || (v[j] == v[i] && j < i);
    if (beaten < out.size())
      out[beaten] = int32_t(i);
  }
  return out;
}

void expectRouting(const ref::Routing &r, const std::vector<int32_t> &experts,
                   const std::vector<double> &scores, double routeScale) {
  ASSERT_EQ(r.experts, experts);
  ASSERT_EQ(r.weights.size(), experts.size());
  double total = 0;
  for (int32_t e : experts)
    total += scores[e];
  for (size_t i = 0; i < experts.size(); ++i)
    EXPECT_NEAR(r.weights[i], scores[experts[i]] / total * routeScale,
                1e-6 * scores[experts[i]] / total * routeScale)
        << "expert " << experts[i];
}

TEST(ReferenceKernelsTest, RouteBiasSelectsUnbiasedWeights) {
  // Exact binary fractions so sums are exact in fp32.
  const float scores[8] = {0.5f, 0.75f, 0.25f, 0.625f, 0.125f, 0.375f, 0.875f, 0.0625f};
  const float bias[8] = {0.25f, 0, 0.5f, 0, 0.75f, 0, -0.5f, 0};
  // biased = {0.75, 0.75, 0.75, 0.625, 0.875, 0.375, 0.375, 0.0625}
  std::vector<double> s(scores, scores + 8);
  // Biased top-3: 4 (0.875), then the three-way tie at 0.75 → lower indices 0, 1.
  expectRouting(ref::route(scores, 8, bias, nullptr, 3, 1.5), {4, 0, 1}, s, 1.5);
  expectRouting(ref::route(scores, 8, bias, nullptr, 2, 1.5), {4, 0}, s, 1.5);
  expectRouting(ref::route(scores, 8, bias, nullptr, 4, 2.5), {4, 0, 1, 2}, s, 2.5);
  // Without the bias the selection differs (expert 6 first, 4 not chosen).
  expectRouting(ref::route(scores, 8, nullptr, nullptr, 3, 1.5), {6, 1, 3}, s, 1.5);
  // Weights: the chosen *unbiased* scores normalized: {0.125, 0.5, 0.75}/1.375 × 1.5.
  ref::Routing r = ref::route(scores, 8, bias, nullptr, 3, 1.5);
  EXPECT_NEAR(r.weights[0], 0.125 / 1.375 * 1.5, 1e-7);
  EXPECT_NEAR(r.weights[1], 0.5 / 1.375 * 1.5, 1e-7);
  EXPECT_NEAR(r.weights[2], 0.75 / 1.375 * 1.5, 1e-7);
  EXPECT_NEAR(r.weights[0] + r.weights[1] + r.weights[2], 1.5, 1e-6);

  // Hash layers: the ids are taken as given (order kept), bias ignored, same weight rule.
  const int64_t ids[3] = {7, 2, 5};
  expectRouting(ref::route(scores, 8, bias, ids, 3, 1.5), {7, 2, 5}, s, 1.5);
}

TEST(ReferenceKernelsTest, RouteRandomScoresMatchBruteForce) {
  std::mt19937 rng(37);
  std::normal_distribution<float> logit(0.0f, 2.0f), biasDist(0.0f, 0.3f);
  for (int trial = 0; trial < 40; ++trial) {
    const int experts = 64, k = 6;
    std::vector<float> scores(experts), bias(experts);
    std::vector<double> s(experts), biased(experts);
    for (int e = 0; e < experts; ++e) {
      float l = logit(rng);
      scores[e] = ref::sqrtSoftplus(l);
      // Independent value of sqrt(softplus) in double.
      double expected = std::sqrt(std::log1p(std::exp(double(l))));
      ASSERT_NEAR(scores[e], expected, 1e-6 * expected) << l;
      // Quantize the bias to a few values so biased ties occur.
      bias[e] = trial % 2 ? std::round(biasDist(rng) * 8) / 8 : biasDist(rng);
      s[e] = scores[e];
      biased[e] = double(scores[e] + bias[e]); // the fp32 sum, as compared by the kernel
    }
    if (trial % 4 == 3) // force exact ties in the biased scores
      for (int e = 0; e < experts; e += 3) {
        scores[e] = 1.0f;
        bias[e] = 0.5f;
        s[e] = 1.0;
        biased[e] = 1.5;
      }
    expectRouting(ref::route(scores.data(), experts, bias.data(), nullptr, k, 1.5),
                  bruteTopk(biased, k), s, 1.5);
  }
}

TEST(ReferenceKernelsTest, SqrtSoftplusExtremes) {
  for (double x : {-30.0, -1.0, 0.0, 0.5, 19.9, 20.1, 30.0, 88.0, 100.0, 1000.0}) {
    double expected = x > 30 ? std::sqrt(x + std::log1p(std::exp(-x)))
                             : std::sqrt(std::log1p(std::exp(x)));
    float got = ref::sqrtSoftplus(float(x));
    EXPECT_TRUE(std::isfinite(got)) << x;
    EXPECT_NEAR(got, expected, 1e-6 * expected + 1e-30) << x;
  }
}

//===----------------------------------------------------------------------===//
// Compressor pooling
//===----------------------------------------------------------------------===//

/// Per channel softmax pooling in double over explicit (score, kv) candidate lists.
double softmaxPool(const std::vector<double> &scores, const std::vector<double> &values) {
  double mx = -std::numeric_limits<double>::infinity();
  for (double s : scores)
    mx = std::max(mx, s);
  double num = 0, den = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    double e = std::isinf(scores[i]) ? 0.0 : std::exp(scores[i] - mx);
    num += e * values[i];
    den += e;
  }
  return num / den;
}

TEST(ReferenceKernelsTest, PoolCompressedEntryNonOverlap) {
  std::mt19937 rng(41);
  const int ratio = 8, headDim = 16, width = 16;
  std::vector<float> kv = randomNormal(rng, ratio * width), score = randomNormal(rng, ratio * width, 2);
  for (int j = 0; j < ratio; ++j) // channel 3: large scores (no overflow allowed)
    score[j * width + 3] = 80.0f + 3.0f * j;
  std::vector<float> entry(headDim);
  ref::poolCompressedEntry(kv.data(), score.data(), ratio, nullptr, nullptr, 0, width, headDim,
                           false, entry.data());
  for (int c = 0; c < headDim; ++c) {
    std::vector<double> s, v;
    for (int j = 0; j < ratio; ++j) {
      s.push_back(score[j * width + c]);
      v.push_back(kv[j * width + c]);
    }
    EXPECT_NEAR(entry[c], softmaxPool(s, v), 2e-6) << c;
  }
}

TEST(ReferenceKernelsTest, PoolCompressedEntryOverlap) {
  std::mt19937 rng(43);
  const int ratio = 4, headDim = 8, width = 16;
  std::vector<float> kv = randomNormal(rng, ratio * width), score = randomNormal(rng, ratio * width, 2);
  std::vector<float> prevKv = randomNormal(rng, ratio * width),
                     prevScore = randomNormal(rng, ratio * width, 2);
  // MODEL.md §6.4: block i's 4 rows on channels D..2D−1 plus block i−1's 4 rows on channels
  // 0..D−1; block −1 has C = 0, Z = −∞ (i.e. contributes nothing).
  auto expected = [&](const float *pk, const float *ps, int c) {
    std::vector<double> s, v;
    for (int j = 0; j < ratio; ++j) {
      s.push_back(ps ? double(ps[j * width + c]) : -std::numeric_limits<double>::infinity());
      v.push_back(pk ? double(pk[j * width + c]) : 0.0);
    }
    for (int j = 0; j < ratio; ++j) {
      s.push_back(score[j * width + headDim + c]);
      v.push_back(kv[j * width + headDim + c]);
    }
    return softmaxPool(s, v);
  };
  std::vector<float> entry(headDim);
  ref::poolCompressedEntry(kv.data(), score.data(), ratio, prevKv.data(), prevScore.data(), ratio,
                           width, headDim, true, entry.data());
  for (int c = 0; c < headDim; ++c)
    EXPECT_NEAR(entry[c], expected(prevKv.data(), prevScore.data(), c), 2e-6) << c;
  // The previous block's channels headDim.. and this block's channels 0..headDim−1 are unused.
  std::vector<float> kv2 = kv, score2 = score, prevKv2 = prevKv, prevScore2 = prevScore;
  for (int j = 0; j < ratio; ++j)
    for (int c = 0; c < headDim; ++c) {
      kv2[j * width + c] = 1e3f;
      score2[j * width + c] = 50;
      prevKv2[j * width + headDim + c] = -1e3f;
      prevScore2[j * width + headDim + c] = 50;
    }
  std::vector<float> entry2(headDim);
  ref::poolCompressedEntry(kv2.data(), score2.data(), ratio, prevKv2.data(), prevScore2.data(),
                           ratio, width, headDim, true, entry2.data());
  EXPECT_EQ(entry2, entry);

  // First block: no previous rows.
  std::vector<float> first(headDim);
  ref::poolCompressedEntry(kv.data(), score.data(), ratio, nullptr, nullptr, 0, width, headDim,
                           true, first.data());
  for (int c = 0; c < headDim; ++c)
    EXPECT_NEAR(first[c], expected(nullptr, nullptr, c), 2e-6) << c;
  EXPECT_NE(first, entry);
}

//===----------------------------------------------------------------------===//
// Indexer scores and top-k
//===----------------------------------------------------------------------===//

TEST(ReferenceKernelsTest, IndexScoresMatchDouble) {
  std::mt19937 rng(47);
  const int heads = 3, dim = 16, n = 12;
  const float scale = 0.125f;
  std::vector<float> q = randomNormal(rng, heads * dim), keys = randomNormal(rng, n * dim);
  std::vector<float> weights = {0.7f, -0.4f, 1.3f}; // head weights may be negative
  // Key 0: zero vector; key 1: −q_0 − q_1 − q_2 with all q_j made positive → every dot < 0.
  for (float &v : q)
    v = std::fabs(v) + 0.1f;
  for (int c = 0; c < dim; ++c) {
    keys[c] = 0;
    keys[dim + c] = -1.0f - std::fabs(keys[dim + c]);
  }
  std::uniform_real_distribution<float> u(-1, 1);
  for (int i = 2; i < n; ++i) // mixed signs so that some heads' dots are negative
    for (int c = 0; c < dim; ++c)
      keys[i * dim + c] = u(rng) - 0.1f * (i % 3);
  std::vector<float> got = ref::indexScores(q.data(), weights.data(), heads, dim, keys.data(), n,
                                            scale);
  ASSERT_EQ(got.size(), size_t(n));
  EXPECT_EQ(got[0], 0.0f);
  EXPECT_EQ(got[1], 0.0f);
  int clipped = 0;
  for (int i = 0; i < n; ++i) {
    double expected = 0, mag = 0;
    for (int j = 0; j < heads; ++j) {
      double dot = 0;
      for (int c = 0; c < dim; ++c)
        dot += double(q[j * dim + c]) * keys[i * dim + c];
      clipped += dot < 0;
      expected += weights[j] * scale * std::max(dot, 0.0);
      mag += std::fabs(weights[j] * scale * dot);
    }
    EXPECT_NEAR(got[i], expected, 1e-6 * std::max(mag, 1.0)) << i;
  }
  EXPECT_GT(clipped, 6); // the ReLU was exercised beyond keys 0 and 1
}

TEST(ReferenceKernelsTest, TopkTiesGoToLowerIndices) {
  const float v[10] = {0, 0, 3, 0, 0, 2, 0, 0, 0, 0};
  EXPECT_EQ(ref::topk(v, 10, 5), (std::vector<int32_t>{2, 5, 0, 1, 3}));
  EXPECT_EQ(ref::topk(v, 10, 2), (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(ref::topk(v, 10, 10), (std::vector<int32_t>{2, 5, 0, 1, 3, 4, 6, 7, 8, 9}));
  EXPECT_EQ(ref::topk(v, 10, 20).size(), 10u); // k > n: all of them
  const float neg[5] = {-1, -std::numeric_limits<float>::infinity(), -1, 0, -0.0f};
  EXPECT_EQ(ref::topk(neg, 5, 4), (std::vector<int32_t>{3, 4, 0, 2})); // 0 == -0: a tie

  // Random values from a small set (many ties), vs brute force.
  std::mt19937 rng(53);
  std::uniform_int_distribution<int> small(0, 3);
  for (int trial = 0; trial < 30; ++trial) {
    int n = 40 + trial, k = 1 + trial % 25;
    std::vector<float> x(n);
    std::vector<double> d(n);
    for (int i = 0; i < n; ++i)
      d[i] = x[i] = trial % 2 ? float(small(rng)) : (small(rng) == 0 ? 0.0f : float(small(rng)) * 0.5f);
    EXPECT_EQ(ref::topk(x.data(), n, k), bruteTopk(d, k)) << "trial " << trial;
  }

  // Indexer scores where most keys have every head's q·k ≤ 0 → score exactly 0 → lower indices.
  const int dim = 4, n = 9;
  const float q[2 * dim] = {1, 1, 0, 0, 0, 1, 1, 0};
  const float w[2] = {1.0f, 0.5f};
  std::vector<float> keys(n * dim, -1.0f); // all dots negative
  keys[6 * dim + 0] = 2;                   // key 6: head 0 dot = 2 − 1 = 1 > 0
  keys[2 * dim + 2] = 3;                   // key 2: head 1 dot = −1 + 3 = 2 > 0
  std::vector<float> scores = ref::indexScores(q, w, 2, dim, keys.data(), n, 1.0f);
  EXPECT_EQ(scores[6], 1.0f);
  EXPECT_EQ(scores[2], 1.0f); // 0.5 · 2
  for (int i : {0, 1, 3, 4, 5, 7, 8})
    EXPECT_EQ(scores[i], 0.0f) << i;
  EXPECT_EQ(ref::topk(scores.data(), n, 5), (std::vector<int32_t>{2, 6, 0, 1, 3}));
}

//===----------------------------------------------------------------------===//
// Attention with a sink
//===----------------------------------------------------------------------===//

std::vector<double> attendDouble(const std::vector<float> &q, const std::vector<std::vector<float>> &kv,
                                 double sink, double scale, bool withSink) {
  size_t dim = q.size();
  std::vector<double> logits;
  double mx = withSink ? sink : -std::numeric_limits<double>::infinity();
  for (const auto &k : kv) {
    double dot = 0;
    for (size_t c = 0; c < dim; ++c)
      dot += double(q[c]) * k[c];
    logits.push_back(dot * scale);
    mx = std::max(mx, logits.back());
  }
  double den = withSink ? std::exp(sink - mx) : 0.0;
  for (double l : logits)
    den += std::exp(l - mx);
  std::vector<double> out(dim, 0.0);
  for (size_t s = 0; s < kv.size(); ++s)
    for (size_t c = 0; c < dim; ++c)
      out[c] += std::exp(logits[s] - mx) / den * kv[s][c];
  return out;
}

TEST(ReferenceKernelsTest, AttendWithSink) {
  std::mt19937 rng(59);
  const int dim = 32, count = 7;
  const float scale = 1.0f / std::sqrt(float(dim));
  std::vector<float> q = randomNormal(rng, dim, 2);
  std::vector<std::vector<float>> kv;
  std::vector<const float *> ptrs;
  for (int s = 0; s < count; ++s)
    kv.push_back(randomNormal(rng, dim));
  for (auto &k : kv)
    ptrs.push_back(k.data());
  std::vector<float> out(dim);

  for (float sink : {-2.0f, 0.0f, 0.7f, 3.0f}) {
    ref::attendWithSink(q.data(), ptrs, sink, scale, dim, out.data());
    std::vector<double> want = attendDouble(q, kv, sink, scale, true);
    std::vector<double> noSink = attendDouble(q, kv, sink, scale, false);
    double differs = 0;
    for (int c = 0; c < dim; ++c) {
      EXPECT_NEAR(out[c], want[c], 1e-6) << "sink " << sink << " c " << c;
      differs = std::max(differs, std::fabs(want[c] - noSink[c]));
    }
    EXPECT_GT(differs, 1e-5) << "the sink term must matter at sink " << sink;
  }
  // A very negative sink: plain softmax.
  ref::attendWithSink(q.data(), ptrs, -1e4f, scale, dim, out.data());
  std::vector<double> plain = attendDouble(q, kv, 0, scale, false);
  for (int c = 0; c < dim; ++c)
    EXPECT_NEAR(out[c], plain[c], 1e-6) << c;
  // A very large sink takes all the mass: the output vanishes.
  ref::attendWithSink(q.data(), ptrs, 1e4f, scale, dim, out.data());
  for (int c = 0; c < dim; ++c)
    EXPECT_NEAR(out[c], 0.0, 1e-30) << c;
  ref::attendWithSink(q.data(), ptrs, 40.0f, scale, dim, out.data());
  for (int c = 0; c < dim; ++c)
    EXPECT_NEAR(out[c], 0.0, 1e-12) << c;
  // Large logits (|q·k|·scale ≫ 88) must not overflow.
  std::vector<float> big = q;
  for (float &v : big)
    v *= 200;
  ref::attendWithSink(big.data(), ptrs, 1.0f, scale, dim, out.data());
  std::vector<double> wantBig = attendDouble(big, kv, 1.0, scale, true);
  for (int c = 0; c < dim; ++c) {
    EXPECT_TRUE(std::isfinite(out[c]));
    EXPECT_NEAR(out[c], wantBig[c], 1e-5) << c;
  }
  // No candidates: only the sink, output zero.
  ref::attendWithSink(q.data(), {}, 0.5f, scale, dim, out.data());
  for (int c = 0; c < dim; ++c)
    EXPECT_EQ(out[c], 0.0f);
}

TEST(ReferenceKernelsTest, RmsNormMatchesDouble) {
  std::mt19937 rng(61);
  std::vector<float> x = randomNormal(rng, 256, 3), w = randomNormal(rng, 256), y = x, z = x;
  ref::rmsNorm(y.data(), 256, w.data(), 1e-6);
  ref::rmsNorm(z.data(), 256, nullptr, 1e-6);
  double ms = 0;
  for (float v : x)
    ms += double(v) * v;
  double r = 1 / std::sqrt(ms / 256 + 1e-6);
  for (int i = 0; i < 256; ++i) {
    EXPECT_NEAR(y[i], x[i] * r * w[i], 1e-6 * std::max(1.0, std::fabs(x[i] * r * w[i]))) << i;
    EXPECT_NEAR(z[i], x[i] * r, 1e-6 * std::max(1.0, std::fabs(x[i] * r))) << i;
  }
}

//===----------------------------------------------------------------------===//
// WeightStore
//===----------------------------------------------------------------------===//

TEST(ReferenceKernelsTest, WeightStoreDecodesFp8Fp4Bf16) {
  test::TempDir dir("v4c-reference-weights");
  llvm::SmallString<256> config(V4C_TEST_DATA_DIR);
  llvm::sys::path::append(config, "configs", "tiny.json");
  ASSERT_FALSE(llvm::sys::fs::copy_file(config, dir.file("config.json")));

  std::mt19937 rng(67);
  std::uniform_int_distribution<int> byte(0, 255);
  // FP8 weight [130, 200]: 2×2 blocks of 128, the last row/col blocks partial.
  const int64_t R = 130, C = 200;
  std::vector<uint8_t> fp8(R * C);
  for (uint8_t &b : fp8) {
    do
      b = uint8_t(byte(rng));
    while ((b & 0x7F) == 0x7F); // no NaN codes
  }
  const uint8_t fp8Scales[4] = {127 - 3, 127 + 2, 127 - 10, 127 + 1}; // 2^-3, 2^2, 2^-10, 2^1
  // FP4 weight: packed [4, 32] bytes = logical [4, 64], scales [4, 2] (one per 32 along K).
  std::vector<uint8_t> fp4(4 * 32);
  for (uint8_t &b : fp4)
    b = uint8_t(byte(rng));
  const uint8_t fp4Scales[8] = {127, 120, 130, 127 - 20, 127 + 5, 127, 100, 140};
  // BF16 [2, 5]: bit patterns written directly.
  const uint16_t bf16[10] = {0x3F80, 0xBF80, 0x0000, 0x8000, 0x4049, 0x3E00, 0x7F7F, 0x0001,
                             0xC2F7, 0x3C23};

  SafetensorsWriter writer;
  writer.add("layers.0.attn.wq_a.weight", DType::F8_E4M3, {R, C},
             [&](llvm::MutableArrayRef<uint8_t> b) { std::copy(fp8.begin(), fp8.end(), b.begin()); });
  writer.add("layers.0.attn.wq_a.scale", DType::F8_E8M0, {2, 2},
             [&](llvm::MutableArrayRef<uint8_t> b) { std::copy(fp8Scales, fp8Scales + 4, b.begin()); });
  writer.add("layers.0.ffn.experts.0.w1.weight", DType::I8, {4, 32},
             [&](llvm::MutableArrayRef<uint8_t> b) { std::copy(fp4.begin(), fp4.end(), b.begin()); });
  writer.add("layers.0.ffn.experts.0.w1.scale", DType::F8_E8M0, {4, 2},
             [&](llvm::MutableArrayRef<uint8_t> b) { std::copy(fp4Scales, fp4Scales + 8, b.begin()); });
  writer.add("norm.weight", DType::BF16, {2, 5}, [&](llvm::MutableArrayRef<uint8_t> b) {
    for (int i = 0; i < 10; ++i) { // little endian
      b[2 * i] = uint8_t(bf16[i] & 0xFF);
      b[2 * i + 1] = uint8_t(bf16[i] >> 8);
    }
  });
  llvm::Error err = writer.write(dir.file("model.safetensors"));
  ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));

  auto checkpoint = Checkpoint::open(dir.path());
  ASSERT_TRUE(bool(checkpoint)) << llvm::toString(checkpoint.takeError());
  ref::WeightStore store(**checkpoint, 128, 128);

  {
    auto t = store.get("layers.0.attn.wq_a.weight");
    ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
    const ref::Tensor &w = *t;
    EXPECT_EQ(w.shape, (std::vector<int64_t>{R, C}));
    EXPECT_TRUE(w.quantized);
    ASSERT_EQ(w.data.size(), size_t(R * C));
    int mismatches = 0;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) {
        int rb = r < 128 ? 0 : 1, cb = c < 128 ? 0 : 1; // partial blocks use the last scale
        double expected = e4m3Value(fp8[r * C + c]) * std::ldexp(1.0, fp8Scales[rb * 2 + cb] - 127);
        if (w.data[r * C + c] != float(expected) && ++mismatches <= 5)
          ADD_FAILURE() << "fp8 [" << r << "," << c << "] got " << w.data[r * C + c]
                        << " expected " << expected;
      }
    EXPECT_EQ(mismatches, 0);
    // Spot checks at the block corners.
    EXPECT_EQ(w.data[129 * C + 199],
              float(e4m3Value(fp8[129 * C + 199]) * std::ldexp(1.0, 1)));
    EXPECT_EQ(w.data[127 * C + 128], float(e4m3Value(fp8[127 * C + 128]) * 4));
  }
  {
    auto t = store.get("layers.0.ffn.experts.0.w1.weight");
    ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
    const ref::Tensor &w = *t;
    EXPECT_EQ(w.shape, (std::vector<int64_t>{4, 64}));
    EXPECT_TRUE(w.quantized);
    ASSERT_EQ(w.data.size(), 256u);
    for (int r = 0; r < 4; ++r)
      for (int p = 0; p < 32; ++p) {
        uint8_t b = fp4[r * 32 + p];
        for (int half = 0; half < 2; ++half) {
          int c = 2 * p + half; // element 2p = low nibble, 2p+1 = high nibble
          unsigned nibble = half == 0 ? (b & 0xF) : (b >> 4);
          double expected = e2m1Value(nibble) * std::ldexp(1.0, fp4Scales[r * 2 + c / 32] - 127);
          EXPECT_EQ(w.data[r * 64 + c], float(expected)) << "fp4 [" << r << "," << c << "]";
        }
      }
  }
  {
    auto t = store.get("norm.weight");
    ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
    const ref::Tensor &w = *t;
    EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 5}));
    EXPECT_FALSE(w.quantized);
    ASSERT_EQ(w.data.size(), 10u);
    for (int i = 0; i < 10; ++i) {
      uint32_t bits = uint32_t(bf16[i]) << 16;
      float expected;
      std::memcpy(&expected, &bits, 4);
      EXPECT_EQ(std::memcmp(&w.data[i], &expected, 4), 0) << i << ": " << w.data[i];
    }
    EXPECT_EQ(w.data[0], 1.0f);
    EXPECT_EQ(w.data[4], 3.140625f);
  }
  // Cached: the same object on a second call.
  auto a = store.get("norm.weight");
  auto b = store.get("norm.weight");
  ASSERT_TRUE(bool(a) && bool(b));
  EXPECT_EQ(&*a, &*b);
  auto missing = store.get("no.such.weight");
  ASSERT_FALSE(bool(missing));
  EXPECT_NE(llvm::toString(missing.takeError()).find("no.such.weight"), std::string::npos);
}

} // namespace
