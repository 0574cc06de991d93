// Runs an artifact compiled with `--target npu`: its host code (CPU code, like a CANN host
// program) runs natively and launches the NPU kernels of the artifact's library on the
// simulated device described by the artifact.
#pragma once

#include "runtime/Engine.h"
#include "runtime/npu/Device.h"

#include <memory>
#include <string>

namespace v4c::npu {

struct NpuRun {
  std::unique_ptr<Engine> engine;
  std::shared_ptr<NpuDevice> device; // the simulated NPU: totals and summary
};

/// Opens `path`; on failure `engine` is null and `error` says why.
NpuRun openNpuEngine(const std::string &path, const DeviceOptions &options, std::string &error);

} // namespace v4c::npu
