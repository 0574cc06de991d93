// The numerical building blocks of the V4 reference, as plain loops on float arrays. Each one
// follows an equation of MODEL.md (section named on each) and is tested on its own.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace v4c::reference {

/// x <- x / sqrt(mean(x^2) + eps) [* weight], over `dim` values (weight may be null). §6.4.
void rmsNorm(float *x, int64_t dim, const float *weight, double eps);

/// RoPE inverse frequencies θ^(-2i/dim) for i < dim/2, blended by YaRN when
/// `yarnOriginal` > 0 (MODEL.md §2.3, §6.4: no mscale). Computed in fp32 like DeepSeek's.
std::vector<float> ropeInvFreqs(int64_t dim, double theta, double yarnFactor, int64_t yarnOriginal,
                                double betaFast, double betaSlow);

/// Rotates interleaved pairs (x[2i], x[2i+1]) by pos·invFreq[i]; `inverse` rotates back.
void applyRope(float *x, const std::vector<float> &invFreqs, int64_t pos, bool inverse);

/// Orthonormal Walsh-Hadamard transform of n (a power of two) values: H·x / sqrt(n).
void hadamard(float *x, int64_t n);

/// FP8 e4m3 quantize-dequantize in groups of `group` with power-of-two (ue8m0) scales,
/// amax clamped to >= 1e-4: DeepSeek's act_quant (MODEL.md §3.3, §6.7).
void fp8RoundTrip(float *x, int64_t n, int64_t group);

/// FP4 e2m1 quantize-dequantize in groups of `group` with ue8m0 scales (MODEL.md §6.7).
void fp4RoundTrip(float *x, int64_t n, int64_t group);

/// Sinkhorn normalization of an n x n matrix in place (MODEL.md §6.4 step 3): softmax over
/// each row + eps, column-normalize, then (iters - 1) x {rows, columns}.
void sinkhorn(float *m, int64_t n, int64_t iters, double eps);

/// Indices of the k largest values; ties go to the lower index (MODEL.md §6.7).
std::vector<int32_t> topk(const float *values, int64_t n, int64_t k);

/// y[t, :] = x[t, :] W^T for row-major x [rows, k], W [n, k], accumulating in fp32 per
/// 128-wide K block, blocks added in fp32 (DeepSeek's promotion, MODEL.md §3.4).
void matmul(const float *x, int64_t rows, int64_t k, const float *w, int64_t n, float *y);

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
/// sqrt(softplus(x)), the V4 router score; softplus computed without overflow.
float sqrtSoftplus(float x);

} // namespace v4c::reference
