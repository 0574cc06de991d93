// v4c quantize: BF16 checkpoints to DeepSeek's FP8/FP4 format, checked against the written file
// with the checkpoint library's own decoders.
#include "TestSupport.h"

#include "frontend/checkpoint/LowPrecision.h"
#include "frontend/checkpoint/TensorInventory.h"
#include "frontend/quantize/OfflineQuantizer.h"
#include "frontend/synthetic/SyntheticCheckpoint.h"

#include "llvm/Support/Endian.h"
#include "gtest/gtest.h"

#include <cmath>

using namespace v4c;

namespace {

std::unique_ptr<Checkpoint> open(const std::string &dir) {
  auto c = Checkpoint::open(dir);
  EXPECT_TRUE(bool(c)) << (c ? "" : llvm::toString(c.takeError()));
  return c ? std::move(*c) : nullptr;
}

float bf16At(llvm::ArrayRef<uint8_t> bytes, size_t i) {
  return lowp::bf16ToFloat(llvm::support::endian::read16le(&bytes[2 * i]));
}

TEST(OfflineQuantizerTest, WritesTheReleaseFormatAndItsErrors) {
  test::TempDir dir("v4c-quantize");
  std::string log;
  llvm::raw_string_ostream os(log);
  ASSERT_FALSE(bool(writeSyntheticCheckpoint({"tiny", 4, /*bf16=*/true}, dir.file("bf16"), os)));
  auto source = open(dir.file("bf16"));
  ASSERT_TRUE(source);
  auto errors = quantizeCheckpoint(*source, dir.file("q"), {}, os);
  ASSERT_TRUE(bool(errors)) << llvm::toString(errors.takeError());
  auto quantized = open(dir.file("q"));
  ASSERT_TRUE(quantized);
  const ModelConfig &cfg = quantized->config();
  EXPECT_TRUE(cfg.fp8Weights);
  EXPECT_TRUE(cfg.fp4Experts());
  EXPECT_EQ(cfg.scaleFmt, "ue8m0");
  // Every tensor of the release format, with its dtype and shape.
  auto validated = validateCheckpointTensors(*quantized, expectedTensors(cfg));
  ASSERT_TRUE(bool(validated)) << llvm::toString(validated.takeError());

  // Decode each quantized tensor from the file and recompute its error independently.
  int fp8 = 0, fp4 = 0;
  for (const QuantizationError &e : *errors) {
    SCOPED_TRACE(e.name);
    const TensorInfo *w = quantized->find(e.name);
    const TensorInfo *s = quantized->find(llvm::StringRef(e.name).drop_back(7).str() + ".scale");
    const TensorInfo *src = source->find(e.name);
    ASSERT_TRUE(w && s && src);
    llvm::ArrayRef<uint8_t> codes = quantized->bytes(*w), scales = quantized->bytes(*s),
                            original = source->bytes(*src);
    int64_t rows = src->shape[0], cols = src->shape[1];
    bool isFp4 = e.format == "fp4_e2m1_g32";
    (isFp4 ? fp4 : fp8) += 1;
    double diff2 = 0, ref2 = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        size_t i = size_t(r * cols + c);
        float value, scale;
        if (isFp4) {
          value = lowp::e2m1ToFloat(lowp::e2m1Nibble(codes, i));
          scale = lowp::e8m0ToFloat(scales[size_t(r * (cols / 32) + c / 32)]);
        } else {
          value = lowp::e4m3ToFloat(codes[i]);
          scale = lowp::e8m0ToFloat(scales[size_t(r / 128 * ((cols + 127) / 128) + c / 128)]);
        }
        double ref = bf16At(original, i), d = ref - double(value) * scale;
        diff2 += d * d;
        ref2 += ref * ref;
      }
    double relative = std::sqrt(diff2 / ref2);
    EXPECT_NEAR(e.relativeL2, relative, 1e-9);
    EXPECT_LT(relative, isFp4 ? 0.15 : 0.04); // E2M1 ~11% on this data, E4M3 ~2.7%
    EXPECT_GT(relative, 0.0);
  }
  EXPECT_GT(fp8, 0);
  EXPECT_GT(fp4, 0);
  // Everything else is copied bit for bit.
  for (const TensorInfo *t : source->tensors())
    if (!llvm::any_of(*errors, [&](const QuantizationError &e) { return e.name == t->name; })) {
      const TensorInfo *copy = quantized->find(t->name);
      ASSERT_TRUE(copy) << t->name;
      EXPECT_EQ(quantized->bytes(*copy), source->bytes(*t)) << t->name;
    }
}

TEST(OfflineQuantizerTest, RejectsQuantizedInputsAndBadOptions) {
  test::TempDir dir("v4c-quantize-bad");
  std::string log;
  llvm::raw_string_ostream os(log);
  ASSERT_FALSE(bool(writeSyntheticCheckpoint({"tiny", 4, /*bf16=*/false}, dir.file("fp8"), os)));
  auto fp8 = open(dir.file("fp8"));
  ASSERT_TRUE(fp8);
  auto again = quantizeCheckpoint(*fp8, dir.file("out"), {}, os);
  ASSERT_FALSE(bool(again));
  EXPECT_NE(llvm::toString(again.takeError()).find("already quantized"), std::string::npos);
  ASSERT_FALSE(bool(writeSyntheticCheckpoint({"tiny", 4, /*bf16=*/true}, dir.file("bf16"), os)));
  auto bf16 = open(dir.file("bf16"));
  ASSERT_TRUE(bf16);
  auto bad = quantizeCheckpoint(*bf16, dir.file("out"), {"fp2"}, os);
  ASSERT_FALSE(bool(bad));
  EXPECT_NE(llvm::toString(bad.takeError()).find("--experts must be fp4 or fp8"), std::string::npos);
  EXPECT_FALSE(llvm::sys::fs::exists(dir.file("out/config.json")));
  // The output is never the input, nor a directory that already holds shards.
  auto over = quantizeCheckpoint(*bf16, dir.file("bf16"), {}, os);
  ASSERT_FALSE(bool(over));
  EXPECT_NE(llvm::toString(over.takeError()).find("is the input checkpoint"), std::string::npos);
  auto mixed = quantizeCheckpoint(*bf16, dir.file("fp8"), {}, os);
  ASSERT_FALSE(bool(mixed));
  EXPECT_NE(llvm::toString(mixed.takeError()).find("already holds"), std::string::npos);
  EXPECT_TRUE(bool(open(dir.file("bf16")))); // untouched
}

} // namespace
