// `v4c compile --target cpu`: a graph module plus its checkpoint become a .v4a artifact holding
// the weights (streamed from the checkpoint in the planned layout) and the compiled code (a
// shared object linked with the GEMM microkernels).
#pragma once

#include "codegen/cpu/CpuPipeline.h"
#include "frontend/checkpoint/Safetensors.h"

namespace v4c::cpu {

/// Compiles `module` (fresh from the importer; consumed) and writes the artifact to `output`
/// atomically. With `executable`, also links a standalone program there that runs the model
/// with the weights of `output` (runtime/standalone/ModelMain.cpp). `progress` receives one
/// line per stage.
llvm::Error compileToArtifact(mlir::ModuleOp module, const Checkpoint &checkpoint,
                              const CpuOptions &options, llvm::StringRef output,
                              llvm::function_ref<void(llvm::StringRef)> progress,
                              llvm::StringRef executable = {});

/// Links an object file with the microkernels into a shared object (bytes).
llvm::Expected<std::vector<uint8_t>> linkSharedObject(llvm::ArrayRef<char> object);

/// Links an object file with the standalone main and the runtime into an executable at `path`
/// (written to a temporary name, then renamed).
llvm::Error linkExecutable(llvm::ArrayRef<char> object, llvm::StringRef path);

} // namespace v4c::cpu
