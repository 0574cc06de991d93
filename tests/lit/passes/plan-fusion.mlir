// RUN: v4c-opt %s -split-input-file --v4c-plan-fusion | FileCheck %s
// RUN: v4c-opt %s -split-input-file --v4c-plan-fusion="overwrite=true" | FileCheck %s --check-prefix=OVERWRITE

// The attention prologue: one norm feeds two quantized GEMMs (q and kv down-projections), so
// norm, both quantizations and both matmuls are one norm_gemm kernel; the q norm and rope that
// follow are a norm_rope kernel; the residual add stays a kernel of its own. Weights, constants
// and reshapes are not kernels.
graph.param @n : tensor<256xbf16>
graph.param @wq : tensor<128x256xf8E4M3FN>
graph.param @sq : tensor<1x2xf8E8M0FNU>
graph.param @wkv : tensor<128x256xf8E4M3FN>
// CHECK-LABEL: func.func @prologue
// CHECK:         graph.weight @n
// CHECK-NOT:     v4c.fusion_group
// CHECK-SAME:    {{$}}
// CHECK:         graph.rms_norm {{.*}}v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"
// CHECK:         graph.quantize {{.*}}v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"
// CHECK:         graph.block_scaled_matmul {{.*}}v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"
// CHECK:         graph.block_scaled_matmul {{.*}}v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"
// CHECK:         tensor.expand_shape
// CHECK-NOT:     v4c.fusion_group
// CHECK-SAME:    {{$}}
// CHECK:         graph.rms_norm {{.*}}v4c.fusion_group = 1 : i64, v4c.fusion_kind = "norm_rope"
// CHECK:         graph.rope {{.*}}v4c.fusion_group = 1 : i64, v4c.fusion_kind = "norm_rope"
// CHECK:         arith.addf {{.*}}v4c.fusion_group = 2 : i64, v4c.fusion_kind = "addf"
func.func @prologue(%x: tensor<?x256xf32>, %pos: tensor<?xi64>) -> (tensor<?x2x64xf32>, tensor<?x128xf32>) {
  %n = graph.weight @n : tensor<256xbf16>
  %y = graph.rms_norm %x, %n {eps = 1.0e-06 : f64} : tensor<?x256xf32>, tensor<256xbf16> -> tensor<?x256xf32>
  %c, %cs = graph.quantize %y {block = 128 : i64} : tensor<?x256xf32> -> tensor<?x256xf8E4M3FN>, tensor<?x2xf32>
  %wq = graph.weight @wq : tensor<128x256xf8E4M3FN>
  %sq = graph.weight @sq : tensor<1x2xf8E8M0FNU>
  %q = graph.block_scaled_matmul %c, %cs, %wq, %sq {lhs_block = 128 : i64} : tensor<?x256xf8E4M3FN>, tensor<?x2xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x128xf32>
  %wkv = graph.weight @wkv : tensor<128x256xf8E4M3FN>
  %kv = graph.block_scaled_matmul %c, %cs, %wkv, %sq {lhs_block = 128 : i64} : tensor<?x256xf8E4M3FN>, tensor<?x2xf32>, tensor<128x256xf8E4M3FN>, tensor<1x2xf8E8M0FNU> -> tensor<?x128xf32>
  %heads = tensor.expand_shape %q [[0], [1, 2]] output_shape [0, 2, 64] : tensor<?x128xf32> into tensor<?x2x64xf32>
  %qn = graph.rms_norm %heads {eps = 1.0e-06 : f64} : tensor<?x2x64xf32> -> tensor<?x2x64xf32>
  %r = graph.rope %qn, %pos {rope = #graph.rope<dim = 32, theta = 1.0e+04>} : tensor<?x2x64xf32>, tensor<?xi64> -> tensor<?x2x64xf32>
  %sum = arith.addf %kv, %kv : tensor<?x128xf32>
  return %r, %sum : tensor<?x2x64xf32>, tensor<?x128xf32>
}

// -----

// A producer joins only when all its users do, and only if the group stays convex: here the
// norm's result also feeds an add whose result feeds the matmul, so norm → matmul would make a
// cycle through the add, and the norm stays alone.
graph.param @w : tensor<64x64xbf16>
// CHECK-LABEL: func.func @not_convex
// CHECK:         graph.rms_norm {{.*}}v4c.fusion_kind = "rms_norm"
// CHECK:         arith.addf {{.*}}v4c.fusion_kind = "addf"
// CHECK:         graph.linear {{.*}}v4c.fusion_kind = "linear"
func.func @not_convex(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %y = graph.rms_norm %x {eps = 1.0e-06 : f64} : tensor<?x64xf32> -> tensor<?x64xf32>
  %a = arith.addf %y, %x : tensor<?x64xf32>
  %w = graph.weight @w : tensor<64x64xbf16>
  %z = graph.linear %a, %w : tensor<?x64xf32>, tensor<64x64xbf16> -> tensor<?x64xf32>
  %s = arith.addf %z, %y : tensor<?x64xf32>
  return %s : tensor<?x64xf32>
}

// -----

// Groups already recorded (a user's edit: the norm alone) are kept unless overwrite=true.
graph.param @w : tensor<64x64xbf16>
// CHECK-LABEL: func.func @edited
// CHECK:         graph.rms_norm {{.*}}v4c.fusion_group = 7 : i64, v4c.fusion_kind = "mine"
// CHECK:         graph.linear {{.*}}v4c.fusion_group = 8 : i64, v4c.fusion_kind = "linear"
// OVERWRITE-LABEL: func.func @edited
// OVERWRITE:         graph.rms_norm {{.*}}v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"
// OVERWRITE:         graph.linear {{.*}}v4c.fusion_group = 0 : i64, v4c.fusion_kind = "norm_gemm"
func.func @edited(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %y = graph.rms_norm %x {eps = 1.0e-06 : f64, v4c.fusion_group = 7 : i64, v4c.fusion_kind = "mine"} : tensor<?x64xf32> -> tensor<?x64xf32>
  %w = graph.weight @w : tensor<64x64xbf16>
  %z = graph.linear %y, %w {v4c.fusion_group = 8 : i64, v4c.fusion_kind = "linear"} : tensor<?x64xf32>, tensor<64x64xbf16> -> tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}
