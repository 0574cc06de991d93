// RUN: v4c-opt %s --v4c-precision-policy | FileCheck %s --check-prefix=CPU
// RUN: v4c-opt %s --v4c-precision-policy="mode=dequant" | FileCheck %s --check-prefix=DEQUANT
// RUN: v4c-opt %s --v4c-precision-policy="target=npu-910b" | FileCheck %s --check-prefix=A910B
// RUN: v4c-opt %s --v4c-precision-policy="target=npu-950" | FileCheck %s --check-prefix=A950
// RUN: v4c-opt %s --v4c-precision-policy="overwrite=true" | FileCheck %s --check-prefix=OVERWRITE
// RUN: not v4c-opt %s --v4c-precision-policy="target=tpu" 2>&1 | FileCheck %s --check-prefix=BADTARGET
// RUN: not v4c-opt %s --v4c-precision-policy="mode=fast" 2>&1 | FileCheck %s --check-prefix=BADMODE

// One op of each kind with a precision choice: FP8 linear (quantized input in faithful mode),
// BF16 linear (the head: as stored), FP8 grouped linear (wo_a: never quantized), FP4 experts,
// a QAT round trip (runs in faithful mode only), and a linear a user already decided.
graph.param @wq : tensor<256x256xf8E4M3FN>
graph.param @sq : tensor<2x2xf8E8M0FNU>
graph.param @head : tensor<64x256xbf16>
graph.param @w1 : tensor<4x128x256xf4E2M1FN>
graph.param @s1 : tensor<4x128x8xf8E8M0FNU>
graph.param @w2 : tensor<4x256x128xf4E2M1FN>
graph.param @s2 : tensor<4x256x4xf8E8M0FNU>

// CPU: module attributes {v4c.precision_policy = {mode = "faithful", target = "cpu"}}
// CPU: graph.linear {{.*}} {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = emulated>}
// CPU: graph.linear {{.*}} {graph.precision = #graph.precision<weights = bf16, activations = f32, act_block = 0, gemm = emulated>}
// CPU: graph.grouped_linear {{.*}}{graph.precision = #graph.precision<weights = f8E4M3FN, activations = f32, act_block = 0, gemm = emulated>
// CPU: graph.moe_experts {{.*}} {graph.precision = #graph.precision<weights = f4E2M1FN, activations = f8E4M3FN, act_block = 128, gemm = emulated>
// CPU: graph.qat {{.*}} graph.precision = #graph.precision<weights = f32, activations = f8E4M3FN, act_block = 64, gemm = emulated>
// CPU: graph.linear {{.*}} {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f32, act_block = 0, gemm = emulated>}

// DEQUANT: module attributes {v4c.precision_policy = {mode = "dequant", target = "cpu"}}
// DEQUANT: graph.linear {{.*}} activations = f32, act_block = 0, gemm = emulated
// DEQUANT: graph.moe_experts {{.*}} activations = f32, act_block = 0, gemm = emulated
// DEQUANT: graph.qat {{.*}} activations = f32, act_block = 0

// A910B: graph.linear {{.*}}<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = vector_dequant
// A910B: graph.linear {{.*}}<weights = bf16, activations = f32, act_block = 0, gemm = native
// A910B: graph.moe_experts {{.*}}<weights = f4E2M1FN, activations = f8E4M3FN, act_block = 128, gemm = vector_dequant

// A950: graph.linear {{.*}}<weights = f8E4M3FN, activations = f8E4M3FN, act_block = 128, gemm = native
// A950: graph.grouped_linear {{.*}}<weights = f8E4M3FN, activations = f32, act_block = 0, gemm = vector_dequant
// A950: graph.moe_experts {{.*}}<weights = f4E2M1FN, activations = f8E4M3FN, act_block = 128, gemm = native

// The user's decision stands unless overwrite=true.
// OVERWRITE-COUNT-2: activations = f8E4M3FN, act_block = 128, gemm = emulated>} : tensor<?x256xf32>, tensor<256x256xf8E4M3FN>

// BADTARGET: error: v4c-precision-policy: unknown target 'tpu' (expected cpu, npu-910b or npu-950)
// BADMODE: error: v4c-precision-policy: unknown mode 'fast' (expected faithful or dequant)
func.func @layer(%x: tensor<?x256xf32>, %o: tensor<?x512xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>)
    -> (tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>) {
  %wq = graph.weight @wq : tensor<256x256xf8E4M3FN>
  %sq = graph.weight @sq : tensor<2x2xf8E8M0FNU>
  %q = graph.linear %x, %wq, %sq : tensor<?x256xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  %head = graph.weight @head : tensor<64x256xbf16>
  %logits = graph.linear %x, %head : tensor<?x256xf32>, tensor<64x256xbf16> -> tensor<?x64xf32>
  %wo = graph.grouped_linear %o, %wq, %sq {groups = 2 : i64} : tensor<?x512xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  %w1 = graph.weight @w1 : tensor<4x128x256xf4E2M1FN>
  %s1 = graph.weight @s1 : tensor<4x128x8xf8E8M0FNU>
  %w2 = graph.weight @w2 : tensor<4x256x128xf4E2M1FN>
  %s2 = graph.weight @s2 : tensor<4x256x4xf8E8M0FNU>
  %e = graph.moe_experts %x, %rw, %re w1(%w1, %s1 : tensor<4x128x8xf8E8M0FNU>) w3(%w1, %s1 : tensor<4x128x8xf8E8M0FNU>) w2(%w2, %s2 : tensor<4x256x4xf8E8M0FNU>) {swiglu_limit = 10.0 : f64} : tensor<?x256xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x128x256xf4E2M1FN>, tensor<4x128x256xf4E2M1FN>, tensor<4x256x128xf4E2M1FN> -> tensor<?x256xf32>
  %kv = graph.qat %x {dims = 192 : i64, format = f8E4M3FN, group_size = 64 : i64} : tensor<?x256xf32> -> tensor<?x256xf32>
  %kept = graph.linear %x, %wq, %sq {graph.precision = #graph.precision<weights = f8E4M3FN, activations = f32, act_block = 0, gemm = emulated>} : tensor<?x256xf32>, tensor<256x256xf8E4M3FN>, tensor<2x2xf8E8M0FNU> -> tensor<?x256xf32>
  return %q, %logits, %wo, %e, %kv, %kept : tensor<?x256xf32>, tensor<?x64xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>
}
