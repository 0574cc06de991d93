// RUN: v4c-opt %s --v4c-npu-insert-sync --v4c-npu-plan-buffers | FileCheck %s

// A double-buffered copy-in/compute loop in the shape of NPU.md §7.6 on the cube: the pass
// orders each buffer's writer and readers across pipes. Inside the loop: MTE2 → MTE1 (the L1
// tile is loaded before it is read), MTE1 → M (L0A before the cube reads it); around the back
// edge the reverse edges guard reuse (M → MTE1, MTE1 → MTE2), pre-set before the loop and
// drained after it. Buffers get offsets in their space; npu.local_bytes records the peaks.
module attributes {npu.arch = {name = "910b", capacity = {l1 = 524288, l0a = 65536, l0b = 65536, l0c = 131072, ub = 196608}, alignment = {l1 = 32, l0a = 512, l0b = 512, l0c = 1024, ub = 32}, cube = ["bf16,bf16,f32", "f32,f32,f32"], event_ids = 8}} {
  // CHECK-LABEL: func.func @loop
  // CHECK-SAME:    npu.local_bytes = array<i64: 0, 8192, 8192, 8192, 4096, 0>
  // CHECK:         npu.alloc {bytes = 8192 : i64, offset = 0 : i64, space = "l1"}
  // CHECK:         npu.alloc {bytes = 8192 : i64, offset = 0 : i64, space = "l0a"}
  // CHECK:         npu.set_flag {dst = "MTE1", id = 0 : i64, src = "M"}
  // CHECK-NEXT:    npu.set_flag {dst = "MTE2", id = 0 : i64, src = "MTE1"}
  // CHECK-NEXT:    scf.for
  // CHECK-NEXT:      npu.wait_flag {dst = "MTE2", id = 0 : i64, src = "MTE1"}
  // CHECK-NEXT:      npu.nd2nz
  // CHECK-NEXT:      npu.set_flag {dst = "MTE1", id = 0 : i64, src = "MTE2"}
  // CHECK-NEXT:      npu.wait_flag {dst = "MTE1", id = 0 : i64, src = "M"}
  // CHECK-NEXT:      npu.wait_flag {dst = "MTE1", id = 0 : i64, src = "MTE2"}
  // CHECK-NEXT:      npu.load_l0
  // CHECK-NEXT:      npu.set_flag {dst = "MTE2", id = 0 : i64, src = "MTE1"}
  // CHECK-NEXT:      npu.set_flag {dst = "M", id = 0 : i64, src = "MTE1"}
  // CHECK-NEXT:      npu.wait_flag {dst = "M", id = 0 : i64, src = "MTE1"}
  // CHECK-NEXT:      npu.mmad
  // CHECK-NEXT:      npu.set_flag {dst = "MTE1", id = 0 : i64, src = "M"}
  // CHECK-NEXT:    }
  // CHECK-NEXT:    npu.wait_flag {dst = "MTE2", id = 0 : i64, src = "MTE1"}
  // CHECK-NEXT:    npu.wait_flag {dst = "MTE1", id = 0 : i64, src = "M"}
  func.func @loop(%x: index, %w: index, %y: index) attributes {npu.kernel = {core = "aic", block_dim = 1, params = ["x", "w", "y"], param_bytes = array<i64: 8192, 8192, 4096>, outputs = array<i1: false, false, true>}} {
    %l1 = npu.alloc {space = "l1", bytes = 8192} : index
    %l0a = npu.alloc {space = "l0a", bytes = 8192} : index
    %l0b = npu.alloc {space = "l0b", bytes = 8192} : index
    %l0c = npu.alloc {space = "l0c", bytes = 4096} : index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c16 = arith.constant 16 : index
    %c32 = arith.constant 32 : index
    scf.for %i = %c0 to %c4 step %c1 {
      npu.nd2nz %l1, %x, %c16, %c32, %c32, %c16 {elementType = f32}
      npu.load_l0 %l0a, %l1, %c1, %c4, %c1 {dstSpace = "l0a"}
      npu.mmad %l0c, %l0a, %l0b, %c16, %c32, %c16, %c1 {aType = f32, bType = f32, cType = f32}
    }
    return
  }
  // The same loop inside a tile loop that also drains L0C (FixPipe): the L1 and L0A reuse
  // pairs carry across the tile loop (pre-set before it, drained after it), so the next tile's
  // first load waits only for this tile's last read of the buffer; L0C's M/FIX pair stays
  // in the tile loop, around the FixPipe.
  // CHECK-LABEL: func.func @tiles
  // CHECK:         npu.set_flag {dst = "MTE1", id = 0 : i64, src = "M"}
  // CHECK-NEXT:    npu.set_flag {dst = "MTE2", id = 0 : i64, src = "MTE1"}
  // CHECK-NEXT:    npu.set_flag {dst = "M", id = 0 : i64, src = "FIX"}
  // CHECK-NEXT:    scf.for
  // CHECK-NEXT:      npu.wait_flag {dst = "M", id = 0 : i64, src = "FIX"}
  // CHECK-NEXT:      scf.for
  // CHECK-NEXT:        npu.wait_flag {dst = "MTE2", id = 0 : i64, src = "MTE1"}
  // CHECK:             npu.mmad
  // CHECK-NEXT:        npu.set_flag {dst = "MTE1", id = 0 : i64, src = "M"}
  // CHECK-NEXT:      }
  // CHECK-NEXT:      npu.set_flag {dst = "FIX", id = 0 : i64, src = "M"}
  // CHECK-NEXT:      npu.wait_flag {dst = "FIX", id = 0 : i64, src = "M"}
  // CHECK-NEXT:      npu.fixpipe
  // CHECK-NEXT:      npu.set_flag {dst = "M", id = 0 : i64, src = "FIX"}
  // CHECK-NEXT:    }
  // CHECK-NEXT:    npu.wait_flag {dst = "M", id = 0 : i64, src = "FIX"}
  // CHECK-NEXT:    npu.wait_flag {dst = "MTE2", id = 0 : i64, src = "MTE1"}
  // CHECK-NEXT:    npu.wait_flag {dst = "MTE1", id = 0 : i64, src = "M"}
  func.func @tiles(%x: index, %w: index, %y: index) attributes {npu.kernel = {core = "aic", block_dim = 1, params = ["x", "w", "y"], param_bytes = array<i64: 8192, 8192, 4096>, outputs = array<i1: false, false, true>}} {
    %l1 = npu.alloc {space = "l1", bytes = 8192} : index
    %l0a = npu.alloc {space = "l0a", bytes = 8192} : index
    %l0b = npu.alloc {space = "l0b", bytes = 8192} : index
    %l0c = npu.alloc {space = "l0c", bytes = 4096} : index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c16 = arith.constant 16 : index
    %c32 = arith.constant 32 : index
    scf.for %t = %c0 to %c2 step %c1 {
      scf.for %i = %c0 to %c4 step %c1 {
        npu.nd2nz %l1, %x, %c16, %c32, %c32, %c16 {elementType = f32}
        npu.load_l0 %l0a, %l1, %c1, %c4, %c1 {dstSpace = "l0a"}
        npu.mmad %l0c, %l0a, %l0b, %c16, %c32, %c16, %i {aType = f32, bType = f32, cType = f32}
      }
      npu.fixpipe %y, %l0c, %c16, %c16, %c16, %c16 {elementType = f32}
    }
    return
  }
}
