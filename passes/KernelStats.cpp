#include "passes/KernelStats.h"

#include "ir/Graph/IR/GraphOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>

namespace v4c {

using namespace mlir;

double tensorBytes(Type type, int64_t dynamicSize) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return 0;
  double elements = 1;
  for (int64_t d : tensor.getShape())
    elements *= ShapedType::isDynamic(d) ? dynamicSize : d;
  Type elem = tensor.getElementType();
  return elements * (elem.isIntOrFloat() ? elem.getIntOrFloatBitWidth() : 64) / 8.0;
}

namespace {
bool isView(Operation *op) { return isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(op); }

double elements(Type type, int64_t dynamicSize) {
  double n = 1;
  for (int64_t d : cast<RankedTensorType>(type).getShape())
    n *= ShapedType::isDynamic(d) ? dynamicSize : d;
  return n;
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

OpCost opCost(Operation *op, const CostShape &shape) {
  OpCost cost;
  int64_t T = shape.tokens;
  for (Value v : op->getOperands())
    if (!isa_and_nonnull<graph::WeightOp>(v.getDefiningOp()))
      cost.tensorBytes += tensorBytes(v.getType(), T);
  for (Value v : op->getResults())
    cost.tensorBytes += tensorBytes(v.getType(), T);
  auto weightBytes = [&](Value v) { return v ? tensorBytes(v.getType(), 1) : 0.0; };
  /// rows (all dims of x but the last) × N × K multiply-adds.
  auto gemm = [&](Value x, Value w, Value scale) {
    auto ws = cast<RankedTensorType>(w.getType()).getShape();
    cost.flops = 2 * elements(x.getType(), T) * ws[ws.size() - 2];
    cost.weightBytes = weightBytes(w) + weightBytes(scale);
  };
  llvm::TypeSwitch<Operation *>(op)
      .Case([&](graph::LinearOp o) { gemm(o.getInput(), o.getWeight(), o.getScale()); })
      .Case([&](graph::GroupedLinearOp o) {
        gemm(o.getInput(), o.getWeight(), o.getScale());
        cost.flops /= o.getGroups(); // each group of the input meets only its own rows
      })
      .Case([&](graph::BlockScaledMatmulOp o) { gemm(o.getLhs(), o.getRhs(), o.getRhsScale()); })
      .Case([&](graph::MoeExpertsOp o) {
        auto w1 = cast<RankedTensorType>(o.getW1().getType()).getShape(); // [E, inter, D]
        double topk = cast<RankedTensorType>(o.getWeights().getType()).getDimSize(1);
        double tokens = elements(o.getInput().getType(), T) / w1[2];
        cost.flops = 2 * tokens * topk * 3 * w1[1] * w1[2];
        double all = weightBytes(o.getW1()) + weightBytes(o.getW3()) + weightBytes(o.getW2()) +
                     weightBytes(o.getW1Scale()) + weightBytes(o.getW3Scale()) +
                     weightBytes(o.getW2Scale());
        cost.weightBytes = all * std::min(1.0, tokens * topk / w1[0]); // the experts touched
      })
      .Case([&](graph::EmbeddingOp o) { // one row per token
        auto table = cast<RankedTensorType>(o.getTable().getType());
        cost.weightBytes = weightBytes(o.getTable()) / table.getDimSize(0) * T;
      })
      .Case([&](graph::SparseAttentionOp o) {
        auto q = cast<RankedTensorType>(o.getQueries().getType()).getShape(); // [T, H, hd]
        double candidates = o.getWindow();
        if (o.getIndices())
          candidates += cast<RankedTensorType>(o.getIndices().getType()).getDimSize(1);
        else if (o.getCompressed())
          candidates += double(shape.context) / std::max<int64_t>(1, o.getRatio());
        cost.flops = 4 * double(T) * q[1] * q[2] * candidates; // scores and the weighted sum
        cost.tensorBytes += candidates * q[2] * 4;                // the keys/values read
      })
      .Case([&](graph::IndexTopkOp o) {
        auto q = cast<RankedTensorType>(o.getQueries().getType()).getShape(); // [T, H, D]
        double entries = double(shape.context) / std::max<int64_t>(1, o.getRatio());
        cost.flops = 2 * double(T) * q[1] * q[2] * entries;
        cost.tensorBytes += entries * q[2] * 4;
      })
      .Default([&](Operation *other) {
        // Elementwise and mixing ops: a few FLOPs per output element, plus a multiply-add per
        // element of any weight matrix they read (mHC projections, router, compressor).
        for (Value v : other->getResults())
          cost.flops += 4 * elements(v.getType(), T);
        for (Value v : other->getOperands())
          if (auto w = v.getDefiningOp<graph::WeightOp>()) {
            cost.weightBytes += weightBytes(v);
            cost.flops += 2 * double(T) * elements(v.getType(), 1);
          }
      });
  return cost;
}

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
        stats.activationBytes += tensorBytes(result.getType(), dynamicSize) * (1 + readers.size());
    }
  }
  return stats;
}

} // namespace v4c
