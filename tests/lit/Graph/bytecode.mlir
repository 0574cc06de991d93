// RUN: v4c-opt %s -emit-bytecode | v4c-opt | FileCheck %s

// One CSA layer and the head, written to MLIR bytecode and read back: params (stacked FP4
// experts with their source pattern), every kind of state, the #graph.rope attribute, the
// state kind enum, unit attrs, optional operands and low-precision element types survive.

// CHECK-LABEL: module
// CHECK-DAG:   graph.param @embed.weight : tensor<512x64xbf16>
// CHECK-DAG:   graph.param @wq.weight : tensor<512x64xf8E4M3FN> {stored_dtype = "F8_E4M3"}
// CHECK-DAG:   graph.param @wq.scale : tensor<4x1xf8E8M0FNU>
// CHECK-DAG:   graph.param @experts.w1.weight : tensor<8x128x64xf4E2M1FN> {source = "ffn.experts.{}.w1.weight", stored_dtype = "I8"}
// CHECK-DAG:   graph.param @experts.w1.scale : tensor<8x128x2xf8E8M0FNU> {source = "ffn.experts.{}.w1.scale"}
// CHECK-DAG:   graph.state @window window : tensor<32x128xf32>
// CHECK-DAG:   graph.state @pending compressor_pending : tensor<2x8x256xf32>
// CHECK-DAG:   graph.state @cache compressed_kv : tensor<?x128xf32>
graph.param @embed.weight : tensor<512x64xbf16>
graph.param @wq.weight : tensor<512x64xf8E4M3FN> {stored_dtype = "F8_E4M3"}
graph.param @wq.scale : tensor<4x1xf8E8M0FNU>
graph.param @experts.w1.weight : tensor<8x128x64xf4E2M1FN> {source = "ffn.experts.{}.w1.weight", stored_dtype = "I8"}
graph.param @experts.w1.scale : tensor<8x128x2xf8E8M0FNU> {source = "ffn.experts.{}.w1.scale"}
graph.state @window window : tensor<32x128xf32>
graph.state @pending compressor_pending : tensor<2x8x256xf32>
graph.state @cache compressed_kv : tensor<?x128xf32>

// CHECK-LABEL: func.func @layer
// CHECK-SAME:    (%[[TOK:.+]]: tensor<?xi32>, %[[START:.+]]: index
// CHECK:         %[[POS:.+]] = graph.positions %[[TOK]], %[[START]] : tensor<?xi32> -> tensor<?xi64>
// CHECK:         %[[EMB_W:.+]] = graph.weight @embed.weight : tensor<512x64xbf16>
// CHECK:         %[[EMB:.+]] = graph.embedding %[[EMB_W]], %[[TOK]] : tensor<512x64xbf16>, tensor<?xi32> -> tensor<?x64xf32>
// CHECK:         %[[S:.+]] = graph.hc_expand %[[EMB]] : tensor<?x64xf32> -> tensor<?x4x64xf32>
// CHECK:         %[[Y:.+]], %[[POST:.+]], %[[COMB:.+]] = graph.hc_pre %[[S]], {{.+}} {hc_eps = 1.250000e-01 : f64, norm_eps = 9.765625E-4 : f64, sinkhorn_iters = 20 : i64}
// CHECK:         %[[X:.+]] = graph.rms_norm %[[Y]], %{{.+}} {eps = 9.765625E-4 : f64} : tensor<?x64xf32>, tensor<64xbf16> -> tensor<?x64xf32>
// CHECK:         %[[WQ:.+]] = graph.weight @wq.weight : tensor<512x64xf8E4M3FN>
// CHECK:         %[[WQS:.+]] = graph.weight @wq.scale : tensor<4x1xf8E8M0FNU>
// CHECK:         %[[QF:.+]] = graph.linear %[[X]], %[[WQ]], %[[WQS]] : tensor<?x64xf32>, tensor<512x64xf8E4M3FN>, tensor<4x1xf8E8M0FNU> -> tensor<?x512xf32>
// CHECK:         %[[Q:.+]] = tensor.expand_shape %[[QF]]
// CHECK:         %[[QN:.+]] = graph.rms_norm %[[Q]] {eps = 9.765625E-4 : f64} : tensor<?x4x128xf32> -> tensor<?x4x128xf32>
// CHECK:         %[[QR:.+]] = graph.rope %[[QN]], %[[POS]] {rope = #graph.rope<dim = 64, theta = 1.600000e+05, yarn_factor = 1.600000e+01, yarn_original = 65536, yarn_beta = [3.200000e+01, 1.000000e+00]>}
// CHECK:         %[[KVL:.+]] = graph.linear %[[X]], %{{.+}} : tensor<?x64xf32>, tensor<128x64xbf16> -> tensor<?x128xf32>
// CHECK:         %[[KV:.+]] = graph.qat %[[KVL]] {dims = 64 : i64, format = f8E4M3FN, group_size = 64 : i64}
// CHECK:         %[[E:.+]], %[[EP:.+]] = graph.compressor @pending(%[[X]], %[[POS]], {{.+}}) {overlap, ratio = 4 : i64}
// CHECK:         %[[ER:.+]] = graph.rope %[[E]], %[[EP]] {rope = #graph.rope<dim = 64, theta = 1.000000e+04>}
// CHECK:         %[[EH:.+]] = graph.hadamard %[[ER]] : tensor<?x128xf32> -> tensor<?x128xf32>
// CHECK:         %[[EQ:.+]] = graph.qat %[[EH]] {dims = 128 : i64, format = f4E2M1FN, group_size = 32 : i64}
// CHECK:         %[[ALL:.+]] = graph.kv_append @cache(%[[EQ]]) total %{{.*}} : tensor<?x128xf32> -> tensor<?x128xf32>
// CHECK:         %[[IW:.+]] = graph.linear %[[X]], %{{.+}} : tensor<?x64xf32>, tensor<4x64xf32> -> tensor<?x4xf32>
// CHECK:         %[[IDX:.+]] = graph.index_topk %[[QR]], %[[IW]], %[[ALL]], %[[POS]] {ratio = 4 : i64, scale = 6.250000e-02 : f64, topk = 8 : i64}
// CHECK:         %[[O:.+]] = graph.sparse_attention @window(%[[QR]], %[[KV]], %[[POS]], %{{.+}}) compressed(%[[ALL]] : tensor<?x128xf32>) indices(%[[IDX]] : tensor<?x8xi32>)
// CHECK-SAME:      {ratio = 4 : i64, scale = 6.250000e-02 : f64, window = 32 : i64}
// CHECK:         %[[OR:.+]] = graph.rope %[[O]], %[[POS]] {inverse, rope = #graph.rope<dim = 64, theta = 1.600000e+05, yarn_factor = 1.600000e+01, yarn_original = 65536, yarn_beta = [3.200000e+01, 1.000000e+00]>}
// CHECK:         %[[OF:.+]] = tensor.collapse_shape %[[OR]]
// CHECK:         %[[OA:.+]] = graph.grouped_linear %[[OF]], %{{.+}}, %{{.+}} {groups = 2 : i64} : tensor<?x512xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf32> -> tensor<?x128xf32>
// CHECK:         %[[OB:.+]] = graph.linear %[[OA]], %{{.+}} : tensor<?x128xf32>, tensor<64x128xbf16> -> tensor<?x64xf32>
// CHECK:         %[[S2:.+]] = graph.hc_post %[[OB]], %[[S]], %[[POST]], %[[COMB]]
// CHECK:         %[[RW:.+]], %[[RE:.+]] = graph.moe_gate %[[X]], %{{.+}} hash(%{{.+}}[%[[TOK]]] : tensor<512x2xi64>, tensor<?xi32>) {route_scale = 1.500000e+00 : f64, topk = 2 : i64}
// CHECK:         %[[BW:.+]], %[[BE:.+]] = graph.moe_gate %[[X]], %{{.+}} bias(%{{.+}} : tensor<8xf32>) {route_scale = 1.500000e+00 : f64, topk = 2 : i64}
// CHECK:         %[[W1:.+]] = graph.weight @experts.w1.weight : tensor<8x128x64xf4E2M1FN>
// CHECK:         %[[W1S:.+]] = graph.weight @experts.w1.scale : tensor<8x128x2xf8E8M0FNU>
// CHECK:         %[[MOE:.+]] = graph.moe_experts %[[X]], %[[RW]], %[[RE]] w1(%[[W1]], %[[W1S]] : tensor<8x128x2xf8E8M0FNU>) w3(%[[W1]], %[[W1S]] : tensor<8x128x2xf8E8M0FNU>) w2(%{{.+}}, %{{.+}} : tensor<8x64x4xf8E8M0FNU>) {swiglu_limit = 1.000000e+01 : f64}
// CHECK:         %[[SH:.+]] = graph.swiglu %{{.+}}, %{{.+}} {limit = 1.000000e+01 : f64} : tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x128xf32>
// CHECK:         %[[H:.+]] = graph.hc_head %[[S2]], {{.+}} {hc_eps = 1.250000e-01 : f64, norm_eps = 9.765625E-4 : f64}
// CHECK:         return %[[H]], %[[MOE]], %[[SH]], %[[BW]], %[[BE]]
func.func @layer(%tokens: tensor<?xi32>, %start: index,
                 %hc_fn: tensor<24x256xf32>, %hc_base: tensor<24xf32>, %hc_scale: tensor<3xf32>,
                 %norm: tensor<64xbf16>, %wkv: tensor<128x64xbf16>,
                 %cwkv: tensor<256x64xbf16>, %cwgate: tensor<256x64xbf16>, %ape: tensor<4x256xf32>,
                 %iw: tensor<4x64xf32>, %sink: tensor<4xf32>,
                 %wo_a: tensor<128x256xf8E4M3FN>, %wo_a_s: tensor<1x2xf32>, %wo_b: tensor<64x128xbf16>,
                 %gate: tensor<8x64xbf16>, %gate_bias: tensor<8xf32>, %tid2eid: tensor<512x2xi64>,
                 %w2: tensor<8x64x128xf4E2M1FN>, %w2s: tensor<8x64x4xf8E8M0FNU>,
                 %sa: tensor<?x128xf32>, %sb: tensor<?x128xf32>,
                 %head_fn: tensor<4x256xf32>, %head_base: tensor<4xf32>, %head_scale: tensor<1xf32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>) {
  %pos = graph.positions %tokens, %start : tensor<?xi32> -> tensor<?xi64>
  %emb_w = graph.weight @embed.weight : tensor<512x64xbf16>
  %emb = graph.embedding %emb_w, %tokens : tensor<512x64xbf16>, tensor<?xi32> -> tensor<?x64xf32>
  %s = graph.hc_expand %emb : tensor<?x64xf32> -> tensor<?x4x64xf32>
  %y, %post, %comb = graph.hc_pre %s, %hc_fn, %hc_base, %hc_scale {hc_eps = 0.125 : f64, norm_eps = 9.765625E-4 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  %x = graph.rms_norm %y, %norm {eps = 9.765625E-4 : f64} : tensor<?x64xf32>, tensor<64xbf16> -> tensor<?x64xf32>

  // Queries.
  %wq = graph.weight @wq.weight : tensor<512x64xf8E4M3FN>
  %wqs = graph.weight @wq.scale : tensor<4x1xf8E8M0FNU>
  %qf = graph.linear %x, %wq, %wqs : tensor<?x64xf32>, tensor<512x64xf8E4M3FN>, tensor<4x1xf8E8M0FNU> -> tensor<?x512xf32>
  %c0 = arith.constant 0 : index
  %t = tensor.dim %qf, %c0 : tensor<?x512xf32>
  %q = tensor.expand_shape %qf [[0], [1, 2]] output_shape [%t, 4, 128] : tensor<?x512xf32> into tensor<?x4x128xf32>
  %qn = graph.rms_norm %q {eps = 9.765625E-4 : f64} : tensor<?x4x128xf32> -> tensor<?x4x128xf32>
  %qr = graph.rope %qn, %pos {rope = #graph.rope<dim = 64, theta = 1.6e+05, yarn_factor = 16.0, yarn_original = 65536, yarn_beta = [32.0, 1.0]>}
      : tensor<?x4x128xf32>, tensor<?xi64> -> tensor<?x4x128xf32>

  // Window KV, compressed KV and the indexer.
  %kvl = graph.linear %x, %wkv : tensor<?x64xf32>, tensor<128x64xbf16> -> tensor<?x128xf32>
  %kv = graph.qat %kvl {dims = 64 : i64, format = f8E4M3FN, group_size = 64 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
  %e, %ep = graph.compressor @pending(%x, %pos, %cwkv, %cwgate, %ape) {overlap, ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<256x64xbf16>, tensor<256x64xbf16>, tensor<4x256xf32> -> tensor<?x128xf32>, tensor<?xi64>
  %er = graph.rope %e, %ep {rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<?x128xf32>, tensor<?xi64> -> tensor<?x128xf32>
  %eh = graph.hadamard %er : tensor<?x128xf32> -> tensor<?x128xf32>
  %eq = graph.qat %eh {dims = 128 : i64, format = f4E2M1FN, group_size = 32 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
  %kv_total = arith.constant 0 : index
  %all = graph.kv_append @cache(%eq) total %kv_total : tensor<?x128xf32> -> tensor<?x128xf32>
  %iwt = graph.linear %x, %iw : tensor<?x64xf32>, tensor<4x64xf32> -> tensor<?x4xf32>
  %idx = graph.index_topk %qr, %iwt, %all, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<?x4x128xf32>, tensor<?x4xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x8xi32>

  // Attention and output projection.
  %o = graph.sparse_attention @window(%qr, %kv, %pos, %sink) compressed(%all : tensor<?x128xf32>) indices(%idx : tensor<?x8xi32>)
      {ratio = 4 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  %or = graph.rope %o, %pos {inverse, rope = #graph.rope<dim = 64, theta = 1.6e+05, yarn_factor = 16.0, yarn_original = 65536, yarn_beta = [32.0, 1.0]>}
      : tensor<?x4x128xf32>, tensor<?xi64> -> tensor<?x4x128xf32>
  %of = tensor.collapse_shape %or [[0], [1, 2]] : tensor<?x4x128xf32> into tensor<?x512xf32>
  %oa = graph.grouped_linear %of, %wo_a, %wo_a_s {groups = 2 : i64} : tensor<?x512xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf32> -> tensor<?x128xf32>
  %ob = graph.linear %oa, %wo_b : tensor<?x128xf32>, tensor<64x128xbf16> -> tensor<?x64xf32>
  %s2 = graph.hc_post %ob, %s, %post, %comb : tensor<?x64xf32>, tensor<?x4x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32> -> tensor<?x4x64xf32>

  // MoE.
  %rw, %re = graph.moe_gate %x, %gate hash(%tid2eid[%tokens] : tensor<512x2xi64>, tensor<?xi32>) {route_scale = 1.5 : f64, topk = 2 : i64}
      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  %bw, %be = graph.moe_gate %x, %gate bias(%gate_bias : tensor<8xf32>) {route_scale = 1.5 : f64, topk = 2 : i64}
      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w1 = graph.weight @experts.w1.weight : tensor<8x128x64xf4E2M1FN>
  %w1s = graph.weight @experts.w1.scale : tensor<8x128x2xf8E8M0FNU>
  %moe = graph.moe_experts %x, %rw, %re w1(%w1, %w1s : tensor<8x128x2xf8E8M0FNU>) w3(%w1, %w1s : tensor<8x128x2xf8E8M0FNU>)
      w2(%w2, %w2s : tensor<8x64x4xf8E8M0FNU>) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x64xf4E2M1FN>, tensor<8x128x64xf4E2M1FN>, tensor<8x64x128xf4E2M1FN>
      -> tensor<?x64xf32>
  %sh = graph.swiglu %sa, %sb {limit = 10.0 : f64} : tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x128xf32>

  %h = graph.hc_head %s2, %head_fn, %head_base, %head_scale {hc_eps = 0.125 : f64, norm_eps = 9.765625E-4 : f64}
      : tensor<?x4x64xf32>, tensor<4x256xf32>, tensor<4xf32>, tensor<1xf32> -> tensor<?x64xf32>
  return %h, %moe, %sh, %bw, %be : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x128xf32>, tensor<?x2xf32>, tensor<?x2xi32>
}
