#include "frontend/checkpoint/LowPrecision.h"

#include "llvm/ADT/bit.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace v4c::lowp {

namespace {

/// A binary float format with a sign bit, `expBits` exponent bits and `manBits` mantissa bits.
/// f16, E5M2, E4M3FN and E2M1 differ only in these fields and in what the top exponent codes
/// mean, so one decoder and one encoder serve them all.
struct MiniFloat {
  enum class TopCodes {
    Ieee,    // top exponent = Inf (mantissa 0) / NaN; overflow rounds to Inf
    FnNan,   // only all-ones is NaN (E4M3FN); overflow gives NaN (PyTorch)
    Finite,  // all codes finite (E2M1); overflow, Inf and NaN saturate to the max
  };
  unsigned expBits;
  unsigned manBits;
  int bias;
  TopCodes top;

  unsigned expMask() const { return (1u << expBits) - 1; }
  unsigned manMask() const { return (1u << manBits) - 1; }
  unsigned signBit() const { return 1u << (expBits + manBits); }
  /// The largest finite magnitude's code (without sign).
  unsigned maxFiniteCode() const {
    unsigned allOnes = signBit() - 1;
    switch (top) {
    case TopCodes::Ieee: return allOnes - manMask() - 1; // exponent max-1, mantissa all ones
    case TopCodes::FnNan: return allOnes - 1;
    case TopCodes::Finite: return allOnes;
    }
    return allOnes;
  }
  unsigned nanCode() const {
    switch (top) {
    case TopCodes::Ieee: return (expMask() << manBits) | (1u << (manBits - 1)); // quiet NaN
    case TopCodes::FnNan: return signBit() - 1;
    case TopCodes::Finite: return maxFiniteCode();
    }
    return 0;
  }
  unsigned overflowCode() const {
    switch (top) {
    case TopCodes::Ieee: return expMask() << manBits; // Inf
    case TopCodes::FnNan: return nanCode();
    case TopCodes::Finite: return maxFiniteCode();
    }
    return 0;
  }

  float decode(unsigned code) const {
    bool negative = code & signBit();
    unsigned exp = (code >> manBits) & expMask();
    unsigned man = code & manMask();
    float sign = negative ? -1.0f : 1.0f;
    if (top == TopCodes::Ieee && exp == expMask())
      return man ? std::copysign(std::numeric_limits<float>::quiet_NaN(), sign)
                 : sign * std::numeric_limits<float>::infinity();
    if (top == TopCodes::FnNan && exp == expMask() && man == manMask())
      return std::copysign(std::numeric_limits<float>::quiet_NaN(), sign);
    // Subnormals (exp 0) have no implicit 1 and the exponent of exp 1.
    double significand = exp == 0 ? man : man + (1u << manBits);
    int scale = (exp == 0 ? 1 : static_cast<int>(exp)) - bias - static_cast<int>(manBits);
    return sign * static_cast<float>(std::ldexp(significand, scale));
  }

  unsigned encode(float value) const {
    unsigned sign = std::signbit(value) ? signBit() : 0;
    if (std::isnan(value))
      return sign | nanCode();
    if (std::isinf(value))
      return sign | overflowCode();
    double magnitude = std::fabs(static_cast<double>(value));
    if (magnitude == 0)
      return sign;
    // Quantum (spacing of representable values) at this magnitude; below the smallest normal
    // the spacing stays that of the subnormals. Dividing by it is exact (a power of two and an
    // fp32 input in double), so the only rounding is the explicit one below.
    int exponent;
    std::frexp(magnitude, &exponent); // magnitude = f·2^exponent, f in [0.5, 1)
    int unbiased = std::max(exponent - 1, 1 - bias);
    double steps = roundHalfEven(std::ldexp(magnitude, static_cast<int>(manBits) - unbiased));
    unsigned implicitOne = 1u << manBits;
    if (steps >= 2.0 * implicitOne) { // rounded up to the next binade
      steps /= 2;
      ++unbiased;
    }
    unsigned significand = static_cast<unsigned>(steps);
    unsigned code = significand < implicitOne
                        ? significand // subnormal (only possible at the smallest exponent)
                        : (static_cast<unsigned>(unbiased + bias) << manBits) |
                              (significand - implicitOne);
    // Codes are ordered by magnitude, so overflow is a plain comparison (the exponent field
    // may have grown past expBits here; that still compares greater).
    if (code > maxFiniteCode())
      return sign | overflowCode();
    return sign | code;
  }

private:
  /// Round to nearest, ties to even, independent of the FP environment's rounding mode.
  static double roundHalfEven(double x) {
    double floor = std::floor(x);
    double fraction = x - floor;
    bool odd = static_cast<int64_t>(floor) % 2 != 0; // x < 2^(manBits+1): the cast is exact
    if (fraction > 0.5 || (fraction == 0.5 && odd))
      return floor + 1;
    return floor;
  }
};

constexpr MiniFloat kF16{5, 10, 15, MiniFloat::TopCodes::Ieee};
constexpr MiniFloat kE5m2{5, 2, 15, MiniFloat::TopCodes::Ieee};
constexpr MiniFloat kE4m3fn{4, 3, 7, MiniFloat::TopCodes::FnNan};
constexpr MiniFloat kE2m1{2, 1, 1, MiniFloat::TopCodes::Finite};

} // namespace

float bf16ToFloat(uint16_t bits) {
  return llvm::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

uint16_t floatToBf16(float value) {
  uint32_t bits = llvm::bit_cast<uint32_t>(value);
  if (std::isnan(value)) // truncating could clear every mantissa bit: force a quiet NaN
    return static_cast<uint16_t>((bits >> 16) | 0x0040);
  // bf16 is the top half of fp32, so RNE is "add half an ulp minus one, plus the ulp's parity";
  // a carry into the exponent is the correct rounding (up to Inf on overflow).
  uint32_t lsb = (bits >> 16) & 1;
  return static_cast<uint16_t>((bits + 0x7FFF + lsb) >> 16);
}

float f16ToFloat(uint16_t bits) { return kF16.decode(bits); }
uint16_t floatToF16(float value) { return static_cast<uint16_t>(kF16.encode(value)); }

float e4m3ToFloat(uint8_t code) { return kE4m3fn.decode(code); }
uint8_t floatToE4m3(float value) { return static_cast<uint8_t>(kE4m3fn.encode(value)); }

float e5m2ToFloat(uint8_t code) { return kE5m2.decode(code); }
uint8_t floatToE5m2(float value) { return static_cast<uint8_t>(kE5m2.encode(value)); }

float e8m0ToFloat(uint8_t code) {
  if (code == 0xFF)
    return std::numeric_limits<float>::quiet_NaN();
  return std::ldexp(1.0f, static_cast<int>(code) - 127); // 2^-127 is an exact fp32 subnormal
}

uint8_t e8m0FromPow2Exponent(int exponent) {
  return static_cast<uint8_t>(std::clamp(exponent, -127, 127) + 127);
}

float e2m1ToFloat(uint8_t nibble) { return kE2m1.decode(nibble & 0xF); }
uint8_t floatToE2m1(float value) { return static_cast<uint8_t>(kE2m1.encode(value)); }

int log2CeilBits(float x) {
  uint32_t bits = llvm::bit_cast<uint32_t>(x);
  int biasedExponent = static_cast<int>((bits >> 23) & 0xFF);
  bool hasMantissa = (bits & 0x7FFFFF) != 0;
  return biasedExponent - 127 + (hasMantissa ? 1 : 0);
}

float pow2Bits(int exponent) {
  uint32_t biased = static_cast<uint32_t>(std::clamp(exponent, -127, 128) + 127);
  return llvm::bit_cast<float>(biased << 23);
}

int ue8m0ScaleExponent(float amax, float qmax) {
  // The reference passes the Python double 1/qmax into an fp32 kernel: round it once to fp32.
  float inverse = static_cast<float>(1.0 / static_cast<double>(qmax));
  return log2CeilBits(amax * inverse);
}

float ue8m0Scale(float amax, float qmax) { return pow2Bits(ue8m0ScaleExponent(amax, qmax)); }

int ue8m0ScaleExponentFp4(float amax) {
  constexpr float kMinAmax = 6.0f * 0x1p-126f;
  return ue8m0ScaleExponent(std::max(amax, kMinAmax), 6.0f);
}

float ue8m0ScaleFp4(float amax) { return pow2Bits(ue8m0ScaleExponentFp4(amax)); }

} // namespace v4c::lowp
