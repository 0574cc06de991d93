// The NPU a kernel is compiled for and simulated on, read from a description in Arch.fbs's
// schema (built-ins in arch/*.json, or a user's file). Plain C++: the compiler and the
// simulator share it, and the runtime links no MLIR/LLVM.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace v4c::npu {

/// Address spaces: global memory and the per-core buffers (NPU.md §2.1).
enum class Space : uint8_t { GM, L1, L0A, L0B, L0C, UB };
constexpr int kNumSpaces = 6;
/// Pipes: each executes in order, different pipes concurrently (NPU.md §3.1).
enum class Pipe : uint8_t { S, V, M, MTE1, MTE2, MTE3, FIX };
constexpr int kNumPipes = 7;

const char *spaceName(Space space);
std::optional<Space> parseSpace(const std::string &name);
const char *pipeName(Pipe pipe);
std::optional<Pipe> parsePipe(const std::string &name);

/// Element types the NPU moves and computes on.
enum class DType : uint8_t { F32, F16, BF16, S8, S32, F8E4M3, F4E2M1, E8M0 };
const char *dtypeName(DType type);
std::optional<DType> parseDType(const std::string &name);
/// Bits per element (FP4: 4).
unsigned dtypeBits(DType type);

struct CubeFormat {
  DType a, b, c;
  unsigned k0;               // K per fractal step (32 bytes of input)
  unsigned cyclesPerFractal; // per 16 x k0 x 16 step
};

struct DmaPath {
  Space src, dst;
  double bytesPerCycle;
  unsigned latency;
};

struct VectorCost {
  std::string op;
  unsigned head, slope;
};

struct Arch {
  std::string name;
  double clockGhz = 0;
  unsigned cubeCores = 0, vectorCores = 0;
  double hbmGBPerSecond = 0;
  uint64_t l2Bytes = 0;
  uint32_t l2Line = 0;
  double l2BytesPerCycle = 0;
  std::array<uint64_t, kNumSpaces> capacity{};  // bytes per core (GM: 0, unbounded)
  std::array<uint32_t, kNumSpaces> alignment{}; // bytes
  std::vector<CubeFormat> cube;
  unsigned mmadHead = 0;
  unsigned vectorRepeatBytes = 0;
  std::vector<VectorCost> vector;
  std::vector<DmaPath> dma;
  unsigned eventIds = 0, flagLatency = 0, barrierCycles = 0, scalarCycles = 0;
  double launchOverheadUs = 0;
  std::string description; // the JSON text it was read from (stored in artifacts)

  /// The cube's rate for these operand types, or null when the cube cannot multiply them.
  const CubeFormat *cubeFormat(DType a, DType b, DType c) const;
  const DmaPath *dmaPath(Space src, Space dst) const;
  const VectorCost *vectorCost(const std::string &op) const;
  /// HBM bandwidth per core cycle, shared by every core's GM traffic.
  double hbmBytesPerCycle() const { return hbmGBPerSecond / clockGhz; }
};

/// Parses a description (JSON text in Arch.fbs's schema) and checks it is complete and
/// consistent. On failure returns false and `error` says what is wrong, naming `source`.
bool parseArch(const std::string &json, const std::string &source, Arch &arch, std::string &error);
/// A built-in description: "910b" or "950".
bool builtinArch(const std::string &name, Arch &arch, std::string &error);
/// Names of the built-in descriptions.
std::vector<std::string> builtinArchNames();
/// `nameOrPath` is a built-in name or a path to a description file.
bool loadArch(const std::string &nameOrPath, Arch &arch, std::string &error);

} // namespace v4c::npu
