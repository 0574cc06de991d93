// `v4c compile --target npu`: the model's host program is the CPU target's code; the work the
// NPU takes over is launched from it (like a CANN host program launching device kernels). Today
// that is every graph.linear whose activations are not quantized (precision mode dequant): it
// becomes a launch of a cube GEMM kernel (one kernel per weight shape, M given per launch), and
// its weight an f32 copy decoded at compile time (`v4c.dequantize`), the layout the cube reads;
// and every graph.rms_norm whose rows fit the vector kernel (a launch on the vector cores).
// Everything else still runs in the host code.
#include "codegen/npu/NpuTarget.h"

#include "ir/Graph/IR/GraphOps.h"
#include "ir/Npu/IR/NpuOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/Verifier.h"

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

} // namespace

FailureOr<OffloadPlan> offloadToNpu(ModuleOp module, const Arch &arch) {
  MLIRContext *context = module.getContext();
  OffloadPlan plan;
  plan.kernels = ModuleOp::create(module.getLoc());
  setModuleArch(*plan.kernels, arch);
  std::map<std::pair<int64_t, int64_t>, int32_t> kernelOf; // (N, K) → index
  OpBuilder declare = OpBuilder::atBlockBegin(module.getBody());
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
    auto [at, added] = kernelOf.try_emplace({n, k}, int32_t(kernelOf.size()));
    if (added) {
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
    // The weight as the cube reads it: f32 [N, K], decoded from the checkpoint when written.
    std::string decoded = param.getSymName().str() + ".f32";
    if (!module.lookupSymbol(decoded)) {
      auto copy = declare.create<graph::ParamOp>(
          param.getLoc(), b.getStringAttr(decoded),
          TypeAttr::get(RankedTensorType::get({n, k}, b.getF32Type())), StringAttr(), StringAttr());
      copy->setAttr("v4c.dequantize", b.getStringAttr(param.getSymName()));
    }
    OpBuilder rewrite(linear);
    auto weight = rewrite.create<graph::WeightOp>(
        linear.getLoc(), RankedTensorType::get({n, k}, b.getF32Type()),
        FlatSymbolRefAttr::get(context, decoded));
    auto launch = rewrite.create<graph::LinearOp>(linear.getLoc(), linear.getType(),
                                                  linear.getInput(), weight, Value(),
                                                  DenseI64ArrayAttr());
    launch->setAttr(graph::PrecisionAttr::kName,
                    graph::PrecisionAttr::get(context, b.getF32Type(), b.getF32Type(), 0,
                                              graph::GemmKind::emulated));
    launch->setAttr(kLaunchAttr, b.getI32IntegerAttr(at->second));
    linear.replaceAllUsesWith(launch.getResult());
    Value oldWeight = linear.getWeight(), oldScale = linear.getScale();
    linear.erase();
    for (Value v : {oldWeight, oldScale})
      if (v && v.use_empty())
        v.getDefiningOp()->erase();
    ++plan.launchSites["GEMM"];
  }
  // RMS norms whose rows fit the vector kernel, weights decoded to f32 like the linears'.
  std::map<std::tuple<int64_t, bool, double>, int32_t> normKernelOf; // (width, weighted, eps)
  SmallVector<graph::RmsNormOp> norms;
  module.walk([&](graph::RmsNormOp op) { norms.push_back(op); });
  int32_t nextKernel = int32_t(kernelOf.size());
  for (graph::RmsNormOp norm : norms) {
    int64_t width = cast<RankedTensorType>(norm.getType()).getShape().back();
    graph::ParamOp param = norm.getWeight() ? paramOf(module, norm.getWeight()) : graph::ParamOp();
    if (!rmsNormFitsVectorKernel(width) || (norm.getWeight() && !param))
      continue;
    bool weighted = bool(param);
    double eps = norm.getEps().convertToDouble();
    auto [at, added] = normKernelOf.try_emplace({width, weighted, eps}, nextKernel);
    if (added) {
      ++nextKernel;
      buildRmsNormKernel(*plan.kernels,
                         "rms_norm_" + std::to_string(width) + (weighted ? "_w" : "") + "_" +
                             std::to_string(at->second),
                         width, weighted, eps, arch.vectorCores);
    }
    if (weighted) {
      std::string decoded = param.getSymName().str() + ".f32";
      if (!module.lookupSymbol(decoded)) {
        auto copy = declare.create<graph::ParamOp>(
            param.getLoc(), b.getStringAttr(decoded),
            TypeAttr::get(RankedTensorType::get({width}, b.getF32Type())), StringAttr(),
            StringAttr());
        copy->setAttr("v4c.dequantize", b.getStringAttr(param.getSymName()));
      }
      OpBuilder rewrite(norm);
      Value old = norm.getWeight();
      norm.getWeightMutable().assign(rewrite.create<graph::WeightOp>(
          norm.getLoc(), RankedTensorType::get({width}, b.getF32Type()),
          FlatSymbolRefAttr::get(context, decoded)));
      if (old.use_empty())
        old.getDefiningOp()->erase();
    }
    norm->setAttr(kLaunchAttr, b.getI32IntegerAttr(at->second));
    ++plan.launchSites["RMSNorm"];
  }
  plan.kernelCount = kernelOf.size() + normKernelOf.size();

  // What still multiplies matrices in the host code.
  module.walk([&](Operation *op) {
    if (isa<graph::LinearOp>(op) && !op->hasAttr(kLaunchAttr))
      ++plan.hostGemms["linear"];
    else if (isa<graph::BlockScaledMatmulOp, graph::GroupedLinearOp, graph::MoeExpertsOp,
                 graph::MoeGateOp, graph::CompressorOp>(op))
      ++plan.hostGemms[op->getName().stripDialect().str()];
  });
  // Parameters no longer read (the FP8 weights and scales now decoded) leave the artifact.
  for (auto param : llvm::make_early_inc_range(module.getOps<graph::ParamOp>()))
    if (SymbolTable::symbolKnownUseEmpty(param, module))
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
