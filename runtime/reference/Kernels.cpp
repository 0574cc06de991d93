#include "runtime/reference/Kernels.h"

#include "frontend/checkpoint/LowPrecision.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace v4c::reference {

void rmsNorm(float *x, int64_t dim, const float *weight, double eps) {
  double sumSq = 0;
  for (int64_t i = 0; i < dim; ++i)
    sumSq += double(x[i]) * x[i];
  float r = float(1.0 / std::sqrt(sumSq / dim + eps));
  for (int64_t i = 0; i < dim; ++i)
    x[i] = x[i] * r * (weight ? weight[i] : 1.0f);
}

std::vector<float> ropeInvFreqs(int64_t dim, double theta, double yarnFactor, int64_t yarnOriginal,
                                double betaFast, double betaSlow) {
  int64_t half = dim / 2;
  std::vector<float> freqs(half);
  for (int64_t i = 0; i < half; ++i)
    freqs[i] = float(1.0 / std::pow(theta, double(2 * i) / dim));
  if (yarnOriginal <= 0)
    return freqs;
  // YaRN: keep high frequencies (short wavelengths), interpolate low ones by `yarnFactor`,
  // with a linear ramp between the correction dims of beta_fast and beta_slow rotations.
  auto correctionDim = [&](double rotations) {
    return dim * std::log(yarnOriginal / (rotations * 2 * M_PI)) / (2 * std::log(theta));
  };
  double low = std::max(std::floor(correctionDim(betaFast)), 0.0);
  double high = std::min(std::ceil(correctionDim(betaSlow)), double(dim - 1));
  if (low == high)
    high += 0.001;
  for (int64_t i = 0; i < half; ++i) {
    float ramp = std::clamp(float((i - low) / (high - low)), 0.0f, 1.0f);
    float smooth = 1.0f - ramp;
    freqs[i] = freqs[i] / float(yarnFactor) * (1.0f - smooth) + freqs[i] * smooth;
  }
  return freqs;
}

void applyRope(float *x, const std::vector<float> &invFreqs, int64_t pos, bool inverse) {
  for (size_t i = 0; i < invFreqs.size(); ++i) {
    float angle = float(pos) * invFreqs[i];
    float c = std::cos(angle), s = inverse ? -std::sin(angle) : std::sin(angle);
    float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = a * s + b * c;
  }
}

void hadamard(float *x, int64_t n) {
  for (int64_t len = 1; len < n; len *= 2)
    for (int64_t i = 0; i < n; i += 2 * len)
      for (int64_t j = i; j < i + len; ++j) {
        float a = x[j], b = x[j + len];
        x[j] = a + b;
        x[j + len] = a - b;
      }
  float scale = float(1.0 / std::sqrt(double(n)));
  for (int64_t i = 0; i < n; ++i)
    x[i] *= scale;
}

namespace {
float groupAmax(const float *x, int64_t n) {
  float amax = 0;
  for (int64_t i = 0; i < n; ++i)
    amax = std::max(amax, std::fabs(x[i]));
  return amax;
}
} // namespace

void fp8RoundTrip(float *x, int64_t n, int64_t group) {
  for (int64_t g = 0; g < n; g += group) {
    int64_t len = std::min(group, n - g);
    float scale = lowp::ue8m0Scale(std::max(groupAmax(x + g, len), 1e-4f), 448.0f);
    for (int64_t i = g; i < g + len; ++i) {
      float q = std::clamp(x[i] / scale, -448.0f, 448.0f);
      x[i] = lowp::e4m3ToFloat(lowp::floatToE4m3(q)) * scale;
    }
  }
}

void fp4RoundTrip(float *x, int64_t n, int64_t group) {
  for (int64_t g = 0; g < n; g += group) {
    int64_t len = std::min(group, n - g);
    float scale = lowp::ue8m0ScaleFp4(groupAmax(x + g, len));
    for (int64_t i = g; i < g + len; ++i)
      x[i] = lowp::e2m1ToFloat(lowp::floatToE2m1(x[i] / scale)) * scale;
  }
}

void sinkhorn(float *m, int64_t n, int64_t iters, double eps) {
  // Divides each line (a row: stride 1 within, n between; a column: the reverse) by its sum.
  auto normalizeLines = [&](int64_t within, int64_t between) {
    for (int64_t line = 0; line < n; ++line) {
      float sum = 0;
      for (int64_t i = 0; i < n; ++i)
        sum += m[line * between + i * within];
      for (int64_t i = 0; i < n; ++i)
        m[line * between + i * within] /= sum + float(eps);
    }
  };
  auto normalizeRows = [&] { normalizeLines(1, n); };
  auto normalizeColumns = [&] { normalizeLines(n, 1); };
  for (int64_t j = 0; j < n; ++j) { // softmax over k, plus eps
    float *row = m + j * n;
    float max = *std::max_element(row, row + n), sum = 0;
    for (int64_t k = 0; k < n; ++k)
      sum += (row[k] = std::exp(row[k] - max));
    for (int64_t k = 0; k < n; ++k)
      row[k] = row[k] / sum + float(eps);
  }
  normalizeColumns();
  for (int64_t it = 1; it < iters; ++it) {
    normalizeRows();
    normalizeColumns();
  }
}

std::vector<int32_t> topk(const float *values, int64_t n, int64_t k) {
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  k = std::min(k, n);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  order.resize(k);
  return order;
}

void matmul(const float *x, int64_t rows, int64_t k, const float *w, int64_t n, float *y) {
  constexpr int64_t kBlock = 128;
  for (int64_t t = 0; t < rows; ++t) {
    const float *xr = x + t * k;
    for (int64_t o = 0; o < n; ++o) {
      const float *wr = w + o * k;
      float acc = 0;
      for (int64_t b = 0; b < k; b += kBlock) {
        float partial = 0;
        for (int64_t i = b, e = std::min(k, b + kBlock); i < e; ++i)
          partial += xr[i] * wr[i];
        acc += partial;
      }
      y[t * n + o] = acc;
    }
  }
}

void blockScaledLinear(const float *x, int64_t rows, int64_t k, const float *w, int64_t n,
                       float *y) {
  std::vector<float> quantized(x, x + rows * k);
  for (int64_t r = 0; r < rows; ++r)
    fp8RoundTrip(&quantized[r * k], k, 128);
  matmul(quantized.data(), rows, k, w, n, y);
}

Routing route(const float *scores, int64_t experts, const float *bias, const int64_t *hashIds,
              int64_t k, double routeScale) {
  Routing r;
  if (hashIds) {
    r.experts.assign(hashIds, hashIds + k);
  } else {
    std::vector<float> biased(scores, scores + experts);
    for (int64_t e = 0; bias && e < experts; ++e)
      biased[e] += bias[e];
    r.experts = topk(biased.data(), experts, k);
  }
  float total = 0;
  for (int32_t e : r.experts)
    total += scores[e];
  for (int32_t e : r.experts)
    r.weights.push_back(scores[e] / total * float(routeScale));
  return r;
}

void poolCompressedEntry(const float *kv, const float *score, int64_t ratio, const float *prevKv,
                         const float *prevScore, int64_t prevRows, int64_t width,
                         int64_t headDim, bool overlap, float *entry) {
  std::vector<std::pair<float, float>> candidates; // (score, kv)
  for (int64_t c = 0; c < headDim; ++c) {
    candidates.clear();
    for (int64_t j = 0; overlap && j < prevRows; ++j)
      candidates.push_back({prevScore[j * width + c], prevKv[j * width + c]});
    int64_t own = overlap ? headDim + c : c;
    for (int64_t j = 0; j < ratio; ++j)
      candidates.push_back({score[j * width + own], kv[j * width + own]});
    float max = -std::numeric_limits<float>::infinity(), sum = 0, acc = 0;
    for (auto &[s, v] : candidates)
      max = std::max(max, s);
    for (auto &[s, v] : candidates) {
      float e = std::exp(s - max);
      sum += e;
      acc += e * v;
    }
    entry[c] = acc / sum;
  }
}

std::vector<float> indexScores(const float *q, const float *weights, int64_t heads, int64_t dim,
                               const float *keys, int64_t n, float scale) {
  std::vector<float> score(n, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < heads; ++j) {
      float dot = 0;
      for (int64_t c = 0; c < dim; ++c)
        dot += q[j * dim + c] * keys[i * dim + c];
      score[i] += weights[j] * scale * std::max(dot, 0.0f);
    }
  return score;
}

void attendWithSink(const float *q, const std::vector<const float *> &candidates, float sink,
                    float scale, int64_t dim, float *out) {
  std::vector<float> p(candidates.size());
  float max = sink;
  for (size_t s = 0; s < candidates.size(); ++s) {
    float dot = 0;
    for (int64_t c = 0; c < dim; ++c)
      dot += q[c] * candidates[s][c];
    p[s] = dot * scale;
    max = std::max(max, p[s]);
  }
  float denominator = std::exp(sink - max); // the sink: a logit whose value is zero
  for (float &l : p)
    denominator += (l = std::exp(l - max));
  std::fill_n(out, dim, 0.0f);
  for (size_t s = 0; s < candidates.size(); ++s)
    for (int64_t c = 0; c < dim; ++c)
      out[c] += p[s] / denominator * candidates[s][c];
}

float sqrtSoftplus(float x) {
  float softplus = x > 20.0f ? x : std::log1p(std::exp(x));
  return std::sqrt(softplus);
}

} // namespace v4c::reference
