// Building blocks of the vector-core (AIV) kernels (VectorKernels.cpp, AttentionKernels.cpp,
// HcKernels.cpp, MoeKernels.cpp): a builder for one kernel's signature, UB buffers, DMA, vector
// and scalar-unit ops.
#pragma once

#include "codegen/npu/NpuTarget.h"

#include "ir/Npu/IR/NpuOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <functional>

namespace v4c::npu {

inline constexpr int64_t kLanes = 64; // f32 lanes of a 256-byte repeat
inline constexpr uint32_t kMinusInfinityBits = 0xFF800000u; // an f32 -inf, as the scalar unit writes it

/// The scalar arguments of a vector kernel launch (Launch.h): rows (all dims but the last),
/// tokens (the first dim), entries (attention: compressed KV entries).
enum Scalar : int64_t { kRows = 0, kTokens = 1, kEntries = 2 };

/// A GM parameter of a vector kernel: `bytes` + `bytesPerUnit` per unit of scalar `unit`
/// (rows: all dims but the last; tokens: the first dim); a constant one carries its contents.
struct VectorParam {
  std::string name;
  int64_t bytes = 0, bytesPerUnit = 0;
  bool output = false;
  mlir::DenseArrayAttr constant = {};
  Scalar unit = kRows;
};

/// Builds one AIV kernel: the signature and npu.kernel attribute, UB buffers, DMA and vector
/// ops on contiguous f32 rows (whole repeats, unit strides).
class VectorKernel {
public:
  /// A kernel taking the first `scalars` launch scalars (rows, tokens[, entries]).
  VectorKernel(mlir::ModuleOp module, llvm::StringRef name, llvm::ArrayRef<VectorParam> params,
               int64_t blockDim, int64_t scalars = 2)
      : b(mlir::OpBuilder::atBlockEnd(module.getBody())), loc(module.getLoc()),
        f32(mlir::TypeAttr::get(b.getF32Type())), scalarCount(scalars) {
    llvm::SmallVector<llvm::StringRef> names;
    llvm::SmallVector<int64_t> bytes, perUnit, units;
    llvm::SmallVector<bool> outputs;
    llvm::SmallVector<mlir::NamedAttribute> constants;
    for (const VectorParam &p : params) {
      names.push_back(p.name);
      bytes.push_back(p.bytes);
      perUnit.push_back(p.bytesPerUnit);
      units.push_back(p.unit);
      outputs.push_back(p.output);
      if (p.constant)
        constants.push_back(b.getNamedAttr(p.name, p.constant));
    }
    llvm::SmallVector<mlir::NamedAttribute> attrs = {
        b.getNamedAttr("core", b.getStringAttr("aiv")),
        b.getNamedAttr("block_dim", b.getI64IntegerAttr(blockDim)),
        b.getNamedAttr("params", b.getStrArrayAttr(names)),
        b.getNamedAttr("param_bytes", b.getDenseI64ArrayAttr(bytes)),
        b.getNamedAttr("param_bytes_per_unit", b.getDenseI64ArrayAttr(perUnit)),
        b.getNamedAttr("param_unit_scalars", b.getDenseI64ArrayAttr(units)),
        b.getNamedAttr("outputs", b.getDenseBoolArrayAttr(outputs)),
        b.getNamedAttr("scalars", b.getStrArrayAttr(llvm::ArrayRef<llvm::StringRef>(
                                      {"rows", "tokens", "entries"}).take_front(scalars)))};
    if (!constants.empty())
      attrs.push_back(b.getNamedAttr("constants", b.getDictionaryAttr(constants)));
    mlir::Type index = b.getIndexType();
    llvm::SmallVector<mlir::Type> args(params.size() + scalars, index);
    func = b.create<mlir::func::FuncOp>(loc, name, b.getFunctionType(args, {}));
    func->setAttr(kKernelAttr, b.getDictionaryAttr(attrs));
    entry = func.addEntryBlock();
    b.setInsertionPointToStart(entry);
  }
  /// Ends the kernel.
  mlir::func::FuncOp finish() {
    b.setInsertionPointToEnd(entry);
    b.create<mlir::func::ReturnOp>(loc);
    return func;
  }

  mlir::Value param(size_t i) { return entry->getArgument(i); }
  mlir::Value launchScalar(Scalar which) {
    return entry->getArgument(entry->getNumArguments() - scalarCount + which);
  }
  mlir::Value c(int64_t v) { return b.create<mlir::arith::ConstantIndexOp>(loc, v); }
  mlir::Value add(mlir::Value x, mlir::Value y) { return b.create<mlir::arith::AddIOp>(loc, x, y); }
  mlir::Value sub(mlir::Value x, mlir::Value y) { return b.create<mlir::arith::SubIOp>(loc, x, y); }
  mlir::Value mul(mlir::Value x, mlir::Value y) { return b.create<mlir::arith::MulIOp>(loc, x, y); }
  mlir::Value div(mlir::Value x, mlir::Value y) { return b.create<mlir::arith::DivUIOp>(loc, x, y); }
  mlir::Value rem(mlir::Value x, mlir::Value y) { return b.create<mlir::arith::RemUIOp>(loc, x, y); }
  mlir::Value min(mlir::Value x, mlir::Value y) { return b.create<mlir::arith::MinUIOp>(loc, x, y); }
  mlir::Value max(mlir::Value x, mlir::Value y) { return b.create<mlir::arith::MaxUIOp>(loc, x, y); }
  mlir::Value lessThan(mlir::Value x, mlir::Value y) { // unsigned
    return b.create<mlir::arith::CmpIOp>(loc, mlir::arith::CmpIPredicate::ult, x, y);
  }
  mlir::Value select(mlir::Value condition, mlir::Value x, mlir::Value y) {
    return b.create<mlir::arith::SelectOp>(loc, condition, x, y);
  }
  mlir::Value ub(int64_t bytes) {
    return b.create<AllocOp>(loc, b.getIndexType(), b.getStringAttr("ub"),
                             b.getI64IntegerAttr(std::max<int64_t>(32, (bytes + 31) / 32 * 32)),
                             mlir::IntegerAttr());
  }
  void load(mlir::Value dst, mlir::Value gm, int64_t bytes) { dma(dst, gm, bytes, "gm", "ub"); }
  void store(mlir::Value gm, mlir::Value src, int64_t bytes) { dma(gm, src, bytes, "ub", "gm"); }

  /// The loop over this block's rows of [first, count); the builder moves into its body.
  mlir::Value forEachRow(mlir::Value count, mlir::Value first = {}) {
    mlir::Value mine = b.create<BlockIdxOp>(loc, b.getIndexType());
    auto loop = b.create<mlir::scf::ForOp>(loc, first ? add(first, mine) : mine, count,
                                           b.create<BlockNumOp>(loc, b.getIndexType()));
    b.setInsertionPointToStart(loop.getBody());
    return loop.getInductionVar();
  }

  // Vector ops over `lanes` f32 lanes (whole repeats of 64 unless masked by the caller).
  void unary(llvm::StringRef kind, mlir::Value dst, mlir::Value src, int64_t lanes) {
    b.create<VUnaryOp>(loc, dst, src, repeats(lanes), b.getStringAttr(kind), f32, strides(2, 1),
                       strides(2, 8));
  }
  void binary(llvm::StringRef kind, mlir::Value dst, mlir::Value lhs, mlir::Value rhs, int64_t lanes) {
    b.create<VBinaryOp>(loc, dst, lhs, rhs, repeats(lanes), b.getStringAttr(kind), f32,
                        strides(3, 1), strides(3, 8));
  }
  /// `repeats` repeats of a binary op with explicit repeat strides (32-byte blocks), e.g. one
  /// operand re-read by every repeat (stride 0).
  void binaryRepeats(llvm::StringRef kind, mlir::Value dst, mlir::Value lhs, mlir::Value rhs,
                     int64_t repeats, llvm::ArrayRef<int64_t> repeatStrides) {
    b.create<VBinaryOp>(loc, dst, lhs, rhs, c(repeats), b.getStringAttr(kind), f32,
                        strides(3, 1), b.getDenseI64ArrayAttr(repeatStrides));
  }
  void scalar(llvm::StringRef kind, mlir::Value dst, mlir::Value src, int64_t lanes, float value,
              mlir::Value dynamic = {}) {
    b.create<VScalarOp>(loc, dst, src, dynamic, b.getF32FloatAttr(value), repeats(lanes),
                        b.getStringAttr(kind), f32, strides(2, 1), strides(2, 8));
  }
  /// One sum (or max) per repeat of `lanes`, written contiguously to dst.
  void reduce(llvm::StringRef kind, mlir::Value dst, mlir::Value src, int64_t lanes) {
    b.create<VReduceOp>(loc, dst, src, repeats(lanes), b.getStringAttr(kind), f32,
                        strides(1, 1), strides(1, 8));
  }
  void sum(mlir::Value dst, mlir::Value src, int64_t lanes) { reduce("sum", dst, src, lanes); }
  /// `kind` (sum, max) of `lanes` values (at most 64 repeats) into the first lane of `cell`:
  /// one value per repeat into `partial`, then those in one masked repeat. Leaves the mask on
  /// one lane, for the scalar math that follows.
  void reduceAll(llvm::StringRef kind, mlir::Value cell, mlir::Value partial, mlir::Value src,
                 int64_t lanes) {
    reduce(kind, partial, src, lanes);
    mask((lanes + kLanes - 1) / kLanes);
    reduce(kind, cell, partial, kLanes);
    mask(1);
  }
  /// On `cell`'s first lane (mask on one lane): 1 / sqrt(cell / count + eps); clears the mask.
  void rsqrtMean(mlir::Value cell, int64_t count, double eps) {
    scalar("mul", cell, cell, 1, float(1.0 / double(count)));
    scalar("add", cell, cell, 1, float(eps));
    unary("sqrt", cell, cell, 1);
    unary("recip", cell, cell, 1);
    mask(0);
  }
  /// `repeats` sums, repeat r reading from src + r · stride bytes (a multiple of 32).
  void sumRepeats(mlir::Value dst, mlir::Value src, int64_t repeats, int64_t stride) {
    b.create<VReduceOp>(loc, dst, src, c(repeats), b.getStringAttr("sum"), f32, strides(1, 1),
                        b.getDenseI64ArrayAttr({stride / 32}));
  }
  void gather(mlir::Value dst, mlir::Value src, mlir::Value offsets, int64_t lanes) {
    b.create<VGatherOp>(loc, dst, src, offsets, repeats(lanes));
  }
  void mask(int64_t count) { b.create<SetMaskOp>(loc, c(count)); }
  /// `ops` on the first `lanes` lanes of each repeat (all of them from 64 up).
  void masked(int64_t lanes, const std::function<void()> &ops) {
    mask(lanes < kLanes ? lanes : 0);
    ops();
    mask(0);
  }
  /// The index of the largest of `lanes` f32 values (the first on ties; -inf and NaN never
  /// win over a number): a per-repeat argmax into `maxima` (8 bytes per repeat), the maxima
  /// gathered into `best` by `maximaTable` (lane r reads offset 8r), argmax again into `top`.
  mlir::Value argmax(mlir::Value values, int64_t lanes, mlir::Value maxima, mlir::Value best,
                     mlir::Value top, mlir::Value maximaTable) {
    int64_t repeats = (lanes + kLanes - 1) / kLanes;
    reduce("argmax", maxima, values, lanes);
    masked(repeats, [&] {
      gather(best, maxima, maximaTable, repeats);
      reduce("argmax", top, best, kLanes);
    });
    mlir::Value repeat = readScalar(add(top, c(4)));
    return add(mul(repeat, c(kLanes)), readScalar(add(maxima, add(mul(repeat, c(8)), c(4)))));
  }
  /// load(i, inRange, way) then compute(i, inRange, way) for i from `lower`, `ways` at a time
  /// (their loads first, each into its way's buffers, so that a load overlaps the others'
  /// compute and its latency is paid once per group), up to `upper` rounded up to whole
  /// groups: `inRange` (i1) says whether i < upper; the caller makes the others harmless. One
  /// loop, not a group loop and a rest loop: each loop costs event ids.
  void unrolledLoop(mlir::Value lower, mlir::Value upper, int64_t ways,
                    const std::function<void(mlir::Value, mlir::Value, int)> &load,
                    const std::function<void(mlir::Value, mlir::Value, int)> &compute,
                    const std::function<void(llvm::ArrayRef<mlir::Value>,
                                             llvm::ArrayRef<mlir::Value>)> &afterGroup = {}) {
    mlir::Value groups = div(add(sub(upper, lower), c(ways - 1)), c(ways));
    loop(c(0), groups, 1, [&](mlir::Value g) {
      mlir::Value base = add(lower, mul(g, c(ways)));
      llvm::SmallVector<mlir::Value> index, inRange;
      for (int way = 0; way < ways; ++way) {
        index.push_back(add(base, c(way)));
        inRange.push_back(lessThan(index.back(), upper));
      }
      for (int way = 0; way < ways; ++way)
        load(index[way], inRange[way], way);
      for (int way = 0; way < ways; ++way)
        compute(index[way], inRange[way], way);
      if (afterGroup)
        afterGroup(index, inRange);
    });
  }

  /// A section of the MoE route table for `rows` routed rows (MoeRoute::k...PerRow; 0: items).
  mlir::Value routeSection(mlir::Value route, mlir::Value rows, int64_t perRow) {
    return add(route, add(c(MoeRoute::kHeaderBytes), mul(rows, c(perRow))));
  }

  /// A scalar loop: `body(i)` for i in [lower, upper) step `step`, the builder after it.
  template <typename Body>
  void loop(mlir::Value lower, mlir::Value upper, int64_t step, Body body) {
    auto loop = b.create<mlir::scf::ForOp>(loc, lower, upper, c(step));
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    body(loop.getInductionVar());
  }

  /// The 32 bits at a UB (or GM) address, read by the scalar unit (e.g. an f32's bits).
  mlir::Value readScalar(mlir::Value address, llvm::StringRef space = "ub") {
    return b.create<LoadScalarOp>(loc, b.getIndexType(), address, b.getStringAttr(space));
  }
  /// The scalar unit writes the low 32 bits of `value` at a UB (or GM) address.
  void writeScalar(mlir::Value value, mlir::Value address, llvm::StringRef space = "ub") {
    b.create<StoreScalarOp>(loc, value, address, b.getStringAttr(space));
  }
  mlir::Value toFloat(mlir::Value integer) {
    return b.create<IntToFloatOp>(loc, b.getIndexType(), integer);
  }

  mlir::OpBuilder b;
  mlir::Location loc;

private:
  void dma(mlir::Value dst, mlir::Value src, int64_t bytes, llvm::StringRef from, llvm::StringRef to) {
    mlir::Value zero = c(0);
    b.create<DmaOp>(loc, dst, src, c(1), c(bytes), zero, zero, b.getStringAttr(from),
                    b.getStringAttr(to));
  }
  mlir::Value repeats(int64_t lanes) { return c((lanes + kLanes - 1) / kLanes); }
  mlir::DenseI64ArrayAttr strides(size_t count, int64_t value) {
    return b.getDenseI64ArrayAttr(llvm::SmallVector<int64_t>(count, value));
  }

  mlir::TypeAttr f32;
  int64_t scalarCount;
  mlir::func::FuncOp func;
  mlir::Block *entry = nullptr;
};

/// A 64-lane VGATHER offset table: lane l < `lanes` reads f32 element at(l), the rest element 0.
inline llvm::SmallVector<int32_t> gatherOffsets(int64_t lanes,
                                                const std::function<int64_t(int64_t)> &at) {
  llvm::SmallVector<int32_t> table(kLanes, 0);
  for (int64_t l = 0; l < lanes; ++l)
    table[l] = int32_t(at(l) * 4);
  return table;
}
/// The table VectorKernel::argmax gathers the per-repeat maxima with (pairs: lane r, 8r bytes).
inline llvm::SmallVector<int32_t> argmaxGatherOffsets() {
  return gatherOffsets(kLanes, [](int64_t l) { return 2 * l; });
}

/// UB bytes the vector kernels give to row buffers: the smallest UB of the built-in NPUs
/// (the 910B's 192 KiB) less room for small buffers and tables.
inline constexpr int64_t kUbRowBudget = 160 * 1024;

/// Rows of `width` f32 in whole repeats, `buffers` of them fitting in `ubBytes`.
inline bool rowsFit(int64_t width, int64_t buffers, int64_t ubBytes) {
  return width >= kLanes && width % kLanes == 0 && width / kLanes <= 255 &&
         buffers * width * 4 <= ubBytes;
}


} // namespace v4c::npu
