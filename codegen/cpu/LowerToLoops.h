// Lowers a memory-planned graph-dialect module for the CPU: entry points get the runtime ABI
// (tensors become memrefs, plus the weight and state arenas and output buffers), and every
// graph op becomes scf loops over memrefs with f32 arithmetic, or a call to the block-scaled
// GEMM microkernel (runtime/kernels/Gemm.h).
#pragma once

#include "mlir/IR/BuiltinOps.h"

namespace v4c::cpu {

/// Precision follows each op's graph.precision decision (v4c-precision-policy): whether a GEMM
/// quantizes its activations, whether a QAT round trip runs. Ops with a precision choice and no
/// decision are an error.
mlir::LogicalResult lowerGraphToLoops(mlir::ModuleOp module);

} // namespace v4c::cpu
