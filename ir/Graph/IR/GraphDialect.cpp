#include "ir/Graph/IR/GraphDialect.h"
#include "ir/Graph/IR/GraphOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace v4c::graph;

#include "ir/Graph/IR/GraphDialect.cpp.inc"
#include "ir/Graph/IR/GraphEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "ir/Graph/IR/GraphAttrs.cpp.inc"

void GraphDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ir/Graph/IR/GraphOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ir/Graph/IR/GraphAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// #graph.precision and the graph.precision attribute
//===----------------------------------------------------------------------===//

LogicalResult PrecisionAttr::verify(function_ref<InFlightDiagnostic()> emitError, Type weights,
                                    Type activations, int64_t actBlock, GemmKind) {
  if (!isa<Float8E4M3FNType, Float4E2M1FNType, BFloat16Type, Float32Type>(weights))
    return emitError() << "weights must be f8E4M3FN, f4E2M1FN, bf16 or f32, got " << weights;
  if (!isa<Float8E4M3FNType, Float4E2M1FNType, Float32Type>(activations))
    return emitError() << "activations must be f8E4M3FN, f4E2M1FN or f32, got " << activations;
  if (activations.isF32() ? actBlock != 0 : actBlock < 1)
    return emitError() << "act_block must be positive when activations are quantized and 0 "
                          "otherwise, got "
                       << actBlock;
  return success();
}

LogicalResult GraphDialect::verifyOperationAttribute(Operation *op, NamedAttribute attribute) {
  if (attribute.getName() != PrecisionAttr::kName)
    return op->emitError() << "unknown graph dialect attribute '" << attribute.getName().getValue()
                           << "'";
  auto precision = dyn_cast<PrecisionAttr>(attribute.getValue());
  if (!precision)
    return op->emitError() << "'" << PrecisionAttr::kName << "' must be a #graph.precision";
  Type activations = precision.getActivations();
  if (auto qat = dyn_cast<QatOp>(op)) {
    if (activations != qat.getFormat() && !activations.isF32())
      return op->emitError() << "precision of a qat round trip must have activations = its "
                                "format ("
                             << qat.getFormat() << ", the round trip runs) or f32 (it is skipped)";
    return success();
  }
  Value weight = llvm::TypeSwitch<Operation *, Value>(op)
                     .Case<LinearOp, GroupedLinearOp>([](auto linear) { return linear.getWeight(); })
                     .Case([](MoeExpertsOp experts) { return experts.getW1(); })
                     .Case([](BlockScaledMatmulOp matmul) { return matmul.getRhs(); })
                     .Default([](Operation *) { return Value(); });
  if (!weight)
    return op->emitError() << "'" << PrecisionAttr::kName
                           << "' applies to linears, experts, block-scaled matmuls and qat ops";
  Type stored = cast<RankedTensorType>(weight.getType()).getElementType();
  if (precision.getWeights() != stored)
    return op->emitError() << "precision says weights are " << precision.getWeights()
                           << " but the op's weight is " << stored;
  if (!isa<Float8E4M3FNType, Float32Type>(activations))
    return op->emitError() << "GEMM activations must be f8E4M3FN or f32, got " << activations;
  if (auto matmul = dyn_cast<BlockScaledMatmulOp>(op))
    if (activations != matmul.getLhs().getType().getElementType() ||
        precision.getActBlock() != matmul.getLhsBlock())
      return op->emitError() << "precision of a block_scaled_matmul must have activations = its "
                                "lhs element type and act_block = its lhs_block";
  return success();
}

//===----------------------------------------------------------------------===//
// #graph.rope<dim = 64, theta = 1.6e+05[, yarn_factor = 16.0, yarn_original = 65536,
//             yarn_beta = [32.0, 1.0]]>
//===----------------------------------------------------------------------===//

RopeAttr RopeAttr::get(MLIRContext *context, int64_t dim, double theta, double yarnFactor,
                       int64_t yarnOriginal, double betaFast, double betaSlow) {
  return Base::get(context, dim, llvm::APFloat(theta), llvm::APFloat(yarnFactor), yarnOriginal,
                   llvm::APFloat(betaFast), llvm::APFloat(betaSlow));
}

LogicalResult RopeAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t dim,
                               llvm::APFloat thetaF, llvm::APFloat yarnFactorF,
                               int64_t yarnOriginal, llvm::APFloat betaFastF,
                               llvm::APFloat betaSlowF) {
  double theta = thetaF.convertToDouble(), yarnFactor = yarnFactorF.convertToDouble();
  double betaFast = betaFastF.convertToDouble(), betaSlow = betaSlowF.convertToDouble();
  if (dim <= 0 || dim % 2 != 0)
    return emitError() << "rope dim must be positive and even, got " << dim;
  if (!(theta > 1.0))
    return emitError() << "rope theta must be > 1, got " << theta;
  if (!(yarnFactor >= 1.0) || yarnOriginal < 0)
    return emitError() << "yarn_factor must be >= 1 and yarn_original >= 0";
  if (!(betaFast > 0 && betaSlow > 0))
    return emitError() << "yarn_beta values must be positive";
  return success();
}

Attribute RopeAttr::parse(AsmParser &parser, Type) {
  int64_t dim = 0, original = 0;
  double theta = 0, factor = 1.0, betaFast = 32.0, betaSlow = 1.0;
  if (parser.parseLess() || parser.parseKeyword("dim") || parser.parseEqual() ||
      parser.parseInteger(dim) || parser.parseComma() || parser.parseKeyword("theta") ||
      parser.parseEqual() || parser.parseFloat(theta))
    return {};
  if (succeeded(parser.parseOptionalComma())) {
    if (parser.parseKeyword("yarn_factor") || parser.parseEqual() || parser.parseFloat(factor) ||
        parser.parseComma() || parser.parseKeyword("yarn_original") || parser.parseEqual() ||
        parser.parseInteger(original) || parser.parseComma() ||
        parser.parseKeyword("yarn_beta") || parser.parseEqual() || parser.parseLSquare() ||
        parser.parseFloat(betaFast) || parser.parseComma() || parser.parseFloat(betaSlow) ||
        parser.parseRSquare())
      return {};
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<RopeAttr>(parser.getContext(), dim, llvm::APFloat(theta),
                                     llvm::APFloat(factor), original, llvm::APFloat(betaFast),
                                     llvm::APFloat(betaSlow));
}

void RopeAttr::print(AsmPrinter &printer) const {
  printer << "<dim = " << getDim() << ", theta = ";
  printer.printFloat(getTheta());
  bool defaultYarn = yarnFactor() == 1.0 && getYarnOriginal() == 0 && betaFast() == 32.0 &&
                     betaSlow() == 1.0;
  if (!defaultYarn) {
    printer << ", yarn_factor = ";
    printer.printFloat(getYarnFactor());
    printer << ", yarn_original = " << getYarnOriginal() << ", yarn_beta = [";
    printer.printFloat(getBetaFast());
    printer << ", ";
    printer.printFloat(getBetaSlow());
    printer << "]";
  }
  printer << ">";
}
