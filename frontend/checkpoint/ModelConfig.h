// The DeepSeek-V4 Hugging Face `config.json`, parsed and checked (MODEL.md §6.2).
// Field names follow the HF file; comments give the reference runner's name where it differs.
#pragma once

#include "llvm/Support/Error.h"
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace llvm::json { class Object; }

namespace v4c {

/// `rope_scaling` of type "yarn". V4 applies YaRN whenever original_max_position_embeddings > 0.
struct YarnScaling {
  double factor = 1.0;
  int64_t originalMaxPositionEmbeddings = 0;
  double betaFast = 32.0;
  double betaSlow = 1.0;
};

struct ModelConfig {
  std::string modelType;          // must be "deepseek_v4"
  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;         // dim
  int64_t numHiddenLayers = 0;    // n_layers
  int64_t numAttentionHeads = 0;  // n_heads
  int64_t numKeyValueHeads = 1;   // always 1 in V4 (key = value)
  int64_t headDim = 0;
  int64_t qkRopeHeadDim = 0;      // rope_head_dim
  int64_t qLoraRank = 0;
  int64_t oGroups = 0;
  int64_t oLoraRank = 0;
  int64_t slidingWindow = 0;      // window_size
  std::vector<int64_t> compressRatios; // one per layer, then one per MTP layer
  double ropeTheta = 0;
  double compressRopeTheta = 0;
  std::optional<YarnScaling> ropeScaling;
  int64_t indexNHeads = 0;
  int64_t indexHeadDim = 0;
  int64_t indexTopk = 0;
  int64_t nRoutedExperts = 0;
  int64_t nSharedExperts = 0;
  int64_t numExpertsPerTok = 0;
  int64_t moeIntermediateSize = 0; // moe_inter_dim
  int64_t numHashLayers = 0;       // n_hash_layers
  std::string scoringFunc;         // "sqrtsoftplus"
  std::string topkMethod;          // "noaux_tc"
  bool normTopkProb = true;
  double routedScalingFactor = 1.0; // route_scale
  double swigluLimit = 0;
  int64_t hcMult = 0;
  int64_t hcSinkhornIters = 0;
  double hcEps = 0;
  int64_t numNextnPredictLayers = 0;
  int64_t maxPositionEmbeddings = 0;
  double rmsNormEps = 0;
  int64_t bosTokenId = 0;         // optional in the file; the releases use 0 / 1
  int64_t eosTokenId = 1;
  std::string expertDtype;        // "fp4" (packed E2M1), "fp8", or "" (experts stored like the other linears)
  /// quantization_config: present in the FP8 releases; absent for BF16 checkpoints.
  bool fp8Weights = false;
  std::string scaleFmt;           // "ue8m0" (E8M0 scale tensors) or "" (F32 scales)
  int64_t weightBlockRows = 128, weightBlockCols = 128;

  int64_t numLayersWithMtp() const { return numHiddenLayers + numNextnPredictLayers; }
  bool fp4Experts() const { return expertDtype == "fp4"; }
};

/// Parses and validates config.json text. `source` names the file in error messages.
/// Every field is checked for presence, type and consistency; errors name the field.
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef jsonText, llvm::StringRef source);

/// Reads `path` (a config.json) and parses it.
llvm::Expected<ModelConfig> loadModelConfig(llvm::StringRef path);

/// Serializes a config in the Hugging Face layout (used by the synthetic checkpoint generator).
std::string modelConfigToJson(const ModelConfig &config);

} // namespace v4c
