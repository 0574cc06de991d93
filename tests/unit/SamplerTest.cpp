// Token sampling: greedy and its tie rule, determinism per seed, top-p, and draw frequencies
// against the softmax they are supposed to follow.
#include "runtime/Sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

using namespace v4c;

namespace {

std::vector<int32_t> draw(Sampler &sampler, const std::vector<float> &logits, int count) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < count; ++i)
    tokens.push_back(sampler.next(logits.data(), int64_t(logits.size())));
  return tokens;
}

/// softmax(logits / temperature), computed independently of the sampler.
std::vector<double> softmax(const std::vector<float> &logits, double temperature) {
  std::vector<double> p;
  double sum = 0;
  for (float logit : logits)
    sum += p.emplace_back(std::exp(logit / temperature));
  for (double &value : p)
    value /= sum;
  return p;
}

/// Fractions of each token among `count` draws.
std::vector<double> frequencies(Sampler &sampler, const std::vector<float> &logits, int count) {
  std::vector<double> seen(logits.size(), 0.0);
  for (int32_t token : draw(sampler, logits, count)) {
    EXPECT_GE(token, 0);
    EXPECT_LT(token, int32_t(logits.size()));
    seen[size_t(token)] += 1.0 / count;
  }
  return seen;
}

const float kInf = std::numeric_limits<float>::infinity();

TEST(Sampler, GreedyPicksTheArgmaxAndTheLowestIndexOnTies) {
  Sampler greedy(SamplingOptions{});
  std::vector<float> logits = {0.5f, -1.0f, 3.0f, 2.0f};
  EXPECT_EQ(greedy.next(logits.data(), 4), 2);
  std::vector<float> ties = {1.0f, 7.0f, -kInf, 7.0f, 7.0f};
  EXPECT_EQ(greedy.next(ties.data(), 5), 1);
  std::vector<float> allNegative = {-kInf, -5.0f, -kInf};
  EXPECT_EQ(greedy.next(allNegative.data(), 3), 1);
  // Greedy ignores top-p and the seed.
  Sampler greedyWithOptions(SamplingOptions{0.0f, 0.5f, 42});
  EXPECT_EQ(draw(greedyWithOptions, ties, 5), std::vector<int32_t>(5, 1));
}

TEST(Sampler, SameSeedSameSequenceAndDifferentSeedsDiffer) {
  std::vector<float> logits = {0.1f, 0.2f, 0.0f, -0.3f, 0.4f, 0.05f, 0.3f, -0.1f};
  Sampler a(SamplingOptions{1.0f, 1.0f, 1234}), b(SamplingOptions{1.0f, 1.0f, 1234});
  Sampler c(SamplingOptions{1.0f, 1.0f, 1235});
  std::vector<int32_t> first = draw(a, logits, 200);
  EXPECT_EQ(first, draw(b, logits, 200));
  EXPECT_NE(first, draw(c, logits, 200));
  // The same holds with a nucleus cut.
  Sampler d(SamplingOptions{0.8f, 0.7f, 9}), e(SamplingOptions{0.8f, 0.7f, 9});
  EXPECT_EQ(draw(d, logits, 200), draw(e, logits, 200));
}

TEST(Sampler, TinyTopPIsArgmax) {
  std::vector<float> logits = {0.0f, 1.0f, 1.5f, 1.5f, -2.0f};
  Sampler sampler(SamplingOptions{2.0f, 1e-6f, 7});
  EXPECT_EQ(draw(sampler, logits, 100), std::vector<int32_t>(100, 2));
}

TEST(Sampler, FrequenciesFollowTheSoftmax) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, 0.5f, -1.0f};
  const float temperature = 0.7f;
  const int count = 40000;
  Sampler sampler(SamplingOptions{temperature, 1.0f, 2024});
  std::vector<double> seen = frequencies(sampler, logits, count);
  std::vector<double> expected = softmax(logits, temperature);
  // Standard deviation of a frequency is <= 0.5/sqrt(40000) = 0.0025: 0.015 is 6 sigma.
  for (size_t i = 0; i < logits.size(); ++i)
    EXPECT_NEAR(seen[i], expected[i], 0.015) << "token " << i;
}

TEST(Sampler, TopPKeepsTheNucleusRenormalized) {
  // Probabilities 0.4, 0.3, 0.2, 0.1 (token order scrambled): top-p 0.65 keeps {0.4, 0.3}
  // (mass 0.7 >= 0.65), renormalized to 4/7 and 3/7.
  const std::vector<float> logits = {std::log(0.2f), std::log(0.4f), std::log(0.1f),
                                     std::log(0.3f)};
  Sampler sampler(SamplingOptions{1.0f, 0.65f, 5});
  std::vector<double> seen = frequencies(sampler, logits, 20000);
  EXPECT_EQ(seen[0], 0.0);
  EXPECT_EQ(seen[2], 0.0);
  EXPECT_NEAR(seen[1], 4.0 / 7.0, 0.02);
  EXPECT_NEAR(seen[3], 3.0 / 7.0, 0.02);
}

TEST(Sampler, NaNOrEmptyGivesMinusOne) {
  std::vector<float> logits = {0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f};
  Sampler greedy(SamplingOptions{});
  Sampler random(SamplingOptions{1.0f, 0.9f, 3});
  EXPECT_EQ(greedy.next(logits.data(), 3), -1);
  EXPECT_EQ(random.next(logits.data(), 3), -1);
  EXPECT_EQ(greedy.next(logits.data(), 0), -1);
}

TEST(Sampler, InfiniteLogitsFallBackToGreedy) {
  // softmax is undefined with +inf (inf - inf): the first maximum wins.
  std::vector<float> logits = {0.0f, kInf, 1.0f, kInf};
  Sampler sampler(SamplingOptions{1.0f, 1.0f, 11});
  EXPECT_EQ(draw(sampler, logits, 20), std::vector<int32_t>(20, 1));
  // -inf logits are just impossible tokens.
  std::vector<float> masked = {-kInf, 0.0f, -kInf, 0.0f};
  std::vector<double> seen = frequencies(sampler, masked, 2000);
  EXPECT_EQ(seen[0] + seen[2], 0.0);
  EXPECT_NEAR(seen[1], 0.5, 0.05);
}

} // namespace
