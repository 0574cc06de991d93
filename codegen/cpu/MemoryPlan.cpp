#include "codegen/cpu/MemoryPlan.h"

#include "ir/Graph/IR/GraphOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace v4c::cpu {

int64_t paramBytes(RankedTensorType type) {
  int64_t elements = type.getNumElements();
  unsigned bits = type.getElementType().getIntOrFloatBitWidth();
  return (elements * bits + 7) / 8;
}

namespace {
int64_t alignUp(int64_t v) { return (v + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment; }
} // namespace

LogicalResult planMemory(ModuleOp module, int64_t maxSeqLen) {
  Builder b(module.getContext());
  int64_t weights = 0, state = 0;
  for (Operation &op : module.getBody()->getOperations()) {
    if (auto param = dyn_cast<graph::ParamOp>(op)) {
      int64_t bytes = paramBytes(cast<RankedTensorType>(param.getType()));
      param->setAttr("v4c.offset", b.getI64IntegerAttr(weights));
      param->setAttr("v4c.bytes", b.getI64IntegerAttr(bytes));
      weights = alignUp(weights + bytes);
    } else if (auto decl = dyn_cast<graph::StateOp>(op)) {
      auto type = cast<RankedTensorType>(decl.getType());
      int64_t rows = type.getDimSize(0);
      if (ShapedType::isDynamic(rows)) {
        // A compressed cache holds one entry per `tokens_per_entry` tokens of the context.
        auto per = decl->getAttrOfType<IntegerAttr>("tokens_per_entry");
        rows = graph::compressedCapacity(maxSeqLen, per ? per.getInt() : 1);
        decl->setAttr("v4c.capacity", b.getI64IntegerAttr(rows));
      }
      int64_t rowElements = 1;
      for (int64_t d : type.getShape().drop_front())
        rowElements *= d;
      int64_t bytes = rows * rowElements * 4; // f32
      decl->setAttr("v4c.offset", b.getI64IntegerAttr(state));
      decl->setAttr("v4c.bytes", b.getI64IntegerAttr(bytes));
      state = alignUp(state + bytes);
    }
  }
  module->setAttr("v4c.weights_bytes", b.getI64IntegerAttr(weights));
  module->setAttr("v4c.state_bytes", b.getI64IntegerAttr(state));
  module->setAttr("v4c.max_seq_len", b.getI64IntegerAttr(maxSeqLen));
  return success();
}

} // namespace v4c::cpu
