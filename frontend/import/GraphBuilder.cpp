// The V4 graph, written to read like MODEL.md §6.4: one method per building block.
#include "frontend/import/GraphBuilder.h"

#include "frontend/checkpoint/TensorInventory.h"
#include "ir/Graph/IR/GraphOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <cmath>

using namespace mlir;

namespace v4c {
namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

/// MLIR element type of a stored dtype (FP4-packed bytes become f4E2M1FN).
Type elementType(MLIRContext *ctx, DType dtype, TensorEncoding encoding) {
  if (encoding == TensorEncoding::Fp4x2)
    return Float4E2M1FNType::get(ctx);
  switch (dtype) {
  case DType::F32: return Float32Type::get(ctx);
  case DType::F16: return Float16Type::get(ctx);
  case DType::BF16: return BFloat16Type::get(ctx);
  case DType::F8_E4M3: return Float8E4M3FNType::get(ctx);
  case DType::F8_E5M2: return Float8E5M2Type::get(ctx);
  case DType::F8_E8M0: return Float8E8M0FNUType::get(ctx);
  case DType::I8: case DType::U8: return IntegerType::get(ctx, 8);
  case DType::I16: return IntegerType::get(ctx, 16);
  case DType::I32: return IntegerType::get(ctx, 32);
  case DType::I64: return IntegerType::get(ctx, 64);
  case DType::BOOL: return IntegerType::get(ctx, 1);
  }
  return {};
}

/// One-line JSON: the config travels as a module attribute.
std::string compactJson(llvm::StringRef pretty) {
  auto value = llvm::json::parse(pretty);
  if (!value) {
    llvm::consumeError(value.takeError());
    return pretty.str();
  }
  return llvm::formatv("{0}", *value).str();
}

class V4GraphBuilder {
public:
  V4GraphBuilder(MLIRContext &ctx, const ModelConfig &config, const Checkpoint *checkpoint)
      : ctx(&ctx), b(&ctx), cfg(config), checkpoint(checkpoint) {}

  llvm::Expected<OwningOpRef<ModuleOp>> build() {
    specs = expectedTensors(cfg);
    for (size_t i = 0; i < specs.size(); ++i)
      specIndex[specs[i].name] = i;
    if (checkpoint && checkpoint->hasWeights()) {
      auto unused = validateCheckpointTensors(*checkpoint, specs);
      if (!unused)
        return unused.takeError();
    }
    loc = FileLineColLoc::get(ctx, checkpoint ? checkpoint->dir() : "<config>", 0, 0);
    module = ModuleOp::create(loc);
    b.setInsertionPointToEnd(module->getBody());

    // The module carries its config so that later stages (compile from a .mlir) need nothing
    // else, and says where its weights are (absent: a weightless import).
    (*module)->setAttr("v4c.config", b.getStringAttr(compactJson(modelConfigToJson(cfg))));
    if (checkpoint && checkpoint->hasWeights()) {
      llvm::SmallString<256> dir(checkpoint->dir());
      llvm::sys::fs::make_absolute(dir);
      (*module)->setAttr("v4c.checkpoint", b.getStringAttr(dir));
    }
    else
      (*module)->setAttr("v4c.weightless", b.getUnitAttr());

    buildForward();
    for (int64_t k = 0; k < cfg.numNextnPredictLayers; ++k)
      buildMtp(k);

    if (failed(verify(*module)))
      return llvm::createStringError("internal error: the imported V4 graph does not verify");
    return std::move(module);
  }

private:
  //===--------------------------------------------------------------------===//
  // Types, parameters, state
  //===--------------------------------------------------------------------===//

  Type f32() { return b.getF32Type(); }
  RankedTensorType tokensTy(ArrayRef<int64_t> rest, Type elem) {
    SmallVector<int64_t> shape{kDyn};
    shape.append(rest.begin(), rest.end());
    return RankedTensorType::get(shape, elem);
  }
  RankedTensorType f32Tokens(ArrayRef<int64_t> rest) { return tokensTy(rest, f32()); }
  FloatAttr f64(double v) { return b.getF64FloatAttr(v); }

  bool has(const std::string &name) const { return specIndex.count(name); }

  /// The logical type of a checkpoint tensor: the file's dtype when weights are present.
  RankedTensorType paramType(const TensorSpec &spec) {
    DType dtype = spec.dtype;
    if (checkpoint && checkpoint->hasWeights())
      dtype = checkpoint->find(spec.name)->dtype;
    return RankedTensorType::get(spec.logicalShape(), elementType(ctx, dtype, spec.encoding));
  }

  /// Module-level declarations go before the functions, in the order they are first used.
  OpBuilder declarationBuilder() {
    OpBuilder d(ctx);
    if (lastDeclaration)
      d.setInsertionPointAfter(lastDeclaration);
    else
      d.setInsertionPointToStart(module->getBody());
    return d;
  }

  /// Declares (once) and reads a parameter.
  Value param(llvm::StringRef symbol, RankedTensorType type, llvm::StringRef source = {},
              llvm::StringRef storedDType = {}) {
    if (!declared.count(symbol)) {
      OpBuilder d = declarationBuilder();
      lastDeclaration = d.create<graph::ParamOp>(
          loc, symbol, type, source.empty() ? StringAttr() : b.getStringAttr(source),
          storedDType.empty() ? StringAttr() : b.getStringAttr(storedDType));
      declared.insert(symbol);
    }
    return b.create<graph::WeightOp>(loc, type, FlatSymbolRefAttr::get(ctx, symbol));
  }

  Value weight(const std::string &name) {
    const TensorSpec &spec = specs[specIndex.at(name)];
    llvm::StringRef stored = spec.encoding == TensorEncoding::Fp4x2 ? "I8" : "";
    return param(name, paramType(spec), {}, stored);
  }
  Value optionalWeight(const std::string &name) { return has(name) ? weight(name) : Value(); }

  /// Routed experts: the per-expert tensors `prefix.E.suffix` as one stacked [E, ...] param.
  Value stackedExpertWeight(const std::string &prefix, const std::string &suffix) {
    std::string first = prefix + "0." + suffix;
    if (!has(first))
      return {};
    const TensorSpec &spec = specs[specIndex.at(first)];
    auto one = paramType(spec);
    SmallVector<int64_t> shape{cfg.nRoutedExperts};
    shape.append(one.getShape().begin(), one.getShape().end());
    llvm::StringRef stored = spec.encoding == TensorEncoding::Fp4x2 ? "I8" : "";
    return param(prefix + suffix, RankedTensorType::get(shape, one.getElementType()),
                 prefix + "{}." + suffix, stored);
  }

  FlatSymbolRefAttr state(const std::string &name, graph::StateKind kind,
                          ArrayRef<int64_t> shape) {
    lastDeclaration = declarationBuilder().create<graph::StateOp>(
        loc, name, kind, RankedTensorType::get(shape, f32()));
    return FlatSymbolRefAttr::get(ctx, name);
  }

  //===--------------------------------------------------------------------===//
  // Building blocks
  //===--------------------------------------------------------------------===//

  /// y = x Wᵀ for the checkpoint linear `name` (with its block scale when quantized).
  Value linear(Value x, const std::string &name) {
    Value w = weight(name + ".weight");
    Value scale = optionalWeight(name + ".scale");
    auto wType = cast<RankedTensorType>(w.getType());
    auto inShape = cast<RankedTensorType>(x.getType()).getShape();
    SmallVector<int64_t> out(inShape.begin(), inShape.end() - 1);
    out.push_back(wType.getDimSize(0));
    return b.create<graph::LinearOp>(loc, RankedTensorType::get(out, f32()), x, w, scale,
                                     blockAttr(w));
  }

  DenseI64ArrayAttr blockAttr(Value w) {
    auto elem = cast<RankedTensorType>(w.getType()).getElementType();
    if (!isa<Float8E4M3FNType>(elem) ||
        (cfg.weightBlockRows == 128 && cfg.weightBlockCols == 128))
      return {};
    return b.getDenseI64ArrayAttr({cfg.weightBlockRows, cfg.weightBlockCols});
  }

  Value rmsNorm(Value x, const std::string &weightName) {
    Value w = weightName.empty() ? Value() : weight(weightName);
    return b.create<graph::RmsNormOp>(loc, x.getType(), x, w, f64(cfg.rmsNormEps));
  }

  Value rope(Value x, Value positions, graph::RopeAttr table, bool inverse = false) {
    auto op = b.create<graph::RopeOp>(loc, x.getType(), x, positions, table);
    op.setInverse(inverse);
    return op;
  }

  /// Compressed layers use compress_rope_theta with YaRN; window-only layers plain rope_theta.
  graph::RopeAttr ropeTable(int64_t ratio) {
    if (ratio == 0 || !cfg.ropeScaling)
      return graph::RopeAttr::get(ctx, cfg.qkRopeHeadDim, ratio ? cfg.compressRopeTheta
                                                               : cfg.ropeTheta);
    const YarnScaling &y = *cfg.ropeScaling;
    return graph::RopeAttr::get(ctx, cfg.qkRopeHeadDim, cfg.compressRopeTheta, y.factor,
                                y.originalMaxPositionEmbeddings, y.betaFast, y.betaSlow);
  }

  Value qat(Value x, Type format, int64_t group, int64_t dims) {
    return b.create<graph::QatOp>(loc, x.getType(), x, TypeAttr::get(format),
                                  b.getI64IntegerAttr(group), b.getI64IntegerAttr(dims));
  }
  /// DeepSeek's KV QAT: FP8 e4m3 round trip of the non-rope dims in groups of 64.
  Value kvQat(Value x) {
    return qat(x, Float8E4M3FNType::get(ctx), 64, cfg.headDim - cfg.qkRopeHeadDim);
  }

  /// [T, A*B] <-> [T, A, B]: the token dim stays, the trailing dims regroup.
  Value reshape(Value x, ArrayRef<int64_t> shape) {
    auto type = RankedTensorType::get(shape, f32());
    SmallVector<ReassociationIndices> groups{{0}, {1, 2}};
    if (type.getRank() > cast<RankedTensorType>(x.getType()).getRank())
      return b.create<tensor::ExpandShapeOp>(loc, type, x, groups);
    return b.create<tensor::CollapseShapeOp>(loc, type, x, groups);
  }

  /// A compressor (KV or indexer) whose complete blocks are normalized, rotated, optionally
  /// Hadamard-rotated, QAT round-tripped and appended to the compressed cache.
  Value compressedKv(const std::string &prefix, const std::string &statePrefix, Value x,
                     Value positions, int64_t ratio, int64_t width, bool indexer) {
    bool overlap = ratio == 4;
    int64_t copies = overlap ? 2 : 1;
    auto pending = state(statePrefix + "pending", graph::StateKind::compressor_pending,
                         {2, copies * ratio, copies * width});
    Value wkv = weight(prefix + "wkv.weight"), wgate = weight(prefix + "wgate.weight"),
          ape = weight(prefix + "ape");
    auto compressor = b.create<graph::CompressorOp>(
        loc, f32Tokens({width}), tokensTy({}, b.getI64Type()), x, positions, wkv, wgate, ape,
        pending, b.getI64IntegerAttr(ratio), overlap ? b.getUnitAttr() : UnitAttr());
    Value entries = rmsNorm(compressor.getEntries(), prefix + "norm.weight");
    entries = rope(entries, compressor.getEntryPositions(), ropeTable(ratio));
    if (indexer) {
      entries = b.create<graph::HadamardOp>(loc, entries.getType(), entries);
      entries = qat(entries, Float4E2M1FNType::get(ctx), 32, width);
    } else {
      entries = kvQat(entries);
    }
    auto cache = state(statePrefix + "cache", graph::StateKind::compressed_kv, {kDyn, width});
    // One entry per `ratio` tokens: lets memory planning size the cache for a context length.
    cast<graph::StateOp>(lastDeclaration)->setAttr("tokens_per_entry", b.getI64IntegerAttr(ratio));
    return b.create<graph::KvAppendOp>(loc, f32Tokens({width}), entries, entriesAfterCall(ratio),
                                       cache);
  }

  /// The lightning indexer of a CSA layer: top-k compressed entries for each query.
  Value indexer(const std::string &a, Value x, Value cq, Value positions) {
    int64_t heads = cfg.indexNHeads, width = cfg.indexHeadDim;
    Value keys = compressedKv(a + "indexer.compressor.", a + "indexer.", x, positions, 4, width,
                              /*indexer=*/true);
    Value q = reshape(linear(cq, a + "indexer.wq_b"), {kDyn, heads, width});
    q = rope(q, positions, ropeTable(4));
    q = b.create<graph::HadamardOp>(loc, q.getType(), q);
    q = qat(q, Float4E2M1FNType::get(ctx), 32, width);
    Value w = linear(x, a + "indexer.weights_proj");
    double scale = 1.0 / std::sqrt(double(width)) / std::sqrt(double(heads));
    return b.create<graph::IndexTopkOp>(loc, tokensTy({cfg.indexTopk}, b.getI32Type()), q, w,
                                        keys, positions, b.getI64IntegerAttr(cfg.indexTopk),
                                        b.getI64IntegerAttr(4), f64(scale));
  }

  /// MODEL.md §6.4 "Attention": q LoRA, single KV head, window + compressed candidates, sink,
  /// inverse RoPE, grouped low-rank output.
  Value attention(int64_t layer, Value x, Value positions) {
    std::string p = layerPrefix(cfg, layer), a = p + "attn.";
    int64_t heads = cfg.numAttentionHeads, hd = cfg.headDim, ratio = cfg.compressRatios[layer];
    graph::RopeAttr table = ropeTable(ratio);

    Value cq = rmsNorm(linear(x, a + "wq_a"), a + "q_norm.weight");
    Value q = reshape(linear(cq, a + "wq_b"), {kDyn, heads, hd});
    q = rmsNorm(q, ""); // per-head, weightless
    q = rope(q, positions, table);

    Value kv = rmsNorm(linear(x, a + "wkv"), a + "kv_norm.weight");
    kv = kvQat(rope(kv, positions, table));

    Value compressed, indices;
    if (ratio > 0)
      compressed = compressedKv(a + "compressor.", a + "compressor.", x, positions, ratio, hd,
                                /*indexer=*/false);
    if (ratio == 4)
      indices = indexer(a, x, cq, positions);

    auto window = state(a + "window", graph::StateKind::window, {cfg.slidingWindow, hd});
    Value sink = weight(a + "attn_sink");
    Value o = b.create<graph::SparseAttentionOp>(
        loc, f32Tokens({heads, hd}), q, kv, positions, sink, compressed,
        indices, window, b.getI64IntegerAttr(cfg.slidingWindow), b.getI64IntegerAttr(ratio),
        f64(1.0 / std::sqrt(double(hd))));
    o = rope(o, positions, table, /*inverse=*/true);
    o = reshape(o, {kDyn, heads * hd});

    Value woA = weight(a + "wo_a.weight");
    Value woAScale = optionalWeight(a + "wo_a.scale");
    o = b.create<graph::GroupedLinearOp>(loc, f32Tokens({cfg.oGroups * cfg.oLoraRank}), o, woA,
                                         woAScale, b.getI64IntegerAttr(cfg.oGroups),
                                         blockAttr(woA));
    return linear(o, a + "wo_b");
  }

  /// MODEL.md §6.4 "MoE": sqrt-softplus router (score or hash), routed experts, shared expert.
  Value moe(int64_t layer, Value x, Value tokens) {
    std::string f = layerPrefix(cfg, layer) + "ffn.";
    int64_t k = cfg.numExpertsPerTok;
    Value gateW = weight(f + "gate.weight");
    Value bias = optionalWeight(f + "gate.bias");
    Value tid2eid = optionalWeight(f + "gate.tid2eid");
    auto gate = b.create<graph::MoeGateOp>(
        loc, f32Tokens({k}), tokensTy({k}, b.getI32Type()), x, gateW, bias, tid2eid,
        tid2eid ? tokens : Value(), b.getI64IntegerAttr(k), f64(cfg.routedScalingFactor));

    std::string e = f + "experts.";
    // Locals, not nested calls: the declaration order of params must not depend on the
    // compiler's argument evaluation order.
    Value w1 = stackedExpertWeight(e, "w1.weight"), w1Scale = stackedExpertWeight(e, "w1.scale");
    Value w3 = stackedExpertWeight(e, "w3.weight"), w3Scale = stackedExpertWeight(e, "w3.scale");
    Value w2 = stackedExpertWeight(e, "w2.weight"), w2Scale = stackedExpertWeight(e, "w2.scale");
    Value routed = b.create<graph::MoeExpertsOp>(
        loc, x.getType(), x, gate.getWeights(), gate.getExperts(), w1, w1Scale, w3, w3Scale, w2,
        w2Scale, f64(cfg.swigluLimit), blockAttr(w1));
    if (cfg.nSharedExperts == 0)
      return routed;

    std::string s = f + "shared_experts.";
    Value g = linear(x, s + "w1"), up = linear(x, s + "w3");
    Value z = b.create<graph::SwigluOp>(loc, g.getType(), g, up, f64(cfg.swigluLimit));
    return b.create<arith::AddFOp>(loc, routed, linear(z, s + "w2"));
  }

  /// One mHC-wrapped sublayer: pre-mix, norm, F, post-mix.
  template <typename Sublayer>
  Value hyperConnected(const std::string &hc, const std::string &norm, Value streams,
                       Sublayer sublayer) {
    int64_t n = cfg.hcMult, d = cfg.hiddenSize;
    Value fn = weight(hc + "_fn"), base = weight(hc + "_base"), scale = weight(hc + "_scale");
    auto pre = b.create<graph::HcPreOp>(loc, f32Tokens({d}), f32Tokens({n}), f32Tokens({n, n}),
                                        streams, fn, base, scale,
                                        b.getI64IntegerAttr(cfg.hcSinkhornIters), f64(cfg.hcEps),
                                        f64(cfg.rmsNormEps));
    Value out = sublayer(rmsNorm(pre.getY(), norm));
    return b.create<graph::HcPostOp>(loc, streams.getType(), out, streams, pre.getPost(),
                                     pre.getComb());
  }

  Value block(int64_t layer, Value streams, Value positions, Value tokens) {
    std::string p = layerPrefix(cfg, layer);
    streams = hyperConnected(p + "hc_attn", p + "attn_norm.weight", streams,
                             [&](Value x) { return attention(layer, x, positions); });
    return hyperConnected(p + "hc_ffn", p + "ffn_norm.weight", streams,
                          [&](Value x) { return moe(layer, x, tokens); });
  }

  /// Final mHC head, norm and vocabulary projection (logits for every position).
  Value head(Value streams, const std::string &prefix) {
    Value fn = weight(prefix + "hc_head_fn"), base = weight(prefix + "hc_head_base"),
          scale = weight(prefix + "hc_head_scale");
    Value y = b.create<graph::HcHeadOp>(loc, f32Tokens({cfg.hiddenSize}), streams, fn, base,
                                        scale, f64(cfg.hcEps), f64(cfg.rmsNormEps));
    return linear(rmsNorm(y, prefix + "norm.weight"), "head");
  }

  Value embed(Value tokens) {
    return b.create<graph::EmbeddingOp>(loc, f32Tokens({cfg.hiddenSize}), weight("embed.weight"),
                                        tokens);
  }

  /// Compressed entries that exist once this call is done: (start + T) / ratio.
  Value entriesAfterCall(int64_t ratio) {
    Value tokensSeen = b.create<tensor::DimOp>(loc, callTokens, 0);
    Value end = b.create<arith::AddIOp>(loc, callStart, tokensSeen);
    return b.create<arith::DivUIOp>(loc, end, b.create<arith::ConstantIndexOp>(loc, ratio));
  }

  Value positionsOf(Value tokens, Value start) {
    callTokens = tokens;
    callStart = start;
    return b.create<graph::PositionsOp>(loc, tokensTy({}, b.getI64Type()), tokens, start);
  }

  //===--------------------------------------------------------------------===//
  // Entry points
  //===--------------------------------------------------------------------===//

  func::FuncOp beginFunc(llvm::StringRef name, TypeRange inputs, TypeRange results) {
    auto func = b.create<func::FuncOp>(loc, name, b.getFunctionType(inputs, results));
    b.setInsertionPointToStart(func.addEntryBlock());
    return func;
  }

  void buildForward() {
    int64_t n = cfg.hcMult, d = cfg.hiddenSize;
    auto tokensType = tokensTy({}, b.getI32Type());
    auto streamsType = f32Tokens({n, d});
    func::FuncOp func = beginFunc("forward", {tokensType, b.getIndexType()},
                                  {f32Tokens({cfg.vocabSize}), streamsType});
    Value tokens = func.getArgument(0), positions = positionsOf(tokens, func.getArgument(1));
    Value streams = b.create<graph::HcExpandOp>(loc, streamsType, embed(tokens));
    for (int64_t layer = 0; layer < cfg.numHiddenLayers; ++layer)
      streams = block(layer, streams, positions, tokens);
    b.create<func::ReturnOp>(loc, ValueRange{head(streams, ""), streams});
    b.setInsertionPointToEnd(module->getBody());
  }

  /// MODEL.md §6.4 "MTP": the next token's embedding and the main model's streams, combined,
  /// through one more block and the MTP layer's own head.
  void buildMtp(int64_t k) {
    int64_t n = cfg.hcMult, d = cfg.hiddenSize, layer = cfg.numHiddenLayers + k;
    std::string p = layerPrefix(cfg, layer);
    auto streamsType = f32Tokens({n, d});
    func::FuncOp func =
        beginFunc("mtp" + std::to_string(k),
                  {streamsType, tokensTy({}, b.getI32Type()), b.getIndexType()},
                  {f32Tokens({cfg.vocabSize})});
    Value hidden = func.getArgument(0), next = func.getArgument(1);
    Value positions = positionsOf(next, func.getArgument(2));
    Value e = linear(rmsNorm(embed(next), p + "enorm.weight"), p + "e_proj");
    Value h = linear(rmsNorm(hidden, p + "hnorm.weight"), p + "h_proj");
    Value streams = b.create<arith::AddFOp>(
        loc, b.create<graph::HcExpandOp>(loc, streamsType, e), h);
    streams = block(layer, streams, positions, next);
    b.create<func::ReturnOp>(loc, head(streams, p));
    b.setInsertionPointToEnd(module->getBody());
  }

  MLIRContext *ctx;
  OpBuilder b;
  Operation *lastDeclaration = nullptr;
  Value callTokens, callStart; // of the function being built
  Location loc = UnknownLoc::get(ctx);
  const ModelConfig &cfg;
  const Checkpoint *checkpoint;
  OwningOpRef<ModuleOp> module;
  std::vector<TensorSpec> specs;
  llvm::StringMap<size_t> specIndex;
  llvm::StringSet<> declared;
};

} // namespace

llvm::Expected<OwningOpRef<ModuleOp>> buildV4Graph(MLIRContext &context, const ModelConfig &config,
                                                   const Checkpoint *checkpoint) {
  context.loadDialect<graph::GraphDialect>();
  return V4GraphBuilder(context, config, checkpoint).build();
}

} // namespace v4c
