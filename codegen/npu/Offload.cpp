// `v4c compile --target npu`: the model's host program is the CPU target's code; the work the
// NPU takes over is launched from it (like a CANN host program launching device kernels). Today
// that is every graph.linear whose activations are not quantized (precision mode dequant): it
// becomes a launch of a cube GEMM kernel (one kernel per weight shape, M given per launch), and
// its weight an f32 copy decoded at compile time (`v4c.dequantize`), the layout the cube reads;
// and every graph.rms_norm, graph.rope and graph.swiglu whose rows fit the vector kernels (a
// launch on the vector cores). Everything else still runs in the host code.
#include "codegen/npu/NpuTarget.h"

#include "ir/Graph/IR/GraphOps.h"
#include "ir/Npu/IR/NpuOps.h"
#include "runtime/reference/Kernels.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringSet.h"

#include <flatbuffers/flatbuffers.h>

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
    copy->setAttr("v4c.dequantize", param.getSymNameAttr());
  }
  Value old = weight.get();
  weight.set(OpBuilder(weight.getOwner())
                 .create<graph::WeightOp>(weight.getOwner()->getLoc(), type,
                                          FlatSymbolRefAttr::get(context, name)));
  if (old.use_empty())
    old.getDefiningOp()->erase();
}

} // namespace

FailureOr<OffloadPlan> offloadToNpu(ModuleOp module, const Arch &arch) {
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
    if (Value scale = linear.getScale()) {
      linear.getScaleMutable().clear();
      if (scale.use_empty())
        scale.getDefiningOp()->erase();
    }
    linear.removeBlockAttr();
    linear->setAttr(graph::PrecisionAttr::kName,
                    graph::PrecisionAttr::get(context, b.getF32Type(), b.getF32Type(), 0,
                                              graph::GemmKind::emulated));
    linear->setAttr(kLaunchAttr, b.getI32IntegerAttr(at->second));
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
  plan.kernelCount = size_t(kernels);

  // What still multiplies matrices in the host code.
  module.walk([&](Operation *op) {
    if (isa<graph::LinearOp>(op) && !op->hasAttr(kLaunchAttr))
      ++plan.hostGemms["linear"];
    else if (isa<graph::BlockScaledMatmulOp, graph::GroupedLinearOp, graph::MoeExpertsOp,
                 graph::MoeGateOp, graph::CompressorOp>(op))
      ++plan.hostGemms[op->getName().stripDialect().str()];
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
