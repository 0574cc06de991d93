// Ops of the graph dialect (see GraphOps.td).
#pragma once

#include "ir/Graph/IR/GraphDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "ir/Graph/IR/GraphOps.h.inc"

namespace v4c::graph {

/// Entries a compressed KV cache (graph.state with tokens_per_entry = `ratio`) holds for a
/// context of `maxSeqLen` tokens: what memory planning sizes it to, and the NPU kernels walk.
inline int64_t compressedCapacity(int64_t maxSeqLen, int64_t ratio) {
  return maxSeqLen / (ratio > 0 ? ratio : 1);
}

} // namespace v4c::graph
