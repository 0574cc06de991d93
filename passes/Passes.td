// The graph-level passes (ARCHITECTURE.md: passes/, one .cpp per pass). Deciding passes record
// their decisions as attributes; applying passes only read them (decision 2).
#ifndef V4C_PASSES
#define V4C_PASSES

include "mlir/Pass/PassBase.td"

def PrecisionPolicy : Pass<"v4c-precision-policy", "::mlir::ModuleOp"> {
  let summary = "Decide each op's precision for a target (records graph.precision)";
  let description = [{
    Follows DeepSeek's contract (ARCHITECTURE.md decision 4, MODEL.md §3, §6.7): weights keep
    their stored type (embedding, head, norms, router, mHC and compressor in BF16/F32; linears
    FP8; experts FP4); in `faithful` mode the input of every FP8/FP4 GEMM is quantized to FP8
    e4m3 per token in blocks of 128 (except wo_a, which DeepSeek runs as a plain matmul) and the
    QAT round trips run; `dequant` mode quantizes nothing and skips the round trips.
    How each GEMM executes depends on the target:
      cpu       emulated: weights decoded in registers, fp32 products (runtime/kernels)
      npu-910b  vector_dequant: no FP8 cube; the vector unit decodes FP8/FP4 weights to bf16
                (exact: every E4M3 and E2M1 value is a bf16) and the bf16 cube multiplies with
                fp32 accumulation. FP8-quantized activations are exact in bf16 too, so this
                reproduces DeepSeek's numerics, which int8 W8A8 (a re-quantization) would not;
                HBM traffic is the same FP8/FP4 bytes either way.
      npu-950   native: the FP8 and MXFP4 (E2M1 with an E8M0 scale per 32) cube.
    Decisions already in the IR are kept (a user's edits) unless `overwrite` is set; the
    module records the policy in `v4c.precision_policy`.
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "cpu, npu-910b or npu-950">,
    Option<"mode", "mode", "std::string", /*default=*/"\"faithful\"",
           "faithful (DeepSeek's quantization steps) or dequant (none)">,
    Option<"overwrite", "overwrite", "bool", /*default=*/"false",
           "Replace decisions already present">
  ];
  let dependentDialects = ["::v4c::graph::GraphDialect"];
}

def LowerPrecision : Pass<"v4c-lower-precision", "::mlir::ModuleOp"> {
  let summary = "Apply the precision decisions: activation quantization, block-scaled GEMMs";
  let description = [{
    Reads graph.precision (run v4c-precision-policy first):
      graph.linear whose activations are f8E4M3FN → graph.quantize (codes + scales) and
        graph.block_scaled_matmul with explicit scale operands, keeping the decision;
      graph.qat whose activations are f32 (skipped) → its input.
    Experts and grouped linears keep their decision for the code generator.
  }];
  let dependentDialects = ["::v4c::graph::GraphDialect"];
}

#endif // V4C_PASSES
