// `v4c compile --target npu`: the host program (CPU code, which launches the kernels) plus the
// NPU kernel library and the NPU's description, in one .v4a artifact.
#pragma once

#include "codegen/cpu/CompileCpu.h"
#include "runtime/npu/Arch.h"

namespace v4c::npu {

/// Compiles `module` for `arch`: the graph passes, the offload of what the NPU runs
/// (offloadToNpu), the host code for the rest; writes the artifact to `output` atomically.
llvm::Error compileNpuArtifact(mlir::ModuleOp module, const Checkpoint &checkpoint,
                               const cpu::CpuOptions &options, const Arch &arch,
                               llvm::StringRef output,
                               llvm::function_ref<void(llvm::StringRef)> progress);

} // namespace v4c::npu
