// v4c-precision-policy: decides, per op, the precision a target runs it at (Passes.td).
#include "passes/Passes.h"

#include "ir/Graph/IR/GraphDialect.h"
#include "ir/Graph/IR/GraphOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/TypeSwitch.h"

namespace v4c {

#define GEN_PASS_DEF_PRECISIONPOLICY
#include "passes/Passes.h.inc"

namespace {

using namespace mlir;
using graph::GemmKind;
using graph::PrecisionAttr;

constexpr int64_t kActBlock = 128; // DeepSeek's act_quant block (MODEL.md §3.3)

struct PrecisionPolicy : impl::PrecisionPolicyBase<PrecisionPolicy> {
  using PrecisionPolicyBase::PrecisionPolicyBase;

  void runOnOperation() final {
    ModuleOp module = getOperation();
    std::optional<GemmKind> lowPrecisionGemm = llvm::StringSwitch<std::optional<GemmKind>>(target)
                                                   .Case("cpu", GemmKind::emulated)
                                                   .Case("npu-910b", GemmKind::vector_dequant)
                                                   .Case("npu-950", GemmKind::native)
                                                   .Default(std::nullopt);
    if (!lowPrecisionGemm) {
      module.emitError() << "v4c-precision-policy: unknown target '" << target
                         << "' (expected cpu, npu-910b or npu-950)";
      return signalPassFailure();
    }
    if (mode != "faithful" && mode != "dequant") {
      module.emitError() << "v4c-precision-policy: unknown mode '" << mode
                         << "' (expected faithful or dequant)";
      return signalPassFailure();
    }
    bool faithful = mode == "faithful";
    // Without quantized activations an NPU cannot feed its FP8 cube: it decodes weights instead.
    GemmKind dequantGemm = *lowPrecisionGemm == GemmKind::native ? GemmKind::vector_dequant
                                                                  : *lowPrecisionGemm;
    MLIRContext *context = module.getContext();
    Type f32 = Float32Type::get(context), e4m3 = Float8E4M3FNType::get(context);

    /// A GEMM over `weight`; `quantizable` is false for DeepSeek's plain matmuls (wo_a).
    auto gemmDecision = [&](Value weight, bool quantizable) {
      Type stored = cast<RankedTensorType>(weight.getType()).getElementType();
      if (!isa<Float8E4M3FNType, Float4E2M1FNType>(stored)) // BF16/F32: as stored
        return PrecisionAttr::get(context, stored, f32, 0,
                                  *lowPrecisionGemm == GemmKind::emulated ? GemmKind::emulated
                                                                          : GemmKind::native);
      if (faithful && quantizable)
        return PrecisionAttr::get(context, stored, e4m3, kActBlock, *lowPrecisionGemm);
      return PrecisionAttr::get(context, stored, f32, 0, dequantGemm);
    };

    module.walk([&](Operation *op) {
      if (!overwrite && op->hasAttr(PrecisionAttr::kName))
        return; // a decision already made (or edited by a user) stands
      PrecisionAttr decision =
          llvm::TypeSwitch<Operation *, PrecisionAttr>(op)
              .Case([&](graph::LinearOp linear) { return gemmDecision(linear.getWeight(), true); })
              .Case([&](graph::BlockScaledMatmulOp matmul) { // already quantized
                Type stored = matmul.getRhs().getType().getElementType();
                return PrecisionAttr::get(context, stored, matmul.getLhs().getType().getElementType(),
                                          matmul.getLhsBlock(), *lowPrecisionGemm);
              })
              .Case([&](graph::GroupedLinearOp grouped) {
                return gemmDecision(grouped.getWeight(), false); // MODEL.md §6.7: wo_a
              })
              .Case([&](graph::MoeExpertsOp experts) { return gemmDecision(experts.getW1(), true); })
              .Case([&](graph::QatOp qat) {
                Type format = qat.getFormat();
                // No weights: `weights` is the tensor's own f32.
                return PrecisionAttr::get(context, f32, faithful ? format : f32,
                                          faithful ? qat.getGroupSize() : 0, GemmKind::emulated);
              })
              .Default([](Operation *) { return PrecisionAttr(); });
      if (decision)
        op->setAttr(PrecisionAttr::kName, decision);
    });
    module->setAttr("v4c.precision_policy",
                    DictionaryAttr::get(context, {NamedAttribute(StringAttr::get(context, "target"),
                                                                 StringAttr::get(context, target)),
                                                  NamedAttribute(StringAttr::get(context, "mode"),
                                                                 StringAttr::get(context, mode))}));
  }
};

} // namespace
} // namespace v4c
