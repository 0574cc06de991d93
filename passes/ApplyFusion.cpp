// v4c-apply-fusion: forms graph.fused regions from the recorded groups (Passes.td).
#include "passes/Dataflow.h"
#include "passes/Passes.h"

#include "ir/Graph/IR/GraphDialect.h"
#include "ir/Graph/IR/GraphOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <map>

namespace v4c {

#define GEN_PASS_DEF_APPLYFUSION
#include "passes/Passes.h.inc"

namespace {

using namespace mlir;

constexpr StringLiteral kGroupAttr = "v4c.fusion_group", kKindAttr = "v4c.fusion_kind";

int64_t groupOf(Operation *op) {
  auto group = op->getAttrOfType<IntegerAttr>(kGroupAttr);
  return group ? group.getInt() : -1;
}

/// Weights and constants are read inside the kernel rather than passed in.
bool readInside(Operation *def) {
  return def && (isa<graph::WeightOp>(def) || def->hasTrait<OpTrait::ConstantLike>());
}

struct ApplyFusion : impl::ApplyFusionBase<ApplyFusion> {
  void runOnOperation() final {
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && failed(apply(func.getBody().front())))
        return signalPassFailure();
  }

  LogicalResult apply(Block &block) {
    std::map<int64_t, SmallVector<Operation *>> groups;
    for (Operation &op : block.without_terminator())
      if (groupOf(&op) >= 0)
        groups[groupOf(&op)].push_back(&op);
    BlockDataflow dataflow(block);
    for (auto &[id, members] : groups) {
      auto kind = members.front()->getAttrOfType<StringAttr>(kKindAttr);
      for (Operation *op : members) {
        if (!op->getAttrOfType<StringAttr>(kKindAttr))
          return op->emitError() << "has " << kGroupAttr << " but no " << kKindAttr;
        if (op->getAttrOfType<StringAttr>(kKindAttr) != kind)
          return op->emitError() << "fusion group " << id << " mixes kinds (every member needs the "
                                 << "same " << kKindAttr << ")";
      }
      if (members.size() < 2)
        continue;
      for (Operation *op : members)
        if (!isMemoryEffectFree(op))
          return op->emitError() << "has side effects and cannot join fusion group " << id
                                 << " with other ops";
      if (Operation *between = dataflow.escapingPath(members))
        return between->emitError()
               << "lies on a path that leaves fusion group " << id
               << " and comes back: the group cannot be one kernel";
    }
    // Every group contiguous, then each group of several ops wrapped in a graph.fused.
    FailureOr<std::vector<Operation *>> order = dataflow.groupedOrder(groupOf);
    if (failed(order))
      return block.getParentOp()->emitError() << "the fusion groups form a cycle";
    for (Operation *op : *order)
      op->moveBefore(block.getTerminator());
    for (auto &[id, members] : groups)
      if (members.size() > 1)
        wrap(id, members);
    // Weights and constants now read inside the groups only.
    for (Operation &op : llvm::make_early_inc_range(block.without_terminator()))
      if (readInside(&op) && op.use_empty())
        op.erase();
    return success();
  }

  /// Moves `members` (contiguous, in order) into one graph.fused op.
  void wrap(int64_t id, ArrayRef<Operation *> members) {
    llvm::SmallPtrSet<Operation *, 8> inside(members.begin(), members.end());
    SmallVector<Value> inputs, outputs;
    for (Operation *op : members) {
      for (Value operand : op->getOperands())
        if (!inside.count(operand.getDefiningOp()) && !readInside(operand.getDefiningOp()) &&
            !llvm::is_contained(inputs, operand))
          inputs.push_back(operand);
      for (Value result : op->getResults())
        if (llvm::any_of(result.getUsers(), [&](Operation *user) { return !inside.count(user); }))
          outputs.push_back(result);
    }
    OpBuilder b(members.back()->getNextNode());
    Location loc = members.front()->getLoc();
    auto fused = b.create<graph::FusedOp>(loc, ValueRange(outputs).getTypes(), inputs,
                                          members.front()->getAttrOfType<StringAttr>(kKindAttr),
                                          b.getI64IntegerAttr(id));
    Block *body = b.createBlock(&fused.getBody(), {}, ValueRange(inputs).getTypes(),
                                SmallVector<Location>(inputs.size(), loc));
    IRMapping map;
    map.map(inputs, body->getArguments());
    b.setInsertionPointToStart(body);
    for (Operation *op : members) {
      for (Value operand : op->getOperands()) // weights and constants: a copy inside
        if (Operation *def = operand.getDefiningOp(); readInside(def) && !map.contains(operand))
          map.map(operand, b.clone(*def)->getResult(0));
      b.clone(*op, map);
    }
    b.create<graph::YieldOp>(loc, llvm::map_to_vector(outputs, [&](Value v) { return map.lookup(v); }));
    for (auto [output, result] : llvm::zip(outputs, fused.getResults()))
      output.replaceUsesWithIf(result, [&](OpOperand &use) { return !inside.count(use.getOwner()); });
    for (Operation *op : llvm::reverse(members))
      op->erase();
  }
};

} // namespace
} // namespace v4c
