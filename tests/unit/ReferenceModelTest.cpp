// The reference forward pass on the tiny checkpoint: prefill ≡ prefill + decode in both
// precision modes (lengths crossing the window and two HCA blocks), determinism, the MTP
// module, and clear errors for bad input.
#include "runtime/reference/ReferenceModel.h"

#include "frontend/synthetic/SyntheticCheckpoint.h"

#include "TestSupport.h"

#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>

using namespace v4c;

namespace {

/// One tiny checkpoint for the whole suite: generating it is the slow part.
class ReferenceModelTest : public testing::Test {
protected:
  static void SetUpTestSuite() {
    dir = new test::TempDir("v4c-reference-test");
    std::string log;
    llvm::raw_string_ostream os(log);
    llvm::Error e = writeSyntheticCheckpoint({"tiny", 11, false}, dir->path(), os);
    ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
    auto opened = Checkpoint::open(dir->path());
    ASSERT_TRUE(bool(opened)) << llvm::toString(opened.takeError());
    checkpoint = opened->release();
  }
  static void TearDownTestSuite() {
    delete checkpoint;
    delete dir;
  }

  static std::unique_ptr<reference::ReferenceEngine> engine(PrecisionMode mode) {
    auto e = reference::createReferenceEngine(*checkpoint, mode);
    EXPECT_TRUE(bool(e)) << (e ? "" : llvm::toString(e.takeError()));
    return e ? std::move(*e) : nullptr;
  }

  /// Deterministic token ids that cover the vocabulary.
  static std::vector<int32_t> tokens(int64_t count) {
    std::vector<int32_t> ids(count);
    for (int64_t i = 0; i < count; ++i)
      ids[i] = int32_t((i * 37 + 11) % checkpoint->config().vocabSize);
    return ids;
  }

  /// Logits of `ids` fed in chunks of the given sizes (the rest one token at a time).
  static std::vector<float> run(Engine &e, const std::vector<int32_t> &ids,
                                std::vector<int64_t> chunks) {
    std::vector<float> logits;
    size_t next = 0;
    while (next < ids.size()) {
      size_t size = chunks.empty() ? 1 : size_t(chunks.front());
      if (!chunks.empty())
        chunks.erase(chunks.begin());
      std::string error;
      std::vector<int32_t> part(ids.begin() + next, ids.begin() + std::min(ids.size(), next + size));
      std::vector<float> out = e.forward(part, error);
      EXPECT_EQ(error, "");
      logits.insert(logits.end(), out.begin(), out.end());
      next += part.size();
    }
    return logits;
  }

  static double maxRelativeDifference(const std::vector<float> &a, const std::vector<float> &b) {
    double maxAbs = 0, maxDiff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      maxAbs = std::max(maxAbs, double(std::fabs(a[i])));
      maxDiff = std::max(maxDiff, double(std::fabs(a[i] - b[i])));
    }
    return maxDiff / maxAbs;
  }

  static test::TempDir *dir;
  static Checkpoint *checkpoint;
};

test::TempDir *ReferenceModelTest::dir = nullptr;
Checkpoint *ReferenceModelTest::checkpoint = nullptr;

// 300 tokens cross the 32-token window many times and complete two 128-token HCA blocks (and
// 75 CSA blocks); decode starts before the first HCA block ends.
constexpr int64_t kLength = 300;

TEST_F(ReferenceModelTest, PrefillEqualsPrefillPlusDecodeInBothModes) {
  for (PrecisionMode mode : {PrecisionMode::Faithful, PrecisionMode::Dequant}) {
    SCOPED_TRACE(mode == PrecisionMode::Faithful ? "faithful" : "dequant");
    auto e = engine(mode);
    ASSERT_TRUE(e);
    auto start = std::chrono::steady_clock::now();
    std::vector<float> prefill = run(*e, tokens(kLength), {kLength});
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
    std::printf("[ reference ] %lld-token prefill: %.0f ms\n", (long long)kLength, ms);
    ASSERT_EQ(prefill.size(), size_t(kLength * e->vocabSize()));
    for (float v : prefill)
      ASSERT_TRUE(std::isfinite(v));

    // Prefill 100, then decode one token at a time; and uneven chunks at non-zero starts.
    for (std::vector<int64_t> chunks : {std::vector<int64_t>{100}, std::vector<int64_t>{1},
                                        std::vector<int64_t>{37, 91, 5, 128, 39}}) {
      e->reset();
      std::vector<float> split = run(*e, tokens(kLength), chunks);
      ASSERT_EQ(split.size(), prefill.size());
      double rel = maxRelativeDifference(prefill, split);
      std::printf("[ reference ] prefill vs chunks starting %lld: max relative difference %.3g\n",
                  (long long)chunks.front(), rel);
      // The same operations in the same order per row: bit-identical, not just close.
      EXPECT_EQ(rel, 0.0);
    }
  }
}

TEST_F(ReferenceModelTest, TwoRunsGiveIdenticalBytes) {
  auto a = engine(PrecisionMode::Faithful), b = engine(PrecisionMode::Faithful);
  ASSERT_TRUE(a && b);
  std::vector<float> x = run(*a, tokens(64), {64}), y = run(*b, tokens(64), {64});
  ASSERT_EQ(x.size(), y.size());
  EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0);
}

TEST_F(ReferenceModelTest, FaithfulModeQuantizesAndStaysClose) {
  auto faithful = engine(PrecisionMode::Faithful), dequant = engine(PrecisionMode::Dequant);
  ASSERT_TRUE(faithful && dequant);
  std::vector<float> f = run(*faithful, tokens(48), {48}), d = run(*dequant, tokens(48), {48});
  double rel = maxRelativeDifference(d, f);
  std::printf("[ reference ] faithful vs dequant on 48 tokens: max relative difference %.3g\n", rel);
  EXPECT_GT(rel, 1e-4); // the quantization steps change the numbers...
  EXPECT_LT(rel, 0.5);  // ...but not beyond recognition
}

TEST_F(ReferenceModelTest, MtpModuleRunsAndDecodesLikeItPrefills) {
  auto e = engine(PrecisionMode::Dequant);
  ASSERT_TRUE(e);
  std::vector<int32_t> ids = tokens(41), next(ids.begin() + 1, ids.end());
  ids.pop_back();
  std::string error;
  e->forward(ids, error);
  std::vector<float> whole = e->mtpLogits(0, next, error);
  ASSERT_EQ(error, "");
  ASSERT_EQ(whole.size(), ids.size() * size_t(e->vocabSize()));

  e->reset();
  std::vector<float> stepwise;
  for (size_t t = 0; t < ids.size(); ++t) {
    e->forward({ids[t]}, error);
    std::vector<float> row = e->mtpLogits(0, {next[t]}, error);
    ASSERT_EQ(error, "");
    stepwise.insert(stepwise.end(), row.begin(), row.end());
  }
  EXPECT_EQ(maxRelativeDifference(whole, stepwise), 0.0);

  e->mtpLogits(1, next, error);
  EXPECT_NE(error.find("no MTP module 1"), std::string::npos) << error;
}

TEST_F(ReferenceModelTest, BadInputIsAnErrorNotACrash) {
  auto e = engine(PrecisionMode::Faithful);
  ASSERT_TRUE(e);
  std::string error;
  EXPECT_TRUE(e->forward({1, 512, 3}, error).empty());
  EXPECT_NE(error.find("token id 512 is outside the vocabulary [0, 512)"), std::string::npos)
      << error;

  test::TempDir weightless("v4c-reference-test");
  ASSERT_FALSE(bool(llvm::sys::fs::copy_file(dir->file("config.json"),
                                             weightless.file("config.json"))));
  auto opened = Checkpoint::open(weightless.path());
  ASSERT_TRUE(bool(opened)) << llvm::toString(opened.takeError());
  auto none = reference::createReferenceEngine(**opened, PrecisionMode::Faithful);
  ASSERT_FALSE(bool(none));
  EXPECT_NE(llvm::toString(none.takeError()).find("holds no weights"), std::string::npos);
}

} // namespace
