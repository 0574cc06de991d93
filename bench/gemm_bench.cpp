// Single-thread throughput of the GEMM microkernels (runtime/kernels/Gemm.h), per variant:
//  * decode GEMV (m = 1) on FP8 [4096 x 4096], FP4 [2048 x 4096] and BF16 [4096 x 4096]
//    weights: GB/s of weight (+ scale) bytes streamed, and that as a fraction of a memory-read
//    roofline measured in the same run (summing a 1 GiB buffer with the best variant's vector
//    loads: the best of one or four streams, with or without software prefetch). Weights rotate
//    through copies totalling 512 MiB, so every call reads from DRAM. Each figure is the best round
//    (a pass through all copies) within a time budget: the memory bandwidth of a shared machine
//    comes and goes.
//  * m = 64 on the same shapes: GFLOP/s (2·m·n·k per call).
// FP8 and FP4 run with the activation quantization on (DeepSeek's path), BF16 without.
//
//   v4c-bench-gemm [variant ...]   (default: every variant this CPU has)
#include "runtime/kernels/Gemm.h"

#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Read-bandwidth probes: the sum of a buffer read as `streams` equal parts side by side, with
// or without software prefetch; four accumulators so that the adds never limit the loads.
__attribute__((target("avx512f"))) float sumAvx512(const float *p, size_t n, int streams,
                                                   bool prefetch) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
  size_t part = n / streams;
  for (size_t i = 0; i < part; i += 64)
    for (int s = 0; s < streams; ++s) {
      const float *at = p + s * part + i;
      if (prefetch)
        for (int line = 0; line < 64; line += 16)
          __builtin_prefetch(at + 1024 + line);
      for (int j = 0; j < 4; ++j)
        acc[j] = _mm512_add_ps(acc[j], _mm512_loadu_ps(at + 16 * j));
    }
  float out[16];
  _mm512_storeu_ps(out,
                   _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
  return out[0];
}

__attribute__((target("avx2"))) float sumAvx2(const float *p, size_t n, int streams,
                                              bool prefetch) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  size_t part = n / streams;
  for (size_t i = 0; i < part; i += 32)
    for (int s = 0; s < streams; ++s) {
      const float *at = p + s * part + i;
      if (prefetch)
        for (int line = 0; line < 32; line += 16)
          __builtin_prefetch(at + 1024 + line);
      for (int j = 0; j < 4; ++j)
        acc[j] = _mm256_add_ps(acc[j], _mm256_loadu_ps(at + 8 * j));
    }
  float out[8];
  _mm256_storeu_ps(out,
                   _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  return out[0];
}

float sumPortable(const float *p, size_t n, int streams, bool prefetch) {
  float acc[8] = {};
  size_t part = n / streams;
  for (size_t i = 0; i < part; i += 8)
    for (int s = 0; s < streams; ++s) {
      const float *at = p + s * part + i;
      if (prefetch && i % 16 == 0)
        __builtin_prefetch(at + 1024);
      for (int j = 0; j < 8; ++j)
        acc[j] += at[j];
    }
  return acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
}

/// Single-thread read bandwidth in GB/s: the best of one and four streams, with and without
/// software prefetch, two passes each over 1 GiB (the kernels read several rows side by side
/// and prefetch, so a plain one-stream sum would understate what memory gives one core).
double readRoofline(const std::string &variant) {
  size_t n = (size_t(1) << 30) / sizeof(float);
  std::vector<float> buffer(n, 1.0f);
  float (*sum)(const float *, size_t, int, bool) = variant.rfind("avx512", 0) == 0 ? sumAvx512
                                                   : variant == "avx2" ? sumAvx2
                                                                       : sumPortable;
  double best = 0;
  volatile float sink = 0;
  for (int streams : {1, 4})
    for (bool prefetch : {false, true})
      for (int pass = 0; pass < 2; ++pass) {
        auto start = Clock::now();
        sink = sink + sum(buffer.data(), n, streams, prefetch);
        double gbs = n * sizeof(float) / secondsSince(start) / 1e9;
        best = gbs > best ? gbs : best;
      }
  return best;
}

struct Shape {
  const char *name;
  int32_t wformat, sformat;
  int64_t n, k;
  bool quantize;

  int64_t weightBytes() const {
    int64_t elements = n * k;
    switch (wformat) {
    case V4C_W_BF16: return 2 * elements;
    case V4C_W_FP8_E4M3: return elements;
    case V4C_W_FP4_E2M1: return elements / 2;
    default: return 4 * elements;
    }
  }
  int64_t scaleBytes() const {
    if (sformat == V4C_SCALE_NONE)
      return 0;
    return wformat == V4C_W_FP4_E2M1 ? n * (k / 32) : ((n + 127) / 128) * ((k + 127) / 128);
  }
};

/// One copy of a weight matrix and its scales: random codes (FP8 without its NaN codes) and
/// scales around 2^-8, like a real checkpoint's.
struct Matrix {
  std::vector<uint8_t> w, scale;
};
Matrix makeMatrix(const Shape &s, std::mt19937 &rng) {
  Matrix m;
  m.w.resize(s.weightBytes());
  for (auto &b : m.w) {
    b = static_cast<uint8_t>(rng());
    if (s.wformat == V4C_W_BF16 && (&b - m.w.data()) % 2 == 1)
      b = static_cast<uint8_t>(0x3C + (b & 1)); // high byte of a bf16 near ±1
    if (s.wformat == V4C_W_FP8_E4M3 && (b & 0x7F) == 0x7F)
      b = 0x30;
  }
  m.scale.resize(s.scaleBytes());
  for (auto &b : m.scale)
    b = static_cast<uint8_t>(119 + rng() % 4);
  return m;
}

void gemm(const Shape &s, const Matrix &mat, const float *x, int64_t m, float *y) {
  v4c_gemm(x, m, s.k, mat.w.data(), s.wformat, mat.scale.data(), s.sformat, s.n, 0, s.n, s.quantize,
           y, s.n);
}

/// Seconds per call: the best, over rounds until `budget` seconds have passed, of the mean of a
/// round of calls through every copy (at least `minCalls`). The best round is the steadiest
/// figure on a shared machine, whose memory bandwidth comes and goes.
double timePerCall(const Shape &s, const std::vector<Matrix> &copies, const float *x, int64_t m,
                   float *y, double budget, int minCalls) {
  gemm(s, copies[0], x, m, y); // warm-up: page faults, scratch buffers
  size_t callsPerRound = copies.size() > size_t(minCalls) ? copies.size() : size_t(minCalls);
  double best = 1e30;
  auto start = Clock::now();
  do {
    auto roundStart = Clock::now();
    for (size_t call = 0; call < callsPerRound; ++call)
      gemm(s, copies[call % copies.size()], x, m, y);
    double perCall = secondsSince(roundStart) / callsPerRound;
    best = perCall < best ? perCall : best;
  } while (secondsSince(start) < budget);
  return best;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> variants;
  for (int i = 1; i < argc; ++i)
    variants.push_back(argv[i]);
  if (variants.empty())
    for (const char *name : {"avx512bf16", "avx512", "avx2", "portable"})
      if (v4c_gemm_force_variant(name))
        variants.push_back(name);
  v4c_gemm_force_variant(nullptr);
  std::string best = v4c_gemm_variant();

  double roofline = readRoofline(best);
  std::printf("memory-read roofline (1 GiB, single thread, %s loads, best of 1/4 streams "
              "with/without prefetch): %.1f GB/s\n\n",
              best.c_str(), roofline);
  std::printf("%-9s %-16s %12s %10s %9s %14s\n", "variant", "weights", "m=1 us", "m=1 GB/s",
              "roofline", "m=64 GFLOP/s");

  const Shape shapes[] = {
      {"fp8 4096x4096", V4C_W_FP8_E4M3, V4C_SCALE_E8M0, 4096, 4096, true},
      {"fp4 2048x4096", V4C_W_FP4_E2M1, V4C_SCALE_E8M0, 2048, 4096, true},
      {"bf16 4096x4096", V4C_W_BF16, V4C_SCALE_NONE, 4096, 4096, false},
  };
  std::mt19937 rng(1);
  for (const Shape &s : shapes) {
    int64_t bytes = s.weightBytes() + s.scaleBytes();
    std::vector<Matrix> copies;
    for (int64_t total = 0; total < (int64_t(512) << 20); total += bytes)
      copies.push_back(makeMatrix(s, rng));
    std::vector<float> x(64 * s.k), y(64 * s.n);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float &v : x)
      v = normal(rng);
    for (const std::string &variant : variants) {
      if (!v4c_gemm_force_variant(variant.c_str())) {
        std::printf("%-9s (not available on this CPU)\n", variant.c_str());
        continue;
      }
      double gemv = timePerCall(s, copies, x.data(), 1, y.data(), 1.0, 1);
      double batch = timePerCall(s, std::vector<Matrix>(copies.begin(), copies.begin() + 1),
                                 x.data(), 64, y.data(), 0.5, 2);
      double gbs = bytes / gemv / 1e9;
      std::printf("%-9s %-16s %12.1f %10.2f %8.0f%% %14.1f\n", variant.c_str(), s.name, gemv * 1e6,
                  gbs, 100 * gbs / roofline, 2.0 * 64 * s.n * s.k / batch / 1e9);
      std::fflush(stdout);
    }
  }
  v4c_gemm_force_variant(nullptr);
  return 0;
}
