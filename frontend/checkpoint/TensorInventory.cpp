#include "frontend/checkpoint/TensorInventory.h"

#include "llvm/ADT/STLExtras.h"

namespace v4c {

bool TensorSpec::accepts(DType d) const {
  return d == dtype || llvm::is_contained(alsoAccepted, d);
}

std::vector<int64_t> TensorSpec::logicalShape() const {
  std::vector<int64_t> logical = shape;
  if (encoding == TensorEncoding::Fp4x2 && !logical.empty())
    logical.back() *= 2;
  return logical;
}

std::string layerPrefix(const ModelConfig &config, int64_t layer) {
  if (layer < config.numHiddenLayers)
    return "layers." + std::to_string(layer) + ".";
  return "mtp." + std::to_string(layer - config.numHiddenLayers) + ".";
}

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Appends tensors in inventory order; knows how each kind of weight is stored.
class InventoryBuilder {
public:
  explicit InventoryBuilder(const ModelConfig &config) : config(config) {}

  void plain(std::string name, std::vector<int64_t> shape, DType dtype,
             std::vector<DType> alsoAccepted = {}) {
    specs.push_back({std::move(name), std::move(shape), dtype, std::move(alsoAccepted),
                     TensorEncoding::Plain});
  }

  /// A linear layer `[out, in]` stored FP8 e4m3 with 128x128 block scales in quantized
  /// checkpoints (E8M0 scales when scale_fmt is ue8m0, F32 otherwise), BF16 in unquantized ones.
  void fp8Linear(const std::string &name, int64_t out, int64_t in) {
    if (!config.fp8Weights) {
      plain(name + ".weight", {out, in}, DType::BF16, {DType::F32});
      return;
    }
    plain(name + ".weight", {out, in}, DType::F8_E4M3);
    plain(name + ".scale",
          {ceilDiv(out, config.weightBlockRows), ceilDiv(in, config.weightBlockCols)},
          scaleDType(), {DType::F32, DType::F8_E8M0});
  }

  /// A routed expert's linear: FP4 e2m1 packed two per byte along K with one E8M0 scale per
  /// 32 inputs (MX-style), FP8 blocks when expert_dtype is fp8, BF16 when unquantized.
  void expertLinear(const std::string &name, int64_t out, int64_t in) {
    if (!config.fp4Experts()) {
      fp8Linear(name, out, in);
      return;
    }
    specs.push_back({name + ".weight", {out, in / 2}, DType::I8, {DType::U8},
                     TensorEncoding::Fp4x2});
    plain(name + ".scale", {out, in / 32}, DType::F8_E8M0);
  }

  /// A plain BF16 weight (norms, embedding, compressor, router); F32 also accepted.
  void bf16(std::string name, std::vector<int64_t> shape) {
    plain(std::move(name), std::move(shape), DType::BF16, {DType::F32});
  }
  void f32(std::string name, std::vector<int64_t> shape) {
    plain(std::move(name), std::move(shape), DType::F32);
  }

  /// hc_{attn,ffn,head}_{fn,base,scale}: the mHC mixing parameters (MODEL.md §6.4).
  void hyperConnection(const std::string &prefix, int64_t mixes, int64_t scales) {
    int64_t n = config.hcMult, d = config.hiddenSize;
    f32(prefix + "_fn", {mixes, n * d});
    f32(prefix + "_base", {mixes});
    f32(prefix + "_scale", {scales});
  }

  /// A KV compressor producing `headDim`-wide entries; overlapping (ratio 4) ones carry two
  /// candidate sets, hence twice the width.
  void compressor(const std::string &prefix, int64_t ratio, int64_t headDim) {
    int64_t width = (ratio == 4 ? 2 : 1) * headDim;
    bf16(prefix + "wkv.weight", {width, config.hiddenSize});
    bf16(prefix + "wgate.weight", {width, config.hiddenSize});
    f32(prefix + "ape", {ratio, width});
    bf16(prefix + "norm.weight", {headDim});
  }

  void decoderLayer(int64_t layer) {
    const ModelConfig &c = config;
    std::string p = layerPrefix(c, layer);
    int64_t d = c.hiddenSize, n = c.hcMult, heads = c.numAttentionHeads;
    int64_t ratio = c.compressRatios[layer];

    hyperConnection(p + "hc_attn", (2 + n) * n, 3);
    hyperConnection(p + "hc_ffn", (2 + n) * n, 3);
    bf16(p + "attn_norm.weight", {d});
    bf16(p + "ffn_norm.weight", {d});

    std::string a = p + "attn.";
    fp8Linear(a + "wq_a", c.qLoraRank, d);
    bf16(a + "q_norm.weight", {c.qLoraRank});
    fp8Linear(a + "wq_b", heads * c.headDim, c.qLoraRank);
    fp8Linear(a + "wkv", c.headDim, d);
    bf16(a + "kv_norm.weight", {c.headDim});
    fp8Linear(a + "wo_a", c.oGroups * c.oLoraRank, heads * c.headDim / c.oGroups);
    fp8Linear(a + "wo_b", d, c.oGroups * c.oLoraRank);
    f32(a + "attn_sink", {heads});
    if (ratio > 0)
      compressor(a + "compressor.", ratio, c.headDim);
    if (ratio == 4) {
      fp8Linear(a + "indexer.wq_b", c.indexNHeads * c.indexHeadDim, c.qLoraRank);
      bf16(a + "indexer.weights_proj.weight", {c.indexNHeads, d});
      compressor(a + "indexer.compressor.", ratio, c.indexHeadDim);
    }

    std::string f = p + "ffn.";
    bf16(f + "gate.weight", {c.nRoutedExperts, d});
    if (isHashLayer(layer))
      plain(f + "gate.tid2eid", {c.vocabSize, c.numExpertsPerTok}, DType::I64, {DType::I32});
    else
      f32(f + "gate.bias", {c.nRoutedExperts});
    for (int64_t e = 0; e < c.nRoutedExperts; ++e) {
      std::string x = f + "experts." + std::to_string(e) + ".";
      expertLinear(x + "w1", c.moeIntermediateSize, d);
      expertLinear(x + "w3", c.moeIntermediateSize, d);
      expertLinear(x + "w2", d, c.moeIntermediateSize);
    }
    int64_t shared = c.nSharedExperts * c.moeIntermediateSize;
    if (shared > 0) {
      fp8Linear(f + "shared_experts.w1", shared, d);
      fp8Linear(f + "shared_experts.w3", shared, d);
      fp8Linear(f + "shared_experts.w2", d, shared);
    }
  }

  /// Hash routing covers the first num_hash_layers main layers; MTP layers route by score.
  bool isHashLayer(int64_t layer) const {
    return layer < config.numHiddenLayers && layer < config.numHashLayers;
  }

  std::vector<TensorSpec> build() {
    const ModelConfig &c = config;
    int64_t d = c.hiddenSize, n = c.hcMult;
    bf16("embed.weight", {c.vocabSize, d});
    for (int64_t layer = 0; layer < c.numHiddenLayers; ++layer)
      decoderLayer(layer);
    bf16("norm.weight", {d});
    bf16("head.weight", {c.vocabSize, d});
    hyperConnection("hc_head", n, 1);
    for (int64_t layer = c.numHiddenLayers; layer < c.numLayersWithMtp(); ++layer) {
      std::string p = layerPrefix(c, layer);
      fp8Linear(p + "e_proj", d, d);
      fp8Linear(p + "h_proj", d, d);
      bf16(p + "enorm.weight", {d});
      bf16(p + "hnorm.weight", {d});
      bf16(p + "norm.weight", {d});
      hyperConnection(p + "hc_head", n, 1);
      decoderLayer(layer);
    }
    return std::move(specs);
  }

private:
  DType scaleDType() const { return config.scaleFmt == "ue8m0" ? DType::F8_E8M0 : DType::F32; }

  const ModelConfig &config;
  std::vector<TensorSpec> specs;
};

} // namespace

std::vector<TensorSpec> expectedTensors(const ModelConfig &config) {
  return InventoryBuilder(config).build();
}

} // namespace v4c

#include "frontend/checkpoint/Safetensors.h"

#include <cmath>
#include <cstring>
#include <unordered_set>

namespace v4c {

namespace {
std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// The first non-finite value of a scale tensor, or -1.
int64_t firstBadScale(const TensorInfo &info, llvm::ArrayRef<uint8_t> bytes) {
  if (info.dtype == DType::F8_E8M0) {
    for (size_t i = 0; i < bytes.size(); ++i)
      if (bytes[i] == 0xFF) // the only E8M0 NaN code
        return i;
  } else if (info.dtype == DType::F32) {
    for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
      float v;
      std::memcpy(&v, bytes.data() + i, 4);
      if (!std::isfinite(v))
        return i / 4;
    }
  }
  return -1;
}
} // namespace

llvm::Expected<size_t> validateCheckpointTensors(const Checkpoint &checkpoint,
                                                 llvm::ArrayRef<TensorSpec> specs) {
  std::unordered_set<std::string> expected;
  for (const TensorSpec &spec : specs) {
    expected.insert(spec.name);
    const TensorInfo *info = checkpoint.find(spec.name);
    if (!info)
      return llvm::createStringError("%s: tensor '%s' is missing (the config needs it with shape "
                                     "%s, %s)",
                                     checkpoint.dir().str().c_str(), spec.name.c_str(),
                                     shapeString(spec.shape).c_str(),
                                     dtypeName(spec.dtype).str().c_str());
    std::string file = checkpoint.files()[info->file]->path().str();
    if (info->shape != spec.shape)
      return llvm::createStringError("%s: tensor '%s' has shape %s, but the config needs %s",
                                     file.c_str(), spec.name.c_str(),
                                     shapeString(info->shape).c_str(),
                                     shapeString(spec.shape).c_str());
    if (!spec.accepts(info->dtype))
      return llvm::createStringError("%s: tensor '%s' has dtype %s, expected %s", file.c_str(),
                                     spec.name.c_str(), dtypeName(info->dtype).str().c_str(),
                                     dtypeName(spec.dtype).str().c_str());
    if (llvm::StringRef(spec.name).ends_with(".scale")) {
      int64_t bad = firstBadScale(*info, checkpoint.bytes(*info));
      if (bad >= 0)
        return llvm::createStringError("%s: scale tensor '%s' holds NaN/Inf at element %lld; "
                                       "rejected, since it would poison whole weight blocks",
                                       file.c_str(), spec.name.c_str(), (long long)bad);
    }
  }
  size_t unused = 0;
  for (const TensorInfo *info : checkpoint.tensors())
    unused += !expected.count(info->name);
  return unused;
}

} // namespace v4c
