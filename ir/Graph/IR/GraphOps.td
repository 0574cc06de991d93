// Ops of the graph dialect. Shapes: T = tokens of this call (dynamic), D = hidden size,
// n = hc_mult streams, H = heads, Dh = head_dim. Every op verifies shapes and element types.
#ifndef V4C_GRAPH_OPS
#define V4C_GRAPH_OPS

include "ir/Graph/IR/GraphBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

def GF32Tensor : RankedTensorOf<[F32]>;
def GIntTensor : RankedTensorOf<[I32, I64]>;
/// Element types a linear weight may have: plain, or block-scaled FP8 / FP4.
def GWeightTensor : RankedTensorOf<[BF16, F32, F8E4M3FN, F4E2M1FN]>;
/// Dequantization multipliers of a block-scaled weight: power-of-two E8M0 or F32.
def GScaleTensor : RankedTensorOf<[F8E8M0FNU, F32]>;
def GAnyFloatTensor : RankedTensorOf<[BF16, F16, F32, F8E4M3FN, F8E5M2, F8E8M0FNU, F4E2M1FN]>;

//===----------------------------------------------------------------------===//
// Weights and state: module-level declarations and their readers
//===----------------------------------------------------------------------===//

def Graph_ParamOp : Graph_Op<"param", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "Declares a model weight by name and logical type; the bytes stay outside";
  let description = [{
    `source` names the checkpoint tensor(s) when they differ from the symbol: routed experts
    are one stacked parameter `[E, ...]` whose source pattern has `{}` for the expert index.
    `stored_dtype` records the file's dtype when it differs from the logical element type
    (FP4 packed two per I8 byte).
    ```
    graph.param @"layers.3.ffn.experts.w1.weight" : tensor<8x128x256xf4E2M1FN>
        {source = "layers.3.ffn.experts.{}.w1.weight", stored_dtype = "I8"}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttrOf<AnyRankedTensor>:$type,
                       OptionalAttr<StrAttr>:$source, OptionalAttr<StrAttr>:$stored_dtype);
  let assemblyFormat = "$sym_name `:` $type attr-dict";
  let hasVerifier = 1;
}

def Graph_StateOp : Graph_Op<"state", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "Declares decode state carried between calls (KV window, compressed KV, ...)";
  let description = [{
    A dynamic leading dimension grows with the context and is sized by the runtime from the
    maximum sequence length.
    ```
    graph.state @"layers.1.attn.window" window : tensor<32x128xf32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, Graph_StateKind:$kind,
                       TypeAttrOf<GF32Tensor>:$type);
  let assemblyFormat = "$sym_name $kind `:` $type attr-dict";
  let hasVerifier = 1;
}

def Graph_WeightOp : Graph_Op<"weight", [Pure,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Reads a declared parameter";
  let arguments = (ins FlatSymbolRefAttr:$param);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$param attr-dict `:` type($result)";
}

def Graph_PositionsOp : Graph_Op<"positions", [Pure]> {
  let summary = "Absolute positions start, start+1, ... of this call's tokens";
  let arguments = (ins GIntTensor:$tokens, Index:$start);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = "$tokens `,` $start attr-dict `:` type($tokens) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Embedding, norms, rotary embedding
//===----------------------------------------------------------------------===//

def Graph_EmbeddingOp : Graph_Op<"embedding", [Pure]> {
  let summary = "Row lookup: table[V, D], tokens[T] -> [T, D] (f32)";
  let arguments = (ins RankedTensorOf<[BF16, F32]>:$table, GIntTensor:$tokens);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = "$table `,` $tokens attr-dict `:` type($table) `,` type($tokens) `->` type($result)";
  let hasVerifier = 1;
}

def Graph_RmsNormOp : Graph_Op<"rms_norm", [Pure]> {
  let summary = "x / sqrt(mean(x^2) + eps) over the last dim, times an optional weight";
  let description = [{ Without a weight this is V4's per-head weightless q normalization. }];
  let arguments = (ins GF32Tensor:$input, Optional<RankedTensorOf<[BF16, F32]>>:$weight,
                       F64Attr:$eps);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = "$input (`,` $weight^)? attr-dict `:` type($input) (`,` type($weight)^)? `->` type($result)";
  let hasVerifier = 1;
}

def Graph_RopeOp : Graph_Op<"rope", [Pure]> {
  let summary = "Rotary embedding on the last `rope.dim` channels, interleaved pairs";
  let description = [{
    Row t of the leading dim is at absolute position `positions[t]`; all other dims (heads)
    share it. `inverse` applies the conjugate rotation (V4 undoes RoPE on attention outputs).
  }];
  let arguments = (ins GF32Tensor:$input, RankedTensorOf<[I64]>:$positions,
                       Graph_RopeAttr:$rope, UnitAttr:$inverse);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = "$input `,` $positions attr-dict `:` type($input) `,` type($positions) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// mHC: manifold-constrained hyper-connections
//===----------------------------------------------------------------------===//

def Graph_HcExpandOp : Graph_Op<"hc_expand", [Pure]> {
  let summary = "Copies [T, D] into n residual streams [T, n, D]";
  let arguments = (ins GF32Tensor:$input);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Graph_HcPreOp : Graph_Op<"hc_pre", [Pure]> {
  let summary = "mHC pre-mix: sublayer input y, post weights and Sinkhorn mixing matrix";
  let description = [{
    From streams X [T, n, D] with fn [(2+n)n, nD], base [(2+n)n], scale [3]:
    m = rms(vec X)·(fn vec X); pre = σ(α₀m_pre + b) + hc_eps; post = 2σ(α₁m_post + b);
    comb = Sinkhorn(α₂m_res + b) over `sinkhorn_iters`; y = Σ_j pre_j X_j (MODEL.md §6.4).
  }];
  let arguments = (ins GF32Tensor:$streams, GF32Tensor:$fn, GF32Tensor:$base, GF32Tensor:$scale,
                       I64Attr:$sinkhorn_iters, F64Attr:$hc_eps, F64Attr:$norm_eps);
  let results = (outs GF32Tensor:$y, GF32Tensor:$post, GF32Tensor:$comb);
  let assemblyFormat = [{
    $streams `,` $fn `,` $base `,` $scale attr-dict `:`
    type($streams) `,` type($fn) `,` type($base) `,` type($scale) `->` type($y) `,` type($post) `,` type($comb)
  }];
  let hasVerifier = 1;
}

def Graph_HcPostOp : Graph_Op<"hc_post", [Pure]> {
  let summary = "mHC post-mix: X'_k = post_k · f + Σ_j comb[j, k] · X_j";
  let arguments = (ins GF32Tensor:$sublayer_out, GF32Tensor:$streams, GF32Tensor:$post,
                       GF32Tensor:$comb);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = [{
    $sublayer_out `,` $streams `,` $post `,` $comb attr-dict `:`
    type($sublayer_out) `,` type($streams) `,` type($post) `,` type($comb) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Graph_HcHeadOp : Graph_Op<"hc_head", [Pure]> {
  let summary = "mHC head: y = Σ_j (σ(α·(rms·fn vec X)_j + b_j) + hc_eps) X_j, no Sinkhorn";
  let arguments = (ins GF32Tensor:$streams, GF32Tensor:$fn, GF32Tensor:$base, GF32Tensor:$scale,
                       F64Attr:$hc_eps, F64Attr:$norm_eps);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = [{
    $streams `,` $fn `,` $base `,` $scale attr-dict `:`
    type($streams) `,` type($fn) `,` type($base) `,` type($scale) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear layers and quantization round-trips
//===----------------------------------------------------------------------===//

def Graph_LinearOp : Graph_Op<"linear", [Pure]> {
  let summary = "y = x Wᵀ with a plain or block-scaled weight [N, K] (f32 result)";
  let description = [{
    Weight element type decides the scale contract (MODEL.md §3, §6.6):
    - bf16 / f32: no scale;
    - f8E4M3FN: scale [⌈N/bN⌉, ⌈K/bK⌉] (f8E8M0FNU or f32) with `block` = [bN, bK];
    - f4E2M1FN: scale [N, K/32] f8E8M0FNU (one per 32 along K).
    Activation quantization is not part of this op; the precision passes insert it.
  }];
  let arguments = (ins GF32Tensor:$input, GWeightTensor:$weight, Optional<GScaleTensor>:$scale,
                       OptionalAttr<DenseI64ArrayAttr>:$block);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $scale^)? attr-dict `:` type($input) `,` type($weight)
    (`,` type($scale)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

def Graph_GroupedLinearOp : Graph_Op<"grouped_linear", [Pure]> {
  let summary = "Grouped low-rank projection: input [T, G·K] split in G groups, weight [G·R, K]";
  let description = [{
    Group g computes W[gR:(g+1)R] · x[gK:(g+1)K]; results concatenate to [T, G·R]. This is
    V4's `wo_a`, which DeepSeek runs as a plain matmul (MODEL.md §6.7).
  }];
  let arguments = (ins GF32Tensor:$input, GWeightTensor:$weight, Optional<GScaleTensor>:$scale,
                       I64Attr:$groups, OptionalAttr<DenseI64ArrayAttr>:$block);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $scale^)? attr-dict `:` type($input) `,` type($weight)
    (`,` type($scale)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

def Graph_QatOp : Graph_Op<"qat", [Pure]> {
  let summary = "Quantize-dequantize round trip through FP8 e4m3 or FP4 e2m1 (ue8m0 scales)";
  let description = [{
    Mirrors DeepSeek's QAT: the first `dims` channels of the last axis are quantized in groups
    of `group_size` with a power-of-two scale per group, then dequantized. KV: f8E4M3FN,
    groups of 64, all but the rope dims. Indexer: f4E2M1FN, groups of 32, all dims.
  }];
  let arguments = (ins GF32Tensor:$input, TypeAttr:$format, I64Attr:$group_size, I64Attr:$dims);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Graph_QuantizeOp : Graph_Op<"quantize", [Pure]> {
  let summary = "Activation quantization: FP8 e4m3 codes and a power-of-two scale per block";
  let description = [{
    DeepSeek's act_quant (MODEL.md §3.3) along the last dim, per `block` channels:
    s = 2^⌈log2(max(amax, 1e-4) / 448)⌉, codes = e4m3(clamp(x / s, ±448)) rounded to nearest
    even. `codes · s` is what graph.qat with the same format and group returns. Inserted by
    v4c-lower-precision before the GEMMs the precision policy quantizes.
  }];
  let arguments = (ins GF32Tensor:$input, I64Attr:$block);
  let results = (outs RankedTensorOf<[F8E4M3FN]>:$codes, GF32Tensor:$scales);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` type($codes) `,` type($scales)
  }];
  let hasVerifier = 1;
}

def Graph_BlockScaledMatmulOp : Graph_Op<"block_scaled_matmul", [Pure]> {
  let summary = "y = (codes · scales) Wᵀ with explicit scale operands on both sides";
  let description = [{
    Like XLA's block_scaled_dot: the left operand is FP8 codes [..., K] with one f32 scale per
    `lhs_block` channels ([..., ⌈K/lhs_block⌉]); the right is a weight [N, K] with its scale as
    in graph.linear (FP8: 128x128 blocks, FP4: one per 32 along K). Products accumulate in fp32
    per 128-wide K block, each block sum scaled and added in fp32 (DeepSeek's promotion).
  }];
  let arguments = (ins RankedTensorOf<[F8E4M3FN]>:$lhs, GF32Tensor:$lhs_scale,
                       GWeightTensor:$rhs, Optional<GScaleTensor>:$rhs_scale, I64Attr:$lhs_block,
                       OptionalAttr<DenseI64ArrayAttr>:$block);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = [{
    $lhs `,` $lhs_scale `,` $rhs (`,` $rhs_scale^)? attr-dict `:` type($lhs) `,` type($lhs_scale)
    `,` type($rhs) (`,` type($rhs_scale)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

def Graph_HadamardOp : Graph_Op<"hadamard", [Pure]> {
  let summary = "Orthonormal Walsh-Hadamard transform of the last dim (power of two)";
  let arguments = (ins GF32Tensor:$input);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Graph_SwigluOp : Graph_Op<"swiglu", [Pure]> {
  let summary = "silu(min(g, limit)) ⊙ clamp(a, -limit, limit); limit 0 disables the clamp";
  let arguments = (ins GF32Tensor:$gate, GF32Tensor:$up, F64Attr:$limit);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($gate) `,` type($up) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Attention: compressor, compressed KV cache, indexer, sparse attention
//===----------------------------------------------------------------------===//

def Graph_CompressorOp : Graph_Op<"compressor", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "Softmax-gated pooling of every `ratio` tokens into one KV entry";
  let description = [{
    C = x W_kvᵀ, Z = x W_gateᵀ + ape[pos mod ratio]; each complete block i becomes
    Σ_j softmax_j(Z_j) ⊙ C_j per channel. `overlap` (CSA, ratio 4) pools over block i's tokens
    on channels D..2D-1 and block i-1's on channels 0..D-1. Rows of incomplete blocks are kept
    in the `pending` state for later calls. Results: the entries completed by this call
    [?, D] and their positions (block start i·ratio).
  }];
  let arguments = (ins GF32Tensor:$input, RankedTensorOf<[I64]>:$positions,
                       RankedTensorOf<[BF16, F32]>:$wkv, RankedTensorOf<[BF16, F32]>:$wgate,
                       GF32Tensor:$ape, FlatSymbolRefAttr:$pending, I64Attr:$ratio,
                       UnitAttr:$overlap);
  let results = (outs GF32Tensor:$entries, RankedTensorOf<[I64]>:$entry_positions);
  let assemblyFormat = [{
    $pending `(` $input `,` $positions `,` $wkv `,` $wgate `,` $ape `)` attr-dict `:`
    type($input) `,` type($positions) `,` type($wkv) `,` type($wgate) `,` type($ape)
    `->` type($entries) `,` type($entry_positions)
  }];
  let hasVerifier = 1;
}

def Graph_KvAppendOp : Graph_Op<"kv_append", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "Appends entries to a compressed-KV state; returns every entry so far";
  let description = [{
    After the append the cache holds `total` entries, the new ones last (V4: total =
    (start + T) / ratio, a function of the position, so the state needs no counter).
  }];
  let arguments = (ins GF32Tensor:$entries, Index:$total, FlatSymbolRefAttr:$cache);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = [{
    $cache `(` $entries `)` `total` $total attr-dict `:` type($entries) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Graph_IndexTopkOp : Graph_Op<"index_topk", [Pure]> {
  let summary = "Lightning indexer: top-k compressed entries per query";
  let description = [{
    I[t, i] = Σ_j weights[t, j] · scale · ReLU(q[t, j] · keys[i]) over entries with
    (i+1)·ratio ≤ positions[t]+1; the top min(k, #eligible) indices, larger score first and
    lower index first on ties, padded with -1.
  }];
  let arguments = (ins GF32Tensor:$queries, GF32Tensor:$weights, GF32Tensor:$keys,
                       RankedTensorOf<[I64]>:$positions, I64Attr:$topk, I64Attr:$ratio,
                       F64Attr:$scale);
  let results = (outs RankedTensorOf<[I32]>:$result);
  let assemblyFormat = [{
    $queries `,` $weights `,` $keys `,` $positions attr-dict `:`
    type($queries) `,` type($weights) `,` type($keys) `,` type($positions) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Graph_SparseAttentionOp : Graph_Op<"sparse_attention", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>, AttrSizedOperandSegments]> {
  let summary = "Single-KV-head attention over window + compressed candidates, with a sink";
  let description = [{
    Query t attends to the raw KV of positions max(0, p−W+1)..p (earlier calls' entries come
    from the `window` ring state, which this op updates) plus, when `compressed` is given,
    either every entry with (i+1)·ratio ≤ p+1 (no `indices`: HCA) or the entries named in
    `indices` (CSA; -1 = none). Logits q·kv·scale; the per-head sink adds exp(sink − max) to
    the softmax denominator; the output is Σ p·kv (key = value).
  }];
  let arguments = (ins GF32Tensor:$queries, GF32Tensor:$kv, RankedTensorOf<[I64]>:$positions,
                       GF32Tensor:$sink, Optional<GF32Tensor>:$compressed,
                       Optional<RankedTensorOf<[I32]>>:$indices, FlatSymbolRefAttr:$window_state,
                       I64Attr:$window, I64Attr:$ratio, F64Attr:$scale);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = [{
    $window_state `(` $queries `,` $kv `,` $positions `,` $sink `)`
    (`compressed` `(` $compressed^ `:` type($compressed) `)`)?
    (`indices` `(` $indices^ `:` type($indices) `)`)? attr-dict `:`
    type($queries) `,` type($kv) `,` type($positions) `,` type($sink) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

def Graph_MoeGateOp : Graph_Op<"moe_gate", [Pure, AttrSizedOperandSegments]> {
  let summary = "Router: sqrt(softplus) scores, top-k by score (+ bias) or by token hash";
  let description = [{
    s = sqrt(softplus(x Gᵀ)). Score routing picks the top-k of s + bias (lower index first on
    ties); hash routing takes the ids `tid2eid[token]`. Weights are s of the chosen experts,
    normalized to sum 1, times `route_scale`.
  }];
  let arguments = (ins GF32Tensor:$input, RankedTensorOf<[BF16, F32]>:$gate,
                       Optional<GF32Tensor>:$bias, Optional<GIntTensor>:$tid2eid,
                       Optional<GIntTensor>:$tokens, I64Attr:$topk, F64Attr:$route_scale);
  let results = (outs GF32Tensor:$weights, RankedTensorOf<[I32]>:$experts);
  let assemblyFormat = [{
    $input `,` $gate (`bias` `(` $bias^ `:` type($bias) `)`)?
    (`hash` `(` $tid2eid^ `[` $tokens `]` `:` type($tid2eid) `,` type($tokens) `)`)? attr-dict `:`
    type($input) `,` type($gate) `->` type($weights) `,` type($experts)
  }];
  let hasVerifier = 1;
}

def Graph_MoeExpertsOp : Graph_Op<"moe_experts", [Pure, AttrSizedOperandSegments]> {
  let summary = "Routed experts: Σ_k w2_e(weight_k · swiglu(w1_e x, w3_e x)), e = experts[t, k]";
  let description = [{
    Expert weights are stacked params [E, N, K] (FP4 with [E, N, K/32] scales in the release).
    The routing weight multiplies the SwiGLU output before the down projection (fp32).
  }];
  let arguments = (ins GF32Tensor:$input, GF32Tensor:$weights, RankedTensorOf<[I32]>:$experts,
                       GWeightTensor:$w1, Optional<GScaleTensor>:$w1_scale,
                       GWeightTensor:$w3, Optional<GScaleTensor>:$w3_scale,
                       GWeightTensor:$w2, Optional<GScaleTensor>:$w2_scale,
                       F64Attr:$swiglu_limit, OptionalAttr<DenseI64ArrayAttr>:$block);
  let results = (outs GF32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weights `,` $experts
    `w1` `(` $w1 (`,` $w1_scale^ `:` type($w1_scale))? `)`
    `w3` `(` $w3 (`,` $w3_scale^ `:` type($w3_scale))? `)`
    `w2` `(` $w2 (`,` $w2_scale^ `:` type($w2_scale))? `)` attr-dict `:`
    type($input) `,` type($weights) `,` type($experts) `,` type($w1) `,` type($w3) `,` type($w2)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

def Graph_FusedOp : Graph_Op<"fused", [IsolatedFromAbove, SingleBlock,
                                       RecursiveMemoryEffects]> {
  let summary = "One fusion group: the ops a single kernel computes";
  let description = [{
    Formed by v4c-apply-fusion from the groups v4c-plan-fusion records (`v4c.fusion_group`,
    `v4c.fusion_kind`). The body sees only its block arguments (the group's inputs, in order)
    and the weights it reads; `graph.yield` returns the values used after the group. `kind`
    names the pattern (norm_gemm, swiglu_gemm, norm_rope, ...) that code generators key on.
  }];
  let arguments = (ins Variadic<AnyType>:$inputs, StrAttr:$kind, I64Attr:$group);
  let results = (outs Variadic<AnyType>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $kind `(` $inputs `)` attr-dict `:` functional-type($inputs, $results) $body
  }];
  let hasVerifier = 1;
}

def Graph_YieldOp : Graph_Op<"yield", [Pure, Terminator, HasParent<"FusedOp">]> {
  let summary = "The values a fusion group hands to the rest of the function";
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

#endif // V4C_GRAPH_OPS
