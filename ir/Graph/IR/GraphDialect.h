// The graph dialect (target-independent V4 model graph) and its attributes.
#pragma once

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "ir/Graph/IR/GraphDialect.h.inc"
#include "ir/Graph/IR/GraphEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ir/Graph/IR/GraphAttrs.h.inc"
