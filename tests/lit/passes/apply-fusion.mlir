// RUN: v4c-opt %s -split-input-file --v4c-apply-fusion -verify-diagnostics | FileCheck %s

// A group becomes one graph.fused op: its inputs are what it reads from outside (weights are
// read inside), its results what is used after it. The function is reordered so that the group
// is contiguous (here the independent add moves before it).
graph.param @w : tensor<64x64xbf16>
// CHECK-LABEL: func.func @wrap
// CHECK-SAME:    (%[[X:.+]]: tensor<?x64xf32>, %[[O:.+]]: tensor<?x64xf32>)
// CHECK-NEXT:    %[[U:.+]] = arith.addf %[[O]], %[[O]]
// CHECK-NEXT:    %[[F:.+]] = graph.fused "norm_gemm"(%[[X]]) {group = 0 : i64} : (tensor<?x64xf32>) -> tensor<?x64xf32> {
// CHECK-NEXT:    ^bb0(%[[A:.+]]: tensor<?x64xf32>):
// CHECK-NEXT:      %[[N:.+]] = graph.rms_norm %[[A]]
// CHECK-NEXT:      %[[W:.+]] = graph.weight @w
// CHECK-NEXT:      %[[L:.+]] = graph.linear %[[N]], %[[W]]
// CHECK-NEXT:      graph.yield %[[L]] : tensor<?x64xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[S:.+]] = arith.addf %[[F]], %[[U]]
// CHECK-NEXT:    return %[[S]]
func.func @wrap(%x: tensor<?x64xf32>, %o: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %y = graph.rms_norm %x {eps = 1.0e-06 : f64, v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"} : tensor<?x64xf32> -> tensor<?x64xf32>
  %u = arith.addf %o, %o {v4c.fusion_group = 1 : i64, v4c.fusion_kind = "addf"} : tensor<?x64xf32>
  %w = graph.weight @w : tensor<64x64xbf16>
  %z = graph.linear %y, %w {v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"} : tensor<?x64xf32>, tensor<64x64xbf16> -> tensor<?x64xf32>
  %s = arith.addf %z, %u {v4c.fusion_group = 2 : i64, v4c.fusion_kind = "addf"} : tensor<?x64xf32>
  return %s : tensor<?x64xf32>
}

// -----

// A user's edit that cannot be one kernel: the add between norm and linear needs the norm and
// feeds the linear.
graph.param @w : tensor<64x64xbf16>
func.func @not_convex(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %y = graph.rms_norm %x {eps = 1.0e-06 : f64, v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"} : tensor<?x64xf32> -> tensor<?x64xf32>
  // expected-error @+1 {{lies on a path that leaves fusion group 0 and comes back: the group cannot be one kernel}}
  %a = arith.addf %y, %x : tensor<?x64xf32>
  %w = graph.weight @w : tensor<64x64xbf16>
  %z = graph.linear %a, %w {v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"} : tensor<?x64xf32>, tensor<64x64xbf16> -> tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}

// -----

func.func @mixed_kinds(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %y = graph.rms_norm %x {eps = 1.0e-06 : f64, v4c.fusion_group = 0 : i64, v4c.fusion_kind = "a"} : tensor<?x64xf32> -> tensor<?x64xf32>
  // expected-error @+1 {{fusion group 0 mixes kinds (every member needs the same v4c.fusion_kind)}}
  %z = arith.addf %y, %y {v4c.fusion_group = 0 : i64, v4c.fusion_kind = "b"} : tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}

// -----

// Ops that write decode state keep their place: they cannot join a group of several.
graph.state @ring window : tensor<4x64xf32>
func.func @effects(%q: tensor<?x2x64xf32>, %kv: tensor<?x64xf32>, %pos: tensor<?xi64>, %sink: tensor<2xf32>) -> tensor<?x2x64xf32> {
  // expected-error @+1 {{has side effects and cannot join fusion group 0 with other ops}}
  %o = graph.sparse_attention @ring(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.125 : f64, window = 4 : i64, v4c.fusion_group = 0 : i64, v4c.fusion_kind = "attention"} : tensor<?x2x64xf32>, tensor<?x64xf32>, tensor<?xi64>, tensor<2xf32> -> tensor<?x2x64xf32>
  %r = graph.rms_norm %o {eps = 1.0e-06 : f64, v4c.fusion_group = 0 : i64, v4c.fusion_kind = "attention"} : tensor<?x2x64xf32> -> tensor<?x2x64xf32>
  return %r : tensor<?x2x64xf32>
}

// -----

// Nothing to order (every op folded away) is fine.
// CHECK-LABEL: func.func @empty
// CHECK-NEXT:    return
func.func @empty(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  return %x : tensor<?x64xf32>
}

// -----

func.func @no_kind(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{has v4c.fusion_group but no v4c.fusion_kind}}
  %y = graph.rms_norm %x {eps = 1.0e-06 : f64, v4c.fusion_group = 0 : i64} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
