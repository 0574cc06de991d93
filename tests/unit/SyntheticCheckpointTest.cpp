// The synthetic checkpoint generator: determinism, file layout, inventory, and that the stored
// low-precision data decodes to sane values (MODEL.md §3.1, §6.3, §6.6).
#include "frontend/synthetic/SyntheticCheckpoint.h"

#include "frontend/checkpoint/LowPrecision.h"
#include "frontend/checkpoint/Safetensors.h"
#include "frontend/checkpoint/TensorInventory.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "TestSupport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>

using namespace v4c;

namespace {

using test::TempDir;

const char *const kCheckpointFiles[] = {"config.json", "model.safetensors.index.json",
                                        "model-00001-of-00002.safetensors",
                                        "model-00002-of-00002.safetensors"};

std::string readFile(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  EXPECT_TRUE(bool(buffer)) << path;
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

/// Generates a checkpoint into `dir`, failing the test on error; returns the log.
std::string generate(const SyntheticOptions &options, const TempDir &dir) {
  std::string log;
  llvm::raw_string_ostream os(log);
  llvm::Error err = writeSyntheticCheckpoint(options, dir.path(), os);
  EXPECT_FALSE(bool(err)) << llvm::toString(std::move(err));
  return log;
}

std::unique_ptr<Checkpoint> openCheckpoint(const TempDir &dir) {
  llvm::Expected<std::unique_ptr<Checkpoint>> checkpoint = Checkpoint::open(dir.path());
  if (!checkpoint) {
    ADD_FAILURE() << llvm::toString(checkpoint.takeError());
    return nullptr;
  }
  return std::move(*checkpoint);
}

float readFloat(const Checkpoint &ckpt, const TensorInfo &tensor, size_t index) {
  llvm::ArrayRef<uint8_t> bytes = ckpt.bytes(tensor);
  switch (tensor.dtype) {
  case DType::F32: {
    uint32_t bits = llvm::support::endian::read32le(&bytes[index * 4]);
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  case DType::BF16:
    return lowp::bf16ToFloat(llvm::support::endian::read16le(&bytes[index * 2]));
  default:
    ADD_FAILURE() << tensor.name << " is not F32/BF16";
    return NAN;
  }
}

const TensorInfo &scaleOf(const Checkpoint &ckpt, llvm::StringRef weightName) {
  std::string name = weightName.drop_back(llvm::StringRef(".weight").size()).str() + ".scale";
  const TensorInfo *scale = ckpt.find(name);
  EXPECT_NE(scale, nullptr) << name;
  return *scale;
}

/// Mean and standard deviation of a set of values.
struct Moments {
  double sum = 0, sumSquares = 0;
  int64_t count = 0;
  void add(double v) { sum += v, sumSquares += v * v, ++count; }
  double mean() const { return sum / count; }
  double stddev() const { return std::sqrt(sumSquares / count - mean() * mean()); }
};

} // namespace

TEST(SyntheticCheckpointTest, PresetsAreValidConfigs) {
  for (llvm::StringRef preset : {"tiny", "small"})
    for (bool bf16 : {false, true}) {
      llvm::Expected<ModelConfig> config = presetConfig(preset, bf16);
      ASSERT_TRUE(bool(config)) << llvm::toString(config.takeError());
      EXPECT_EQ(config->fp8Weights, !bf16);
      EXPECT_EQ(config->fp4Experts(), !bf16);
      llvm::Expected<ModelConfig> reparsed =
          parseModelConfig(modelConfigToJson(*config), "preset " + preset.str());
      EXPECT_TRUE(bool(reparsed)) << llvm::toString(reparsed.takeError());
      // Every block-quantized matrix is whole 128×128 blocks (FP8) or 32-groups (FP4).
      for (const TensorSpec &spec : expectedTensors(*config)) {
        std::vector<int64_t> logical = spec.logicalShape();
        if (spec.dtype == DType::F8_E4M3 || spec.encoding == TensorEncoding::Fp4x2) {
          EXPECT_EQ(logical[0] % 128, 0) << spec.name;
          EXPECT_EQ(logical[1] % 128, 0) << spec.name;
        }
      }
    }
  llvm::Expected<ModelConfig> unknown = presetConfig("huge", false);
  ASSERT_FALSE(bool(unknown));
  EXPECT_NE(llvm::toString(unknown.takeError()).find("huge"), std::string::npos);
}

TEST(SyntheticCheckpointTest, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir a, b, c;
  SyntheticOptions options;
  options.seed = 7;
  std::string log = generate(options, a);
  generate(options, b);
  options.seed = 8;
  generate(options, c);
  for (const char *file : kCheckpointFiles)
    EXPECT_TRUE(readFile(a.file(file)) == readFile(b.file(file))) << file;
  EXPECT_TRUE(readFile(a.file("config.json")) == readFile(c.file("config.json")));
  for (const char *file : {kCheckpointFiles[2], kCheckpointFiles[3]})
    EXPECT_FALSE(readFile(a.file(file)) == readFile(c.file(file))) << file;

  // One progress line per shard.
  EXPECT_NE(log.find("model-00001-of-00002.safetensors"), std::string::npos) << log;
  EXPECT_NE(log.find("model-00002-of-00002.safetensors"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2) << log;
}

TEST(SyntheticCheckpointTest, HoldsExactlyTheInventoryInTwoBalancedShards) {
  TempDir dir;
  generate(SyntheticOptions(), dir);
  std::unique_ptr<Checkpoint> ckpt = openCheckpoint(dir);
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->config().hiddenSize, 256);
  EXPECT_EQ(ckpt->config().compressRatios, (std::vector<int64_t>{0, 4, 128, 4, 0}));

  std::vector<TensorSpec> specs = expectedTensors(ckpt->config());
  EXPECT_EQ(ckpt->tensors().size(), specs.size());
  uint64_t total = 0;
  for (const TensorSpec &spec : specs) {
    const TensorInfo *tensor = ckpt->find(spec.name);
    ASSERT_NE(tensor, nullptr) << spec.name;
    EXPECT_EQ(tensor->shape, spec.shape) << spec.name;
    EXPECT_EQ(tensor->dtype, spec.dtype) << spec.name;
    total += tensor->size;
  }

  llvm::Expected<size_t> unused = validateCheckpointTensors(*ckpt, specs);
  ASSERT_TRUE(bool(unused)) << llvm::toString(unused.takeError());
  EXPECT_EQ(*unused, 0u);

  ASSERT_EQ(ckpt->files().size(), 2u);
  uint64_t firstShard = 0;
  for (const TensorInfo *tensor : ckpt->tensors())
    if (tensor->file == 0)
      firstShard += tensor->size;
  EXPECT_GT(firstShard, total / 4);
  EXPECT_LT(firstShard, total * 3 / 4);

  llvm::Expected<llvm::json::Value> index =
      llvm::json::parse(readFile(dir.file("model.safetensors.index.json")));
  ASSERT_TRUE(bool(index)) << llvm::toString(index.takeError());
  const llvm::json::Object *metadata = index->getAsObject()->getObject("metadata");
  ASSERT_NE(metadata, nullptr);
  EXPECT_EQ(metadata->getInteger("total_size"), static_cast<int64_t>(total));
}

TEST(SyntheticCheckpointTest, Fp8WeightsDecodeWithinTheirBlockScale) {
  TempDir dir;
  generate(SyntheticOptions(), dir);
  std::unique_ptr<Checkpoint> ckpt = openCheckpoint(dir);
  ASSERT_TRUE(ckpt);
  int checked = 0;
  for (const TensorInfo *tensor : ckpt->tensors()) {
    if (tensor->dtype != DType::F8_E4M3)
      continue;
    ++checked;
    const TensorInfo &scale = scaleOf(*ckpt, tensor->name);
    ASSERT_EQ(scale.dtype, DType::F8_E8M0);
    int64_t rows = tensor->shape[0], cols = tensor->shape[1], blockCols = scale.shape[1];
    llvm::ArrayRef<uint8_t> codes = ckpt->bytes(*tensor), scales = ckpt->bytes(scale);
    std::vector<float> blockMax(scales.size(), 0);
    Moments moments;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        float v = lowp::e4m3ToFloat(codes[r * cols + c]);
        ASSERT_TRUE(std::isfinite(v)) << tensor->name;
        size_t block = (r / 128) * blockCols + c / 128;
        float s = lowp::e8m0ToFloat(scales[block]);
        ASSERT_TRUE(std::isfinite(s)) << scale.name;
        EXPECT_LE(std::fabs(v * s), 448 * s);
        blockMax[block] = std::max(blockMax[block], std::fabs(v));
        moments.add(double(v) * s);
      }
    // The scale is the smallest power of two that fits: amax/scale is in (224, 448].
    for (float m : blockMax)
      EXPECT_GE(m, 224.0f) << tensor->name;
    // Dequantized weights follow N(0, 1/sqrt(in)).
    double expected = 1 / std::sqrt(double(cols));
    EXPECT_NEAR(moments.mean(), 0, 0.1 * expected) << tensor->name;
    EXPECT_NEAR(moments.stddev(), expected, 0.1 * expected) << tensor->name;
  }
  EXPECT_GT(checked, 0);
}

TEST(SyntheticCheckpointTest, Fp4ExpertsDecodeFromPackedNibbles) {
  TempDir dir;
  generate(SyntheticOptions(), dir);
  std::unique_ptr<Checkpoint> ckpt = openCheckpoint(dir);
  ASSERT_TRUE(ckpt);
  std::vector<TensorSpec> specs = expectedTensors(ckpt->config());
  int checked = 0;
  for (const TensorSpec &spec : specs) {
    if (spec.encoding != TensorEncoding::Fp4x2)
      continue;
    ++checked;
    const TensorInfo &tensor = *ckpt->find(spec.name);
    const TensorInfo &scale = scaleOf(*ckpt, spec.name);
    int64_t rows = tensor.shape[0], k = spec.logicalShape()[1];
    ASSERT_EQ(scale.shape, (std::vector<int64_t>{rows, k / 32}));
    llvm::ArrayRef<uint8_t> packed = ckpt->bytes(tensor), scales = ckpt->bytes(scale);
    Moments moments, lowNibbles, highNibbles;
    for (int64_t r = 0; r < rows; ++r) {
      llvm::ArrayRef<uint8_t> row = packed.slice(r * (k / 2), k / 2);
      for (int64_t g = 0; g < k / 32; ++g) {
        float s = lowp::e8m0ToFloat(scales[r * (k / 32) + g]);
        float groupMax = 0;
        for (int64_t i = g * 32; i < (g + 1) * 32; ++i) {
          float v = lowp::e2m1ToFloat(lowp::e2m1Nibble(row, i));
          groupMax = std::max(groupMax, std::fabs(v));
          moments.add(double(v) * s);
          (i % 2 == 0 ? lowNibbles : highNibbles).add(v);
        }
        // amax/scale lies in (3, 6], which rounds to at least 3 on the E2M1 grid.
        EXPECT_GE(groupMax, 3.0f) << spec.name << " row " << r << " group " << g;
      }
    }
    double expected = 1 / std::sqrt(double(k));
    EXPECT_NEAR(moments.mean(), 0, 0.1 * expected) << spec.name;
    EXPECT_NEAR(moments.stddev(), expected, 0.15 * expected) << spec.name;
    // Both nibbles of a byte carry data (the odd elements are not dropped or duplicated).
    EXPECT_NEAR(lowNibbles.stddev(), highNibbles.stddev(), 0.1 * lowNibbles.stddev());
  }
  EXPECT_GT(checked, 0);
}

TEST(SyntheticCheckpointTest, SmallTensorsHaveSaneValues) {
  TempDir dir;
  generate(SyntheticOptions(), dir);
  std::unique_ptr<Checkpoint> ckpt = openCheckpoint(dir);
  ASSERT_TRUE(ckpt);
  const ModelConfig &config = ckpt->config();
  for (const TensorInfo *tensor : ckpt->tensors()) {
    const std::string &name = tensor->name;
    auto endsWith = [&](llvm::StringRef suffix) { return llvm::StringRef(name).ends_with(suffix); };
    if (endsWith("norm.weight")) {
      for (int64_t i = 0; i < tensor->numElements(); ++i)
        EXPECT_NEAR(readFloat(*ckpt, *tensor, i), 1.0f, 0.1f) << name;
    } else if (endsWith("_scale")) {
      for (int64_t i = 0; i < tensor->numElements(); ++i)
        EXPECT_NEAR(readFloat(*ckpt, *tensor, i), 1.0f, 0.05f) << name;
    } else if (endsWith("_base")) {
      // pre ≈ σ(b) = 1/n, post 2σ(b) ≈ 1.
      int64_t n = config.hcMult;
      for (int64_t j = 0; j < n; ++j) {
        double pre = 1 / (1 + std::exp(-readFloat(*ckpt, *tensor, j)));
        EXPECT_NEAR(pre, 1.0 / n, 0.02) << name;
      }
      if (tensor->shape[0] > n) {
        for (int64_t j = n; j < 2 * n; ++j)
          EXPECT_NEAR(2 / (1 + std::exp(-readFloat(*ckpt, *tensor, j))), 1.0, 0.05) << name;
      }
    } else if (endsWith("gate.tid2eid")) {
      ASSERT_EQ(tensor->dtype, DType::I64);
      llvm::ArrayRef<uint8_t> bytes = ckpt->bytes(*tensor);
      int64_t k = tensor->shape[1];
      for (int64_t row = 0; row < tensor->shape[0]; ++row) {
        std::set<int64_t> experts;
        for (int64_t j = 0; j < k; ++j) {
          int64_t e = static_cast<int64_t>(
              llvm::support::endian::read64le(&bytes[(row * k + j) * 8]));
          EXPECT_GE(e, 0);
          EXPECT_LT(e, config.nRoutedExperts);
          experts.insert(e);
        }
        EXPECT_EQ(static_cast<int64_t>(experts.size()), k) << name << " row " << row;
      }
    }
  }
}

TEST(SyntheticCheckpointTest, Bf16VariantHasNoScales) {
  TempDir dir;
  SyntheticOptions options;
  options.bf16 = true;
  generate(options, dir);
  std::unique_ptr<Checkpoint> ckpt = openCheckpoint(dir);
  ASSERT_TRUE(ckpt);
  EXPECT_FALSE(ckpt->config().fp8Weights);
  std::vector<TensorSpec> specs = expectedTensors(ckpt->config());
  EXPECT_EQ(ckpt->tensors().size(), specs.size());
  for (const TensorInfo *tensor : ckpt->tensors()) {
    EXPECT_FALSE(llvm::StringRef(tensor->name).ends_with(".scale")) << tensor->name;
    EXPECT_NE(tensor->dtype, DType::F8_E4M3) << tensor->name;
    EXPECT_NE(tensor->dtype, DType::I8) << tensor->name;
  }
  const TensorInfo *expert = ckpt->find("layers.0.ffn.experts.0.w1.weight");
  ASSERT_NE(expert, nullptr);
  EXPECT_EQ(expert->dtype, DType::BF16);
  EXPECT_EQ(expert->shape, (std::vector<int64_t>{128, 256}));
}

TEST(SyntheticCheckpointTest, RegeneratingOverAnOldCheckpointReplacesIt) {
  TempDir dir;
  SyntheticOptions options;
  generate(options, dir);
  options.bf16 = true;
  generate(options, dir);
  std::unique_ptr<Checkpoint> ckpt = openCheckpoint(dir);
  ASSERT_TRUE(ckpt);
  EXPECT_FALSE(ckpt->config().fp8Weights);
  EXPECT_EQ(ckpt->find("layers.0.attn.wq_a.scale"), nullptr);
  // No temporary files are left behind.
  std::error_code ec;
  int files = 0;
  for (llvm::sys::fs::directory_iterator it(dir.path(), ec), end; it != end && !ec;
       it.increment(ec))
    ++files;
  EXPECT_EQ(files, 4);
}
