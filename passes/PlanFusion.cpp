// v4c-plan-fusion: groups ops into kernels and records the groups (Passes.td).
#include "passes/Dataflow.h"
#include "passes/KernelStats.h"
#include "passes/Passes.h"

#include "ir/Graph/IR/GraphDialect.h"
#include "ir/Graph/IR/GraphOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/EquivalenceClasses.h"
#include "llvm/ADT/TypeSwitch.h"

namespace v4c {

#define GEN_PASS_DEF_PLANFUSION
#include "passes/Passes.h.inc"

namespace {

using namespace mlir;

bool isGemm(Operation *op) {
  return isa<graph::LinearOp, graph::BlockScaledMatmulOp, graph::GroupedLinearOp>(op);
}

/// The rule table: may `producer` be computed inside the kernel of `consumer`?
bool fusesInto(Operation *producer, Operation *consumer) {
  return llvm::TypeSwitch<Operation *, bool>(producer)
      .Case([&](graph::QuantizeOp) { return isa<graph::BlockScaledMatmulOp>(consumer); })
      .Case([&](graph::RmsNormOp) {
        return isa<graph::QuantizeOp, graph::RopeOp>(consumer) || isGemm(consumer);
      })
      .Case([&](graph::SwigluOp) { return isa<graph::QuantizeOp>(consumer) || isGemm(consumer); })
      .Case([&](graph::RopeOp) { return isa<graph::QatOp>(consumer); })
      .Default([](Operation *) { return false; });
}

template <class... Ops>
bool anyIs(ArrayRef<Operation *> members) {
  return llvm::any_of(members, [](Operation *op) { return isa<Ops...>(op); });
}

/// What a group computes, named by its ops.
std::string kindOf(ArrayRef<Operation *> members) {
  bool gemm = llvm::any_of(members, isGemm);
  if (gemm && anyIs<graph::RmsNormOp>(members))
    return "norm_gemm";
  if (gemm && anyIs<graph::SwigluOp>(members))
    return "swiglu_gemm";
  if (gemm && anyIs<graph::QuantizeOp>(members))
    return "quantize_gemm";
  if (anyIs<graph::RopeOp>(members) && anyIs<graph::RmsNormOp>(members))
    return anyIs<graph::QatOp>(members) ? "norm_rope_qat" : "norm_rope";
  // A group of one: the op's own kernel, named after the op (mHC, attention, ... included).
  return llvm::TypeSwitch<Operation *, std::string>(members.front())
      .Case([](graph::HcPreOp) { return "mhc_pre"; })
      .Case([](graph::HcPostOp) { return "mhc_post"; })
      .Case([](graph::HcHeadOp) { return "mhc_head"; })
      .Case([](graph::SparseAttentionOp) { return "attention"; })
      .Case([](graph::IndexTopkOp) { return "indexer"; })
      .Default([](Operation *op) {
        StringRef name = op->getName().getStringRef();
        return name.drop_until([](char c) { return c == '.'; }).drop_front().str();
      });
}

struct PlanFusion : impl::PlanFusionBase<PlanFusion> {
  using PlanFusionBase::PlanFusionBase;

  void runOnOperation() final {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      Block &block = func.getBody().front();
      bool planned = llvm::any_of(block, [](Operation &op) { return op.hasAttr(kGroupAttr); });
      if (planned && !overwrite)
        continue; // a user's (or an earlier run's) groups stand
      plan(block);
    }
  }

  static constexpr StringLiteral kGroupAttr = "v4c.fusion_group";
  static constexpr StringLiteral kKindAttr = "v4c.fusion_kind";

  void plan(Block &block) {
    BlockDataflow dataflow(block);
    llvm::EquivalenceClasses<Operation *> groups;
    SmallVector<Operation *> kernels;
    for (Operation &op : block.without_terminator())
      if (isKernelOp(&op)) {
        groups.insert(&op);
        kernels.push_back(&op);
      }
    auto membersOf = [&](Operation *op) {
      return llvm::to_vector(groups.members(op));
    };
    // Consumers first, so chains grow backwards: quantize joins its matmul, then the norm
    // joins both.
    for (Operation *producer : llvm::reverse(kernels)) {
      SmallVector<Operation *> users(producer->getUsers());
      if (users.empty() || !llvm::all_of(users, [&](Operation *user) {
            return user->getBlock() == &block && fusesInto(producer, user);
          }))
        continue;
      SmallVector<Operation *> merged = membersOf(producer);
      for (Operation *user : users)
        if (!groups.isEquivalent(user, producer))
          for (Operation *member : membersOf(user))
            if (!llvm::is_contained(merged, member))
              merged.push_back(member);
      if (dataflow.escapingPath(merged))
        continue; // some op between them needs the producer's result and feeds a consumer
      for (Operation *user : users)
        groups.unionSets(producer, user);
    }
    // Record: groups numbered in the order of their first op.
    MLIRContext *context = block.getParentOp()->getContext();
    llvm::DenseMap<Operation *, int64_t> idOfLeader;
    for (Operation *op : kernels) {
      Operation *leader = groups.getLeaderValue(op);
      auto [it, fresh] = idOfLeader.try_emplace(leader, int64_t(idOfLeader.size()));
      op->setAttr(kGroupAttr, IntegerAttr::get(IntegerType::get(context, 64), it->second));
      if (fresh) {
        SmallVector<Operation *> members = membersOf(op);
        llvm::sort(members, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
        auto kind = StringAttr::get(context, kindOf(members));
        for (Operation *member : members)
          member->setAttr(kKindAttr, kind);
      }
    }
  }
};

} // namespace
} // namespace v4c
