// The cube GEMM kernel (NPU.md §2.2, §3.2's CopyIn → Split → Compute → CopyOut):
//
//   for t in [block_idx, tiles) step block_num:           each block's output tiles
//     for each K chunk of kt1, alternating ping and pong L1 buffers:
//       MTE2  x[m0.., k..] → L1 A (ND→NZ);  w[n0.., k..] → L1 B (ND→NZ = B's ZN)
//       for each K step of kt in the chunk, alternating ping and pong L0 buffers:
//         MTE1  L1 A → L0A (ZZ);  L1 B → L0B (ZN)
//         M     L0C (+)= L0A · L0B
//     FIX   L0C → y[m0.., n0..] (NZ→ND)
//
// Grouped (MoE experts): the tiles' row blocks are the route table's work items, each with its
// expert's weight matrix (MoeKernels.cpp).
//
// Chunks are several L0 steps long so that one GM transfer's latency is paid per chunk, not per
// cube step. They come in pairs (ping, pong) inside an scf.for, then up to two single chunks,
// so that every buffer is a fixed npu.alloc: the synchronization pass reasons about buffers.
#include "codegen/npu/NpuTarget.h"

#include "ir/Npu/IR/NpuOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

using namespace mlir;

namespace v4c::npu {

namespace {

/// Index arithmetic for the kernel's scalar unit.
struct Scalar {
  OpBuilder &b;
  Location loc;
  Value c(int64_t v) { return b.create<arith::ConstantIndexOp>(loc, v); }
  Value add(Value x, Value y) { return b.create<arith::AddIOp>(loc, x, y); }
  Value sub(Value x, Value y) { return b.create<arith::SubIOp>(loc, x, y); }
  Value mul(Value x, Value y) { return b.create<arith::MulIOp>(loc, x, y); }
  Value div(Value x, Value y) { return b.create<arith::DivUIOp>(loc, x, y); }
  Value rem(Value x, Value y) { return b.create<arith::RemUIOp>(loc, x, y); }
  Value min(Value x, Value y) { return b.create<arith::MinUIOp>(loc, x, y); }
  Value ceilDiv(Value x, int64_t d) { return div(add(x, c(d - 1)), c(d)); }
};

struct Slot {
  Value l1a, l1b, l0a, l0b;
};

} // namespace

func::FuncOp buildGemmKernel(ModuleOp module, StringRef name, const GemmShape &shape,
                             const GemmTiling &tiling) {
  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = module.getLoc();
  Type index = b.getIndexType();
  int64_t inBits = shape.inputType.getIntOrFloatBitWidth();
  int64_t inBytes = inBits / 8, outBytes = shape.outputType.getIntOrFloatBitWidth() / 8;
  int64_t k0 = 256 / inBits;
  bool grouped = shape.experts > 0; // by the route table
  SmallVector<Type> args(grouped ? 6 : shape.dynamicM ? 4 : 3, index);
  auto func = b.create<func::FuncOp>(loc, name, b.getFunctionType(args, {}));
  // GM sizes: x and y grow with M (per row), w does not. Rows hold the batches side by side.
  int64_t xStride = shape.batches * shape.k, yStride = shape.batches * shape.n;
  int64_t xRow = xStride * inBytes, yRow = yStride * outBytes,
          wBytes = shape.batches * shape.n * shape.k * inBytes;
  SmallVector<NamedAttribute> kernelAttrs = {
      b.getNamedAttr("core", b.getStringAttr("aic")),
      b.getNamedAttr("block_dim", b.getI64IntegerAttr(tiling.blockDim))};
  if (grouped) { // x w route y; the route table and x, y grow with the routed rows
    kernelAttrs.append(
        {b.getNamedAttr("params", b.getStrArrayAttr({"x", "w", "route", "y"})),
         b.getNamedAttr("outputs", b.getDenseBoolArrayAttr({false, false, false, true})),
         b.getNamedAttr("param_bytes", b.getDenseI64ArrayAttr(
                                           {0, shape.experts * wBytes, MoeRoute::kHeaderBytes, 0})),
         b.getNamedAttr("param_bytes_per_unit",
                        b.getDenseI64ArrayAttr({xRow, 0, MoeRoute::kBytesPerRow, yRow})),
         b.getNamedAttr("scalars", b.getStrArrayAttr({"rows", "tokens"}))});
  } else {
    kernelAttrs.push_back(b.getNamedAttr("params", b.getStrArrayAttr({"x", "w", "y"})));
    kernelAttrs.push_back(
        b.getNamedAttr("outputs", b.getDenseBoolArrayAttr({false, false, true})));
    if (shape.dynamicM) {
      kernelAttrs.push_back(
          b.getNamedAttr("param_bytes", b.getDenseI64ArrayAttr({0, wBytes, 0})));
      kernelAttrs.push_back(
          b.getNamedAttr("param_bytes_per_unit", b.getDenseI64ArrayAttr({xRow, 0, yRow})));
      kernelAttrs.push_back(b.getNamedAttr("scalars", b.getStrArrayAttr({"m"})));
    } else {
      kernelAttrs.push_back(b.getNamedAttr(
          "param_bytes", b.getDenseI64ArrayAttr({shape.m * xRow, wBytes, shape.m * yRow})));
    }
  }
  func->setAttr(kKernelAttr, b.getDictionaryAttr(kernelAttrs));
  func->setAttr("npu.tiling",
                b.getDenseI64ArrayAttr({tiling.mt, tiling.nt, tiling.kt1, tiling.kt}));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Scalar s{b, loc};
  Value x = entry->getArgument(0), w = entry->getArgument(1);
  Value route = grouped ? entry->getArgument(2) : Value(), y = entry->getArgument(grouped ? 3 : 2);

  auto alloc = [&](StringRef space, int64_t bytes) -> Value {
    return b.create<AllocOp>(loc, index, b.getStringAttr(space), b.getI64IntegerAttr(bytes),
                             IntegerAttr());
  };
  int64_t mt = tiling.mt, nt = tiling.nt, kt = tiling.kt, kt1 = tiling.kt1;
  Slot slots[2];
  for (Slot &slot : slots) {
    slot.l1a = alloc("l1", mt * kt1 * inBytes);
    slot.l1b = alloc("l1", nt * kt1 * inBytes);
  }
  for (Slot &slot : slots) {
    slot.l0a = alloc("l0a", mt * kt * inBytes);
    slot.l0b = alloc("l0b", nt * kt * inBytes);
  }
  Value l0c = alloc("l0c", mt * nt * 4);

  // Output tiles: (row block, N tile) pairs, the row blocks of mt rows of M, or the route
  // table's work items (an expert's rows, at most mt) when grouped.
  int64_t tilesN = (shape.n + nt - 1) / nt;
  auto gmScalar = [&](Value address) {
    return b.create<LoadScalarOp>(loc, index, address, b.getStringAttr("gm")).getResult();
  };
  Value m = grouped ? Value() : shape.dynamicM ? entry->getArgument(3) : s.c(shape.m);
  Value rowBlocks = grouped ? gmScalar(route) : s.ceilDiv(m, mt);
  Value tilesPerBatch = s.mul(rowBlocks, s.c(tilesN));
  Value first = b.create<BlockIdxOp>(loc, index), step = b.create<BlockNumOp>(loc, index);
  auto tileLoop = b.create<scf::ForOp>(loc, first, s.mul(tilesPerBatch, s.c(shape.batches)), step);
  b.setInsertionPointToStart(tileLoop.getBody());
  Value t = tileLoop.getInductionVar();
  Value wMatrix = w;
  if (shape.batches > 1) { // batch b: its column blocks of x and y, its matrix of w
    Value batch = s.div(t, tilesPerBatch);
    t = s.rem(t, tilesPerBatch);
    x = s.add(x, s.mul(batch, s.c(shape.k * inBytes)));
    y = s.add(y, s.mul(batch, s.c(shape.n * outBytes)));
    wMatrix = s.add(w, s.mul(batch, s.c(shape.n * shape.k * inBytes)));
  }
  Value rowBlock = s.div(t, s.c(tilesN)), n0 = s.mul(s.rem(t, s.c(tilesN)), s.c(nt));
  Value m0, rows;
  if (grouped) {
    Value item = s.add(s.add(route, s.c(MoeRoute::kHeaderBytes)),
                       s.mul(rowBlock, s.c(MoeRoute::kItemBytes)));
    wMatrix = s.add(w, s.mul(gmScalar(item), s.c(wBytes)));
    m0 = gmScalar(s.add(item, s.c(4)));
    rows = gmScalar(s.add(item, s.c(8)));
  } else {
    m0 = s.mul(rowBlock, s.c(mt));
    rows = s.min(s.c(mt), s.sub(m, m0));
  }
  Value cols = s.min(s.c(nt), s.sub(s.c(shape.n), n0));
  Value rowFractals = s.ceilDiv(rows, 16), colFractals = s.ceilDiv(cols, 16);
  Value xTile = s.add(x, s.mul(m0, s.c(xRow)));
  Value wTile = s.add(wMatrix, s.mul(n0, s.c(shape.k * inBytes)));
  TypeAttr inType = TypeAttr::get(shape.inputType), f32 = TypeAttr::get(b.getF32Type());

  // One K chunk: tiles of x and w into L1, then its K steps through L0 into the cube.
  // `accumulate` is for the chunk's first step (the very first one initializes C).
  auto chunk = [&](Value chunkIndex, int64_t chunkSize, const Slot &l1, Value accumulate) {
    Value kOffset = s.mul(chunkIndex, s.c(kt1 * inBytes));
    b.create<Nd2NzOp>(loc, l1.l1a, s.add(xTile, kOffset), rows, s.c(chunkSize), s.c(xStride),
                      s.c(mt), inType);
    b.create<Nd2NzOp>(loc, l1.l1b, s.add(wTile, kOffset), cols, s.c(chunkSize), s.c(shape.k),
                      s.c(nt), inType);
    for (int64_t step = 0; step * kt < chunkSize; ++step) {
      const Slot &l0 = slots[step % 2];
      int64_t kSize = std::min(kt, chunkSize - step * kt);
      Value kFractals = s.c((kSize + k0 - 1) / k0);
      int64_t firstColumn = step * (kt / k0); // fractal columns of the L1 tiles
      b.create<LoadL0Op>(loc, l0.l0a, s.add(l1.l1a, s.c(firstColumn * mt * 32)), rowFractals,
                         kFractals, s.c(mt / 16), b.getStringAttr("l0a"));
      b.create<LoadL0Op>(loc, l0.l0b, s.add(l1.l1b, s.c(firstColumn * nt * 32)), colFractals,
                         kFractals, s.c(nt / 16), b.getStringAttr("l0b"));
      b.create<MmadOp>(loc, l0c, l0.l0a, l0.l0b, rows, s.c(kSize), cols,
                       step == 0 ? accumulate : s.c(1), inType, inType, f32);
    }
  };
  int64_t fullChunks = shape.k / kt1, rest = shape.k % kt1;
  if (fullChunks >= 2) {
    auto pairs = b.create<scf::ForOp>(loc, s.c(0), s.c(fullChunks / 2), s.c(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(pairs.getBody());
    Value p = pairs.getInductionVar();
    Value ping = s.mul(p, s.c(2));
    chunk(ping, kt1, slots[0], s.min(p, s.c(1)));
    chunk(s.add(ping, s.c(1)), kt1, slots[1], s.c(1));
  }
  int64_t done = fullChunks / 2 * 2, slot = 0;
  for (; done < fullChunks; ++done, slot ^= 1)
    chunk(s.c(done), kt1, slots[slot], s.c(done > 0 ? 1 : 0));
  if (rest > 0)
    chunk(s.c(done), rest, slots[slot], s.c(done > 0 ? 1 : 0));

  bool quantized = shape.outputType.isSignlessInteger(8);
  b.create<FixpipeOp>(loc, s.add(y, s.mul(s.add(s.mul(m0, s.c(yStride)), n0), s.c(outBytes))),
                      l0c, rows, cols, s.c(yStride), s.mul(rowFractals, s.c(16)),
                      TypeAttr::get(shape.outputType), shape.relu ? b.getUnitAttr() : UnitAttr(),
                      quantized ? b.getF32FloatAttr(shape.outputScale) : FloatAttr());
  b.setInsertionPointToEnd(entry);
  b.create<func::ReturnOp>(loc);
  (void)ctx;
  return func;
}

} // namespace v4c::npu
