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

def PlanFusion : Pass<"v4c-plan-fusion", "::mlir::ModuleOp"> {
  let summary = "Group ops into kernels (records v4c.fusion_group and v4c.fusion_kind)";
  let description = [{
    Builds each function's dataflow graph with Boost.Graph and grows groups from producer to
    consumers by a rule table, so that intermediates never leave the kernel:
      quantize → block_scaled_matmul            activation quantization as the GEMM prologue
      rms_norm → quantize | linear | matmul    norm_gemm (one norm for every GEMM it feeds)
      swiglu → quantize | linear | matmul      swiglu_gemm (the shared expert's down proj.)
      rms_norm → rope → qat                     norm_rope (q path), norm_rope_qat (kv path)
    A producer joins only when every user of its result joins too, and only if the group stays
    convex (no path leaves it and comes back: contracting it would make a cycle). The ops that
    already are one kernel (mHC pre/post/head, attention with its softmax and sink, compressor,
    indexer, MoE gate, experts) are groups of their own; every other op is a group of one.
    Groups already recorded (a user's edits) are kept unless `overwrite` is set.
  }];
  let options = [
    Option<"overwrite", "overwrite", "bool", /*default=*/"false", "Re-plan functions that already have groups">
  ];
  let dependentDialects = ["::v4c::graph::GraphDialect"];
}

def ApplyFusion : Pass<"v4c-apply-fusion", "::mlir::ModuleOp"> {
  let summary = "Form graph.fused regions from the recorded fusion groups";
  let description = [{
    Checks the recorded groups (one kind per group, convex, no ops with side effects in a group
    of several), orders each function so that every group is contiguous (a topological order of
    the groups' quotient graph that stays close to the original order), and wraps each group
    of two or more ops in a graph.fused op whose inputs are the values it reads from outside
    (weights are read inside) and whose results are those used after it.
  }];
  let dependentDialects = ["::v4c::graph::GraphDialect"];
}

#endif // V4C_PASSES
