// Element encodings of the NPU's data types, bit-exact: bf16/f16 from f32 round to nearest even
// (as the FixPipe and vector conversions do), FP8 E4M3FN and FP4 E2M1 decode exactly.
#pragma once

#include "runtime/npu/Arch.h"

#include <cstdint>
#include <cstring>

namespace v4c::npu {

inline uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16ToFloat(uint16_t h) { return floatOf(uint32_t(h) << 16); }
inline uint16_t floatToBf16(float f) {
  uint32_t u = bitsOf(f);
  if ((u & 0x7FFFFFFF) > 0x7F800000)
    return uint16_t((u >> 16) | 0x40); // quiet NaN
  return uint16_t((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

float f16ToFloat(uint16_t h);
uint16_t floatToF16(float f);
float e4m3ToFloat(uint8_t code);
float e2m1ToFloat(uint8_t nibble);

/// Element i of an array of `type` at `base`, as float (FP4: two per byte, low nibble first).
float loadElement(DType type, const uint8_t *base, uint64_t i);
/// Stores `value` rounded to `type` (F32, F16, BF16; others are not stored by the NPU's float paths).
void storeElement(DType type, uint8_t *base, uint64_t i, float value);

} // namespace v4c::npu
