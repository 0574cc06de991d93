#include "runtime/npu/Numerics.h"

#include <cmath>
#include <limits>

namespace v4c::npu {

float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
  if (exponent == 0x1F)
    return floatOf(sign | 0x7F800000 | (mantissa << 13));
  if (exponent == 0) // zero or subnormal: mantissa · 2^-24, exact in float
    return floatOf(sign) + (sign ? -1.0f : 1.0f) * std::ldexp(float(mantissa), -24);
  return floatOf(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t floatToF16(float f) {
  uint32_t u = bitsOf(f), sign = (u >> 16) & 0x8000, magnitude = u & 0x7FFFFFFF;
  if (magnitude > 0x7F800000)
    return uint16_t(sign | 0x7E00); // NaN
  if (magnitude >= 0x477FF000)      // rounds past 65504: infinity
    return uint16_t(sign | 0x7C00);
  if (magnitude < 0x38800000) {     // below 2^-14: a subnormal, multiple of 2^-24
    float scaled = std::fabs(f) * 16777216.0f; // exact; nearbyint rounds to nearest even
    return uint16_t(sign | uint32_t(std::nearbyint(scaled)));
  }
  uint32_t rounded = magnitude + 0xFFF + ((magnitude >> 13) & 1);
  return uint16_t(sign | ((rounded >> 13) - (112u << 10)));
}

float e4m3ToFloat(uint8_t code) {
  int e = (code >> 3) & 0xF, m = code & 7;
  if (e == 15 && m == 7)
    return std::numeric_limits<float>::quiet_NaN();
  float magnitude = e == 0 ? std::ldexp(float(m), -9) : std::ldexp(1.0f + m / 8.0f, e - 7);
  return code & 0x80 ? -magnitude : magnitude;
}

float e2m1ToFloat(uint8_t nibble) {
  static const float kValues[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  return nibble & 8 ? -kValues[nibble & 7] : kValues[nibble & 7];
}

float loadElement(DType type, const uint8_t *base, uint64_t i) {
  switch (type) {
  case DType::F32: {
    float f;
    std::memcpy(&f, base + 4 * i, 4);
    return f;
  }
  case DType::F16:
  case DType::BF16: {
    uint16_t h;
    std::memcpy(&h, base + 2 * i, 2);
    return type == DType::F16 ? f16ToFloat(h) : bf16ToFloat(h);
  }
  case DType::S8: return float(int8_t(base[i]));
  case DType::S32: {
    int32_t v;
    std::memcpy(&v, base + 4 * i, 4);
    return float(v);
  }
  case DType::F8E4M3: return e4m3ToFloat(base[i]);
  case DType::F4E2M1: return e2m1ToFloat((base[i / 2] >> (4 * (i & 1))) & 0xF);
  case DType::E8M0:
    return base[i] == 0xFF ? std::numeric_limits<float>::quiet_NaN() : std::ldexp(1.0f, int(base[i]) - 127);
  }
  return 0.0f;
}

void storeElement(DType type, uint8_t *base, uint64_t i, float value) {
  switch (type) {
  case DType::F16:
  case DType::BF16: {
    uint16_t h = type == DType::F16 ? floatToF16(value) : floatToBf16(value);
    std::memcpy(base + 2 * i, &h, 2);
    return;
  }
  default: std::memcpy(base + 4 * i, &value, 4); return;
  }
}

} // namespace v4c::npu
