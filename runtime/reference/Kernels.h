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

/// DeepSeek's FP8 linear (MODEL.md §3.4, §6.6): each activation row quantized to e4m3 per 128
/// channels with ue8m0 scales, then multiplied by the dequantized weight. Scales are powers of
/// two, so this equals Σ_kb (Σ q_a·q_w)·s_a·s_w up to fp32 summation order.
void blockScaledLinear(const float *x, int64_t rows, int64_t k, const float *w, int64_t n,
                       float *y);

/// MoE routing of one token (MODEL.md §6.4): experts by the top-k of score + bias (lower index
/// first on ties), or `hashIds` when given; weights are the chosen unbiased scores normalized to
/// sum 1, times `routeScale`.
struct Routing {
  std::vector<int32_t> experts;
  std::vector<float> weights;
};
Routing route(const float *scores, int64_t experts, const float *bias, const int64_t *hashIds,
              int64_t k, double routeScale);

/// One compressed entry [headDim] from a complete block (MODEL.md §6.4 "Compressor"): per
/// channel c, Σ softmax(score) · kv over the candidate rows. Rows are `width` wide. Without
/// overlap the candidates are the block's `ratio` rows on channel c; with overlap (width =
/// 2·headDim) they are the previous block's `prevRows` rows on channel c and this block's on
/// channel headDim + c.
void poolCompressedEntry(const float *kv, const float *score, int64_t ratio, const float *prevKv,
                         const float *prevScore, int64_t prevRows, int64_t width,
                         int64_t headDim, bool overlap, float *entry);

/// Lightning-indexer score of one query against `n` keys: Σ_j weights[j] · scale ·
/// ReLU(q_j · key) over the query's `heads` heads of width `dim` (MODEL.md §6.4 "Indexer").
std::vector<float> indexScores(const float *q, const float *weights, int64_t heads, int64_t dim,
                               const float *keys, int64_t n, float scale);

/// One head of sparse attention: softmax over q·kv_s·scale with the sink's exp(sink − max) in
/// the denominator, output Σ p_s kv_s (key = value). `out` has `dim` values.
void attendWithSink(const float *q, const std::vector<const float *> &candidates, float sink,
                    float scale, int64_t dim, float *out);

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
/// sqrt(softplus(x)), the V4 router score; softplus computed without overflow.
float sqrtSoftplus(float x);

} // namespace v4c::reference
