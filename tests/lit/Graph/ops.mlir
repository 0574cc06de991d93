// RUN: v4c-opt %s -split-input-file | FileCheck %s
// RUN: v4c-opt %s -split-input-file | v4c-opt -split-input-file | FileCheck %s

// Valid uses of every graph op, printed back in the custom assembly format. Shapes follow a
// small V4 layer: T = ? tokens, D = 64 hidden, n = 4 streams, H = 4 heads, Dh = 128.

// CHECK-LABEL: graph.param @embed.weight : tensor<512x64xbf16>
// CHECK-NEXT:  graph.param @layers.0.ffn.experts.w1.weight : tensor<8x128x64xf4E2M1FN>
// CHECK-SAME:    {source = "layers.0.ffn.experts.{}.w1.weight", stored_dtype = "I8"}
// CHECK-NEXT:  graph.param @layers.0.ffn.experts.w1.scale : tensor<8x128x2xf8E8M0FNU>
// CHECK-SAME:    {source = "layers.0.ffn.experts.{}.w1.scale"}
// CHECK-NEXT:  graph.param @layers.0.attn.wq_a.weight : tensor<128x64xf8E4M3FN>
// CHECK-SAME:    {stored_dtype = "F8_E4M3"}
// CHECK-NEXT:  graph.param @hc_head_scale : tensor<1xf32>
graph.param @embed.weight : tensor<512x64xbf16>
graph.param @"layers.0.ffn.experts.w1.weight" : tensor<8x128x64xf4E2M1FN>
    {source = "layers.0.ffn.experts.{}.w1.weight", stored_dtype = "I8"}
graph.param @"layers.0.ffn.experts.w1.scale" : tensor<8x128x2xf8E8M0FNU>
    {source = "layers.0.ffn.experts.{}.w1.scale"}
graph.param @"layers.0.attn.wq_a.weight" : tensor<128x64xf8E4M3FN> {stored_dtype = "F8_E4M3"}
graph.param @hc_head_scale : tensor<1xf32>

// -----

// CHECK-LABEL: graph.state @layers.0.attn.window window : tensor<32x128xf32>
// CHECK-NEXT:  graph.state @layers.1.attn.compressor.cache compressed_kv : tensor<?x128xf32>
// CHECK-NEXT:  graph.state @layers.1.attn.compressor.pending compressor_pending : tensor<2x8x256xf32>
graph.state @"layers.0.attn.window" window : tensor<32x128xf32>
graph.state @"layers.1.attn.compressor.cache" compressed_kv : tensor<?x128xf32>
graph.state @"layers.1.attn.compressor.pending" compressor_pending : tensor<2x8x256xf32>

// -----

graph.param @embed.weight : tensor<512x64xbf16>
graph.param @"experts.w1" : tensor<8x128x64xf4E2M1FN> {source = "experts.{}.w1", stored_dtype = "I8"}
graph.param @sink : tensor<4xf32>

// CHECK-LABEL: func.func @weight
// CHECK:         %[[E:.+]] = graph.weight @embed.weight : tensor<512x64xbf16>
// CHECK:         %[[W:.+]] = graph.weight @experts.w1 : tensor<8x128x64xf4E2M1FN>
// CHECK:         %[[S:.+]] = graph.weight @sink : tensor<4xf32>
// CHECK:         return %[[E]], %[[W]], %[[S]]
func.func @weight() -> (tensor<512x64xbf16>, tensor<8x128x64xf4E2M1FN>, tensor<4xf32>) {
  %0 = graph.weight @embed.weight : tensor<512x64xbf16>
  %1 = graph.weight @"experts.w1" : tensor<8x128x64xf4E2M1FN>
  %2 = graph.weight @sink : tensor<4xf32>
  return %0, %1, %2 : tensor<512x64xbf16>, tensor<8x128x64xf4E2M1FN>, tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @positions
// CHECK-SAME:    (%[[TOK:.+]]: tensor<?xi32>, %[[START:.+]]: index, %[[TOK64:.+]]: tensor<7xi64>)
// CHECK:         %[[P:.+]] = graph.positions %[[TOK]], %[[START]] : tensor<?xi32> -> tensor<?xi64>
// CHECK:         %[[P7:.+]] = graph.positions %[[TOK64]], %[[START]] : tensor<7xi64> -> tensor<7xi64>
// CHECK:         return %[[P]], %[[P7]]
func.func @positions(%tokens: tensor<?xi32>, %start: index, %tokens64: tensor<7xi64>)
    -> (tensor<?xi64>, tensor<7xi64>) {
  %0 = graph.positions %tokens, %start : tensor<?xi32> -> tensor<?xi64>
  %1 = graph.positions %tokens64, %start : tensor<7xi64> -> tensor<7xi64>
  return %0, %1 : tensor<?xi64>, tensor<7xi64>
}

// -----

// CHECK-LABEL: func.func @embedding
// CHECK-SAME:    (%[[TABLE:.+]]: tensor<512x64xbf16>, %[[TABLE32:.+]]: tensor<512x64xf32>, %[[TOK:.+]]: tensor<?xi32>)
// CHECK:         %[[A:.+]] = graph.embedding %[[TABLE]], %[[TOK]] : tensor<512x64xbf16>, tensor<?xi32> -> tensor<?x64xf32>
// CHECK:         %[[B:.+]] = graph.embedding %[[TABLE32]], %[[TOK]] : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
// CHECK:         return %[[A]], %[[B]]
func.func @embedding(%table: tensor<512x64xbf16>, %table32: tensor<512x64xf32>, %tokens: tensor<?xi32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %0 = graph.embedding %table, %tokens : tensor<512x64xbf16>, tensor<?xi32> -> tensor<?x64xf32>
  %1 = graph.embedding %table32, %tokens : tensor<512x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  return %0, %1 : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// CHECK-LABEL: func.func @rms_norm
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64xf32>, %[[W:.+]]: tensor<64xbf16>, %[[Q:.+]]: tensor<?x4x128xf32>)
// CHECK:         %[[N:.+]] = graph.rms_norm %[[X]], %[[W]] {eps = 9.765625E-4 : f64} : tensor<?x64xf32>, tensor<64xbf16> -> tensor<?x64xf32>
// CHECK:         %[[H:.+]] = graph.rms_norm %[[Q]] {eps = 9.765625E-4 : f64} : tensor<?x4x128xf32> -> tensor<?x4x128xf32>
// CHECK:         return %[[N]], %[[H]]
func.func @rms_norm(%x: tensor<?x64xf32>, %w: tensor<64xbf16>, %q: tensor<?x4x128xf32>)
    -> (tensor<?x64xf32>, tensor<?x4x128xf32>) {
  %0 = graph.rms_norm %x, %w {eps = 9.765625E-4 : f64} : tensor<?x64xf32>, tensor<64xbf16> -> tensor<?x64xf32>
  %1 = graph.rms_norm %q {eps = 9.765625E-4 : f64} : tensor<?x4x128xf32> -> tensor<?x4x128xf32>
  return %0, %1 : tensor<?x64xf32>, tensor<?x4x128xf32>
}

// -----

// CHECK-LABEL: func.func @rms_norm_f32_weight
// CHECK:         graph.rms_norm %{{.+}}, %{{.+}} {eps = 1.250000e-01 : f64} : tensor<3x64xf32>, tensor<64xf32> -> tensor<3x64xf32>
func.func @rms_norm_f32_weight(%x: tensor<3x64xf32>, %w: tensor<64xf32>) -> tensor<3x64xf32> {
  %0 = graph.rms_norm %x, %w {eps = 0.125 : f64} : tensor<3x64xf32>, tensor<64xf32> -> tensor<3x64xf32>
  return %0 : tensor<3x64xf32>
}

// -----

// CHECK-LABEL: func.func @rope
// CHECK-SAME:    (%[[Q:.+]]: tensor<?x4x128xf32>, %[[KV:.+]]: tensor<?x128xf32>, %[[POS:.+]]: tensor<?xi64>)
// CHECK:         %[[A:.+]] = graph.rope %[[Q]], %[[POS]] {rope = #graph.rope<dim = 64, theta = 1.000000e+04>}
// CHECK-SAME:      : tensor<?x4x128xf32>, tensor<?xi64> -> tensor<?x4x128xf32>
// CHECK:         %[[B:.+]] = graph.rope %[[KV]], %[[POS]]
// CHECK-SAME:      {rope = #graph.rope<dim = 64, theta = 1.600000e+05, yarn_factor = 1.600000e+01, yarn_original = 65536, yarn_beta = [3.200000e+01, 1.000000e+00]>}
// CHECK-SAME:      : tensor<?x128xf32>, tensor<?xi64> -> tensor<?x128xf32>
// CHECK:         %[[C:.+]] = graph.rope %[[A]], %[[POS]] {inverse, rope = #graph.rope<dim = 64, theta = 1.000000e+04>}
// CHECK:         %[[D:.+]] = graph.rope %[[B]], %[[POS]] {inverse, rope = #graph.rope<dim = 128, theta = 1.600000e+05, yarn_factor = 4.000000e+00, yarn_original = 4096, yarn_beta = [1.600000e+01, 2.000000e+00]>}
// CHECK:         return %[[C]], %[[D]]
func.func @rope(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>)
    -> (tensor<?x4x128xf32>, tensor<?x128xf32>) {
  %0 = graph.rope %q, %pos {rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<?x4x128xf32>, tensor<?xi64> -> tensor<?x4x128xf32>
  %1 = graph.rope %kv, %pos {rope = #graph.rope<dim = 64, theta = 1.6e+05, yarn_factor = 16.0, yarn_original = 65536, yarn_beta = [32.0, 1.0]>} : tensor<?x128xf32>, tensor<?xi64> -> tensor<?x128xf32>
  %2 = graph.rope %0, %pos {inverse, rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<?x4x128xf32>, tensor<?xi64> -> tensor<?x4x128xf32>
  %3 = graph.rope %1, %pos {inverse, rope = #graph.rope<dim = 128, theta = 1.6e+05, yarn_factor = 4.0, yarn_original = 4096, yarn_beta = [16.0, 2.0]>} : tensor<?x128xf32>, tensor<?xi64> -> tensor<?x128xf32>
  return %2, %3 : tensor<?x4x128xf32>, tensor<?x128xf32>
}

// -----

// The default yarn parameters (factor 1, original 0, beta [32, 1]) are elided when printed.
// CHECK-LABEL: func.func @rope_default_yarn
// CHECK:         graph.rope %{{.+}}, %{{.+}} {rope = #graph.rope<dim = 2, theta = 1.000000e+04>}
func.func @rope_default_yarn(%x: tensor<5x2xf32>, %pos: tensor<5xi64>) -> tensor<5x2xf32> {
  %0 = graph.rope %x, %pos {rope = #graph.rope<dim = 2, theta = 1.0e+04, yarn_factor = 1.0, yarn_original = 0, yarn_beta = [32.0, 1.0]>} : tensor<5x2xf32>, tensor<5xi64> -> tensor<5x2xf32>
  return %0 : tensor<5x2xf32>
}

// -----

// CHECK-LABEL: func.func @hc
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64xf32>, %[[FN:.+]]: tensor<24x256xf32>, %[[BASE:.+]]: tensor<24xf32>, %[[SCALE:.+]]: tensor<3xf32>,
// CHECK-SAME:     %[[HFN:.+]]: tensor<4x256xf32>, %[[HBASE:.+]]: tensor<4xf32>, %[[HSCALE:.+]]: tensor<1xf32>)
// CHECK:         %[[S:.+]] = graph.hc_expand %[[X]] : tensor<?x64xf32> -> tensor<?x4x64xf32>
// CHECK:         %[[Y:.+]], %[[POST:.+]], %[[COMB:.+]] = graph.hc_pre %[[S]], %[[FN]], %[[BASE]], %[[SCALE]]
// CHECK-SAME:      {hc_eps = 1.250000e-01 : f64, norm_eps = 9.765625E-4 : f64, sinkhorn_iters = 20 : i64}
// CHECK-SAME:      : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
// CHECK:         %[[S2:.+]] = graph.hc_post %[[Y]], %[[S]], %[[POST]], %[[COMB]]
// CHECK-SAME:      : tensor<?x64xf32>, tensor<?x4x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32> -> tensor<?x4x64xf32>
// CHECK:         %[[H:.+]] = graph.hc_head %[[S2]], %[[HFN]], %[[HBASE]], %[[HSCALE]] {hc_eps = 1.250000e-01 : f64, norm_eps = 9.765625E-4 : f64}
// CHECK-SAME:      : tensor<?x4x64xf32>, tensor<4x256xf32>, tensor<4xf32>, tensor<1xf32> -> tensor<?x64xf32>
// CHECK:         return %[[H]]
func.func @hc(%x: tensor<?x64xf32>, %fn: tensor<24x256xf32>, %base: tensor<24xf32>, %scale: tensor<3xf32>,
              %hfn: tensor<4x256xf32>, %hbase: tensor<4xf32>, %hscale: tensor<1xf32>) -> tensor<?x64xf32> {
  %s = graph.hc_expand %x : tensor<?x64xf32> -> tensor<?x4x64xf32>
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 9.765625E-4 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  %s2 = graph.hc_post %y, %s, %post, %comb : tensor<?x64xf32>, tensor<?x4x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32> -> tensor<?x4x64xf32>
  %h = graph.hc_head %s2, %hfn, %hbase, %hscale {hc_eps = 0.125 : f64, norm_eps = 9.765625E-4 : f64}
      : tensor<?x4x64xf32>, tensor<4x256xf32>, tensor<4xf32>, tensor<1xf32> -> tensor<?x64xf32>
  return %h : tensor<?x64xf32>
}

// -----

// hc_mult = 1 with a static token count: fn [(2+1)·1, 1·D].
// CHECK-LABEL: func.func @hc_single_stream
// CHECK:         graph.hc_expand %{{.+}} : tensor<2x8xf32> -> tensor<2x1x8xf32>
// CHECK:         graph.hc_pre {{.+}} : tensor<2x1x8xf32>, tensor<3x8xf32>, tensor<3xf32>, tensor<3xf32> -> tensor<2x8xf32>, tensor<2x1xf32>, tensor<2x1x1xf32>
func.func @hc_single_stream(%x: tensor<2x8xf32>, %fn: tensor<3x8xf32>, %base: tensor<3xf32>, %scale: tensor<3xf32>)
    -> tensor<2x8xf32> {
  %s = graph.hc_expand %x : tensor<2x8xf32> -> tensor<2x1x8xf32>
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.0 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 1 : i64}
      : tensor<2x1x8xf32>, tensor<3x8xf32>, tensor<3xf32>, tensor<3xf32> -> tensor<2x8xf32>, tensor<2x1xf32>, tensor<2x1x1xf32>
  return %y : tensor<2x8xf32>
}

// -----

// CHECK-LABEL: func.func @linear_plain
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64xf32>, %[[WB:.+]]: tensor<512x64xbf16>, %[[WF:.+]]: tensor<32x64xf32>, %[[X3:.+]]: tensor<?x4x64xf32>)
// CHECK:         %[[A:.+]] = graph.linear %[[X]], %[[WB]] : tensor<?x64xf32>, tensor<512x64xbf16> -> tensor<?x512xf32>
// CHECK:         %[[B:.+]] = graph.linear %[[X]], %[[WF]] : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
// CHECK:         %[[C:.+]] = graph.linear %[[X3]], %[[WF]] : tensor<?x4x64xf32>, tensor<32x64xf32> -> tensor<?x4x32xf32>
// CHECK:         return %[[A]], %[[B]], %[[C]]
func.func @linear_plain(%x: tensor<?x64xf32>, %wb: tensor<512x64xbf16>, %wf: tensor<32x64xf32>, %x3: tensor<?x4x64xf32>)
    -> (tensor<?x512xf32>, tensor<?x32xf32>, tensor<?x4x32xf32>) {
  %0 = graph.linear %x, %wb : tensor<?x64xf32>, tensor<512x64xbf16> -> tensor<?x512xf32>
  %1 = graph.linear %x, %wf : tensor<?x64xf32>, tensor<32x64xf32> -> tensor<?x32xf32>
  %2 = graph.linear %x3, %wf : tensor<?x4x64xf32>, tensor<32x64xf32> -> tensor<?x4x32xf32>
  return %0, %1, %2 : tensor<?x512xf32>, tensor<?x32xf32>, tensor<?x4x32xf32>
}

// -----

// FP8 weights: scale [⌈N/128⌉, ⌈K/128⌉] by default, as E8M0 or F32.
// CHECK-LABEL: func.func @linear_fp8
// CHECK-SAME:    (%[[X:.+]]: tensor<?x256xf32>, %[[W:.+]]: tensor<300x256xf8E4M3FN>, %[[SE:.+]]: tensor<3x2xf8E8M0FNU>, %[[SF:.+]]: tensor<3x2xf32>)
// CHECK:         %[[A:.+]] = graph.linear %[[X]], %[[W]], %[[SE]] : tensor<?x256xf32>, tensor<300x256xf8E4M3FN>, tensor<3x2xf8E8M0FNU> -> tensor<?x300xf32>
// CHECK:         %[[B:.+]] = graph.linear %[[X]], %[[W]], %[[SF]] : tensor<?x256xf32>, tensor<300x256xf8E4M3FN>, tensor<3x2xf32> -> tensor<?x300xf32>
// CHECK:         return %[[A]], %[[B]]
func.func @linear_fp8(%x: tensor<?x256xf32>, %w: tensor<300x256xf8E4M3FN>, %se: tensor<3x2xf8E8M0FNU>, %sf: tensor<3x2xf32>)
    -> (tensor<?x300xf32>, tensor<?x300xf32>) {
  %0 = graph.linear %x, %w, %se : tensor<?x256xf32>, tensor<300x256xf8E4M3FN>, tensor<3x2xf8E8M0FNU> -> tensor<?x300xf32>
  %1 = graph.linear %x, %w, %sf : tensor<?x256xf32>, tensor<300x256xf8E4M3FN>, tensor<3x2xf32> -> tensor<?x300xf32>
  return %0, %1 : tensor<?x300xf32>, tensor<?x300xf32>
}

// -----

// A non-default block [bN, bK] = [64, 32]: scale [⌈100/64⌉, ⌈96/32⌉] = [2, 3].
// CHECK-LABEL: func.func @linear_fp8_block
// CHECK:         graph.linear %{{.+}}, %{{.+}}, %{{.+}} {block = array<i64: 64, 32>}
// CHECK-SAME:      : tensor<?x96xf32>, tensor<100x96xf8E4M3FN>, tensor<2x3xf8E8M0FNU> -> tensor<?x100xf32>
// CHECK:         graph.linear %{{.+}}, %{{.+}}, %{{.+}} {block = array<i64: 128, 128>}
// CHECK-SAME:      : tensor<?x96xf32>, tensor<100x96xf8E4M3FN>, tensor<1x1xf32> -> tensor<?x100xf32>
func.func @linear_fp8_block(%x: tensor<?x96xf32>, %w: tensor<100x96xf8E4M3FN>, %s: tensor<2x3xf8E8M0FNU>, %s1: tensor<1x1xf32>)
    -> (tensor<?x100xf32>, tensor<?x100xf32>) {
  %0 = graph.linear %x, %w, %s {block = array<i64: 64, 32>} : tensor<?x96xf32>, tensor<100x96xf8E4M3FN>, tensor<2x3xf8E8M0FNU> -> tensor<?x100xf32>
  %1 = graph.linear %x, %w, %s1 {block = array<i64: 128, 128>} : tensor<?x96xf32>, tensor<100x96xf8E4M3FN>, tensor<1x1xf32> -> tensor<?x100xf32>
  return %0, %1 : tensor<?x100xf32>, tensor<?x100xf32>
}

// -----

// FP4 weights: one E8M0 scale per 32 inputs, scale [N, K/32].
// CHECK-LABEL: func.func @linear_fp4
// CHECK-SAME:    (%[[X:.+]]: tensor<?x256xf32>, %[[W:.+]]: tensor<128x256xf4E2M1FN>, %[[S:.+]]: tensor<128x8xf8E8M0FNU>)
// CHECK:         %[[Y:.+]] = graph.linear %[[X]], %[[W]], %[[S]] : tensor<?x256xf32>, tensor<128x256xf4E2M1FN>, tensor<128x8xf8E8M0FNU> -> tensor<?x128xf32>
// CHECK:         return %[[Y]]
func.func @linear_fp4(%x: tensor<?x256xf32>, %w: tensor<128x256xf4E2M1FN>, %s: tensor<128x8xf8E8M0FNU>) -> tensor<?x128xf32> {
  %0 = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<128x256xf4E2M1FN>, tensor<128x8xf8E8M0FNU> -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

// Weights read through graph.weight, as the importer emits them.
graph.param @"attn.wq_a.weight" : tensor<128x256xf8E4M3FN>
graph.param @"attn.wq_a.scale" : tensor<1x2xf8E8M0FNU>

// CHECK-LABEL: func.func @linear_from_params
// CHECK-SAME:    (%[[X:.+]]: tensor<?x256xf32>)
// CHECK:         %[[W:.+]] = graph.weight @attn.wq_a.weight : tensor<128x256xf8E4M3FN>
// CHECK:         %[[S:.+]] = graph.weight @attn.wq_a.scale : tensor<1x2xf8E8M0FNU>
// CHECK:         graph.linear %[[X]], %[[W]], %[[S]] : tensor<?x256xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x128xf32>
func.func @linear_from_params(%x: tensor<?x256xf32>) -> tensor<?x128xf32> {
  %w = graph.weight @"attn.wq_a.weight" : tensor<128x256xf8E4M3FN>
  %s = graph.weight @"attn.wq_a.scale" : tensor<1x2xf8E8M0FNU>
  %0 = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

// wo_a: input [T, G·K] = [T, 2·256], weight [G·R, K] = [2·128, 256], result [T, G·R].
// CHECK-LABEL: func.func @grouped_linear
// CHECK-SAME:    (%[[X:.+]]: tensor<?x512xf32>, %[[W:.+]]: tensor<256x256xf8E4M3FN>, %[[S:.+]]: tensor<2x2xf8E8M0FNU>, %[[WB:.+]]: tensor<64x128xbf16>)
// CHECK:         %[[A:.+]] = graph.grouped_linear %[[X]], %[[W]], %[[S]] {groups = 2 : i64}
// CHECK-SAME:      : tensor<?x512xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
// CHECK:         %[[B:.+]] = graph.grouped_linear %[[X]], %[[WB]] {groups = 4 : i64} : tensor<?x512xf32>, tensor<64x128xbf16> -> tensor<?x64xf32>
// CHECK:         return %[[A]], %[[B]]
func.func @grouped_linear(%x: tensor<?x512xf32>, %w: tensor<256x256xf8E4M3FN>, %s: tensor<2x2xf8E8M0FNU>, %wb: tensor<64x128xbf16>)
    -> (tensor<?x256xf32>, tensor<?x64xf32>) {
  %0 = graph.grouped_linear %x, %w, %s {groups = 2 : i64} : tensor<?x512xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  %1 = graph.grouped_linear %x, %wb {groups = 4 : i64} : tensor<?x512xf32>, tensor<64x128xbf16> -> tensor<?x64xf32>
  return %0, %1 : tensor<?x256xf32>, tensor<?x64xf32>
}

// -----

// CHECK-LABEL: func.func @grouped_linear_block
// CHECK:         graph.grouped_linear %{{.+}}, %{{.+}}, %{{.+}} {block = array<i64: 64, 64>, groups = 2 : i64}
// CHECK-SAME:      : tensor<?x256xf32>, tensor<128x128xf8E4M3FN>, tensor<2x2xf32> -> tensor<?x128xf32>
func.func @grouped_linear_block(%x: tensor<?x256xf32>, %w: tensor<128x128xf8E4M3FN>, %s: tensor<2x2xf32>) -> tensor<?x128xf32> {
  %0 = graph.grouped_linear %x, %w, %s {block = array<i64: 64, 64>, groups = 2 : i64} : tensor<?x256xf32>, tensor<128x128xf8E4M3FN>, tensor<2x2xf32> -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

// CHECK-LABEL: func.func @qat
// CHECK-SAME:    (%[[KV:.+]]: tensor<?x128xf32>, %[[Q:.+]]: tensor<?x4x128xf32>)
// CHECK:         %[[A:.+]] = graph.qat %[[KV]] {dims = 64 : i64, format = f8E4M3FN, group_size = 64 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
// CHECK:         %[[B:.+]] = graph.qat %[[Q]] {dims = 128 : i64, format = f4E2M1FN, group_size = 32 : i64} : tensor<?x4x128xf32> -> tensor<?x4x128xf32>
// CHECK:         return %[[A]], %[[B]]
func.func @qat(%kv: tensor<?x128xf32>, %q: tensor<?x4x128xf32>) -> (tensor<?x128xf32>, tensor<?x4x128xf32>) {
  %0 = graph.qat %kv {dims = 64 : i64, format = f8E4M3FN, group_size = 64 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
  %1 = graph.qat %q {dims = 128 : i64, format = f4E2M1FN, group_size = 32 : i64} : tensor<?x4x128xf32> -> tensor<?x4x128xf32>
  return %0, %1 : tensor<?x128xf32>, tensor<?x4x128xf32>
}

// -----

// A dynamic last dim cannot be checked against `dims`.
// CHECK-LABEL: func.func @qat_dynamic_last
// CHECK:         graph.qat %{{.+}} {dims = 96 : i64, format = f8E4M3FN, group_size = 32 : i64} : tensor<?x?xf32> -> tensor<?x?xf32>
func.func @qat_dynamic_last(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %0 = graph.qat %x {dims = 96 : i64, format = f8E4M3FN, group_size = 32 : i64} : tensor<?x?xf32> -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// CHECK-LABEL: func.func @hadamard
// CHECK-SAME:    (%[[X:.+]]: tensor<?x128xf32>, %[[Q:.+]]: tensor<?x4x1xf32>)
// CHECK:         %[[A:.+]] = graph.hadamard %[[X]] : tensor<?x128xf32> -> tensor<?x128xf32>
// CHECK:         %[[B:.+]] = graph.hadamard %[[Q]] : tensor<?x4x1xf32> -> tensor<?x4x1xf32>
// CHECK:         return %[[A]], %[[B]]
func.func @hadamard(%x: tensor<?x128xf32>, %q: tensor<?x4x1xf32>) -> (tensor<?x128xf32>, tensor<?x4x1xf32>) {
  %0 = graph.hadamard %x : tensor<?x128xf32> -> tensor<?x128xf32>
  %1 = graph.hadamard %q : tensor<?x4x1xf32> -> tensor<?x4x1xf32>
  return %0, %1 : tensor<?x128xf32>, tensor<?x4x1xf32>
}

// -----

// CHECK-LABEL: func.func @swiglu
// CHECK-SAME:    (%[[G:.+]]: tensor<?x128xf32>, %[[U:.+]]: tensor<?x128xf32>)
// CHECK:         %[[A:.+]] = graph.swiglu %[[G]], %[[U]] {limit = 1.000000e+01 : f64} : tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x128xf32>
// CHECK:         %[[B:.+]] = graph.swiglu %[[G]], %[[U]] {limit = 0.000000e+00 : f64} : tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x128xf32>
// CHECK:         return %[[A]], %[[B]]
func.func @swiglu(%g: tensor<?x128xf32>, %u: tensor<?x128xf32>) -> (tensor<?x128xf32>, tensor<?x128xf32>) {
  %0 = graph.swiglu %g, %u {limit = 10.0 : f64} : tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x128xf32>
  %1 = graph.swiglu %g, %u {limit = 0.0 : f64} : tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x128xf32>
  return %0, %1 : tensor<?x128xf32>, tensor<?x128xf32>
}

// -----

// CSA compressor (ratio 4, overlap): wkv [2·128, D], pending [2, 2·4, 256], entries [?, 128].
graph.state @"csa.pending" compressor_pending : tensor<2x8x256xf32>

// CHECK-LABEL: func.func @compressor_overlap
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64xf32>, %[[POS:.+]]: tensor<?xi64>, %[[WKV:.+]]: tensor<256x64xbf16>, %[[WG:.+]]: tensor<256x64xbf16>, %[[APE:.+]]: tensor<4x256xf32>)
// CHECK:         %[[E:.+]], %[[EP:.+]] = graph.compressor @csa.pending(%[[X]], %[[POS]], %[[WKV]], %[[WG]], %[[APE]]) {overlap, ratio = 4 : i64}
// CHECK-SAME:      : tensor<?x64xf32>, tensor<?xi64>, tensor<256x64xbf16>, tensor<256x64xbf16>, tensor<4x256xf32> -> tensor<?x128xf32>, tensor<?xi64>
// CHECK:         return %[[E]], %[[EP]]
func.func @compressor_overlap(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<256x64xbf16>, %wgate: tensor<256x64xbf16>,
                              %ape: tensor<4x256xf32>) -> (tensor<?x128xf32>, tensor<?xi64>) {
  %e, %ep = graph.compressor @"csa.pending"(%x, %pos, %wkv, %wgate, %ape) {overlap, ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<256x64xbf16>, tensor<256x64xbf16>, tensor<4x256xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return %e, %ep : tensor<?x128xf32>, tensor<?xi64>
}

// -----

// HCA compressor (ratio 128, no overlap): wkv [128, D], pending [2, 128, 128], entries [?, 128].
graph.state @"hca.pending" compressor_pending : tensor<2x128x128xf32>

// CHECK-LABEL: func.func @compressor
// CHECK:         %[[E:.+]], %[[EP:.+]] = graph.compressor @hca.pending(%{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}) {ratio = 128 : i64}
// CHECK-SAME:      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xf32>, tensor<128x64xbf16>, tensor<128x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
// CHECK:         return %[[E]], %[[EP]]
func.func @compressor(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xf32>, %wgate: tensor<128x64xbf16>,
                      %ape: tensor<128x128xf32>) -> (tensor<?x128xf32>, tensor<?xi64>) {
  %e, %ep = graph.compressor @"hca.pending"(%x, %pos, %wkv, %wgate, %ape) {ratio = 128 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xf32>, tensor<128x64xbf16>, tensor<128x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return %e, %ep : tensor<?x128xf32>, tensor<?xi64>
}

// -----

graph.state @cache compressed_kv : tensor<?x128xf32>

// CHECK-LABEL: func.func @kv_append
// CHECK-SAME:    (%[[E:.+]]: tensor<?x128xf32>)
// CHECK:         %[[ALL:.+]] = graph.kv_append @cache(%[[E]]) total %{{.*}} : tensor<?x128xf32> -> tensor<?x128xf32>
// CHECK:         return %[[ALL]]
func.func @kv_append(%entries: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %kv_total = arith.constant 0 : index
  %0 = graph.kv_append @cache(%entries) total %kv_total : tensor<?x128xf32> -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

// CHECK-LABEL: func.func @index_topk
// CHECK-SAME:    (%[[Q:.+]]: tensor<?x4x128xf32>, %[[W:.+]]: tensor<?x4xf32>, %[[K:.+]]: tensor<?x128xf32>, %[[POS:.+]]: tensor<?xi64>)
// CHECK:         %[[I:.+]] = graph.index_topk %[[Q]], %[[W]], %[[K]], %[[POS]] {ratio = 4 : i64, scale = 6.250000e-02 : f64, topk = 8 : i64}
// CHECK-SAME:      : tensor<?x4x128xf32>, tensor<?x4xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x8xi32>
// CHECK:         return %[[I]]
func.func @index_topk(%q: tensor<?x4x128xf32>, %w: tensor<?x4xf32>, %keys: tensor<?x128xf32>, %pos: tensor<?xi64>) -> tensor<?x8xi32> {
  %0 = graph.index_topk %q, %w, %keys, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<?x4x128xf32>, tensor<?x4xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x8xi32>
  return %0 : tensor<?x8xi32>
}

// -----

// Sliding window only (ratio 0).
graph.state @window window : tensor<32x128xf32>

// CHECK-LABEL: func.func @sparse_attention_window
// CHECK-SAME:    (%[[Q:.+]]: tensor<?x4x128xf32>, %[[KV:.+]]: tensor<?x128xf32>, %[[POS:.+]]: tensor<?xi64>, %[[SINK:.+]]: tensor<4xf32>)
// CHECK:         %[[O:.+]] = graph.sparse_attention @window(%[[Q]], %[[KV]], %[[POS]], %[[SINK]]) {ratio = 0 : i64, scale = 6.250000e-02 : f64, window = 32 : i64}
// CHECK-SAME:      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
// CHECK:         return %[[O]]
func.func @sparse_attention_window(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>)
    -> tensor<?x4x128xf32> {
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return %0 : tensor<?x4x128xf32>
}

// -----

// HCA: every eligible compressed entry, no indices.
graph.state @window window : tensor<32x128xf32>

// CHECK-LABEL: func.func @sparse_attention_hca
// CHECK-SAME:    (%[[Q:.+]]: tensor<?x4x128xf32>, %[[KV:.+]]: tensor<?x128xf32>, %[[POS:.+]]: tensor<?xi64>, %[[SINK:.+]]: tensor<4xf32>, %[[C:.+]]: tensor<?x128xf32>)
// CHECK:         %[[O:.+]] = graph.sparse_attention @window(%[[Q]], %[[KV]], %[[POS]], %[[SINK]]) compressed(%[[C]] : tensor<?x128xf32>)
// CHECK-SAME:      {ratio = 128 : i64, scale = 6.250000e-02 : f64, window = 32 : i64}
// CHECK-SAME:      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
// CHECK:         return %[[O]]
func.func @sparse_attention_hca(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>,
                                %c: tensor<?x128xf32>) -> tensor<?x4x128xf32> {
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) compressed(%c : tensor<?x128xf32>)
      {ratio = 128 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return %0 : tensor<?x4x128xf32>
}

// -----

// CSA: the compressed entries named by the indexer's top-k.
graph.state @window window : tensor<32x128xf32>

// CHECK-LABEL: func.func @sparse_attention_csa
// CHECK-SAME:    (%[[Q:.+]]: tensor<?x4x128xf32>, %[[KV:.+]]: tensor<?x128xf32>, %[[POS:.+]]: tensor<?xi64>, %[[SINK:.+]]: tensor<4xf32>, %[[C:.+]]: tensor<?x128xf32>, %[[I:.+]]: tensor<?x8xi32>)
// CHECK:         %[[O:.+]] = graph.sparse_attention @window(%[[Q]], %[[KV]], %[[POS]], %[[SINK]]) compressed(%[[C]] : tensor<?x128xf32>) indices(%[[I]] : tensor<?x8xi32>)
// CHECK-SAME:      {ratio = 4 : i64, scale = 6.250000e-02 : f64, window = 32 : i64}
// CHECK-SAME:      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
// CHECK:         return %[[O]]
func.func @sparse_attention_csa(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>,
                                %c: tensor<?x128xf32>, %idx: tensor<?x8xi32>) -> tensor<?x4x128xf32> {
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) compressed(%c : tensor<?x128xf32>) indices(%idx : tensor<?x8xi32>)
      {ratio = 4 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return %0 : tensor<?x4x128xf32>
}

// -----

// CHECK-LABEL: func.func @moe_gate_score
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64xf32>, %[[G:.+]]: tensor<8x64xbf16>, %[[B:.+]]: tensor<8xf32>)
// CHECK:         %[[W:.+]], %[[E:.+]] = graph.moe_gate %[[X]], %[[G]] bias(%[[B]] : tensor<8xf32>) {route_scale = 1.500000e+00 : f64, topk = 2 : i64}
// CHECK-SAME:      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK:         %[[W2:.+]], %[[E2:.+]] = graph.moe_gate %[[X]], %[[G]] {route_scale = 1.000000e+00 : f64, topk = 8 : i64}
// CHECK-SAME:      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x8xf32>, tensor<?x8xi32>
// CHECK:         return %[[W]], %[[E]], %[[W2]], %[[E2]]
func.func @moe_gate_score(%x: tensor<?x64xf32>, %gate: tensor<8x64xbf16>, %bias: tensor<8xf32>)
    -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>, tensor<?x8xi32>) {
  %w, %e = graph.moe_gate %x, %gate bias(%bias : tensor<8xf32>) {route_scale = 1.5 : f64, topk = 2 : i64}
      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w2, %e2 = graph.moe_gate %x, %gate {route_scale = 1.0 : f64, topk = 8 : i64}
      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x8xf32>, tensor<?x8xi32>
  return %w, %e, %w2, %e2 : tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>, tensor<?x8xi32>
}

// -----

// CHECK-LABEL: func.func @moe_gate_hash
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64xf32>, %[[G:.+]]: tensor<8x64xf32>, %[[T2E:.+]]: tensor<512x2xi64>, %[[TOK:.+]]: tensor<?xi32>)
// CHECK:         %[[W:.+]], %[[E:.+]] = graph.moe_gate %[[X]], %[[G]] hash(%[[T2E]][%[[TOK]]] : tensor<512x2xi64>, tensor<?xi32>)
// CHECK-SAME:      {route_scale = 1.500000e+00 : f64, topk = 2 : i64} : tensor<?x64xf32>, tensor<8x64xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK:         return %[[W]], %[[E]]
func.func @moe_gate_hash(%x: tensor<?x64xf32>, %gate: tensor<8x64xf32>, %tid2eid: tensor<512x2xi64>, %tokens: tensor<?xi32>)
    -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %w, %e = graph.moe_gate %x, %gate hash(%tid2eid[%tokens] : tensor<512x2xi64>, tensor<?xi32>) {route_scale = 1.5 : f64, topk = 2 : i64}
      : tensor<?x64xf32>, tensor<8x64xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w, %e : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

// Release experts: stacked FP4 [E, N, K] with E8M0 scales [E, N, K/32].
graph.param @"experts.w1.weight" : tensor<8x128x64xf4E2M1FN> {source = "ffn.experts.{}.w1.weight", stored_dtype = "I8"}
graph.param @"experts.w1.scale" : tensor<8x128x2xf8E8M0FNU> {source = "ffn.experts.{}.w1.scale"}

// CHECK-LABEL: func.func @moe_experts_fp4
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64xf32>, %[[RW:.+]]: tensor<?x2xf32>, %[[RE:.+]]: tensor<?x2xi32>, %[[W3:.+]]: tensor<8x128x64xf4E2M1FN>, %[[S3:.+]]: tensor<8x128x2xf8E8M0FNU>, %[[W2:.+]]: tensor<8x64x128xf4E2M1FN>, %[[S2:.+]]: tensor<8x64x4xf8E8M0FNU>)
// CHECK:         %[[W1:.+]] = graph.weight @experts.w1.weight : tensor<8x128x64xf4E2M1FN>
// CHECK:         %[[S1:.+]] = graph.weight @experts.w1.scale : tensor<8x128x2xf8E8M0FNU>
// CHECK:         %[[Y:.+]] = graph.moe_experts %[[X]], %[[RW]], %[[RE]] w1(%[[W1]], %[[S1]] : tensor<8x128x2xf8E8M0FNU>) w3(%[[W3]], %[[S3]] : tensor<8x128x2xf8E8M0FNU>) w2(%[[W2]], %[[S2]] : tensor<8x64x4xf8E8M0FNU>)
// CHECK-SAME:      {swiglu_limit = 1.000000e+01 : f64}
// CHECK-SAME:      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x64xf4E2M1FN>, tensor<8x128x64xf4E2M1FN>, tensor<8x64x128xf4E2M1FN> -> tensor<?x64xf32>
// CHECK:         return %[[Y]]
func.func @moe_experts_fp4(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                           %w3: tensor<8x128x64xf4E2M1FN>, %s3: tensor<8x128x2xf8E8M0FNU>,
                           %w2: tensor<8x64x128xf4E2M1FN>, %s2: tensor<8x64x4xf8E8M0FNU>) -> tensor<?x64xf32> {
  %w1 = graph.weight @"experts.w1.weight" : tensor<8x128x64xf4E2M1FN>
  %s1 = graph.weight @"experts.w1.scale" : tensor<8x128x2xf8E8M0FNU>
  %0 = graph.moe_experts %x, %rw, %re w1(%w1, %s1 : tensor<8x128x2xf8E8M0FNU>) w3(%w3, %s3 : tensor<8x128x2xf8E8M0FNU>)
      w2(%w2, %s2 : tensor<8x64x4xf8E8M0FNU>) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x64xf4E2M1FN>, tensor<8x128x64xf4E2M1FN>, tensor<8x64x128xf4E2M1FN>
      -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Dequantized experts: stacked BF16, no scales.
// CHECK-LABEL: func.func @moe_experts_bf16
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64xf32>, %[[RW:.+]]: tensor<?x6xf32>, %[[RE:.+]]: tensor<?x6xi32>, %[[W1:.+]]: tensor<16x96x64xbf16>, %[[W3:.+]]: tensor<16x96x64xbf16>, %[[W2:.+]]: tensor<16x64x96xbf16>)
// CHECK:         %[[Y:.+]] = graph.moe_experts %[[X]], %[[RW]], %[[RE]] w1(%[[W1]]) w3(%[[W3]]) w2(%[[W2]]) {swiglu_limit = 0.000000e+00 : f64}
// CHECK-SAME:      : tensor<?x64xf32>, tensor<?x6xf32>, tensor<?x6xi32>, tensor<16x96x64xbf16>, tensor<16x96x64xbf16>, tensor<16x64x96xbf16> -> tensor<?x64xf32>
// CHECK:         return %[[Y]]
func.func @moe_experts_bf16(%x: tensor<?x64xf32>, %rw: tensor<?x6xf32>, %re: tensor<?x6xi32>, %w1: tensor<16x96x64xbf16>,
                            %w3: tensor<16x96x64xbf16>, %w2: tensor<16x64x96xbf16>) -> tensor<?x64xf32> {
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w3) w2(%w2) {swiglu_limit = 0.0 : f64}
      : tensor<?x64xf32>, tensor<?x6xf32>, tensor<?x6xi32>, tensor<16x96x64xbf16>, tensor<16x96x64xbf16>, tensor<16x64x96xbf16>
      -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Stacked FP8 experts with a per-expert block scale [E, ⌈N/bN⌉, ⌈K/bK⌉], block [64, 64].
// CHECK-LABEL: func.func @moe_experts_fp8
// CHECK:         graph.moe_experts {{.+}} w1(%{{.+}}, %{{.+}} : tensor<4x2x1xf32>) w3(%{{.+}}, %{{.+}} : tensor<4x2x1xf32>) w2(%{{.+}}, %{{.+}} : tensor<4x1x2xf32>)
// CHECK-SAME:      {block = array<i64: 64, 64>, swiglu_limit = 7.000000e+00 : f64}
func.func @moe_experts_fp8(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                           %w1: tensor<4x128x64xf8E4M3FN>, %s1: tensor<4x2x1xf32>,
                           %w2: tensor<4x64x128xf8E4M3FN>, %s2: tensor<4x1x2xf32>) -> tensor<?x64xf32> {
  %0 = graph.moe_experts %x, %rw, %re w1(%w1, %s1 : tensor<4x2x1xf32>) w3(%w1, %s1 : tensor<4x2x1xf32>)
      w2(%w2, %s2 : tensor<4x1x2xf32>) {block = array<i64: 64, 64>, swiglu_limit = 7.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x128x64xf8E4M3FN>, tensor<4x128x64xf8E4M3FN>, tensor<4x64x128xf8E4M3FN>
      -> tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Explicit activation quantization, the block-scaled matmul, and a recorded precision decision.
// CHECK-LABEL: func.func @block_scaled
// CHECK:         %[[Q:.+]], %[[QS:.+]] = graph.quantize %{{.+}} {block = 128 : i64} : tensor<?x300xf32> -> tensor<?x300xf8E4M3FN>, tensor<?x3xf32>
// CHECK:         graph.block_scaled_matmul %[[Q]], %[[QS]], %{{.+}}, %{{.+}} {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = native>, lhs_block = 128 : i64}
// CHECK-SAME:      : tensor<?x300xf8E4M3FN>, tensor<?x3xf32>, tensor<200x300xf8E4M3FN>, tensor<2x3xf8E8M0FNU> -> tensor<?x200xf32>
func.func @block_scaled(%x: tensor<?x300xf32>, %w: tensor<200x300xf8E4M3FN>, %s: tensor<2x3xf8E8M0FNU>) -> tensor<?x200xf32> {
  %q, %qs = graph.quantize %x {block = 128 : i64} : tensor<?x300xf32> -> tensor<?x300xf8E4M3FN>, tensor<?x3xf32>
  %y = graph.block_scaled_matmul %q, %qs, %w, %s {lhs_block = 128 : i64, graph.precision = #graph.precision<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = native>}
      : tensor<?x300xf8E4M3FN>, tensor<?x3xf32>, tensor<200x300xf8E4M3FN>, tensor<2x3xf8E8M0FNU> -> tensor<?x200xf32>
  return %y : tensor<?x200xf32>
}

// -----

// A fusion group as one op (v4c-apply-fusion): inputs as block arguments, weights read inside.
graph.param @w : tensor<64x64xbf16>
// CHECK-LABEL: func.func @fused
// CHECK:         %[[F:.+]]:2 = graph.fused "norm_gemm"(%{{.+}}) {group = 3 : i64} : (tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
// CHECK-NEXT:    ^bb0(%[[A:.+]]: tensor<?x64xf32>):
// CHECK:           graph.yield %{{.+}}, %{{.+}} : tensor<?x64xf32>, tensor<?x64xf32>
// CHECK:         return %[[F]]#0, %[[F]]#1
func.func @fused(%x: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %r:2 = graph.fused "norm_gemm"(%x) {group = 3 : i64} : (tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  ^bb0(%a: tensor<?x64xf32>):
    %y = graph.rms_norm %a {eps = 1.0e-06 : f64} : tensor<?x64xf32> -> tensor<?x64xf32>
    %w = graph.weight @w : tensor<64x64xbf16>
    %z = graph.linear %y, %w : tensor<?x64xf32>, tensor<64x64xbf16> -> tensor<?x64xf32>
    graph.yield %y, %z : tensor<?x64xf32>, tensor<?x64xf32>
  }
  return %r#0, %r#1 : tensor<?x64xf32>, tensor<?x64xf32>
}
