// Exhaustive and tie-rule tests of the narrow-format conversions (MODEL.md §3.1, §3.3, §6.7).
#include "frontend/checkpoint/LowPrecision.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

using namespace v4c::lowp;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

/// Value of a finite code from its fields, written straight from the format definition:
/// normal (−1)^s·2^(e−bias)·(1 + m/2^M), subnormal (−1)^s·2^(1−bias)·(m/2^M).
double valueFromFields(unsigned sign, unsigned exp, unsigned man, int manBits, int bias) {
  double fraction = man / std::pow(2.0, manBits);
  double magnitude = exp == 0 ? std::pow(2.0, 1 - bias) * fraction
                              : std::pow(2.0, static_cast<int>(exp) - bias) * (1 + fraction);
  return sign ? -magnitude : magnitude;
}

/// Same float including the sign of zero (EXPECT_EQ treats -0 == +0).
void expectSameFloat(float expected, float actual, unsigned code) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << "code 0x" << std::hex << code;
    return;
  }
  EXPECT_EQ(expected, actual) << "code 0x" << std::hex << code;
  EXPECT_EQ(std::signbit(expected), std::signbit(actual)) << "code 0x" << std::hex << code;
}

/// Every pair of neighbouring positive finite codes (`maxCode` is the largest finite one;
/// codes are ordered by magnitude): the midpoint goes to the code with the even mantissa (the
/// even code), one ulp of fp32 either side goes to the nearer neighbour; negatives mirror.
void checkNeighbourRounding(unsigned maxCode, unsigned signBit,
                            const std::function<float(unsigned)> &decode,
                            const std::function<unsigned(float)> &encode) {
  for (unsigned low = 0; low < maxCode; ++low) {
    unsigned high = low + 1;
    double a = decode(low), b = decode(high);
    float mid = static_cast<float>((a + b) / 2);
    ASSERT_EQ(static_cast<double>(mid), (a + b) / 2) << "midpoint not exact in fp32";
    unsigned even = low % 2 == 0 ? low : high;
    EXPECT_EQ(encode(mid), even) << "tie between 0x" << std::hex << low << " and 0x" << high;
    EXPECT_EQ(encode(std::nextafter(mid, 0.0f)), low) << "below midpoint 0x" << std::hex << low;
    EXPECT_EQ(encode(std::nextafter(mid, kInf)), high) << "above midpoint 0x" << std::hex << low;
    EXPECT_EQ(encode(-mid), signBit | even);
  }
}

/// encode(decode(c)) == c for every non-NaN code, including −0.
void checkRoundTrip(unsigned numCodes, const std::function<float(unsigned)> &decode,
                    const std::function<unsigned(float)> &encode) {
  for (unsigned code = 0; code < numCodes; ++code) {
    float value = decode(code);
    if (!std::isnan(value)) {
      EXPECT_EQ(encode(value), code) << "code 0x" << std::hex << code;
    }
  }
}

float fromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint32_t bitsOf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

} // namespace

//===----------------------------------------------------------------------===//
// E4M3FN
//===----------------------------------------------------------------------===//

TEST(LowPrecisionTest, E4m3DecodesEveryCodeFromItsFields) {
  for (unsigned code = 0; code < 256; ++code) {
    unsigned sign = code >> 7, exp = (code >> 3) & 0xF, man = code & 0x7;
    float expected = exp == 15 && man == 7
                         ? kNaN
                         : static_cast<float>(valueFromFields(sign, exp, man, 3, 7));
    expectSameFloat(expected, e4m3ToFloat(code), code);
  }
  EXPECT_EQ(e4m3ToFloat(0x7E), 448.0f);
  EXPECT_EQ(e4m3ToFloat(0x01), 0x1p-9f);
  EXPECT_EQ(e4m3ToFloat(0x08), 0x1p-6f);
}

TEST(LowPrecisionTest, E4m3RoundTripsEveryCode) {
  auto decode = [](unsigned c) { return e4m3ToFloat(c); };
  auto encode = [](float v) -> unsigned { return floatToE4m3(v); };
  checkRoundTrip(256, decode, encode);
  EXPECT_EQ(floatToE4m3(0.0f), 0x00);
  EXPECT_EQ(floatToE4m3(-0.0f), 0x80);
}

TEST(LowPrecisionTest, E4m3RoundsToNearestEven) {
  checkNeighbourRounding(0x7E, 0x80, [](unsigned c) { return e4m3ToFloat(c); },
                         [](float v) -> unsigned { return floatToE4m3(v); });
  EXPECT_EQ(floatToE4m3(1.0625f), 0x38);   // between 1 (m=0) and 1.125 (m=1) → 1
  EXPECT_EQ(floatToE4m3(1.1875f), 0x3A);   // between 1.125 and 1.25 → 1.25 (m=2)
  EXPECT_EQ(floatToE4m3(0x1p-10f), 0x00);  // half the smallest subnormal → +0
  EXPECT_EQ(floatToE4m3(-0x1p-10f), 0x80); // … and keeps the sign
  EXPECT_EQ(floatToE4m3(3 * 0x1p-10f), 0x02);
  EXPECT_EQ(floatToE4m3(7.5f * 0x1p-9f), 0x08); // largest subnormal ↔ smallest normal
  EXPECT_EQ(floatToE4m3(1e-30f), 0x00);
}

TEST(LowPrecisionTest, E4m3OverflowFollowsPyTorch) {
  // c10::detail::fp8e4m3fn_from_fp32_value: RNE without saturation, so 464 (the midpoint
  // between 448 and the NaN code's 480) goes to 448 and anything above it to NaN.
  for (float v : {448.0f, 450.0f, 463.9f, 464.0f})
    EXPECT_EQ(floatToE4m3(v), 0x7E) << v;
  EXPECT_EQ(floatToE4m3(-464.0f), 0xFE);
  for (float v : {std::nextafter(464.0f, kInf), 470.0f, 479.9f, 480.0f, 1e6f, kInf})
    EXPECT_EQ(floatToE4m3(v), 0x7F) << v;
  EXPECT_EQ(floatToE4m3(-500.0f), 0xFF);
  EXPECT_EQ(floatToE4m3(-kInf), 0xFF);
  EXPECT_EQ(floatToE4m3(kNaN), 0x7F);
  EXPECT_EQ(floatToE4m3(-kNaN), 0xFF);
}

//===----------------------------------------------------------------------===//
// E5M2
//===----------------------------------------------------------------------===//

TEST(LowPrecisionTest, E5m2DecodesEveryCodeFromItsFields) {
  for (unsigned code = 0; code < 256; ++code) {
    unsigned sign = code >> 7, exp = (code >> 2) & 0x1F, man = code & 0x3;
    float expected;
    if (exp == 31)
      expected = man ? kNaN : (sign ? -kInf : kInf);
    else
      expected = static_cast<float>(valueFromFields(sign, exp, man, 2, 15));
    expectSameFloat(expected, e5m2ToFloat(code), code);
  }
  EXPECT_EQ(e5m2ToFloat(0x7B), 57344.0f);
  EXPECT_EQ(e5m2ToFloat(0x01), 0x1p-16f);
}

TEST(LowPrecisionTest, E5m2RoundsToNearestEvenAndOverflowsToInf) {
  auto decode = [](unsigned c) { return e5m2ToFloat(c); };
  auto encode = [](float v) -> unsigned { return floatToE5m2(v); };
  checkRoundTrip(256, decode, encode);
  checkNeighbourRounding(0x7B, 0x80, decode, encode);
  EXPECT_EQ(floatToE5m2(1.125f), 0x3C);  // between 1 and 1.25 → 1 (even)
  EXPECT_EQ(floatToE5m2(1.375f), 0x3E);  // between 1.25 and 1.5 → 1.5 (even)
  EXPECT_EQ(floatToE5m2(61439.0f), 0x7B);
  EXPECT_EQ(floatToE5m2(61440.0f), 0x7C); // tie with "2^16" → even → Inf
  EXPECT_EQ(floatToE5m2(1e9f), 0x7C);
  EXPECT_EQ(floatToE5m2(-kInf), 0xFC);
  EXPECT_TRUE(std::isnan(e5m2ToFloat(floatToE5m2(kNaN))));
}

//===----------------------------------------------------------------------===//
// f16, bf16
//===----------------------------------------------------------------------===//

TEST(LowPrecisionTest, F16DecodesRoundTripsAndRounds) {
  for (unsigned code = 0; code < 65536; ++code) {
    unsigned sign = code >> 15, exp = (code >> 10) & 0x1F, man = code & 0x3FF;
    float expected = exp == 31 ? (man ? kNaN : (sign ? -kInf : kInf))
                               : static_cast<float>(valueFromFields(sign, exp, man, 10, 15));
    expectSameFloat(expected, f16ToFloat(code), code);
  }
  auto decode = [](unsigned c) { return f16ToFloat(c); };
  auto encode = [](float v) -> unsigned { return floatToF16(v); };
  checkRoundTrip(65536, decode, encode);
  checkNeighbourRounding(0x7BFF, 0x8000, decode, encode);
  EXPECT_EQ(floatToF16(65519.0f), 0x7BFF);
  EXPECT_EQ(floatToF16(65520.0f), 0x7C00);
  EXPECT_TRUE(std::isnan(f16ToFloat(floatToF16(kNaN))));
}

TEST(LowPrecisionTest, Bf16RoundTripsAndRoundsToNearestEven) {
  for (unsigned code = 0; code < 65536; ++code) {
    float value = bf16ToFloat(code);
    EXPECT_EQ(bitsOf(value), code << 16);
    if (!std::isnan(value)) {
      EXPECT_EQ(floatToBf16(value), code) << "code 0x" << std::hex << code;
    }
  }
  EXPECT_EQ(floatToBf16(1.0f + 0x1p-8f), 0x3F80);     // tie between m=0 and m=1 → 1
  EXPECT_EQ(floatToBf16(1.0f + 3 * 0x1p-8f), 0x3F82); // tie between m=1 and m=2 → m=2
  EXPECT_EQ(floatToBf16(std::nextafter(1.0f + 0x1p-8f, kInf)), 0x3F81);
  EXPECT_EQ(floatToBf16(-(1.0f + 0x1p-8f)), 0xBF80);
  EXPECT_EQ(floatToBf16(std::numeric_limits<float>::max()), 0x7F80); // rounds up to Inf
  EXPECT_EQ(floatToBf16(-kInf), 0xFF80);
  // A NaN whose payload sits only in the low half must not truncate to Inf.
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(fromBits(0x7F800001)))));
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(kNaN))));
}

//===----------------------------------------------------------------------===//
// E8M0
//===----------------------------------------------------------------------===//

TEST(LowPrecisionTest, E8m0DecodesEveryCode) {
  for (unsigned code = 0; code < 255; ++code) {
    EXPECT_EQ(e8m0ToFloat(code), static_cast<float>(std::pow(2.0, static_cast<int>(code) - 127)))
        << code;
    EXPECT_EQ(e8m0FromPow2Exponent(static_cast<int>(code) - 127), code);
  }
  EXPECT_TRUE(std::isnan(e8m0ToFloat(0xFF)));
  EXPECT_EQ(e8m0ToFloat(0), 0x1p-127f); // no zero: the smallest code is a subnormal fp32
  EXPECT_EQ(e8m0ToFloat(127), 1.0f);
  EXPECT_EQ(e8m0FromPow2Exponent(-200), 0);
  EXPECT_EQ(e8m0FromPow2Exponent(200), 254);
}

//===----------------------------------------------------------------------===//
// E2M1
//===----------------------------------------------------------------------===//

TEST(LowPrecisionTest, E2m1DecodesEveryCode) {
  const float table[16] = {0, .5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -.5f, -1, -1.5f, -2, -3, -4, -6};
  for (unsigned code = 0; code < 16; ++code) {
    expectSameFloat(table[code], e2m1ToFloat(code), code);
    unsigned sign = code >> 3, exp = (code >> 1) & 0x3, man = code & 0x1;
    expectSameFloat(static_cast<float>(valueFromFields(sign, exp, man, 1, 1)), e2m1ToFloat(code),
                    code);
    EXPECT_EQ(floatToE2m1(table[code]), code);
  }
  EXPECT_EQ(e2m1ToFloat(0xF7), 6.0f); // high bits ignored
}

TEST(LowPrecisionTest, E2m1RoundsToNearestEvenAndSaturates) {
  checkNeighbourRounding(0x7, 0x8, [](unsigned c) { return e2m1ToFloat(c); },
                         [](float v) -> unsigned { return floatToE2m1(v); });
  struct Case { float in, out; };
  for (Case c : {Case{0.25f, 0}, {0.75f, 1}, {1.25f, 1}, {1.75f, 2}, {2.5f, 2}, {3.5f, 4},
                 {5.0f, 4}, {4.99f, 4}, {5.01f, 6}, {0.26f, 0.5f}, {6.5f, 6}, {7.0f, 6},
                 {100.0f, 6}, {kInf, 6}}) {
    EXPECT_EQ(e2m1ToFloat(floatToE2m1(c.in)), c.out) << c.in;
    EXPECT_EQ(e2m1ToFloat(floatToE2m1(-c.in)), -c.out) << -c.in;
  }
  EXPECT_EQ(floatToE2m1(-0.0f), 0x8);
  EXPECT_EQ(floatToE2m1(-0.1f), 0x8);
  EXPECT_EQ(floatToE2m1(kNaN), 0x7);
}

TEST(LowPrecisionTest, E2m1PacksLowNibbleFirst) {
  EXPECT_EQ(packE2m1Pair(0x3, 0xA), 0xA3);
  EXPECT_EQ(packE2m1Pair(0xF3, 0x1A), 0xA3); // stray high bits dropped
  const uint8_t row[] = {0xA3, 0x70};
  EXPECT_EQ(e2m1Nibble(row, 0), 0x3);
  EXPECT_EQ(e2m1Nibble(row, 1), 0xA);
  EXPECT_EQ(e2m1Nibble(row, 2), 0x0);
  EXPECT_EQ(e2m1Nibble(row, 3), 0x7);
  EXPECT_EQ(e2m1ToFloat(e2m1Nibble(row, 1)), -1.0f);
}

//===----------------------------------------------------------------------===//
// ue8m0 scales
//===----------------------------------------------------------------------===//

TEST(LowPrecisionTest, Log2CeilAndPow2FromBits) {
  EXPECT_EQ(log2CeilBits(1.0f), 0);
  EXPECT_EQ(log2CeilBits(1.5f), 1);
  EXPECT_EQ(log2CeilBits(0.75f), 0);
  EXPECT_EQ(log2CeilBits(std::nextafter(1.0f, 0.0f)), 0);
  EXPECT_EQ(log2CeilBits(0x1p-126f), -126);
  EXPECT_EQ(log2CeilBits(0x1p-130f), -126); // subnormal: the reference's value, not the ceil
  EXPECT_EQ(log2CeilBits(0.0f), -127);
  EXPECT_EQ(pow2Bits(0), 1.0f);
  EXPECT_EQ(pow2Bits(-126), 0x1p-126f);
  EXPECT_EQ(pow2Bits(127), 0x1p127f);
  EXPECT_EQ(pow2Bits(-127), 0.0f);
  EXPECT_EQ(pow2Bits(128), kInf);
}

TEST(LowPrecisionTest, Ue8m0ScaleOnCraftedValues) {
  EXPECT_EQ(ue8m0Scale(448.0f, 448.0f), 1.0f);
  EXPECT_EQ(ue8m0Scale(449.0f, 448.0f), 2.0f);
  EXPECT_EQ(ue8m0Scale(224.0f, 448.0f), 0.5f);
  EXPECT_EQ(ue8m0Scale(225.0f, 448.0f), 1.0f);
  EXPECT_EQ(ue8m0Scale(1e-4f, 448.0f), 0x1p-22f); // the FP8 activation clamp (§3.3)
  EXPECT_EQ(ue8m0ScaleExponent(448.0f * 0x1p-20f, 448.0f), -20);
  // Around every exact boundary qmax·2^k the scale keeps amax/scale within (qmax/2, qmax]:
  // the fp32 reciprocal must never push a value just above the boundary down a binade.
  for (float qmax : {448.0f, 6.0f}) {
    for (int k = -100; k <= 100; ++k) {
      float boundary = std::ldexp(qmax, k);
      for (float amax : {boundary, std::nextafter(boundary, 0.0f), std::nextafter(boundary, kInf)}) {
        float scale = ue8m0Scale(amax, qmax);
        EXPECT_LE(amax / scale, qmax) << amax;
        EXPECT_GT(amax / scale, qmax / 2) << amax;
      }
      EXPECT_EQ(ue8m0Scale(boundary, qmax), std::ldexp(1.0f, k));
    }
  }
}

TEST(LowPrecisionTest, Ue8m0ScaleFp4ClampsAmax) {
  EXPECT_EQ(ue8m0ScaleFp4(6.0f), 1.0f);
  EXPECT_EQ(ue8m0ScaleFp4(6.01f), 2.0f);
  EXPECT_EQ(ue8m0ScaleFp4(3.0f), 0.5f);
  EXPECT_EQ(ue8m0ScaleFp4(0.0f), 0x1p-126f); // clamped to 6·2^-126
  EXPECT_EQ(ue8m0ScaleFp4(6.0f * 0x1p-126f), 0x1p-126f);
  EXPECT_EQ(ue8m0ScaleExponentFp4(1e-40f), -126);
  EXPECT_EQ(ue8m0ScaleExponentFp4(12.0f), 1);
}
