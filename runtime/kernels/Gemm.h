/* CPU microkernels for the hot GEMMs of compiled models (block-scaled linears, MODEL.md §3.4,
 * §6.6): the C ABI that code emitted by the compiler calls, as IREE calls its mmt4d ukernels.
 * Weights stay in the checkpoint's own layout; the variant (AVX-512, AVX2, portable) is chosen
 * once from the CPU's features. Usable from C and C++; links nothing but libc/libm. */
#ifndef V4C_RUNTIME_KERNELS_GEMM_H
#define V4C_RUNTIME_KERNELS_GEMM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  V4C_W_F32 = 0,
  V4C_W_BF16 = 1,
  V4C_W_FP8_E4M3 = 2,
  V4C_W_FP4_E2M1 = 3
} v4c_weight_format;
typedef enum { V4C_SCALE_NONE = 0, V4C_SCALE_E8M0 = 1, V4C_SCALE_F32 = 2 } v4c_scale_format;

/* y[i, n] = x'[i, :] · W[n, :] for i < m and n in [n_begin, n_end) (callers split N over
 * threads; columns outside the range are not touched). All arrays row-major:
 *   x: f32 [m, k]; y: f32 with row stride ldy, indexed by the absolute n.
 *   w: [n_total, k] in `wformat`; FP4 packs two per byte, [n_total, k/2], element 2i in the low
 *      nibble (k must be even).
 *   scale: F32/BF16/FP8 weights: one per 128x128 block, [ceil(n_total/128), ceil(k/128)];
 *          FP4: one per 32 along K, [n_total, ceil(k/32)]. E8M0 bytes (2^(e-127), 0xFF = NaN)
 *          or f32; V4C_SCALE_NONE means 1 (scale may then be NULL).
 *   quantize_act != 0: x' = each row of x quantized to FP8 e4m3 per 128 channels with a
 *      power-of-two (ue8m0) scale and dequantized, bit-identical to DeepSeek's act_quant
 *      (v4c_fp8_round_trip below); otherwise x' = x.
 * Products are accumulated in fp32 per 128-wide K block, each block's sum multiplied by its
 * scale and added in fp32 (DeepSeek's promotion). A NaN weight code or NaN scale makes the
 * rows it touches NaN. An unknown format (or FP4 with odd k) fills the range with NaN.
 * Results do not depend on the caller's MXCSR (the call runs with RNE, no FTZ/DAZ). */
void v4c_gemm(const float *x, int64_t m, int64_t k, const void *w, int32_t wformat,
              const void *scale, int32_t sformat, int64_t n_total, int64_t n_begin, int64_t n_end,
              int32_t quantize_act, float *y, int64_t ldy);

/* v4c_gemm of the RMS-normalized rows of x, the norm applied while x is prepared and never
 * stored (a fused norm → GEMM, v4c-plan-fusion's norm_gemm): before any activation
 * quantization, x'[i, c] = x[i, c] · r_i · norm_weight[c] with r_i = 1 / sqrt(mean(x[i, :]²) +
 * eps), the squares summed in double in channel order and r_i rounded to fp32: the reference's
 * rmsNorm bit for bit. norm_weight holds k values in norm_wformat (V4C_W_F32 or V4C_W_BF16), or
 * is NULL for none; another format fills the range with NaN. */
void v4c_gemm_rms_norm(const float *x, int64_t m, int64_t k, const void *norm_weight,
                       int32_t norm_wformat, double eps, const void *w, int32_t wformat,
                       const void *scale, int32_t sformat, int64_t n_total, int64_t n_begin,
                       int64_t n_end, int32_t quantize_act, float *y, int64_t ldy);

/* v4c_gemm of x = SwiGLU(gate, up) computed while x is prepared and never stored (v4c-plan-
 * fusion's swiglu_gemm): x[i, c] = silu(min(g, limit)) · clamp(u, -limit, limit) with g, u the
 * [m, k] rows of gate and up (no clamp when limit <= 0), silu(g) = g / (1 + expf(-g)): the
 * reference's expert activation bit for bit. */
void v4c_gemm_swiglu(const float *gate, int64_t m, int64_t k, const float *up, float limit,
                     const void *w, int32_t wformat, const void *scale, int32_t sformat,
                     int64_t n_total, int64_t n_begin, int64_t n_end, int32_t quantize_act,
                     float *y, int64_t ldy);

/* The variant in use: "avx512bf16" (AVX-512 with BF16 dot products for the decode GEMVs),
 * "avx512", "avx2" or "portable". */
const char *v4c_gemm_variant(void);

/* Threads the GEMMs may use (process-wide, default 1): N is split in 64-row chunks, so results
 * are the same for every thread count. */
void v4c_set_num_threads(int threads);
int v4c_get_num_threads(void);

/* Forces a variant by name (for tests and benchmarks); NULL or "auto" restores the CPU-based
 * choice. Returns 0, changing nothing, when the variant is unknown or this CPU lacks it. Not
 * meant to be called while other threads run v4c_gemm. */
int v4c_gemm_force_variant(const char *name);

/* In place: x[i] <- FP8 e4m3 quantize-dequantize in groups of `group` with ue8m0 scales, amax
 * clamped to >= 1e-4, round to nearest even (MODEL.md §3.3, §6.7; the reference's
 * fp8RoundTrip). group = 128 is the activation quantization of v4c_gemm. */
void v4c_fp8_round_trip(float *x, int64_t n, int64_t group);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* V4C_RUNTIME_KERNELS_GEMM_H */
