// RUN: v4c-opt %s --v4c-npu-gemm-kernel="arch=910b m=40 n=100 k=200 tiles=32,32,128,64,8" --canonicalize --v4c-npu-insert-sync --v4c-npu-plan-buffers | FileCheck %s
// RUN: not v4c-opt %s --v4c-npu-gemm-kernel="arch=910b m=128 n=128 k=1024 tiles=128,128,128,128,1" 2>&1 | FileCheck %s --check-prefix=TOO-BIG
// RUN: not v4c-opt %s --v4c-npu-gemm-kernel="arch=910x" 2>&1 | FileCheck %s --check-prefix=ARCH

// The cube GEMM: ping-pong L1/L0 buffers, a tile loop over the blocks, K in L1 chunks of 128
// (one full chunk, then a rest of 72) moved to the cube in steps of 64: 64, 64, 64 and 8.
// CHECK:       module attributes {npu.arch = {{.*}}name = "910b"
// CHECK-LABEL: func.func @gemm(%{{.*}}: index, %{{.*}}: index, %{{.*}}: index)
// CHECK-SAME:    block_dim = 8 : i64, core = "aic"
// CHECK-SAME:    npu.local_bytes = array<i64: 0, 65536, 16384, 16384, 4096, 0>
// CHECK-SAME:    npu.tiling = array<i64: 32, 32, 128, 64>
// CHECK-COUNT-4: npu.alloc {{.*}}space = "l1"
// CHECK:         %[[BLOCK:.+]] = npu.block_idx
// CHECK:         %[[BLOCKS:.+]] = npu.block_num
// CHECK:         npu.set_flag {dst = "M", id = 0 : i64, src = "FIX"}
// CHECK:         scf.for %{{.*}} = %[[BLOCK]] to %{{.*}} step %[[BLOCKS]]
// CHECK-COUNT-2:   npu.nd2nz
// CHECK:           npu.load_l0 {{.*}}dstSpace = "l0a"
// CHECK:           npu.load_l0 {{.*}}dstSpace = "l0b"
// CHECK:           npu.wait_flag {dst = "M", id = 0 : i64, src = "FIX"}
// CHECK:           npu.mmad {{.*}} {aType = f32, bType = f32, cType = f32}
// CHECK-COUNT-3:   npu.mmad
// CHECK:           npu.set_flag {dst = "FIX", id = 0 : i64, src = "M"}
// CHECK:           npu.wait_flag {dst = "FIX", id = 0 : i64, src = "M"}
// CHECK-NEXT:      npu.fixpipe {{.*}} {elementType = f32}
// CHECK-NEXT:      npu.set_flag {dst = "M", id = 0 : i64, src = "FIX"}
// CHECK:         npu.wait_flag {dst = "M", id = 0 : i64, src = "FIX"}

// TOO-BIG: error: tiles 128x128x128/128: l0a needs 131072 bytes, the 910b has 65536
// ARCH: error: unknown NPU architecture '910x' (built-in: 910b 950; or a path to a description file)
module {}
