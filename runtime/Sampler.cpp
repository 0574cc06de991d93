#include "runtime/Sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace v4c {

Sampler::Sampler(SamplingOptions options) : options_(options), generator_(options.seed) {}

double Sampler::uniform() { return double(generator_() >> 11) * 0x1.0p-53; }

int32_t Sampler::next(const float *logits, int64_t vocab) {
  if (vocab <= 0 || vocab > std::numeric_limits<int32_t>::max())
    return -1;
  int64_t best = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (std::isnan(logits[i]))
      return -1;
    if (logits[i] > logits[best])
      best = i;
  }
  // Greedy; also when the softmax is undefined (an infinite maximum makes inf - inf).
  if (!(options_.temperature > 0) || std::isinf(logits[best]))
    return int32_t(best);

  // Softmax in double, shifted by the maximum so that exp cannot overflow; unnormalized.
  const double maxLogit = logits[best], invTemperature = 1.0 / double(options_.temperature);
  candidates_.clear();
  candidates_.reserve(size_t(vocab));
  double mass = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    double weight = std::exp((double(logits[i]) - maxLogit) * invTemperature);
    candidates_.emplace_back(weight, int32_t(i));
    mass += weight;
  }

  // Nucleus: most probable first (lower index on ties), cut once the kept mass reaches topP.
  // With topP >= 1 everything is kept and the order does not matter, so skip the sort.
  size_t kept = candidates_.size();
  if (options_.topP < 1) {
    std::sort(candidates_.begin(), candidates_.end(), [](const auto &a, const auto &b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    const double target = double(options_.topP) * mass;
    mass = 0;
    for (kept = 0; kept < candidates_.size();) {
      mass += candidates_[kept++].first;
      if (mass >= target)
        break;
    }
  }

  // Inverse CDF over the kept tokens. The running sum repeats the one that gave `mass`, so
  // the draw (< mass) lands inside; the fallback only guards against the last rounding step.
  const double draw = uniform() * mass;
  double cumulative = 0;
  int32_t chosen = int32_t(best);
  for (size_t i = 0; i < kept; ++i) {
    if (candidates_[i].first == 0)
      continue;
    cumulative += candidates_[i].first;
    chosen = candidates_[i].second;
    if (draw < cumulative)
      break;
  }
  return chosen;
}

} // namespace v4c
