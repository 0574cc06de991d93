// Reading, checking and writing the DeepSeek-V4 `config.json` (MODEL.md §6.2).
//
// The parser reads every field the struct holds with a strict type check, then checks the values
// against each other. It stops at the first problem and names the field(s) involved, so a bad or
// foreign config fails here instead of as a shape mismatch deep inside the importer.
#include "frontend/checkpoint/ModelConfig.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace v4c {

namespace {

using llvm::json::Value;

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

llvm::StringRef kindName(const Value &value) {
  switch (value.kind()) {
  case Value::Null: return "null";
  case Value::Boolean: return "boolean";
  case Value::Number: return "number";
  case Value::String: return "string";
  case Value::Array: return "array";
  case Value::Object: return "object";
  }
  return "?";
}

/// Shortest text that reads back to the same double, spelled like Python's float repr ("10.0",
/// "1.5", "1e-06") so written configs look like the Hugging Face ones. JSON has no NaN/inf:
/// those become null, which parseModelConfig rejects with the field's name.
std::string formatDouble(double value) {
  if (!std::isfinite(value))
    return "null";
  char buffer[64];
  if (value == std::floor(value) && std::fabs(value) < 1e16) {
    std::snprintf(buffer, sizeof(buffer), "%.1f", value);
    return buffer;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value)
      break;
  }
  return buffer;
}

/// A number as shown in error messages; unlike formatDouble, spells out the non-finite values.
std::string describeNumber(double value) {
  if (std::isnan(value))
    return "NaN";
  if (std::isinf(value))
    return value > 0 ? "inf" : "-inf";
  return formatDouble(value);
}

/// Collects the first problem found; everything after it is skipped, so readers and checks can
/// run straight through without testing for errors after every call.
class Diagnostics {
public:
  explicit Diagnostics(llvm::StringRef source) : source(source.str()) {}

  bool failed() const { return !message.empty(); }
  void fail(const llvm::Twine &problem) {
    if (!failed())
      message = (source + ": " + problem).str();
  }
  void check(bool ok, const llvm::Twine &problem) {
    if (!ok)
      fail(problem);
  }
  llvm::Error takeError() const {
    return failed() ? makeError(message) : llvm::Error::success();
  }

private:
  std::string source;
  std::string message;
};

enum class Presence { Required, Optional };

/// Typed access to the fields of one JSON object. `prefix` qualifies the names in messages
/// ("rope_scaling." gives 'rope_scaling.factor'). Optional fields that are absent or null leave
/// the output untouched and return false.
class ObjectReader {
public:
  ObjectReader(const llvm::json::Object &object, std::string prefix, Diagnostics &diag)
      : object(object), prefix(std::move(prefix)), diag(diag) {}

  bool integer(llvm::StringRef key, int64_t &out, Presence presence = Presence::Required) {
    const Value *value = find(key, presence);
    return value && toInteger(*value, name(key), out);
  }

  /// Doubles may be written as JSON integers ("rope_theta": 10000); NaN/inf are rejected
  /// (llvm::json reads an overflowing literal such as 1e999 as inf).
  bool number(llvm::StringRef key, double &out, Presence presence = Presence::Required) {
    const Value *value = find(key, presence);
    if (!value)
      return false;
    std::optional<double> number = value->getAsNumber();
    if (!number) {
      diag.fail("field '" + name(key) + "' must be a number, got " + kindName(*value));
      return false;
    }
    if (!std::isfinite(*number)) {
      diag.fail("field '" + name(key) + "' must be a finite number, got " +
                describeNumber(*number));
      return false;
    }
    out = *number;
    return true;
  }

  bool boolean(llvm::StringRef key, bool &out, Presence presence = Presence::Required) {
    const Value *value = find(key, presence);
    if (!value)
      return false;
    std::optional<bool> flag = value->getAsBoolean();
    if (!flag) {
      diag.fail("field '" + name(key) + "' must be a boolean, got " + kindName(*value));
      return false;
    }
    out = *flag;
    return true;
  }

  bool string(llvm::StringRef key, std::string &out, Presence presence = Presence::Required) {
    const Value *value = find(key, presence);
    if (!value)
      return false;
    std::optional<llvm::StringRef> text = value->getAsString();
    if (!text) {
      diag.fail("field '" + name(key) + "' must be a string, got " + kindName(*value));
      return false;
    }
    out = text->str();
    return true;
  }

  bool integerList(llvm::StringRef key, std::vector<int64_t> &out,
                   Presence presence = Presence::Required) {
    const Value *value = find(key, presence);
    if (!value)
      return false;
    const llvm::json::Array *array = value->getAsArray();
    if (!array) {
      diag.fail("field '" + name(key) + "' must be an array of integers, got " +
                kindName(*value));
      return false;
    }
    std::vector<int64_t> result;
    for (auto [index, element] : llvm::enumerate(*array)) {
      int64_t item = 0;
      if (!toInteger(element, name(key) + "[" + std::to_string(index) + "]", item))
        return false;
      result.push_back(item);
    }
    out = std::move(result);
    return true;
  }

  /// A nested object; nullptr when absent/null (optional) or on error.
  const llvm::json::Object *nestedObject(llvm::StringRef key,
                                         Presence presence = Presence::Required) {
    const Value *value = find(key, presence);
    if (!value)
      return nullptr;
    const llvm::json::Object *nested = value->getAsObject();
    if (!nested)
      diag.fail("field '" + name(key) + "' must be an object, got " + kindName(*value));
    return nested;
  }

  std::string name(llvm::StringRef key) const { return prefix + key.str(); }

private:
  const Value *find(llvm::StringRef key, Presence presence) {
    if (diag.failed())
      return nullptr;
    const Value *value = object.get(key);
    if (presence == Presence::Optional && value && value->kind() == Value::Null)
      return nullptr; // HF writes Python None as null: same as absent.
    if (!value && presence == Presence::Required)
      diag.fail("missing field '" + name(key) + "'");
    return value;
  }

  /// Every integer in the config is a size, count, ratio or token id, so negatives are type
  /// errors here. A JSON number with a fraction or exponent ("128.0", "1e3") is not an integer
  /// even when its value is integral: llvm::json only keeps plain digit strings as integers.
  bool toInteger(const Value &value, const std::string &field, int64_t &out) {
    if (std::optional<uint64_t> unsignedValue = value.getAsUINT64()) {
      if (*unsignedValue > uint64_t(std::numeric_limits<int64_t>::max())) {
        diag.fail("field '" + field + "' is out of range, got " + std::to_string(*unsignedValue));
        return false;
      }
      out = int64_t(*unsignedValue);
      return true;
    }
    if (value.kind() != Value::Number) {
      diag.fail("field '" + field + "' must be an integer, got " + kindName(value));
      return false;
    }
    double number = *value.getAsNumber();
    if (number < 0) {
      std::optional<int64_t> integral = value.getAsInteger();
      diag.fail("field '" + field + "' must be a non-negative integer, got " +
                (integral ? std::to_string(*integral) : describeNumber(number)));
      return false;
    }
    diag.fail("field '" + field + "' must be an integer, got float " + describeNumber(number));
    return false;
  }

  const llvm::json::Object &object;
  std::string prefix;
  Diagnostics &diag;
};

constexpr llvm::StringLiteral kModelType = "deepseek_v4";

void checkModelType(const std::string &modelType, Diagnostics &diag) {
  diag.check(modelType == kModelType,
             "model_type '" + modelType + "' is not supported: v4c imports DeepSeek-V4 " +
                 "checkpoints (model_type '" + kModelType +
                 "'); import of the DeepSeek-V3 family (deepseek_v3, deepseek_v32) is not " +
                 "implemented yet");
}

/// rope_scaling: absent/null (no YaRN) or {"type": "yarn", factor, original_max_position_embeddings,
/// beta_fast, beta_slow}. Newer transformers spell the type key "rope_type"; both are accepted.
void readRopeScaling(ObjectReader &top, Diagnostics &diag, ModelConfig &config) {
  const llvm::json::Object *object = top.nestedObject("rope_scaling", Presence::Optional);
  if (!object)
    return;
  ObjectReader reader(*object, "rope_scaling.", diag);
  std::string type;
  if (!reader.string("type", type, Presence::Optional) &&
      !reader.string("rope_type", type, Presence::Optional))
    diag.fail("missing field 'rope_scaling.type'");
  if (diag.failed())
    return;
  diag.check(type == "yarn", "rope_scaling type '" + type + "' is not supported; V4 uses 'yarn'");
  YarnScaling yarn;
  reader.number("factor", yarn.factor);
  reader.integer("original_max_position_embeddings", yarn.originalMaxPositionEmbeddings);
  reader.number("beta_fast", yarn.betaFast);
  reader.number("beta_slow", yarn.betaSlow);
  config.ropeScaling = yarn;
}

/// quantization_config: present in the FP8 releases ({quant_method fp8, fmt e4m3,
/// activation_scheme dynamic, scale_fmt ue8m0, weight_block_size [128, 128]}), absent in BF16 ones.
void readQuantization(ObjectReader &top, Diagnostics &diag, ModelConfig &config) {
  const llvm::json::Object *object = top.nestedObject("quantization_config", Presence::Optional);
  if (!object)
    return;
  ObjectReader reader(*object, "quantization_config.", diag);
  std::string method, format, activationScheme;
  std::vector<int64_t> blockSize;
  reader.string("quant_method", method);
  reader.string("fmt", format);
  bool hasActivationScheme = reader.string("activation_scheme", activationScheme,
                                           Presence::Optional);
  reader.string("scale_fmt", config.scaleFmt, Presence::Optional);
  reader.integerList("weight_block_size", blockSize);
  if (diag.failed())
    return;

  diag.check(method == "fp8", "quantization_config.quant_method '" + method +
                                  "' is not supported; expected 'fp8'");
  diag.check(format == "e4m3", "quantization_config.fmt '" + format +
                                   "' is not supported; expected 'e4m3'");
  // The reference quantizes activations on the fly; a static scheme would need scales we never load.
  diag.check(!hasActivationScheme || activationScheme == "dynamic",
             "quantization_config.activation_scheme '" + activationScheme +
                 "' is not supported; expected 'dynamic'");
  diag.check(config.scaleFmt.empty() || config.scaleFmt == "ue8m0",
             "quantization_config.scale_fmt '" + config.scaleFmt +
                 "' is not supported; expected 'ue8m0' or no scale_fmt (F32 scales)");
  diag.check(blockSize.size() == 2,
             "quantization_config.weight_block_size must be [rows, cols], got " +
                 llvm::Twine(blockSize.size()) + " entries");
  if (diag.failed())
    return;
  diag.check(blockSize[0] > 0 && blockSize[1] > 0,
             "quantization_config.weight_block_size entries must be positive");
  config.fp8Weights = true;
  config.weightBlockRows = blockSize[0];
  config.weightBlockCols = blockSize[1];
}

/// Fields the struct does not keep but whose other values would change the model. Each is
/// optional; if present it must hold the value every V4 release ships.
void checkFixedFields(ObjectReader &top, Diagnostics &diag) {
  std::string hiddenAct;
  if (top.string("hidden_act", hiddenAct, Presence::Optional))
    diag.check(hiddenAct == "silu", "hidden_act '" + hiddenAct +
                                        "' is not supported; V4 experts use 'silu' (SwiGLU)");
  bool flag = false;
  if (top.boolean("attention_bias", flag, Presence::Optional))
    diag.check(!flag, "attention_bias true is not supported; V4 projections have no bias");
  if (top.boolean("tie_word_embeddings", flag, Presence::Optional))
    diag.check(!flag, "tie_word_embeddings true is not supported; V4 checkpoints carry a "
                      "separate head.weight");
}

void checkPositive(Diagnostics &diag, llvm::StringRef field, int64_t value) {
  diag.check(value > 0, field + " must be positive, got " + llvm::Twine(value));
}

/// Cross-field consistency (MODEL.md §6.2-§6.6). Runs only on a fully read config.
void validate(const ModelConfig &c, Diagnostics &diag) {
  checkPositive(diag, "vocab_size", c.vocabSize);
  checkPositive(diag, "hidden_size", c.hiddenSize);
  checkPositive(diag, "num_hidden_layers", c.numHiddenLayers);
  checkPositive(diag, "num_attention_heads", c.numAttentionHeads);
  checkPositive(diag, "head_dim", c.headDim);
  checkPositive(diag, "qk_rope_head_dim", c.qkRopeHeadDim);
  checkPositive(diag, "q_lora_rank", c.qLoraRank);
  checkPositive(diag, "o_groups", c.oGroups);
  checkPositive(diag, "o_lora_rank", c.oLoraRank);
  checkPositive(diag, "sliding_window", c.slidingWindow);
  checkPositive(diag, "index_n_heads", c.indexNHeads);
  checkPositive(diag, "index_head_dim", c.indexHeadDim);
  checkPositive(diag, "index_topk", c.indexTopk);
  checkPositive(diag, "n_routed_experts", c.nRoutedExperts);
  checkPositive(diag, "num_experts_per_tok", c.numExpertsPerTok);
  checkPositive(diag, "moe_intermediate_size", c.moeIntermediateSize);
  checkPositive(diag, "hc_mult", c.hcMult);
  checkPositive(diag, "hc_sinkhorn_iters", c.hcSinkhornIters);
  checkPositive(diag, "max_position_embeddings", c.maxPositionEmbeddings);
  if (diag.failed())
    return; // The checks below divide by and compare against these.

  diag.check(c.numKeyValueHeads == 1,
             "num_key_value_heads must be 1 (V4 attends to one shared key/value head), got " +
                 llvm::Twine(c.numKeyValueHeads));

  // One ratio per decoder layer, then one per MTP layer. 0 = sliding window only; m >= 2
  // compresses every m tokens into one entry (4 = CSA with overlap and indexer, 128 = HCA).
  // Other ratios >= 2 are accepted: the compressor math is written for any m.
  int64_t expectedRatios = c.numLayersWithMtp();
  diag.check(int64_t(c.compressRatios.size()) == expectedRatios,
             "compress_ratios has " + llvm::Twine(c.compressRatios.size()) +
                 " entries; expected num_hidden_layers + num_nextn_predict_layers = " +
                 llvm::Twine(c.numHiddenLayers) + " + " + llvm::Twine(c.numNextnPredictLayers) +
                 " = " + llvm::Twine(expectedRatios));
  for (auto [layer, ratio] : llvm::enumerate(c.compressRatios))
    diag.check(ratio == 0 || ratio >= 2,
               "compress_ratios[" + llvm::Twine(layer) + "] is " + llvm::Twine(ratio) +
                   "; a ratio must be 0 (sliding window only) or at least 2");

  diag.check(c.numAttentionHeads % c.oGroups == 0,
             "num_attention_heads (" + llvm::Twine(c.numAttentionHeads) +
                 ") must be divisible by o_groups (" + llvm::Twine(c.oGroups) + ")");

  // RoPE rotates pairs in the last qk_rope_head_dim dims; the rest are FP8 round-tripped in
  // 64-wide groups (KV QAT, MODEL.md §6.4 step 2).
  diag.check(c.qkRopeHeadDim % 2 == 0,
             "qk_rope_head_dim (" + llvm::Twine(c.qkRopeHeadDim) +
                 ") must be even (RoPE rotates pairs)");
  diag.check(c.qkRopeHeadDim < c.headDim,
             "qk_rope_head_dim (" + llvm::Twine(c.qkRopeHeadDim) +
                 ") must be smaller than head_dim (" + llvm::Twine(c.headDim) + ")");
  diag.check((c.headDim - c.qkRopeHeadDim) % 64 == 0,
             "head_dim - qk_rope_head_dim (" + llvm::Twine(c.headDim) + " - " +
                 llvm::Twine(c.qkRopeHeadDim) +
                 ") must be a multiple of 64 (the KV FP8 round-trip uses 64-wide groups)");

  // The indexer ropes its last qk_rope_head_dim dims and then applies a Hadamard transform.
  diag.check(c.indexHeadDim > c.qkRopeHeadDim,
             "index_head_dim (" + llvm::Twine(c.indexHeadDim) +
                 ") must be larger than qk_rope_head_dim (" + llvm::Twine(c.qkRopeHeadDim) + ")");
  diag.check(llvm::isPowerOf2_64(uint64_t(c.indexHeadDim)),
             "index_head_dim (" + llvm::Twine(c.indexHeadDim) +
                 ") must be a power of two (the indexer applies a Hadamard transform)");

  diag.check(c.numExpertsPerTok <= c.nRoutedExperts,
             "num_experts_per_tok (" + llvm::Twine(c.numExpertsPerTok) +
                 ") must not exceed n_routed_experts (" + llvm::Twine(c.nRoutedExperts) + ")");
  diag.check(c.numHashLayers <= c.numHiddenLayers,
             "num_hash_layers (" + llvm::Twine(c.numHashLayers) +
                 ") must not exceed num_hidden_layers (" + llvm::Twine(c.numHiddenLayers) + ")");
  diag.check(c.scoringFunc == "sqrtsoftplus",
             "scoring_func '" + c.scoringFunc + "' is not supported; V4 uses 'sqrtsoftplus'");
  diag.check(c.topkMethod == "noaux_tc",
             "topk_method '" + c.topkMethod + "' is not supported; V4 uses 'noaux_tc'");

  diag.check(c.rmsNormEps > 0, "rms_norm_eps must be positive");
  diag.check(c.hcEps >= 0, "hc_eps must not be negative");
  diag.check(c.ropeTheta > 0, "rope_theta must be positive");
  diag.check(c.compressRopeTheta > 0, "compress_rope_theta must be positive");
  diag.check(c.routedScalingFactor > 0, "routed_scaling_factor must be positive");
  diag.check(c.swigluLimit >= 0, "swiglu_limit must not be negative (0 disables the clamp)");
  diag.check(c.bosTokenId < c.vocabSize, "bos_token_id (" + llvm::Twine(c.bosTokenId) +
                                             ") must be below vocab_size (" +
                                             llvm::Twine(c.vocabSize) + ")");
  diag.check(c.eosTokenId < c.vocabSize, "eos_token_id (" + llvm::Twine(c.eosTokenId) +
                                             ") must be below vocab_size (" +
                                             llvm::Twine(c.vocabSize) + ")");

  if (c.ropeScaling) {
    const YarnScaling &yarn = *c.ropeScaling;
    diag.check(yarn.factor > 0, "rope_scaling.factor must be positive");
    diag.check(yarn.originalMaxPositionEmbeddings > 0,
               "rope_scaling.original_max_position_embeddings must be positive");
    diag.check(yarn.betaSlow > 0, "rope_scaling.beta_slow must be positive");
    // YaRN ramps between the dims that beta_fast and beta_slow select; reversed, the ramp inverts.
    diag.check(yarn.betaFast > yarn.betaSlow,
               "rope_scaling.beta_fast must be larger than rope_scaling.beta_slow");
  }

  diag.check(c.expertDtype.empty() || c.expertDtype == "fp4" || c.expertDtype == "fp8",
             "expert_dtype '" + c.expertDtype + "' is not supported; expected 'fp4' or 'fp8'");
  diag.check(c.expertDtype != "fp8" || c.fp8Weights,
             "expert_dtype 'fp8' needs a quantization_config (FP8 block size and scale format)");
  // FP4 experts pack two values per byte along K with one E8M0 scale per 32 inputs.
  if (c.fp4Experts()) {
    diag.check(c.hiddenSize % 32 == 0,
               "hidden_size (" + llvm::Twine(c.hiddenSize) +
                   ") must be a multiple of 32 for expert_dtype 'fp4' (32-wide scale groups)");
    diag.check(c.moeIntermediateSize % 32 == 0,
               "moe_intermediate_size (" + llvm::Twine(c.moeIntermediateSize) +
                   ") must be a multiple of 32 for expert_dtype 'fp4' (32-wide scale groups)");
  }
}

} // namespace

llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef jsonText, llvm::StringRef source) {
  llvm::Expected<Value> root = llvm::json::parse(jsonText);
  if (!root) // The parse error carries [line:column, byte=offset].
    return makeError(source + ": malformed JSON: " + llvm::toString(root.takeError()));
  const llvm::json::Object *top = root->getAsObject();
  if (!top)
    return makeError(source + ": top level must be a JSON object, got " + kindName(*root));

  Diagnostics diag(source);
  ObjectReader reader(*top, "", diag);
  ModelConfig c;
  // model_type first: a V3 or foreign config should say so, not report a missing V4 field.
  if (reader.string("model_type", c.modelType))
    checkModelType(c.modelType, diag);

  reader.integer("vocab_size", c.vocabSize);
  reader.integer("hidden_size", c.hiddenSize);
  reader.integer("num_hidden_layers", c.numHiddenLayers);
  reader.integer("num_attention_heads", c.numAttentionHeads);
  reader.integer("num_key_value_heads", c.numKeyValueHeads);
  reader.integer("head_dim", c.headDim);
  reader.integer("qk_rope_head_dim", c.qkRopeHeadDim);
  reader.integer("q_lora_rank", c.qLoraRank);
  reader.integer("o_groups", c.oGroups);
  reader.integer("o_lora_rank", c.oLoraRank);
  reader.integer("sliding_window", c.slidingWindow);
  reader.integerList("compress_ratios", c.compressRatios);
  reader.number("rope_theta", c.ropeTheta);
  reader.number("compress_rope_theta", c.compressRopeTheta);
  readRopeScaling(reader, diag, c);
  reader.integer("index_n_heads", c.indexNHeads);
  reader.integer("index_head_dim", c.indexHeadDim);
  reader.integer("index_topk", c.indexTopk);
  reader.integer("n_routed_experts", c.nRoutedExperts);
  reader.integer("n_shared_experts", c.nSharedExperts);
  reader.integer("num_experts_per_tok", c.numExpertsPerTok);
  reader.integer("moe_intermediate_size", c.moeIntermediateSize);
  reader.integer("num_hash_layers", c.numHashLayers);
  reader.string("scoring_func", c.scoringFunc);
  reader.string("topk_method", c.topkMethod);
  reader.boolean("norm_topk_prob", c.normTopkProb);
  reader.number("routed_scaling_factor", c.routedScalingFactor);
  reader.number("swiglu_limit", c.swigluLimit);
  reader.integer("hc_mult", c.hcMult);
  reader.integer("hc_sinkhorn_iters", c.hcSinkhornIters);
  reader.number("hc_eps", c.hcEps);
  reader.integer("num_nextn_predict_layers", c.numNextnPredictLayers);
  reader.integer("max_position_embeddings", c.maxPositionEmbeddings);
  reader.number("rms_norm_eps", c.rmsNormEps);
  reader.integer("bos_token_id", c.bosTokenId, Presence::Optional);
  reader.integer("eos_token_id", c.eosTokenId, Presence::Optional);
  reader.string("expert_dtype", c.expertDtype, Presence::Optional);
  readQuantization(reader, diag, c);
  checkFixedFields(reader, diag);

  if (!diag.failed())
    validate(c, diag);
  if (diag.failed())
    return diag.takeError();
  return c;
}

llvm::Expected<ModelConfig> loadModelConfig(llvm::StringRef path) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return makeError(path + ": cannot read model config: " + buffer.getError().message());
  return parseModelConfig((*buffer)->getBuffer(), path);
}

std::string modelConfigToJson(const ModelConfig &c) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::json::OStream json(os, /*IndentSize=*/2);
  auto number = [&](llvm::StringRef key, double value) {
    json.attributeBegin(key);
    json.rawValue(formatDouble(value));
    json.attributeEnd();
  };

  // Same keys and order as the released files: alphabetical, with the two compress_* keys
  // appended at the end. Training-only keys (initializer_range, transformers_version) are left out.
  json.object([&] {
    json.attributeArray("architectures", [&] { json.value("DeepseekV4ForCausalLM"); });
    json.attribute("attention_bias", false);
    number("attention_dropout", 0.0);
    json.attribute("bos_token_id", c.bosTokenId);
    json.attribute("eos_token_id", c.eosTokenId);
    if (!c.expertDtype.empty())
      json.attribute("expert_dtype", c.expertDtype);
    number("hc_eps", c.hcEps);
    json.attribute("hc_mult", c.hcMult);
    json.attribute("hc_sinkhorn_iters", c.hcSinkhornIters);
    json.attribute("head_dim", c.headDim);
    json.attribute("hidden_act", "silu");
    json.attribute("hidden_size", c.hiddenSize);
    json.attribute("index_head_dim", c.indexHeadDim);
    json.attribute("index_n_heads", c.indexNHeads);
    json.attribute("index_topk", c.indexTopk);
    json.attribute("max_position_embeddings", c.maxPositionEmbeddings);
    json.attribute("model_type", c.modelType);
    json.attribute("moe_intermediate_size", c.moeIntermediateSize);
    json.attribute("n_routed_experts", c.nRoutedExperts);
    json.attribute("n_shared_experts", c.nSharedExperts);
    json.attribute("norm_topk_prob", c.normTopkProb);
    json.attribute("num_attention_heads", c.numAttentionHeads);
    json.attribute("num_experts_per_tok", c.numExpertsPerTok);
    json.attribute("num_hidden_layers", c.numHiddenLayers);
    json.attribute("num_hash_layers", c.numHashLayers);
    json.attribute("num_key_value_heads", c.numKeyValueHeads);
    json.attribute("num_nextn_predict_layers", c.numNextnPredictLayers);
    json.attribute("o_groups", c.oGroups);
    json.attribute("o_lora_rank", c.oLoraRank);
    json.attribute("q_lora_rank", c.qLoraRank);
    json.attribute("qk_rope_head_dim", c.qkRopeHeadDim);
    if (c.fp8Weights) {
      json.attributeObject("quantization_config", [&] {
        json.attribute("activation_scheme", "dynamic");
        json.attribute("fmt", "e4m3");
        json.attribute("quant_method", "fp8");
        if (!c.scaleFmt.empty())
          json.attribute("scale_fmt", c.scaleFmt);
        json.attributeArray("weight_block_size", [&] {
          json.value(c.weightBlockRows);
          json.value(c.weightBlockCols);
        });
      });
    }
    number("rms_norm_eps", c.rmsNormEps);
    if (c.ropeScaling) {
      json.attributeObject("rope_scaling", [&] {
        number("beta_fast", c.ropeScaling->betaFast);
        number("beta_slow", c.ropeScaling->betaSlow);
        number("factor", c.ropeScaling->factor);
        json.attribute("original_max_position_embeddings",
                       c.ropeScaling->originalMaxPositionEmbeddings);
        json.attribute("type", "yarn");
      });
    }
    number("rope_theta", c.ropeTheta);
    number("routed_scaling_factor", c.routedScalingFactor);
    json.attribute("scoring_func", c.scoringFunc);
    json.attribute("sliding_window", c.slidingWindow);
    number("swiglu_limit", c.swigluLimit);
    json.attribute("tie_word_embeddings", false);
    json.attribute("topk_method", c.topkMethod);
    json.attribute("torch_dtype", "bfloat16");
    json.attribute("use_cache", true);
    json.attribute("vocab_size", c.vocabSize);
    number("compress_rope_theta", c.compressRopeTheta);
    // One line, as in the released files; one entry per line would run to 62 lines for Pro.
    json.attributeBegin("compress_ratios");
    json.rawValue([&](llvm::raw_ostream &out) {
      out << "[";
      llvm::interleaveComma(c.compressRatios, out);
      out << "]";
    });
    json.attributeEnd();
  });
  os << "\n";
  return text;
}

} // namespace v4c
