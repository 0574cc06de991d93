#include "runtime/npu/Device.h"

#include "runtime/npu/Kernel_generated.h"

#include <algorithm>
#include <cstdio>

namespace v4c::npu {

std::unique_ptr<NpuDevice> NpuDevice::open(const Arch &arch, const uint8_t *library, size_t size,
                                           DeviceOptions options, std::string &error) {
  flatbuffers::Verifier verifier(library, size);
  if (!fb::VerifyKernelLibraryBuffer(verifier)) {
    error = "the NPU kernel library is corrupt (it does not verify)";
    return nullptr;
  }
  const fb::KernelLibrary *parsed = fb::GetKernelLibrary(library);
  if (!parsed->kernels()) {
    error = "the NPU kernel library has no kernel list";
    return nullptr;
  }
  if (parsed->abi() != V4C_NPU_ABI) {
    error = "the NPU kernel library was compiled for launch ABI " + std::to_string(parsed->abi()) +
            "; this runtime runs ABI " + std::to_string(V4C_NPU_ABI) + " (recompile the model)";
    return nullptr;
  }
  if (!parsed->arch() || parsed->arch()->str() != arch.description) {
    error = "the NPU kernel library was compiled for another NPU than the artifact names";
    return nullptr;
  }
  return std::unique_ptr<NpuDevice>(new NpuDevice(arch, parsed, options));
}

size_t NpuDevice::kernelCount() const { return library_->kernels()->size(); }

void NpuDevice::launch(int32_t index, void *const buffers[V4C_NPU_LAUNCH_BUFFERS], const int64_t scalars[V4C_NPU_LAUNCH_SCALARS]) {
  if (!error_.empty())
    return;
  if (index < 0 || size_t(index) >= kernelCount()) {
    error_ = "launch of NPU kernel " + std::to_string(index) + ": the library has " +
             std::to_string(kernelCount());
    return;
  }
  const fb::Kernel &kernel = *library_->kernels()->Get(index);
  size_t params = kernel.params() ? kernel.params()->size() : 0;
  size_t scalarCount = kernel.scalars() ? kernel.scalars()->size() : 0;
  auto tooMany = [&] {
    error_ = "NPU kernel " + std::to_string(index) + " takes more arguments than a launch passes";
  };
  if (scalarCount > V4C_NPU_LAUNCH_SCALARS)
    return tooMany();
  std::vector<int64_t> args(scalars, scalars + scalarCount);
  std::vector<GmBinding> bindings;
  size_t passed = 0; // the host passes a buffer for each param but the constant ones
  for (size_t i = 0; i < params; ++i) {
    if (isConstant(kernel, i)) {
      bindings.push_back(constantBinding(kernel, i));
      continue;
    }
    if (passed == V4C_NPU_LAUNCH_BUFFERS)
      return tooMany();
    uint64_t bytes = paramBytes(kernel, i, args);
    if (!buffers[passed] && bytes > 0) {
      error_ = "NPU kernel '" + kernel.name()->str() + "' launched without a buffer for '" +
               kernel.params()->Get(i)->name()->str() + "'";
      return;
    }
    bindings.push_back({static_cast<uint8_t *>(buffers[passed++]), bytes});
  }
  SimOptions sim;
  sim.checkRaces = options_.checkRaces;
  sim.trace = options_.trace && options_.trace->size() < options_.maxTraceEvents ? options_.trace
                                                                                 : nullptr;
  sim.startUs = clockUs_;
  LaunchStats stats;
  if (!simulate(arch_, kernel, bindings, args, sim, stats, error_))
    return;
  clockUs_ += stats.microseconds;
  totals_.accumulate(stats);
  ++launches_;
  PerKernel &mine = perKernel_[kernel.name()->str()];
  ++mine.launches;
  mine.stats.accumulate(stats);
}

std::string NpuDevice::summary() const {
  std::string out;
  char line[256];
  double busyUs = totals_.microseconds;
  std::snprintf(line, sizeof line,
                "NPU %s (simulated): %llu kernel launches, %.1f us at %.2f GHz "
                "(%llu cycles + %.1f us launch overhead)\n",
                arch_.name.c_str(), (unsigned long long)launches_, busyUs, arch_.clockGhz,
                (unsigned long long)totals_.cycles, launches_ * arch_.launchOverheadUs);
  out += line;
  // Pipe time as a share of the cores-used x cycles available.
  out += "  pipe busy (share of core time):";
  for (int p = 0; p < kNumPipes; ++p) {
    if (totals_.busy[p] == 0)
      continue;
    double share = double(totals_.busy[p]) /
                   std::max(1.0, double(totals_.cycles) * std::max(1u, totals_.coresUsed));
    std::snprintf(line, sizeof line, " %s %.1f%%", pipeName(Pipe(p)), 100 * share);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "\n  cube utilization %.1f%%; GM read %.1f MiB, written %.1f MiB, HBM %.1f MiB\n",
                100 * totals_.cubeUtilization(), totals_.gmBytesRead / 1048576.0,
                totals_.gmBytesWritten / 1048576.0, totals_.hbmBytes / 1048576.0);
  out += line;
  std::vector<std::pair<std::string, PerKernel>> kernels(perKernel_.begin(), perKernel_.end());
  std::sort(kernels.begin(), kernels.end(), [](const auto &a, const auto &b) {
    return a.second.stats.microseconds > b.second.stats.microseconds;
  });
  constexpr size_t kListed = 10;
  for (size_t i = 0; i < kernels.size() && i < kListed; ++i) {
    std::snprintf(line, sizeof line, "  %-24s %6llu launches %10.1f us  cube %.1f%%\n",
                  kernels[i].first.c_str(), (unsigned long long)kernels[i].second.launches,
                  kernels[i].second.stats.microseconds,
                  100 * kernels[i].second.stats.cubeUtilization());
    out += line;
  }
  if (kernels.size() > kListed) {
    double restUs = 0;
    uint64_t restLaunches = 0;
    for (size_t i = kListed; i < kernels.size(); ++i) {
      restUs += kernels[i].second.stats.microseconds;
      restLaunches += kernels[i].second.launches;
    }
    std::snprintf(line, sizeof line, "  (%zu more kernels: %llu launches, %.1f us)\n",
                  kernels.size() - kListed, (unsigned long long)restLaunches, restUs);
    out += line;
  }
  if (options_.trace && options_.trace->size() >= options_.maxTraceEvents)
    out += "  (the trace stopped at " + std::to_string(options_.maxTraceEvents) + " events)\n";
  return out;
}

} // namespace v4c::npu
