#include "runtime/npu/Simulator.h"

#include "runtime/npu/Kernel_generated.h"
#include "runtime/npu/Numerics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace v4c::npu {

void LaunchStats::accumulate(const LaunchStats &o) {
  cycles += o.cycles;
  microseconds += o.microseconds;
  coresUsed = std::max(coresUsed, o.coresUsed);
  for (int p = 0; p < kNumPipes; ++p)
    busy[p] += o.busy[p];
  cubeIdealCycles += o.cubeIdealCycles;
  gmBytesRead += o.gmBytesRead;
  hbmBytes += o.hbmBytes;
  gmBytesWritten += o.gmBytesWritten;
  instructions += o.instructions;
}

//===----------------------------------------------------------------------===//
// Trace
//===----------------------------------------------------------------------===//

void Trace::add(const std::string &kernel, int core, Pipe pipe, const char *what, double startUs,
                double durationUs) {
  events_.push_back({kernel, what, core, pipe, startUs, durationUs});
}

bool Trace::write(const std::string &path, std::string &error) const {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
    bool first = true;
    char line[512];
    for (const Event &e : events_) {
      std::string kernel;
      for (char c : e.kernel) // names are the compiler's, but the JSON must stay valid
        if (c != '"' && c != '\\' && c >= 0x20)
          kernel += c;
      std::snprintf(line, sizeof line,
                    "%s{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,"
                    "\"ts\":%.4f,\"dur\":%.4f}",
                    first ? "" : ",\n", e.what, kernel.c_str(), e.core, int(e.pipe), e.start,
                    e.duration);
      out << line;
      first = false;
    }
    // Name the threads after the pipes, for every core that appears.
    std::vector<int> cores;
    for (const Event &e : events_)
      if (std::find(cores.begin(), cores.end(), e.core) == cores.end())
        cores.push_back(e.core);
    for (int core : cores)
      for (int p = 0; p < kNumPipes; ++p) {
        std::snprintf(line, sizeof line,
                      "%s{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
                      "\"args\":{\"name\":\"%s\"}}",
                      first ? "" : ",\n", core, p, pipeName(Pipe(p)));
        out << line;
        first = false;
      }
    out << "\n]}\n";
    if (!out) {
      error = path + ": cannot write the trace";
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": cannot write the trace";
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

namespace {

using fb::Opcode;

constexpr int kGmParamShift = 40; // param i is at GM address (i + 1) << 40
constexpr uint64_t kGranule = 32; // the race detector's unit: one 32-byte data block
constexpr uint8_t kNoPipe = 0xFF;
constexpr uint64_t kInstructionBudget = uint64_t(1) << 26; // per block: a runaway loop ends
constexpr int64_t kMaxBursts = 4095, kMaxDim = 4095;        // hardware field limits (NPU.md §2.2, §1.3)

/// The race detector's record of one granule: who wrote it last and when each pipe last read it,
/// in the accessing pipe's own epoch (its instruction count).
struct Granule {
  uint32_t writeEpoch = 0;
  uint8_t writer = kNoPipe;
  std::array<uint32_t, kNumPipes> readEpoch{};
};

using VectorClock = std::array<uint32_t, kNumPipes>;

struct Flag {
  bool set = false;
  uint64_t time = 0;
  VectorClock clock{};
};

/// The pipe an instruction runs on.
Pipe pipeOf(const fb::Instr &in) {
  switch (in.op()) {
  case Opcode::DMA:
    return in.src_space() == fb::Space::GM ? Pipe::MTE2 : Pipe::MTE3;
  case Opcode::ND2NZ: return Pipe::MTE2;
  case Opcode::LOAD_L0: return Pipe::MTE1;
  case Opcode::MMAD: return Pipe::M;
  case Opcode::FIXPIPE: return Pipe::FIX;
  case Opcode::SET_FLAG: return Pipe(in.pipe());
  case Opcode::WAIT_FLAG: return Pipe(in.pipe2());
  case Opcode::BARRIER: return in.pipe() == fb::Pipe::ALL ? Pipe::S : Pipe(in.pipe());
  default:
    return in.op() >= Opcode::VADD && in.op() <= Opcode::SET_MASK ? Pipe::V : Pipe::S;
  }
}

/// Operand count of each opcode (Kernel.fbs).
int operandCount(Opcode op) {
  switch (op) {
  case Opcode::LI: case Opcode::PARAM: case Opcode::SCALAR: case Opcode::LDS: case Opcode::ITOF:
    return 1;
  case Opcode::ADD: case Opcode::SUB: case Opcode::MUL: case Opcode::DIV: case Opcode::REM:
  case Opcode::IMIN: case Opcode::IMAX: case Opcode::LTU: return 2;
  case Opcode::SEL: return 3;
  case Opcode::BLOCK_IDX: case Opcode::BLOCK_NUM: case Opcode::END_LOOP: case Opcode::BARRIER: return 0;
  case Opcode::LOOP: return 3;
  case Opcode::DMA: case Opcode::ND2NZ: return 6;
  case Opcode::LOAD_L0: return 5;
  case Opcode::MMAD: return 7;
  case Opcode::FIXPIPE: return 6;
  case Opcode::VADD: case Opcode::VSUB: case Opcode::VMUL: case Opcode::VMAX: case Opcode::VMIN:
  case Opcode::VDIV: return 10;
  case Opcode::VEXP: case Opcode::VABS: case Opcode::VSQRT: case Opcode::VRECIP: case Opcode::VCOPY:
  case Opcode::VSIN: case Opcode::VCOS: case Opcode::VLOG1P:
    return 7;
  case Opcode::VADDS: case Opcode::VMULS: case Opcode::VMAXS: case Opcode::VMINS: return 8;
  case Opcode::VGATHER: return 4;
  case Opcode::STS: return 2;
  case Opcode::VDUP: case Opcode::VREDUCE_SUM: case Opcode::VREDUCE_MAX:
  case Opcode::VREDUCE_ARGMAX:
    return 5;
  case Opcode::SET_MASK: case Opcode::SET_FLAG: case Opcode::WAIT_FLAG: return 1;
  }
  return -1;
}

bool hasDst(Opcode op) { return op <= Opcode::LOOP; }

unsigned bytesOf(DType type) { return std::max(1u, dtypeBits(type) / 8); }

/// Which GM lines a launch has read already: later reads of them hit in L2 while the lines
/// touched fit in it (no eviction is modelled within a launch) [A].
struct L2State {
  std::vector<std::vector<bool>> seen; // per param, per line
  uint64_t used = 0;
};

/// Which block wrote, and which read, each 2-byte unit (the narrowest element an instruction
/// writes to GM) of the launch's outputs: the blocks of a launch are unordered (any cores, any
/// order), so a unit one block writes and another reads or writes is a race between blocks.
struct CrossBlock {
  static constexpr uint64_t kUnit = 2;
  struct Use {
    int32_t writer = -1, reader = -1; // reader -2: several blocks
  };
  std::vector<std::vector<Use>> params; // per writable param, per unit (allocated on first use)
};

/// Executes one block on one core: the data, the timing per pipe and the ordering checks.
class BlockRun {
public:
  BlockRun(const Arch &arch, const fb::Kernel &kernel, const std::vector<GmBinding> &params,
           const std::vector<int64_t> &scalars, const SimOptions &options,
           std::array<std::vector<uint8_t>, kNumSpaces> &local,
           std::array<std::vector<Granule>, kNumSpaces> &shadow, L2State &l2,
           CrossBlock &crossBlock, int block, int core, double startUs)
      : arch_(arch), kernel_(kernel), params_(params), scalars_(scalars), options_(options),
        local_(local), l2_(l2), crossBlock_(crossBlock), block_(block), core_(core),
        startUs_(startUs), shadow_(shadow) {
    regs_.assign(kernel.registers(), 0);
    if (options.checkRaces) {
      for (int s = 1; s < kNumSpaces; ++s) // every block starts with nothing written
        std::fill(shadow_[s].begin(), shadow_[s].end(), Granule());
      if (options.functional)
        gmShadow_.resize(params.size());
    }
  }

  bool run(LaunchStats &stats, uint64_t &cycles, std::string &error);

private:
  bool fail(const std::string &what) {
    if (problem_.empty())
      problem_ = what;
    return false;
  }
  int64_t value(int i) const {
    const fb::Operand *o = in_->args()->Get(i);
    return o->reg() >= 0 ? regs_[o->reg()] : o->value();
  }

  /// Checks one access of `bytes` at `address` in `space`; returns its host pointer (or null in
  /// timing-only runs, except for the scalar unit's: the control flow of a timing-only run
  /// follows the tables it reads, where the GM buffer is bound) after the race detector has
  /// seen it.
  uint8_t *access(Space space, int64_t address, uint64_t bytes, bool write, bool aligned = true,
                  bool scalarUnit = false);
  template <typename Shadow>
  bool raceCheck(Shadow &shadow, uint64_t first, uint64_t last, bool write, Space space);
  bool crossBlockCheck(int64_t param, uint64_t offset, uint64_t bytes, bool write);

  // Timing: the pipe is busy for `cycles` from when it and the issue allow; the results are
  // visible `latency` cycles after it is done (NPU.md §7.4's head/tail).
  void occupy(Pipe pipe, uint64_t cycles, const char *what, uint64_t latency = 0);
  /// Occupies the pipe with a transfer of `bytes`; the GM bytes among them were counted by
  /// access() as L2 hits or HBM traffic.
  void transfer(Space src, Space dst, uint64_t bytes, const char *what);
  /// Adds the current instruction's HBM traffic to the launch's (L2 hits cost only time).
  void countGmTraffic();

  bool execute(const fb::Instr &in);
  bool dma(const fb::Instr &in);
  bool nd2nz(const fb::Instr &in);
  bool loadL0(const fb::Instr &in);
  bool mmad(const fb::Instr &in);
  bool fixpipe(const fb::Instr &in);
  bool vector(const fb::Instr &in);
  bool gather(const fb::Instr &in, DType type, int64_t lanes, int64_t active);
  bool flag(const fb::Instr &in);

  const Arch &arch_;
  const fb::Kernel &kernel_;
  const std::vector<GmBinding> &params_;
  const std::vector<int64_t> &scalars_;
  const SimOptions &options_;
  std::array<std::vector<uint8_t>, kNumSpaces> &local_;
  L2State &l2_;
  CrossBlock &crossBlock_;
  int block_, core_;
  double startUs_;

  std::vector<int64_t> regs_;
  const fb::Instr *in_ = nullptr;
  Pipe pipe_ = Pipe::S;
  std::string problem_;

  // Timing state.
  uint64_t issue_ = 0;                  // the scalar unit's clock
  std::array<uint64_t, kNumPipes> busyUntil_{}, visibleAt_{};
  uint64_t hbmBytes_ = 0, l2HitBytes_ = 0;  // GM traffic of the current instruction
  LaunchStats *stats_ = nullptr;

  // Ordering state.
  std::array<VectorClock, kNumPipes> clock_{};
  std::vector<Flag> flags_; // [src][dst][id]
  std::array<std::vector<Granule>, kNumSpaces> &shadow_; // per local space, reused by blocks
  // GM granules this block touched (sparse: parameters may be gigabytes of weights).
  std::vector<std::unordered_map<uint64_t, Granule>> gmShadow_;
  int64_t maskCount_ = 0;
  std::unordered_set<uint64_t> dcache_; // GM lines the scalar unit has read
  std::vector<float> scratchA_, scratchB_; // MMAD's decoded operands, VGATHER's lanes
};

void BlockRun::transfer(Space src, Space dst, uint64_t bytes, const char *what) {
  const DmaPath *path = arch_.dmaPath(src, dst);
  // The core's engine rate, or its L2 port for the bytes that hit there. HBM traffic (misses
  // and writes) is a chip-wide budget checked for the whole launch (simulate()).
  double cycles = std::max(double(bytes) / path->bytesPerCycle,
                           double(l2HitBytes_) / arch_.l2BytesPerCycle);
  countGmTraffic();
  occupy(pipe_, uint64_t(std::ceil(cycles)), what, path->latency);
}

void BlockRun::countGmTraffic() {
  stats_->hbmBytes += hbmBytes_;
  hbmBytes_ = l2HitBytes_ = 0;
}

void BlockRun::occupy(Pipe pipe, uint64_t cycles, const char *what, uint64_t latency) {
  uint64_t start = std::max(issue_, busyUntil_[int(pipe)]);
  busyUntil_[int(pipe)] = start + cycles;
  visibleAt_[int(pipe)] = std::max(visibleAt_[int(pipe)], start + cycles + latency);
  stats_->busy[int(pipe)] += cycles;
  if (options_.trace && cycles > 0) {
    double perUs = arch_.clockGhz * 1000.0;
    options_.trace->add(kernel_.name()->str(), core_, pipe, what, startUs_ + start / perUs,
                        (cycles + latency) / perUs);
  }
}

bool BlockRun::crossBlockCheck(int64_t param, uint64_t offset, uint64_t bytes, bool write) {
  constexpr uint64_t unit = CrossBlock::kUnit;
  if (crossBlock_.params.size() < params_.size())
    crossBlock_.params.resize(params_.size());
  std::vector<CrossBlock::Use> &units = crossBlock_.params[size_t(param)];
  if (units.empty()) // access() checked the bounds against this size
    units.resize(params_[size_t(param)].bytes / unit + 1);
  for (uint64_t g = offset / unit; g <= (offset + bytes - 1) / unit; ++g) {
    CrossBlock::Use &use = units[g];
    int other = use.writer >= 0 && use.writer != block_                 ? use.writer
                : write && use.reader != -1 && use.reader != block_ ? use.reader
                                                                      : -1;
    if (other != -1) {
      std::string by = other == -2 ? "other blocks" : "block " + std::to_string(other);
      return fail("race between blocks on parameter '" +
                  kernel_.params()->Get(param)->name()->str() + "' bytes [" +
                  std::to_string(g * unit) + ", " + std::to_string((g + 1) * unit) +
                  "): " + (use.writer == other ? "written" : "read") + " by " + by +
                  ", then " + (write ? "written" : "read") + " by block " +
                  std::to_string(block_) + " of the same launch (its blocks are unordered)");
    }
    if (write)
      use.writer = block_;
    else
      use.reader = use.reader == -1 || use.reader == block_ ? block_ : -2;
  }
  return true;
}

template <typename Shadow>
bool BlockRun::raceCheck(Shadow &shadow, uint64_t first, uint64_t last, bool write, Space space) {
  int p = int(pipe_);
  const VectorClock &mine = clock_[p];
  for (uint64_t g = first; g <= last; ++g) {
    Granule &gr = shadow[g];
    auto where = [&] {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s bytes [%llu, %llu)", spaceName(space),
                    (unsigned long long)(g * kGranule),
                    (unsigned long long)((g + 1) * kGranule));
      return std::string(buf);
    };
    if (gr.writer != kNoPipe && gr.writer != p && gr.writeEpoch > mine[gr.writer])
      return fail(std::string(write ? "write-after-write" : "read-after-write") + " race on " +
                  where() + ": written by pipe " + pipeName(Pipe(gr.writer)) + ", then " +
                  (write ? "written" : "read") + " by pipe " + pipeName(pipe_) +
                  " with no flag or barrier between them");
    if (!write && gr.writer == kNoPipe && space != Space::GM)
      return fail("reads " + where() + ", which nothing in this block wrote");
    if (write)
      for (int q = 0; q < kNumPipes; ++q)
        if (q != p && gr.readEpoch[q] > mine[q])
          return fail("write-after-read race on " + where() + ": read by pipe " +
                      pipeName(Pipe(q)) + ", then overwritten by pipe " + pipeName(pipe_) +
                      " with no flag or barrier between them");
    if (write) {
      gr.writer = uint8_t(p);
      gr.writeEpoch = mine[p];
      gr.readEpoch.fill(0);
    } else {
      gr.readEpoch[p] = mine[p];
    }
  }
  return true;
}

uint8_t *BlockRun::access(Space space, int64_t address, uint64_t bytes, bool write, bool aligned,
                          bool scalarUnit) {
  if (bytes == 0)
    return nullptr;
  auto range = [&] {
    return std::string(spaceName(space)) + " [" + std::to_string(address) + ", +" +
           std::to_string(bytes) + ")";
  };
  if (space == Space::GM) {
    int64_t param = (address >> kGmParamShift) - 1;
    uint64_t offset = uint64_t(address) & ((uint64_t(1) << kGmParamShift) - 1);
    if (address < 0 || param < 0 || param >= int64_t(params_.size())) {
      fail("accesses GM address " + std::to_string(address) + ", which is in no parameter");
      return nullptr;
    }
    const GmBinding &binding = params_[param];
    auto name = [&] { return kernel_.params()->Get(param)->name()->str(); };
    if (offset + bytes > binding.bytes || offset + bytes < offset) {
      fail("accesses bytes [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
           ") of parameter '" + name() + "', which has " + std::to_string(binding.bytes));
      return nullptr;
    }
    if (write && !kernel_.params()->Get(param)->writes()) {
      fail("writes parameter '" + name() + "', an input");
      return nullptr;
    }
    (write ? stats_->gmBytesWritten : stats_->gmBytesRead) += bytes;
    if (write) {
      hbmBytes_ += bytes;
    } else { // lines read before in this launch hit in L2
      std::vector<bool> &seen = l2_.seen[param];
      for (uint64_t line = offset / arch_.l2Line; line <= (offset + bytes - 1) / arch_.l2Line; ++line) {
        uint64_t lineStart = line * arch_.l2Line;
        uint64_t part = std::min(offset + bytes, lineStart + arch_.l2Line) - std::max(offset, lineStart);
        if (seen[line]) {
          l2HitBytes_ += part;
        } else {
          hbmBytes_ += part;
          if (l2_.used + arch_.l2Line <= arch_.l2Bytes) {
            seen[line] = true;
            l2_.used += arch_.l2Line;
          }
        }
      }
    }
    if (!gmShadow_.empty() &&
        !raceCheck(gmShadow_[param], offset / kGranule, (offset + bytes - 1) / kGranule, write,
                   space))
      return nullptr;
    if (options_.checkRaces && kernel_.block_dim() > 1 && kernel_.params()->Get(param)->writes() &&
        !crossBlockCheck(param, offset, bytes, write))
      return nullptr;
    return (options_.functional || scalarUnit) && binding.data ? binding.data + offset : nullptr;
  }
  uint64_t capacity = local_[int(space)].size();
  if (address < 0 || uint64_t(address) + bytes > capacity) {
    fail("accesses " + range() + ", past the " + std::to_string(capacity) + "-byte " +
         spaceName(space));
    return nullptr;
  }
  uint32_t alignment = arch_.alignment[int(space)];
  if (aligned && address % alignment != 0) {
    fail("accesses " + range() + ", not aligned to " + std::to_string(alignment) + " bytes");
    return nullptr;
  }
  if (!shadow_[int(space)].empty() &&
      !raceCheck(shadow_[int(space)], uint64_t(address) / kGranule,
                 (uint64_t(address) + bytes - 1) / kGranule, write, space))
    return nullptr;
  return options_.functional || scalarUnit ? local_[int(space)].data() + address : nullptr;
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

bool BlockRun::dma(const fb::Instr &in) {
  Space src = Space(in.src_space()), dst = Space(in.dst_space());
  if (!arch_.dmaPath(src, dst))
    return fail(std::string("the ") + arch_.name + " has no DMA path " + spaceName(src) + " -> " +
                spaceName(dst));
  int64_t dstAddr = value(0), srcAddr = value(1), bursts = value(2), len = value(3),
          srcStride = value(4), dstStride = value(5);
  if (bursts < 0 || bursts > kMaxBursts || len < 0 || srcStride < 0 || dstStride < 0)
    return fail("burst count must be in [0, 4095], lengths and strides not negative");
  for (int64_t b = 0; b < bursts; ++b) {
    const uint8_t *from = access(src, srcAddr + b * srcStride, len, false, b == 0);
    if (!problem_.empty())
      return false;
    uint8_t *to = access(dst, dstAddr + b * dstStride, len, true, b == 0);
    if (!problem_.empty())
      return false;
    if (from && to)
      std::memmove(to, from, size_t(len));
  }
  transfer(src, dst, uint64_t(bursts * len), "dma");
  return true;
}

bool BlockRun::nd2nz(const fb::Instr &in) {
  DType type = DType(in.dtype());
  if (dtypeBits(type) < 8)
    return fail(std::string("ND2NZ of ") + dtypeName(type) + " is not supported");
  unsigned eb = bytesOf(type), k0 = 32 / eb;
  int64_t dst = value(0), src = value(1), rows = value(2), cols = value(3), srcRow = value(4),
          dstRows = value(5);
  if (rows < 0 || cols < 0 || dstRows % 16 != 0 || rows > dstRows || srcRow < cols ||
      dstRows > 16 * kMaxDim || cols > 16 * kMaxDim)
    return fail("ND2NZ: needs 0 <= rows <= dst_rows (a multiple of 16) and src_row >= cols");
  int64_t colFractals = (cols + k0 - 1) / k0, paddedRows = (rows + 15) / 16 * 16;
  if (colFractals * dstRows * 32 > int64_t(local_[int(Space::L1)].size()))
    return fail("ND2NZ: the tile does not fit L1");
  // Reads: each source row; writes: each fractal column's padded rows.
  std::vector<uint8_t *> out(static_cast<size_t>(colFractals));
  for (int64_t j = 0; j < colFractals; ++j) {
    out[j] = access(Space::L1, dst + j * dstRows * 32, uint64_t(paddedRows) * 32, true, j == 0);
    if (!problem_.empty())
      return false;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t *row = access(Space::GM, src + r * srcRow * eb, uint64_t(cols) * eb, false);
    if (!problem_.empty())
      return false;
    if (!row || out.empty() || !out[0])
      continue;
    for (int64_t j = 0; j < colFractals; ++j) {
      uint8_t *line = out[j] + r * 32;
      int64_t n = std::min<int64_t>(k0, cols - j * k0);
      std::memcpy(line, row + j * k0 * eb, size_t(n * eb));
      std::memset(line + n * eb, 0, size_t((k0 - n) * eb));
    }
  }
  if (!out.empty() && out[0])
    for (int64_t j = 0; j < colFractals; ++j)
      std::memset(out[j] + rows * 32, 0, size_t((paddedRows - rows) * 32));
  transfer(Space::GM, Space::L1, uint64_t(rows * cols * eb), "nd2nz");
  return true;
}

bool BlockRun::loadL0(const fb::Instr &in) {
  Space dstSpace = Space(in.dst_space());
  if (Space(in.src_space()) != Space::L1 || (dstSpace != Space::L0A && dstSpace != Space::L0B))
    return fail("LOAD_L0 moves L1 to L0A or L0B");
  int64_t dst = value(0), src = value(1), rows1 = value(2), k1 = value(3), stride = value(4);
  if (rows1 < 0 || k1 < 0 || rows1 > kMaxDim || k1 > kMaxDim || stride < rows1 ||
      rows1 * k1 * 512 > int64_t(local_[int(dstSpace)].size()))
    return fail("LOAD_L0: needs rows1, k1 >= 0, src_col_stride >= rows1 and a grid that fits");
  uint8_t *to = access(dstSpace, dst, uint64_t(rows1 * k1) * 512, true);
  if (!problem_.empty())
    return false;
  for (int64_t j = 0; j < k1; ++j) {
    // Fractal column j: rows1 fractals back to back in L1.
    const uint8_t *from = access(Space::L1, src + j * stride * 512, uint64_t(rows1) * 512, false);
    if (!problem_.empty())
      return false;
    if (!from || !to)
      continue;
    for (int64_t i = 0; i < rows1; ++i) {
      int64_t slot = dstSpace == Space::L0A ? i * k1 + j : j * rows1 + i; // ZZ or ZN
      std::memcpy(to + slot * 512, from + i * 512, 512);
    }
  }
  transfer(Space::L1, dstSpace, uint64_t(rows1 * k1) * 512, "load_l0");
  return true;
}

//===----------------------------------------------------------------------===//
// Cube and FixPipe
//===----------------------------------------------------------------------===//

bool BlockRun::mmad(const fb::Instr &in) {
  DType ta = DType(in.dtype()), tb = DType(in.dtype2()), tc = DType(in.dtype3());
  const CubeFormat *format = arch_.cubeFormat(ta, tb, tc);
  if (!format)
    return fail(std::string("the ") + arch_.name + " cube has no " + dtypeName(ta) + " x " +
                dtypeName(tb) + " -> " + dtypeName(tc) + " mode");
  int64_t c = value(0), a = value(1), b = value(2), m = value(3), k = value(4), n = value(5);
  bool accumulate = value(6) != 0;
  if (m < 0 || k < 0 || n < 0 || m > 4095 || k > 4095 || n > 4095)
    return fail("MMAD: m, k, n must be in [0, 4095]");
  int64_t k0 = format->k0, m1 = (m + 15) / 16, k1 = (k + k0 - 1) / k0, n1 = (n + 15) / 16;
  const uint8_t *pa = access(Space::L0A, a, uint64_t(m1 * k1) * 512, false);
  const uint8_t *pb = problem_.empty() ? access(Space::L0B, b, uint64_t(k1 * n1) * 512, false) : nullptr;
  if (!problem_.empty())
    return false;
  if (accumulate)
    access(Space::L0C, c, uint64_t(n1 * m1) * 1024, false);
  uint8_t *pc = problem_.empty() ? access(Space::L0C, c, uint64_t(n1 * m1) * 1024, true) : nullptr;
  if (!problem_.empty())
    return false;
  if (pa && pb && pc) {
    // A's rows and B's columns decoded once, in K order: A(r, kk) from the 16 x k0 ZZ
    // fractals, B(kk, col) from the k0 x 16 ZN ones.
    std::vector<float> &rowsA = scratchA_, &colsB = scratchB_; // reused by every MMAD
    rowsA.resize(size_t(m * k));
    colsB.resize(size_t(n * k));
    for (int64_t r = 0; r < m; ++r)
      for (int64_t kk = 0; kk < k; ++kk)
        rowsA[r * k + kk] = loadElement(
            ta, pa + ((r / 16) * k1 + kk / k0) * 512 + (r % 16) * 32, kk % k0);
    for (int64_t col = 0; col < n; ++col)
      for (int64_t kk = 0; kk < k; ++kk)
        colsB[col * k + kk] = loadElement(
            tb, pb + ((kk / k0) * n1 + col / 16) * 512 + (col % 16) * 32, kk % k0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t col = 0; col < n; ++col) {
        float *out = reinterpret_cast<float *>(pc + ((col / 16) * m1 + r / 16) * 1024 +
                                               (r % 16) * 64 + (col % 16) * 4);
        const float *x = &rowsA[r * k], *y = &colsB[col * k];
        float acc = accumulate ? *out : 0.0f;
        for (int64_t step = 0; step < k; step += k0) { // one k0-wide cube step at a time
          float sum = 0.0f;
          for (int64_t kk = step; kk < std::min(k, step + k0); ++kk)
            sum += x[kk] * y[kk];
          acc += sum;
        }
        *out = acc;
      }
  }
  double fractals = double(m1 * k1 * n1);
  stats_->cubeIdealCycles += double(m) * k * n / (16.0 * k0 * 16.0) * format->cyclesPerFractal;
  occupy(pipe_, arch_.mmadHead + uint64_t(fractals) * format->cyclesPerFractal, "mmad");
  return true;
}

bool BlockRun::fixpipe(const fb::Instr &in) {
  DType out = DType(in.dtype()), from = DType(in.dtype3());
  if (from != DType::F32 ||
      (out != DType::F32 && out != DType::BF16 && out != DType::F16 && out != DType::S8))
    return fail("FIXPIPE converts f32 to f32, bf16, f16 or s8 (quantized)");
  float scale = in.scale();
  if (!std::isfinite(scale))
    return fail("FIXPIPE quantization scale must be finite");
  int64_t dst = value(0), src = value(1), m = value(2), n = value(3), dstRow = value(4),
          srcRows = value(5);
  if (m < 0 || n < 0 || m > kMaxDim || n > kMaxDim || srcRows % 16 != 0 || m > srcRows ||
      dstRow < n)
    return fail("FIXPIPE: needs m, n <= 4095, m <= src_rows (a multiple of 16), dst_row >= n");
  int64_t n1 = (n + 15) / 16, m1 = srcRows / 16;
  const uint8_t *pc = access(Space::L0C, src, uint64_t(n1 * m1) * 1024, false);
  if (!problem_.empty())
    return false;
  unsigned eb = bytesOf(out);
  for (int64_t r = 0; r < m; ++r) {
    uint8_t *row = access(Space::GM, dst + r * dstRow * eb, uint64_t(n) * eb, true);
    if (!problem_.empty())
      return false;
    if (!row || !pc)
      continue;
    for (int64_t col = 0; col < n; ++col) {
      float v;
      std::memcpy(&v, pc + ((col / 16) * m1 + r / 16) * 1024 + (r % 16) * 64 + (col % 16) * 4, 4);
      if (in.relu())
        v = std::isnan(v) ? v : std::max(v, 0.0f);
      if (out == DType::S8) { // NaN quantizes to 0
        float q = std::nearbyint(std::isnan(v) ? 0.0f : v * scale);
        row[col] = uint8_t(int8_t(std::clamp(q, -128.0f, 127.0f)));
        continue;
      }
      storeElement(out, row, uint64_t(col), v);
    }
  }
  transfer(Space::L0C, Space::GM, uint64_t(m * n) * eb, "fixpipe");
  return true;
}

//===----------------------------------------------------------------------===//
// Vector
//===----------------------------------------------------------------------===//

bool BlockRun::vector(const fb::Instr &in) {
  Opcode op = in.op();
  if (op == Opcode::SET_MASK) {
    maskCount_ = value(0);
    occupy(pipe_, 1, "set_mask");
    return true;
  }
  DType type = DType(in.dtype());
  if (type != DType::F32 && type != DType::F16 && type != DType::BF16)
    return fail(std::string("vector ops compute on f32, f16 or bf16, not ") + dtypeName(type));
  unsigned eb = bytesOf(type);
  int64_t lanes = arch_.vectorRepeatBytes / eb, blockLanes = 32 / eb,
          blocks = arch_.vectorRepeatBytes / 32;
  int64_t active = maskCount_ > 0 ? std::min<int64_t>(maskCount_, lanes) : lanes;

  // Operand layout per class: (dst, srcs..., [scalar], repeats, blk strides..., rep strides...).
  int sources = 0;
  bool scalar = false, reduce = false;
  const char *cost = "binary";
  switch (op) {
  case Opcode::VADD: case Opcode::VSUB: case Opcode::VMUL: case Opcode::VMAX: case Opcode::VMIN:
    sources = 2;
    break;
  case Opcode::VDIV: sources = 2; cost = "div"; break;
  case Opcode::VEXP: case Opcode::VSIN: case Opcode::VCOS: case Opcode::VLOG1P:
    sources = 1; cost = "exp";
    break;
  case Opcode::VSQRT: case Opcode::VRECIP: sources = 1; cost = "div"; break;
  case Opcode::VABS: sources = 1; cost = "unary"; break;
  case Opcode::VCOPY: sources = 1; cost = "copy"; break;
  case Opcode::VADDS: case Opcode::VMULS: case Opcode::VMAXS: case Opcode::VMINS:
    sources = 1; scalar = true; cost = "scalar";
    break;
  case Opcode::VDUP: sources = 0; scalar = true; cost = "copy"; break;
  case Opcode::VREDUCE_SUM: case Opcode::VREDUCE_MAX: case Opcode::VREDUCE_ARGMAX:
    sources = 1; reduce = true; cost = "reduce";
    break;
  case Opcode::VGATHER: return gather(in, type, lanes, active);
  default: return fail("unknown vector opcode");
  }
  if (op == Opcode::VREDUCE_ARGMAX && type != DType::F32)
    return fail("VREDUCE_ARGMAX reduces f32 lanes");
  int at = 1 + sources;
  float scalarValue = scalar ? floatOf(uint32_t(value(at++))) : 0.0f;
  int64_t repeats = value(at++);
  if (repeats < 0 || repeats > 255)
    return fail("vector repeats must be in [0, 255]");
  int operands = reduce ? 1 : 1 + sources; // operands with strides (reduce: the source only)
  std::vector<int64_t> blk(operands), rep(operands);
  for (int i = 0; i < operands; ++i)
    blk[i] = value(at + i);
  for (int i = 0; i < operands; ++i)
    rep[i] = value(at + operands + i);
  std::vector<int64_t> base(1 + sources);
  for (int i = 0; i <= sources; ++i)
    base[i] = value(i);

  // Element address of operand `o` (0 = dst), repeat r, lane l.
  auto address = [&](int o, int64_t r, int64_t l) {
    int s = reduce ? 0 : o;
    return base[o] + (r * rep[s] + (l / blockLanes) * blk[s]) * 32 + (l % blockLanes) * eb;
  };
  for (int64_t r = 0; r < repeats; ++r) {
    // The race detector and bounds checks see each touched 32-byte block.
    for (int o = 1; o <= sources; ++o)
      for (int64_t bl = 0; bl < blocks && bl * blockLanes < active; ++bl) {
        access(Space::UB, address(o, r, bl * blockLanes), 32, false);
        if (!problem_.empty())
          return false;
      }
    bool argmax = op == Opcode::VREDUCE_ARGMAX;
    float result = reduce && (op == Opcode::VREDUCE_MAX || argmax)
                       ? -std::numeric_limits<float>::infinity()
                       : 0.0f;
    uint32_t best = 0; // VREDUCE_ARGMAX: the lane of the first max
    if (!reduce)
      for (int64_t bl = 0; bl < blocks && bl * blockLanes < active; ++bl) {
        access(Space::UB, address(0, r, bl * blockLanes), 32, true);
        if (!problem_.empty())
          return false;
      }
    else {
      access(Space::UB, base[0] + r * (argmax ? 8 : eb), argmax ? 8 : eb, true, r == 0);
      if (!problem_.empty())
        return false;
    }
    if (!options_.functional)
      continue;
    uint8_t *ub = local_[int(Space::UB)].data(); // the accesses above checked every address
    for (int64_t l = 0; l < active; ++l) {
      float x = sources >= 1 ? loadElement(type, ub + address(1, r, l), 0) : 0.0f;
      float y = sources >= 2 ? loadElement(type, ub + address(2, r, l), 0) : 0.0f;
      float z = 0.0f;
      switch (op) {
      case Opcode::VADD: z = x + y; break;
      case Opcode::VSUB: z = x - y; break;
      case Opcode::VMUL: z = x * y; break;
      case Opcode::VDIV: z = x / y; break;
      case Opcode::VMAX: z = std::isnan(x) || std::isnan(y) ? std::numeric_limits<float>::quiet_NaN() : std::max(x, y); break;
      case Opcode::VMIN: z = std::isnan(x) || std::isnan(y) ? std::numeric_limits<float>::quiet_NaN() : std::min(x, y); break;
      case Opcode::VEXP: z = std::exp(x); break;
      case Opcode::VSIN: z = std::sin(x); break;
      case Opcode::VCOS: z = std::cos(x); break;
      case Opcode::VLOG1P: z = std::log1p(x); break;
      case Opcode::VABS: z = std::fabs(x); break;
      case Opcode::VSQRT: z = std::sqrt(x); break;
      case Opcode::VRECIP: z = 1.0f / x; break;
      case Opcode::VCOPY: z = x; break;
      case Opcode::VADDS: z = x + scalarValue; break;
      case Opcode::VMULS: z = x * scalarValue; break;
      case Opcode::VMAXS: z = std::isnan(x) ? x : std::max(x, scalarValue); break;
      case Opcode::VMINS: z = std::isnan(x) ? x : std::min(x, scalarValue); break;
      case Opcode::VDUP: z = scalarValue; break;
      case Opcode::VREDUCE_SUM: result += x; continue;
      case Opcode::VREDUCE_MAX: result = std::isnan(x) || std::isnan(result) ? std::numeric_limits<float>::quiet_NaN() : std::max(result, x); continue;
      case Opcode::VREDUCE_ARGMAX: // NaN lanes never win; all -inf (or NaN): lane 0
        if (x > result) {
          result = x;
          best = uint32_t(l);
        }
        continue;
      default: break;
      }
      storeElement(type, ub + address(0, r, l), 0, z);
    }
    if (argmax) {
      std::memcpy(ub + base[0] + r * 8, &result, 4);
      std::memcpy(ub + base[0] + r * 8 + 4, &best, 4);
    } else if (reduce) {
      storeElement(type, ub + base[0], uint64_t(r), result);
    }
  }
  const VectorCost *c = arch_.vectorCost(cost);
  occupy(pipe_, c->head + uint64_t(c->slope) * uint64_t(repeats), "vector");
  return true;
}

/// VGATHER: lane i of dst gets the f32 at src + offsets[i] (u32 bytes). The source lanes read
/// depend on the data, so a timing-only run checks only the offsets and dst.
bool BlockRun::gather(const fb::Instr &in, DType type, int64_t lanes, int64_t active) {
  if (type != DType::F32)
    return fail("VGATHER moves f32 lanes");
  int64_t dst = value(0), src = value(1), offsets = value(2), repeats = value(3);
  if (repeats < 0 || repeats > 255)
    return fail("vector repeats must be in [0, 255]");
  int64_t ub = int64_t(local_[int(Space::UB)].size()); // keeps the address arithmetic small
  if (dst < 0 || dst >= ub || src < 0 || src >= ub || offsets < 0 || offsets >= ub)
    return fail("VGATHER operands must be UB addresses");
  std::vector<float> &lane = scratchA_; // reused by every gather
  lane.assign(size_t(lanes), 0.0f);
  for (int64_t r = 0; r < repeats; ++r) {
    int64_t at = r * arch_.vectorRepeatBytes;
    for (int64_t l = 0; l < active; l += 8) {
      access(Space::UB, offsets + at + l * 4, 32, false);
      if (!problem_.empty())
        return false;
    }
    if (options_.functional)
      for (int64_t l = 0; l < active; ++l) {
        uint32_t offset;
        std::memcpy(&offset, local_[int(Space::UB)].data() + offsets + at + l * 4, 4);
        if (offset % 4 != 0)
          return fail("VGATHER offset " + std::to_string(offset) + " is not a multiple of 4");
        const uint8_t *from = access(Space::UB, src + int64_t(offset), 4, false, false);
        if (!problem_.empty())
          return false;
        std::memcpy(&lane[size_t(l)], from, 4);
      }
    for (int64_t l = 0; l < active; l += 8) {
      uint8_t *to = access(Space::UB, dst + at + l * 4, 32, true);
      if (!problem_.empty())
        return false;
      if (options_.functional)
        std::memcpy(to, &lane[size_t(l)], size_t(std::min<int64_t>(8, active - l) * 4));
    }
  }
  const VectorCost *c = arch_.vectorCost("convert"); // [A] a gather costs like a conversion
  occupy(pipe_, c->head + uint64_t(c->slope) * uint64_t(repeats), "vector");
  return true;
}

//===----------------------------------------------------------------------===//
// Synchronization
//===----------------------------------------------------------------------===//

bool BlockRun::flag(const fb::Instr &in) {
  if (in.pipe() == fb::Pipe::ALL || in.pipe2() == fb::Pipe::ALL || in.pipe() == in.pipe2())
    return fail("a flag connects two different pipes");
  int64_t id = value(0);
  if (id < 0 || id >= int64_t(arch_.eventIds))
    return fail("event id " + std::to_string(id) + " is not in [0, " +
                std::to_string(arch_.eventIds) + ")");
  Pipe src = Pipe(in.pipe()), dst = Pipe(in.pipe2());
  Flag &f = flags_[(int(src) * kNumPipes + int(dst)) * arch_.eventIds + id];
  auto name = [&] {
    return std::string(pipeName(src)) + "->" + pipeName(dst) + " id " + std::to_string(id);
  };
  if (in.op() == Opcode::SET_FLAG) {
    if (f.set)
      return fail("sets flag " + name() + ", which is already set (binary flags: a wait is missing)");
    // Fires when the earlier work of the source pipe is done and its results are visible.
    uint64_t start = std::max(issue_, busyUntil_[int(src)]);
    busyUntil_[int(src)] = start;
    f = {true, std::max(start, visibleAt_[int(src)]) + arch_.flagLatency, clock_[int(src)]};
    return true;
  }
  if (!f.set)
    return fail("waits for flag " + name() + ", which nothing set before (deadlock)");
  uint64_t start = std::max(issue_, busyUntil_[int(dst)]);
  busyUntil_[int(dst)] = std::max(start, f.time);
  if (dst == Pipe::S) // the scalar unit itself waits: nothing is issued before the flag
    issue_ = busyUntil_[int(dst)];
  for (int q = 0; q < kNumPipes; ++q)
    clock_[int(dst)][q] = std::max(clock_[int(dst)][q], f.clock[q]);
  f.set = false;
  return true;
}

bool BlockRun::execute(const fb::Instr &in) {
  switch (in.op()) {
  case Opcode::DMA: return dma(in);
  case Opcode::ND2NZ: return nd2nz(in);
  case Opcode::LOAD_L0: return loadL0(in);
  case Opcode::MMAD: return mmad(in);
  case Opcode::FIXPIPE: return fixpipe(in);
  case Opcode::SET_FLAG:
  case Opcode::WAIT_FLAG: return flag(in);
  case Opcode::BARRIER: {
    if (in.pipe() != fb::Pipe::ALL) {
      occupy(Pipe(in.pipe()), arch_.barrierCycles, "barrier");
      return true;
    }
    uint64_t end = issue_;
    for (int p = 0; p < kNumPipes; ++p)
      end = std::max({end, busyUntil_[p], visibleAt_[p]});
    busyUntil_.fill(end + arch_.barrierCycles);
    issue_ = end + arch_.barrierCycles;
    VectorClock all{};
    for (const VectorClock &c : clock_)
      for (int q = 0; q < kNumPipes; ++q)
        all[q] = std::max(all[q], c[q]);
    clock_.fill(all);
    return true;
  }
  default: return vector(in);
  }
}

bool BlockRun::run(LaunchStats &stats, uint64_t &cycles, std::string &error) {
  stats_ = &stats;
  flags_.assign(size_t(kNumPipes * kNumPipes * arch_.eventIds), Flag());
  const auto &code = *kernel_.code();
  // Loop ends, matched once.
  std::vector<size_t> loopEnd(code.size(), 0), open;
  for (size_t pc = 0; pc < code.size(); ++pc) {
    if (code[pc]->op() == Opcode::LOOP)
      open.push_back(pc);
    else if (code[pc]->op() == Opcode::END_LOOP) {
      loopEnd[open.back()] = pc;
      open.pop_back();
    }
  }
  // The loop's own counter decides the iterations: code writing the loop register cannot
  // make it run forever.
  struct Loop {
    size_t start;
    int reg;
    int64_t counter, upper, step;
  };
  std::vector<Loop> loops;
  uint64_t executed = 0;
  for (size_t pc = 0; pc < code.size(); ++pc) {
    const fb::Instr &in = *code[pc];
    in_ = &in;
    if (++executed > kInstructionBudget) {
      error = "block " + std::to_string(block_) + " ran more than " +
              std::to_string(kInstructionBudget) + " instructions (a runaway loop?)";
      return false;
    }
    pipe_ = pipeOf(in);
    issue_ += arch_.scalarCycles;
    ++stats.instructions;
    int p = int(pipe_);
    ++clock_[p][p]; // this pipe's next epoch
    int dst = in.dst();
    switch (in.op()) {
    case Opcode::LI: regs_[dst] = value(0); break;
    // Wrapping arithmetic, as registers do (signed overflow would be undefined in C++).
    case Opcode::ADD: regs_[dst] = int64_t(uint64_t(value(0)) + uint64_t(value(1))); break;
    case Opcode::SUB: regs_[dst] = int64_t(uint64_t(value(0)) - uint64_t(value(1))); break;
    case Opcode::MUL: regs_[dst] = int64_t(uint64_t(value(0)) * uint64_t(value(1))); break;
    case Opcode::DIV:
    case Opcode::REM: {
      int64_t d = value(1);
      if (d == 0 || (d == -1 && value(0) == std::numeric_limits<int64_t>::min())) {
        fail("divides by zero or overflows");
        break;
      }
      regs_[dst] = in.op() == Opcode::DIV ? value(0) / d : value(0) % d;
      break;
    }
    case Opcode::IMIN: regs_[dst] = std::min(value(0), value(1)); break;
    case Opcode::LTU: regs_[dst] = uint64_t(value(0)) < uint64_t(value(1)) ? 1 : 0; break;
    case Opcode::SEL: regs_[dst] = value(0) != 0 ? value(1) : value(2); break;
    case Opcode::IMAX: regs_[dst] = std::max(value(0), value(1)); break;
    case Opcode::BLOCK_IDX: regs_[dst] = block_; break;
    case Opcode::BLOCK_NUM: regs_[dst] = kernel_.block_dim(); break;
    case Opcode::PARAM: {
      int64_t i = value(0);
      if (i < 0 || i >= int64_t(params_.size()))
        fail("PARAM " + std::to_string(i) + ": the kernel has " + std::to_string(params_.size()) +
             " parameters");
      else
        regs_[dst] = (i + 1) << kGmParamShift;
      break;
    }
    case Opcode::SCALAR: {
      int64_t i = value(0);
      if (i < 0 || i >= int64_t(scalars_.size()))
        fail("SCALAR " + std::to_string(i) + ": the launch has " + std::to_string(scalars_.size()) +
             " scalar arguments");
      else
        regs_[dst] = scalars_[i];
      break;
    }
    case Opcode::LDS: { // the scalar unit reads UB, or GM through its data cache (NPU.md §1.5)
      bool gm = in.src_space() == fb::Space::GM;
      if (value(0) % 4 != 0) {
        fail("LDS address " + std::to_string(value(0)) + " is not 4-byte aligned");
        break;
      }
      const uint8_t *at = access(gm ? Space::GM : Space::UB, value(0), 4, false, false, true);
      if (!problem_.empty())
        break;
      if (gm) { // the scalar unit waits: a GM round trip per line missed [A: 64-byte lines]
        countGmTraffic();
        bool hit = !dcache_.insert(uint64_t(value(0)) / 64).second;
        issue_ += hit ? 2 : arch_.dmaPath(Space::GM, Space::L1)->latency;
      }
      uint32_t bits = 0;
      if (at)
        std::memcpy(&bits, at, 4);
      regs_[dst] = int64_t(bits);
      break;
    }
    case Opcode::STS: { // to UB, or to GM through the data cache (written back) [A: 2 cycles]
      bool gm = in.dst_space() == fb::Space::GM;
      if (value(1) % 4 != 0) {
        fail("STS address " + std::to_string(value(1)) + " is not 4-byte aligned");
        break;
      }
      uint8_t *at = access(gm ? Space::GM : Space::UB, value(1), 4, true, false, true);
      if (gm) {
        countGmTraffic();
        issue_ += 2;
      }
      uint32_t bits = uint32_t(uint64_t(value(0)));
      if (problem_.empty() && at)
        std::memcpy(at, &bits, 4);
      break;
    }
    case Opcode::ITOF: regs_[dst] = int64_t(bitsOf(float(value(0)))); break;
    case Opcode::LOOP: {
      int64_t lower = value(0), upper = value(1), step = value(2);
      if (step <= 0) {
        fail("LOOP step must be positive");
        break;
      }
      if (lower >= upper) {
        pc = loopEnd[pc];
        break;
      }
      regs_[dst] = lower;
      loops.push_back({pc, dst, lower, upper, step});
      break;
    }
    case Opcode::END_LOOP: {
      Loop &loop = loops.back();
      if (loop.upper - loop.counter > loop.step) { // no overflow: counter < upper
        loop.counter += loop.step;
        regs_[loop.reg] = loop.counter;
        pc = loop.start;
      } else {
        loops.pop_back();
      }
      break;
    }
    default: execute(in); break;
    }
    if (!problem_.empty()) {
      error = "block " + std::to_string(block_) + ", instruction " + std::to_string(pc) + " (" +
              fb::EnumNameOpcode(in.op()) + "): " + problem_;
      return false;
    }
  }
  for (size_t i = 0; i < flags_.size(); ++i)
    if (flags_[i].set) {
      size_t id = i % arch_.eventIds, pair = i / arch_.eventIds;
      error = "block " + std::to_string(block_) + ": flag " + pipeName(Pipe(pair / kNumPipes)) +
              "->" + pipeName(Pipe(pair % kNumPipes)) + " id " + std::to_string(id) +
              " is still set at the end of the kernel (a wait is missing)";
      return false;
    }
  cycles = issue_;
  for (int p = 0; p < kNumPipes; ++p)
    cycles = std::max({cycles, busyUntil_[p], visibleAt_[p]});
  return true;
}

/// Structural checks before anything runs: known opcodes with their operand counts, registers
/// in range, balanced loops, spaces and pipes the core type has.
bool verifyKernel(const Arch &arch, const fb::Kernel &kernel, size_t params, size_t scalars,
                  std::string &error) {
  if (!kernel.name() || !kernel.code() || !kernel.params())
    return error = "kernel without a name, code or parameter list", false;
  if (kernel.params()->size() != params)
    return error = "launched with " + std::to_string(params) + " buffers for " +
                   std::to_string(kernel.params()->size()) + " parameters", false;
  size_t wanted = kernel.scalars() ? kernel.scalars()->size() : 0;
  if (wanted != scalars)
    return error = "launched with " + std::to_string(scalars) + " scalars for " +
                   std::to_string(wanted), false;
  if (kernel.block_dim() == 0 || kernel.block_dim() > 65535)
    return error = "block_dim must be in [1, 65535]", false;
  for (const fb::Param *p : *kernel.params())
    if (!p->name() || p->unit_scalar() < -1 || p->unit_scalar() >= int(wanted))
      return error = "a parameter without a name or with a size scalar out of range", false;
    else if (p->data() && p->writes())
      return error = "constant parameter '" + p->name()->str() + "' is written", false;
  bool cube = kernel.core() == fb::CoreType::AIC;
  int depth = 0;
  for (size_t pc = 0; pc < kernel.code()->size(); ++pc) {
    const fb::Instr &in = *kernel.code()->Get(pc);
    auto bad = [&](const std::string &what) {
      error = "instruction " + std::to_string(pc) + ": " + what;
      return false;
    };
    int count = operandCount(in.op());
    if (count < 0)
      return bad("unknown opcode " + std::to_string(int(in.op())));
    if (int(in.args() ? in.args()->size() : 0) != count || !in.args())
      return bad(std::string(fb::EnumNameOpcode(in.op())) + " takes " + std::to_string(count) +
                 " operands");
    if (hasDst(in.op()) && (in.dst() < 0 || in.dst() >= kernel.registers()))
      return bad("destination register out of range");
    for (const fb::Operand *o : *in.args())
      if (o->reg() >= kernel.registers())
        return bad("register r" + std::to_string(o->reg()) + " out of range");
    if ((in.op() == Opcode::SET_FLAG || in.op() == Opcode::WAIT_FLAG) &&
        (in.pipe() == fb::Pipe::ALL || in.pipe2() == fb::Pipe::ALL || in.pipe() == in.pipe2()))
      return bad("a flag connects two different pipes");
    if (in.op() == Opcode::LOOP)
      ++depth;
    if (in.op() == Opcode::END_LOOP && --depth < 0)
      return bad("END_LOOP without LOOP");
    Pipe pipe = pipeOf(in);
    bool cubePipe = pipe == Pipe::M || pipe == Pipe::MTE1 || pipe == Pipe::FIX;
    bool touchesUb = (in.op() == Opcode::DMA && (Space(in.src_space()) == Space::UB ||
                                                 Space(in.dst_space()) == Space::UB)) ||
                     (in.op() == Opcode::LDS && in.src_space() != fb::Space::GM) ||
                     (in.op() == Opcode::STS && in.dst_space() != fb::Space::GM);
    bool touchesCube = (in.op() == Opcode::DMA && (Space(in.src_space()) == Space::L1 ||
                                                   Space(in.dst_space()) == Space::L1)) ||
                       in.op() == Opcode::ND2NZ;
    if (cube && (pipe == Pipe::V || touchesUb))
      return bad("a cube core (AIC) has no vector unit or UB");
    if (!cube && (cubePipe || touchesCube))
      return bad("a vector core (AIV) has no cube, L1 or L0 buffers");
    if ((in.op() == Opcode::SET_FLAG || in.op() == Opcode::WAIT_FLAG || in.op() == Opcode::BARRIER) &&
        (int(in.pipe()) > int(fb::Pipe::ALL) || int(in.pipe2()) > int(fb::Pipe::ALL)))
      return bad("unknown pipe");
    if ((in.op() == Opcode::LDS && in.src_space() != fb::Space::GM && in.src_space() != fb::Space::UB) ||
        (in.op() == Opcode::STS && in.dst_space() != fb::Space::GM && in.dst_space() != fb::Space::UB))
      return bad("the scalar unit reads and writes UB or GM");
    if ((in.op() == Opcode::DMA || in.op() == Opcode::LOAD_L0) &&
        (int(in.src_space()) >= kNumSpaces || int(in.dst_space()) >= kNumSpaces))
      return bad("unknown space");
    if (int(in.dtype()) > int(DType::E8M0) || int(in.dtype2()) > int(DType::E8M0) ||
        int(in.dtype3()) > int(DType::E8M0))
      return bad("unknown element type");
  }
  if (depth != 0)
    return error = "LOOP without END_LOOP", false;
  (void)arch;
  return true;
}

} // namespace

bool isConstant(const fb::Kernel &kernel, size_t index) {
  return kernel.params()->Get(index)->data() != nullptr;
}

GmBinding constantBinding(const fb::Kernel &kernel, size_t index) {
  const flatbuffers::Vector<uint8_t> *data = kernel.params()->Get(index)->data();
  return {const_cast<uint8_t *>(data->data()), data->size()};
}

uint64_t paramBytes(const fb::Kernel &kernel, size_t index, const std::vector<int64_t> &scalars) {
  const fb::Param *p = kernel.params()->Get(index);
  int unit = p->unit_scalar();
  int64_t units = unit >= 0 && size_t(unit) < scalars.size() ? scalars[unit] : 0;
  return p->bytes() + p->bytes_per_unit() * uint64_t(std::max<int64_t>(units, 0));
}

bool simulate(const Arch &arch, const fb::Kernel &kernel, const std::vector<GmBinding> &params,
              const std::vector<int64_t> &scalars, const SimOptions &options, LaunchStats &stats,
              std::string &error) {
  std::string name = kernel.name() ? kernel.name()->str() : "?";
  if (!verifyKernel(arch, kernel, params.size(), scalars.size(), error)) {
    error = "kernel '" + name + "': " + error;
    return false;
  }
  bool cube = kernel.core() == fb::CoreType::AIC;
  unsigned cores = cube ? arch.cubeCores : arch.vectorCores;
  unsigned active = std::min<unsigned>(cores, kernel.block_dim());
  std::array<std::vector<uint8_t>, kNumSpaces> local;
  for (int s = 1; s < kNumSpaces; ++s) {
    bool mine = cube ? Space(s) != Space::UB : Space(s) == Space::UB;
    local[s].assign(mine ? arch.capacity[s] : 0, 0);
  }
  std::array<std::vector<Granule>, kNumSpaces> shadow;
  if (options.checkRaces)
    for (int s = 1; s < kNumSpaces; ++s)
      shadow[s].assign(local[s].size() / kGranule + 1, Granule());
  L2State l2;
  for (const GmBinding &p : params)
    l2.seen.emplace_back(p.bytes / arch.l2Line + 1, false);
  CrossBlock crossBlock;
  LaunchStats launch;
  launch.coresUsed = active;
  std::vector<uint64_t> coreTime(active, 0);
  double perUs = arch.clockGhz * 1000.0;
  for (unsigned b = 0; b < kernel.block_dim(); ++b) {
    unsigned core = b % active;
    BlockRun run(arch, kernel, params, scalars, options, local, shadow, l2, crossBlock, int(b),
                 int(core),
                 options.startUs + arch.launchOverheadUs + coreTime[core] / perUs);
    uint64_t cycles = 0;
    if (!run.run(launch, cycles, error)) {
      error = "kernel '" + name + "', " + error;
      return false;
    }
    coreTime[core] += cycles;
  }
  // The cores run side by side; the HBM serves all of them: the launch takes at least its HBM
  // bytes (first reads of each line, and writes) at the chip's bandwidth [A: NPU.md §7.4's
  // "shared fairly", as one budget rather than per-transfer shares, so that the order in which
  // the simulator runs the blocks does not decide who pays the misses].
  launch.cycles = *std::max_element(coreTime.begin(), coreTime.end());
  launch.cycles = std::max(launch.cycles,
                           uint64_t(std::ceil(double(launch.hbmBytes) / arch.hbmBytesPerCycle())));
  launch.microseconds = arch.launchOverheadUs + launch.cycles / perUs;
  stats.accumulate(launch);
  return true;
}

} // namespace v4c::npu
