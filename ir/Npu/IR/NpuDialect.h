// The npu dialect (NpuOps.td): kernels for a CANN-style NPU.
#pragma once

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Dialect.h"

#include "ir/Npu/IR/NpuDialect.h.inc"
