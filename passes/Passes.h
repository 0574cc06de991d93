// The graph-level passes and the named pipelines (see Passes.td for what each pass does).
#pragma once

#include "mlir/Pass/Pass.h"

#include <memory>
#include <string>

namespace v4c {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Options of the graph-level pipeline that `v4c compile` runs before code generation.
struct GraphPipelineOptions {
  std::string target = "cpu";     // cpu, npu-910b, npu-950
  std::string mode = "faithful";  // faithful or dequant
};
/// Adds the graph-level pipeline to a builtin.module pass manager.
void buildGraphPipeline(mlir::OpPassManager &pm, const GraphPipelineOptions &options);
/// Registers every pass and the named pipeline `v4c-graph-pipeline` (for v4c-opt).
void registerAllV4CPasses();

} // namespace v4c
