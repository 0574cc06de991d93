// RUN: v4c-opt %s -split-input-file --v4c-lower-precision -verify-diagnostics | FileCheck %s
// RUN: v4c-opt %s -split-input-file --v4c-graph-pipeline | FileCheck %s --check-prefix=PIPELINE

// A linear with quantized activations becomes explicit quantization and a block-scaled matmul
// that keeps the decision; one with f32 activations stays; a skipped QAT round trip goes.
graph.param @w : tensor<256x256xf8E4M3FN>
graph.param @s : tensor<2x2xf8E8M0FNU>
// CHECK-LABEL: func.func @apply
// CHECK-SAME:    (%[[X:.+]]: tensor<?x256xf32>)
// CHECK:         %[[W:.+]] = graph.weight @w
// CHECK:         %[[S:.+]] = graph.weight @s
// CHECK:         %[[CODES:.+]], %[[SCALES:.+]] = graph.quantize %[[X]] {block = 128 : i64} : tensor<?x256xf32> -> tensor<?x256xf8E4M3FN>, tensor<?x2xf32>
// CHECK:         %[[Y:.+]] = graph.block_scaled_matmul %[[CODES]], %[[SCALES]], %[[W]], %[[S]] {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = emulated>, lhs_block = 128 : i64}
// CHECK:         %[[Z:.+]] = graph.linear %[[Y]], %[[W]], %[[S]] {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f32
// CHECK-NOT:     graph.qat
// CHECK:         return %[[Z]], %[[Z]]
func.func @apply(%x: tensor<?x256xf32>) -> (tensor<?x256xf32>, tensor<?x256xf32>) {
  %w = graph.weight @w : tensor<256x256xf8E4M3FN>
  %s = graph.weight @s : tensor<2x2xf8E8M0FNU>
  %y = graph.linear %x, %w, %s {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = emulated>} : tensor<?x256xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  %z = graph.linear %y, %w, %s {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f32, act_block = 0, gemm = emulated>} : tensor<?x256xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  %k = graph.qat %z {dims = 256 : i64, format = f8E4M3FN, group_size = 64 : i64, graph.precision = #graph.precision<weights = f32, activations = f32, act_block = 0, gemm = emulated>} : tensor<?x256xf32> -> tensor<?x256xf32>
  return %z, %k : tensor<?x256xf32>, tensor<?x256xf32>
}

// The whole graph-level pipeline (policy, this pass, canonicalize, cse) keeps the decisions
// already in the IR: the same result.
// PIPELINE-LABEL: func.func @apply
// PIPELINE:         graph.quantize
// PIPELINE:         graph.block_scaled_matmul
// PIPELINE-NOT:     graph.quantize
// PIPELINE:         graph.linear
// PIPELINE-NOT:     graph.qat
// PIPELINE:         return

// -----

// PIPELINE-LABEL: func.func @undecided
// PIPELINE:         graph.linear {{.*}}<weights = bf16, activations = f32, act_block = 0, gemm = emulated>
graph.param @w : tensor<256x256xbf16>
func.func @undecided(%x: tensor<?x256xf32>) -> tensor<?x256xf32> {
  %w = graph.weight @w : tensor<256x256xbf16>
  // expected-error @+1 {{has no graph.precision decision (run v4c-precision-policy first)}}
  %y = graph.linear %x, %w : tensor<?x256xf32>, tensor<256x256xbf16> -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}
