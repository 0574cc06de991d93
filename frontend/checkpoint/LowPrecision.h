// Exact software conversions between fp32 and the narrow formats of V4 checkpoints and kernels
// (bf16, f16, FP8 E4M3FN / E5M2, E8M0 scales, FP4 E2M1), plus the power-of-two scale rules of
// the reference kernels (MODEL.md §3.1, §3.3, §6.6, §6.7). Used by the synthetic checkpoint
// generator and the numerical reference, so every rounding here is specified, not "close".
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include <cstdint>

namespace v4c::lowp {

//===----------------------------------------------------------------------===//
// 16-bit floats
//===----------------------------------------------------------------------===//

float bf16ToFloat(uint16_t bits);
/// Round to nearest even; Inf stays Inf, NaN stays a (quiet) NaN with its sign.
uint16_t floatToBf16(float value);

float f16ToFloat(uint16_t bits);
/// IEEE binary16, round to nearest even; overflow gives ±Inf, NaN gives a quiet NaN.
uint16_t floatToF16(float value);

//===----------------------------------------------------------------------===//
// FP8
//===----------------------------------------------------------------------===//

/// E4M3FN (s eeee mmm, bias 7): no Inf; 0x7F / 0xFF are the only NaNs; max finite 448.
float e4m3ToFloat(uint8_t code);
/// PyTorch's `float8_e4m3fn` cast (c10 `fp8e4m3fn_from_fp32_value`): round to nearest even
/// onto the E4M3 grid, no saturation. Rounding past 448 lands on the NaN code 0x7F|sign, so
/// |x| in [448, 464] → 448 (464 is the tie, 448 has the even mantissa), |x| > 464, ±Inf and NaN
/// → NaN. (MODEL.md §3.1 says "[448,480) → 448"; the c10 code sends (464,480) to NaN too.)
/// DeepSeek's kernels clamp to ±448 first, so only broken inputs ever reach that range.
uint8_t floatToE4m3(float value);

/// E5M2 (s eeeee mm, bias 15): IEEE-like, Inf = S.11111.00, NaN = S.11111.{01,10,11}.
float e5m2ToFloat(uint8_t code);
/// Round to nearest even; overflow (|x| ≥ 61440, the midpoint past 57344) gives ±Inf.
uint8_t floatToE5m2(float value);

//===----------------------------------------------------------------------===//
// E8M0 scales
//===----------------------------------------------------------------------===//

/// 2^(code − 127); 0xFF is NaN. There is no zero: code 0 is 2^-127.
float e8m0ToFloat(uint8_t code);
/// The code of 2^exponent. The format covers [-127, 127]; exponents outside clamp to that range.
uint8_t e8m0FromPow2Exponent(int exponent);

//===----------------------------------------------------------------------===//
// FP4 E2M1 (2 per byte in checkpoints)
//===----------------------------------------------------------------------===//

/// Code → value: [0, .5, 1, 1.5, 2, 3, 4, 6, -0, -.5, -1, -1.5, -2, -3, -4, -6] (high bits ignored).
float e2m1ToFloat(uint8_t nibble);
/// Round to nearest even on the E2M1 grid (ties go to the even mantissa: 2.5 → 2, 3.5 → 4,
/// 5 → 4). The format has no Inf/NaN, so everything beyond ±6 saturates to ±6, and so do ±Inf
/// and NaN (NaN keeps its sign bit). Returns a nibble (0..15).
uint8_t floatToE2m1(float value);

/// Packs elements 2i (`even`, low nibble) and 2i+1 (`odd`, high nibble) into one byte, the
/// V4 checkpoint order (MODEL.md §3.1).
inline uint8_t packE2m1Pair(uint8_t even, uint8_t odd) {
  return static_cast<uint8_t>((even & 0xF) | ((odd & 0xF) << 4));
}
/// The nibble of logical element `index` in a packed row.
inline uint8_t e2m1Nibble(llvm::ArrayRef<uint8_t> packed, size_t index) {
  uint8_t byte = packed[index / 2];
  return index % 2 == 0 ? (byte & 0xF) : (byte >> 4);
}

//===----------------------------------------------------------------------===//
// Power-of-two (ue8m0) scales, as the reference kernels compute them
//===----------------------------------------------------------------------===//

/// ceil(log2(x)) read off the fp32 bits (`fast_log2_ceil`): biased exponent − 127 + (mantissa ≠ 0).
/// Exact for positive normal x; for subnormal x it is the reference's value, not the true ceil.
int log2CeilBits(float x);
/// 2^exponent built from bits (`fast_pow2`); -127 gives 0.0 and 128 gives +Inf as in the
/// reference, and exponents beyond those clamp to them.
float pow2Bits(int exponent);

/// Exponent k of the ue8m0 scale 2^k for a group with absolute maximum `amax` and format
/// maximum `qmax` (MODEL.md §3.3 / §6.7): k = log2CeilBits(amax · fp32(1/qmax)). The reference
/// multiplies by the fp32 reciprocal rather than dividing, and so does this. The caller clamps
/// amax first (1e-4 for FP8 activations, §3.3); amax = 0 gives k = -127.
int ue8m0ScaleExponent(float amax, float qmax);
/// 2^ue8m0ScaleExponent(amax, qmax) as fp32: the FP8 weight/activation scale with qmax = 448.
float ue8m0Scale(float amax, float qmax);

/// The FP4 (E2M1, 32-wide group) variant of MODEL.md §6.7: amax is first clamped to
/// ≥ 6·2^-126 (so the scale is at least the smallest normal), then qmax = 6.
int ue8m0ScaleExponentFp4(float amax);
float ue8m0ScaleFp4(float amax);

} // namespace v4c::lowp
