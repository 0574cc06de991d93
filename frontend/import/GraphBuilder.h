// Builds the graph-dialect module of a DeepSeek-V4 model from its config and (optionally) the
// checkpoint's tensor table. Weights are referenced by name, never loaded.
#pragma once

#include "frontend/checkpoint/Safetensors.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

namespace v4c {

/// Entry points of the module (see frontend/import/README.md):
///   func.func @forward(%tokens: tensor<?xi32>, %start: index)
///       -> (tensor<?xVxf32> logits, tensor<?xnxDxf32> final residual streams)
///   func.func @mtp0(%streams: tensor<?xnxDxf32>, %next_tokens: tensor<?xi32>, %start: index)
///       -> tensor<?xVxf32>
/// One call processes T tokens at positions start..start+T-1: prefill is one call at start 0,
/// decode is a call with T = 1; `graph.state` symbols carry the KV state between calls.
///
/// With `checkpoint` holding weights, every expected tensor must be present with the right
/// shape and an accepted dtype; parameter types follow the file. Without weights (a directory
/// holding only config.json), parameter types come from the config.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildV4Graph(mlir::MLIRContext &context, const ModelConfig &config, const Checkpoint *checkpoint);

} // namespace v4c
