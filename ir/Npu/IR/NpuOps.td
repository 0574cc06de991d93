// The npu dialect: kernels for a CANN-style NPU (NPU.md §7), one op per instruction of the
// kernel binary format (runtime/npu/Kernel.fbs), so that serialization is a direct walk.
#ifndef V4C_NPU_OPS
#define V4C_NPU_OPS

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Npu_Dialect : Dialect {
  let name = "npu";
  let cppNamespace = "::v4c::npu";
  let summary = "Tiled kernels for a CANN-style NPU: buffers, DMA, cube, vector, sync";
  let description = [{
    A kernel is a `func.func` with the `npu.kernel` attribute (core type, block count, the GM
    parameters); its index arguments are the GM addresses of those parameters. Scalar work is
    `arith` on index values and `scf.for`; everything else is an npu op, one per instruction of
    runtime/npu/Kernel.fbs. Addresses are index values: GM ones derive from the arguments,
    on-chip ones from `npu.alloc` (a buffer in one space; its byte `offset` is planned by
    v4c-npu-plan-buffers). The enclosing module's `npu.arch` attribute names the NPU and gives
    what the verifier checks against: capacity and alignment per space, the cube's legal
    operand types, the event ids per pipe pair.
  }];
  let hasOperationAttrVerify = 1; // npu.kernel, npu.arch
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::func::FuncDialect"];
}

class Npu_Op<string mnemonic, list<Trait> traits = []> : Op<Npu_Dialect, mnemonic, traits>;

// Spaces ("gm" "l1" "l0a" "l0b" "l0c" "ub") and pipes ("S" "V" "M" "MTE1" "MTE2" "MTE3" "FIX",
// "ALL" for barriers) are string attributes, checked by the verifiers.

//===----------------------------------------------------------------------===//
// Buffers and scalar state
//===----------------------------------------------------------------------===//

def Npu_AllocOp : Npu_Op<"alloc", [Pure]> {
  let summary = "A buffer of `bytes` in an on-chip space; its address";
  let description = [{
    `offset` is the buffer's planned byte address in the space (v4c-npu-plan-buffers); the
    verifier checks it against the space's capacity and alignment.
    Example: `%a = npu.alloc {space = "l0a", bytes = 32768, offset = 0} : index`
  }];
  let arguments = (ins StrAttr:$space, I64Attr:$bytes, OptionalAttr<I64Attr>:$offset);
  let results = (outs Index:$address);
  let assemblyFormat = "attr-dict `:` type($address)";
  let hasVerifier = 1;
}

def Npu_BlockIdxOp : Npu_Op<"block_idx", [Pure]> {
  let summary = "This block's index in [0, block_dim)";
  let results = (outs Index:$index);
  let assemblyFormat = "attr-dict `:` type($index)";
}

def Npu_BlockNumOp : Npu_Op<"block_num", [Pure]> {
  let summary = "The launch's block_dim";
  let results = (outs Index:$count);
  let assemblyFormat = "attr-dict `:` type($count)";
}

//===----------------------------------------------------------------------===//
// Data movement (MTE2, MTE3, MTE1) and the cube (M, FIX)
//===----------------------------------------------------------------------===//

def Npu_DmaOp : Npu_Op<"dma"> {
  let summary = "Burst copy between GM and L1/UB: `bursts` of `len` bytes, strided";
  let arguments = (ins Index:$dst, Index:$src, Index:$bursts, Index:$len, Index:$srcStride,
                       Index:$dstStride, StrAttr:$srcSpace, StrAttr:$dstSpace);
  let assemblyFormat = [{
    $dst `,` $src `,` $bursts `,` $len `,` $srcStride `,` $dstStride attr-dict
  }];
  let hasVerifier = 1;
}

def Npu_Nd2NzOp : Npu_Op<"nd2nz"> {
  let summary = "GM [rows, cols] (row stride `srcRow` elements) → NZ fractals of an L1 tile";
  let description = [{
    MTE2. The L1 tile has `dstRows` rows (a multiple of 16): fractal column j starts at
    dst + j·dstRows·32 bytes; rows and columns past the block are zero up to whole fractals.
  }];
  let arguments = (ins Index:$dst, Index:$src, Index:$rows, Index:$cols, Index:$srcRow,
                       Index:$dstRows, TypeAttr:$elementType);
  let assemblyFormat = "$dst `,` $src `,` $rows `,` $cols `,` $srcRow `,` $dstRows attr-dict";
}

def Npu_LoadL0Op : Npu_Op<"load_l0"> {
  let summary = "L1 NZ fractals → L0A (ZZ) or L0B (ZN): a rows1 x k1 grid";
  let arguments = (ins Index:$dst, Index:$src, Index:$rows1, Index:$k1, Index:$srcColStride,
                       StrAttr:$dstSpace);
  let assemblyFormat = "$dst `,` $src `,` $rows1 `,` $k1 `,` $srcColStride attr-dict";
  let hasVerifier = 1;
}

def Npu_MmadOp : Npu_Op<"mmad"> {
  let summary = "L0C [m, n] (+)= L0A [m, k] · L0B [k, n] on the cube";
  let description = [{
    `accumulate` (0 or 1, an index value) adds to C instead of overwriting it. The operand
    types must be a cube format of the module's NPU.
  }];
  let arguments = (ins Index:$c, Index:$a, Index:$b, Index:$m, Index:$k, Index:$n,
                       Index:$accumulate, TypeAttr:$aType, TypeAttr:$bType, TypeAttr:$cType);
  let assemblyFormat = "$c `,` $a `,` $b `,` $m `,` $k `,` $n `,` $accumulate attr-dict";
  let hasVerifier = 1;
}

def Npu_FixpipeOp : Npu_Op<"fixpipe"> {
  let summary = "L0C NZ tile → GM rows (NZ→ND), f32 converted to `elementType`";
  let description = [{
    On the way: max(x, 0) with `relu`; quantization to i8 (`elementType` i8) as x ·
    `quantScale` rounded to nearest even and saturated.
  }];
  let arguments = (ins Index:$dst, Index:$src, Index:$m, Index:$n, Index:$dstRow, Index:$srcRows,
                       TypeAttr:$elementType, UnitAttr:$relu, OptionalAttr<F32Attr>:$quantScale);
  let assemblyFormat = "$dst `,` $src `,` $m `,` $n `,` $dstRow `,` $srcRows attr-dict";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Vector unit (V, AIV): operands in UB; each repeat covers the NPU's vector_repeat_bytes per
// operand as 32-byte blocks; strides in blocks (`blockStrides` within a repeat, `repeatStrides`
// between repeats), dst first; lanes past the mask (npu.set_mask) are left as they are.
//===----------------------------------------------------------------------===//

class Npu_VectorOp<string mnemonic, dag operands, string kinds> : Npu_Op<mnemonic> {
  let arguments = !con(operands, (ins Index:$repeats, StrAttr:$kind, TypeAttr:$elementType,
                                      DenseI64ArrayAttr:$blockStrides,
                                      DenseI64ArrayAttr:$repeatStrides));
  let description = "`kind` is one of: " # kinds # ".";
  let hasVerifier = 1;
}

def Npu_VBinaryOp : Npu_VectorOp<"vbinary", (ins Index:$dst, Index:$lhs, Index:$rhs),
                                 "add sub mul div max min"> {
  let summary = "dst = lhs ∘ rhs, lane by lane";
  let assemblyFormat = "$kind $dst `,` $lhs `,` $rhs `,` $repeats attr-dict";
}

def Npu_VUnaryOp : Npu_VectorOp<"vunary", (ins Index:$dst, Index:$src),
                                "exp abs sqrt recip copy sin cos log1p"> {
  let summary = "dst = f(src), lane by lane";
  let assemblyFormat = "$kind $dst `,` $src `,` $repeats attr-dict";
}

def Npu_VScalarOp : Npu_VectorOp<"vscalar", (ins Index:$dst, Index:$src,
                                                Optional<Index>:$dynamicScalar, F32Attr:$scalar),
                                 "add mul max min"> {
  let summary = "dst = src ∘ scalar, lane by lane";
  let description = [{
    The scalar is the `scalar` attribute, or, when given, `dynamicScalar`: the bits of an f32
    the scalar unit holds (npu.load_scalar), e.g. a value reduced on the vector unit.
  }];
  let assemblyFormat = "$kind $dst `,` $src `,` $repeats (`by` $dynamicScalar^)? attr-dict";
}

def Npu_VReduceOp : Npu_VectorOp<"vreduce", (ins Index:$dst, Index:$src), "sum max argmax"> {
  let summary = "One value per repeat (its lanes in order), written contiguously from dst";
  let description = [{
    `kind` is sum, max or argmax (f32: per repeat a pair at dst + 8r, the max and the u32 lane
    of its first occurrence); the strides describe the source only.
  }];
  let assemblyFormat = "$kind $dst `,` $src `,` $repeats attr-dict";
}

def Npu_VGatherOp : Npu_Op<"vgather"> {
  let summary = "dst[i] = the f32 at src + offsets[i] (u32 byte offsets in UB), lane by lane";
  let description = [{
    `repeats` whole repeats; dst and the offsets are contiguous, the lanes past the mask are
    left as they are. E.g. swapping the channels of each pair (RoPE's interleaved pairs).
  }];
  let arguments = (ins Index:$dst, Index:$src, Index:$offsets, Index:$repeats);
  let assemblyFormat = "$dst `,` $src `,` $offsets `,` $repeats attr-dict";
}

def Npu_IntToFloatOp : Npu_Op<"int_to_float", [Pure]> {
  let summary = "The bits of the f32 nearest to an integer (the scalar unit converts it)";
  let description = "E.g. a token's position, then broadcast by a vector-scalar op.";
  let arguments = (ins Index:$value);
  let results = (outs Index:$bits);
  let assemblyFormat = "$value attr-dict `:` type($bits)";
}

def Npu_LoadScalarOp : Npu_Op<"load_scalar"> {
  let summary = "The scalar unit reads the 32 bits at a UB or GM address (zero-extended)";
  let description = [{
    E.g. an f32's bits reduced on the vector unit (UB), or a count a previous kernel wrote (GM,
    through the scalar unit's data cache: the first read of a line costs a GM round trip).
  }];
  let arguments = (ins Index:$address, DefaultValuedStrAttr<StrAttr, "ub">:$space);
  let results = (outs Index:$bits);
  let assemblyFormat = "$address attr-dict `:` type($bits)";
  let hasVerifier = 1;
}

def Npu_StoreScalarOp : Npu_Op<"store_scalar"> {
  let summary = "The scalar unit writes the low 32 bits of a value to a UB or GM address";
  let description = "E.g. tables built by scalar code (counts, offsets, a permutation).";
  let arguments = (ins Index:$value, Index:$address,
                       DefaultValuedStrAttr<StrAttr, "ub">:$space);
  let assemblyFormat = "$value `,` $address attr-dict";
  let hasVerifier = 1;
}

def Npu_SetMaskOp : Npu_Op<"set_mask"> {
  let summary = "The next vector ops use the first `count` lanes of each repeat (0: all)";
  let arguments = (ins Index:$count);
  let assemblyFormat = "$count attr-dict";
}

//===----------------------------------------------------------------------===//
// Synchronization
//===----------------------------------------------------------------------===//

def Npu_SetFlagOp : Npu_Op<"set_flag"> {
  let summary = "Queued on pipe `src`: sets event `id` of (src, dst) when src's earlier work is done";
  let arguments = (ins StrAttr:$src, StrAttr:$dst, I64Attr:$id);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def Npu_WaitFlagOp : Npu_Op<"wait_flag"> {
  let summary = "Queued on pipe `dst`: blocks it until event `id` of (src, dst) is set, then clears it";
  let arguments = (ins StrAttr:$src, StrAttr:$dst, I64Attr:$id);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def Npu_BarrierOp : Npu_Op<"barrier"> {
  let summary = "Drains `pipe` (\"ALL\": every pipe)";
  let arguments = (ins StrAttr:$pipe);
  let assemblyFormat = "attr-dict";
}

#endif // V4C_NPU_OPS
