// Picks the next token from a row of logits: greedy, or temperature + top-p (nucleus) sampling.
// Deterministic across platforms for a given seed (own uniform draw, no std distributions).
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace v4c {

struct SamplingOptions {
  /// 0 (or less): greedy argmax. Otherwise softmax(logits / temperature).
  float temperature = 0;
  /// Keeps the smallest set of most probable tokens whose probability mass is >= topP.
  float topP = 1;
  uint64_t seed = 0;
};

class Sampler {
public:
  explicit Sampler(SamplingOptions options);

  /// The next token id in [0, vocab). Greedy picks the highest logit, the lowest index on ties
  /// (also the fallback when the softmax is undefined: an infinite maximum logit). Returns -1
  /// if any logit is NaN or vocab <= 0.
  int32_t next(const float *logits, int64_t vocab);

private:
  /// Uniform in [0, 1) from the top 53 bits of the generator.
  double uniform();

  SamplingOptions options_;
  std::mt19937_64 generator_;
  std::vector<std::pair<double, int32_t>> candidates_; // (probability, token), reused per call
};

} // namespace v4c
