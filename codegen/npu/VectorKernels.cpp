// Vector-core (AIV) kernels. Each block takes rows (row = block_idx, step block_num), moves a row
// into UB (MTE2), computes on it (V; the scalar unit reads reduced values back from UB) and moves
// the result out (MTE3). The sync pass orders the pipes; these builders only say what runs.
//
// RMSNorm:  squares, a sum per repeat, the sum of those (masked to their count), then on one
//           lane · 1/width, + eps, sqrt, reciprocal; the scalar unit reads it; x · r (· weight).
//           The sums are f32 in lane order (the reference sums in double: ~1e-7 relative).
// RoPE:     per row the angles pos · f (f: each frequency twice), cos and sin, the sin signed per
//           lane (-, + for a pair; +, - inverse); the pair-swapped channels come from a gather:
//           y = x · cos + swap(x) · sin±, which is the reference's a·c - b·s, a·s + b·c exactly.
// SwiGLU:   min(g, limit), clamp(u, -limit, limit), g / (1 + exp(-g)) · u, as the reference.
#include "codegen/npu/NpuTarget.h"

#include "ir/Npu/IR/NpuOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

using namespace mlir;

namespace v4c::npu {

namespace {

constexpr int64_t kLanes = 64; // f32 lanes of a 256-byte repeat

/// The scalar arguments of a vector kernel launch (the host passes both, Launch.h).
enum Scalar : int64_t { kRows = 0, kTokens = 1 };

/// A GM parameter of a vector kernel: `bytes` + `bytesPerUnit` per unit of scalar `unit`
/// (rows: all dims but the last; tokens: the first dim); a constant one carries its contents.
struct VectorParam {
  std::string name;
  int64_t bytes = 0, bytesPerUnit = 0;
  bool output = false;
  DenseArrayAttr constant = {};
  Scalar unit = kRows;
};

/// Builds one AIV kernel: the signature and npu.kernel attribute, UB buffers, DMA and vector
/// ops on contiguous f32 rows (whole repeats, unit strides).
class VectorKernel {
public:
  VectorKernel(ModuleOp module, StringRef name, ArrayRef<VectorParam> params, int64_t blockDim)
      : b(OpBuilder::atBlockEnd(module.getBody())), loc(module.getLoc()),
        f32(TypeAttr::get(b.getF32Type())) {
    SmallVector<StringRef> names;
    SmallVector<int64_t> bytes, perUnit, units;
    SmallVector<bool> outputs;
    SmallVector<NamedAttribute> constants;
    for (const VectorParam &p : params) {
      names.push_back(p.name);
      bytes.push_back(p.bytes);
      perUnit.push_back(p.bytesPerUnit);
      units.push_back(p.unit);
      outputs.push_back(p.output);
      if (p.constant)
        constants.push_back(b.getNamedAttr(p.name, p.constant));
    }
    SmallVector<NamedAttribute> attrs = {
        b.getNamedAttr("core", b.getStringAttr("aiv")),
        b.getNamedAttr("block_dim", b.getI64IntegerAttr(blockDim)),
        b.getNamedAttr("params", b.getStrArrayAttr(names)),
        b.getNamedAttr("param_bytes", b.getDenseI64ArrayAttr(bytes)),
        b.getNamedAttr("param_bytes_per_unit", b.getDenseI64ArrayAttr(perUnit)),
        b.getNamedAttr("param_unit_scalars", b.getDenseI64ArrayAttr(units)),
        b.getNamedAttr("outputs", b.getDenseBoolArrayAttr(outputs)),
        b.getNamedAttr("scalars", b.getStrArrayAttr({"rows", "tokens"}))};
    if (!constants.empty())
      attrs.push_back(b.getNamedAttr("constants", b.getDictionaryAttr(constants)));
    Type index = b.getIndexType();
    SmallVector<Type> args(params.size() + 2, index);
    func = b.create<func::FuncOp>(loc, name, b.getFunctionType(args, {}));
    func->setAttr(kKernelAttr, b.getDictionaryAttr(attrs));
    entry = func.addEntryBlock();
    b.setInsertionPointToStart(entry);
  }
  /// Ends the kernel.
  func::FuncOp finish() {
    b.setInsertionPointToEnd(entry);
    b.create<func::ReturnOp>(loc);
    return func;
  }

  Value param(size_t i) { return entry->getArgument(i); }
  Value launchScalar(Scalar which) { return entry->getArgument(entry->getNumArguments() - 2 + which); }
  Value c(int64_t v) { return b.create<arith::ConstantIndexOp>(loc, v); }
  Value add(Value x, Value y) { return b.create<arith::AddIOp>(loc, x, y); }
  Value mul(Value x, Value y) { return b.create<arith::MulIOp>(loc, x, y); }
  Value ub(int64_t bytes) {
    return b.create<AllocOp>(loc, b.getIndexType(), b.getStringAttr("ub"),
                             b.getI64IntegerAttr(std::max<int64_t>(32, (bytes + 31) / 32 * 32)),
                             IntegerAttr());
  }
  void load(Value dst, Value gm, int64_t bytes) { dma(dst, gm, bytes, "gm", "ub"); }
  void store(Value gm, Value src, int64_t bytes) { dma(gm, src, bytes, "ub", "gm"); }

  /// The loop over this block's rows of `count`; the builder moves into its body.
  Value forEachRow(Value count) {
    auto loop = b.create<scf::ForOp>(loc, b.create<BlockIdxOp>(loc, b.getIndexType()), count,
                                     b.create<BlockNumOp>(loc, b.getIndexType()));
    b.setInsertionPointToStart(loop.getBody());
    return loop.getInductionVar();
  }

  // Vector ops over `lanes` f32 lanes (whole repeats of 64 unless masked by the caller).
  void unary(StringRef kind, Value dst, Value src, int64_t lanes) {
    b.create<VUnaryOp>(loc, dst, src, repeats(lanes), b.getStringAttr(kind), f32, strides(2, 1),
                       strides(2, 8));
  }
  void binary(StringRef kind, Value dst, Value lhs, Value rhs, int64_t lanes) {
    b.create<VBinaryOp>(loc, dst, lhs, rhs, repeats(lanes), b.getStringAttr(kind), f32,
                        strides(3, 1), strides(3, 8));
  }
  void scalar(StringRef kind, Value dst, Value src, int64_t lanes, float value,
              Value dynamic = {}) {
    b.create<VScalarOp>(loc, dst, src, dynamic, b.getF32FloatAttr(value), repeats(lanes),
                        b.getStringAttr(kind), f32, strides(2, 1), strides(2, 8));
  }
  /// One sum per repeat of `lanes`, written contiguously to dst.
  void sum(Value dst, Value src, int64_t lanes) {
    b.create<VReduceOp>(loc, dst, src, repeats(lanes), b.getStringAttr("sum"), f32,
                        strides(1, 1), strides(1, 8));
  }
  void gather(Value dst, Value src, Value offsets, int64_t lanes) {
    b.create<VGatherOp>(loc, dst, src, offsets, repeats(lanes));
  }
  void mask(int64_t count) { b.create<SetMaskOp>(loc, c(count)); }
  /// The f32 at a UB address, read by the scalar unit (its bits).
  Value readScalar(Value address) {
    return b.create<LoadScalarOp>(loc, b.getIndexType(), address);
  }
  Value toFloat(Value integer) {
    return b.create<IntToFloatOp>(loc, b.getIndexType(), integer);
  }

  OpBuilder b;
  Location loc;

private:
  void dma(Value dst, Value src, int64_t bytes, StringRef from, StringRef to) {
    Value zero = c(0);
    b.create<DmaOp>(loc, dst, src, c(1), c(bytes), zero, zero, b.getStringAttr(from),
                    b.getStringAttr(to));
  }
  Value repeats(int64_t lanes) { return c((lanes + kLanes - 1) / kLanes); }
  DenseI64ArrayAttr strides(size_t count, int64_t value) {
    return b.getDenseI64ArrayAttr(SmallVector<int64_t>(count, value));
  }

  TypeAttr f32;
  func::FuncOp func;
  Block *entry = nullptr;
};

/// Rows of `width` f32 in whole repeats, `buffers` of them fitting in `ubBytes` (the kernels
/// budget half the smallest UB of the built-in NPUs, 96 KiB, for rows).
bool rowsFit(int64_t width, int64_t buffers, int64_t ubBytes) {
  return width >= kLanes && width % kLanes == 0 && width / kLanes <= 255 &&
         buffers * width * 4 <= ubBytes;
}

} // namespace

bool rmsNormFitsVectorKernel(int64_t width) {
  // Whole repeats, their partial sums reduced by one more repeat.
  return width >= kLanes && width % kLanes == 0 && width / kLanes <= kLanes;
}

func::FuncOp buildRmsNormKernel(ModuleOp module, StringRef name, int64_t width, bool weighted,
                                double eps, int64_t blockDim) {
  int64_t rowBytes = width * 4, repeats = width / kLanes;
  SmallVector<VectorParam> params = {{"x", 0, rowBytes}};
  if (weighted)
    params.push_back({"w", rowBytes, 0}); // the weight does not grow with the rows
  params.push_back({"y", 0, rowBytes, /*output=*/true});
  VectorKernel k(module, name, params, blockDim);
  Value x = k.param(0), w = weighted ? k.param(1) : Value(), y = k.param(params.size() - 1);
  Value bx = k.ub(rowBytes), bsq = k.ub(rowBytes), by = k.ub(rowBytes);
  Value partial = k.ub(repeats * 4), r = k.ub(32);
  Value bw = weighted ? k.ub(rowBytes) : Value();
  if (weighted)
    k.load(bw, w, rowBytes);
  Value offset = k.mul(k.forEachRow(k.launchScalar(kRows)), k.c(rowBytes));
  k.load(bx, k.add(x, offset), rowBytes);
  k.binary("mul", bsq, bx, bx, width);
  k.sum(partial, bsq, width);
  k.mask(repeats); // the partial sums, one repeat
  k.sum(r, partial, kLanes);
  k.mask(1); // one lane: the mean square, then 1 / sqrt(mean + eps)
  k.scalar("mul", r, r, 1, float(1.0 / double(width)));
  k.scalar("add", r, r, 1, float(eps));
  k.unary("sqrt", r, r, 1);
  k.unary("recip", r, r, 1);
  k.mask(0);
  k.scalar("mul", by, bx, width, 0.0f, k.readScalar(r));
  if (weighted)
    k.binary("mul", by, by, bw, width);
  k.store(k.add(y, offset), by, rowBytes);
  return k.finish();
}

bool ropeFitsVectorKernel(int64_t width, int64_t ropeDim) {
  // The rotated channels in whole repeats, starting 32-byte aligned; x and 7 rope-wide buffers.
  return ropeDim >= kLanes && ropeDim % kLanes == 0 && ropeDim <= width && width % 8 == 0 &&
         rowsFit(ropeDim, 7, 96 * 1024) && width * 4 <= 64 * 1024;
}

func::FuncOp buildRopeKernel(ModuleOp module, StringRef name, int64_t heads, int64_t width,
                             ArrayRef<float> invFreqs, bool inverse, int64_t blockDim) {
  int64_t ropeDim = 2 * int64_t(invFreqs.size()), rowBytes = width * 4, tableBytes = ropeDim * 4;
  // Per lane: its pair's frequency, the sign of its sin term, the byte offset of its partner.
  SmallVector<float> freq, sign;
  SmallVector<int32_t> partner;
  for (int64_t i = 0; i < ropeDim; ++i) {
    freq.push_back(invFreqs[i / 2]);
    sign.push_back((i % 2 == 0) != inverse ? -1.0f : 1.0f);
    partner.push_back(int32_t((i ^ 1) * 4));
  }
  Builder attrs(module.getContext());
  VectorKernel k(module, name,
                 {{"x", 0, rowBytes},
                  {"positions", 0, 8, false, {}, kTokens},
                  {"y", 0, rowBytes, /*output=*/true},
                  {"freq", tableBytes, 0, false, attrs.getDenseF32ArrayAttr(freq)},
                  {"sign", tableBytes, 0, false, attrs.getDenseF32ArrayAttr(sign)},
                  {"partner", tableBytes, 0, false, attrs.getDenseI32ArrayAttr(partner)}},
                 blockDim);
  Value x = k.param(0), positions = k.param(1), y = k.param(2);
  Value bFreq = k.ub(tableBytes), bSign = k.ub(tableBytes), bPartner = k.ub(tableBytes);
  k.load(bFreq, k.param(3), tableBytes);
  k.load(bSign, k.param(4), tableBytes);
  k.load(bPartner, k.param(5), tableBytes);
  Value bx = k.ub(rowBytes), pos = k.ub(32), angle = k.ub(tableBytes),
        cosines = k.ub(tableBytes), sines = k.ub(tableBytes), swapped = k.ub(tableBytes);
  Value row = k.forEachRow(k.launchScalar(kRows));
  Value token = k.b.create<arith::DivUIOp>(k.loc, row, k.c(heads));
  k.load(pos, k.add(positions, k.mul(token, k.c(8))), 8);
  Value offset = k.mul(row, k.c(rowBytes));
  k.load(bx, k.add(x, offset), rowBytes);
  Value rotated = k.add(bx, k.c((width - ropeDim) * 4));
  k.scalar("mul", angle, bFreq, ropeDim, 0.0f, k.toFloat(k.readScalar(pos)));
  k.unary("cos", cosines, angle, ropeDim);
  k.unary("sin", sines, angle, ropeDim);
  k.binary("mul", sines, sines, bSign, ropeDim);
  k.gather(swapped, rotated, bPartner, ropeDim);
  k.binary("mul", swapped, swapped, sines, ropeDim);
  k.binary("mul", rotated, rotated, cosines, ropeDim);
  k.binary("add", rotated, rotated, swapped, ropeDim);
  k.store(k.add(y, offset), bx, rowBytes);
  return k.finish();
}

bool swigluFitsVectorKernel(int64_t width) { return rowsFit(width, 3, 96 * 1024); }

func::FuncOp buildSwigluKernel(ModuleOp module, StringRef name, int64_t width, double limit,
                               int64_t blockDim) {
  int64_t rowBytes = width * 4;
  VectorKernel k(module, name,
                 {{"gate", 0, rowBytes}, {"up", 0, rowBytes}, {"y", 0, rowBytes, true}},
                 blockDim);
  Value bg = k.ub(rowBytes), bu = k.ub(rowBytes), bt = k.ub(rowBytes);
  Value offset = k.mul(k.forEachRow(k.launchScalar(kRows)), k.c(rowBytes));
  k.load(bg, k.add(k.param(0), offset), rowBytes);
  k.load(bu, k.add(k.param(1), offset), rowBytes);
  if (limit > 0) {
    k.scalar("min", bg, bg, width, float(limit));
    k.scalar("max", bu, bu, width, -float(limit));
    k.scalar("min", bu, bu, width, float(limit));
  }
  k.scalar("mul", bt, bg, width, -1.0f);
  k.unary("exp", bt, bt, width);
  k.scalar("add", bt, bt, width, 1.0f);
  k.binary("div", bt, bg, bt, width);
  k.binary("mul", bt, bt, bu, width);
  k.store(k.add(k.param(2), offset), bt, rowBytes);
  return k.finish();
}

} // namespace v4c::npu
