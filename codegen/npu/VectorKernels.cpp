// Vector-core (AIV) kernels. RMSNorm: each block takes rows (row = block_idx, step block_num):
//   MTE2  x row → UB
//   V     squares, a sum per repeat, the sum of those (masked to their count), then on one
//         lane: · 1/width, + eps, sqrt, reciprocal
//   S     reads that value (the scalar unit reads UB)
//   V     x · r (vector-scalar), · weight (loaded once per block)
//   MTE3  → y row
// The sums are f32 in lane order (the reference sums in double: agreement ~1e-7 relative).
#include "codegen/npu/NpuTarget.h"

#include "ir/Npu/IR/NpuOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

using namespace mlir;

namespace v4c::npu {

bool rmsNormFitsVectorKernel(int64_t width) {
  // Whole repeats of 64 f32 lanes, their partial sums reduced by one more repeat.
  return width >= 64 && width % 64 == 0 && width / 64 <= 64;
}

func::FuncOp buildRmsNormKernel(ModuleOp module, StringRef name, int64_t width, bool weighted,
                                double eps, int64_t blockDim) {
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = module.getLoc();
  Type index = b.getIndexType();
  int64_t rowBytes = width * 4, repeats = width / 64;
  SmallVector<std::string> params = {"x"};
  if (weighted)
    params.push_back("w");
  params.push_back("y");
  SmallVector<int64_t> bytes(params.size(), 0), perRow(params.size(), rowBytes);
  SmallVector<bool> outputs(params.size(), false);
  outputs.back() = true;
  if (weighted) {
    bytes[1] = rowBytes; // the weight does not grow with the rows
    perRow[1] = 0;
  }
  SmallVector<Type> args(params.size() + 1, index);
  auto func = b.create<func::FuncOp>(loc, name, b.getFunctionType(args, {}));
  func->setAttr(kKernelAttr,
                b.getDictionaryAttr({
                    b.getNamedAttr("core", b.getStringAttr("aiv")),
                    b.getNamedAttr("block_dim", b.getI64IntegerAttr(blockDim)),
                    b.getNamedAttr("params", b.getStrArrayAttr(SmallVector<StringRef>(
                                                 params.begin(), params.end()))),
                    b.getNamedAttr("param_bytes", b.getDenseI64ArrayAttr(bytes)),
                    b.getNamedAttr("param_bytes_per_unit", b.getDenseI64ArrayAttr(perRow)),
                    b.getNamedAttr("outputs", b.getDenseBoolArrayAttr(outputs)),
                    b.getNamedAttr("scalars", b.getStrArrayAttr({"rows"})),
                }));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value x = entry->getArgument(0), w = weighted ? entry->getArgument(1) : Value();
  Value y = entry->getArgument(params.size() - 1), rows = entry->getArgument(params.size());
  auto c = [&](int64_t v) -> Value { return b.create<arith::ConstantIndexOp>(loc, v); };
  auto alloc = [&](int64_t n) -> Value {
    return b.create<AllocOp>(loc, index, b.getStringAttr("ub"), b.getI64IntegerAttr(n),
                             IntegerAttr());
  };
  auto strides = [&](std::initializer_list<int64_t> s) { return b.getDenseI64ArrayAttr(s); };
  TypeAttr f32 = TypeAttr::get(b.getF32Type());
  Value bx = alloc(rowBytes), bsq = alloc(rowBytes), by = alloc(rowBytes);
  Value partial = alloc(std::max<int64_t>(32, (repeats * 4 + 31) / 32 * 32)), r = alloc(32);
  Value bw = weighted ? alloc(rowBytes) : Value();
  Value zero = c(0), one = c(1), rowLen = c(rowBytes), n = c(repeats);
  if (weighted)
    b.create<DmaOp>(loc, bw, w, one, rowLen, zero, zero, b.getStringAttr("gm"),
                    b.getStringAttr("ub"));
  auto rowLoop = b.create<scf::ForOp>(loc, b.create<BlockIdxOp>(loc, index), rows,
                                      b.create<BlockNumOp>(loc, index));
  b.setInsertionPointToStart(rowLoop.getBody());
  Value offset = b.create<arith::MulIOp>(loc, rowLoop.getInductionVar(), rowLen);
  b.create<DmaOp>(loc, bx, b.create<arith::AddIOp>(loc, x, offset), one, rowLen, zero, zero,
                  b.getStringAttr("gm"), b.getStringAttr("ub"));
  auto unary = [&](StringRef kind, Value dst, Value src, Value count) {
    b.create<VUnaryOp>(loc, dst, src, count, b.getStringAttr(kind), f32, strides({1, 1}),
                       strides({8, 8}));
  };
  auto scalar = [&](StringRef kind, Value dst, Value src, Value count, float value,
                    Value dynamic = {}) {
    b.create<VScalarOp>(loc, dst, src, dynamic, b.getF32FloatAttr(value), count,
                        b.getStringAttr(kind), f32, strides({1, 1}), strides({8, 8}));
  };
  b.create<VBinaryOp>(loc, bsq, bx, bx, n, b.getStringAttr("mul"), f32, strides({1, 1, 1}),
                      strides({8, 8, 8}));
  b.create<VReduceOp>(loc, partial, bsq, n, b.getStringAttr("sum"), f32, strides({1}),
                      strides({8}));
  b.create<SetMaskOp>(loc, n); // the partial sums, one repeat
  b.create<VReduceOp>(loc, r, partial, one, b.getStringAttr("sum"), f32, strides({1}),
                      strides({8}));
  b.create<SetMaskOp>(loc, one); // one lane: the mean square, then 1 / sqrt(mean + eps)
  scalar("mul", r, r, one, float(1.0 / double(width)));
  scalar("add", r, r, one, float(eps));
  unary("sqrt", r, r, one);
  unary("recip", r, r, one);
  b.create<SetMaskOp>(loc, zero);
  Value factor = b.create<LoadScalarOp>(loc, index, r);
  scalar("mul", by, bx, n, 0.0f, factor);
  if (weighted)
    b.create<VBinaryOp>(loc, by, by, bw, n, b.getStringAttr("mul"), f32, strides({1, 1, 1}),
                        strides({8, 8, 8}));
  b.create<DmaOp>(loc, b.create<arith::AddIOp>(loc, y, offset), by, one, rowLen, zero, zero,
                  b.getStringAttr("ub"), b.getStringAttr("gm"));
  b.setInsertionPointToEnd(entry);
  b.create<func::ReturnOp>(loc);
  return func;
}

} // namespace v4c::npu
