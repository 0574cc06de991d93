#include "passes/KernelStats.h"

#include "ir/Graph/IR/GraphOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace v4c {

using namespace mlir;

namespace {
bool isView(Operation *op) { return isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(op); }

double bytesOf(Type type, int64_t dynamicSize) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return 0;
  double elements = 1;
  for (int64_t d : tensor.getShape())
    elements *= ShapedType::isDynamic(d) ? dynamicSize : d;
  return elements * tensor.getElementTypeBitWidth() / 8.0;
}

/// The kernels that read `value`, looking through shape views.
void consumers(Value value, llvm::SmallPtrSetImpl<Operation *> &out) {
  for (Operation *user : value.getUsers()) {
    if (isView(user))
      consumers(user->getResult(0), out);
    else if (isKernelOp(user))
      out.insert(user);
  }
}
} // namespace

bool isKernelOp(Operation *op) {
  if (isa<graph::WeightOp, graph::YieldOp>(op) || isView(op) ||
      op->hasTrait<OpTrait::ConstantLike>())
    return false;
  return llvm::any_of(op->getResultTypes(), [](Type t) { return isa<RankedTensorType>(t); });
}

KernelStats kernelStats(func::FuncOp func, int64_t dynamicSize) {
  KernelStats stats;
  for (Operation &op : func.getBody().front()) {
    if (!isKernelOp(&op))
      continue;
    ++stats.kernels;
    for (Value result : op.getResults()) {
      llvm::SmallPtrSet<Operation *, 4> readers;
      consumers(result, readers);
      if (!readers.empty())
        stats.activationBytes += bytesOf(result.getType(), dynamicSize) * (1 + readers.size());
    }
  }
  return stats;
}

} // namespace v4c
