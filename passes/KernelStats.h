// What a function costs in kernels and activation traffic, before or after fusion: the
// numbers the fusion benchmark and the compile reports print.
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace v4c {

/// Whether `op` is a kernel of its own: it computes a tensor. Weights and constants (read where
/// they are used), shape views and scalar index arithmetic are not.
bool isKernelOp(mlir::Operation *op);

struct KernelStats {
  int64_t kernels = 0;          // graph.fused ops plus kernel ops outside them
  double activationBytes = 0;   // tensors handed from kernel to kernel: 1 write + 1 read per consumer
};

/// Sizes the cost model assumes for dynamic dimensions.
struct CostShape {
  int64_t tokens = 1;     // T of this call (1: a decode step)
  int64_t context = 1024; // tokens already seen: sizes the compressed caches attention reads
};

/// One op's work for one call: FLOPs (a multiply-add is 2), bytes of weights it reads (routed
/// experts: only the top-k's share), and bytes of tensors it reads and writes. An estimate from
/// shapes (MODEL.md §6.4 for the attention and expert formulas), not a measurement.
struct OpCost {
  double flops = 0, weightBytes = 0, tensorBytes = 0;
};
OpCost opCost(mlir::Operation *op, const CostShape &shape);

/// The bytes of a tensor type with dynamic dims taken as `dynamicSize`.
double tensorBytes(mlir::Type type, int64_t dynamicSize);

/// Kernels of `func`'s body and the bytes they hand each other per call, with every dynamic
/// dimension taken as `dynamicSize` (1: one decode token). Values seen through shape views
/// count once, at their consumers.
KernelStats kernelStats(mlir::func::FuncOp func, int64_t dynamicSize = 1);

} // namespace v4c
