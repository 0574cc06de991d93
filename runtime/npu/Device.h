// The simulated NPU as a device the host code launches kernels on: the arch it was compiled
// for, the artifact's kernel library, and running totals (cycles, pipe time, cube utilization)
// for the summary that v4c-run prints.
#pragma once

#include "runtime/npu/Arch.h"
#include "runtime/npu/Launch.h"
#include "runtime/npu/Simulator.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace v4c::npu {

namespace fb {
struct KernelLibrary;
}

struct DeviceOptions {
  bool checkRaces = true;      // the race detector on every launch
  Trace *trace = nullptr;      // record a timeline (launches follow each other)
  size_t maxTraceEvents = 2'000'000;
};

class NpuDevice {
public:
  /// A device for `arch` running the kernels of `library` (a KernelLibrary flatbuffer, verified
  /// here; the bytes must outlive the device). Null with `error` set when they do not fit.
  static std::unique_ptr<NpuDevice> open(const Arch &arch, const uint8_t *library, size_t size,
                                         DeviceOptions options, std::string &error);

  /// Runs kernel `index` with GM buffers in parameter order and its scalar arguments. After a
  /// failure, further launches do nothing until clearError(): error() says what happened.
  void launch(int32_t index, void *const buffers[V4C_NPU_LAUNCH_BUFFERS], const int64_t scalars[V4C_NPU_LAUNCH_SCALARS]);
  const std::string &error() const { return error_; }
  void clearError() { error_.clear(); }

  const Arch &arch() const { return arch_; }
  size_t kernelCount() const;
  /// Totals over every launch so far.
  const LaunchStats &totals() const { return totals_; }
  uint64_t launches() const { return launches_; }
  /// A human-readable summary: launches, simulated time at the arch's clock, pipe busy times,
  /// cube utilization, the kernels by time.
  std::string summary() const;

private:
  NpuDevice(const Arch &arch, const fb::KernelLibrary *library, DeviceOptions options)
      : arch_(arch), library_(library), options_(options) {}

  Arch arch_;
  const fb::KernelLibrary *library_;
  DeviceOptions options_;
  std::string error_;
  LaunchStats totals_;
  uint64_t launches_ = 0;
  double clockUs_ = 0; // where the next launch starts on the trace
  struct PerKernel {
    uint64_t launches = 0;
    LaunchStats stats;
  };
  std::map<std::string, PerKernel> perKernel_;
};

} // namespace v4c::npu
