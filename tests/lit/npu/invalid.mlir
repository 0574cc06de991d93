// RUN: v4c-opt %s -split-input-file -verify-diagnostics

// The verifier checks npu ops against the module's NPU (npu.arch): capacity, alignment, cube
// operand types, event ids.
module attributes {npu.arch = {name = "910b", capacity = {l1 = 524288, l0a = 65536, l0b = 65536, l0c = 131072, ub = 196608}, alignment = {l1 = 32, l0a = 512, l0b = 512, l0c = 1024, ub = 32}, cube = ["bf16,bf16,f32", "f32,f32,f32"], event_ids = 8}} {
  func.func @oversize() {
    // expected-error @+1 {{[0, 131072) does not fit the 65536-byte l0a of the 910b}}
    %a = npu.alloc {space = "l0a", bytes = 131072, offset = 0} : index
    return
  }
}

// -----

module attributes {npu.arch = {name = "910b", capacity = {l1 = 524288, l0a = 65536, l0b = 65536, l0c = 131072, ub = 196608}, alignment = {l1 = 32, l0a = 512, l0b = 512, l0c = 1024, ub = 32}, cube = ["bf16,bf16,f32", "f32,f32,f32"], event_ids = 8}} {
  func.func @misaligned() {
    // expected-error @+1 {{offset 256 is not aligned to the l0a's 512 bytes}}
    %a = npu.alloc {space = "l0a", bytes = 512, offset = 256} : index
    return
  }
}

// -----

module attributes {npu.arch = {name = "910b", capacity = {l1 = 524288, l0a = 65536, l0b = 65536, l0c = 131072, ub = 196608}, alignment = {l1 = 32, l0a = 512, l0b = 512, l0c = 1024, ub = 32}, cube = ["bf16,bf16,f32", "f32,f32,f32"], event_ids = 8}} {
  func.func @fp8_on_910b() {
    %a = npu.alloc {space = "l0a", bytes = 8192} : index
    %b = npu.alloc {space = "l0b", bytes = 8192} : index
    %c = npu.alloc {space = "l0c", bytes = 16384} : index
    %m = arith.constant 16 : index
    %k = arith.constant 64 : index
    %zero = arith.constant 0 : index
    // expected-error @+1 {{the 910b cube has no 'f8E4M3FN' x 'f8E4M3FN' -> 'f32' mode}}
    npu.mmad %c, %a, %b, %m, %k, %m, %zero {aType = f8E4M3FN, bType = f8E4M3FN, cType = f32}
    return
  }
}

// -----

module attributes {npu.arch = {name = "910b", capacity = {l1 = 524288, l0a = 65536, l0b = 65536, l0c = 131072, ub = 196608}, alignment = {l1 = 32, l0a = 512, l0b = 512, l0c = 1024, ub = 32}, cube = ["bf16,bf16,f32", "f32,f32,f32"], event_ids = 8}} {
  func.func @tile_past_its_buffer() {
    %a = npu.alloc {space = "l0a", bytes = 4096} : index
    %b = npu.alloc {space = "l0b", bytes = 65536} : index
    %c = npu.alloc {space = "l0c", bytes = 131072} : index
    %m = arith.constant 64 : index
    %k = arith.constant 64 : index
    %zero = arith.constant 0 : index
    // expected-error @+1 {{the A tile needs 16384 bytes; its l0a buffer has 4096}}
    npu.mmad %c, %a, %b, %m, %k, %m, %zero {aType = f32, bType = f32, cType = f32}
    return
  }
}

// -----

module attributes {npu.arch = {name = "910b", capacity = {l1 = 524288, l0a = 65536, l0b = 65536, l0c = 131072, ub = 196608}, alignment = {l1 = 32, l0a = 512, l0b = 512, l0c = 1024, ub = 32}, cube = ["bf16,bf16,f32", "f32,f32,f32"], event_ids = 8}} {
  func.func @flags() {
    // expected-error @+1 {{event id 8 is out of range for the 910b}}
    npu.set_flag {src = "MTE2", dst = "MTE1", id = 8}
    return
  }
}

// -----

func.func @same_pipe() {
  // expected-error @+1 {{connects two different pipes (S V M MTE1 MTE2 MTE3 FIX), got V -> V}}
  npu.wait_flag {src = "V", dst = "V", id = 0}
  return
}

// -----

func.func @bad_space() {
  // expected-error @+1 {{space must be an on-chip buffer (l1 l0a l0b l0c ub), got 'gm'}}
  %a = npu.alloc {space = "gm", bytes = 64} : index
  return
}

// -----

func.func @bad_dma(%g: index) {
  %a = npu.alloc {space = "l0a", bytes = 512} : index
  %one = arith.constant 1 : index
  // expected-error @+1 {{moves gm to l1/ub or ub to gm, not gm to l0a}}
  npu.dma %a, %g, %one, %one, %one, %one {srcSpace = "gm", dstSpace = "l0a"}
  return
}

// -----

// expected-error @+1 {{npu.kernel: params, param_bytes (param_bytes_per_unit) and outputs must give one entry per GM argument, then come the scalars}}
func.func @kernel(%x: index) attributes {npu.kernel = {core = "aic", block_dim = 1, params = ["x", "y"], param_bytes = array<i64: 4, 4>, outputs = array<i1: false, true>}} {
  return
}

// -----

func.func @vector_kind(%a: index) {
  %r = arith.constant 1 : index
  // expected-error @+1 {{has no kind 'pow'}}
  npu.vbinary "pow" %a, %a, %a, %r {elementType = f32, blockStrides = array<i64: 1, 1, 1>, repeatStrides = array<i64: 8, 8, 8>}
  return
}

// -----

func.func @vector_strides(%a: index) {
  %r = arith.constant 1 : index
  // expected-error @+1 {{needs 2 block and repeat strides}}
  npu.vunary "exp" %a, %a, %r {elementType = f32, blockStrides = array<i64: 1>, repeatStrides = array<i64: 8, 8>}
  return
}

// -----

func.func @vector_type(%a: index) {
  %r = arith.constant 1 : index
  // expected-error @+1 {{computes on f32, f16 or bf16, not 'i32'}}
  npu.vreduce "sum" %a, %a, %r {elementType = i32, blockStrides = array<i64: 1>, repeatStrides = array<i64: 8>}
  return
}

// -----

// FixPipe quantizes exactly when it writes i8.
func.func @fixpipe_quantization(%y: index, %c: index, %n: index) {
  // expected-error @+1 {{quantizes (quantScale) exactly when it writes i8}}
  npu.fixpipe %y, %c, %n, %n, %n, %n {elementType = i8}
  return
}

// -----

func.func @fixpipe_type(%y: index, %c: index, %n: index) {
  // expected-error @+1 {{writes f32, bf16, f16 or i8 (quantized), not 'i32'}}
  npu.fixpipe %y, %c, %n, %n, %n, %n {elementType = i32, quantScale = 2.0 : f32}
  return
}
