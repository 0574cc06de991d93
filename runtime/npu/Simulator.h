// Executes NPU kernel binaries (Kernel.fbs) on a simulated CANN-style NPU (Arch.h): functionally,
// with the real data layouts and numerics, and in time, per pipe, with NPU.md §7.4's cost model.
// It also checks the program: every access is bounds- and alignment-checked, every pair of
// conflicting accesses by different pipes must be ordered by a flag or barrier (a race
// detector with vector clocks, as ThreadSanitizer does for threads), the blocks of a launch
// must not write what another block reads or writes (they are unordered), flags must be
// balanced and a wait must have a set to wait for. A violation stops the launch with an error
// naming the instruction.
#pragma once

#include "runtime/npu/Arch.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace v4c::npu {

namespace fb {
struct Kernel;
}

/// A GM buffer bound to one of the kernel's params (data may be null in timing-only runs).
struct GmBinding {
  uint8_t *data = nullptr;
  uint64_t bytes = 0;
};

/// Chrome trace events (chrome://tracing, Perfetto): one process per core, one thread per pipe.
class Trace {
public:
  void add(const std::string &kernel, int core, Pipe pipe, const char *what, double startUs,
           double durationUs);
  /// Writes the JSON; false with `error` set when the file cannot be written.
  bool write(const std::string &path, std::string &error) const;
  size_t size() const { return events_.size(); }

private:
  struct Event {
    std::string kernel;
    const char *what;
    int core;
    Pipe pipe;
    double start, duration;
  };
  std::vector<Event> events_;
};

struct SimOptions {
  // false: timing only: no data moved or computed (GM may be unbound), except what the scalar
  // unit reads and writes in bound buffers (tables that steer the control flow)
  bool functional = true;
  bool checkRaces = true;
  Trace *trace = nullptr;
  double startUs = 0;      // where this launch begins on the trace's time axis
};

struct LaunchStats {
  uint64_t cycles = 0;        // from launch to the last pipe's end, over all cores
  double microseconds = 0;    // cycles at the arch's clock plus the launch overhead
  unsigned coresUsed = 0;
  std::array<uint64_t, kNumPipes> busy{}; // pipe-busy cycles summed over cores
  double cubeIdealCycles = 0; // cycles the useful multiply-adds need at the cube's peak
  uint64_t gmBytesRead = 0, gmBytesWritten = 0;
  uint64_t hbmBytes = 0;      // GM traffic that reached HBM (not an L2 hit)
  uint64_t instructions = 0;
  /// Useful cube work over the cube time available: ideal cycles / (cycles × cores used).
  double cubeUtilization() const {
    return cycles && coresUsed ? cubeIdealCycles / (double(cycles) * coresUsed) : 0.0;
  }
  void accumulate(const LaunchStats &other);
};

/// Runs `kernel` with `params` bound to its Param list and `scalars` to its scalar arguments.
/// Returns false with `error` naming the kernel, block, instruction index and opcode when the
/// kernel is malformed, accesses memory out of bounds or misaligned, races, deadlocks or leaves
/// flags set.
bool simulate(const Arch &arch, const fb::Kernel &kernel, const std::vector<GmBinding> &params,
              const std::vector<int64_t> &scalars, const SimOptions &options, LaunchStats &stats,
              std::string &error);

/// Whether parameter `index` of `kernel` is a constant shipped with it (Param.data), and its
/// binding: the kernel binary's own bytes (read-only: the simulator refuses writes to inputs).
bool isConstant(const fb::Kernel &kernel, size_t index);
GmBinding constantBinding(const fb::Kernel &kernel, size_t index);

/// The bytes parameter `index` of `kernel` spans for these scalar arguments.
uint64_t paramBytes(const fb::Kernel &kernel, size_t index, const std::vector<int64_t> &scalars);

} // namespace v4c::npu
