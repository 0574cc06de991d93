// RUN: v4c-opt %s -split-input-file -verify-diagnostics

// Every error path of the graph dialect verifiers (GraphOps.cpp, GraphDialect.cpp), plus the
// ODS constraints that guard them. One error per case.

//===----------------------------------------------------------------------===//
// graph.param
//===----------------------------------------------------------------------===//

// expected-error @+1 {{'graph.param' op parameter type must be static, got 'tensor<?x64xbf16>'}}
graph.param @dynamic : tensor<?x64xbf16>

// -----

// expected-error @+1 {{'graph.param' op a stacked source pattern needs a stacked (rank >= 3) type, got 'tensor<128x64xbf16>'}}
graph.param @"experts.w1" : tensor<128x64xbf16> {source = "ffn.experts.{}.w1.weight"}

// -----

// expected-error @+1 {{'graph.param' op attribute 'type' failed to satisfy constraint: type attribute of ranked tensor of any type values}}
graph.param @unranked : tensor<*xf32>

// -----

func.func @param_in_func() {
  // expected-error @+1 {{'graph.param' op expects parent op 'builtin.module'}}
  graph.param @p : tensor<4xf32>
  return
}

// -----

// expected-note @+1 {{see existing symbol definition here}}
graph.param @p : tensor<4xf32>
// expected-error @+1 {{redefinition of symbol named 'p'}}
graph.param @p : tensor<4xf32>

// -----

//===----------------------------------------------------------------------===//
// graph.state
//===----------------------------------------------------------------------===//

// expected-error @+1 {{'graph.state' op attribute 'type' failed to satisfy constraint: type attribute of ranked tensor of 32-bit float values}}
graph.state @window window : tensor<32x128xbf16>

// -----

// expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'kind' [window, compressed_kv, compressor_pending]}}
graph.state @window ring : tensor<32x128xf32>

// -----

//===----------------------------------------------------------------------===//
// graph.weight
//===----------------------------------------------------------------------===//

func.func @weight_missing_param() -> tensor<4xf32> {
  // expected-error @+1 {{'graph.weight' op references @missing, which is not a declared graph.param}}
  %0 = graph.weight @missing : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @weight_of_state() -> tensor<32x128xf32> {
  // expected-error @+1 {{'graph.weight' op references @window, which is not a declared graph.param}}
  %0 = graph.weight @window : tensor<32x128xf32>
  return %0 : tensor<32x128xf32>
}

// -----

graph.param @"wq.weight" : tensor<128x256xf8E4M3FN>

func.func @weight_type_mismatch() -> tensor<128x256xbf16> {
  // expected-error @+1 {{'graph.weight' op result type 'tensor<128x256xbf16>' does not match parameter @wq.weight of type 'tensor<128x256xf8E4M3FN>'}}
  %0 = graph.weight @"wq.weight" : tensor<128x256xbf16>
  return %0 : tensor<128x256xbf16>
}

// -----

graph.param @p : tensor<8x4xf32>

func.func @weight_shape_mismatch() -> tensor<4x8xf32> {
  // expected-error @+1 {{'graph.weight' op result type 'tensor<4x8xf32>' does not match parameter @p of type 'tensor<8x4xf32>'}}
  %0 = graph.weight @p : tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

//===----------------------------------------------------------------------===//
// graph.positions
//===----------------------------------------------------------------------===//

func.func @positions_tokens_rank(%tokens: tensor<1x?xi32>, %start: index) {
  // expected-error @+1 {{'graph.positions' op tokens must have shape [?], got 'tensor<1x?xi32>'}}
  %0 = graph.positions %tokens, %start : tensor<1x?xi32> -> tensor<?xi64>
  return
}

// -----

func.func @positions_result_shape(%tokens: tensor<4xi32>, %start: index) {
  // expected-error @+1 {{'graph.positions' op result must have shape [4], got 'tensor<5xi64>'}}
  %0 = graph.positions %tokens, %start : tensor<4xi32> -> tensor<5xi64>
  return
}

// -----

func.func @positions_result_i32(%tokens: tensor<?xi32>, %start: index) {
  // expected-error @+1 {{'graph.positions' op result #0 must be ranked tensor of 64-bit signless integer values, but got 'tensor<?xi32>'}}
  %0 = graph.positions %tokens, %start : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.embedding
//===----------------------------------------------------------------------===//

func.func @embedding_table_rank(%table: tensor<512xbf16>, %tokens: tensor<?xi32>) {
  // expected-error @+1 {{'graph.embedding' op table must have shape [?, ?], got 'tensor<512xbf16>'}}
  %0 = graph.embedding %table, %tokens : tensor<512xbf16>, tensor<?xi32> -> tensor<?x64xf32>
  return
}

// -----

func.func @embedding_tokens_rank(%table: tensor<512x64xbf16>, %tokens: tensor<?x1xi32>) {
  // expected-error @+1 {{'graph.embedding' op tokens must have shape [?], got 'tensor<?x1xi32>'}}
  %0 = graph.embedding %table, %tokens : tensor<512x64xbf16>, tensor<?x1xi32> -> tensor<?x64xf32>
  return
}

// -----

func.func @embedding_result_width(%table: tensor<512x64xbf16>, %tokens: tensor<?xi32>) {
  // expected-error @+1 {{'graph.embedding' op result must have shape [?, 64], got 'tensor<?x32xf32>'}}
  %0 = graph.embedding %table, %tokens : tensor<512x64xbf16>, tensor<?xi32> -> tensor<?x32xf32>
  return
}

// -----

func.func @embedding_result_tokens(%table: tensor<512x64xbf16>, %tokens: tensor<3xi32>) {
  // expected-error @+1 {{'graph.embedding' op result must have shape [3, 64], got 'tensor<4x64xf32>'}}
  %0 = graph.embedding %table, %tokens : tensor<512x64xbf16>, tensor<3xi32> -> tensor<4x64xf32>
  return
}

// -----

func.func @embedding_fp8_table(%table: tensor<512x64xf8E4M3FN>, %tokens: tensor<?xi32>) {
  // expected-error @+1 {{'graph.embedding' op operand #0 must be ranked tensor of bfloat16 type or 32-bit float values, but got 'tensor<512x64xf8E4M3FN>'}}
  %0 = graph.embedding %table, %tokens : tensor<512x64xf8E4M3FN>, tensor<?xi32> -> tensor<?x64xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.rms_norm
//===----------------------------------------------------------------------===//

func.func @rms_norm_result_type(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'graph.rms_norm' op result type must equal the input type}}
  %0 = graph.rms_norm %x {eps = 0.125 : f64} : tensor<?x64xf32> -> tensor<4x64xf32>
  return
}

// -----

func.func @rms_norm_zero_eps(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'graph.rms_norm' op eps must be positive}}
  %0 = graph.rms_norm %x {eps = 0.0 : f64} : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @rms_norm_negative_eps(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'graph.rms_norm' op eps must be positive}}
  %0 = graph.rms_norm %x {eps = -1.0 : f64} : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @rms_norm_weight_shape(%x: tensor<?x64xf32>, %w: tensor<32xbf16>) {
  // expected-error @+1 {{'graph.rms_norm' op weight must have shape [64], got 'tensor<32xbf16>'}}
  %0 = graph.rms_norm %x, %w {eps = 0.125 : f64} : tensor<?x64xf32>, tensor<32xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @rms_norm_weight_rank(%x: tensor<?x64xf32>, %w: tensor<1x64xbf16>) {
  // expected-error @+1 {{'graph.rms_norm' op weight must have shape [64], got 'tensor<1x64xbf16>'}}
  %0 = graph.rms_norm %x, %w {eps = 0.125 : f64} : tensor<?x64xf32>, tensor<1x64xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @rms_norm_bf16_input(%x: tensor<?x64xbf16>) {
  // expected-error @+1 {{'graph.rms_norm' op operand #0 must be ranked tensor of 32-bit float values, but got 'tensor<?x64xbf16>'}}
  %0 = graph.rms_norm %x {eps = 0.125 : f64} : tensor<?x64xbf16> -> tensor<?x64xbf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.rope and #graph.rope
//===----------------------------------------------------------------------===//

func.func @rope_result_type(%x: tensor<?x128xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.rope' op result type must equal the input type}}
  %0 = graph.rope %x, %pos {rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<?x128xf32>, tensor<?xi64> -> tensor<?x64xf32>
  return
}

// -----

func.func @rope_rank0(%x: tensor<f32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.rope' op input must have rank >= 2 ([tokens, ..., channels]), got 'tensor<f32>'}}
  %0 = graph.rope %x, %pos {rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<f32>, tensor<?xi64> -> tensor<f32>
  return
}

// -----

func.func @rope_dim_exceeds(%x: tensor<?x4x32xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.rope' op rope dim 64 exceeds the last dim 32}}
  %0 = graph.rope %x, %pos {rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<?x4x32xf32>, tensor<?xi64> -> tensor<?x4x32xf32>
  return
}

// -----

func.func @rope_positions_shape(%x: tensor<3x128xf32>, %pos: tensor<4xi64>) {
  // expected-error @+1 {{'graph.rope' op positions must have shape [3], got 'tensor<4xi64>'}}
  %0 = graph.rope %x, %pos {rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<3x128xf32>, tensor<4xi64> -> tensor<3x128xf32>
  return
}

// -----

func.func @rope_positions_rank(%x: tensor<?x128xf32>, %pos: tensor<?x1xi64>) {
  // expected-error @+1 {{'graph.rope' op positions must have shape [?], got 'tensor<?x1xi64>'}}
  %0 = graph.rope %x, %pos {rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<?x128xf32>, tensor<?x1xi64> -> tensor<?x128xf32>
  return
}

// -----

func.func @rope_positions_i32(%x: tensor<?x128xf32>, %pos: tensor<?xi32>) {
  // expected-error @+1 {{'graph.rope' op operand #1 must be ranked tensor of 64-bit signless integer values, but got 'tensor<?xi32>'}}
  %0 = graph.rope %x, %pos {rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<?x128xf32>, tensor<?xi32> -> tensor<?x128xf32>
  return
}

// -----

func.func @rope_missing_attr(%x: tensor<?x128xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.rope' op requires attribute 'rope'}}
  %0 = graph.rope %x, %pos : tensor<?x128xf32>, tensor<?xi64> -> tensor<?x128xf32>
  return
}

// -----

// expected-error @+1 {{rope dim must be positive and even, got 63}}
func.func private @rope_attr_odd_dim() attributes {rope = #graph.rope<dim = 63, theta = 1.0e+04>}

// -----

// expected-error @+1 {{rope dim must be positive and even, got 0}}
func.func private @rope_attr_zero_dim() attributes {rope = #graph.rope<dim = 0, theta = 1.0e+04>}

// -----

// expected-error @+1 {{rope dim must be positive and even, got -2}}
func.func private @rope_attr_negative_dim() attributes {rope = #graph.rope<dim = -2, theta = 1.0e+04>}

// -----

// expected-error @+1 {{rope theta must be > 1, got 1.000000e+00}}
func.func private @rope_attr_theta_one() attributes {rope = #graph.rope<dim = 64, theta = 1.0>}

// -----

// expected-error @+1 {{rope theta must be > 1, got -1.000000e+04}}
func.func private @rope_attr_theta_negative() attributes {rope = #graph.rope<dim = 64, theta = -1.0e+04>}

// -----

// expected-error @+1 {{yarn_factor must be >= 1 and yarn_original >= 0}}
func.func private @rope_attr_yarn_factor() attributes {rope = #graph.rope<dim = 64, theta = 1.0e+04, yarn_factor = 0.5, yarn_original = 4096, yarn_beta = [32.0, 1.0]>}

// -----

// expected-error @+1 {{yarn_factor must be >= 1 and yarn_original >= 0}}
func.func private @rope_attr_yarn_original() attributes {rope = #graph.rope<dim = 64, theta = 1.0e+04, yarn_factor = 4.0, yarn_original = -1, yarn_beta = [32.0, 1.0]>}

// -----

// expected-error @+1 {{yarn_beta values must be positive}}
func.func private @rope_attr_beta_fast() attributes {rope = #graph.rope<dim = 64, theta = 1.0e+04, yarn_factor = 4.0, yarn_original = 4096, yarn_beta = [0.0, 1.0]>}

// -----

// expected-error @+1 {{yarn_beta values must be positive}}
func.func private @rope_attr_beta_slow() attributes {rope = #graph.rope<dim = 64, theta = 1.0e+04, yarn_factor = 4.0, yarn_original = 4096, yarn_beta = [32.0, -1.0]>}

// -----

// The yarn parameters come all together or not at all.
// expected-error @+1 {{expected 'yarn_factor'}}
func.func private @rope_attr_partial_yarn() attributes {rope = #graph.rope<dim = 64, theta = 1.0e+04, yarn_original = 4096>}

// -----

//===----------------------------------------------------------------------===//
// graph.hc_expand
//===----------------------------------------------------------------------===//

func.func @hc_expand_input_rank(%x: tensor<?x4x64xf32>) {
  // expected-error @+1 {{'graph.hc_expand' op input must have shape [?, ?], got 'tensor<?x4x64xf32>'}}
  %0 = graph.hc_expand %x : tensor<?x4x64xf32> -> tensor<?x4x64xf32>
  return
}

// -----

func.func @hc_expand_result_rank(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'graph.hc_expand' op result must have shape [?, ?, ?], got 'tensor<?x256xf32>'}}
  %0 = graph.hc_expand %x : tensor<?x64xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @hc_expand_result_width(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'graph.hc_expand' op result must have shape [?, ?, 64], got 'tensor<?x4x32xf32>'}}
  %0 = graph.hc_expand %x : tensor<?x64xf32> -> tensor<?x4x32xf32>
  return
}

// -----

func.func @hc_expand_result_tokens(%x: tensor<2x64xf32>) {
  // expected-error @+1 {{'graph.hc_expand' op result must have shape [2, ?, 64], got 'tensor<3x4x64xf32>'}}
  %0 = graph.hc_expand %x : tensor<2x64xf32> -> tensor<3x4x64xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.hc_pre
//===----------------------------------------------------------------------===//

func.func @hc_pre_streams_rank(%s: tensor<?x64xf32>, %fn: tensor<24x256xf32>, %base: tensor<24xf32>, %scale: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op streams must have shape [?, ?, ?], got 'tensor<?x64xf32>'}}
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  return
}

// -----

// fn must be [(2+n)n, nD] = [24, 256]; [24, 64] forgets the n streams.
func.func @hc_pre_fn_shape(%s: tensor<?x4x64xf32>, %fn: tensor<24x64xf32>, %base: tensor<24xf32>, %scale: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op fn must have shape [24, 256], got 'tensor<24x64xf32>'}}
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x4x64xf32>, tensor<24x64xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  return
}

// -----

// hc_head's fn shape [n, nD] is not hc_pre's.
func.func @hc_pre_fn_mixes(%s: tensor<?x4x64xf32>, %fn: tensor<4x256xf32>, %base: tensor<24xf32>, %scale: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op fn must have shape [24, 256], got 'tensor<4x256xf32>'}}
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x4x64xf32>, tensor<4x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  return
}

// -----

func.func @hc_pre_base_shape(%s: tensor<?x4x64xf32>, %fn: tensor<24x256xf32>, %base: tensor<4xf32>, %scale: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op base must have shape [24], got 'tensor<4xf32>'}}
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<4xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  return
}

// -----

func.func @hc_pre_scale_shape(%s: tensor<?x4x64xf32>, %fn: tensor<24x256xf32>, %base: tensor<24xf32>, %scale: tensor<1xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op scale must have shape [3], got 'tensor<1xf32>'}}
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<1xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  return
}

// -----

func.func @hc_pre_sinkhorn_iters(%s: tensor<?x4x64xf32>, %fn: tensor<24x256xf32>, %base: tensor<24xf32>, %scale: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op sinkhorn_iters must be >= 1}}
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 0 : i64}
      : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  return
}

// -----

func.func @hc_pre_y_shape(%s: tensor<?x4x64xf32>, %fn: tensor<24x256xf32>, %base: tensor<24xf32>, %scale: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op y must have shape [?, 64], got 'tensor<?x256xf32>'}}
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x256xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  return
}

// -----

func.func @hc_pre_post_shape(%s: tensor<?x4x64xf32>, %fn: tensor<24x256xf32>, %base: tensor<24xf32>, %scale: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op post must have shape [?, 4], got 'tensor<?x4x1xf32>'}}
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4x1xf32>, tensor<?x4x4xf32>
  return
}

// -----

func.func @hc_pre_comb_shape(%s: tensor<2x4x64xf32>, %fn: tensor<24x256xf32>, %base: tensor<24xf32>, %scale: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op comb must have shape [2, 4, 4], got 'tensor<2x16xf32>'}}
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64, sinkhorn_iters = 20 : i64}
      : tensor<2x4x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<2x64xf32>, tensor<2x4xf32>, tensor<2x16xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.hc_post
//===----------------------------------------------------------------------===//

func.func @hc_post_streams_rank(%f: tensor<?x64xf32>, %s: tensor<?x256xf32>, %post: tensor<?x4xf32>, %comb: tensor<?x4x4xf32>) {
  // expected-error @+1 {{'graph.hc_post' op streams must have shape [?, ?, ?], got 'tensor<?x256xf32>'}}
  %0 = graph.hc_post %f, %s, %post, %comb : tensor<?x64xf32>, tensor<?x256xf32>, tensor<?x4xf32>, tensor<?x4x4xf32> -> tensor<?x4x64xf32>
  return
}

// -----

func.func @hc_post_sublayer_out(%f: tensor<?x128xf32>, %s: tensor<?x4x64xf32>, %post: tensor<?x4xf32>, %comb: tensor<?x4x4xf32>) {
  // expected-error @+1 {{'graph.hc_post' op sublayer_out must have shape [?, 64], got 'tensor<?x128xf32>'}}
  %0 = graph.hc_post %f, %s, %post, %comb : tensor<?x128xf32>, tensor<?x4x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32> -> tensor<?x4x64xf32>
  return
}

// -----

func.func @hc_post_post_shape(%f: tensor<?x64xf32>, %s: tensor<?x4x64xf32>, %post: tensor<?x2xf32>, %comb: tensor<?x4x4xf32>) {
  // expected-error @+1 {{'graph.hc_post' op post must have shape [?, 4], got 'tensor<?x2xf32>'}}
  %0 = graph.hc_post %f, %s, %post, %comb : tensor<?x64xf32>, tensor<?x4x64xf32>, tensor<?x2xf32>, tensor<?x4x4xf32> -> tensor<?x4x64xf32>
  return
}

// -----

func.func @hc_post_comb_shape(%f: tensor<?x64xf32>, %s: tensor<?x4x64xf32>, %post: tensor<?x4xf32>, %comb: tensor<?x4x2xf32>) {
  // expected-error @+1 {{'graph.hc_post' op comb must have shape [?, 4, 4], got 'tensor<?x4x2xf32>'}}
  %0 = graph.hc_post %f, %s, %post, %comb : tensor<?x64xf32>, tensor<?x4x64xf32>, tensor<?x4xf32>, tensor<?x4x2xf32> -> tensor<?x4x64xf32>
  return
}

// -----

func.func @hc_post_result_shape(%f: tensor<5x64xf32>, %s: tensor<5x4x64xf32>, %post: tensor<5x4xf32>, %comb: tensor<5x4x4xf32>) {
  // expected-error @+1 {{'graph.hc_post' op result must have shape [5, 4, 64], got 'tensor<5x64xf32>'}}
  %0 = graph.hc_post %f, %s, %post, %comb : tensor<5x64xf32>, tensor<5x4x64xf32>, tensor<5x4xf32>, tensor<5x4x4xf32> -> tensor<5x64xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.hc_head
//===----------------------------------------------------------------------===//

func.func @hc_head_streams_rank(%s: tensor<?x64xf32>, %fn: tensor<4x256xf32>, %base: tensor<4xf32>, %scale: tensor<1xf32>) {
  // expected-error @+1 {{'graph.hc_head' op streams must have shape [?, ?, ?], got 'tensor<?x64xf32>'}}
  %0 = graph.hc_head %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64}
      : tensor<?x64xf32>, tensor<4x256xf32>, tensor<4xf32>, tensor<1xf32> -> tensor<?x64xf32>
  return
}

// -----

// hc_pre's fn shape [(2+n)n, nD] is not hc_head's [n, nD].
func.func @hc_head_fn_shape(%s: tensor<?x4x64xf32>, %fn: tensor<24x256xf32>, %base: tensor<4xf32>, %scale: tensor<1xf32>) {
  // expected-error @+1 {{'graph.hc_head' op fn must have shape [4, 256], got 'tensor<24x256xf32>'}}
  %0 = graph.hc_head %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64}
      : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<4xf32>, tensor<1xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @hc_head_base_shape(%s: tensor<?x4x64xf32>, %fn: tensor<4x256xf32>, %base: tensor<24xf32>, %scale: tensor<1xf32>) {
  // expected-error @+1 {{'graph.hc_head' op base must have shape [4], got 'tensor<24xf32>'}}
  %0 = graph.hc_head %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64}
      : tensor<?x4x64xf32>, tensor<4x256xf32>, tensor<24xf32>, tensor<1xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @hc_head_scale_shape(%s: tensor<?x4x64xf32>, %fn: tensor<4x256xf32>, %base: tensor<4xf32>, %scale: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_head' op scale must have shape [1], got 'tensor<3xf32>'}}
  %0 = graph.hc_head %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64}
      : tensor<?x4x64xf32>, tensor<4x256xf32>, tensor<4xf32>, tensor<3xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @hc_head_result_shape(%s: tensor<?x4x64xf32>, %fn: tensor<4x256xf32>, %base: tensor<4xf32>, %scale: tensor<1xf32>) {
  // expected-error @+1 {{'graph.hc_head' op result must have shape [?, 64], got 'tensor<?x4x64xf32>'}}
  %0 = graph.hc_head %s, %fn, %base, %scale {hc_eps = 0.125 : f64, norm_eps = 0.125 : f64}
      : tensor<?x4x64xf32>, tensor<4x256xf32>, tensor<4xf32>, tensor<1xf32> -> tensor<?x4x64xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.linear
//===----------------------------------------------------------------------===//

func.func @linear_weight_rank(%x: tensor<?x64xf32>, %w: tensor<8x128x64xbf16>) {
  // expected-error @+1 {{'graph.linear' op weight must have shape [?, ?], got 'tensor<8x128x64xbf16>'}}
  %0 = graph.linear %x, %w : tensor<?x64xf32>, tensor<8x128x64xbf16> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_fp8_no_scale(%x: tensor<?x256xf32>, %w: tensor<128x256xf8E4M3FN>) {
  // expected-error @+1 {{'graph.linear' op linear weight is f8E4M3FN and needs a block scale}}
  %0 = graph.linear %x, %w : tensor<?x256xf32>, tensor<128x256xf8E4M3FN> -> tensor<?x128xf32>
  return
}

// -----

// 300 rows need ⌈300/128⌉ = 3 scale rows.
func.func @linear_fp8_scale_shape(%x: tensor<?x256xf32>, %w: tensor<300x256xf8E4M3FN>, %s: tensor<2x2xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.linear' op linear scale must have shape [3, 2], got 'tensor<2x2xf8E8M0FNU>'}}
  %0 = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<300x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x300xf32>
  return
}

// -----

func.func @linear_fp8_scale_rank(%x: tensor<?x256xf32>, %w: tensor<128x256xf8E4M3FN>, %s: tensor<2xf32>) {
  // expected-error @+1 {{'graph.linear' op linear scale must have shape [1, 2], got 'tensor<2xf32>'}}
  %0 = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<128x256xf8E4M3FN>, tensor<2xf32> -> tensor<?x128xf32>
  return
}

// -----

// With block [64, 32] the scale of a [128, 256] weight is [2, 8], not the default [1, 2].
func.func @linear_fp8_block_scale_shape(%x: tensor<?x256xf32>, %w: tensor<128x256xf8E4M3FN>, %s: tensor<1x2xf32>) {
  // expected-error @+1 {{'graph.linear' op linear scale must have shape [2, 8], got 'tensor<1x2xf32>'}}
  %0 = graph.linear %x, %w, %s {block = array<i64: 64, 32>} : tensor<?x256xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_fp8_block_size(%x: tensor<?x256xf32>, %w: tensor<128x256xf8E4M3FN>, %s: tensor<1x2xf32>) {
  // expected-error @+1 {{'graph.linear' op linear block must be two positive sizes}}
  %0 = graph.linear %x, %w, %s {block = array<i64: 128>} : tensor<?x256xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_fp8_block_zero(%x: tensor<?x256xf32>, %w: tensor<128x256xf8E4M3FN>, %s: tensor<1x2xf32>) {
  // expected-error @+1 {{'graph.linear' op linear block must be two positive sizes}}
  %0 = graph.linear %x, %w, %s {block = array<i64: 0, 128>} : tensor<?x256xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_fp8_block_negative(%x: tensor<?x256xf32>, %w: tensor<128x256xf8E4M3FN>, %s: tensor<1x2xf32>) {
  // expected-error @+1 {{'graph.linear' op linear block must be two positive sizes}}
  %0 = graph.linear %x, %w, %s {block = array<i64: 128, -128>} : tensor<?x256xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_bf16_block(%x: tensor<?x256xf32>, %w: tensor<128x256xbf16>) {
  // expected-error @+1 {{'graph.linear' op linear block is only meaningful for f8E4M3FN weights}}
  %0 = graph.linear %x, %w {block = array<i64: 128, 128>} : tensor<?x256xf32>, tensor<128x256xbf16> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_fp4_block(%x: tensor<?x256xf32>, %w: tensor<128x256xf4E2M1FN>, %s: tensor<128x8xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.linear' op linear block is only meaningful for f8E4M3FN weights}}
  %0 = graph.linear %x, %w, %s {block = array<i64: 1, 32>} : tensor<?x256xf32>, tensor<128x256xf4E2M1FN>, tensor<128x8xf8E8M0FNU> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_fp4_no_scale(%x: tensor<?x256xf32>, %w: tensor<128x256xf4E2M1FN>) {
  // expected-error @+1 {{'graph.linear' op linear weight is f4E2M1FN and needs an f8E8M0FNU scale per 32 inputs}}
  %0 = graph.linear %x, %w : tensor<?x256xf32>, tensor<128x256xf4E2M1FN> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_fp4_f32_scale(%x: tensor<?x256xf32>, %w: tensor<128x256xf4E2M1FN>, %s: tensor<128x8xf32>) {
  // expected-error @+1 {{'graph.linear' op linear weight is f4E2M1FN and needs an f8E8M0FNU scale per 32 inputs}}
  %0 = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<128x256xf4E2M1FN>, tensor<128x8xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_fp4_k_not_multiple_of_32(%x: tensor<?x48xf32>, %w: tensor<128x48xf4E2M1FN>, %s: tensor<128x2xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.linear' op linear f4E2M1FN weight needs K divisible by 32, got 48}}
  %0 = graph.linear %x, %w, %s : tensor<?x48xf32>, tensor<128x48xf4E2M1FN>, tensor<128x2xf8E8M0FNU> -> tensor<?x128xf32>
  return
}

// -----

// FP4 scales are per row and per 32 inputs, not per 128x128 block.
func.func @linear_fp4_scale_shape(%x: tensor<?x256xf32>, %w: tensor<128x256xf4E2M1FN>, %s: tensor<1x2xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.linear' op linear scale must have shape [128, 8], got 'tensor<1x2xf8E8M0FNU>'}}
  %0 = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<128x256xf4E2M1FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_bf16_with_scale(%x: tensor<?x256xf32>, %w: tensor<128x256xbf16>, %s: tensor<1x2xf32>) {
  // expected-error @+1 {{'graph.linear' op linear weight of type 'bf16' takes no scale}}
  %0 = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<128x256xbf16>, tensor<1x2xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_f32_with_scale(%x: tensor<?x256xf32>, %w: tensor<128x256xf32>, %s: tensor<1x2xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.linear' op linear weight of type 'f32' takes no scale}}
  %0 = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<128x256xf32>, tensor<1x2xf8E8M0FNU> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_rank0_input(%x: tensor<f32>, %w: tensor<128x256xbf16>) {
  // expected-error @+1 {{'graph.linear' op input must have rank >= 1}}
  %0 = graph.linear %x, %w : tensor<f32>, tensor<128x256xbf16> -> tensor<128xf32>
  return
}

// -----

func.func @linear_k_mismatch(%x: tensor<?x128xf32>, %w: tensor<128x256xbf16>) {
  // expected-error @+1 {{'graph.linear' op input has 128 features but the weight expects 256}}
  %0 = graph.linear %x, %w : tensor<?x128xf32>, tensor<128x256xbf16> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_result_shape(%x: tensor<?x256xf32>, %w: tensor<128x256xbf16>) {
  // expected-error @+1 {{'graph.linear' op result must have shape [?, 128], got 'tensor<?x256xf32>'}}
  %0 = graph.linear %x, %w : tensor<?x256xf32>, tensor<128x256xbf16> -> tensor<?x256xf32>
  return
}

// -----

func.func @linear_result_rank(%x: tensor<?x4x256xf32>, %w: tensor<128x256xbf16>) {
  // expected-error @+1 {{'graph.linear' op result must have shape [?, 4, 128], got 'tensor<?x128xf32>'}}
  %0 = graph.linear %x, %w : tensor<?x4x256xf32>, tensor<128x256xbf16> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_i8_weight(%x: tensor<?x256xf32>, %w: tensor<128x256xi8>) {
  // expected-error @+1 {{'graph.linear' op operand #1 must be ranked tensor of bfloat16 type or 32-bit float or f8E4M3FN type or f4E2M1FN type values, but got 'tensor<128x256xi8>'}}
  %0 = graph.linear %x, %w : tensor<?x256xf32>, tensor<128x256xi8> -> tensor<?x128xf32>
  return
}

// -----

func.func @linear_bf16_scale(%x: tensor<?x256xf32>, %w: tensor<128x256xf8E4M3FN>, %s: tensor<1x2xbf16>) {
  // expected-error @+1 {{'graph.linear' op operand #2 must be ranked tensor of f8E8M0FNU type or 32-bit float values, but got 'tensor<1x2xbf16>'}}
  %0 = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xbf16> -> tensor<?x128xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.grouped_linear
//===----------------------------------------------------------------------===//

func.func @grouped_linear_weight_rank(%x: tensor<?x512xf32>, %w: tensor<2x128x256xbf16>) {
  // expected-error @+1 {{'graph.grouped_linear' op weight must have shape [?, ?], got 'tensor<2x128x256xbf16>'}}
  %0 = graph.grouped_linear %x, %w {groups = 2 : i64} : tensor<?x512xf32>, tensor<2x128x256xbf16> -> tensor<?x256xf32>
  return
}

// -----

func.func @grouped_linear_input_rank(%x: tensor<?x2x256xf32>, %w: tensor<256x256xbf16>) {
  // expected-error @+1 {{'graph.grouped_linear' op input must have shape [?, ?], got 'tensor<?x2x256xf32>'}}
  %0 = graph.grouped_linear %x, %w {groups = 2 : i64} : tensor<?x2x256xf32>, tensor<256x256xbf16> -> tensor<?x256xf32>
  return
}

// -----

func.func @grouped_linear_fp8_no_scale(%x: tensor<?x512xf32>, %w: tensor<256x256xf8E4M3FN>) {
  // expected-error @+1 {{'graph.grouped_linear' op grouped_linear weight is f8E4M3FN and needs a block scale}}
  %0 = graph.grouped_linear %x, %w {groups = 2 : i64} : tensor<?x512xf32>, tensor<256x256xf8E4M3FN> -> tensor<?x256xf32>
  return
}

// -----

func.func @grouped_linear_scale_shape(%x: tensor<?x512xf32>, %w: tensor<256x256xf8E4M3FN>, %s: tensor<1x2xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.grouped_linear' op grouped_linear scale must have shape [2, 2], got 'tensor<1x2xf8E8M0FNU>'}}
  %0 = graph.grouped_linear %x, %w, %s {groups = 2 : i64} : tensor<?x512xf32>, tensor<256x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x256xf32>
  return
}

// -----

func.func @grouped_linear_bf16_block(%x: tensor<?x512xf32>, %w: tensor<256x256xbf16>) {
  // expected-error @+1 {{'graph.grouped_linear' op grouped_linear block is only meaningful for f8E4M3FN weights}}
  %0 = graph.grouped_linear %x, %w {block = array<i64: 128, 128>, groups = 2 : i64} : tensor<?x512xf32>, tensor<256x256xbf16> -> tensor<?x256xf32>
  return
}

// -----

func.func @grouped_linear_zero_groups(%x: tensor<?x512xf32>, %w: tensor<256x256xbf16>) {
  // expected-error @+1 {{'graph.grouped_linear' op weight rows 256 must split into 0 groups}}
  %0 = graph.grouped_linear %x, %w {groups = 0 : i64} : tensor<?x512xf32>, tensor<256x256xbf16> -> tensor<?x256xf32>
  return
}

// -----

func.func @grouped_linear_groups_not_dividing(%x: tensor<?x768xf32>, %w: tensor<256x256xbf16>) {
  // expected-error @+1 {{'graph.grouped_linear' op weight rows 256 must split into 3 groups}}
  %0 = graph.grouped_linear %x, %w {groups = 3 : i64} : tensor<?x768xf32>, tensor<256x256xbf16> -> tensor<?x256xf32>
  return
}

// -----

func.func @grouped_linear_input_width(%x: tensor<?x256xf32>, %w: tensor<256x256xbf16>) {
  // expected-error @+1 {{'graph.grouped_linear' op input width 256 must be groups x 256 = 512}}
  %0 = graph.grouped_linear %x, %w {groups = 2 : i64} : tensor<?x256xf32>, tensor<256x256xbf16> -> tensor<?x256xf32>
  return
}

// -----

func.func @grouped_linear_result_shape(%x: tensor<?x512xf32>, %w: tensor<256x256xbf16>) {
  // expected-error @+1 {{'graph.grouped_linear' op result must have shape [?, 256], got 'tensor<?x128xf32>'}}
  %0 = graph.grouped_linear %x, %w {groups = 2 : i64} : tensor<?x512xf32>, tensor<256x256xbf16> -> tensor<?x128xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.qat
//===----------------------------------------------------------------------===//

func.func @qat_result_type(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.qat' op result type must equal the input type}}
  %0 = graph.qat %x {dims = 64 : i64, format = f8E4M3FN, group_size = 64 : i64} : tensor<?x128xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @qat_bf16_format(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.qat' op format must be f8E4M3FN or f4E2M1FN, got 'bf16'}}
  %0 = graph.qat %x {dims = 64 : i64, format = bf16, group_size = 64 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @qat_e5m2_format(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.qat' op format must be f8E4M3FN or f4E2M1FN, got 'f8E5M2'}}
  %0 = graph.qat %x {dims = 64 : i64, format = f8E5M2, group_size = 64 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @qat_dims_not_multiple(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.qat' op dims (96) must be a positive multiple of group_size (64)}}
  %0 = graph.qat %x {dims = 96 : i64, format = f8E4M3FN, group_size = 64 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @qat_zero_group(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.qat' op dims (64) must be a positive multiple of group_size (0)}}
  %0 = graph.qat %x {dims = 64 : i64, format = f8E4M3FN, group_size = 0 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @qat_zero_dims(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.qat' op dims (0) must be a positive multiple of group_size (32)}}
  %0 = graph.qat %x {dims = 0 : i64, format = f4E2M1FN, group_size = 32 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @qat_dims_exceed(%x: tensor<?x4x128xf32>) {
  // expected-error @+1 {{'graph.qat' op dims 256 exceed the last dim 128}}
  %0 = graph.qat %x {dims = 256 : i64, format = f4E2M1FN, group_size = 32 : i64} : tensor<?x4x128xf32> -> tensor<?x4x128xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.hadamard
//===----------------------------------------------------------------------===//

func.func @hadamard_result_type(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.hadamard' op result type must equal the input type}}
  %0 = graph.hadamard %x : tensor<?x128xf32> -> tensor<4x128xf32>
  return
}

// -----

func.func @hadamard_not_power_of_two(%x: tensor<?x96xf32>) {
  // expected-error @+1 {{'graph.hadamard' op last dim must be a static power of two, got 'tensor<?x96xf32>'}}
  %0 = graph.hadamard %x : tensor<?x96xf32> -> tensor<?x96xf32>
  return
}

// -----

func.func @hadamard_dynamic_last(%x: tensor<4x?xf32>) {
  // expected-error @+1 {{'graph.hadamard' op last dim must be a static power of two, got 'tensor<4x?xf32>'}}
  %0 = graph.hadamard %x : tensor<4x?xf32> -> tensor<4x?xf32>
  return
}

// -----

func.func @hadamard_zero_last(%x: tensor<4x0xf32>) {
  // expected-error @+1 {{'graph.hadamard' op last dim must be a static power of two, got 'tensor<4x0xf32>'}}
  %0 = graph.hadamard %x : tensor<4x0xf32> -> tensor<4x0xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.swiglu
//===----------------------------------------------------------------------===//

func.func @swiglu_type_mismatch(%g: tensor<?x128xf32>, %u: tensor<?x64xf32>) {
  // expected-error @+1 {{'graph.swiglu' op gate, up and result must have the same type}}
  %0 = graph.swiglu %g, %u {limit = 10.0 : f64} : tensor<?x128xf32>, tensor<?x64xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @swiglu_result_mismatch(%g: tensor<?x128xf32>, %u: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.swiglu' op gate, up and result must have the same type}}
  %0 = graph.swiglu %g, %u {limit = 10.0 : f64} : tensor<?x128xf32>, tensor<?x128xf32> -> tensor<3x128xf32>
  return
}

// -----

func.func @swiglu_negative_limit(%g: tensor<?x128xf32>, %u: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.swiglu' op limit must be >= 0 (0 disables the clamp)}}
  %0 = graph.swiglu %g, %u {limit = -1.0 : f64} : tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.compressor
//===----------------------------------------------------------------------===//

graph.state @pending compressor_pending : tensor<2x4x128xf32>

func.func @compressor_input_rank(%x: tensor<?x1x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xbf16>, %ape: tensor<4x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op input must have shape [?, ?], got 'tensor<?x1x64xf32>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {ratio = 4 : i64}
      : tensor<?x1x64xf32>, tensor<?xi64>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<4x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

graph.state @pending compressor_pending : tensor<2x4x128xf32>

func.func @compressor_wkv_rank(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<2x64x64xbf16>, %wg: tensor<128x64xbf16>, %ape: tensor<4x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op wkv must have shape [?, ?], got 'tensor<2x64x64xbf16>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wg, %ape) {ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<2x64x64xbf16>, tensor<128x64xbf16>, tensor<4x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

graph.state @pending compressor_pending : tensor<2x1x128xf32>

func.func @compressor_ratio_one(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xbf16>, %ape: tensor<1x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op ratio must be >= 2, got 1}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {ratio = 1 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<1x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

graph.state @pending compressor_pending : tensor<2x8x127xf32>

func.func @compressor_overlap_odd_width(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<127x64xbf16>, %ape: tensor<4x127xf32>) {
  // expected-error @+1 {{'graph.compressor' op overlapping compressor needs an even wkv width, got 127}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {overlap, ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<127x64xbf16>, tensor<127x64xbf16>, tensor<4x127xf32> -> tensor<?x63xf32>, tensor<?xi64>
  return
}

// -----

graph.state @pending compressor_pending : tensor<2x4x128xf32>

func.func @compressor_positions(%x: tensor<3x64xf32>, %pos: tensor<4xi64>, %wkv: tensor<128x64xbf16>, %ape: tensor<4x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op positions must have shape [3], got 'tensor<4xi64>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {ratio = 4 : i64}
      : tensor<3x64xf32>, tensor<4xi64>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<4x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

graph.state @pending compressor_pending : tensor<2x4x128xf32>

func.func @compressor_wkv_width(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x32xbf16>, %wg: tensor<128x64xbf16>, %ape: tensor<4x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op wkv must have shape [128, 64], got 'tensor<128x32xbf16>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wg, %ape) {ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x32xbf16>, tensor<128x64xbf16>, tensor<4x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

graph.state @pending compressor_pending : tensor<2x4x128xf32>

func.func @compressor_wgate_shape(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xbf16>, %wg: tensor<64x64xbf16>, %ape: tensor<4x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op wgate must have shape [128, 64], got 'tensor<64x64xbf16>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wg, %ape) {ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xbf16>, tensor<64x64xbf16>, tensor<4x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

graph.state @pending compressor_pending : tensor<2x4x128xf32>

func.func @compressor_ape_shape(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xbf16>, %ape: tensor<128x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op ape must have shape [4, 128], got 'tensor<128x128xf32>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<128x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

// With overlap the entries are half the wkv width.
graph.state @pending compressor_pending : tensor<2x8x256xf32>

func.func @compressor_overlap_entries(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<256x64xbf16>, %ape: tensor<4x256xf32>) {
  // expected-error @+1 {{'graph.compressor' op entries must have shape [?, 128], got 'tensor<?x256xf32>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {overlap, ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<256x64xbf16>, tensor<256x64xbf16>, tensor<4x256xf32> -> tensor<?x256xf32>, tensor<?xi64>
  return
}

// -----

graph.state @pending compressor_pending : tensor<2x4x128xf32>

func.func @compressor_entry_positions(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xbf16>, %ape: tensor<4x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op entry_positions must have shape [2], got 'tensor<3xi64>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<4x128xf32> -> tensor<2x128xf32>, tensor<3xi64>
  return
}

// -----

func.func @compressor_missing_state(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xbf16>, %ape: tensor<4x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op references @pending, which is not a declared graph.state}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<4x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

graph.param @pending : tensor<2x4x128xf32>

func.func @compressor_param_as_state(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xbf16>, %ape: tensor<4x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op references @pending, which is not a declared graph.state}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<4x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

graph.state @cache compressed_kv : tensor<?x128xf32>

func.func @compressor_state_kind(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xbf16>, %ape: tensor<4x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op state @cache is 'compressed_kv', expected 'compressor_pending'}}
  %e, %ep = graph.compressor @cache(%x, %pos, %wkv, %wkv, %ape) {ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<4x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

// An overlapping compressor keeps two blocks pending: [2, 2·ratio, width].
graph.state @pending compressor_pending : tensor<2x4x256xf32>

func.func @compressor_pending_shape(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<256x64xbf16>, %ape: tensor<4x256xf32>) {
  // expected-error @+1 {{'graph.compressor' op pending state @pending must have shape [2, 8, 256], got 'tensor<2x4x256xf32>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {overlap, ratio = 4 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<256x64xbf16>, tensor<256x64xbf16>, tensor<4x256xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

graph.state @pending compressor_pending : tensor<2x128x64xf32>

func.func @compressor_pending_width(%x: tensor<?x64xf32>, %pos: tensor<?xi64>, %wkv: tensor<128x64xbf16>, %ape: tensor<128x128xf32>) {
  // expected-error @+1 {{'graph.compressor' op pending state @pending must have shape [2, 128, 128], got 'tensor<2x128x64xf32>'}}
  %e, %ep = graph.compressor @pending(%x, %pos, %wkv, %wkv, %ape) {ratio = 128 : i64}
      : tensor<?x64xf32>, tensor<?xi64>, tensor<128x64xbf16>, tensor<128x64xbf16>, tensor<128x128xf32> -> tensor<?x128xf32>, tensor<?xi64>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.kv_append
//===----------------------------------------------------------------------===//

graph.state @cache compressed_kv : tensor<?x128xf32>

func.func @kv_append_entries_rank(%e: tensor<?x1x128xf32>) {
  %kv_total = arith.constant 0 : index
  // expected-error @+1 {{'graph.kv_append' op entries must have shape [?, ?], got 'tensor<?x1x128xf32>'}}
  %0 = graph.kv_append @cache(%e) total %kv_total : tensor<?x1x128xf32> -> tensor<?x128xf32>
  return
}

// -----

graph.state @cache compressed_kv : tensor<?x128xf32>

func.func @kv_append_result_width(%e: tensor<?x128xf32>) {
  %kv_total = arith.constant 0 : index
  // expected-error @+1 {{'graph.kv_append' op result must have shape [?, 128], got 'tensor<?x64xf32>'}}
  %0 = graph.kv_append @cache(%e) total %kv_total : tensor<?x128xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @kv_append_missing_state(%e: tensor<?x128xf32>) {
  %kv_total = arith.constant 0 : index
  // expected-error @+1 {{'graph.kv_append' op references @cache, which is not a declared graph.state}}
  %0 = graph.kv_append @cache(%e) total %kv_total : tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @kv_append_state_kind(%e: tensor<?x128xf32>) {
  %kv_total = arith.constant 0 : index
  // expected-error @+1 {{'graph.kv_append' op state @window is 'window', expected 'compressed_kv'}}
  %0 = graph.kv_append @window(%e) total %kv_total : tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

graph.state @cache compressed_kv : tensor<?x64xf32>

func.func @kv_append_wrong_width(%e: tensor<?x128xf32>) {
  %kv_total = arith.constant 0 : index
  // expected-error @+1 {{'graph.kv_append' op cache @cache of type 'tensor<?x64xf32>' does not hold entries of 'tensor<?x128xf32>'}}
  %0 = graph.kv_append @cache(%e) total %kv_total : tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

// A compressed cache is [entries, width]: the declaration itself is rejected.
// expected-error @+1 {{'graph.state' op 'compressed_kv' state needs window: tensor<WxD>, compressed_kv: tensor<?xD>, compressor_pending: tensor<2xRxC>; got 'tensor<?x1x128xf32>'}}
graph.state @cache compressed_kv : tensor<?x1x128xf32>

// -----

//===----------------------------------------------------------------------===//
// graph.index_topk
//===----------------------------------------------------------------------===//

func.func @index_topk_queries_rank(%q: tensor<?x512xf32>, %w: tensor<?x4xf32>, %k: tensor<?x128xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.index_topk' op queries must have shape [?, ?, ?], got 'tensor<?x512xf32>'}}
  %0 = graph.index_topk %q, %w, %k, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<?x512xf32>, tensor<?x4xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x8xi32>
  return
}

// -----

func.func @index_topk_zero_topk(%q: tensor<?x4x128xf32>, %w: tensor<?x4xf32>, %k: tensor<?x128xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.index_topk' op topk, ratio and scale must be positive}}
  %0 = graph.index_topk %q, %w, %k, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 0 : i64}
      : tensor<?x4x128xf32>, tensor<?x4xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x0xi32>
  return
}

// -----

func.func @index_topk_zero_ratio(%q: tensor<?x4x128xf32>, %w: tensor<?x4xf32>, %k: tensor<?x128xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.index_topk' op topk, ratio and scale must be positive}}
  %0 = graph.index_topk %q, %w, %k, %pos {ratio = 0 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<?x4x128xf32>, tensor<?x4xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x8xi32>
  return
}

// -----

// One weight per indexer head: [T, H] = [?, 4].
func.func @index_topk_weights_shape(%q: tensor<?x4x128xf32>, %w: tensor<?x8xf32>, %k: tensor<?x128xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.index_topk' op weights must have shape [?, 4], got 'tensor<?x8xf32>'}}
  %0 = graph.index_topk %q, %w, %k, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<?x4x128xf32>, tensor<?x8xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x8xi32>
  return
}

// -----

func.func @index_topk_weights_rank(%q: tensor<?x4x128xf32>, %w: tensor<?x4x1xf32>, %k: tensor<?x128xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.index_topk' op weights must have shape [?, 4], got 'tensor<?x4x1xf32>'}}
  %0 = graph.index_topk %q, %w, %k, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<?x4x128xf32>, tensor<?x4x1xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x8xi32>
  return
}

// -----

func.func @index_topk_keys_shape(%q: tensor<?x4x128xf32>, %w: tensor<?x4xf32>, %k: tensor<?x64xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.index_topk' op keys must have shape [?, 128], got 'tensor<?x64xf32>'}}
  %0 = graph.index_topk %q, %w, %k, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<?x4x128xf32>, tensor<?x4xf32>, tensor<?x64xf32>, tensor<?xi64> -> tensor<?x8xi32>
  return
}

// -----

func.func @index_topk_positions(%q: tensor<2x4x128xf32>, %w: tensor<2x4xf32>, %k: tensor<?x128xf32>, %pos: tensor<3xi64>) {
  // expected-error @+1 {{'graph.index_topk' op positions must have shape [2], got 'tensor<3xi64>'}}
  %0 = graph.index_topk %q, %w, %k, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<2x4x128xf32>, tensor<2x4xf32>, tensor<?x128xf32>, tensor<3xi64> -> tensor<2x8xi32>
  return
}

// -----

func.func @index_topk_result_shape(%q: tensor<?x4x128xf32>, %w: tensor<?x4xf32>, %k: tensor<?x128xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.index_topk' op result must have shape [?, 8], got 'tensor<?x4xi32>'}}
  %0 = graph.index_topk %q, %w, %k, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<?x4x128xf32>, tensor<?x4xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x4xi32>
  return
}

// -----

func.func @index_topk_result_i64(%q: tensor<?x4x128xf32>, %w: tensor<?x4xf32>, %k: tensor<?x128xf32>, %pos: tensor<?xi64>) {
  // expected-error @+1 {{'graph.index_topk' op result #0 must be ranked tensor of 32-bit signless integer values, but got 'tensor<?x8xi64>'}}
  %0 = graph.index_topk %q, %w, %k, %pos {ratio = 4 : i64, scale = 0.0625 : f64, topk = 8 : i64}
      : tensor<?x4x128xf32>, tensor<?x4xf32>, tensor<?x128xf32>, tensor<?xi64> -> tensor<?x8xi64>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.sparse_attention
//===----------------------------------------------------------------------===//

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_queries_rank(%q: tensor<?x512xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op queries must have shape [?, ?, ?], got 'tensor<?x512xf32>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x512xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_zero_window(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op window must be >= 1}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 0 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

// A single KV head: kv is [T, Dh], not [T, H, Dh].
graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_kv_heads(%q: tensor<?x4x128xf32>, %kv: tensor<?x4x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op kv must have shape [?, 128], got 'tensor<?x4x128xf32>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x4x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_kv_width(%q: tensor<?x4x128xf32>, %kv: tensor<?x64xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op kv must have shape [?, 128], got 'tensor<?x64xf32>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x64xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_positions(%q: tensor<2x4x128xf32>, %kv: tensor<2x128xf32>, %pos: tensor<1xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op positions must have shape [2], got 'tensor<1xi64>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<2x4x128xf32>, tensor<2x128xf32>, tensor<1xi64>, tensor<4xf32> -> tensor<2x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_sink(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<1xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op sink must have shape [4], got 'tensor<1xf32>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<1xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_result(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op result must have shape [?, 4, 128], got 'tensor<?x512xf32>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x512xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_compressed_ratio(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>, %c: tensor<?x128xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op compressed candidates need ratio >= 2, got 0}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) compressed(%c : tensor<?x128xf32>) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_compressed_width(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>, %c: tensor<?x64xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op compressed must have shape [?, 128], got 'tensor<?x64xf32>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) compressed(%c : tensor<?x64xf32>) {ratio = 4 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_ratio_without_compressed(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op ratio 4 needs compressed entries}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 4 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_indices_without_compressed(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>, %i: tensor<?x8xi32>) {
  // expected-error @+1 {{'graph.sparse_attention' op ratio 0 with indices needs compressed entries}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) indices(%i : tensor<?x8xi32>) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_indices_shape(%q: tensor<2x4x128xf32>, %kv: tensor<2x128xf32>, %pos: tensor<2xi64>, %sink: tensor<4xf32>, %c: tensor<?x128xf32>, %i: tensor<3x8xi32>) {
  // expected-error @+1 {{'graph.sparse_attention' op indices must have shape [2, ?], got 'tensor<3x8xi32>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) compressed(%c : tensor<?x128xf32>) indices(%i : tensor<3x8xi32>)
      {ratio = 4 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<2x4x128xf32>, tensor<2x128xf32>, tensor<2xi64>, tensor<4xf32> -> tensor<2x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_indices_i64(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>, %c: tensor<?x128xf32>, %i: tensor<?x8xi64>) {
  // expected-error @+1 {{'graph.sparse_attention' op operand #5 must be ranked tensor of 32-bit signless integer values, but got 'tensor<?x8xi64>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) compressed(%c : tensor<?x128xf32>) indices(%i : tensor<?x8xi64>)
      {ratio = 4 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

func.func @sparse_attention_missing_state(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op references @window, which is not a declared graph.state}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @cache compressed_kv : tensor<?x128xf32>

func.func @sparse_attention_state_kind(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op state @cache is 'compressed_kv', expected 'window'}}
  %0 = graph.sparse_attention @cache(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x128xf32>

func.func @sparse_attention_window_length(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op window state @window must have shape [128, 128], got 'tensor<32x128xf32>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 128 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

graph.state @window window : tensor<32x64xf32>

func.func @sparse_attention_window_width(%q: tensor<?x4x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>, %sink: tensor<4xf32>) {
  // expected-error @+1 {{'graph.sparse_attention' op window state @window must have shape [32, 128], got 'tensor<32x64xf32>'}}
  %0 = graph.sparse_attention @window(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.0625 : f64, window = 32 : i64}
      : tensor<?x4x128xf32>, tensor<?x128xf32>, tensor<?xi64>, tensor<4xf32> -> tensor<?x4x128xf32>
  return
}

// -----

// A window ring has a static length; it does not grow like the compressed cache.
// expected-error @+1 {{'graph.state' op 'window' state needs window: tensor<WxD>, compressed_kv: tensor<?xD>, compressor_pending: tensor<2xRxC>; got 'tensor<?x128xf32>'}}
graph.state @window window : tensor<?x128xf32>

// -----

//===----------------------------------------------------------------------===//
// graph.moe_gate
//===----------------------------------------------------------------------===//

func.func @moe_gate_input_rank(%x: tensor<?x1x64xf32>, %g: tensor<8x64xbf16>) {
  // expected-error @+1 {{'graph.moe_gate' op input must have shape [?, ?], got 'tensor<?x1x64xf32>'}}
  %w, %e = graph.moe_gate %x, %g {route_scale = 1.5 : f64, topk = 2 : i64} : tensor<?x1x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @moe_gate_gate_rank(%x: tensor<?x64xf32>, %g: tensor<512xbf16>) {
  // expected-error @+1 {{'graph.moe_gate' op gate must have shape [?, ?], got 'tensor<512xbf16>'}}
  %w, %e = graph.moe_gate %x, %g {route_scale = 1.5 : f64, topk = 2 : i64} : tensor<?x64xf32>, tensor<512xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @moe_gate_gate_width(%x: tensor<?x64xf32>, %g: tensor<8x128xbf16>) {
  // expected-error @+1 {{'graph.moe_gate' op gate must have shape [8, 64], got 'tensor<8x128xbf16>'}}
  %w, %e = graph.moe_gate %x, %g {route_scale = 1.5 : f64, topk = 2 : i64} : tensor<?x64xf32>, tensor<8x128xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @moe_gate_topk_exceeds(%x: tensor<?x64xf32>, %g: tensor<8x64xbf16>) {
  // expected-error @+1 {{'graph.moe_gate' op topk 9 exceeds the 8 experts}}
  %w, %e = graph.moe_gate %x, %g {route_scale = 1.5 : f64, topk = 9 : i64} : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x9xf32>, tensor<?x9xi32>
  return
}

// -----

func.func @moe_gate_topk_zero(%x: tensor<?x64xf32>, %g: tensor<8x64xbf16>) {
  // expected-error @+1 {{'graph.moe_gate' op topk must be >= 1, got 0}}
  %w, %e = graph.moe_gate %x, %g {route_scale = 1.5 : f64, topk = 0 : i64} : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x0xf32>, tensor<?x0xi32>
  return
}

// -----

// The custom syntax cannot express half of a hash; the generic form can.
func.func @moe_gate_hash_without_tokens(%x: tensor<?x64xf32>, %g: tensor<8x64xbf16>, %t2e: tensor<512x2xi64>) {
  // expected-error @+1 {{'graph.moe_gate' op hash routing needs both tid2eid and tokens}}
  %w, %e = "graph.moe_gate"(%x, %g, %t2e) <{operandSegmentSizes = array<i32: 1, 1, 0, 1, 0>, route_scale = 1.5 : f64, topk = 2 : i64}>
      : (tensor<?x64xf32>, tensor<8x64xbf16>, tensor<512x2xi64>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return
}

// -----

func.func @moe_gate_tokens_without_hash(%x: tensor<?x64xf32>, %g: tensor<8x64xbf16>, %tokens: tensor<?xi32>) {
  // expected-error @+1 {{'graph.moe_gate' op hash routing needs both tid2eid and tokens}}
  %w, %e = "graph.moe_gate"(%x, %g, %tokens) <{operandSegmentSizes = array<i32: 1, 1, 0, 0, 1>, route_scale = 1.5 : f64, topk = 2 : i64}>
      : (tensor<?x64xf32>, tensor<8x64xbf16>, tensor<?xi32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return
}

// -----

func.func @moe_gate_hash_with_bias(%x: tensor<?x64xf32>, %g: tensor<8x64xbf16>, %b: tensor<8xf32>, %t2e: tensor<512x2xi64>, %tokens: tensor<?xi32>) {
  // expected-error @+1 {{'graph.moe_gate' op hash routing takes no bias}}
  %w, %e = graph.moe_gate %x, %g bias(%b : tensor<8xf32>) hash(%t2e[%tokens] : tensor<512x2xi64>, tensor<?xi32>) {route_scale = 1.5 : f64, topk = 2 : i64}
      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @moe_gate_bias_shape(%x: tensor<?x64xf32>, %g: tensor<8x64xbf16>, %b: tensor<16xf32>) {
  // expected-error @+1 {{'graph.moe_gate' op bias must have shape [8], got 'tensor<16xf32>'}}
  %w, %e = graph.moe_gate %x, %g bias(%b : tensor<16xf32>) {route_scale = 1.5 : f64, topk = 2 : i64}
      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// tid2eid holds topk expert ids per vocabulary entry.
func.func @moe_gate_tid2eid_shape(%x: tensor<?x64xf32>, %g: tensor<8x64xbf16>, %t2e: tensor<512x4xi64>, %tokens: tensor<?xi32>) {
  // expected-error @+1 {{'graph.moe_gate' op tid2eid must have shape [?, 2], got 'tensor<512x4xi64>'}}
  %w, %e = graph.moe_gate %x, %g hash(%t2e[%tokens] : tensor<512x4xi64>, tensor<?xi32>) {route_scale = 1.5 : f64, topk = 2 : i64}
      : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @moe_gate_tokens_shape(%x: tensor<3x64xf32>, %g: tensor<8x64xbf16>, %t2e: tensor<512x2xi64>, %tokens: tensor<4xi32>) {
  // expected-error @+1 {{'graph.moe_gate' op tokens must have shape [3], got 'tensor<4xi32>'}}
  %w, %e = graph.moe_gate %x, %g hash(%t2e[%tokens] : tensor<512x2xi64>, tensor<4xi32>) {route_scale = 1.5 : f64, topk = 2 : i64}
      : tensor<3x64xf32>, tensor<8x64xbf16> -> tensor<3x2xf32>, tensor<3x2xi32>
  return
}

// -----

func.func @moe_gate_weights_shape(%x: tensor<?x64xf32>, %g: tensor<8x64xbf16>) {
  // expected-error @+1 {{'graph.moe_gate' op weights must have shape [?, 2], got 'tensor<?x8xf32>'}}
  %w, %e = graph.moe_gate %x, %g {route_scale = 1.5 : f64, topk = 2 : i64} : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x8xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @moe_gate_experts_shape(%x: tensor<?x64xf32>, %g: tensor<8x64xbf16>) {
  // expected-error @+1 {{'graph.moe_gate' op experts must have shape [?, 2], got 'tensor<?x3xi32>'}}
  %w, %e = graph.moe_gate %x, %g {route_scale = 1.5 : f64, topk = 2 : i64} : tensor<?x64xf32>, tensor<8x64xbf16> -> tensor<?x2xf32>, tensor<?x3xi32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// graph.moe_experts
//===----------------------------------------------------------------------===//

func.func @moe_experts_input_rank(%x: tensor<?x1x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                  %w1: tensor<8x96x64xbf16>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op input must have shape [?, ?], got 'tensor<?x1x64xf32>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<?x1x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16>, tensor<8x64x96xbf16> -> tensor<?x64xf32>
  return
}

// -----

// Routed experts are stacked [E, N, K]; a single rank-2 expert is a plain linear.
func.func @moe_experts_unstacked(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                 %w1: tensor<96x64xbf16>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op w1 must have shape [?, ?, ?], got 'tensor<96x64xbf16>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<96x64xbf16>, tensor<96x64xbf16>, tensor<8x64x96xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_w1_width(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                %w1: tensor<8x96x32xbf16>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op w1 must have shape [8, 96, 64], got 'tensor<8x96x32xbf16>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x96x32xbf16>, tensor<8x96x32xbf16>, tensor<8x64x96xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_w3_shape(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                %w1: tensor<8x96x64xbf16>, %w3: tensor<4x96x64xbf16>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op w3 must have shape [8, 96, 64], got 'tensor<4x96x64xbf16>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w3) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x96x64xbf16>, tensor<4x96x64xbf16>, tensor<8x64x96xbf16> -> tensor<?x64xf32>
  return
}

// -----

// w2 is the down projection [E, D, inter]; passing w1's layout is a transposition bug.
func.func @moe_experts_w2_shape(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                %w1: tensor<8x96x64xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op w2 must have shape [8, 64, 96], got 'tensor<8x96x64xbf16>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w1) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_fp4_no_scale(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                    %w1: tensor<8x128x64xf4E2M1FN>, %w2: tensor<8x64x128xf4E2M1FN>, %s2: tensor<8x64x4xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.moe_experts' op w1 weight is f4E2M1FN and needs an f8E8M0FNU scale per 32 inputs}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w2, %s2 : tensor<8x64x4xf8E8M0FNU>) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x64xf4E2M1FN>, tensor<8x128x64xf4E2M1FN>, tensor<8x64x128xf4E2M1FN> -> tensor<?x64xf32>
  return
}

// -----

// The expert scale repeats the leading expert dim: [E, N, K/32].
func.func @moe_experts_w3_scale_unstacked(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                          %w1: tensor<8x128x64xf4E2M1FN>, %s1: tensor<8x128x2xf8E8M0FNU>, %s3: tensor<128x2xf8E8M0FNU>,
                                          %w2: tensor<8x64x128xf4E2M1FN>, %s2: tensor<8x64x4xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.moe_experts' op w3 scale must have shape [8, 128, 2], got 'tensor<128x2xf8E8M0FNU>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1, %s1 : tensor<8x128x2xf8E8M0FNU>) w3(%w1, %s3 : tensor<128x2xf8E8M0FNU>) w2(%w2, %s2 : tensor<8x64x4xf8E8M0FNU>) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x64xf4E2M1FN>, tensor<8x128x64xf4E2M1FN>, tensor<8x64x128xf4E2M1FN> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_w2_scale_shape(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                      %w1: tensor<8x128x64xf4E2M1FN>, %s1: tensor<8x128x2xf8E8M0FNU>,
                                      %w2: tensor<8x64x128xf4E2M1FN>, %s2: tensor<8x64x2xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.moe_experts' op w2 scale must have shape [8, 64, 4], got 'tensor<8x64x2xf8E8M0FNU>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1, %s1 : tensor<8x128x2xf8E8M0FNU>) w3(%w1, %s1 : tensor<8x128x2xf8E8M0FNU>) w2(%w2, %s2 : tensor<8x64x2xf8E8M0FNU>) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x64xf4E2M1FN>, tensor<8x128x64xf4E2M1FN>, tensor<8x64x128xf4E2M1FN> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_bf16_with_scale(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                       %w1: tensor<8x96x64xbf16>, %s1: tensor<8x96x2xf8E8M0FNU>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op w1 weight of type 'bf16' takes no scale}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1, %s1 : tensor<8x96x2xf8E8M0FNU>) w3(%w1) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16>, tensor<8x64x96xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_fp4_block(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                 %w1: tensor<8x128x64xf4E2M1FN>, %s1: tensor<8x128x2xf8E8M0FNU>,
                                 %w2: tensor<8x64x128xf4E2M1FN>, %s2: tensor<8x64x4xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.moe_experts' op w1 block is only meaningful for f8E4M3FN weights}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1, %s1 : tensor<8x128x2xf8E8M0FNU>) w3(%w1, %s1 : tensor<8x128x2xf8E8M0FNU>) w2(%w2, %s2 : tensor<8x64x4xf8E8M0FNU>)
      {block = array<i64: 128, 128>, swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x64xf4E2M1FN>, tensor<8x128x64xf4E2M1FN>, tensor<8x64x128xf4E2M1FN> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_fp8_no_scale(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                    %w1: tensor<8x128x64xf8E4M3FN>, %s1: tensor<8x1x1xf32>, %w2: tensor<8x64x128xf8E4M3FN>) {
  // expected-error @+1 {{'graph.moe_experts' op w2 weight is f8E4M3FN and needs a block scale}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1, %s1 : tensor<8x1x1xf32>) w3(%w1, %s1 : tensor<8x1x1xf32>) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x64xf8E4M3FN>, tensor<8x128x64xf8E4M3FN>, tensor<8x64x128xf8E4M3FN> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_weights_rank(%x: tensor<?x64xf32>, %rw: tensor<?xf32>, %re: tensor<?x2xi32>,
                                    %w1: tensor<8x96x64xbf16>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op weights must have shape [?, ?], got 'tensor<?xf32>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?xf32>, tensor<?x2xi32>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16>, tensor<8x64x96xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_weights_tokens(%x: tensor<3x64xf32>, %rw: tensor<4x2xf32>, %re: tensor<3x2xi32>,
                                      %w1: tensor<8x96x64xbf16>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op weights must have shape [3, ?], got 'tensor<4x2xf32>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<3x64xf32>, tensor<4x2xf32>, tensor<3x2xi32>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16>, tensor<8x64x96xbf16> -> tensor<3x64xf32>
  return
}

// -----

func.func @moe_experts_experts_shape(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x6xi32>,
                                     %w1: tensor<8x96x64xbf16>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op experts must have shape [?, 2], got 'tensor<?x6xi32>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x6xi32>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16>, tensor<8x64x96xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @moe_experts_result_shape(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                    %w1: tensor<8x96x64xbf16>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op result must have shape [?, 64], got 'tensor<?x96xf32>'}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w2) {swiglu_limit = 10.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16>, tensor<8x64x96xbf16> -> tensor<?x96xf32>
  return
}

// -----

func.func @moe_experts_negative_limit(%x: tensor<?x64xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>,
                                      %w1: tensor<8x96x64xbf16>, %w2: tensor<8x64x96xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op swiglu_limit must be >= 0}}
  %0 = graph.moe_experts %x, %rw, %re w1(%w1) w3(%w1) w2(%w2) {swiglu_limit = -1.0 : f64}
      : tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x96x64xbf16>, tensor<8x96x64xbf16>, tensor<8x64x96xbf16> -> tensor<?x64xf32>
  return
}

// -----

// Ops working along the last dim reject 0-d inputs (they used to crash the verifier).
func.func @qat_rank0(%a: tensor<f32>) {
  // expected-error @+1 {{'graph.qat' op input must have rank >= 1, got 'tensor<f32>'}}
  %0 = graph.qat %a {dims = 64 : i64, format = f8E4M3FN, group_size = 64 : i64} : tensor<f32> -> tensor<f32>
  return
}

// -----

func.func @hadamard_rank0(%a: tensor<f32>) {
  // expected-error @+1 {{'graph.hadamard' op input must have rank >= 1, got 'tensor<f32>'}}
  %0 = graph.hadamard %a : tensor<f32> -> tensor<f32>
  return
}

// -----

func.func @rms_norm_rank0(%a: tensor<f32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{'graph.rms_norm' op input must have rank >= 1, got 'tensor<f32>'}}
  %0 = graph.rms_norm %a, %w {eps = 1.0e-06 : f64} : tensor<f32>, tensor<4xf32> -> tensor<f32>
  return
}

// -----

// Unknown sizes are not arithmetic: a dynamic weight is accepted, not misreported.
func.func @grouped_linear_dynamic_weight(%x: tensor<?x512xf32>, %w: tensor<?x?xf32>) {
  %0 = graph.grouped_linear %x, %w {groups = 2 : i64} : tensor<?x512xf32>, tensor<?x?xf32> -> tensor<?x?xf32>
  return
}

// -----

func.func @hc_pre_bad_eps(%x: tensor<?x4x64xf32>, %fn: tensor<24x256xf32>, %b: tensor<24xf32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{'graph.hc_pre' op norm_eps must be positive and hc_eps non-negative}}
  %y, %p, %c = graph.hc_pre %x, %fn, %b, %s {hc_eps = 1.0e-06 : f64, norm_eps = 0.0 : f64, sinkhorn_iters = 20 : i64} : tensor<?x4x64xf32>, tensor<24x256xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x64xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  return
}

// -----

func.func @moe_experts_mixed_types(%x: tensor<?x256xf32>, %w: tensor<?x2xf32>, %e: tensor<?x2xi32>, %w1: tensor<8x128x256xbf16>, %w3: tensor<8x128x256xf32>, %w2: tensor<8x256x128xbf16>) {
  // expected-error @+1 {{'graph.moe_experts' op w1, w3 and w2 must share one element type}}
  %0 = graph.moe_experts %x, %w, %e w1(%w1) w3(%w3) w2(%w2) {swiglu_limit = 10.0 : f64} : tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<8x128x256xbf16>, tensor<8x128x256xf32>, tensor<8x256x128xbf16> -> tensor<?x256xf32>
  return
}

// -----

func.func @quantize_bad_scales(%x: tensor<?x300xf32>) {
  // expected-error @+1 {{'graph.quantize' op scales must have shape [?, 3], got 'tensor<?x2xf32>'}}
  %q, %s = graph.quantize %x {block = 128 : i64} : tensor<?x300xf32> -> tensor<?x300xf8E4M3FN>, tensor<?x2xf32>
  return
}

// -----

func.func @quantize_bad_block(%x: tensor<?x300xf32>) {
  // expected-error @+1 {{'graph.quantize' op block must be positive, got 0}}
  %q, %s = graph.quantize %x {block = 0 : i64} : tensor<?x300xf32> -> tensor<?x300xf8E4M3FN>, tensor<?x3xf32>
  return
}

// -----

func.func @block_scaled_width(%q: tensor<?x256xf8E4M3FN>, %qs: tensor<?x2xf32>, %w: tensor<128x384xf8E4M3FN>, %s: tensor<1x3xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.block_scaled_matmul' op lhs has 256 features but rhs expects 384}}
  %y = graph.block_scaled_matmul %q, %qs, %w, %s {lhs_block = 128 : i64} : tensor<?x256xf8E4M3FN>, tensor<?x2xf32>, tensor<128x384xf8E4M3FN>, tensor<1x3xf8E8M0FNU> -> tensor<?x128xf32>
  return
}

// -----

func.func @block_scaled_lhs_scale(%q: tensor<?x256xf8E4M3FN>, %qs: tensor<?x4xf32>, %w: tensor<128x256xf8E4M3FN>, %s: tensor<1x2xf8E8M0FNU>) {
  // expected-error @+1 {{'graph.block_scaled_matmul' op lhs_scale must have shape [?, 2], got 'tensor<?x4xf32>'}}
  %y = graph.block_scaled_matmul %q, %qs, %w, %s {lhs_block = 128 : i64} : tensor<?x256xf8E4M3FN>, tensor<?x4xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x128xf32>
  return
}

// -----

func.func @precision_act_block(%x: tensor<?x256xf32>, %w: tensor<64x256xf8E4M3FN>, %s: tensor<1x2xf8E8M0FNU>) {
  // expected-error @+1 {{act_block must be positive when activations are quantized and 0 otherwise, got 0}}
  %y = graph.linear %x, %w, %s {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 0, gemm = emulated>} : tensor<?x256xf32>, tensor<64x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x64xf32>
  return
}

// -----

func.func @precision_activation_type(%x: tensor<?x256xf32>, %w: tensor<64x256xf8E4M3FN>, %s: tensor<1x2xf8E8M0FNU>) {
  // expected-error @+1 {{activations must be f8E4M3FN, f4E2M1FN or f32, got 'bf16'}}
  %y = graph.linear %x, %w, %s {graph.precision = #graph.precision<weights = f8E4M3FN, activations = bf16, act_block = 0, gemm = emulated>} : tensor<?x256xf32>, tensor<64x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x64xf32>
  return
}

// -----

func.func @precision_weights_mismatch(%x: tensor<?x256xf32>, %w: tensor<64x256xbf16>) {
  // expected-error @+1 {{precision says weights are 'f8E4M3FN' but the op's weight is 'bf16'}}
  %y = graph.linear %x, %w {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f32, act_block = 0, gemm = emulated>} : tensor<?x256xf32>, tensor<64x256xbf16> -> tensor<?x64xf32>
  return
}

// -----

func.func @precision_gemm_fp4_activations(%x: tensor<?x256xf32>, %w: tensor<64x256xf8E4M3FN>, %s: tensor<1x2xf8E8M0FNU>) {
  // expected-error @+1 {{GEMM activations must be f8E4M3FN or f32, got 'f4E2M1FN'}}
  %y = graph.linear %x, %w, %s {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f4E2M1FN, act_block = 32, gemm = emulated>} : tensor<?x256xf32>, tensor<64x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x64xf32>
  return
}

// -----

func.func @precision_on_a_norm(%x: tensor<?x256xf32>) {
  // expected-error @+1 {{'graph.precision' applies to linears, experts, block-scaled matmuls and qat ops}}
  %y = graph.rms_norm %x {eps = 1.0e-06 : f64, graph.precision = #graph.precision<weights = f32, activations = f32, act_block = 0, gemm = emulated>} : tensor<?x256xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @precision_qat_format(%x: tensor<?x128xf32>) {
  // expected-error @+1 {{precision of a qat round trip must have activations = its format ('f8E4M3FN', the round trip runs) or f32 (it is skipped)}}
  %y = graph.qat %x {dims = 128 : i64, format = f8E4M3FN, group_size = 64 : i64, graph.precision = #graph.precision<weights = f32, activations = f4E2M1FN, act_block = 32, gemm = emulated>} : tensor<?x128xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @unknown_graph_attribute(%x: tensor<?x256xf32>) {
  // expected-error @+1 {{unknown graph dialect attribute 'graph.fusion'}}
  %y = graph.rms_norm %x {eps = 1.0e-06 : f64, graph.fusion = 3 : i64} : tensor<?x256xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @fused_yield_types(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'graph.fused' op graph.yield must return the op's result types}}
  %r = graph.fused "norm"(%x) {group = 0 : i64} : (tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0(%a: tensor<?x64xf32>):
    graph.yield
  }
  return %r : tensor<?x64xf32>
}

// -----

func.func @fused_captures(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'graph.fused' op body arguments must match the inputs (1 values)}}
  %r = graph.fused "norm"(%x) {group = 0 : i64} : (tensor<?x64xf32>) -> tensor<?x64xf32> {
  ^bb0:
    %y = graph.rms_norm %x {eps = 1.0e-06 : f64} : tensor<?x64xf32> -> tensor<?x64xf32>
    graph.yield %y : tensor<?x64xf32>
  }
  return %r : tensor<?x64xf32>
}

// -----

func.func @precision_block_scaled(%q: tensor<?x256xf8E4M3FN>, %qs: tensor<?x2xf32>, %w: tensor<128x256xf8E4M3FN>, %s: tensor<1x2xf8E8M0FNU>) {
  // expected-error @+1 {{precision of a block_scaled_matmul must have activations = its lhs element type and act_block = its lhs_block}}
  %y = graph.block_scaled_matmul %q, %qs, %w, %s {lhs_block = 128 : i64, graph.precision = #graph.precision<weights = f8E4M3FN, activations = f32, act_block = 0, gemm = emulated>} : tensor<?x256xf8E4M3FN>, tensor<?x2xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x128xf32>
  return
}

// -----

func.func @fused_empty(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'graph.fused' op expects a non-empty block}}
  "graph.fused"(%x) ({
  ^bb0(%a: tensor<?x64xf32>):
  }) {kind = "k", group = 0 : i64} : (tensor<?x64xf32>) -> ()
  return
}
