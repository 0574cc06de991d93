// The graph-level pipeline of `v4c compile`, and the registration of every pass for v4c-opt.
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace v4c {

void buildGraphPipeline(mlir::OpPassManager &pm, const GraphPipelineOptions &options) {
  // 1. decide each op's precision for the target (graph.precision attributes)
  pm.addPass(createPrecisionPolicy({options.target, options.mode, /*overwrite=*/false}));
  // 2. apply the decisions: activation quantization, block-scaled matmuls, skipped QAT removed
  pm.addPass(createLowerPrecision());
  // 3. tidy what the rewrites left
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  // 4. decide the kernels (v4c.fusion_group / v4c.fusion_kind attributes)
  pm.addPass(createPlanFusion());
  // 5. form them (graph.fused regions)
  pm.addPass(createApplyFusion());
}

namespace {
struct GraphPipelineCliOptions : mlir::PassPipelineOptions<GraphPipelineCliOptions> {
  Option<std::string> target{*this, "target", llvm::cl::desc("cpu, npu-910b or npu-950"),
                             llvm::cl::init("cpu")};
  Option<std::string> mode{*this, "mode", llvm::cl::desc("faithful or dequant"),
                           llvm::cl::init("faithful")};
};
} // namespace

void registerAllV4CPasses() {
  registerV4CPasses();
  mlir::PassPipelineRegistration<GraphPipelineCliOptions>(
      "v4c-graph-pipeline", "The graph-level pipeline of `v4c compile` (passes/Pipelines.cpp)",
      [](mlir::OpPassManager &pm, const GraphPipelineCliOptions &cli) {
        buildGraphPipeline(pm, {cli.target, cli.mode});
      });
}

} // namespace v4c
