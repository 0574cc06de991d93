// The NPU target's passes, for v4c-opt and the compile pipeline:
//   v4c-npu-gemm-kernel   a GEMM kernel for a given shape (the pass lab's way to get one)
//   v4c-npu-insert-sync   set/wait flags between pipes (deciding and applying)
//   v4c-npu-plan-buffers  on-chip buffer offsets (npu.alloc offset, npu.local_bytes)
#include "codegen/npu/NpuTarget.h"

#include "ir/Npu/IR/NpuOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace v4c::npu {
namespace {

template <typename Derived>
struct KernelPass : PassWrapper<Derived, OperationPass<ModuleOp>> {
  void forEachKernel(function_ref<LogicalResult(func::FuncOp)> fn) {
    for (auto func : this->getOperation().template getOps<func::FuncOp>())
      if (func->hasAttr(kKernelAttr) && failed(fn(func)))
        return this->signalPassFailure();
  }
};

struct InsertSyncPass : KernelPass<InsertSyncPass> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(InsertSyncPass)
  StringRef getArgument() const final { return "v4c-npu-insert-sync"; }
  StringRef getDescription() const final {
    return "Insert set_flag/wait_flag pairs ordering conflicting buffer accesses across pipes";
  }
  void runOnOperation() final { forEachKernel(insertSync); }
};

struct PlanBuffersPass : KernelPass<PlanBuffersPass> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(PlanBuffersPass)
  StringRef getArgument() const final { return "v4c-npu-plan-buffers"; }
  StringRef getDescription() const final {
    return "Assign on-chip buffer offsets and check each space's capacity";
  }
  void runOnOperation() final { forEachKernel(planBuffers); }
};

struct GemmKernelPass : PassWrapper<GemmKernelPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(GemmKernelPass)
  GemmKernelPass() = default;
  GemmKernelPass(const GemmKernelPass &other) : PassWrapper(other) {}
  StringRef getArgument() const final { return "v4c-npu-gemm-kernel"; }
  StringRef getDescription() const final {
    return "Add a cube GEMM kernel y[m,n] = x[m,k]·w[n,k]ᵀ for the module's NPU (or `arch`)";
  }
  void getDependentDialects(DialectRegistry &registry) const final {
    registry.insert<NpuDialect, arith::ArithDialect, scf::SCFDialect, func::FuncDialect>();
  }
  Option<std::string> arch{*this, "arch", llvm::cl::desc("910b, 950 or a description file"),
                           llvm::cl::init("")};
  Option<int64_t> m{*this, "m", llvm::cl::init(16)}, n{*this, "n", llvm::cl::init(64)},
      k{*this, "k", llvm::cl::init(64)};
  Option<std::string> type{*this, "type", llvm::cl::desc("f32, bf16 or f16"), llvm::cl::init("f32")};
  ListOption<int64_t> tiles{*this, "tiles",
                            llvm::cl::desc("mt,nt,kt1,kt,block_dim (default: chosen)")};

  void runOnOperation() final {
    ModuleOp module = getOperation();
    Arch target;
    std::string error;
    if (!arch.empty() ? !loadArch(arch, target, error) : !moduleArch(module, target, error)) {
      module.emitError(error);
      return signalPassFailure();
    }
    if (!arch.empty())
      setModuleArch(module, target);
    Builder b(module.getContext());
    Type element = type == "bf16" ? Type(b.getBF16Type()) : type == "f16" ? Type(b.getF16Type()) : Type(b.getF32Type());
    GemmShape shape{m, n, k, element, b.getF32Type()};
    if (!tiles.empty() && tiles.size() != 5) {
      module.emitError("tiles takes mt,nt,kt1,kt,block_dim");
      return signalPassFailure();
    }
    GemmTiling tiling = tiles.empty()
                            ? chooseGemmTiling(target, shape)
                            : GemmTiling{tiles[0], tiles[1], tiles[2], tiles[3], tiles[4]};
    if (std::string problem = checkGemmTiling(target, shape, tiling); !problem.empty()) {
      module.emitError(problem);
      return signalPassFailure();
    }
    buildGemmKernel(module, "gemm", shape, tiling);
  }
};

} // namespace

void registerNpuPasses() {
  PassRegistration<GemmKernelPass>();
  PassRegistration<InsertSyncPass>();
  PassRegistration<PlanBuffersPass>();
}

} // namespace v4c::npu
