// `v4c compile --target npu`: the model's host program is the CPU target's code; the work the
// NPU takes over is launched from it (like a CANN host program launching device kernels). An
// op the NPU runs gets `npu.launch` (its kernel, or its sequence of kernels) and the host code
// only launches. Matrix products whose activations are not quantized (precision mode dequant)
// go to the cube, their weights f32 copies decoded at compile time (`v4c.dequantize`), the
// layout the cube reads; every other op kind to vector-core kernels where its sizes fit them
// (codegen/npu/*Kernels.cpp). What does not fit, and the FP8/FP4 products of faithful mode,
// stay in the host code (the compile line lists them).
#include "codegen/npu/NpuTarget.h"
#include "codegen/npu/VectorKernel.h"

#include "ir/Graph/IR/GraphOps.h"
#include "ir/Npu/IR/NpuOps.h"
#include "runtime/reference/Kernels.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/ADT/bit.h"

#include <flatbuffers/flatbuffers.h>

#include <functional>
#include <cmath>
#include <map>

using namespace mlir;

namespace v4c::npu {

namespace {

/// The weight parameter a linear reads, if it reads one directly.
graph::ParamOp paramOf(ModuleOp module, Value weight) {
  auto read = weight.getDefiningOp<graph::WeightOp>();
  return read ? module.lookupSymbol<graph::ParamOp>(read.getParamAttr()) : graph::ParamOp();
}

/// The name of a decoded copy while its original still exists.
constexpr llvm::StringLiteral kDecodedSuffix = ".f32";

/// Makes `weight` (an operand reading `param`) read the f32 copy of it the artifact writer
/// decodes from the checkpoint (`v4c.dequantize`), the layout the NPU kernels read.
void readDecodedCopy(ModuleOp module, OpOperand &weight, graph::ParamOp param) {
  MLIRContext *context = module.getContext();
  auto type = RankedTensorType::get(cast<RankedTensorType>(weight.get().getType()).getShape(),
                                    Float32Type::get(context));
  std::string name = (param.getSymName() + kDecodedSuffix).str();
  if (!module.lookupSymbol(name)) {
    auto copy = OpBuilder::atBlockBegin(module.getBody())
                    .create<graph::ParamOp>(param.getLoc(), StringAttr::get(context, name),
                                            TypeAttr::get(type), StringAttr(), StringAttr());
    // Stacked experts decode from their per-expert tensors ("...experts.{}.w1.weight").
    copy->setAttr("v4c.dequantize", param.getSourceAttr() ? param.getSourceAttr()
                                                          : param.getSymNameAttr());
  }
  Value old = weight.get();
  weight.set(OpBuilder(weight.getOwner())
                 .create<graph::WeightOp>(weight.getOwner()->getLoc(), type,
                                          FlatSymbolRefAttr::get(context, name)));
  if (old.use_empty())
    old.getDefiningOp()->erase();
}

/// Records that `op` multiplies the f32 weights decoded at compile time (no block scales, no
/// activation quantization): what the NPU kernels compute.
void multipliesDecodedWeights(Operation *op) {
  Builder b(op->getContext());
  op->removeAttr("block");
  op->setAttr(graph::PrecisionAttr::kName,
              graph::PrecisionAttr::get(op->getContext(), b.getF32Type(), b.getF32Type(), 0,
                                        graph::GemmKind::emulated));
}

/// Removes an optional scale operand (the decoded f32 copy carries the scales).
void dropScale(MutableOperandRange scale) {
  if (scale.empty())
    return;
  Value old = scale[0].get();
  scale.clear();
  if (old.use_empty())
    old.getDefiningOp()->erase();
}

/// What the kernel cache keys start with.
enum class Kind : int64_t {
  Gemm, RmsNorm, Rope, Swiglu, Attention, KvRing, Hadamard, Embedding, KvAppend, CompressorPool,
  IndexScores, IndexTopk, HcMix, HcPost, HcExpand, Gate, MoeRoute, MoeSwiglu, MoeCombine
};

/// A double in a cache key: the f32 a kernel embeds.
int64_t keyOf(double value) { return int64_t(llvm::bit_cast<uint32_t>(float(value))); }

/// The offload of one module: one method per op kind, kernels built once per (kind, sizes).
class Offloader {
public:
  Offloader(ModuleOp module, const Arch &arch, int64_t maxSeqLen, OffloadPlan &plan)
      : module(module), arch(arch), maxSeqLen(maxSeqLen), plan(plan), b(module.getContext()),
        f32(b.getF32Type()) {}

  void run() {
    // Collected first: offloading rewrites weight operands (their defining ops go).
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<graph::LinearOp, graph::GroupedLinearOp, graph::RmsNormOp, graph::RopeOp,
              graph::SwigluOp, graph::SparseAttentionOp, graph::HadamardOp, graph::EmbeddingOp,
              graph::KvAppendOp, graph::CompressorOp, graph::IndexTopkOp, graph::HcPreOp,
              graph::HcHeadOp, graph::HcPostOp, graph::HcExpandOp, graph::MoeGateOp,
              graph::MoeExpertsOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops)
      llvm::TypeSwitch<Operation *>(op)
          .Case<graph::LinearOp, graph::GroupedLinearOp, graph::RmsNormOp, graph::RopeOp,
                graph::SwigluOp, graph::SparseAttentionOp, graph::HadamardOp,
                graph::EmbeddingOp, graph::KvAppendOp, graph::CompressorOp, graph::IndexTopkOp,
                graph::HcPostOp, graph::HcExpandOp, graph::MoeGateOp, graph::MoeExpertsOp>(
              [&](auto concrete) { offload(concrete); })
          .Case<graph::HcPreOp, graph::HcHeadOp>([&](auto hc) { offloadHcMix(hc); });
  }

private:
  ModuleOp module;
  const Arch &arch;
  int64_t maxSeqLen;
  OffloadPlan &plan;
  Builder b;
  Type f32;
  std::map<std::vector<int64_t>, int32_t> kernelOf;

  /// Kernel `kind` for `sizes`, built (named prefix + its index) the first time.
  int32_t kernel(Kind kind, std::vector<int64_t> sizes, StringRef prefix,
                 const std::function<void(StringRef)> &build) {
    sizes.insert(sizes.begin(), int64_t(kind));
    auto [at, added] = kernelOf.try_emplace(sizes, int32_t(kernelOf.size()));
    if (added)
      build(prefix.str() + std::to_string(at->second));
    return at->second;
  }
  /// The f32 GEMM kernel of N x K weights (decode-sized tiles, M per launch), batched or over
  /// MoE experts; none when no tiling fits. Tiles are chosen for M up to 16 rows: a prefill
  /// re-reads each weight tile once per 16 rows (mostly L2 hits).
  std::optional<int32_t> gemm(int64_t n, int64_t k, int64_t batches = 1, int64_t experts = 0) {
    GemmShape shape{16, n, k, f32, f32, /*dynamicM=*/true, experts, batches};
    GemmTiling tiling = chooseGemmTiling(arch, shape);
    if (!checkGemmTiling(arch, shape, tiling).empty())
      return std::nullopt;
    std::string name = "gemm_" + std::to_string(n) + "x" + std::to_string(k) +
                       (batches > 1 ? "x" + std::to_string(batches) : "") +
                       (experts ? "_experts" : "") + "_";
    return kernel(Kind::Gemm, {n, k, batches, experts}, name, [&](StringRef kernelName) {
      buildGemmKernel(*plan.kernels, kernelName, shape, tiling);
    });
  }
  void launch(Operation *op, int32_t kernelIndex, StringRef site) {
    op->setAttr(kLaunchAttr, b.getI32IntegerAttr(kernelIndex));
    ++plan.launchSites[site.str()];
  }
  void launch(Operation *op, ArrayRef<int32_t> program, StringRef site) {
    op->setAttr(kLaunchAttr, b.getDenseI32ArrayAttr(program));
    ++plan.launchSites[site.str()];
  }
  /// Whether `op`'s products may run on decoded f32 weights (no activation quantization).
  static bool dequantized(Operation *op) {
    auto precision = op->getAttrOfType<graph::PrecisionAttr>(graph::PrecisionAttr::kName);
    return precision && !precision.quantizesActivations();
  }
  int64_t vectorCores() const { return arch.vectorCores; }

  void offload(graph::LinearOp linear) {
    graph::ParamOp param = paramOf(module, linear.getWeight());
    auto weightType = cast<RankedTensorType>(linear.getWeight().getType());
    if (!dequantized(linear) || !param || weightType.getRank() != 2 ||
        isa<Float4E2M1FNType>(weightType.getElementType()))
      return;
    std::optional<int32_t> k = gemm(weightType.getDimSize(0), weightType.getDimSize(1));
    if (!k)
      return;
    // The weight as the cube reads it, no scale: the f32 copy carries it.
    readDecodedCopy(module, linear.getWeightMutable(), param);
    dropScale(linear.getScaleMutable());
    multipliesDecodedWeights(linear);
    launch(linear, *k, "GEMM");
  }

  /// V4's wo_a: one batched GEMM.
  void offload(graph::GroupedLinearOp grouped) {
    graph::ParamOp param = paramOf(module, grouped.getWeight());
    auto weightType = cast<RankedTensorType>(grouped.getWeight().getType());
    int64_t groups = grouped.getGroups();
    if (!dequantized(grouped) || !param || weightType.getRank() != 2 || groups < 1 ||
        weightType.getDimSize(0) % groups != 0)
      return;
    std::optional<int32_t> k = gemm(weightType.getDimSize(0) / groups, weightType.getDimSize(1), groups);
    if (!k)
      return;
    readDecodedCopy(module, grouped.getWeightMutable(), param);
    dropScale(grouped.getScaleMutable());
    multipliesDecodedWeights(grouped);
    launch(grouped, *k, "GEMM");
  }

  void offload(graph::RmsNormOp norm) {
    int64_t width = cast<RankedTensorType>(norm.getType()).getShape().back();
    graph::ParamOp param = norm.getWeight() ? paramOf(module, norm.getWeight()) : graph::ParamOp();
    if (!rmsNormFitsVectorKernel(width) || (norm.getWeight() && !param))
      return;
    bool weighted = bool(param);
    double eps = norm.getEps().convertToDouble();
    int32_t k = kernel(Kind::RmsNorm, {width, weighted, keyOf(eps)},
                       "rms_norm_" + std::to_string(width) + (weighted ? "_w_" : "_"),
                       [&](StringRef name) {
                         buildRmsNormKernel(*plan.kernels, name, width, weighted, eps,
                                            vectorCores());
                       });
    if (weighted) // decoded to f32 like the linears' weights
      readDecodedCopy(module, norm.getWeightMutable()[0], param);
    launch(norm, k, "RMSNorm");
  }

  void offload(graph::RopeOp rope) {
    ArrayRef<int64_t> shape = cast<RankedTensorType>(rope.getType()).getShape();
    int64_t width = shape.back(), heads = 1;
    for (int64_t dim : shape.drop_front().drop_back())
      heads *= dim;
    graph::RopeAttr attr = rope.getRope();
    if (shape.size() < 2 || ShapedType::isDynamicShape(shape.drop_front()) ||
        !ropeFitsVectorKernel(width, attr.getDim()))
      return;
    // The rope attribute is uniqued: its address stands for its frequencies.
    auto attrKey = int64_t(reinterpret_cast<intptr_t>(attr.getAsOpaquePointer()));
    launch(rope,
           kernel(Kind::Rope, {width, heads, attrKey, rope.getInverse()}, "rope_",
                  [&](StringRef name) {
                    std::vector<float> freqs = reference::ropeInvFreqs(
                        attr.getDim(), attr.theta(), attr.yarnFactor(), attr.getYarnOriginal(),
                        attr.betaFast(), attr.betaSlow());
                    buildRopeKernel(*plan.kernels, name, heads, width, freqs, rope.getInverse(),
                                    vectorCores());
                  }),
           "RoPE");
  }

  void offload(graph::SwigluOp swiglu) {
    auto type = cast<RankedTensorType>(swiglu.getType());
    int64_t width = type.getShape().back();
    double limit = swiglu.getLimit().convertToDouble();
    if (type.getRank() != 2 || !swigluFitsVectorKernel(width))
      return;
    launch(swiglu, kernel(Kind::Swiglu, {width, keyOf(limit)}, "swiglu_", [&](StringRef name) {
             buildSwigluKernel(*plan.kernels, name, width, limit, vectorCores());
           }),
           "SwiGLU");
  }

  /// Attention whose candidates fit the kernel: attention, then the ring update.
  void offload(graph::SparseAttentionOp attention) {
    auto qType = cast<RankedTensorType>(attention.getQueries().getType());
    AttentionShape shape;
    shape.heads = qType.getDimSize(1);
    shape.headDim = qType.getDimSize(2);
    shape.window = attention.getWindow();
    shape.ratio = attention.getRatio();
    shape.scale = attention.getScale().convertToDouble();
    if (attention.getIndices()) {
      shape.compressed = AttentionShape::kIndexed;
      shape.entries = cast<RankedTensorType>(attention.getIndices().getType()).getDimSize(1);
    } else if (attention.getCompressed()) {
      shape.compressed = AttentionShape::kAll;
      shape.entries = graph::compressedCapacity(maxSeqLen, shape.ratio);
    }
    if (ShapedType::isDynamic(shape.entries) || !attentionFitsVectorKernel(shape))
      return;
    launch(attention,
           {kernel(Kind::Attention,
                   {shape.heads, shape.headDim, shape.window, shape.ratio, shape.entries,
                    int64_t(shape.compressed), keyOf(shape.scale)},
                   "attention_",
                   [&](StringRef name) {
                     buildAttentionKernel(*plan.kernels, name, shape, vectorCores());
                   }),
            kernel(Kind::KvRing, {shape.headDim, shape.window}, "kv_ring_",
                   [&](StringRef name) {
                     buildRingUpdateKernel(*plan.kernels, name, shape.headDim, shape.window,
                                           vectorCores());
                   })},
           "attention");
  }

  void offload(graph::HadamardOp hadamard) {
    int64_t width = cast<RankedTensorType>(hadamard.getType()).getShape().back();
    if (!hadamardFitsVectorKernel(width))
      return;
    launch(hadamard, kernel(Kind::Hadamard, {width}, "hadamard_", [&](StringRef name) {
             buildHadamardKernel(*plan.kernels, name, width, vectorCores());
           }),
           "hadamard");
  }

  void offload(graph::EmbeddingOp embedding) {
    auto table = cast<RankedTensorType>(embedding.getTable().getType());
    int64_t vocab = table.getDimSize(0), width = table.getDimSize(1);
    int64_t tokenBytes =
        cast<RankedTensorType>(embedding.getTokens().getType()).getElementTypeBitWidth() / 8;
    graph::ParamOp param = paramOf(module, embedding.getTable());
    if (!param || !rowsFit(width, 1, kUbRowBudget))
      return;
    int32_t k = kernel(Kind::Embedding, {vocab, width, tokenBytes}, "embedding_",
                       [&](StringRef name) {
                         buildEmbeddingKernel(*plan.kernels, name, vocab, width, tokenBytes,
                                              vectorCores());
                       });
    readDecodedCopy(module, embedding.getTableMutable(), param);
    launch(embedding, k, "embedding");
  }

  void offload(graph::KvAppendOp append) {
    auto cache = module.lookupSymbol<graph::StateOp>(append.getCacheAttr());
    auto per = cache ? cache->getAttrOfType<IntegerAttr>("tokens_per_entry") : IntegerAttr();
    int64_t width = cast<RankedTensorType>(append.getType()).getDimSize(1);
    int64_t capacity = graph::compressedCapacity(maxSeqLen, per ? per.getInt() : 1);
    if (!cache || !rowsFit(width, 1, kUbRowBudget))
      return;
    launch(append, kernel(Kind::KvAppend, {width, capacity}, "kv_append_", [&](StringRef name) {
             buildKvAppendKernel(*plan.kernels, name, width, capacity, vectorCores());
           }),
           "kv_append");
  }

  /// Compressors whose pending rows fit: the kv and gate GEMMs on the cube, pooling on a
  /// vector core.
  void offload(graph::CompressorOp compressor) {
    auto wType = cast<RankedTensorType>(compressor.getWkv().getType());
    int64_t width = wType.getDimSize(0), depth = wType.getDimSize(1);
    int64_t ratio = compressor.getRatio();
    bool overlap = compressor.getOverlap();
    graph::ParamOp wkv = paramOf(module, compressor.getWkv()),
                   wgate = paramOf(module, compressor.getWgate());
    if (!wkv || !wgate || !compressorFitsVectorKernel(ratio, width, overlap))
      return;
    std::optional<int32_t> products = gemm(width, depth);
    if (!products)
      return;
    int32_t pool = kernel(Kind::CompressorPool, {ratio, width, overlap}, "compressor_pool_",
                          [&](StringRef name) {
                            buildCompressorPoolKernel(*plan.kernels, name, ratio, width, overlap);
                          });
    readDecodedCopy(module, compressor.getWkvMutable(), wkv);
    readDecodedCopy(module, compressor.getWgateMutable(), wgate);
    launch(compressor, {*products, pool}, "compressor");
  }

  /// The lightning indexer, for caches of at most maxSeqLen / ratio entries.
  void offload(graph::IndexTopkOp indexer) {
    auto qType = cast<RankedTensorType>(indexer.getQueries().getType());
    int64_t heads = qType.getDimSize(1), dim = qType.getDimSize(2), topk = indexer.getTopk();
    int64_t ratio = indexer.getRatio(), capacity = graph::compressedCapacity(maxSeqLen, ratio);
    double scale = indexer.getScale().convertToDouble();
    if (!indexTopkFitsVectorKernel(heads, dim, capacity))
      return;
    launch(indexer,
           {kernel(Kind::IndexScores, {heads, dim, capacity, ratio, keyOf(scale)},
                   "index_scores_",
                   [&](StringRef name) {
                     buildIndexScoreKernel(*plan.kernels, name, heads, dim, capacity, ratio,
                                           scale, vectorCores());
                   }),
            kernel(Kind::IndexTopk, {capacity, topk, ratio}, "index_topk_",
                   [&](StringRef name) {
                     buildIndexSelectKernel(*plan.kernels, name, capacity, topk, ratio,
                                            vectorCores());
                   })},
           "indexer");
  }

  /// hc_pre / hc_head: the mixes' GEMM on the cube, then the vector kernel.
  template <typename Op> void offloadHcMix(Op hc) {
    constexpr bool head = std::is_same_v<Op, graph::HcHeadOp>;
    auto type = cast<RankedTensorType>(hc.getStreams().getType());
    int64_t n = type.getDimSize(1), width = type.getDimSize(2);
    int64_t mixCount = cast<RankedTensorType>(hc.getFn().getType()).getDimSize(0);
    int64_t iters = 0;
    if constexpr (!head)
      iters = hc.getSinkhornIters();
    double hcEps = hc.getHcEps().convertToDouble(), normEps = hc.getNormEps().convertToDouble();
    if (!hcFitsVectorKernel(n, width) || !paramOf(module, hc.getFn()))
      return;
    std::optional<int32_t> mixes = gemm(mixCount, n * width);
    if (!mixes)
      return;
    launch(hc,
           {*mixes, kernel(Kind::HcMix, {n, width, head, iters, keyOf(hcEps), keyOf(normEps)},
                           head ? "hc_head_" : "hc_pre_",
                           [&](StringRef name) {
                             buildHcMixKernel(*plan.kernels, name, n, width, head, iters, hcEps,
                                              normEps, vectorCores());
                           })},
           "mHC");
  }

  void offload(graph::HcPostOp post) { offloadHcRows(post, post.getStreams(), true); }
  void offload(graph::HcExpandOp expand) { offloadHcRows(expand, expand.getResult(), false); }
  /// hc_post and hc_expand: one vector kernel each.
  void offloadHcRows(Operation *op, Value streams, bool post) {
    auto type = cast<RankedTensorType>(streams.getType());
    int64_t n = type.getDimSize(1), width = type.getDimSize(2);
    if (!hcFitsVectorKernel(n, width))
      return;
    auto build = post ? buildHcPostKernel : buildHcExpandKernel;
    launch(op,
           kernel(post ? Kind::HcPost : Kind::HcExpand, {n, width},
                  post ? "hc_post_" : "hc_expand_",
                  [&](StringRef name) { build(*plan.kernels, name, n, width, vectorCores()); }),
           "mHC");
  }

  /// Routers: the gate GEMM on the cube, scores and top-k (or hash ids) on the vector cores.
  void offload(graph::MoeGateOp gate) {
    auto gateType = cast<RankedTensorType>(gate.getGate().getType());
    int64_t experts = gateType.getDimSize(0), depth = gateType.getDimSize(1), topk = gate.getTopk();
    graph::ParamOp param = paramOf(module, gate.getGate());
    if (!param || !gateFitsVectorKernel(experts, topk))
      return;
    std::optional<int32_t> logits = gemm(experts, depth);
    if (!logits)
      return;
    auto bytesOf = [](Value v) {
      return int64_t(cast<RankedTensorType>(v.getType()).getElementTypeBitWidth() / 8);
    };
    bool hashed = bool(gate.getTid2eid()), biased = bool(gate.getBias());
    int64_t idBytes = hashed ? bytesOf(gate.getTid2eid()) : 0;
    int64_t tableBytes =
        hashed ? cast<RankedTensorType>(gate.getTid2eid().getType()).getNumElements() * idBytes : 0;
    int64_t tokenBytes = hashed ? bytesOf(gate.getTokens()) : 0;
    double routeScale = gate.getRouteScale().convertToDouble();
    int32_t route = kernel(Kind::Gate,
                           {experts, topk, keyOf(routeScale), biased, idBytes, tableBytes,
                            tokenBytes},
                           "gate_", [&](StringRef name) {
                             buildMoeGateKernel(*plan.kernels, name, experts, topk, routeScale,
                                                biased, idBytes, tableBytes, tokenBytes,
                                                vectorCores());
                           });
    readDecodedCopy(module, gate.getGateMutable(), param);
    launch(gate, {*logits, route}, "router");
  }

  /// Routed experts whose rows fit the vector kernels: route, grouped GEMMs (work items of 16
  /// rows, the tiles' rows), routed SwiGLU, combine.
  void offload(graph::MoeExpertsOp moe) {
    graph::ParamOp w1 = paramOf(module, moe.getW1()), w3 = paramOf(module, moe.getW3()),
                   w2 = paramOf(module, moe.getW2());
    auto w1Type = cast<RankedTensorType>(moe.getW1().getType());
    int64_t experts = w1Type.getDimSize(0), inter = w1Type.getDimSize(1),
            width = w1Type.getDimSize(2);
    int64_t topk = cast<RankedTensorType>(moe.getWeights().getType()).getDimSize(1);
    double limit = moe.getSwigluLimit().convertToDouble();
    if (!dequantized(moe) || !w1 || !w3 || !w2 || !swigluFitsVectorKernel(inter) ||
        !swigluFitsVectorKernel(width))
      return;
    std::optional<int32_t> up = gemm(inter, width, 1, experts), down = gemm(width, inter, 1, experts);
    if (!up || !down)
      return;
    constexpr int64_t rowsPerItem = 16; // the grouped GEMMs' row tiles (GemmShape.m = 16)
    SmallVector<int32_t> program = {
        kernel(Kind::MoeRoute, {experts, topk, width, rowsPerItem}, "moe_route_",
               [&](StringRef name) {
                 buildMoeRouteKernel(*plan.kernels, name, experts, topk, width, rowsPerItem);
               }),
        *up,
        kernel(Kind::MoeSwiglu, {inter, keyOf(limit)}, "moe_swiglu_",
               [&](StringRef name) {
                 buildSwigluKernel(*plan.kernels, name, inter, limit, vectorCores(),
                                   /*routed=*/true);
               }),
        *down,
        kernel(Kind::MoeCombine, {topk, width}, "moe_combine_", [&](StringRef name) {
          buildMoeCombineKernel(*plan.kernels, name, topk, width, vectorCores());
        })};
    // The experts' weights as the cube reads them: f32 copies, no scales.
    readDecodedCopy(module, moe.getW1Mutable(), w1);
    readDecodedCopy(module, moe.getW3Mutable(), w3);
    readDecodedCopy(module, moe.getW2Mutable(), w2);
    dropScale(moe.getW1ScaleMutable());
    dropScale(moe.getW3ScaleMutable());
    dropScale(moe.getW2ScaleMutable());
    multipliesDecodedWeights(moe);
    launch(moe, program, "MoE");
  }
};

} // namespace

FailureOr<OffloadPlan> offloadToNpu(ModuleOp module, const Arch &arch, int64_t maxSeqLen) {
  OffloadPlan plan;
  plan.kernels = ModuleOp::create(module.getLoc());
  setModuleArch(*plan.kernels, arch);
  Offloader(module, arch, maxSeqLen, plan).run();
  plan.kernelCount = size_t(std::distance(plan.kernels->getOps<func::FuncOp>().begin(),
                                          plan.kernels->getOps<func::FuncOp>().end()));

  // What the host code still computes (bookkeeping ops aside).
  module.walk([&](Operation *op) {
    if (op->hasAttr(kLaunchAttr) || !isa<graph::GraphDialect>(op->getDialect()) ||
        isa<graph::ParamOp, graph::StateOp, graph::WeightOp, graph::PositionsOp, graph::FusedOp,
            graph::YieldOp>(op))
      return;
    ++plan.hostOps[op->getName().stripDialect().str()];
  });
  // Parameters no longer read (the FP8 weights and scales now decoded) leave the artifact.
  llvm::StringSet<> read;
  module.walk([&](graph::WeightOp op) { read.insert(op.getParam()); });
  for (auto param : llvm::make_early_inc_range(module.getOps<graph::ParamOp>()))
    if (!read.contains(param.getSymName()))
      param.erase();
  // A decoded copy whose original is gone takes its name: the artifact's tensors keep the
  // checkpoint's names (the engine finds e.g. embed.weight whatever its element type).
  for (auto copy : llvm::make_early_inc_range(module.getOps<graph::ParamOp>())) {
    StringRef name = copy.getSymName();
    if (!copy->hasAttr("v4c.dequantize") || !name.ends_with(kDecodedSuffix))
      continue;
    auto original = StringAttr::get(module.getContext(), name.drop_back(kDecodedSuffix.size()));
    if (module.lookupSymbol(original))
      continue;
    if (failed(SymbolTable::replaceAllSymbolUses(copy, original, module)))
      return copy.emitOpError("could not take its original's name");
    copy.setSymName(original);
  }

  for (auto kernel : plan.kernels->getOps<func::FuncOp>())
    if (failed(insertSync(kernel)) || failed(planBuffers(kernel)))
      return failure();
  if (failed(verify(*plan.kernels)))
    return failure();
  flatbuffers::FlatBufferBuilder fbb;
  std::string error;
  if (!serializeKernels(*plan.kernels, fbb, error))
    return module.emitError(error);
  plan.library.assign(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  return plan;
}

} // namespace v4c::npu
