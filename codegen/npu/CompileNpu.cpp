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
    if (options.beforePlanning && mlir::failed(options.beforePlanning(prepared)))
      return mlir::failure(); // the caller's hook sees the graph before the offload
    mlir::FailureOr<OffloadPlan> plan = offloadToNpu(prepared, arch, options.maxSeqLen);
    if (mlir::failed(plan))
      return mlir::failure();
    auto list = [](const std::map<std::string, int> &counts) {
      std::string text;
      for (const auto &[kind, count] : counts)
        text += (text.empty() ? "" : ", ") + std::to_string(count) + " " + kind;
      return text;
    };
    std::string host = list(plan->hostOps), launches = list(plan->launchSites);
    progress(llvm::formatv("NPU {0}: launch sites {1} on {2} kernels; left in the host code: {3}",
                           arch.name, launches.empty() ? "none" : launches, plan->kernelCount,
                           host.empty() ? "none" : host)
                 .str());
    extras.segments.push_back({"npu_kernels", std::move(plan->library)});
    return mlir::success();
  };
  return cpu::compileToArtifact(module, checkpoint, withOffload, output, progress, {}, &extras);
}

} // namespace v4c::npu
