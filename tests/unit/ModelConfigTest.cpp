// config.json parsing: the released V4-Flash / V4-Pro files, the tiny preset, the writer's round
// trip, and one rejected input per check (each error must name the field at fault).
#include "frontend/checkpoint/ModelConfig.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace v4c;

namespace {

std::string configPath(llvm::StringRef name) {
  return std::string(V4C_TEST_DATA_DIR) + "/configs/" + name.str();
}

std::string readText(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  EXPECT_TRUE(bool(buffer)) << "cannot read " << path;
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

ModelConfig loadOrFail(llvm::StringRef name) {
  llvm::Expected<ModelConfig> config = loadModelConfig(configPath(name));
  if (!config) {
    ADD_FAILURE() << llvm::toString(config.takeError());
    return ModelConfig();
  }
  return std::move(*config);
}

/// The error message of a parse that must fail ("" and a test failure if it succeeded).
std::string errorOf(llvm::Expected<ModelConfig> config) {
  if (config) {
    ADD_FAILURE() << "config was accepted";
    return "";
  }
  return llvm::toString(config.takeError());
}

std::string tinyText() { return readText(configPath("tiny.json")); }

/// tiny.json with one textual substitution; for literals the JSON writer would normalize
/// ("256.0", "1e999").
std::string tinyReplacing(llvm::StringRef from, llvm::StringRef to) {
  std::string text = tinyText();
  size_t at = text.find(from.str());
  EXPECT_NE(at, std::string::npos) << "'" << from.str() << "' not in tiny.json";
  EXPECT_EQ(text.find(from.str(), at + 1), std::string::npos) << "'" << from.str()
                                                              << "' is ambiguous";
  if (at != std::string::npos)
    text.replace(at, from.size(), to.str());
  return text;
}

/// tiny.json with its JSON object edited.
std::string tinyEdited(llvm::function_ref<void(llvm::json::Object &)> edit) {
  llvm::Expected<llvm::json::Value> value = llvm::json::parse(tinyText());
  EXPECT_TRUE(bool(value));
  if (!value) {
    llvm::consumeError(value.takeError());
    return "";
  }
  edit(*value->getAsObject());
  std::string text;
  llvm::raw_string_ostream(text) << *value;
  return text;
}

std::string tinyError(llvm::function_ref<void(llvm::json::Object &)> edit) {
  return errorOf(parseModelConfig(tinyEdited(edit), "config.json"));
}

std::string tinyErrorReplacing(llvm::StringRef from, llvm::StringRef to) {
  return errorOf(parseModelConfig(tinyReplacing(from, to), "config.json"));
}

ModelConfig tinyParsedWith(llvm::function_ref<void(llvm::json::Object &)> edit) {
  llvm::Expected<ModelConfig> config = parseModelConfig(tinyEdited(edit), "config.json");
  if (!config) {
    ADD_FAILURE() << llvm::toString(config.takeError());
    return ModelConfig();
  }
  return std::move(*config);
}

llvm::json::Object &nested(llvm::json::Object &object, llvm::StringRef key) {
  return *object.getObject(key);
}

int64_t countRatio(const ModelConfig &config, int64_t ratio, bool mainLayersOnly = true) {
  auto end = mainLayersOnly ? config.compressRatios.begin() + config.numHiddenLayers
                            : config.compressRatios.end();
  return std::count(config.compressRatios.begin(), end, ratio);
}

void expectSameConfig(const ModelConfig &a, const ModelConfig &b) {
  EXPECT_EQ(a.modelType, b.modelType);
  EXPECT_EQ(a.vocabSize, b.vocabSize);
  EXPECT_EQ(a.hiddenSize, b.hiddenSize);
  EXPECT_EQ(a.numHiddenLayers, b.numHiddenLayers);
  EXPECT_EQ(a.numAttentionHeads, b.numAttentionHeads);
  EXPECT_EQ(a.numKeyValueHeads, b.numKeyValueHeads);
  EXPECT_EQ(a.headDim, b.headDim);
  EXPECT_EQ(a.qkRopeHeadDim, b.qkRopeHeadDim);
  EXPECT_EQ(a.qLoraRank, b.qLoraRank);
  EXPECT_EQ(a.oGroups, b.oGroups);
  EXPECT_EQ(a.oLoraRank, b.oLoraRank);
  EXPECT_EQ(a.slidingWindow, b.slidingWindow);
  EXPECT_EQ(a.compressRatios, b.compressRatios);
  EXPECT_EQ(a.ropeTheta, b.ropeTheta);
  EXPECT_EQ(a.compressRopeTheta, b.compressRopeTheta);
  ASSERT_EQ(a.ropeScaling.has_value(), b.ropeScaling.has_value());
  if (a.ropeScaling) {
    EXPECT_EQ(a.ropeScaling->factor, b.ropeScaling->factor);
    EXPECT_EQ(a.ropeScaling->originalMaxPositionEmbeddings,
              b.ropeScaling->originalMaxPositionEmbeddings);
    EXPECT_EQ(a.ropeScaling->betaFast, b.ropeScaling->betaFast);
    EXPECT_EQ(a.ropeScaling->betaSlow, b.ropeScaling->betaSlow);
  }
  EXPECT_EQ(a.indexNHeads, b.indexNHeads);
  EXPECT_EQ(a.indexHeadDim, b.indexHeadDim);
  EXPECT_EQ(a.indexTopk, b.indexTopk);
  EXPECT_EQ(a.nRoutedExperts, b.nRoutedExperts);
  EXPECT_EQ(a.nSharedExperts, b.nSharedExperts);
  EXPECT_EQ(a.numExpertsPerTok, b.numExpertsPerTok);
  EXPECT_EQ(a.moeIntermediateSize, b.moeIntermediateSize);
  EXPECT_EQ(a.numHashLayers, b.numHashLayers);
  EXPECT_EQ(a.scoringFunc, b.scoringFunc);
  EXPECT_EQ(a.topkMethod, b.topkMethod);
  EXPECT_EQ(a.normTopkProb, b.normTopkProb);
  EXPECT_EQ(a.routedScalingFactor, b.routedScalingFactor);
  EXPECT_EQ(a.swigluLimit, b.swigluLimit);
  EXPECT_EQ(a.hcMult, b.hcMult);
  EXPECT_EQ(a.hcSinkhornIters, b.hcSinkhornIters);
  EXPECT_EQ(a.hcEps, b.hcEps);
  EXPECT_EQ(a.numNextnPredictLayers, b.numNextnPredictLayers);
  EXPECT_EQ(a.maxPositionEmbeddings, b.maxPositionEmbeddings);
  EXPECT_EQ(a.rmsNormEps, b.rmsNormEps);
  EXPECT_EQ(a.bosTokenId, b.bosTokenId);
  EXPECT_EQ(a.eosTokenId, b.eosTokenId);
  EXPECT_EQ(a.expertDtype, b.expertDtype);
  EXPECT_EQ(a.fp8Weights, b.fp8Weights);
  EXPECT_EQ(a.scaleFmt, b.scaleFmt);
  EXPECT_EQ(a.weightBlockRows, b.weightBlockRows);
  EXPECT_EQ(a.weightBlockCols, b.weightBlockCols);
}

void expectRoundTrip(const ModelConfig &config) {
  std::string text = modelConfigToJson(config);
  llvm::Expected<ModelConfig> reparsed = parseModelConfig(text, "written.json");
  ASSERT_TRUE(bool(reparsed)) << llvm::toString(reparsed.takeError()) << "\n" << text;
  expectSameConfig(config, *reparsed);
}

// The fields both releases share (MODEL.md §6.2).
void expectCommonV4Values(const ModelConfig &c) {
  EXPECT_EQ(c.modelType, "deepseek_v4");
  EXPECT_EQ(c.vocabSize, 129280);
  EXPECT_EQ(c.numKeyValueHeads, 1);
  EXPECT_EQ(c.headDim, 512);
  EXPECT_EQ(c.qkRopeHeadDim, 64);
  EXPECT_EQ(c.oLoraRank, 1024);
  EXPECT_EQ(c.slidingWindow, 128);
  EXPECT_EQ(c.ropeTheta, 10000.0);
  EXPECT_EQ(c.compressRopeTheta, 160000.0);
  ASSERT_TRUE(c.ropeScaling.has_value());
  EXPECT_EQ(c.ropeScaling->factor, 16.0);
  EXPECT_EQ(c.ropeScaling->originalMaxPositionEmbeddings, 65536);
  EXPECT_EQ(c.ropeScaling->betaFast, 32.0);
  EXPECT_EQ(c.ropeScaling->betaSlow, 1.0);
  EXPECT_EQ(c.indexNHeads, 64);
  EXPECT_EQ(c.indexHeadDim, 128);
  EXPECT_EQ(c.nSharedExperts, 1);
  EXPECT_EQ(c.numExpertsPerTok, 6);
  EXPECT_EQ(c.numHashLayers, 3);
  EXPECT_EQ(c.scoringFunc, "sqrtsoftplus");
  EXPECT_EQ(c.topkMethod, "noaux_tc");
  EXPECT_TRUE(c.normTopkProb);
  EXPECT_EQ(c.swigluLimit, 10.0);
  EXPECT_EQ(c.hcMult, 4);
  EXPECT_EQ(c.hcSinkhornIters, 20);
  EXPECT_EQ(c.hcEps, 1e-6);
  EXPECT_EQ(c.numNextnPredictLayers, 1);
  EXPECT_EQ(c.maxPositionEmbeddings, 1048576);
  EXPECT_EQ(c.rmsNormEps, 1e-6);
  EXPECT_EQ(c.bosTokenId, 0);
  EXPECT_EQ(c.eosTokenId, 1);
  EXPECT_EQ(c.expertDtype, "fp4");
  EXPECT_TRUE(c.fp4Experts());
  EXPECT_TRUE(c.fp8Weights);
  EXPECT_EQ(c.scaleFmt, "ue8m0");
  EXPECT_EQ(c.weightBlockRows, 128);
  EXPECT_EQ(c.weightBlockCols, 128);
  // The MTP layer is window-only in both releases.
  EXPECT_EQ(c.compressRatios.back(), 0);
}

} // namespace

//===----------------------------------------------------------------------===//
// Released and preset configs
//===----------------------------------------------------------------------===//

TEST(ModelConfig, ParsesV4Flash) {
  ModelConfig c = loadOrFail("deepseek-v4-flash.json");
  expectCommonV4Values(c);
  EXPECT_EQ(c.hiddenSize, 4096);
  EXPECT_EQ(c.numHiddenLayers, 43);
  EXPECT_EQ(c.numAttentionHeads, 64);
  EXPECT_EQ(c.qLoraRank, 1024);
  EXPECT_EQ(c.oGroups, 8);
  EXPECT_EQ(c.indexTopk, 512);
  EXPECT_EQ(c.nRoutedExperts, 256);
  EXPECT_EQ(c.moeIntermediateSize, 2048);
  EXPECT_EQ(c.routedScalingFactor, 1.5);
  ASSERT_EQ(c.compressRatios.size(), 44u);
  EXPECT_EQ(c.numLayersWithMtp(), 44);
  EXPECT_EQ(countRatio(c, 0), 2);   // layers 0 and 1: sliding window only
  EXPECT_EQ(countRatio(c, 4), 21);  // CSA
  EXPECT_EQ(countRatio(c, 128), 20); // HCA
  EXPECT_EQ(c.compressRatios[0], 0);
  EXPECT_EQ(c.compressRatios[1], 0);
  EXPECT_EQ(c.compressRatios[2], 4);
  EXPECT_EQ(c.compressRatios[3], 128);
  EXPECT_EQ(c.compressRatios[42], 4);
}

TEST(ModelConfig, ParsesV4Pro) {
  ModelConfig c = loadOrFail("deepseek-v4-pro.json");
  expectCommonV4Values(c);
  EXPECT_EQ(c.hiddenSize, 7168);
  EXPECT_EQ(c.numHiddenLayers, 61);
  EXPECT_EQ(c.numAttentionHeads, 128);
  EXPECT_EQ(c.qLoraRank, 1536);
  EXPECT_EQ(c.oGroups, 16);
  EXPECT_EQ(c.indexTopk, 1024);
  EXPECT_EQ(c.nRoutedExperts, 384);
  EXPECT_EQ(c.moeIntermediateSize, 3072);
  EXPECT_EQ(c.routedScalingFactor, 2.5);
  ASSERT_EQ(c.compressRatios.size(), 62u);
  EXPECT_EQ(countRatio(c, 0), 0);
  EXPECT_EQ(countRatio(c, 4), 30);
  EXPECT_EQ(countRatio(c, 128), 31);
  EXPECT_EQ(c.compressRatios[0], 128);
  EXPECT_EQ(c.compressRatios[1], 128);
  EXPECT_EQ(c.compressRatios[2], 4);
  EXPECT_EQ(c.compressRatios[60], 4);
}

TEST(ModelConfig, ParsesTinyPreset) {
  ModelConfig c = loadOrFail("tiny.json");
  EXPECT_EQ(c.modelType, "deepseek_v4");
  EXPECT_EQ(c.vocabSize, 512);
  EXPECT_EQ(c.hiddenSize, 256);
  EXPECT_EQ(c.numHiddenLayers, 4);
  EXPECT_EQ(c.numNextnPredictLayers, 1);
  EXPECT_EQ(c.compressRatios, (std::vector<int64_t>{0, 4, 128, 4, 0}));
  EXPECT_EQ(c.numAttentionHeads, 4);
  EXPECT_EQ(c.headDim, 128);
  EXPECT_EQ(c.qkRopeHeadDim, 64);
  EXPECT_EQ(c.qLoraRank, 128);
  EXPECT_EQ(c.oGroups, 2);
  EXPECT_EQ(c.oLoraRank, 128);
  EXPECT_EQ(c.slidingWindow, 32);
  EXPECT_EQ(c.indexNHeads, 4);
  EXPECT_EQ(c.indexHeadDim, 128);
  EXPECT_EQ(c.indexTopk, 4);
  EXPECT_EQ(c.nRoutedExperts, 8);
  EXPECT_EQ(c.nSharedExperts, 1);
  EXPECT_EQ(c.numExpertsPerTok, 2);
  EXPECT_EQ(c.moeIntermediateSize, 128);
  EXPECT_EQ(c.numHashLayers, 2);
  EXPECT_EQ(c.routedScalingFactor, 1.5);
  EXPECT_EQ(c.swigluLimit, 10.0);
  EXPECT_EQ(c.hcMult, 4);
  EXPECT_EQ(c.hcSinkhornIters, 20);
  EXPECT_EQ(c.hcEps, 1e-6);
  EXPECT_EQ(c.ropeTheta, 10000.0);
  EXPECT_EQ(c.compressRopeTheta, 160000.0);
  ASSERT_TRUE(c.ropeScaling.has_value());
  EXPECT_EQ(c.ropeScaling->factor, 16.0);
  EXPECT_EQ(c.ropeScaling->originalMaxPositionEmbeddings, 65536);
  EXPECT_EQ(c.ropeScaling->betaFast, 32.0);
  EXPECT_EQ(c.ropeScaling->betaSlow, 1.0);
  EXPECT_EQ(c.maxPositionEmbeddings, 4096);
  EXPECT_EQ(c.rmsNormEps, 1e-6);
  EXPECT_TRUE(c.fp4Experts());
  EXPECT_TRUE(c.fp8Weights);
  EXPECT_EQ(c.scaleFmt, "ue8m0");
}

// tiny.json is exactly what the writer produces, so `v4c gen --preset tiny` and the test data
// can be compared byte for byte.
TEST(ModelConfig, TinyPresetIsWriterOutput) {
  EXPECT_EQ(modelConfigToJson(loadOrFail("tiny.json")), tinyText());
}

TEST(ModelConfig, WriterUsesHuggingFaceLayout) {
  std::string text = modelConfigToJson(loadOrFail("deepseek-v4-flash.json"));
  llvm::Expected<llvm::json::Value> value = llvm::json::parse(text);
  ASSERT_TRUE(bool(value)) << llvm::toString(value.takeError());
  const llvm::json::Object &object = *value->getAsObject();
  const llvm::json::Array *architectures = object.getArray("architectures");
  ASSERT_NE(architectures, nullptr);
  ASSERT_EQ(architectures->size(), 1u);
  EXPECT_EQ((*architectures)[0].getAsString(), "DeepseekV4ForCausalLM");
  EXPECT_EQ(object.getString("torch_dtype"), "bfloat16");
  EXPECT_EQ(object.getString("model_type"), "deepseek_v4");
  const llvm::json::Object *quantization = object.getObject("quantization_config");
  ASSERT_NE(quantization, nullptr);
  EXPECT_EQ(quantization->getString("quant_method"), "fp8");
  EXPECT_EQ(quantization->getString("fmt"), "e4m3");
  EXPECT_EQ(quantization->getString("scale_fmt"), "ue8m0");
  EXPECT_EQ(object.getObject("rope_scaling")->getString("type"), "yarn");
  // Every key the writer emits is one the released file has.
  llvm::Expected<llvm::json::Value> release =
      llvm::json::parse(readText(configPath("deepseek-v4-flash.json")));
  ASSERT_TRUE(bool(release));
  for (const auto &entry : object)
    EXPECT_NE(release->getAsObject()->get(entry.first), nullptr) << entry.first.str();
}

TEST(ModelConfig, RoundTripsThroughJson) {
  for (llvm::StringRef name : {"deepseek-v4-flash.json", "deepseek-v4-pro.json", "tiny.json"}) {
    SCOPED_TRACE(name.str());
    expectRoundTrip(loadOrFail(name));
  }
}

TEST(ModelConfig, RoundTripsBf16ConfigWithoutOptionalSections) {
  ModelConfig c = tinyParsedWith([](llvm::json::Object &o) {
    o.erase("quantization_config");
    o.erase("rope_scaling");
    o.erase("expert_dtype");
    o["bos_token_id"] = 7;
    o["eos_token_id"] = 9;
  });
  EXPECT_FALSE(c.fp8Weights);
  EXPECT_FALSE(c.ropeScaling.has_value());
  EXPECT_EQ(c.expertDtype, "");
  EXPECT_FALSE(c.fp4Experts());
  EXPECT_EQ(c.bosTokenId, 7);
  EXPECT_EQ(c.eosTokenId, 9);
  expectRoundTrip(c);
  std::string text = modelConfigToJson(c);
  EXPECT_EQ(text.find("quantization_config"), std::string::npos);
  EXPECT_EQ(text.find("rope_scaling"), std::string::npos);
  EXPECT_EQ(text.find("expert_dtype"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Accepted variations
//===----------------------------------------------------------------------===//

TEST(ModelConfig, IgnoresUnknownFields) {
  ModelConfig c = tinyParsedWith([](llvm::json::Object &o) {
    o["dspark_block_size"] = 5;
    o["auto_map"] = llvm::json::Object{{"AutoConfig", "x.y"}};
    nested(o, "quantization_config")["modules_to_not_convert"] = llvm::json::Array{"head"};
  });
  EXPECT_EQ(c.hiddenSize, 256);
}

TEST(ModelConfig, OptionalSectionsMayBeNull) {
  ModelConfig c = tinyParsedWith([](llvm::json::Object &o) {
    o["rope_scaling"] = nullptr;
    o["quantization_config"] = nullptr;
    o["expert_dtype"] = nullptr;
  });
  EXPECT_FALSE(c.ropeScaling.has_value());
  EXPECT_FALSE(c.fp8Weights);
  EXPECT_EQ(c.expertDtype, "");
}

TEST(ModelConfig, AcceptsRopeTypeSpelling) {
  ModelConfig c = tinyParsedWith([](llvm::json::Object &o) {
    nested(o, "rope_scaling").erase("type");
    nested(o, "rope_scaling")["rope_type"] = "yarn";
  });
  ASSERT_TRUE(c.ropeScaling.has_value());
  EXPECT_EQ(c.ropeScaling->factor, 16.0);
}

TEST(ModelConfig, DoublesMayBeWrittenAsIntegers) {
  ModelConfig c = loadOrFail("deepseek-v4-flash.json"); // "rope_theta": 10000, "factor": 16
  EXPECT_EQ(c.ropeTheta, 10000.0);
  c = tinyParsedWith([](llvm::json::Object &o) { o["swiglu_limit"] = 7; });
  EXPECT_EQ(c.swigluLimit, 7.0);
}

TEST(ModelConfig, StoresOtherBlockSizesAndScaleFormats) {
  ModelConfig c = tinyParsedWith([](llvm::json::Object &o) {
    nested(o, "quantization_config")["weight_block_size"] = llvm::json::Array{64, 32};
    nested(o, "quantization_config").erase("scale_fmt");
    nested(o, "quantization_config").erase("activation_scheme");
  });
  EXPECT_TRUE(c.fp8Weights);
  EXPECT_EQ(c.weightBlockRows, 64);
  EXPECT_EQ(c.weightBlockCols, 32);
  EXPECT_EQ(c.scaleFmt, ""); // F32 scales
  expectRoundTrip(c);
}

TEST(ModelConfig, AcceptsAnyCompressRatioFromTwo) {
  ModelConfig c = tinyParsedWith([](llvm::json::Object &o) {
    o["compress_ratios"] = llvm::json::Array{0, 2, 16, 4, 0};
  });
  EXPECT_EQ(c.compressRatios, (std::vector<int64_t>{0, 2, 16, 4, 0}));
}

TEST(ModelConfig, AcceptsFp8ExpertsWithQuantization) {
  ModelConfig c = tinyParsedWith([](llvm::json::Object &o) { o["expert_dtype"] = "fp8"; });
  EXPECT_FALSE(c.fp4Experts());
  EXPECT_EQ(c.expertDtype, "fp8");
}

//===----------------------------------------------------------------------===//
// Presence and type errors
//===----------------------------------------------------------------------===//

TEST(ModelConfigErrors, MissingField) {
  EXPECT_EQ(tinyError([](llvm::json::Object &o) { o.erase("compress_ratios"); }),
            "config.json: missing field 'compress_ratios'");
  EXPECT_NE(tinyError([](llvm::json::Object &o) { o.erase("hc_eps"); }).find("'hc_eps'"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) { o.erase("model_type"); })
                .find("missing field 'model_type'"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) { nested(o, "rope_scaling").erase("beta_fast"); })
                .find("missing field 'rope_scaling.beta_fast'"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) {
              nested(o, "quantization_config").erase("weight_block_size");
            }).find("'quantization_config.weight_block_size'"),
            std::string::npos);
}

TEST(ModelConfigErrors, StringForInteger) {
  EXPECT_EQ(tinyError([](llvm::json::Object &o) { o["hidden_size"] = "256"; }),
            "config.json: field 'hidden_size' must be an integer, got string");
}

TEST(ModelConfigErrors, FloatForInteger) {
  std::string error = tinyErrorReplacing("\"hidden_size\": 256,", "\"hidden_size\": 256.5,");
  EXPECT_NE(error.find("field 'hidden_size' must be an integer, got float 256.5"),
            std::string::npos)
      << error;
  // Integral but written as a float: still not an integer field's type.
  error = tinyErrorReplacing("\"num_hidden_layers\": 4,", "\"num_hidden_layers\": 4.0,");
  EXPECT_NE(error.find("field 'num_hidden_layers' must be an integer, got float"),
            std::string::npos)
      << error;
  error = tinyErrorReplacing("\"index_topk\": 4,", "\"index_topk\": 4e0,");
  EXPECT_NE(error.find("'index_topk'"), std::string::npos) << error;
}

TEST(ModelConfigErrors, OtherWrongTypes) {
  EXPECT_NE(tinyError([](llvm::json::Object &o) { o["num_hidden_layers"] = -4; })
                .find("field 'num_hidden_layers' must be a non-negative integer, got -4"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) { o["rope_theta"] = "10000"; })
                .find("field 'rope_theta' must be a number, got string"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) { o["norm_topk_prob"] = 1; })
                .find("field 'norm_topk_prob' must be a boolean, got number"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) { o["scoring_func"] = nullptr; })
                .find("field 'scoring_func' must be a string, got null"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) { o["compress_ratios"] = 4; })
                .find("field 'compress_ratios' must be an array of integers, got number"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) {
              o["compress_ratios"] = llvm::json::Array{0, "4", 128, 4, 0};
            }).find("field 'compress_ratios[1]' must be an integer, got string"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) { o["rope_scaling"] = "yarn"; })
                .find("field 'rope_scaling' must be an object, got string"),
            std::string::npos);
  EXPECT_NE(tinyError([](llvm::json::Object &o) { o["expert_dtype"] = 4; })
                .find("field 'expert_dtype' must be a string"),
            std::string::npos);
}

TEST(ModelConfigErrors, MalformedJson) {
  std::string error = errorOf(parseModelConfig("{\n  \"vocab_size\": 512\n  \"hidden_size\": 256\n}",
                                               "config.json"));
  EXPECT_NE(error.find("config.json: malformed JSON"), std::string::npos) << error;
  EXPECT_NE(error.find("[3:"), std::string::npos) << "no line number: " << error;
  error = errorOf(parseModelConfig("", "config.json"));
  EXPECT_NE(error.find("malformed JSON"), std::string::npos) << error;
  error = errorOf(parseModelConfig("[1, 2]", "config.json"));
  EXPECT_NE(error.find("top level must be a JSON object, got array"), std::string::npos) << error;
}

TEST(ModelConfigErrors, NonFiniteNumbers) {
  // JSON cannot spell NaN or inf, but llvm::json reads an overflowing literal as inf.
  std::string error = tinyErrorReplacing("\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 1e999");
  EXPECT_NE(error.find("field 'rms_norm_eps' must be a finite number"), std::string::npos)
      << error;
  error = tinyErrorReplacing("\"factor\": 16.0", "\"factor\": -1e999");
  EXPECT_NE(error.find("'rope_scaling.factor'"), std::string::npos) << error;
  EXPECT_NE(tinyErrorReplacing("\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": NaN")
                .find("malformed JSON"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// Model type and consistency errors
//===----------------------------------------------------------------------===//

TEST(ModelConfigErrors, UnsupportedModelType) {
  std::string error = tinyError([](llvm::json::Object &o) { o["model_type"] = "deepseek_v3"; });
  EXPECT_NE(error.find("model_type 'deepseek_v3' is not supported"), std::string::npos) << error;
  EXPECT_NE(error.find("deepseek_v4"), std::string::npos) << error;
  EXPECT_NE(error.find("not implemented"), std::string::npos) << error;
}

// A V3 config lacks every V4 field; it must still be reported by its model_type.
TEST(ModelConfigErrors, V3ConfigReportsModelType) {
  std::string error = errorOf(parseModelConfig(R"({
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
    "hidden_size": 7168, "num_hidden_layers": 61, "kv_lora_rank": 512, "n_group": 8
  })", "config.json"));
  EXPECT_NE(error.find("model_type 'deepseek_v3'"), std::string::npos) << error;
}

TEST(ModelConfigErrors, CompressRatiosLength) {
  std::string error = tinyError([](llvm::json::Object &o) {
    o["compress_ratios"] = llvm::json::Array{0, 4, 128, 4};
  });
  EXPECT_NE(error.find("compress_ratios has 4 entries"), std::string::npos) << error;
  EXPECT_NE(error.find("num_hidden_layers + num_nextn_predict_layers = 4 + 1 = 5"),
            std::string::npos)
      << error;
  error = tinyError([](llvm::json::Object &o) { o["num_nextn_predict_layers"] = 2; });
  EXPECT_NE(error.find("compress_ratios"), std::string::npos) << error;
}

TEST(ModelConfigErrors, CompressRatioOne) {
  std::string error = tinyError([](llvm::json::Object &o) {
    o["compress_ratios"] = llvm::json::Array{0, 4, 1, 4, 0};
  });
  EXPECT_NE(error.find("compress_ratios[2] is 1"), std::string::npos) << error;
}

TEST(ModelConfigErrors, HeadsNotDivisibleByOGroups) {
  std::string error = tinyError([](llvm::json::Object &o) { o["o_groups"] = 3; });
  EXPECT_NE(error.find("num_attention_heads (4) must be divisible by o_groups (3)"),
            std::string::npos)
      << error;
}

TEST(ModelConfigErrors, TopKExceedsExperts) {
  std::string error = tinyError([](llvm::json::Object &o) { o["num_experts_per_tok"] = 9; });
  EXPECT_NE(error.find("num_experts_per_tok (9) must not exceed n_routed_experts (8)"),
            std::string::npos)
      << error;
}

TEST(ModelConfigErrors, BadRopeScaling) {
  std::string error = tinyError([](llvm::json::Object &o) {
    nested(o, "rope_scaling")["type"] = "linear";
  });
  EXPECT_NE(error.find("rope_scaling type 'linear' is not supported"), std::string::npos)
      << error;
  error = tinyError([](llvm::json::Object &o) { nested(o, "rope_scaling").erase("type"); });
  EXPECT_NE(error.find("missing field 'rope_scaling.type'"), std::string::npos) << error;
  error = tinyError([](llvm::json::Object &o) { nested(o, "rope_scaling")["beta_fast"] = 0.5; });
  EXPECT_NE(error.find("rope_scaling.beta_fast"), std::string::npos) << error;
  error = tinyError([](llvm::json::Object &o) { nested(o, "rope_scaling")["factor"] = 0; });
  EXPECT_NE(error.find("rope_scaling.factor must be positive"), std::string::npos) << error;
  error = tinyError([](llvm::json::Object &o) {
    nested(o, "rope_scaling")["original_max_position_embeddings"] = 0;
  });
  EXPECT_NE(error.find("rope_scaling.original_max_position_embeddings"), std::string::npos)
      << error;
}

TEST(ModelConfigErrors, AttentionShapes) {
  auto expectError = [](llvm::function_ref<void(llvm::json::Object &)> edit,
                        llvm::StringRef expected) {
    std::string error = tinyError(edit);
    EXPECT_NE(error.find(expected.str()), std::string::npos) << error;
  };
  expectError([](llvm::json::Object &o) { o["num_key_value_heads"] = 4; },
              "num_key_value_heads must be 1");
  expectError([](llvm::json::Object &o) { o["qk_rope_head_dim"] = 63; },
              "qk_rope_head_dim (63) must be even");
  expectError([](llvm::json::Object &o) { o["qk_rope_head_dim"] = 128; },
              "qk_rope_head_dim (128) must be smaller than head_dim (128)");
  expectError([](llvm::json::Object &o) { o["head_dim"] = 160; },
              "head_dim - qk_rope_head_dim (160 - 64) must be a multiple of 64");
  expectError([](llvm::json::Object &o) { o["index_head_dim"] = 96; },
              "index_head_dim (96) must be a power of two");
  expectError([](llvm::json::Object &o) { o["index_head_dim"] = 64; },
              "index_head_dim (64) must be larger than qk_rope_head_dim (64)");
  expectError([](llvm::json::Object &o) { o["sliding_window"] = 0; },
              "sliding_window must be positive");
  expectError([](llvm::json::Object &o) { o["hidden_size"] = 0; },
              "hidden_size must be positive");
  expectError([](llvm::json::Object &o) { o["hc_mult"] = 0; }, "hc_mult must be positive");
}

TEST(ModelConfigErrors, MoeAndRouting) {
  auto expectError = [](llvm::function_ref<void(llvm::json::Object &)> edit,
                        llvm::StringRef expected) {
    std::string error = tinyError(edit);
    EXPECT_NE(error.find(expected.str()), std::string::npos) << error;
  };
  expectError([](llvm::json::Object &o) { o["num_hash_layers"] = 5; },
              "num_hash_layers (5) must not exceed num_hidden_layers (4)");
  expectError([](llvm::json::Object &o) { o["scoring_func"] = "sigmoid"; },
              "scoring_func 'sigmoid' is not supported");
  expectError([](llvm::json::Object &o) { o["topk_method"] = "greedy"; },
              "topk_method 'greedy' is not supported");
  expectError([](llvm::json::Object &o) { o["routed_scaling_factor"] = -1.5; },
              "routed_scaling_factor must be positive");
  expectError([](llvm::json::Object &o) { o["swiglu_limit"] = -10.0; },
              "swiglu_limit must not be negative");
  expectError([](llvm::json::Object &o) { o["hidden_size"] = 240; },
              "hidden_size (240) must be a multiple of 32 for expert_dtype 'fp4'");
}

TEST(ModelConfigErrors, NormsAndTokens) {
  auto expectError = [](llvm::function_ref<void(llvm::json::Object &)> edit,
                        llvm::StringRef expected) {
    std::string error = tinyError(edit);
    EXPECT_NE(error.find(expected.str()), std::string::npos) << error;
  };
  expectError([](llvm::json::Object &o) { o["rms_norm_eps"] = 0.0; },
              "rms_norm_eps must be positive");
  expectError([](llvm::json::Object &o) { o["hc_eps"] = -1e-6; }, "hc_eps must not be negative");
  expectError([](llvm::json::Object &o) { o["rope_theta"] = 0; }, "rope_theta must be positive");
  expectError([](llvm::json::Object &o) { o["eos_token_id"] = 512; },
              "eos_token_id (512) must be below vocab_size (512)");
  expectError([](llvm::json::Object &o) { o["tie_word_embeddings"] = true; },
              "tie_word_embeddings");
  expectError([](llvm::json::Object &o) { o["hidden_act"] = "gelu"; },
              "hidden_act 'gelu' is not supported");
}

TEST(ModelConfigErrors, Quantization) {
  auto expectError = [](llvm::function_ref<void(llvm::json::Object &)> edit,
                        llvm::StringRef expected) {
    std::string error = tinyError(edit);
    EXPECT_NE(error.find(expected.str()), std::string::npos) << error;
  };
  expectError([](llvm::json::Object &o) { nested(o, "quantization_config")["quant_method"] = "awq"; },
              "quantization_config.quant_method 'awq' is not supported");
  expectError([](llvm::json::Object &o) { nested(o, "quantization_config")["fmt"] = "e5m2"; },
              "quantization_config.fmt 'e5m2' is not supported");
  expectError([](llvm::json::Object &o) {
                nested(o, "quantization_config")["scale_fmt"] = "e4m3";
              },
              "quantization_config.scale_fmt 'e4m3' is not supported");
  expectError([](llvm::json::Object &o) {
                nested(o, "quantization_config")["weight_block_size"] = llvm::json::Array{128};
              },
              "quantization_config.weight_block_size must be [rows, cols], got 1 entries");
  expectError([](llvm::json::Object &o) {
                nested(o, "quantization_config")["weight_block_size"] =
                    llvm::json::Array{0, 128};
              },
              "quantization_config.weight_block_size entries must be positive");
  expectError([](llvm::json::Object &o) { o["expert_dtype"] = "int4"; },
              "expert_dtype 'int4' is not supported");
  expectError([](llvm::json::Object &o) {
                o["expert_dtype"] = "fp8";
                o.erase("quantization_config");
              },
              "expert_dtype 'fp8' needs a quantization_config");
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

TEST(ModelConfigErrors, MissingFile) {
  std::string path = configPath("no-such-config.json");
  std::string error = errorOf(loadModelConfig(path));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
}

TEST(ModelConfigErrors, FileErrorsNameThePath) {
  llvm::SmallString<128> path;
  int fd = -1;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("v4c-config", "json", fd, path));
  {
    llvm::raw_fd_ostream out(fd, /*shouldClose=*/true);
    out << "{ \"model_type\": \"deepseek_v4\", ";
  }
  std::string error = errorOf(loadModelConfig(path));
  llvm::sys::fs::remove(path);
  EXPECT_EQ(error.rfind(path.str().str() + ": malformed JSON", 0), 0u) << error;
}
