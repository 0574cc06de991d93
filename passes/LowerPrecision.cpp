// v4c-lower-precision: applies the decisions of v4c-precision-policy (Passes.td).
#include "passes/Passes.h"

#include "ir/Graph/IR/GraphDialect.h"
#include "ir/Graph/IR/GraphOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace v4c {

#define GEN_PASS_DEF_LOWERPRECISION
#include "passes/Passes.h.inc"

namespace {

using namespace mlir;
using graph::PrecisionAttr;

struct LowerPrecision : impl::LowerPrecisionBase<LowerPrecision> {
  void runOnOperation() final {
    ModuleOp module = getOperation();
    bool missing = false;
    module.walk([&](Operation *op) {
      if (!isa<graph::LinearOp, graph::QatOp>(op))
        return;
      auto precision = op->getAttrOfType<PrecisionAttr>(PrecisionAttr::kName);
      if (!precision) {
        op->emitError() << "has no " << PrecisionAttr::kName
                        << " decision (run v4c-precision-policy first)";
        missing = true;
        return;
      }
      if (auto qat = dyn_cast<graph::QatOp>(op)) {
        if (!precision.quantizesActivations()) { // the policy skips this round trip
          qat.replaceAllUsesWith(qat.getInput());
          qat.erase();
        }
        return;
      }
      auto linear = cast<graph::LinearOp>(op);
      if (precision.quantizesActivations())
        quantizeInput(linear, precision);
    });
    if (missing)
      signalPassFailure();
  }

  /// linear(x, w) → block_scaled_matmul(quantize(x), w), the decision kept on the matmul.
  void quantizeInput(graph::LinearOp linear, PrecisionAttr precision) {
    OpBuilder b(linear);
    Location loc = linear.getLoc();
    auto inType = cast<RankedTensorType>(linear.getInput().getType());
    int64_t block = precision.getActBlock();
    SmallVector<int64_t> scaleShape(inType.getShape());
    int64_t &last = scaleShape.back();
    last = ShapedType::isDynamic(last) ? last : (last + block - 1) / block;
    auto codesType = inType.clone(precision.getActivations());
    auto scalesType = RankedTensorType::get(scaleShape, inType.getElementType());
    auto quantize = b.create<graph::QuantizeOp>(loc, codesType, scalesType, linear.getInput(),
                                                b.getI64IntegerAttr(block));
    auto matmul = b.create<graph::BlockScaledMatmulOp>(
        loc, linear.getType(), quantize.getCodes(), quantize.getScales(), linear.getWeight(),
        linear.getScale(), b.getI64IntegerAttr(block), linear.getBlockAttr());
    matmul->setAttr(PrecisionAttr::kName, precision);
    linear.replaceAllUsesWith(matmul.getResult());
    linear.erase();
  }
};

} // namespace
} // namespace v4c
