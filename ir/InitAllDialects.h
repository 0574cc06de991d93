// Every dialect a v4c tool may meet in a module; tools call this one function so that adding
// a dialect is a one-line change here.
#pragma once

#include "ir/Graph/IR/GraphDialect.h"
#include "ir/Npu/IR/NpuDialect.h"

#include "mlir/IR/DialectRegistry.h"

namespace v4c {

inline void registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<graph::GraphDialect, npu::NpuDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::scf::SCFDialect, mlir::tensor::TensorDialect>();
}

} // namespace v4c
