// The graph dialect: DeepSeek-V4 building blocks as tensor ops (MODEL.md §6.4).
#ifndef V4C_GRAPH_BASE
#define V4C_GRAPH_BASE

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Graph_Dialect : Dialect {
  let name = "graph";
  let cppNamespace = "::v4c::graph";
  let summary = "Target-independent DeepSeek-V4 model graph";
  let description = [{
    Ops on value-semantic tensors for each V4 building block: mHC residual mixing, RMSNorm,
    RoPE, block-scaled linears, the KV compressor, the indexer, sparse attention with a sink,
    MoE routing and experts. Weights live outside the IR: `graph.param` declares one by name and
    type and `graph.weight` reads it. Decode state (window ring, compressed KV, compressor
    pending blocks) is declared by `graph.state` and read/updated by the ops that own it.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1; // graph.precision on the ops that take one
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

class Graph_Op<string mnemonic, list<Trait> traits = []> :
    Op<Graph_Dialect, mnemonic, traits>;

class Graph_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Graph_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

def Graph_RopeAttr : Graph_Attr<"Rope", "rope"> {
  let summary = "Rotary embedding frequencies: interleaved pairs on the last `dim` channels";
  let description = [{
    Frequencies θ^(−2i/dim). With `yarn_factor` > 1 and `yarn_original` > 0, YaRN blends
    interpolated and extrapolated frequencies between the correction dims of `yarn_beta`
    (fast, slow). V4 applies no mscale. Example:
    `#graph.rope<dim = 64, theta = 1.6e+05, yarn_factor = 16.0, yarn_original = 65536, yarn_beta = [32.0, 1.0]>`
  }];
  // Doubles are kept as APFloat parameters: attribute storage needs hashable fields.
  let parameters = (ins "int64_t":$dim, APFloatParameter<"base">:$theta,
                        APFloatParameter<"YaRN factor">:$yarnFactor, "int64_t":$yarnOriginal,
                        APFloatParameter<"beta fast">:$betaFast,
                        APFloatParameter<"beta slow">:$betaSlow);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    double theta() const { return getTheta().convertToDouble(); }
    double yarnFactor() const { return getYarnFactor().convertToDouble(); }
    double betaFast() const { return getBetaFast().convertToDouble(); }
    double betaSlow() const { return getBetaSlow().convertToDouble(); }
    bool hasYarn() const { return yarnFactor() > 1.0 && getYarnOriginal() > 0; }
    static RopeAttr get(::mlir::MLIRContext *context, int64_t dim, double theta,
                        double yarnFactor = 1.0, int64_t yarnOriginal = 0,
                        double betaFast = 32.0, double betaSlow = 1.0);
  }];
}

def Graph_StateKind : I32EnumAttr<"StateKind", "decode state carried between calls", [
    I32EnumAttrCase<"window", 0>,          // ring of the last `window` raw KV entries [W, D]
    I32EnumAttrCase<"compressed_kv", 1>,   // every compressed entry so far [?, D]
    I32EnumAttrCase<"compressor_pending", 2> // kv + score rows of the incomplete block(s)
  ]> {
  let cppNamespace = "::v4c::graph";
}

def Graph_GemmKind : I32EnumAttr<"GemmKind", "how a low-precision GEMM executes", [
    I32EnumAttrCase<"emulated", 0>,       // CPU: weights decoded in registers, fp32 products
    I32EnumAttrCase<"vector_dequant", 1>, // 910B-like: vector unit decodes to bf16, bf16 cube
    I32EnumAttrCase<"native", 2>          // 950-like: FP8 / MXFP4 cube
  ]> {
  let cppNamespace = "::v4c::graph";
  let genSpecializedAttr = 0;
}

def Graph_PrecisionAttr : Graph_Attr<"Precision", "precision"> {
  let summary = "One op's precision decision, recorded by v4c-precision-policy";
  let description = [{
    Attached as the discardable attribute `graph.precision` to every op with a precision
    choice (linears, experts, QAT round trips); later passes and code generators only read it,
    so a user may edit it in the IR and re-run the rest of the pipeline.
      weights      element type the GEMM reads its weights in (the stored type)
      activations  what the op's input is quantized to before the GEMM: f8E4M3FN in blocks of
                   `act_block` along the last dim (DeepSeek's act_quant), or f32 (none). For
                   graph.qat: its format (the round trip runs) or f32 (it is the identity).
      gemm         how the GEMM executes on the target (GemmKind)
    Example: `#graph.precision<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = emulated>`
  }];
  let parameters = (ins "::mlir::Type":$weights, "::mlir::Type":$activations,
                        "int64_t":$act_block, EnumParameter<Graph_GemmKind>:$gemm);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The discardable attribute name ops carry it under.
    static constexpr ::llvm::StringLiteral kName = "graph.precision";
    bool quantizesActivations() const { return !getActivations().isF32(); }
  }];
}

#endif // V4C_GRAPH_BASE
