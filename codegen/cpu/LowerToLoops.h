// Lowers a memory-planned graph-dialect module for the CPU: entry points get the runtime ABI
// (tensors become memrefs, plus the weight and state arenas and output buffers), and every
// graph op becomes scf loops over memrefs with f32 arithmetic, or a call to the block-scaled
// GEMM microkernel (runtime/kernels/Gemm.h).
#pragma once

#include "mlir/IR/BuiltinOps.h"

namespace v4c::cpu {

/// `faithful` adds DeepSeek's activation quantization before FP8/FP4 GEMMs and keeps the QAT
/// round trips; otherwise both are skipped (MODEL.md §6.7 "dequant").
mlir::LogicalResult lowerGraphToLoops(mlir::ModuleOp module, bool faithful);

} // namespace v4c::cpu
