// v4c-opt: the pass lab. mlir-opt with every v4c dialect and pass registered: parse, verify,
// run a pipeline, print (text or --emit-bytecode).
#include "ir/InitAllDialects.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  v4c::registerAllDialects(registry);
  mlir::registerTransformsPasses(); // canonicalize, cse, symbol-dce, inline, ...
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "v4c-opt: parse, verify and transform v4c IR (graph dialect and friends)\n",
      registry));
}
