#include "runtime/npu/NpuEngine.h"

#include "runtime/artifact/Artifact.h"
#include "runtime/cpu/CpuEngine.h"
#include "runtime/npu/Launch.h"

#include <dlfcn.h>

namespace v4c::npu {

NpuRun openNpuEngine(const std::string &path, const DeviceOptions &options, std::string &error) {
  NpuRun run;
  auto device = std::make_shared<std::shared_ptr<NpuDevice>>(); // set once the artifact is open
  cpu::CodeHooks hooks;
  hooks.targetKind = "npu";
  hooks.onLoad = [device, options](void *library, const artifact::Artifact &artifact,
                                   std::string &error) {
    Arch arch;
    if (!parseArch(artifact.target().device, artifact.path() + "'s NPU description", arch, error))
      return false;
    const artifact::SegmentView *kernels = artifact.segment("npu_kernels");
    if (!kernels) {
      error = artifact.path() + " has no NPU kernels (segment npu_kernels)";
      return false;
    }
    std::unique_ptr<NpuDevice> opened =
        NpuDevice::open(arch, kernels->data, kernels->size, options, error);
    if (!opened) {
      error = artifact.path() + ": " + error;
      return false;
    }
    auto setLauncher =
        reinterpret_cast<void (*)(v4c_npu_launcher, void *)>(dlsym(library, "v4c_npu_set_launcher"));
    if (!setLauncher) {
      error = artifact.path() + ": the code has no NPU launch entry (v4c_npu_set_launcher)";
      return false;
    }
    *device = std::move(opened);
    setLauncher(
        [](void *context, int32_t kernel, void *const buffers[V4C_NPU_LAUNCH_BUFFERS], const int64_t scalars[V4C_NPU_LAUNCH_SCALARS]) {
          static_cast<NpuDevice *>(context)->launch(kernel, buffers, scalars);
        },
        device->get());
    return true;
  };
  // A failed launch cannot stop the host code midway; its results are refused afterwards.
  hooks.afterCall = [device](std::string &error) {
    if (!*device || (*device)->error().empty())
      return true;
    error = "NPU: " + (*device)->error();
    (*device)->clearError();
    return false;
  };
  run.engine = cpu::openCpuEngine(path, error, nullptr, hooks);
  if (run.engine)
    run.device = *device;
  return run;
}

} // namespace v4c::npu
