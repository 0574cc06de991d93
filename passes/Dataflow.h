// The dataflow graph of one block for the fusion passes, in Boost.Graph: a vertex per op, an
// edge per def-use pair inside the block, plus order edges between consecutive ops with side
// effects (their order is part of the program). The block's terminator stays out: it is last.
#pragma once

#include "mlir/IR/Block.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <boost/graph/adjacency_list.hpp>

#include <vector>

namespace v4c {

class BlockDataflow {
public:
  explicit BlockDataflow(mlir::Block &block);

  /// An op outside `members` that lies on a path from a member to a member (so one kernel
  /// cannot compute the members: contracting them would make a cycle), or null.
  mlir::Operation *escapingPath(llvm::ArrayRef<mlir::Operation *> members) const;

  /// The block's ops (terminator excluded) in an order where every group (ops with the same
  /// groupOf >= 0) is contiguous, defs precede uses and ops with side effects keep their
  /// order; among the orders that do, the one closest to the current order. Fails when no
  /// such order exists (a group that is not convex).
  mlir::FailureOr<std::vector<mlir::Operation *>>
  groupedOrder(llvm::function_ref<int64_t(mlir::Operation *)> groupOf) const;

private:
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS>;
  Graph graph_;
  std::vector<mlir::Operation *> ops_; // vertex i is ops_[i], in block order
  llvm::DenseMap<mlir::Operation *, size_t> vertexOf_;
};

} // namespace v4c
