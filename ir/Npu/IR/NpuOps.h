// The npu dialect's ops, and what passes ask of them: the pipe each runs on and the on-chip
// buffers it reads and writes.
#pragma once

#include "ir/Npu/IR/NpuDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <optional>

#define GET_OP_CLASSES
#include "ir/Npu/IR/NpuOps.h.inc"

namespace v4c::npu {

/// Attribute names.
constexpr llvm::StringLiteral kArchAttr = "npu.arch";     // on the module
constexpr llvm::StringLiteral kKernelAttr = "npu.kernel"; // on a kernel func.func
/// On a graph op: the index of the NPU kernel the host code launches instead of computing it
/// (graph.moe_experts: the indices of its five kernels, codegen/npu/MoeKernels.cpp).
constexpr llvm::StringLiteral kLaunchAttr = "npu.launch";

/// The GM table the MoE kernels share (the host allocates it), for R = tokens x top-k routed
/// rows, in bytes: the number of work items (i32) in a 32-byte header; then per item (expert,
/// first row, rows) as i32, at most R items; each (token, k) slot's row in expert order (i32);
/// each row's routing weight (f32).
struct MoeRoute {
  static constexpr int64_t kHeaderBytes = 32, kItemBytes = 12, kBytesPerRow = 12 + 4 + 4;
  /// Where the sections start: kHeaderBytes + R · k...PerRow (the items: R · 0).
  static constexpr int64_t kSlotsPerRow = kItemBytes, kWeightsPerRow = kItemBytes + 4;
};

/// f32 lanes per token of the lightning indexer's score scratch (the host allocates it) for at
/// most `capacity` compressed entries: whole 64-lane repeats.
inline int64_t indexScoreLanes(int64_t capacity) { return (capacity + 63) / 64 * 64; }

/// What the verifiers check against, read from the module's npu.arch attribute:
///   {name = "910b", capacity = {l1 = 524288, ...}, alignment = {l1 = 32, ...},
///    cube = ["f32,f32,f32", "bf16,bf16,f32", ...], event_ids = 8}
struct ArchLimits {
  llvm::StringRef name;
  mlir::DictionaryAttr capacity, alignment;
  mlir::ArrayAttr cube;
  int64_t eventIds = 0;
  std::optional<int64_t> capacityOf(llvm::StringRef space) const;
  std::optional<int64_t> alignmentOf(llvm::StringRef space) const;
  bool cubeSupports(mlir::Type a, mlir::Type b, mlir::Type c) const;
};
/// The limits of the NPU `op`'s module is compiled for, if it names one.
std::optional<ArchLimits> archLimitsOf(mlir::Operation *op);

/// The npu-dialect name of an element type ("f32", "bf16", "f8e4m3", ...), or "" if none.
std::string elementTypeName(mlir::Type type);

/// The pipe an npu op runs on ("S" for ops the scalar unit does itself).
llvm::StringRef pipeOf(mlir::Operation *op);

/// One access of an op to an on-chip buffer (an npu.alloc), for synchronization.
struct BufferAccess {
  AllocOp buffer;
  bool write;
};
/// The on-chip buffers `op` reads and writes (addresses traced through arith.addi to their
/// npu.alloc). GM is not listed: the kernels built so far read and write disjoint GM ranges per
/// block and order nothing through GM (an assumption, not checked here; the simulator checks
/// GM races within a block). An on-chip address that does not trace to one npu.alloc is
/// returned in `untraced` (when given).
llvm::SmallVector<BufferAccess> bufferAccesses(mlir::Operation *op, mlir::Value *untraced = nullptr);

} // namespace v4c::npu
