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

/// Makes `weight` (an operand reading `param`) read the f32 copy of it the artifact writer
/// decodes from the checkpoint (`v4c.dequantize`), the layout the NPU kernels read.
void readDecodedCopy(ModuleOp module, OpOperand &weight, graph::ParamOp param) {
  MLIRContext *context = module.getContext();
  auto type = RankedTensorType::get(cast<RankedTensorType>(weight.get().getType()).getShape(),
                                    Float32Type::get(context));
  std::string name = param.getSymName().str() + ".f32";
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

} // namespace

FailureOr<OffloadPlan> offloadToNpu(ModuleOp module, const Arch &arch, int64_t maxSeqLen) {
  MLIRContext *context = module.getContext();
  OffloadPlan plan;
  plan.kernels = ModuleOp::create(module.getLoc());
  setModuleArch(*plan.kernels, arch);
  std::map<std::pair<int64_t, int64_t>, int32_t> kernelOf; // (N, K) → index
  int32_t kernels = 0; // kernels built so far: the next one's index
  Builder b(context);

  SmallVector<graph::LinearOp> linears;
  module.walk([&](graph::LinearOp op) { linears.push_back(op); });
  for (graph::LinearOp linear : linears) {
    auto precision = linear->getAttrOfType<graph::PrecisionAttr>(graph::PrecisionAttr::kName);
    graph::ParamOp param = paramOf(module, linear.getWeight());
    auto weightType = cast<RankedTensorType>(linear.getWeight().getType());
    if (!precision || precision.quantizesActivations() || !param || weightType.getRank() != 2 ||
        isa<Float4E2M1FNType>(weightType.getElementType()))
      continue; // counted with the host's GEMMs below
    int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
    auto [at, added] = kernelOf.try_emplace({n, k}, kernels);
    if (added) {
      ++kernels;
      // Tiles chosen for decode (M up to 16 rows); a prefill re-reads each weight tile once
      // per 16 rows (mostly L2 hits). Per-M kernel variants are future work.
      GemmShape shape{16, n, k, b.getF32Type(), b.getF32Type(), /*dynamicM=*/true};
      GemmTiling tiling = chooseGemmTiling(arch, shape);
      if (std::string problem = checkGemmTiling(arch, shape, tiling); !problem.empty())
        return linear.emitOpError() << "no NPU GEMM for its " << n << "x" << k
                                    << " weight: " << problem;
      buildGemmKernel(*plan.kernels, "gemm_" + std::to_string(n) + "x" + std::to_string(k),
                      shape, tiling);
    }
    // The weight as the cube reads it, no scale: the f32 copy carries it.
    readDecodedCopy(module, linear.getWeightMutable(), param);
    dropScale(linear.getScaleMutable());
    multipliesDecodedWeights(linear);
    linear->setAttr(kLaunchAttr, b.getI32IntegerAttr(at->second));
    ++plan.launchSites["GEMM"];
  }
  // Grouped linears (V4's wo_a): one batched GEMM kernel, weights decoded to f32 likewise.
  std::map<std::tuple<int64_t, int64_t, int64_t>, int32_t> batchedKernelOf;
  SmallVector<graph::GroupedLinearOp> groupedLinears;
  module.walk([&](graph::GroupedLinearOp op) { groupedLinears.push_back(op); });
  for (graph::GroupedLinearOp grouped : groupedLinears) {
    auto precision = grouped->getAttrOfType<graph::PrecisionAttr>(graph::PrecisionAttr::kName);
    graph::ParamOp param = paramOf(module, grouped.getWeight());
    auto weightType = cast<RankedTensorType>(grouped.getWeight().getType());
    int64_t groups = grouped.getGroups();
    if (!precision || precision.quantizesActivations() || !param || weightType.getRank() != 2 ||
        groups < 1 || weightType.getDimSize(0) % groups != 0)
      continue;
    int64_t n = weightType.getDimSize(0) / groups, k = weightType.getDimSize(1);
    GemmShape shape{16, n, k, b.getF32Type(), b.getF32Type(), true, 0, groups};
    GemmTiling tiling = chooseGemmTiling(arch, shape);
    if (!checkGemmTiling(arch, shape, tiling).empty())
      continue;
    auto [at, added] = batchedKernelOf.try_emplace({groups, n, k}, kernels);
    if (added) {
      ++kernels;
      buildGemmKernel(*plan.kernels, "batched_gemm_" + std::to_string(at->second), shape, tiling);
    }
    readDecodedCopy(module, grouped.getWeightMutable(), param);
    dropScale(grouped.getScaleMutable());
    multipliesDecodedWeights(grouped);
    grouped->setAttr(kLaunchAttr, b.getI32IntegerAttr(at->second));
    ++plan.launchSites["GEMM"];
  }
  // RMS norms whose rows fit the vector kernel, weights decoded to f32 like the linears'.
  std::map<std::tuple<int64_t, bool, double>, int32_t> normKernelOf; // (width, weighted, eps)
  SmallVector<graph::RmsNormOp> norms;
  module.walk([&](graph::RmsNormOp op) { norms.push_back(op); });
  for (graph::RmsNormOp norm : norms) {
    int64_t width = cast<RankedTensorType>(norm.getType()).getShape().back();
    graph::ParamOp param = norm.getWeight() ? paramOf(module, norm.getWeight()) : graph::ParamOp();
    if (!rmsNormFitsVectorKernel(width) || (norm.getWeight() && !param))
      continue;
    bool weighted = bool(param);
    double eps = norm.getEps().convertToDouble();
    auto [at, added] = normKernelOf.try_emplace({width, weighted, eps}, kernels);
    if (added) {
      ++kernels;
      buildRmsNormKernel(*plan.kernels,
                         "rms_norm_" + std::to_string(width) + (weighted ? "_w" : "") + "_" +
                             std::to_string(at->second),
                         width, weighted, eps, arch.vectorCores);
    }
    if (weighted)
      readDecodedCopy(module, norm.getWeightMutable()[0], param);
    norm->setAttr(kLaunchAttr, b.getI32IntegerAttr(at->second));
    ++plan.launchSites["RMSNorm"];
  }
  // RoPE on rows whose rotated channels fit the kernel; positions read per token.
  std::map<std::tuple<int64_t, int64_t, const void *, bool>, int32_t> ropeKernelOf; // rope attr uniqued
  SmallVector<graph::RopeOp> ropes;
  module.walk([&](graph::RopeOp op) { ropes.push_back(op); });
  for (graph::RopeOp rope : ropes) {
    ArrayRef<int64_t> shape = cast<RankedTensorType>(rope.getType()).getShape();
    int64_t width = shape.back(), heads = 1;
    for (int64_t dim : shape.drop_front().drop_back())
      heads *= dim;
    graph::RopeAttr attr = rope.getRope();
    if (shape.size() < 2 || ShapedType::isDynamicShape(shape.drop_front()) ||
        !ropeFitsVectorKernel(width, attr.getDim()))
      continue;
    auto [at, added] = ropeKernelOf.try_emplace(
        {width, heads, attr.getAsOpaquePointer(), rope.getInverse()}, kernels);
    if (added) {
      ++kernels;
      std::vector<float> freqs =
          reference::ropeInvFreqs(attr.getDim(), attr.theta(), attr.yarnFactor(),
                                  attr.getYarnOriginal(), attr.betaFast(), attr.betaSlow());
      buildRopeKernel(*plan.kernels, "rope_" + std::to_string(at->second), heads, width, freqs,
                      rope.getInverse(), arch.vectorCores);
    }
    rope->setAttr(kLaunchAttr, b.getI32IntegerAttr(at->second));
    ++plan.launchSites["RoPE"];
  }
  // SwiGLU on rows that fit the kernel.
  std::map<std::pair<int64_t, double>, int32_t> swigluKernelOf;
  SmallVector<graph::SwigluOp> swiglus;
  module.walk([&](graph::SwigluOp op) { swiglus.push_back(op); });
  for (graph::SwigluOp swiglu : swiglus) {
    auto type = cast<RankedTensorType>(swiglu.getType());
    int64_t width = type.getShape().back();
    double limit = swiglu.getLimit().convertToDouble();
    if (type.getRank() != 2 || !swigluFitsVectorKernel(width))
      continue;
    auto [at, added] = swigluKernelOf.try_emplace({width, limit}, kernels);
    if (added) {
      ++kernels;
      buildSwigluKernel(*plan.kernels, "swiglu_" + std::to_string(at->second), width, limit,
                        arch.vectorCores);
    }
    swiglu->setAttr(kLaunchAttr, b.getI32IntegerAttr(at->second));
    ++plan.launchSites["SwiGLU"];
  }
  // Kernels of op sequences (attention, MoE), built once per (kind, sizes...).
  std::map<std::vector<int64_t>, int32_t> sequenceKernelOf;
  auto sequenceKernel = [&](std::vector<int64_t> key, StringRef prefix,
                            const std::function<void(StringRef)> &build) {
    auto [at, added] = sequenceKernelOf.try_emplace(key, kernels);
    if (added) {
      ++kernels;
      build(prefix.str() + std::to_string(at->second));
    }
    return at->second;
  };
  // Attention whose candidates fit the kernel: attention, then the ring update.
  SmallVector<graph::SparseAttentionOp> attentions;
  module.walk([&](graph::SparseAttentionOp op) { attentions.push_back(op); });
  for (graph::SparseAttentionOp attention : attentions) {
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
      shape.entries = maxSeqLen / std::max<int64_t>(shape.ratio, 1);
    }
    if (ShapedType::isDynamic(shape.entries) || !attentionFitsVectorKernel(shape))
      continue;
    std::vector<int64_t> key = {0,           shape.heads, shape.headDim,       shape.window,
                                shape.ratio, shape.entries, int64_t(shape.compressed),
                                int64_t(std::llround(shape.scale * 1e9))};
    SmallVector<int32_t> program = {
        sequenceKernel(key, "attention_",
                       [&](StringRef name) {
                         buildAttentionKernel(*plan.kernels, name, shape, arch.vectorCores);
                       }),
        sequenceKernel({1, shape.headDim, shape.window}, "kv_ring_", [&](StringRef name) {
          buildRingUpdateKernel(*plan.kernels, name, shape.headDim, shape.window,
                                arch.vectorCores);
        })};
    attention->setAttr(kLaunchAttr, b.getDenseI32ArrayAttr(program));
    ++plan.launchSites["attention"];
  }
  // Hadamard rotations, embeddings and compressed-cache appends: one vector kernel each.
  module.walk([&](Operation *op) {
    int32_t kernel = -1;
    if (auto hadamard = dyn_cast<graph::HadamardOp>(op)) {
      int64_t width = cast<RankedTensorType>(hadamard.getType()).getShape().back();
      if (hadamardFitsVectorKernel(width))
        kernel = sequenceKernel({60, width}, "hadamard_", [&](StringRef name) {
          buildHadamardKernel(*plan.kernels, name, width, arch.vectorCores);
        });
    } else if (auto embedding = dyn_cast<graph::EmbeddingOp>(op)) {
      auto table = cast<RankedTensorType>(embedding.getTable().getType());
      int64_t vocab = table.getDimSize(0), width = table.getDimSize(1);
      int64_t tokenBytes = cast<RankedTensorType>(embedding.getTokens().getType())
                               .getElementTypeBitWidth() / 8;
      graph::ParamOp param = paramOf(module, embedding.getTable());
      if (param && rowsFit(width, 1, kUbRowBudget)) {
        kernel = sequenceKernel({61, vocab, width, tokenBytes}, "embedding_", [&](StringRef name) {
          buildEmbeddingKernel(*plan.kernels, name, vocab, width, tokenBytes, arch.vectorCores);
        });
        readDecodedCopy(module, embedding.getTableMutable(), param);
      }
    } else if (auto append = dyn_cast<graph::KvAppendOp>(op)) {
      auto cache = module.lookupSymbol<graph::StateOp>(append.getCacheAttr());
      auto per = cache ? cache->getAttrOfType<IntegerAttr>("tokens_per_entry") : IntegerAttr();
      int64_t width = cast<RankedTensorType>(append.getType()).getDimSize(1);
      // The memory plan sizes the cache alike (one entry per tokens_per_entry tokens).
      int64_t capacity = maxSeqLen / (per ? per.getInt() : 1);
      if (cache && rowsFit(width, 1, kUbRowBudget))
        kernel = sequenceKernel({62, width, capacity}, "kv_append_", [&](StringRef name) {
          buildKvAppendKernel(*plan.kernels, name, width, capacity, arch.vectorCores);
        });
    }
    if (kernel < 0)
      return;
    op->setAttr(kLaunchAttr, b.getI32IntegerAttr(kernel));
    ++plan.launchSites[op->getName().stripDialect().str()];
  });
  // Compressors whose pending rows fit: the kv and gate GEMMs on the cube, pooling on a vector
  // core.
  SmallVector<graph::CompressorOp> compressors;
  module.walk([&](graph::CompressorOp op) { compressors.push_back(op); });
  for (graph::CompressorOp compressor : compressors) {
    auto wType = cast<RankedTensorType>(compressor.getWkv().getType());
    int64_t width = wType.getDimSize(0), depth = wType.getDimSize(1);
    int64_t ratio = compressor.getRatio();
    bool overlap = compressor.getOverlap();
    graph::ParamOp wkv = paramOf(module, compressor.getWkv()),
                   wgate = paramOf(module, compressor.getWgate());
    GemmShape shape{16, width, depth, b.getF32Type(), b.getF32Type(), true};
    GemmTiling tiling = chooseGemmTiling(arch, shape);
    if (!wkv || !wgate || !compressorFitsVectorKernel(ratio, width, overlap) ||
        !checkGemmTiling(arch, shape, tiling).empty())
      continue;
    SmallVector<int32_t> program = {
        sequenceKernel({40, width, depth}, "compressor_gemm_",
                       [&](StringRef name) {
                         buildGemmKernel(*plan.kernels, name, shape, tiling);
                       }),
        sequenceKernel({41, ratio, width, overlap}, "compressor_pool_", [&](StringRef name) {
          buildCompressorPoolKernel(*plan.kernels, name, ratio, width, overlap);
        })};
    readDecodedCopy(module, compressor.getWkvMutable(), wkv);
    readDecodedCopy(module, compressor.getWgateMutable(), wgate);
    compressor->setAttr(kLaunchAttr, b.getDenseI32ArrayAttr(program));
    ++plan.launchSites["compressor"];
  }
  // The lightning indexer, for caches of at most maxSeqLen / ratio entries.
  SmallVector<graph::IndexTopkOp> indexers;
  module.walk([&](graph::IndexTopkOp op) { indexers.push_back(op); });
  for (graph::IndexTopkOp indexer : indexers) {
    auto qType = cast<RankedTensorType>(indexer.getQueries().getType());
    int64_t heads = qType.getDimSize(1), dim = qType.getDimSize(2), topk = indexer.getTopk();
    int64_t ratio = indexer.getRatio(), capacity = maxSeqLen / std::max<int64_t>(ratio, 1);
    double scale = indexer.getScale().convertToDouble();
    if (!indexTopkFitsVectorKernel(heads, dim, capacity))
      continue;
    SmallVector<int32_t> program = {
        sequenceKernel({30, heads, dim, capacity, ratio, int64_t(std::llround(scale * 1e9))},
                       "index_scores_",
                       [&](StringRef name) {
                         buildIndexScoreKernel(*plan.kernels, name, heads, dim, capacity, ratio,
                                               scale, arch.vectorCores);
                       }),
        sequenceKernel({31, capacity, topk, ratio}, "index_topk_", [&](StringRef name) {
          buildIndexSelectKernel(*plan.kernels, name, capacity, topk, ratio, arch.vectorCores);
        })};
    indexer->setAttr(kLaunchAttr, b.getDenseI32ArrayAttr(program));
    ++plan.launchSites["indexer"];
  }
  // mHC: the mixes' GEMM and the vector kernel (pre, head), post and expand on the vector cores.
  module.walk([&](Operation *op) {
    auto streamsType = [](Value v) { return cast<RankedTensorType>(v.getType()); };
    RankedTensorType type;
    if (auto pre = dyn_cast<graph::HcPreOp>(op))
      type = streamsType(pre.getStreams());
    else if (auto head = dyn_cast<graph::HcHeadOp>(op))
      type = streamsType(head.getStreams());
    else if (auto post = dyn_cast<graph::HcPostOp>(op))
      type = streamsType(post.getStreams());
    else if (auto expand = dyn_cast<graph::HcExpandOp>(op))
      type = streamsType(expand.getResult());
    else
      return;
    int64_t n = type.getDimSize(1), width = type.getDimSize(2);
    if (!hcFitsVectorKernel(n, width))
      return;
    if (isa<graph::HcPostOp, graph::HcExpandOp>(op)) { // one vector kernel each
      bool post = isa<graph::HcPostOp>(op);
      auto build = post ? buildHcPostKernel : buildHcExpandKernel;
      op->setAttr(kLaunchAttr, b.getI32IntegerAttr(sequenceKernel(
                                   {post ? 20 : 21, n, width}, post ? "hc_post_" : "hc_expand_",
                                   [&](StringRef name) {
                                     build(*plan.kernels, name, n, width, arch.vectorCores);
                                   })));
      ++plan.launchSites["mHC"];
      return;
    }
    auto pre = dyn_cast<graph::HcPreOp>(op);
    auto head = dyn_cast<graph::HcHeadOp>(op);
    Value fn = pre ? pre.getFn() : head.getFn();
    int64_t mixCount = cast<RankedTensorType>(fn.getType()).getDimSize(0);
    int64_t iters = pre ? pre.getSinkhornIters() : 0;
    double hcEps = (pre ? pre.getHcEps() : head.getHcEps()).convertToDouble();
    double normEps = (pre ? pre.getNormEps() : head.getNormEps()).convertToDouble();
    GemmShape mixes{16, mixCount, n * width, b.getF32Type(), b.getF32Type(), true};
    GemmTiling tiling = chooseGemmTiling(arch, mixes);
    if (!paramOf(module, fn) || !checkGemmTiling(arch, mixes, tiling).empty())
      return;
    SmallVector<int32_t> program = {
        sequenceKernel({22, mixCount, n * width}, "hc_mixes_",
                       [&](StringRef name) {
                         buildGemmKernel(*plan.kernels, name, mixes, tiling);
                       }),
        sequenceKernel({23, n, width, bool(head), iters, int64_t(std::llround(hcEps * 1e12)),
                        int64_t(std::llround(normEps * 1e12))},
                       head ? "hc_head_" : "hc_pre_", [&](StringRef name) {
                         buildHcMixKernel(*plan.kernels, name, n, width, bool(head), iters,
                                          hcEps, normEps, arch.vectorCores);
                       })};
    op->setAttr(kLaunchAttr, b.getDenseI32ArrayAttr(program));
    ++plan.launchSites["mHC"];
  });
  // Routers: the gate GEMM on the cube, scores and top-k (or hash ids) on the vector cores.
  SmallVector<graph::MoeGateOp> gates;
  module.walk([&](graph::MoeGateOp op) { gates.push_back(op); });
  for (graph::MoeGateOp gate : gates) {
    auto gateType = cast<RankedTensorType>(gate.getGate().getType());
    int64_t experts = gateType.getDimSize(0), depth = gateType.getDimSize(1), topk = gate.getTopk();
    graph::ParamOp param = paramOf(module, gate.getGate());
    GemmShape shape{16, experts, depth, b.getF32Type(), b.getF32Type(), true};
    GemmTiling tiling = chooseGemmTiling(arch, shape);
    if (!param || !gateFitsVectorKernel(experts, topk) ||
        !checkGemmTiling(arch, shape, tiling).empty())
      continue;
    auto bytesOf = [](Value v) {
      auto type = cast<RankedTensorType>(v.getType());
      return int64_t(type.getElementTypeBitWidth() / 8);
    };
    bool hashed = bool(gate.getTid2eid());
    int64_t idBytes = hashed ? bytesOf(gate.getTid2eid()) : 0;
    int64_t tableBytes =
        hashed ? cast<RankedTensorType>(gate.getTid2eid().getType()).getNumElements() * idBytes : 0;
    int64_t tokenBytes = hashed ? bytesOf(gate.getTokens()) : 0;
    double routeScale = gate.getRouteScale().convertToDouble();
    SmallVector<int32_t> program = {
        sequenceKernel({50, experts, depth}, "gate_gemm_",
                       [&](StringRef name) {
                         buildGemmKernel(*plan.kernels, name, shape, tiling);
                       }),
        sequenceKernel({51, experts, topk, int64_t(std::llround(routeScale * 1e9)),
                        bool(gate.getBias()), idBytes, tableBytes, tokenBytes},
                       "gate_", [&](StringRef name) {
                         buildMoeGateKernel(*plan.kernels, name, experts, topk, routeScale,
                                            bool(gate.getBias()), idBytes, tableBytes, tokenBytes,
                                            arch.vectorCores);
                       })};
    readDecodedCopy(module, gate.getGateMutable(), param);
    gate->setAttr(kLaunchAttr, b.getDenseI32ArrayAttr(program));
    ++plan.launchSites["router"];
  }
  // Routed experts whose rows fit the vector kernels: route, grouped GEMMs, SwiGLU, combine.
  auto moeKernel = [&](std::vector<int64_t> key, const std::function<void(StringRef)> &build) {
    key.insert(key.begin(), 10); // apart from attention's kinds
    return sequenceKernel(key, "moe_", build);
  };
  SmallVector<graph::MoeExpertsOp> moes;
  module.walk([&](graph::MoeExpertsOp op) { moes.push_back(op); });
  for (graph::MoeExpertsOp moe : moes) {
    auto precision = moe->getAttrOfType<graph::PrecisionAttr>(graph::PrecisionAttr::kName);
    graph::ParamOp w1 = paramOf(module, moe.getW1()), w3 = paramOf(module, moe.getW3()),
                   w2 = paramOf(module, moe.getW2());
    auto w1Type = cast<RankedTensorType>(moe.getW1().getType());
    int64_t experts = w1Type.getDimSize(0), inter = w1Type.getDimSize(1),
            width = w1Type.getDimSize(2);
    int64_t topk = cast<RankedTensorType>(moe.getWeights().getType()).getDimSize(1);
    double limit = moe.getSwigluLimit().convertToDouble();
    if (!precision || precision.quantizesActivations() || !w1 || !w3 || !w2 ||
        !swigluFitsVectorKernel(inter) || !swigluFitsVectorKernel(width))
      continue;
    // Decode-sized work items (16 rows); both grouped GEMMs take their tiles from them.
    GemmShape up{16, inter, width, b.getF32Type(), b.getF32Type(), true, experts};
    GemmShape down{16, width, inter, b.getF32Type(), b.getF32Type(), true, experts};
    GemmTiling upTiling = chooseGemmTiling(arch, up), downTiling = chooseGemmTiling(arch, down);
    if (upTiling.mt != 16 || downTiling.mt != 16 || !checkGemmTiling(arch, up, upTiling).empty() ||
        !checkGemmTiling(arch, down, downTiling).empty())
      continue; // no grouped GEMM with decode-sized work items: the host code keeps it
    int64_t rowsPerItem = upTiling.mt;
    SmallVector<int32_t> program = {
        moeKernel({0, experts, topk, width},
                  [&](StringRef name) {
                    buildMoeRouteKernel(*plan.kernels, name.str() + "_route", experts, topk,
                                        width, rowsPerItem);
                  }),
        moeKernel({1, experts, inter, width},
                  [&](StringRef name) {
                    buildGemmKernel(*plan.kernels, name.str() + "_up", up, upTiling);
                  }),
        moeKernel({2, inter, int64_t(limit * 1e6)},
                  [&](StringRef name) {
                    buildSwigluKernel(*plan.kernels, name.str() + "_swiglu", inter, limit,
                                      arch.vectorCores, /*routed=*/true);
                  }),
        moeKernel({3, experts, width, inter},
                  [&](StringRef name) {
                    buildGemmKernel(*plan.kernels, name.str() + "_down", down, downTiling);
                  }),
        moeKernel({4, topk, width}, [&](StringRef name) {
          buildMoeCombineKernel(*plan.kernels, name.str() + "_combine", topk, width,
                                arch.vectorCores);
        })};
    // The experts' weights as the cube reads them: f32 copies, no scales.
    readDecodedCopy(module, moe.getW1Mutable(), w1);
    readDecodedCopy(module, moe.getW3Mutable(), w3);
    readDecodedCopy(module, moe.getW2Mutable(), w2);
    dropScale(moe.getW1ScaleMutable());
    dropScale(moe.getW3ScaleMutable());
    dropScale(moe.getW2ScaleMutable());
    multipliesDecodedWeights(moe);
    moe->setAttr(kLaunchAttr, b.getDenseI32ArrayAttr(program));
    ++plan.launchSites["MoE"];
  }
  plan.kernelCount = size_t(kernels);

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
