// The V4 forward pass, transcribed from MODEL.md §6.4-§6.7. Activations are row-major fp32
// arrays; names follow the equations. One call processes T tokens at positions
// start..start+T-1 and updates the decode state (window ring, compressors, caches).
#include "runtime/reference/ReferenceModel.h"

#include "frontend/checkpoint/TensorInventory.h"
#include "runtime/reference/Kernels.h"
#include "runtime/reference/Weights.h"

#include "llvm/Support/ErrorHandling.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace v4c::reference {
namespace {

using Rows = std::vector<float>; // row-major [rows, cols]

/// A compressor's decode state (MODEL.md §6.5): kv and score rows of the incomplete block and,
/// for overlapping compressors, of the previous block; and every entry emitted so far.
struct CompressorState {
  Rows kv, score;         // rows of the current block, [< ratio, width]
  Rows prevKv, prevScore; // rows of the previous complete block (overlap only)
  Rows entries;           // [count, headDim]
  int64_t count = 0;
};

struct LayerState {
  Rows window; // ring of raw KV, slot = position mod W
  CompressorState kv, index;
};

class ReferenceModel final : public ReferenceEngine {
public:
  ReferenceModel(const Checkpoint &checkpoint, PrecisionMode mode)
      : cfg(checkpoint.config()), faithful(mode == PrecisionMode::Faithful),
        weights(checkpoint, cfg.weightBlockRows, cfg.weightBlockCols) {
    const YarnScaling yarn = cfg.ropeScaling.value_or(YarnScaling{});
    windowRope = ropeInvFreqs(cfg.qkRopeHeadDim, cfg.ropeTheta, 1.0, 0, 32, 1);
    compressRope = ropeInvFreqs(cfg.qkRopeHeadDim, cfg.compressRopeTheta, yarn.factor,
                                yarn.originalMaxPositionEmbeddings, yarn.betaFast, yarn.betaSlow);
    reset();
  }

  int64_t vocabSize() const override { return cfg.vocabSize; }
  int64_t position() const override { return pos; }

  void reset() override {
    pos = 0;
    layers.assign(cfg.numLayersWithMtp(), LayerState());
    for (LayerState &layer : layers)
      layer.window.assign(cfg.slidingWindow * cfg.headDim, 0.0f);
  }

  bool checkTokens(const std::vector<int32_t> &tokens, std::string &error) const {
    for (int32_t token : tokens)
      if (token < 0 || token >= cfg.vocabSize) {
        error = "token id " + std::to_string(token) + " is outside the vocabulary [0, " +
                std::to_string(cfg.vocabSize) + ")";
        return false;
      }
    return true;
  }

  std::vector<float> forward(const std::vector<int32_t> &tokens, std::string &error) override {
    if (!checkTokens(tokens, error))
      return {};
    int64_t T = tokens.size();
    // Embedding, copied into the n residual streams.
    Rows streams(T * cfg.hcMult * cfg.hiddenSize);
    Rows embedded = embed(tokens);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < cfg.hcMult; ++j)
        std::copy_n(&embedded[t * cfg.hiddenSize], cfg.hiddenSize,
                    &streams[(t * cfg.hcMult + j) * cfg.hiddenSize]);
    for (int64_t layer = 0; layer < cfg.numHiddenLayers; ++layer)
      block(layer, streams, tokens, pos);
    lastStreams = streams;
    lastStart = pos;
    pos += T;
    return head(streams, T, "");
  }

  /// MTP module k (MODEL.md §6.4): the main model's last streams and the next tokens'
  /// embeddings, combined, through one more block and the module's own head.
  std::vector<float> mtpLogits(int64_t k, const std::vector<int32_t> &nextTokens,
                               std::string &error) override {
    int64_t T = nextTokens.size(), n = cfg.hcMult, d = cfg.hiddenSize;
    if (k < 0 || k >= cfg.numNextnPredictLayers) {
      error = "the model has no MTP module " + std::to_string(k);
      return {};
    }
    if (!checkTokens(nextTokens, error))
      return {};
    if (T * n * d != int64_t(lastStreams.size())) {
      error = "MTP needs one next token per position of the last forward call";
      return {};
    }
    int64_t layer = cfg.numHiddenLayers + k;
    std::string p = layerPrefix(cfg, layer);
    Rows e = embed(nextTokens);
    for (int64_t t = 0; t < T; ++t)
      rmsNorm(&e[t * d], d, w(p + "enorm.weight").data.data(), cfg.rmsNormEps);
    Rows hidden = lastStreams;
    for (int64_t r = 0; r < T * n; ++r)
      rmsNorm(&hidden[r * d], d, w(p + "hnorm.weight").data.data(), cfg.rmsNormEps);
    Rows eProj = linear(e, T, p + "e_proj"), hProj = linear(hidden, T * n, p + "h_proj");
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < d; ++c)
          hProj[(t * n + j) * d + c] += eProj[t * d + c];
    block(layer, hProj, nextTokens, lastStart);
    return head(hProj, T, p);
  }

  /// Hash routing indexes experts with tid2eid's values: they must name real experts.
  llvm::Error checkHashTables() {
    for (int64_t layer = 0; layer < std::min(cfg.numHashLayers, cfg.numHiddenLayers); ++layer) {
      std::string name = layerPrefix(cfg, layer) + "ffn.gate.tid2eid";
      auto table = weights.integers(name);
      if (!table)
        return table.takeError();
      for (size_t i = 0; i < table->size(); ++i)
        if ((*table)[i] < 0 || (*table)[i] >= cfg.nRoutedExperts)
          return llvm::createStringError("tensor '%s': element %zu is expert %lld, outside [0, "
                                         "%lld)",
                                         name.c_str(), i, (long long)(*table)[i],
                                         (long long)cfg.nRoutedExperts);
    }
    return llvm::Error::success();
  }

private:
  //===--------------------------------------------------------------------===//
  // Weights and linears
  //===--------------------------------------------------------------------===//

  /// Every tensor was checked against the config when the engine was created, so a missing
  /// one here is a bug in this file, not bad input.
  const Tensor &w(const std::string &name) {
    auto tensor = weights.get(name);
    if (!tensor)
      llvm::report_fatal_error(llvm::Twine("reference: ") + llvm::toString(tensor.takeError()));
    return *tensor;
  }

  /// y = x Wᵀ for the checkpoint linear `name`. Faithful mode quantizes each activation row
  /// to FP8 per 128 channels before FP8/FP4 weights, as DeepSeek's act_quant does (§6.6).
  Rows linear(const Rows &x, int64_t rows, const std::string &name) {
    return matmulWith(x, rows, w(name + ".weight"), faithful);
  }
  Rows matmulWith(const Rows &x, int64_t rows, const Tensor &weight, bool quantizeActivations) {
    int64_t k = weight.cols(), n = weight.rows();
    Rows y(rows * n);
    if (quantizeActivations && weight.quantized)
      blockScaledLinear(x.data(), rows, k, weight.data.data(), n, y.data());
    else
      matmul(x.data(), rows, k, weight.data.data(), n, y.data());
    return y;
  }

  Rows embed(const std::vector<int32_t> &tokens) {
    const Tensor &table = w("embed.weight");
    int64_t d = cfg.hiddenSize;
    Rows x(tokens.size() * d);
    for (size_t t = 0; t < tokens.size(); ++t)
      std::copy_n(&table.data[tokens[t] * d], d, &x[t * d]);
    return x;
  }

  const std::vector<float> &ropeFor(int64_t ratio) const {
    return ratio > 0 ? compressRope : windowRope;
  }

  //===--------------------------------------------------------------------===//
  // mHC (MODEL.md §6.4 "Residual stream")
  //===--------------------------------------------------------------------===//

  /// m = rms(vec X) · (Φ vec X) for one token's streams.
  Rows hcMixes(const float *streams, const Tensor &fn) {
    int64_t nd = cfg.hcMult * cfg.hiddenSize;
    double sumSq = 0;
    for (int64_t i = 0; i < nd; ++i)
      sumSq += double(streams[i]) * streams[i];
    float r = float(1.0 / std::sqrt(sumSq / nd + cfg.rmsNormEps));
    Rows m(fn.rows());
    matmul(streams, 1, nd, fn.data.data(), fn.rows(), m.data());
    for (float &v : m)
      v *= r;
    return m;
  }

  /// One sublayer F wrapped in mHC: pre-mix to y, F(Norm(y)), post-mix back into the streams.
  template <typename Sublayer>
  void hyperConnected(Rows &streams, int64_t T, const std::string &hc, const std::string &norm,
                      Sublayer sublayer) {
    int64_t n = cfg.hcMult, d = cfg.hiddenSize;
    const Tensor &fn = w(hc + "_fn"), &base = w(hc + "_base"), &scale = w(hc + "_scale");
    Rows y(T * d), post(T * n), comb(T * n * n);
    for (int64_t t = 0; t < T; ++t) {
      const float *X = &streams[t * n * d];
      Rows m = hcMixes(X, fn);
      float *pre = &y[t * d]; // reused below as the weighted sum
      std::vector<float> preWeights(n);
      for (int64_t j = 0; j < n; ++j) {
        preWeights[j] = sigmoid(scale.data[0] * m[j] + base.data[j]) + float(cfg.hcEps);
        post[t * n + j] = 2.0f * sigmoid(scale.data[1] * m[n + j] + base.data[n + j]);
      }
      float *R = &comb[t * n * n];
      for (int64_t i = 0; i < n * n; ++i)
        R[i] = scale.data[2] * m[2 * n + i] + base.data[2 * n + i];
      sinkhorn(R, n, cfg.hcSinkhornIters, cfg.hcEps);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < d; ++c)
          pre[c] += preWeights[j] * X[j * d + c];
      rmsNorm(pre, d, w(norm).data.data(), cfg.rmsNormEps);
    }
    Rows f = sublayer(y);
    // X'_k = post_k · f + Σ_j R[j, k] · X_j
    Rows next(streams.size());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < n; ++k)
        for (int64_t c = 0; c < d; ++c) {
          float v = post[t * n + k] * f[t * d + c];
          for (int64_t j = 0; j < n; ++j)
            v += comb[(t * n + j) * n + k] * streams[(t * n + j) * d + c];
          next[(t * n + k) * d + c] = v;
        }
    streams = std::move(next);
  }

  void block(int64_t layer, Rows &streams, const std::vector<int32_t> &tokens, int64_t start) {
    int64_t T = tokens.size();
    std::string p = layerPrefix(cfg, layer);
    hyperConnected(streams, T, p + "hc_attn", p + "attn_norm.weight",
                   [&](const Rows &x) { return attention(layer, x, T, start); });
    hyperConnected(streams, T, p + "hc_ffn", p + "ffn_norm.weight",
                   [&](const Rows &x) { return moe(layer, x, tokens); });
  }

  /// hc_head: pre_j = σ(α·m_j + b_j) + ε, y = Σ pre_j X_j; then the final norm and head.
  std::vector<float> head(const Rows &streams, int64_t T, const std::string &prefix) {
    int64_t n = cfg.hcMult, d = cfg.hiddenSize;
    const Tensor &fn = w(prefix + "hc_head_fn"), &base = w(prefix + "hc_head_base"),
                 &scale = w(prefix + "hc_head_scale");
    Rows y(T * d, 0.0f);
    for (int64_t t = 0; t < T; ++t) {
      const float *X = &streams[t * n * d];
      Rows m = hcMixes(X, fn);
      for (int64_t j = 0; j < n; ++j) {
        float pre = sigmoid(scale.data[0] * m[j] + base.data[j]) + float(cfg.hcEps);
        for (int64_t c = 0; c < d; ++c)
          y[t * d + c] += pre * X[j * d + c];
      }
      rmsNorm(&y[t * d], d, w(prefix + "norm.weight").data.data(), cfg.rmsNormEps);
    }
    return matmulWith(y, T, w("head.weight"), /*quantizeActivations=*/false);
  }

  //===--------------------------------------------------------------------===//
  // Attention (MODEL.md §6.4 "Attention", "Compressor", "Indexer")
  //===--------------------------------------------------------------------===//

  /// Runs a compressor over this call's tokens: complete blocks become entries (pooled,
  /// normalized, rotated at the block start, then QAT'd) appended to `state.entries`.
  void compress(CompressorState &state, const Rows &x, int64_t T, int64_t start,
                const std::string &prefix, int64_t ratio, int64_t headDim, bool indexer) {
    bool overlap = ratio == 4;
    int64_t width = (overlap ? 2 : 1) * headDim, rd = cfg.qkRopeHeadDim;
    Rows C = matmulWith(x, T, w(prefix + "wkv.weight"), false);
    Rows Z = matmulWith(x, T, w(prefix + "wgate.weight"), false);
    const Tensor &ape = w(prefix + "ape");
    const float *norm = w(prefix + "norm.weight").data.data();
    for (int64_t t = 0; t < T; ++t) {
      int64_t p = start + t;
      for (int64_t c = 0; c < width; ++c)
        Z[t * width + c] += ape.data[(p % ratio) * width + c];
      state.kv.insert(state.kv.end(), &C[t * width], &C[(t + 1) * width]);
      state.score.insert(state.score.end(), &Z[t * width], &Z[(t + 1) * width]);
      if ((p + 1) % ratio != 0)
        continue;

      Rows entry(headDim);
      poolCompressedEntry(state.kv.data(), state.score.data(), ratio, state.prevKv.data(),
                          state.prevScore.data(), state.prevKv.size() / width, width, headDim,
                          overlap, entry.data());
      rmsNorm(entry.data(), headDim, norm, cfg.rmsNormEps);
      applyRope(&entry[headDim - rd], ropeFor(ratio), p + 1 - ratio, false);
      if (indexer) {
        hadamard(entry.data(), headDim);
        if (faithful)
          fp4RoundTrip(entry.data(), headDim, 32);
      } else if (faithful) {
        fp8RoundTrip(entry.data(), headDim - rd, 64);
      }
      state.entries.insert(state.entries.end(), entry.begin(), entry.end());
      ++state.count;
      state.prevKv = std::move(state.kv);
      state.prevScore = std::move(state.score);
      state.kv.clear();
      state.score.clear();
    }
  }

  /// Compressed entries visible at position p: those whose block is complete.
  static int64_t visibleEntries(int64_t p, int64_t ratio) { return (p + 1) / ratio; }

  /// The lightning indexer of a CSA layer: for each query, the top-k compressed entries.
  std::vector<std::vector<int32_t>> indexer(int64_t layer, const Rows &x, const Rows &cq,
                                            int64_t T, int64_t start) {
    std::string a = layerPrefix(cfg, layer) + "attn.";
    int64_t heads = cfg.indexNHeads, di = cfg.indexHeadDim, rd = cfg.qkRopeHeadDim;
    CompressorState &keys = layers[layer].index;
    compress(keys, x, T, start, a + "indexer.compressor.", 4, di, /*indexer=*/true);

    Rows q = linear(cq, T, a + "indexer.wq_b");
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < heads; ++j) {
        float *qh = &q[(t * heads + j) * di];
        applyRope(qh + di - rd, ropeFor(4), start + t, false);
        hadamard(qh, di);
        if (faithful)
          fp4RoundTrip(qh, di, 32);
      }
    Rows weight = linear(x, T, a + "indexer.weights_proj");
    float weightScale = float(1.0 / std::sqrt(double(di)) / std::sqrt(double(heads)));

    std::vector<std::vector<int32_t>> picks(T);
    for (int64_t t = 0; t < T; ++t) {
      int64_t visible = visibleEntries(start + t, 4);
      Rows score = indexScores(&q[t * heads * di], &weight[t * heads], heads, di,
                               keys.entries.data(), visible, weightScale);
      picks[t] = topk(score.data(), visible, cfg.indexTopk);
    }
    return picks;
  }

  Rows attention(int64_t layer, const Rows &x, int64_t T, int64_t start) {
    std::string a = layerPrefix(cfg, layer) + "attn.";
    int64_t heads = cfg.numAttentionHeads, hd = cfg.headDim, rd = cfg.qkRopeHeadDim;
    int64_t ratio = cfg.compressRatios[layer], window = cfg.slidingWindow;
    const std::vector<float> &rope = ropeFor(ratio);
    LayerState &state = layers[layer];

    // q: LoRA, norm, per-head weightless RMS normalization, RoPE on the last rd dims.
    Rows cq = linear(x, T, a + "wq_a");
    for (int64_t t = 0; t < T; ++t)
      rmsNorm(&cq[t * cfg.qLoraRank], cfg.qLoraRank, w(a + "q_norm.weight").data.data(),
              cfg.rmsNormEps);
    Rows q = linear(cq, T, a + "wq_b");
    for (int64_t r = 0; r < T * heads; ++r) {
      rmsNorm(&q[r * hd], hd, nullptr, cfg.rmsNormEps);
      applyRope(&q[r * hd + hd - rd], rope, start + r / heads, false);
    }

    // The single KV head (key = value): norm, RoPE, FP8 round trip of the non-rope dims.
    Rows kv = linear(x, T, a + "wkv");
    for (int64_t t = 0; t < T; ++t) {
      float *row = &kv[t * hd];
      rmsNorm(row, hd, w(a + "kv_norm.weight").data.data(), cfg.rmsNormEps);
      applyRope(row + hd - rd, rope, start + t, false);
      if (faithful)
        fp8RoundTrip(row, hd - rd, 64);
    }

    std::vector<std::vector<int32_t>> picks;
    if (ratio > 0)
      compress(state.kv, x, T, start, a + "compressor.", ratio, hd, /*indexer=*/false);
    if (ratio == 4)
      picks = indexer(layer, x, cq, T, start);

    // Sparse attention over window ∪ compressed candidates, with the per-head sink.
    const float *sink = w(a + "attn_sink").data.data();
    float scale = float(1.0 / std::sqrt(double(hd)));
    Rows o(T * heads * hd, 0.0f);
    for (int64_t t = 0; t < T; ++t) {
      int64_t p = start + t;
      std::vector<const float *> candidates;
      for (int64_t s = std::max<int64_t>(0, p - window + 1); s <= p; ++s)
        candidates.push_back(s < start ? &state.window[(s % window) * hd] : &kv[(s - start) * hd]);
      if (ratio == 4) {
        for (int32_t i : picks[t])
          candidates.push_back(&state.kv.entries[i * hd]);
      } else if (ratio > 0) {
        for (int64_t i = 0; i < visibleEntries(p, ratio); ++i)
          candidates.push_back(&state.kv.entries[i * hd]);
      }
      for (int64_t h = 0; h < heads; ++h) {
        float *oh = &o[(t * heads + h) * hd];
        attendWithSink(&q[(t * heads + h) * hd], candidates, sink[h], scale, hd, oh);
        applyRope(oh + hd - rd, rope, p, /*inverse=*/true);
      }
    }
    // The window ring keeps the last W raw entries for later calls.
    for (int64_t t = std::max<int64_t>(0, T - window); t < T; ++t)
      std::copy_n(&kv[t * hd], hd, &state.window[((start + t) % window) * hd]);

    // Grouped low-rank output: group g maps its heads' outputs through its slice of wo_a
    // (a plain matmul, §6.7), then wo_b mixes the groups.
    int64_t groups = cfg.oGroups, rank = cfg.oLoraRank, groupIn = heads * hd / groups;
    const Tensor &woA = w(a + "wo_a.weight");
    Rows grouped(T * groups * rank);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t g = 0; g < groups; ++g)
        matmul(&o[t * heads * hd + g * groupIn], 1, groupIn, &woA.data[g * rank * groupIn], rank,
               &grouped[(t * groups + g) * rank]);
    return linear(grouped, T, a + "wo_b");
  }

  //===--------------------------------------------------------------------===//
  // MoE (MODEL.md §6.4 "MoE")
  //===--------------------------------------------------------------------===//

  /// SwiGLU expert with the clamp; `routing` scales the activation before the down projection.
  Rows expert(const std::string &prefix, const Rows &x, float routing) {
    Rows g = linear(x, 1, prefix + "w1"), up = linear(x, 1, prefix + "w3");
    float limit = float(cfg.swigluLimit);
    for (size_t i = 0; i < g.size(); ++i) {
      if (limit > 0) {
        up[i] = std::clamp(up[i], -limit, limit);
        g[i] = std::min(g[i], limit);
      }
      g[i] = silu(g[i]) * up[i] * routing;
    }
    return linear(g, 1, prefix + "w2");
  }

  Rows moe(int64_t layer, const Rows &u, const std::vector<int32_t> &tokens) {
    std::string f = layerPrefix(cfg, layer) + "ffn.";
    int64_t T = tokens.size(), d = cfg.hiddenSize, k = cfg.numExpertsPerTok;
    int64_t experts = cfg.nRoutedExperts;
    bool hash = layer < cfg.numHiddenLayers && layer < cfg.numHashLayers;
    Rows scores = matmulWith(u, T, w(f + "gate.weight"), false);
    for (float &s : scores)
      s = sqrtSoftplus(s);

    Rows y(T * d, 0.0f);
    for (int64_t t = 0; t < T; ++t) {
      const int64_t *hashIds = nullptr;
      if (hash) {
        auto table = weights.integers(f + "gate.tid2eid");
        if (!table)
          llvm::report_fatal_error(llvm::Twine("reference: ") + llvm::toString(table.takeError()));
        hashIds = &(*table)[tokens[t] * k];
      }
      const float *bias = hash ? nullptr : w(f + "gate.bias").data.data();
      Routing routing = route(&scores[t * experts], experts, bias, hashIds, k,
                              cfg.routedScalingFactor);
      Rows x(&u[t * d], &u[(t + 1) * d]);
      for (size_t j = 0; j < routing.experts.size(); ++j) {
        Rows out = expert(f + "experts." + std::to_string(routing.experts[j]) + ".", x,
                          routing.weights[j]);
        for (int64_t c = 0; c < d; ++c)
          y[t * d + c] += out[c];
      }
      if (cfg.nSharedExperts > 0) {
        Rows out = expert(f + "shared_experts.", x, 1.0f);
        for (int64_t c = 0; c < d; ++c)
          y[t * d + c] += out[c];
      }
    }
    return y;
  }

  const ModelConfig &cfg;
  bool faithful;
  WeightStore weights;
  std::vector<float> windowRope, compressRope;
  std::vector<LayerState> layers;
  Rows lastStreams;
  int64_t lastStart = 0;
  int64_t pos = 0;
};

} // namespace

llvm::Expected<std::unique_ptr<ReferenceEngine>>
createReferenceEngine(const Checkpoint &checkpoint, PrecisionMode mode) {
  if (!checkpoint.hasWeights())
    return llvm::createStringError("%s holds no weights (only config.json): the reference "
                                   "engine needs a full checkpoint",
                                   checkpoint.dir().str().c_str());
  const ModelConfig &cfg = checkpoint.config();
  auto unused = validateCheckpointTensors(checkpoint, expectedTensors(cfg));
  if (!unused)
    return unused.takeError();
  auto engine = std::make_unique<ReferenceModel>(checkpoint, mode);
  if (llvm::Error e = engine->checkHashTables())
    return std::move(e);
  return std::move(engine);
}

} // namespace v4c::reference
