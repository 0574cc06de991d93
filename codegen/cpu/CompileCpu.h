// `v4c compile --target cpu`: a graph module plus its checkpoint become a .v4a artifact holding
// the weights (streamed from the checkpoint in the planned layout) and the compiled code (a
// shared object linked with the GEMM microkernels).
#pragma once

#include "codegen/cpu/CpuPipeline.h"
#include "frontend/checkpoint/Safetensors.h"

namespace v4c::cpu {

/// What a target that offloads work from the generated code adds to a CPU artifact (the NPU:
/// its kernels and description, the launch shim the code calls). Filled in by the target's
/// CpuOptions::beforePlanning hook, which runs inside compileToArtifact.
struct ArtifactExtras {
  std::string targetKind = "cpu";
  std::string device; // Target.device: the accelerator's description
  std::vector<std::pair<std::string, std::vector<uint8_t>>> segments; // blob segments by name
  std::vector<std::string> linkInputs; // archives the code needs besides the microkernels
};

/// Compiles `module` (fresh from the importer; consumed) and writes the artifact to `output`
/// atomically. With `executable`, also links a standalone program there that runs the model
/// with the weights of `output` (runtime/standalone/ModelMain.cpp). `progress` receives one
/// line per stage.
/// Parameters with a `v4c.dequantize` attribute (naming a checkpoint weight) are written as that
/// weight decoded to f32 (scales applied): the layout an offload target's kernels read.
llvm::Error compileToArtifact(mlir::ModuleOp module, const Checkpoint &checkpoint,
                              const CpuOptions &options, llvm::StringRef output,
                              llvm::function_ref<void(llvm::StringRef)> progress,
                              llvm::StringRef executable = {},
                              const ArtifactExtras *extras = nullptr);

/// Links an object file with the microkernels (and `inputs`) into a shared object (bytes).
llvm::Expected<std::vector<uint8_t>> linkSharedObject(llvm::ArrayRef<char> object,
                                                      llvm::ArrayRef<std::string> inputs = {});

/// Links an object file with the standalone main and the runtime into an executable at `path`
/// (written to a temporary name, then renamed).
llvm::Error linkExecutable(llvm::ArrayRef<char> object, llvm::StringRef path);

} // namespace v4c::cpu
