// Memory planning for the CPU target (deciding, not applying): every graph.param gets its byte
// offset in the artifact's weight segment, every graph.state its offset in the state arena.
// Offsets are recorded as attributes (`v4c.offset`, `v4c.bytes`) and totals on the module
// (`v4c.weights_bytes`, `v4c.state_bytes`), so the lowering and the artifact writer read one
// plan, and a user can inspect or edit it in the IR.
#pragma once

#include "mlir/IR/BuiltinOps.h"

namespace v4c::cpu {

/// Byte size of a parameter as stored (FP4 packs two values per byte).
int64_t paramBytes(mlir::RankedTensorType type);

/// Plans the module; compressed caches are sized for `maxSeqLen` tokens.
mlir::LogicalResult planMemory(mlir::ModuleOp module, int64_t maxSeqLen);

constexpr int64_t kTensorAlignment = 64;

} // namespace v4c::cpu
