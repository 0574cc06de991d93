// NPU kernels end to end: built in the npu dialect (the GEMM by codegen/npu, a vector kernel
// from IR text), synchronized and planned by the passes, serialized to kernel binaries and
// executed by the simulator; results against double-precision products, the CPU path's
// microkernel and plain loops. Also the simulator's and the verifier's checks: a planted missing
// flag is caught as a race, an oversize tile is rejected.
#include "codegen/npu/NpuTarget.h"
#include "ir/InitAllDialects.h"
#include "ir/Npu/IR/NpuOps.h"
#include "runtime/kernels/Gemm.h"
#include "runtime/npu/Device.h"
#include "runtime/npu/Kernel_generated.h"
#include "runtime/npu/Numerics.h"
#include "runtime/npu/Simulator.h"
#include "runtime/reference/Kernels.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>

namespace v4c::npu {
namespace {

namespace ref = v4c::reference;

struct Compiled {
  flatbuffers::FlatBufferBuilder fbb;
  const fb::Kernel *kernel = nullptr;
};

class NpuKernelTest : public ::testing::Test {
protected:
  NpuKernelTest() {
    mlir::DialectRegistry registry;
    registerAllDialects(registry);
    context = std::make_unique<mlir::MLIRContext>(registry);
    context->loadAllAvailableDialects();
  }

  mlir::OwningOpRef<mlir::ModuleOp> kernelModule(const std::string &archName, const GemmShape &shape,
                                                 GemmTiling tiling = {}) {
    std::string error;
    EXPECT_TRUE(builtinArch(archName, arch, error)) << error;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::ModuleOp::create(mlir::UnknownLoc::get(context.get()));
    setModuleArch(*module, arch);
    if (tiling.mt == 0)
      tiling = chooseGemmTiling(arch, shape);
    EXPECT_EQ(checkGemmTiling(arch, shape, tiling), "");
    buildGemmKernel(*module, "gemm", shape, tiling);
    return module;
  }

  /// Sync (optional), planning, verification and serialization.
  bool compile(mlir::ModuleOp module, Compiled &out, bool sync = true) {
    auto kernel = *module.getOps<mlir::func::FuncOp>().begin();
    if ((sync && mlir::failed(insertSync(kernel))) || mlir::failed(planBuffers(kernel)) ||
        mlir::failed(mlir::verify(module)))
      return false;
    std::string error;
    if (!serializeKernels(module, out.fbb, error)) {
      ADD_FAILURE() << error;
      return false;
    }
    flatbuffers::Verifier verifier(out.fbb.GetBufferPointer(), out.fbb.GetSize());
    EXPECT_TRUE(fb::VerifyKernelLibraryBuffer(verifier));
    out.kernel = fb::GetKernelLibrary(out.fbb.GetBufferPointer())->kernels()->Get(0);
    return true;
  }

  /// A GEMM kernel through the whole pipeline (null, with a test failure, when it fails).
  std::unique_ptr<Compiled> compileGemm(const std::string &archName, const GemmShape &shape,
                                        GemmTiling tiling = {}, bool sync = true) {
    auto module = kernelModule(archName, shape, tiling);
    auto compiled = std::make_unique<Compiled>();
    if (!compile(*module, *compiled, sync)) {
      ADD_FAILURE() << "the kernel did not compile";
      return nullptr;
    }
    return compiled;
  }

  /// A vector kernel `build` appends, through the whole pipeline for the 910B.
  std::unique_ptr<Compiled> compileVector(const std::function<void(mlir::ModuleOp)> &build) {
    std::string error;
    EXPECT_TRUE(builtinArch("910b", arch, error)) << error;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::ModuleOp::create(mlir::UnknownLoc::get(context.get()));
    setModuleArch(*module, arch);
    build(*module);
    auto compiled = std::make_unique<Compiled>();
    if (!compile(*module, *compiled))
      return nullptr;
    return compiled;
  }

  /// Simulates the kernel, which must succeed.
  LaunchStats run(const Compiled &compiled, const std::vector<GmBinding> &params,
                  const std::vector<int64_t> &scalars = {}) {
    LaunchStats stats;
    std::string error;
    EXPECT_TRUE(simulate(arch, *compiled.kernel, params, scalars, SimOptions(), stats, error))
        << error;
    return stats;
  }

  std::unique_ptr<mlir::MLIRContext> context;
  Arch arch;
};

/// GM bindings for the kernel's params, in order.
template <typename... Buffers> std::vector<GmBinding> bindParams(Buffers &...buffers) {
  return {GmBinding{reinterpret_cast<uint8_t *>(buffers.data()), buffers.size() * sizeof(buffers[0])}...};
}

std::vector<float> randomMatrix(int64_t rows, int64_t cols, std::mt19937 &rng) {
  std::normal_distribution<float> normal;
  std::vector<float> m(size_t(rows * cols));
  for (float &v : m)
    v = normal(rng);
  return m;
}

/// y = x · wᵀ for f32 operands: the simulated cube against a double-precision product (and the
/// CPU microkernel), per element relative to Σ|x·w|.
TEST_F(NpuKernelTest, F32GemmMatchesTheCpuPath) {
  struct Case {
    int64_t m, n, k;
    GemmTiling tiling;
  };
  // Odd sizes everywhere: partial M, N and K tiles, a partial last K step, single and paired
  // L1 chunks of one to four L0 steps, several blocks per core (block_dim below the tile
  // count) and the chosen tilings.
  for (Case c : {Case{1, 64, 128, {}}, Case{40, 100, 200, {32, 32, 128, 64, 8}},
                 Case{17, 300, 96, {16, 128, 96, 32, 2}}, Case{33, 47, 520, {}},
                 Case{130, 270, 64, {64, 64, 32, 16, 3}}, Case{48, 64, 1000, {}}}) {
    SCOPED_TRACE(std::to_string(c.m) + "x" + std::to_string(c.n) + "x" + std::to_string(c.k));
    mlir::Builder b(context.get());
    GemmShape shape{c.m, c.n, c.k, b.getF32Type(), b.getF32Type()};
    auto compiled = compileGemm("910b", shape, c.tiling);
    ASSERT_TRUE(compiled);

    std::mt19937 rng(unsigned(c.m * 7 + c.k));
    std::vector<float> x = randomMatrix(c.m, c.k, rng), w = randomMatrix(c.n, c.k, rng);
    std::vector<float> y(size_t(c.m * c.n), -1.0f);
    std::vector<GmBinding> params = bindParams(x, w, y);
    EXPECT_GT(run(*compiled, params).cycles, 0u);

    std::vector<float> cpu(size_t(c.m * c.n));
    v4c_gemm(x.data(), c.m, c.k, w.data(), V4C_W_F32, nullptr, V4C_SCALE_NONE, c.n, 0, c.n, 0,
             cpu.data(), c.n);
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double exact = 0, scale = 0;
        for (int64_t kk = 0; kk < c.k; ++kk) {
          exact += double(x[i * c.k + kk]) * w[j * c.k + kk];
          scale += std::fabs(double(x[i * c.k + kk]) * w[j * c.k + kk]);
        }
        float got = y[i * c.n + j];
        ASSERT_LE(std::fabs(got - exact), 1e-6 * scale) << "y[" << i << ", " << j << "]";
        ASSERT_LE(std::fabs(got - cpu[i * c.n + j]), 2e-6 * scale) << "vs CPU at " << i << ", " << j;
      }
  }
}

/// The kernel the model uses: M (the token count) comes with each launch; the tiles are
/// chosen for decode. Every M up to several tiles gives the double-precision product.
TEST_F(NpuKernelTest, DynamicMKernelServesEveryTokenCount) {
  mlir::Builder b(context.get());
  GemmShape shape{16, 96, 200, b.getF32Type(), b.getF32Type(), /*dynamicM=*/true};
  auto compiled = compileGemm("910b", shape);
  ASSERT_TRUE(compiled);
  ASSERT_EQ(compiled->kernel->scalars()->size(), 1u);
  for (int64_t m : {1, 5, 16, 17, 40}) {
    std::mt19937 rng(static_cast<unsigned>(m));
    std::vector<float> x = randomMatrix(m, shape.k, rng), w = randomMatrix(shape.n, shape.k, rng);
    std::vector<float> y(size_t(m * shape.n), -1.0f);
    EXPECT_EQ(paramBytes(*compiled->kernel, 0, {m}), x.size() * 4);
    EXPECT_EQ(paramBytes(*compiled->kernel, 2, {m}), y.size() * 4);
    run(*compiled, bindParams(x, w, y), {m});
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < shape.n; ++j) {
        double exact = 0, scale = 0;
        for (int64_t kk = 0; kk < shape.k; ++kk) {
          exact += double(x[i * shape.k + kk]) * w[j * shape.k + kk];
          scale += std::fabs(double(x[i * shape.k + kk]) * w[j * shape.k + kk]);
        }
        ASSERT_LE(std::fabs(y[i * shape.n + j] - exact), 1e-6 * scale) << m << ": " << i << ", " << j;
      }
  }
  // A launch without its scalar is refused.
  std::vector<float> x(shape.k), w(shape.n * shape.k), y(shape.n);
  LaunchStats stats;
  std::string error;
  EXPECT_FALSE(simulate(arch, *compiled->kernel, bindParams(x, w, y), {}, SimOptions(), stats, error));
  EXPECT_NE(error.find("0 scalars for 1"), std::string::npos) << error;
}

/// bf16 operands (the 910B's cube format for DeepSeek's FP8 weights after vector dequantization):
/// products are exact in f32, so the result is the f32 sum of exact products.
TEST_F(NpuKernelTest, Bf16GemmSumsExactProducts) {
  mlir::Builder b(context.get());
  GemmShape shape{20, 72, 300, b.getBF16Type(), b.getBF16Type()};
  auto compiled = compileGemm("910b", shape);
  ASSERT_TRUE(compiled);
  std::mt19937 rng(3);
  std::vector<float> xf = randomMatrix(shape.m, shape.k, rng), wf = randomMatrix(shape.n, shape.k, rng);
  std::vector<uint16_t> x(xf.size()), w(wf.size()), y(size_t(shape.m * shape.n));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = floatToBf16(xf[i]);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = floatToBf16(wf[i]);
  std::vector<GmBinding> params = bindParams(x, w, y);
  run(*compiled, params);
  for (int64_t i = 0; i < shape.m; ++i)
    for (int64_t j = 0; j < shape.n; ++j) {
      double exact = 0, scale = 0;
      for (int64_t kk = 0; kk < shape.k; ++kk) {
        double p = double(bf16ToFloat(x[i * shape.k + kk])) * bf16ToFloat(w[j * shape.k + kk]);
        exact += p;
        scale += std::fabs(p);
      }
      // bf16 output: half an ulp of bf16 (2^-9 relative) plus the f32 summation.
      float got = bf16ToFloat(y[i * shape.n + j]);
      ASSERT_LE(std::fabs(got - exact), std::fabs(exact) * 0.004 + 1e-6 * scale) << i << ", " << j;
    }
}

/// Without the synchronization pass, and with one of its flag pairs removed, the simulator
/// stops at the first unordered access and names it.
TEST_F(NpuKernelTest, RaceDetectorCatchesAMissingFlag) {
  mlir::Builder b(context.get());
  GemmShape shape{16, 64, 128, b.getF32Type(), b.getF32Type()};
  std::vector<float> x(16 * 128, 1.0f), w(64 * 128, 1.0f), y(16 * 64);
  std::vector<GmBinding> params = bindParams(x, w, y);
  std::string error;
  LaunchStats stats;
  auto unsynchronized = compileGemm("910b", shape, {}, /*sync=*/false);
  ASSERT_TRUE(unsynchronized);
  EXPECT_FALSE(simulate(arch, *unsynchronized->kernel, params, {}, SimOptions(), stats, error));
  EXPECT_NE(error.find("race"), std::string::npos) << error;
  // Synchronized, then the MTE2 → MTE1 pair (L1 written by the DMA, read by the L0 load) removed.
  auto module = kernelModule("910b", shape);
  auto kernel = *module->getOps<mlir::func::FuncOp>().begin();
  ASSERT_TRUE(mlir::succeeded(insertSync(kernel)));
  int removed = 0;
  kernel.walk([&](mlir::Operation *op) {
    auto set = mlir::dyn_cast<SetFlagOp>(op);
    auto wait = mlir::dyn_cast<WaitFlagOp>(op);
    if ((set && set.getSrc() == "MTE2" && set.getDst() == "MTE1" && set.getId() == 0) ||
        (wait && wait.getSrc() == "MTE2" && wait.getDst() == "MTE1" && wait.getId() == 0)) {
      op->erase();
      ++removed;
    }
  });
  ASSERT_EQ(removed, 2);
  Compiled compiled;
  ASSERT_TRUE(compile(*module, compiled, /*sync=*/false));
  error.clear();
  EXPECT_FALSE(simulate(arch, *compiled.kernel, params, {}, SimOptions(), stats, error));
  EXPECT_NE(error.find("read-after-write race on l1"), std::string::npos) << error;
  EXPECT_NE(error.find("pipe MTE2"), std::string::npos) << error;
}

/// Bad kernel binaries and launches are refused with a message, never executed.
TEST_F(NpuKernelTest, SimulatorRefusesBadLaunches) {
  mlir::Builder b(context.get());
  auto compiled = compileGemm("910b", {16, 64, 128, b.getF32Type(), b.getF32Type()});
  ASSERT_TRUE(compiled);
  std::vector<float> x(16 * 128), w(64 * 128), y(16 * 64);
  std::string error;
  LaunchStats stats;
  // A GM buffer smaller than the kernel reads: out of bounds, named.
  std::vector<GmBinding> shortW = bindParams(x, w, y);
  shortW[1].bytes = 100;
  EXPECT_FALSE(simulate(arch, *compiled->kernel, shortW, {}, SimOptions(), stats, error));
  EXPECT_NE(error.find("parameter 'w'"), std::string::npos) << error;
  // Too few buffers.
  error.clear();
  EXPECT_FALSE(simulate(arch, *compiled->kernel, {shortW[0]}, {}, SimOptions(), stats, error));
  EXPECT_NE(error.find("3 parameters"), std::string::npos) << error;
}

/// The 910B has no FP8 cube; the 950 has one. Capacity: a tile past L0A is rejected.
TEST_F(NpuKernelTest, VerifierChecksDtypesAndCapacityForTheArch) {
  mlir::Builder b(context.get());
  Arch a910, a950;
  std::string error;
  ASSERT_TRUE(builtinArch("910b", a910, error)) << error;
  ASSERT_TRUE(builtinArch("950", a950, error)) << error;
  mlir::Type fp8 = b.getType<mlir::Float8E4M3FNType>();
  GemmShape shape{16, 64, 128, fp8, b.getF32Type()};
  EXPECT_NE(checkGemmTiling(a910, shape, {16, 64, 128, 128, 1}).find("no f8e4m3"), std::string::npos);
  EXPECT_EQ(checkGemmTiling(a950, shape, {16, 64, 128, 128, 1}), "");
  GemmShape f32{128, 128, 1024, b.getF32Type(), b.getF32Type()};
  std::string problem = checkGemmTiling(a910, f32, {128, 128, 128, 128, 1});
  EXPECT_NE(problem.find("l0a needs 131072 bytes"), std::string::npos) << problem;
}

/// A vector (AIV) kernel in IR text: z = (x + y) · 0.5 over tiles of 2048 f32, the tiles spread
/// over the blocks; MTE2 loads, V computes, MTE3 stores, the pass orders them (within a tile and
/// around the loop's back edge). Without the pass the race detector stops it.
TEST_F(NpuKernelTest, VectorKernelThroughTheSyncPass) {
  std::string error;
  ASSERT_TRUE(builtinArch("910b", arch, error)) << error;
  const char *source = R"mlir(
  func.func @vadd(%x: index, %y: index, %z: index, %n: index) attributes {npu.kernel = {
      core = "aiv", block_dim = 3, params = ["x", "y", "z"], param_bytes = array<i64: 0, 0, 0>,
      param_bytes_per_unit = array<i64: 4, 4, 4>, outputs = array<i1: false, false, true>,
      scalars = ["n"]}} {
    %bx = npu.alloc {space = "ub", bytes = 8192} : index
    %by = npu.alloc {space = "ub", bytes = 8192} : index
    %bz = npu.alloc {space = "ub", bytes = 8192} : index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %tile = arith.constant 2048 : index
    %bytes = arith.constant 8192 : index
    %repeats = arith.constant 32 : index
    %block = npu.block_idx : index
    %blocks = npu.block_num : index
    %tiles = arith.divui %n, %tile : index
    scf.for %t = %block to %tiles step %blocks {
      %offset = arith.muli %t, %bytes : index
      %gx = arith.addi %x, %offset : index
      %gy = arith.addi %y, %offset : index
      %gz = arith.addi %z, %offset : index
      npu.dma %bx, %gx, %c1, %bytes, %c0, %c0 {srcSpace = "gm", dstSpace = "ub"}
      npu.dma %by, %gy, %c1, %bytes, %c0, %c0 {srcSpace = "gm", dstSpace = "ub"}
      npu.vbinary "add" %bz, %bx, %by, %repeats {elementType = f32, blockStrides = array<i64: 1, 1, 1>, repeatStrides = array<i64: 8, 8, 8>}
      npu.vscalar "mul" %bz, %bz, %repeats {scalar = 0.5 : f32, elementType = f32, blockStrides = array<i64: 1, 1>, repeatStrides = array<i64: 8, 8>}
      npu.dma %gz, %bz, %c1, %bytes, %c0, %c0 {srcSpace = "ub", dstSpace = "gm"}
    }
    return
  })mlir";
  const int64_t n = 2048 * 7;
  std::mt19937 rng(11);
  std::vector<float> x = randomMatrix(1, n, rng), y = randomMatrix(1, n, rng), z(n, -1.0f);
  for (bool sync : {true, false}) {
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(source, context.get());
    ASSERT_TRUE(module);
    setModuleArch(*module, arch);
    Compiled compiled;
    ASSERT_TRUE(compile(*module, compiled, sync));
    LaunchStats stats;
    bool ran = simulate(arch, *compiled.kernel, bindParams(x, y, z), {n}, SimOptions(), stats, error);
    if (!sync) {
      EXPECT_FALSE(ran);
      EXPECT_NE(error.find("race"), std::string::npos) << error;
      continue;
    }
    ASSERT_TRUE(ran) << error;
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(z[i], (x[i] + y[i]) * 0.5f) << i;
    EXPECT_GT(stats.busy[int(Pipe::V)], 0u);
    EXPECT_GT(stats.busy[int(Pipe::MTE3)], 0u);
  }
}

/// Blocks of one launch are unordered: two blocks writing the same output bytes is a race the
/// simulator reports (a planted bug: every block stores its row at offset 0).
TEST_F(NpuKernelTest, RaceDetectorCatchesBlocksWritingTheSameOutput) {
  std::string error;
  ASSERT_TRUE(builtinArch("910b", arch, error)) << error;
  const char *source = R"mlir(
  func.func @copy(%x: index, %y: index, %n: index) attributes {npu.kernel = {
      core = "aiv", block_dim = 2, params = ["x", "y"], param_bytes = array<i64: 0, 0>,
      param_bytes_per_unit = array<i64: 256, 256>, outputs = array<i1: false, true>,
      scalars = ["n"]}} {
    %b = npu.alloc {space = "ub", bytes = 256} : index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %bytes = arith.constant 256 : index
    %block = npu.block_idx : index
    %blocks = npu.block_num : index
    scf.for %r = %block to %n step %blocks {
      %offset = arith.muli %r, %bytes : index
      %gx = arith.addi %x, %offset : index
      npu.dma %b, %gx, %c1, %bytes, %c0, %c0 {srcSpace = "gm", dstSpace = "ub"}
      npu.dma %y, %b, %c1, %bytes, %c0, %c0 {srcSpace = "ub", dstSpace = "gm"}
    }
    return
  })mlir";
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(source, context.get());
  ASSERT_TRUE(module);
  setModuleArch(*module, arch);
  Compiled compiled;
  ASSERT_TRUE(compile(*module, compiled));
  std::vector<float> x(128, 1.0f), y(128);
  LaunchStats stats;
  EXPECT_FALSE(simulate(arch, *compiled.kernel, bindParams(x, y), {2}, SimOptions(), stats, error));
  EXPECT_NE(error.find("race between blocks on parameter 'y' bytes [0, 2): written by block 0, "
                       "then written by block 1"),
            std::string::npos)
      << error;
  // One row: one block touches y, no race.
  EXPECT_TRUE(simulate(arch, *compiled.kernel, bindParams(x, y), {1}, SimOptions(), stats, error))
      << error;
}

/// The RMSNorm vector kernel (reductions on the vector unit, the scalar unit reading the
/// result back from UB) against the reference's rmsNorm, with and without a weight, for row
/// counts below and above the block count.
TEST_F(NpuKernelTest, RmsNormKernelMatchesTheReference) {
  std::string error;
  ASSERT_TRUE(builtinArch("910b", arch, error)) << error;
  for (bool weighted : {true, false})
    for (int64_t width : {64, 256, 4096}) {
      mlir::OwningOpRef<mlir::ModuleOp> module =
          mlir::ModuleOp::create(mlir::UnknownLoc::get(context.get()));
      setModuleArch(*module, arch);
      ASSERT_TRUE(rmsNormFitsVectorKernel(width));
      buildRmsNormKernel(*module, "rms_norm", width, weighted, 1e-6, 4);
      Compiled compiled;
      ASSERT_TRUE(compile(*module, compiled));
      for (int64_t rows : {1, 3, 9}) {
        std::mt19937 rng(static_cast<unsigned>(rows * width));
        std::vector<float> x = randomMatrix(rows, width, rng), w = randomMatrix(1, width, rng);
        std::vector<float> y(size_t(rows * width), -1.0f), expected = x;
        for (int64_t r = 0; r < rows; ++r)
          ref::rmsNorm(expected.data() + r * width, width, weighted ? w.data() : nullptr, 1e-6);
        std::vector<GmBinding> params = weighted ? bindParams(x, w, y) : bindParams(x, y);
        run(compiled, params, {rows, rows});
        for (int64_t i = 0; i < rows * width; ++i)
          ASSERT_NEAR(y[i], expected[i], 2e-6 * std::fabs(expected[i]) + 1e-7)
              << "width " << width << " rows " << rows << " weighted " << weighted << " at " << i;
      }
    }
  EXPECT_FALSE(rmsNormFitsVectorKernel(100));
  EXPECT_FALSE(rmsNormFitsVectorKernel(8192));
}


/// The RoPE kernel (angles, sin/cos on the vector unit, the pair swap by a gather, the
/// position read by the scalar unit) equals the reference's applyRope bit for bit, forward and
/// inverse, on one or several heads, with channels before the rotated ones left as they are.
TEST_F(NpuKernelTest, RopeKernelEqualsTheReference) {
  std::string error;
  ASSERT_TRUE(builtinArch("910b", arch, error)) << error;
  std::vector<float> freqs = ref::ropeInvFreqs(64, 10000.0, 1.0, 0, 32.0, 1.0);
  for (bool inverse : {false, true})
    for (auto [heads, width] : {std::pair<int64_t, int64_t>{1, 64}, {3, 128}}) {
      ASSERT_TRUE(ropeFitsVectorKernel(width, 64));
      auto compiled = compileVector([&](mlir::ModuleOp module) {
        buildRopeKernel(module, "rope", heads, width, freqs, inverse, 4);
      });
      ASSERT_TRUE(compiled);
      EXPECT_EQ(compiled->kernel->params()->size(), 6u); // x, positions, y and three tables
      for (int64_t tokens : {1, 5}) {
        std::mt19937 rng(static_cast<unsigned>(tokens * width + inverse));
        std::vector<float> x = randomMatrix(tokens * heads, width, rng);
        std::vector<int64_t> positions;
        for (int64_t t = 0; t < tokens; ++t)
          positions.push_back(int64_t(rng() % 100000));
        std::vector<float> y(x.size(), -1.0f), expected = x;
        for (int64_t r = 0; r < tokens * heads; ++r)
          ref::applyRope(expected.data() + r * width + width - 64, freqs, positions[r / heads],
                         inverse);
        std::vector<GmBinding> params = bindParams(x, positions, y);
        for (size_t i = 3; i < 6; ++i)
          params.push_back(constantBinding(*compiled->kernel, i));
        run(*compiled, params, {tokens * heads, tokens});
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_EQ(y[i], expected[i]) << "heads " << heads << " tokens " << tokens
                                       << " inverse " << inverse << " at " << i;
      }
    }
  EXPECT_FALSE(ropeFitsVectorKernel(128, 32));  // not whole repeats
  EXPECT_FALSE(ropeFitsVectorKernel(60, 64));   // wider than the row
}

/// The SwiGLU kernel equals the reference's expert activation (silu(min(g, l)) · clamp(u)) bit
/// for bit, with and without the clamp; NaN stays NaN.
TEST_F(NpuKernelTest, SwigluKernelEqualsTheReference) {
  std::string error;
  ASSERT_TRUE(builtinArch("910b", arch, error)) << error;
  for (double limit : {0.0, 1.5})
    for (int64_t width : {64, 512}) {
      ASSERT_TRUE(swigluFitsVectorKernel(width));
      auto compiled = compileVector([&](mlir::ModuleOp module) {
        buildSwigluKernel(module, "swiglu", width, limit, 4);
      });
      ASSERT_TRUE(compiled);
      int64_t rows = 6;
      std::mt19937 rng(static_cast<unsigned>(width + limit * 10));
      std::vector<float> g = randomMatrix(rows, width, rng), u = randomMatrix(rows, width, rng);
      g[3] = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> y(g.size(), -1.0f);
      run(*compiled, bindParams(g, u, y), {rows, rows});
      for (size_t i = 0; i < y.size(); ++i) {
        float gi = g[i], ui = u[i], l = float(limit);
        if (limit > 0) {
          ui = std::clamp(ui, -l, l);
          gi = std::min(gi, l);
        }
        float expected = ref::silu(gi) * ui;
        if (std::isnan(expected))
          ASSERT_TRUE(std::isnan(y[i])) << i;
        else
          ASSERT_EQ(y[i], expected) << "width " << width << " limit " << limit << " at " << i;
      }
    }
  EXPECT_FALSE(swigluFitsVectorKernel(100));
}

/// The MoE experts as the NPU runs them (route → grouped GEMM w1, w3 → routed SwiGLU → grouped
/// GEMM w2 → combine) against the reference's expert math, on a skewed routing: one expert
/// gets every token (two work items), one none. f32 cube products, fp32 sums.
TEST_F(NpuKernelTest, MoeKernelsMatchTheReferenceExperts) {
  const int64_t T = 20, K = 2, E = 4, D = 128, F = 64, R = T * K;
  const double limit = 7.0;
  GemmShape up{16, F, D, mlir::Float32Type::get(context.get()),
               mlir::Float32Type::get(context.get()), true, E};
  GemmShape down = up;
  down.n = D;
  down.k = F;
  std::string error;
  ASSERT_TRUE(builtinArch("910b", arch, error)) << error;
  GemmTiling upTiling = chooseGemmTiling(arch, up), downTiling = chooseGemmTiling(arch, down);
  ASSERT_EQ(upTiling.mt, 16);
  ASSERT_EQ(downTiling.mt, 16);
  auto route = compileVector([&](mlir::ModuleOp m) { buildMoeRouteKernel(m, "route", E, K, D, 16); });
  auto swiglu = compileVector([&](mlir::ModuleOp m) { buildSwigluKernel(m, "swiglu", F, limit, 4, true); });
  auto combine = compileVector([&](mlir::ModuleOp m) { buildMoeCombineKernel(m, "combine", K, D, 4); });
  auto gemmUp = compileGemm("910b", up, upTiling), gemmDown = compileGemm("910b", down, downTiling);
  ASSERT_TRUE(route && swiglu && combine && gemmUp && gemmDown);

  std::mt19937 rng(7);
  std::vector<float> x = randomMatrix(T, D, rng), w1 = randomMatrix(E * F, D, rng),
                     w3 = randomMatrix(E * F, D, rng), w2 = randomMatrix(E * D, F, rng);
  std::vector<int32_t> ids;
  std::vector<float> weights;
  for (int64_t t = 0; t < T; ++t) {
    ids.push_back(2);
    ids.push_back(t % 3 == 0 ? 1 : 3);
    weights.push_back(0.25f + 0.01f * float(t));
    weights.push_back(0.5f);
  }
  std::vector<uint8_t> table(size_t(MoeRoute::kHeaderBytes + MoeRoute::kBytesPerRow * R));
  std::vector<float> xperm(size_t(R * D)), g(size_t(R * F)), u(g.size()), h(g.size()),
      yperm(size_t(R * D)), y(size_t(T * D), -1.0f);
  std::vector<int64_t> scalars = {R, T};
  run(*route, bindParams(ids, weights, x, table, xperm), scalars);
  int32_t items;
  std::memcpy(&items, table.data(), 4);
  EXPECT_EQ(items, 4); // expert 1: 7 rows, expert 2: 16 + 4, expert 3: 13
  run(*gemmUp, bindParams(xperm, w1, table, g), scalars);
  run(*gemmUp, bindParams(xperm, w3, table, u), scalars);
  run(*swiglu, bindParams(g, u, table, h), scalars);
  run(*gemmDown, bindParams(h, w2, table, yperm), scalars);
  run(*combine, bindParams(yperm, table, y), scalars);

  double err = 0, norm = 0;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> expected(size_t(D), 0.0f);
    for (int64_t k = 0; k < K; ++k) {
      int64_t e = ids[t * K + k];
      std::vector<float> act(static_cast<size_t>(F));
      for (int64_t f = 0; f < F; ++f) {
        double gs = 0, us = 0;
        for (int64_t d = 0; d < D; ++d) {
          gs += double(x[t * D + d]) * w1[(e * F + f) * D + d];
          us += double(x[t * D + d]) * w3[(e * F + f) * D + d];
        }
        float gf = std::min(float(gs), float(limit));
        float uf = std::clamp(float(us), -float(limit), float(limit));
        act[f] = ref::silu(gf) * uf * weights[t * K + k];
      }
      for (int64_t d = 0; d < D; ++d) {
        double sum = 0;
        for (int64_t f = 0; f < F; ++f)
          sum += double(act[f]) * w2[(e * D + d) * F + f];
        expected[d] += float(sum);
      }
    }
    for (int64_t d = 0; d < D; ++d) {
      err += std::pow(double(y[t * D + d]) - expected[d], 2);
      norm += std::pow(double(expected[d]), 2);
    }
  }
  EXPECT_LT(std::sqrt(err / norm), 1e-5);
}

/// The attention kernel against the op's definition (graph.sparse_attention), computed here in
/// double: a call starting at position 37 with a window of 8 (so earlier positions come from
/// the ring state), for no compressed entries, all visible ones (HCA), and indexer picks with
/// -1 (CSA); then the ring update keeps this call's last 8 rows.
TEST_F(NpuKernelTest, AttentionKernelsMatchTheDefinition) {
  const int64_t T = 3, H = 2, HD = 128, W = 8, start = 37, C = 9, TOPK = 4, ratio = 4;
  const double scale = 0.09;
  std::mt19937 rng(11);
  std::vector<float> q = randomMatrix(T * H, HD, rng), kv = randomMatrix(T, HD, rng),
                     ring = randomMatrix(W, HD, rng), entries = randomMatrix(C, HD, rng),
                     sink = {0.5f, -1.0f};
  std::vector<int64_t> positions = {start, start + 1, start + 2};
  std::vector<int32_t> picks = {3, -1, 0, 7, 8, 2, -1, -1, 1, 1, 5, 4};
  for (auto mode : {AttentionShape::kNone, AttentionShape::kAll, AttentionShape::kIndexed}) {
    AttentionShape shape{H, HD, W, ratio, mode, mode == AttentionShape::kIndexed ? TOPK : 16,
                         scale};
    ASSERT_TRUE(attentionFitsVectorKernel(shape));
    auto compiled = compileVector([&](mlir::ModuleOp m) { buildAttentionKernel(m, "attn", shape, 4); });
    ASSERT_TRUE(compiled);
    std::vector<float> out(q.size(), -1.0f);
    std::vector<GmBinding> params = bindParams(q, kv, positions, sink, ring);
    if (mode != AttentionShape::kNone)
      params.push_back(bindParams(entries)[0]);
    if (mode == AttentionShape::kIndexed)
      params.push_back(bindParams(picks)[0]);
    params.push_back(bindParams(out)[0]);
    run(*compiled, params, {T, T, C});
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        int64_t p = start + t, lo = std::max<int64_t>(p + 1, W) - W;
        std::vector<const float *> rows;
        for (int64_t s2 = lo; s2 <= p; ++s2)
          rows.push_back(s2 < start ? &ring[(s2 % W) * HD] : &kv[(s2 - start) * HD]);
        if (mode == AttentionShape::kAll)
          for (int64_t i = 0; i < std::min((p + 1) / ratio, C); ++i)
            rows.push_back(&entries[i * HD]);
        if (mode == AttentionShape::kIndexed)
          for (int64_t r = 0; r < TOPK; ++r)
            if (picks[t * TOPK + r] >= 0)
              rows.push_back(&entries[picks[t * TOPK + r] * HD]);
        std::vector<double> logits;
        double max = sink[h];
        for (const float *row : rows) {
          double dot = 0;
          for (int64_t c = 0; c < HD; ++c)
            dot += double(q[(t * H + h) * HD + c]) * row[c];
          logits.push_back(dot * scale);
          max = std::max(max, logits.back());
        }
        double denominator = std::exp(sink[h] - max);
        for (double &l : logits)
          denominator += (l = std::exp(l - max));
        for (int64_t c = 0; c < HD; ++c) {
          double expected = 0;
          for (size_t i = 0; i < rows.size(); ++i)
            expected += logits[i] / denominator * rows[i][c];
          ASSERT_NEAR(out[(t * H + h) * HD + c], expected, 2e-6 + 1e-5 * std::fabs(expected))
              << "mode " << mode << " token " << t << " head " << h << " channel " << c;
        }
      }
  }
  auto update = compileVector([&](mlir::ModuleOp m) { buildRingUpdateKernel(m, "ring", HD, W, 4); });
  ASSERT_TRUE(update);
  std::vector<float> expectedRing = ring;
  for (int64_t t = 0; t < T; ++t)
    std::copy_n(&kv[t * HD], HD, &expectedRing[((start + t) % W) * HD]);
  run(*update, bindParams(kv, positions, ring), {T, T});
  EXPECT_EQ(ring, expectedRing);
}

/// The mHC vector kernels against the reference's math: hc_pre after its mixes (RMS factor,
/// σ gates, Sinkhorn through gathers, y = Σ pre_j X_j), hc_head, hc_post and hc_expand.
TEST_F(NpuKernelTest, HcKernelsMatchTheReference) {
  const int64_t T = 3, n = 4, D = 128, M = (2 + n) * n, iters = 20;
  const double hcEps = 1e-6, normEps = 1e-6;
  std::mt19937 rng(5);
  std::vector<float> streams = randomMatrix(T * n, D, rng), mixes = randomMatrix(T, M, rng),
                     base = randomMatrix(1, M, rng), scale = {0.7f, -0.4f, 1.3f};
  auto close = [](float actual, double expected) {
    return std::fabs(actual - expected) <= 2e-5 * std::fabs(expected) + 1e-6;
  };
  for (bool head : {false, true}) {
    auto mix = compileVector([&](mlir::ModuleOp m) {
      buildHcMixKernel(m, "hc", n, D, head, iters, hcEps, normEps, 2);
    });
    ASSERT_TRUE(mix);
    int64_t count = head ? n : M;
    std::vector<float> headMixes, y(size_t(T * D)), post(size_t(T * n)), comb(size_t(T * n * n));
    for (int64_t t = 0; t < T; ++t)
      headMixes.insert(headMixes.end(), &mixes[t * M], &mixes[t * M] + count);
    std::vector<GmBinding> params =
        head ? bindParams(streams, headMixes, base, scale, y) : bindParams(streams, mixes, base, scale, y, post, comb);
    params.push_back(constantBinding(*mix->kernel, params.size()));
    run(*mix, params, {T, T});
    for (int64_t t = 0; t < T; ++t) {
      const float *X = &streams[t * n * D], *m = head ? &headMixes[t * n] : &mixes[t * M];
      double sumSq = 0;
      for (int64_t i = 0; i < n * D; ++i)
        sumSq += double(X[i]) * X[i];
      float r = float(1.0 / std::sqrt(sumSq / double(n * D) + normEps));
      std::vector<float> a(static_cast<size_t>(count)), pre(static_cast<size_t>(n));
      for (int64_t i = 0; i < count; ++i)
        a[i] = scale[std::min<int64_t>(i / n, 2)] * (m[i] * r) + base[i];
      for (int64_t j = 0; j < n; ++j)
        pre[j] = ref::sigmoid(a[j]) + float(hcEps);
      for (int64_t c = 0; c < D; ++c) {
        double expected = 0;
        for (int64_t j = 0; j < n; ++j)
          expected += double(pre[j]) * X[j * D + c];
        ASSERT_TRUE(close(y[t * D + c], expected)) << "head " << head << " y " << t << "," << c;
      }
      if (head)
        continue;
      std::vector<float> R(a.begin() + 2 * n, a.end());
      ref::sinkhorn(R.data(), n, iters, hcEps);
      for (int64_t j = 0; j < n; ++j)
        ASSERT_TRUE(close(post[t * n + j], 2.0 * ref::sigmoid(a[n + j]))) << "post " << j;
      for (int64_t i = 0; i < n * n; ++i)
        ASSERT_TRUE(close(comb[t * n * n + i], R[i])) << "comb " << i << ": " << comb[t * n * n + i] << " vs " << R[i];
    }
  }
  // hc_post: X'_k = post_k · f + Σ_j comb[j, k] · X_j; hc_expand: n copies.
  auto postKernel = compileVector([&](mlir::ModuleOp m) { buildHcPostKernel(m, "post", n, D, 4); });
  auto expand = compileVector([&](mlir::ModuleOp m) { buildHcExpandKernel(m, "expand", n, D, 4); });
  ASSERT_TRUE(postKernel && expand);
  std::vector<float> f = randomMatrix(T, D, rng), post = randomMatrix(T, n, rng),
                     comb = randomMatrix(T * n, n, rng), out(streams.size()), copies(streams.size());
  run(*postKernel, bindParams(f, streams, post, comb, out), {T, T});
  run(*expand, bindParams(f, copies), {T, T});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t c = 0; c < D; ++c) {
        float v = post[t * n + k] * f[t * D + c];
        for (int64_t j = 0; j < n; ++j)
          v += comb[(t * n + j) * n + k] * streams[(t * n + j) * D + c];
        ASSERT_EQ(out[(t * n + k) * D + c], v) << t << "," << k << "," << c;
        ASSERT_EQ(copies[(t * n + k) * D + c], f[t * D + c]);
      }
}

/// The lightning indexer's kernels (scores, then selection) against the op's definition: scores
/// in double, the reference's
/// top-k (larger first, lower index on ties: keys 2 and 5 are equal), -1 past the visible
/// entries.
TEST_F(NpuKernelTest, IndexTopkKernelMatchesTheReference) {
  const int64_t T = 3, H = 2, D = 64, N = 9, K = 4, ratio = 4, capacity = 64;
  const double scale = 0.125;
  std::mt19937 rng(3);
  std::vector<float> q = randomMatrix(T * H, D, rng), w = randomMatrix(T, H, rng),
                     keys = randomMatrix(N, D, rng);
  std::copy_n(&keys[2 * D], D, &keys[5 * D]);
  std::vector<int64_t> positions = {3, 17, 40};
  ASSERT_TRUE(indexTopkFitsVectorKernel(H, D, capacity));
  auto scoring = compileVector([&](mlir::ModuleOp m) {
    buildIndexScoreKernel(m, "scores", H, D, capacity, ratio, scale, 2);
  });
  auto selection = compileVector([&](mlir::ModuleOp m) {
    buildIndexSelectKernel(m, "topk", capacity, K, ratio, 2);
  });
  ASSERT_TRUE(scoring && selection);
  std::vector<float> scratch(size_t(T * indexScoreLanes(capacity)));
  std::vector<int32_t> out(size_t(T * K), 7);
  std::vector<GmBinding> params = bindParams(q, w, keys, positions, scratch);
  params.push_back(constantBinding(*scoring->kernel, 5));
  run(*scoring, params, {T, T, N});
  params = bindParams(scratch, positions, out);
  params.push_back(constantBinding(*selection->kernel, 3));
  run(*selection, params, {T, T, N});
  for (int64_t t = 0; t < T; ++t) {
    int64_t visible = std::min<int64_t>((positions[t] + 1) / ratio, N);
    std::vector<float> scores;
    for (int64_t i = 0; i < visible; ++i) {
      double score = 0;
      for (int64_t j = 0; j < H; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < D; ++c)
          dot += double(q[(t * H + j) * D + c]) * keys[i * D + c];
        score += double(w[t * H + j]) * scale * std::max(dot, 0.0);
      }
      scores.push_back(float(score));
    }
    std::vector<int32_t> expected = ref::topk(scores.data(), visible, K);
    expected.resize(size_t(K), -1);
    for (int64_t r = 0; r < K; ++r)
      EXPECT_EQ(out[t * K + r], expected[r]) << "token " << t << " rank " << r;
  }
}

/// The compressor's pooling kernel against the op's definition over two calls (the pending
/// state carries the incomplete block): entry i pools block i's tokens per channel (CSA: and
/// block i-1's on the first half of the channels) with softmax weights of score + ape.
TEST_F(NpuKernelTest, CompressorPoolKernelMatchesTheDefinition) {
  const int64_t ratio = 4, total = 11;
  for (bool overlap : {false, true}) {
    const int64_t width = overlap ? 128 : 64, hd = overlap ? width / 2 : width;
    const int64_t rows = overlap ? 2 * ratio : ratio;
    ASSERT_TRUE(compressorFitsVectorKernel(ratio, width, overlap));
    auto compiled = compileVector([&](mlir::ModuleOp m) {
      buildCompressorPoolKernel(m, "pool", ratio, width, overlap);
    });
    ASSERT_TRUE(compiled);
    std::mt19937 rng(overlap ? 2 : 1);
    std::vector<float> kv = randomMatrix(total, width, rng), score = randomMatrix(total, width, rng),
                       ape = randomMatrix(ratio, width, rng),
                       pending(size_t(2 * rows * width), 0.0f), entries;
    std::vector<int64_t> entryPositions;
    for (auto [first, count] : {std::pair<int64_t, int64_t>{0, 6}, {6, 5}}) { // two calls
      std::vector<float> kvPart(&kv[first * width], &kv[(first + count) * width]),
          scorePart(&score[first * width], &score[(first + count) * width]);
      std::vector<int64_t> positions;
      for (int64_t t = 0; t < count; ++t)
        positions.push_back(first + t);
      int64_t made = (first + count) / ratio - first / ratio;
      std::vector<float> out(size_t(std::max<int64_t>(made, 1) * hd));
      std::vector<int64_t> outPositions(size_t(std::max<int64_t>(made, 1)));
      run(*compiled, bindParams(kvPart, scorePart, ape, positions, pending, out, outPositions),
          {count, count, made});
      entries.insert(entries.end(), out.begin(), out.begin() + made * hd);
      entryPositions.insert(entryPositions.end(), outPositions.begin(), outPositions.begin() + made);
    }
    ASSERT_EQ(entryPositions, (std::vector<int64_t>{0, 4}));
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t c = 0; c < hd; ++c) {
        std::vector<std::pair<int64_t, int64_t>> candidates; // (token, channel)
        for (int64_t t = (i - 1) * ratio; overlap && i > 0 && t < i * ratio; ++t)
          candidates.push_back({t, c});
        for (int64_t t = i * ratio; t < (i + 1) * ratio; ++t)
          candidates.push_back({t, overlap ? c + hd : c});
        double max = -INFINITY, weights = 0, sum = 0;
        for (auto [t, ch] : candidates)
          max = std::max(max, double(score[t * width + ch] + ape[(t % ratio) * width + ch]));
        for (auto [t, ch] : candidates) {
          double w = std::exp(double(score[t * width + ch] + ape[(t % ratio) * width + ch]) - max);
          weights += w;
          sum += w * kv[t * width + ch];
        }
        double expected = sum / weights;
        ASSERT_NEAR(entries[i * hd + c], expected, 1e-5 * std::fabs(expected) + 1e-6)
            << "overlap " << overlap << " entry " << i << " channel " << c;
      }
  }
}

/// The batched GEMM (graph.grouped_linear: x [M, G·K] · w [G·N, K] → y [M, G·N], group g on
/// its column blocks) against double-precision products, with odd sizes.
TEST_F(NpuKernelTest, BatchedGemmMatchesGroupedProducts) {
  const int64_t G = 3, M = 5, N = 40, K = 48;
  GemmShape shape{16, N, K, mlir::Float32Type::get(context.get()),
                  mlir::Float32Type::get(context.get()), true, 0, G};
  auto compiled = compileGemm("910b", shape);
  ASSERT_TRUE(compiled);
  std::mt19937 rng(9);
  std::vector<float> x = randomMatrix(M, G * K, rng), w = randomMatrix(G * N, K, rng),
                     y(size_t(M * G * N), -1.0f);
  run(*compiled, bindParams(x, w, y), {M});
  for (int64_t g = 0; g < G; ++g)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double expected = 0, magnitude = 0;
        for (int64_t k = 0; k < K; ++k) {
          double product = double(x[m * G * K + g * K + k]) * w[(g * N + n) * K + k];
          expected += product;
          magnitude += std::fabs(product);
        }
        ASSERT_NEAR(y[m * G * N + g * N + n], expected, 1e-6 * magnitude)
            << "group " << g << " row " << m << " col " << n;
      }
}

/// The router kernel against the reference's route(): scores sqrt(softplus) (one logit past
/// 20), top-k of score + bias (two experts tie), or the hash table's ids; weights normalized
/// times route_scale. Experts must be equal, weights within 1e-6 relative.
TEST_F(NpuKernelTest, GateKernelMatchesTheReferenceRouting) {
  const int64_t T = 4, E = 128, K = 6, vocab = 10;
  const double routeScale = 1.5;
  std::mt19937 rng(17);
  std::vector<float> logits = randomMatrix(T, E, rng), bias = randomMatrix(1, E, rng);
  logits[5] = 23.0f;
  logits[E + 3] = logits[E + 9] = 4.0f; // a tie after the bias below
  bias[3] = bias[9] = 0.0f;
  std::vector<int64_t> table;
  for (int64_t i = 0; i < vocab * K; ++i)
    table.push_back((i * 37) % E);
  std::vector<int32_t> tokens = {3, 0, 9, 3};
  for (bool hashed : {false, true}) {
    auto compiled = compileVector([&](mlir::ModuleOp m) {
      buildMoeGateKernel(m, "gate", E, K, routeScale, !hashed, hashed ? 8 : 0,
                         hashed ? vocab * K * 8 : 0, 4, 2);
    });
    ASSERT_TRUE(compiled);
    std::vector<float> weights(size_t(T * K));
    std::vector<int32_t> experts(size_t(T * K));
    std::vector<GmBinding> params =
        hashed ? bindParams(logits, table, tokens, weights, experts) : bindParams(logits, bias, weights, experts);
    params.push_back(constantBinding(*compiled->kernel, params.size()));
    run(*compiled, params, {T, T});
    for (int64_t t = 0; t < T; ++t) {
      std::vector<float> scores(static_cast<size_t>(E));
      for (int64_t e = 0; e < E; ++e)
        scores[e] = ref::sqrtSoftplus(logits[t * E + e]);
      ref::Routing routing = ref::route(scores.data(), E, hashed ? nullptr : bias.data(),
                                        hashed ? &table[tokens[t] * K] : nullptr, K, routeScale);
      for (int64_t r = 0; r < K; ++r) {
        EXPECT_EQ(experts[t * K + r], routing.experts[r]) << "hashed " << hashed << " token " << t;
        EXPECT_NEAR(weights[t * K + r], routing.weights[r], 1e-6 * std::fabs(routing.weights[r]))
            << "hashed " << hashed << " token " << t << " rank " << r;
      }
    }
  }
}

/// The small data-movement kernels: the Hadamard rotation equals the reference's bit for bit
/// (widths 32 and 128), the embedding gathers rows by id, kv_append appends and returns every
/// row so far.
TEST_F(NpuKernelTest, HadamardEmbeddingAndKvAppendKernels) {
  std::mt19937 rng(23);
  for (int64_t width : {32, 128}) {
    ASSERT_TRUE(hadamardFitsVectorKernel(width));
    auto compiled = compileVector([&](mlir::ModuleOp m) { buildHadamardKernel(m, "h", width, 2); });
    ASSERT_TRUE(compiled);
    std::vector<float> x = randomMatrix(3, width, rng), y(x.size()), expected = x;
    for (int64_t r = 0; r < 3; ++r)
      ref::hadamard(&expected[r * width], width);
    std::vector<GmBinding> params = bindParams(x, y);
    params.push_back(constantBinding(*compiled->kernel, 2));
    params.push_back(constantBinding(*compiled->kernel, 3));
    run(*compiled, params, {3, 3});
    EXPECT_EQ(y, expected) << "width " << width;
  }
  const int64_t vocab = 10, width = 64;
  auto embedding = compileVector([&](mlir::ModuleOp m) { buildEmbeddingKernel(m, "e", vocab, width, 4, 2); });
  ASSERT_TRUE(embedding);
  std::vector<float> table = randomMatrix(vocab, width, rng), rows(size_t(3 * width));
  std::vector<int32_t> tokens = {7, 0, 7};
  run(*embedding, bindParams(table, tokens, rows), {3, 3});
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t c = 0; c < width; ++c)
      ASSERT_EQ(rows[t * width + c], table[tokens[t] * width + c]);
  const int64_t capacity = 8;
  auto append = compileVector([&](mlir::ModuleOp m) { buildKvAppendKernel(m, "a", width, capacity, 2); });
  ASSERT_TRUE(append);
  std::vector<float> cache = randomMatrix(capacity, width, rng), entries = randomMatrix(2, width, rng),
                     out(size_t(5 * width)), expectedCache = cache;
  std::copy(entries.begin(), entries.end(), expectedCache.begin() + 3 * width); // rows 3, 4
  run(*append, bindParams(entries, cache, out), {2, 2, 5});
  EXPECT_EQ(cache, expectedCache);
  EXPECT_EQ(out, std::vector<float>(expectedCache.begin(), expectedCache.begin() + 5 * width));
}

/// The device refuses a kernel library built for another launch ABI (an artifact compiled by
/// an older v4c) and a launch that omits a buffer, with messages naming the problem.
TEST_F(NpuKernelTest, DeviceRefusesOtherAbisAndMissingBuffers) {
  auto compiled = compileVector([&](mlir::ModuleOp m) { buildSwigluKernel(m, "swiglu", 64, 0.0, 2); });
  ASSERT_TRUE(compiled);
  const uint8_t *library = compiled->fbb.GetBufferPointer();
  size_t size = compiled->fbb.GetSize();
  std::string error;
  auto device = NpuDevice::open(arch, library, size, DeviceOptions(), error);
  ASSERT_TRUE(device) << error;
  std::vector<float> gate(64, 1.0f), y(64);
  void *buffers[V4C_NPU_LAUNCH_BUFFERS] = {gate.data(), nullptr, y.data()};
  const int64_t scalars[V4C_NPU_LAUNCH_SCALARS] = {1, 1, 0};
  device->launch(0, buffers, scalars);
  EXPECT_NE(device->error().find("without a buffer for 'up'"), std::string::npos) << device->error();

  flatbuffers::FlatBufferBuilder old;
  auto kernels = old.CreateVector(std::vector<flatbuffers::Offset<fb::Kernel>>{});
  fb::FinishKernelLibraryBuffer(old, fb::CreateKernelLibrary(old, old.CreateString(arch.description),
                                                             kernels, /*abi=*/1));
  EXPECT_FALSE(NpuDevice::open(arch, old.GetBufferPointer(), old.GetSize(), DeviceOptions(), error));
  EXPECT_NE(error.find("launch ABI 1"), std::string::npos) << error;
  EXPECT_NE(error.find("recompile"), std::string::npos) << error;
}

/// FixPipe's epilogue: ReLU, then int8 quantization (x · scale, nearest even, saturated),
/// against double-precision products (the f32 sums may round a value at a .5 boundary the
/// other way: at most 1 apart, and most equal).
TEST_F(NpuKernelTest, FixpipeReluAndInt8Quantization) {
  const int64_t M = 20, N = 40, K = 64;
  const float scale = 9.0f;
  GemmShape shape{M, N, K, mlir::Float32Type::get(context.get()),
                  mlir::IntegerType::get(context.get(), 8)};
  shape.relu = true;
  shape.outputScale = scale;
  auto compiled = compileGemm("910b", shape);
  ASSERT_TRUE(compiled);
  std::mt19937 rng(29);
  std::vector<float> x = randomMatrix(M, K, rng), w = randomMatrix(N, K, rng);
  std::vector<int8_t> y(size_t(M * N), 99);
  run(*compiled, bindParams(x, w, y));
  int64_t equal = 0, saturated = 0, zeros = 0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double sum = 0;
      for (int64_t k = 0; k < K; ++k)
        sum += double(x[m * K + k]) * w[n * K + k];
      double expected = std::clamp(std::nearbyint(std::max(sum, 0.0) * scale), -128.0, 127.0);
      ASSERT_NEAR(y[m * N + n], expected, 1.0) << m << "," << n;
      equal += y[m * N + n] == expected;
      saturated += expected == 127.0;
      zeros += expected == 0.0;
    }
  EXPECT_GT(equal, M * N * 95 / 100);
  EXPECT_GT(saturated, 0); // the range is exercised: clamped above, ReLU'd to zero
  EXPECT_GT(zeros, 0);
}

/// Kernel binaries written by hand, as a corrupt or crafted artifact could hold them: each is
/// refused with a message, none crashes or hangs.
TEST(NpuSimulatorTest, CraftedBinariesAreRefused) {
  Arch arch;
  std::string error;
  ASSERT_TRUE(builtinArch("910b", arch, error)) << error;
  using fb::Opcode;
  struct In {
    Opcode op;
    int16_t dst;
    std::vector<fb::Operand> args;
    fb::Pipe pipe = fb::Pipe::S, pipe2 = fb::Pipe::S;
    bool noArgs = false;
  };
  auto run = [&](const std::vector<In> &code) {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<fb::Instr>> instrs;
    for (const In &in : code) {
      using Operands = flatbuffers::Offset<flatbuffers::Vector<const fb::Operand *>>;
      Operands args = in.noArgs ? Operands() : fbb.CreateVectorOfStructs(in.args);
      instrs.push_back(fb::CreateInstr(fbb, in.op, in.dst, args, fb::Space::GM, fb::Space::GM,
                                       fb::DType::F32, fb::DType::F32, fb::DType::F32, in.pipe,
                                       in.pipe2));
    }
    auto kernel = fb::CreateKernel(fbb, fbb.CreateString("crafted"), fb::CoreType::AIV, 1, 2,
                                   fbb.CreateVector(std::vector<flatbuffers::Offset<fb::Param>>{}),
                                   0, 0, fbb.CreateVector(instrs));
    fbb.Finish(kernel);
    LaunchStats stats;
    error.clear();
    return simulate(arch, *flatbuffers::GetRoot<fb::Kernel>(fbb.GetBufferPointer()), {}, {},
                    SimOptions(), stats, error);
  };
  auto imm = [](int64_t v) { return fb::Operand(v, -1); };
  // A flag to "every pipe".
  EXPECT_FALSE(run({{Opcode::SET_FLAG, -1, {imm(0)}, fb::Pipe::V, fb::Pipe::ALL}}));
  EXPECT_NE(error.find("two different pipes"), std::string::npos) << error;
  // An instruction without its operand list.
  EXPECT_FALSE(run({{Opcode::BLOCK_IDX, 0, {}, fb::Pipe::S, fb::Pipe::S, /*noArgs=*/true}}));
  EXPECT_NE(error.find("takes 0 operands"), std::string::npos) << error;
  // The one division that overflows.
  EXPECT_FALSE(run({{Opcode::DIV, 0, {imm(std::numeric_limits<int64_t>::min()), imm(-1)}}}));
  EXPECT_NE(error.find("overflows"), std::string::npos) << error;
  // A loop that resets its own counter, and one that never ends: stopped by the budget.
  EXPECT_TRUE(run({{Opcode::LOOP, 0, {imm(0), imm(3), imm(1)}},
                   {Opcode::LI, 0, {imm(0)}},
                   {Opcode::END_LOOP, -1, {}}})) << error;
  EXPECT_FALSE(run({{Opcode::LOOP, 0, {imm(0), imm(int64_t(1) << 40), imm(1)}},
                    {Opcode::END_LOOP, -1, {}}}));
  EXPECT_NE(error.find("runaway loop"), std::string::npos) << error;
  // A register past the kernel's count.
  EXPECT_FALSE(run({{Opcode::ADD, 0, {fb::Operand(0, 7), imm(1)}}}));
  EXPECT_NE(error.find("register r7 out of range"), std::string::npos) << error;
}

TEST(NpuArchTest, DescriptionsLoadAndBadOnesAreNamed) {
  Arch arch;
  std::string error;
  for (const std::string &name : builtinArchNames())
    EXPECT_TRUE(builtinArch(name, arch, error)) << name << ": " << error;
  EXPECT_EQ(builtinArchNames().size(), 2u);
  EXPECT_FALSE(builtinArch("910x", arch, error));
  EXPECT_NE(error.find("unknown NPU architecture '910x'"), std::string::npos) << error;
  EXPECT_FALSE(parseArch("{ name: \"x\", clock_ghz: ", "bad.json", arch, error));
  EXPECT_NE(error.find("bad.json"), std::string::npos) << error;
  EXPECT_FALSE(parseArch("{ name: \"x\", colck_ghz: 1.0 }", "typo.json", arch, error));
  EXPECT_NE(error.find("colck_ghz"), std::string::npos) << error;
  EXPECT_FALSE(parseArch("{ name: \"x\", clock_ghz: 1.0 }", "partial.json", arch, error));
  EXPECT_NE(error.find("partial.json: 'cube_cores'"), std::string::npos) << error;
}

} // namespace
} // namespace v4c::npu
