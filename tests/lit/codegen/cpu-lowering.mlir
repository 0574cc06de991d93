// RUN: v4c-opt %s -split-input-file --v4c-plan-memory --v4c-lower-graph-to-loops -verify-diagnostics | FileCheck %s

// Memory planning records offsets; the entry point gets the runtime ABI; an FP8 linear becomes
// a call to the GEMM microkernel with the weight read by address from the weight arena, and
// quantizes its activations (last argument but two: 1) as its precision decision says.
graph.param @w : tensor<256x256xf8E4M3FN>
graph.param @s : tensor<2x2xf8E8M0FNU>
graph.param @norm : tensor<256xbf16>

// CHECK-LABEL: func.func @linear
// CHECK-SAME:    (%[[X:.+]]: memref<?x256xf32>, %[[W:.+]]: memref<?xi8>, %[[S:.+]]: memref<?xi8>, %[[OUT:.+]]: memref<?x256xf32>)
// CHECK-SAME:    llvm.emit_c_interface
// CHECK:         memref.view %[[W]][%{{.+}}][] : memref<?xi8> to memref<256xbf16>
// CHECK:         scf.for
// CHECK:         call @v4c_gemm({{.*}}, %c1_i32{{[_0-9]*}}, %{{[^,]+}}, %{{[^,]+}}) :
// CHECK:         bufferization.materialize_in_destination {{.*}} in restrict writable %[[OUT]]
// CHECK-NOT:     graph.
func.func @linear(%x: tensor<?x256xf32>) -> tensor<?x256xf32> {
  %n = graph.weight @norm : tensor<256xbf16>
  %y = graph.rms_norm %x, %n {eps = 1.0e-06 : f64} : tensor<?x256xf32>, tensor<256xbf16> -> tensor<?x256xf32>
  %w = graph.weight @w : tensor<256x256xf8E4M3FN>
  %s = graph.weight @s : tensor<2x2xf8E8M0FNU>
  %z = graph.linear %y, %w, %s {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = emulated>} : tensor<?x256xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  return %z : tensor<?x256xf32>
}
// CHECK: func.func private @v4c_gemm(!llvm.ptr, i64, i64, !llvm.ptr, i32, !llvm.ptr, i32, i64, i64, i64, i32, !llvm.ptr, i64)

// -----

// The window ring is a view of the state arena at its planned offset.
// CHECK-LABEL: func.func @attend
// CHECK:         memref.view %{{.+}}[%{{.+}}][] : memref<?xi8> to memref<4x64xf32>
graph.state @ring window : tensor<4x64xf32>
func.func @attend(%q: tensor<?x2x64xf32>, %kv: tensor<?x64xf32>, %pos: tensor<?xi64>, %sink: tensor<2xf32>) -> tensor<?x2x64xf32> {
  %o = graph.sparse_attention @ring(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.125 : f64, window = 4 : i64} : tensor<?x2x64xf32>, tensor<?x64xf32>, tensor<?xi64>, tensor<2xf32> -> tensor<?x2x64xf32>
  return %o : tensor<?x2x64xf32>
}

// -----

// Scales of other block shapes are valid IR, but the CPU microkernel reads 128x128 blocks.
graph.param @w : tensor<100x96xf8E4M3FN>
graph.param @s : tensor<2x3xf8E8M0FNU>
func.func @odd_blocks(%x: tensor<?x96xf32>) -> tensor<?x100xf32> {
  %w = graph.weight @w : tensor<100x96xf8E4M3FN>
  %s = graph.weight @s : tensor<2x3xf8E8M0FNU>
  // expected-error @+1 {{the CPU target supports 128x128 weight blocks only}}
  %y = graph.linear %x, %w, %s {block = array<i64: 64, 32>} : tensor<?x96xf32>, tensor<100x96xf8E4M3FN>, tensor<2x3xf8E8M0FNU> -> tensor<?x100xf32>
  return %y : tensor<?x100xf32>
}

// -----

// Ops with a precision choice need a decision the CPU can run.
graph.param @w : tensor<256x256xf8E4M3FN>
graph.param @s : tensor<2x2xf8E8M0FNU>
func.func @undecided(%x: tensor<?x256xf32>) -> tensor<?x256xf32> {
  %w = graph.weight @w : tensor<256x256xf8E4M3FN>
  %s = graph.weight @s : tensor<2x2xf8E8M0FNU>
  // expected-error @+1 {{has no graph.precision decision (run v4c-precision-policy first)}}
  %y = graph.linear %x, %w, %s : tensor<?x256xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}

// -----

graph.param @w : tensor<256x256xf8E4M3FN>
graph.param @s : tensor<2x2xf8E8M0FNU>
func.func @npu_decision(%x: tensor<?x256xf32>) -> tensor<?x256xf32> {
  %w = graph.weight @w : tensor<256x256xf8E4M3FN>
  %s = graph.weight @s : tensor<2x2xf8E8M0FNU>
  // expected-error @+1 {{gemm = native is not available on the CPU target (emulated only)}}
  %y = graph.linear %x, %w, %s {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = native>} : tensor<?x256xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}

// -----

// Explicit quantization: codes are computed by loops and stored as f8E4M3FN; the block-scaled
// matmul decodes them times their scales and calls the microkernel without quantizing (0).
graph.param @w : tensor<256x256xf8E4M3FN>
graph.param @s : tensor<2x2xf8E8M0FNU>
// CHECK-LABEL: func.func @explicit
// CHECK:         arith.bitcast %{{.+}} : i8 to f8E4M3FN
// CHECK:         memref.store %{{.+}} : memref<?x256xf8E4M3FN>
// CHECK:         arith.bitcast %{{.+}} : f8E4M3FN to i8
// CHECK:         call @v4c_gemm({{.*}}, %c0_i32{{[_0-9]*}}, %{{[^,]+}}, %{{[^,]+}}) :
func.func @explicit(%x: tensor<?x256xf32>) -> tensor<?x256xf32> {
  %w = graph.weight @w : tensor<256x256xf8E4M3FN>
  %s = graph.weight @s : tensor<2x2xf8E8M0FNU>
  %q, %qs = graph.quantize %x {block = 128 : i64} : tensor<?x256xf32> -> tensor<?x256xf8E4M3FN>, tensor<?x2xf32>
  %y = graph.block_scaled_matmul %q, %qs, %w, %s {lhs_block = 128 : i64} : tensor<?x256xf8E4M3FN>, tensor<?x2xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}

// -----

// Memory planning: parameters and state get 64-byte aligned offsets; compressed caches are
// sized by the context and tokens_per_entry.
// RUN: v4c-opt %s -split-input-file --v4c-plan-memory="max-seq-len=1024" | FileCheck %s --check-prefix=PLAN
// PLAN: graph.param @a : tensor<3xf32> {v4c.bytes = 12 : i64, v4c.offset = 0 : i64}
// PLAN: graph.param @b : tensor<100x64xf4E2M1FN> {v4c.bytes = 3200 : i64, v4c.offset = 64 : i64}
// PLAN: graph.state @c compressed_kv : tensor<?x128xf32> {tokens_per_entry = 4 : i64, v4c.bytes = 131072 : i64, v4c.capacity = 256 : i64, v4c.offset = 0 : i64}
graph.param @a : tensor<3xf32>
graph.param @b : tensor<100x64xf4E2M1FN>
graph.state @c compressed_kv : tensor<?x128xf32> {tokens_per_entry = 4 : i64}

// -----

// A norm → rope → QAT fusion group is one loop nest over rows in one buffer: a single
// allocation of the row type (three unfused), the rotation and the round trip inside the row
// loop that computes the norm.
// CHECK-LABEL: func.func @row_chain
// CHECK:         memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?x2x64xf32>
// CHECK-NOT:     memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?x2x64xf32>
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             math.sqrt
// CHECK:             math.cos
// CHECK:             math.roundeven
// CHECK-NOT:     memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?x2x64xf32>
// CHECK:         return
func.func @row_chain(%x: tensor<?x2x64xf32>, %pos: tensor<?xi64>) -> tensor<?x2x64xf32> {
  %r = graph.fused "norm_rope_qat"(%x, %pos) {group = 0 : i64} : (tensor<?x2x64xf32>, tensor<?xi64>) -> tensor<?x2x64xf32> {
  ^bb0(%a: tensor<?x2x64xf32>, %p: tensor<?xi64>):
    %n = graph.rms_norm %a {eps = 1.0e-06 : f64} : tensor<?x2x64xf32> -> tensor<?x2x64xf32>
    %o = graph.rope %n, %p {rope = #graph.rope<dim = 32, theta = 1.0e+04>} : tensor<?x2x64xf32>, tensor<?xi64> -> tensor<?x2x64xf32>
    %q = graph.qat %o {dims = 32 : i64, format = f8E4M3FN, group_size = 32 : i64, graph.precision = #graph.precision<weights = f32, activations = f8E4M3FN, act_block = 32, gemm = emulated>} : tensor<?x2x64xf32> -> tensor<?x2x64xf32>
    graph.yield %q : tensor<?x2x64xf32>
  }
  return %r : tensor<?x2x64xf32>
}

// -----

// When the group hands the norm's result to others too, the chain is not formed (the norm's
// buffer must survive): norm and rope keep buffers of their own.
// CHECK-LABEL: func.func @row_chain_shared
// CHECK-COUNT-2: memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?x2x64xf32>
// CHECK-NOT:     memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?x2x64xf32>
// CHECK:         return
func.func @row_chain_shared(%x: tensor<?x2x64xf32>, %pos: tensor<?xi64>) -> (tensor<?x2x64xf32>, tensor<?x2x64xf32>) {
  %r:2 = graph.fused "norm_rope"(%x, %pos) {group = 0 : i64} : (tensor<?x2x64xf32>, tensor<?xi64>) -> (tensor<?x2x64xf32>, tensor<?x2x64xf32>) {
  ^bb0(%a: tensor<?x2x64xf32>, %p: tensor<?xi64>):
    %n = graph.rms_norm %a {eps = 1.0e-06 : f64} : tensor<?x2x64xf32> -> tensor<?x2x64xf32>
    %o = graph.rope %n, %p {rope = #graph.rope<dim = 32, theta = 1.0e+04>} : tensor<?x2x64xf32>, tensor<?xi64> -> tensor<?x2x64xf32>
    graph.yield %n, %o : tensor<?x2x64xf32>, tensor<?x2x64xf32>
  }
  return %r#0, %r#1 : tensor<?x2x64xf32>, tensor<?x2x64xf32>
}
