// v4c-opt: the pass lab. mlir-opt with every v4c dialect and pass registered: parse, verify,
// run a pipeline, print (text or --emit-bytecode).
#include "codegen/cpu/CpuPipeline.h"
#include "codegen/cpu/Passes.h"
#include "codegen/npu/NpuTarget.h"
#include "ir/InitAllDialects.h"
#include "passes/Passes.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/InitAllPasses.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  v4c::cpu::registerCpuDependencies(registry); // project dialects + what lowering produces
  mlir::registerAllPasses();                    // upstream passes, for the pass lab
  v4c::registerAllV4CPasses();
  v4c::cpu::registerCpuPasses();
  v4c::npu::registerNpuPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "v4c-opt: parse, verify and transform v4c IR (graph dialect and friends)\n",
      registry));
}
