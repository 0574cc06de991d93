#include "codegen/npu/CompileNpu.h"

#include "codegen/npu/NpuTarget.h"

#include "llvm/Support/FormatVariadic.h"

namespace v4c::npu {

llvm::Error compileNpuArtifact(mlir::ModuleOp module, const Checkpoint &checkpoint,
                               const cpu::CpuOptions &options, const Arch &arch,
                               llvm::StringRef output,
                               llvm::function_ref<void(llvm::StringRef)> progress) {
  cpu::ArtifactExtras extras;
  extras.targetKind = "npu";
  extras.device = arch.description;
  extras.linkInputs = {V4C_NPU_LAUNCH_ARCHIVE};
  cpu::CpuOptions withOffload = options;
  withOffload.beforePlanning = [&](mlir::ModuleOp prepared) -> mlir::LogicalResult {
    mlir::FailureOr<OffloadPlan> plan = offloadToNpu(prepared, arch);
    if (mlir::failed(plan))
      return mlir::failure();
    std::string host;
    for (const auto &[kind, count] : plan->hostGemms)
      host += (host.empty() ? "" : ", ") + std::to_string(count) + " " + kind;
    progress(llvm::formatv("NPU {0}: {1} GEMM launch sites on {2} kernels; in the host code: {3}",
                           arch.name, plan->launchSites, plan->kernelCount,
                           host.empty() ? "no matrix products" : host)
                 .str());
    extras.segments.push_back({"npu_kernels", std::move(plan->library)});
    return mlir::success();
  };
  return cpu::compileToArtifact(module, checkpoint, withOffload, output, progress, {}, &extras);
}

} // namespace v4c::npu
