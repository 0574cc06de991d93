// Ops of the graph dialect (see GraphOps.td).
#pragma once

#include "ir/Graph/IR/GraphDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "ir/Graph/IR/GraphOps.h.inc"
