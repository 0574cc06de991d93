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

/// Kernels of `func`'s body and the bytes they hand each other per call, with every dynamic
/// dimension taken as `dynamicSize` (1: one decode token). Values seen through shape views
/// count once, at their consumers.
KernelStats kernelStats(mlir::func::FuncOp func, int64_t dynamicSize = 1);

} // namespace v4c
