#include "codegen/cpu/Passes.h"

#include "codegen/cpu/LowerToLoops.h"
#include "codegen/cpu/MemoryPlan.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace v4c::cpu {
namespace {

struct PlanMemoryPass : PassWrapper<PlanMemoryPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(PlanMemoryPass)
  PlanMemoryPass() = default;
  PlanMemoryPass(const PlanMemoryPass &other) : PassWrapper(other) {}
  StringRef getArgument() const final { return "v4c-plan-memory"; }
  StringRef getDescription() const final {
    return "Assign weight-segment and state-arena offsets (v4c.offset attributes)";
  }
  Option<int64_t> maxSeqLen{*this, "max-seq-len", llvm::cl::desc("Context the KV caches hold"),
                            llvm::cl::init(4096)};
  void runOnOperation() final {
    if (failed(planMemory(getOperation(), maxSeqLen)))
      signalPassFailure();
  }
};

struct LowerGraphToLoopsPass : PassWrapper<LowerGraphToLoopsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(LowerGraphToLoopsPass)
  LowerGraphToLoopsPass() = default;
  LowerGraphToLoopsPass(const LowerGraphToLoopsPass &other) : PassWrapper(other) {}
  StringRef getArgument() const final { return "v4c-lower-graph-to-loops"; }
  StringRef getDescription() const final {
    return "Lower graph ops to scf loops and GEMM microkernel calls, with the runtime ABI";
  }
  void getDependentDialects(DialectRegistry &registry) const final {
    registry.insert<bufferization::BufferizationDialect, LLVM::LLVMDialect, math::MathDialect,
                    memref::MemRefDialect, scf::SCFDialect>();
  }
  void runOnOperation() final {
    if (!getOperation()->hasAttr("v4c.weights_bytes")) {
      getOperation().emitError("run v4c-plan-memory first");
      return signalPassFailure();
    }
    if (failed(lowerGraphToLoops(getOperation())))
      signalPassFailure();
  }
};

} // namespace

void registerCpuPasses() {
  PassRegistration<PlanMemoryPass>();
  PassRegistration<LowerGraphToLoopsPass>();
}

} // namespace v4c::cpu
