// The CPU target's pipeline, from a graph-dialect module to an object file.
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <string>

namespace v4c::cpu {

struct CpuOptions {
  std::string cpu = "host";   // LLVM CPU name ("host", "x86-64-v3", "x86-64-v4", ...)
  bool faithful = true;       // DeepSeek's quantization steps (MODEL.md §6.7)
  int64_t maxSeqLen = 4096;   // sizes the compressed KV caches
  /// A textual builtin.module pipeline run instead of the default graph-level one
  /// (passes/Pipelines.cpp), e.g. to switch passes off (`v4c compile --pipeline`).
  std::string graphPipeline;
  /// Runs after the graph-level passes and before memory planning: a target that offloads work
  /// from the generated code (the NPU) rewrites the module here.
  std::function<mlir::LogicalResult(mlir::ModuleOp)> beforePlanning;
};

/// Adds the graph-level passes `options` select to `pm` (a builtin.module pass manager): the
/// user's pipeline text, else the default. Fails, with a message, on text that does not parse.
mlir::LogicalResult addGraphPipeline(mlir::OpPassManager &pm, const CpuOptions &options);
/// The graph-level pipeline `options` select, as text (recorded in artifacts).
std::string graphPipelineText(const CpuOptions &options);

/// The steps after the graph lowering, as a textual pass list for a builtin.module pass manager.
std::string defaultLoweringPipeline();

/// Registers what the CPU pipeline needs in `registry` (dialects, bufferization models, LLVM
/// translation).
void registerCpuDependencies(mlir::DialectRegistry &registry);

/// Runs the graph-level pipeline, then `options.beforePlanning`, then plans memory (weight and
/// state offsets as attributes).
mlir::LogicalResult prepareModule(mlir::ModuleOp module, const CpuOptions &options,
                                  llvm::function_ref<void(llvm::StringRef)> progress = {});
/// Lowers a prepared module: graph ops to loops and everything to the LLVM dialect.
mlir::LogicalResult lowerPreparedModule(mlir::ModuleOp module,
                                        llvm::function_ref<void(llvm::StringRef)> progress = {});
/// prepareModule, then lowerPreparedModule. `progress` receives one line per stage.
mlir::LogicalResult lowerToLLVMDialect(mlir::ModuleOp module, const CpuOptions &options,
                                       llvm::function_ref<void(llvm::StringRef)> progress = {});

/// Translates an LLVM-dialect module to LLVM IR, optimizes it (O3) for `options.cpu` and
/// returns the object file bytes.
llvm::Expected<llvm::SmallVector<char, 0>> emitObject(mlir::ModuleOp module,
                                                     const CpuOptions &options);

} // namespace v4c::cpu
