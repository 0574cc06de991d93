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
// Hadamard: log2(n) butterfly stages, each y = x · sign + x[partner] (partner = lane ^ len, sign
//           +1 on a pair's low lane, -1 on its high one: a + b and a - b exactly), then
//           · 1/sqrt(n), as the reference; the partners come from a gather (constant tables).
// Embedding: each token's id read by the scalar unit, its table row moved through UB.
// SwiGLU:   min(g, limit), clamp(u, -limit, limit), g / (1 + exp(-g)) · u (· the row's routing
//           weight, read by the scalar unit from the MoE route table), as the reference.
#include "codegen/npu/VectorKernel.h"

using namespace mlir;

namespace v4c::npu {


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
  k.reduceAll("sum", r, partial, bsq, width);
  k.rsqrtMean(r, width, eps); // 1 / sqrt(mean square + eps)
  k.scalar("mul", by, bx, width, 0.0f, k.readScalar(r));
  if (weighted)
    k.binary("mul", by, by, bw, width);
  k.store(k.add(y, offset), by, rowBytes);
  return k.finish();
}

bool ropeFitsVectorKernel(int64_t width, int64_t ropeDim) {
  // The rotated channels in whole repeats, starting 32-byte aligned; x and 7 rope-wide buffers.
  return ropeDim >= kLanes && ropeDim % kLanes == 0 && ropeDim <= width && width % 8 == 0 &&
         ropeDim / kLanes <= 255 && (7 * ropeDim + width) * 4 <= kUbRowBudget;
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

bool swigluFitsVectorKernel(int64_t width) { return rowsFit(width, 3, kUbRowBudget); }

func::FuncOp buildSwigluKernel(ModuleOp module, StringRef name, int64_t width, double limit,
                               int64_t blockDim, bool routed) {
  int64_t rowBytes = width * 4;
  SmallVector<VectorParam> params = {{"gate", 0, rowBytes}, {"up", 0, rowBytes}};
  if (routed)
    params.push_back({"route", MoeRoute::kHeaderBytes, MoeRoute::kBytesPerRow});
  params.push_back({"y", 0, rowBytes, true});
  VectorKernel k(module, name, params, blockDim);
  Value bg = k.ub(rowBytes), bu = k.ub(rowBytes), bt = k.ub(rowBytes);
  Value rows = k.launchScalar(kRows), row = k.forEachRow(rows);
  Value offset = k.mul(row, k.c(rowBytes));
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
  if (routed) { // the row's routing weight, after the table's items and slots
    Value weights = k.routeSection(k.param(2), rows, MoeRoute::kWeightsPerRow);
    k.scalar("mul", bt, bt, width, 0.0f, k.readScalar(k.add(weights, k.mul(row, k.c(4))), "gm"));
  }
  k.store(k.add(k.param(params.size() - 1), offset), bt, rowBytes);
  return k.finish();
}

bool hadamardFitsVectorKernel(int64_t width) {
  int64_t lanes = std::max(width, kLanes), stages = int64_t(llvm::Log2_64(uint64_t(width)));
  return width >= 2 && (width & (width - 1)) == 0 && (width <= kLanes || width % kLanes == 0) &&
         lanes / kLanes <= 255 && (2 * stages * lanes + 2 * lanes) * 4 <= kUbRowBudget;
}

func::FuncOp buildHadamardKernel(ModuleOp module, StringRef name, int64_t width,
                                 int64_t blockDim) {
  int64_t rowBytes = width * 4, lanes = std::max(width, kLanes), stages = 0;
  SmallVector<int32_t> partners;
  SmallVector<float> signs;
  for (int64_t len = 1; len < width; len *= 2, ++stages)
    for (int64_t i = 0; i < lanes; ++i) {
      partners.push_back(int32_t((i < width ? i ^ len : i) * 4));
      signs.push_back((i & len) ? -1.0f : 1.0f);
    }
  Builder attrs(module.getContext());
  int64_t tableBytes = stages * lanes * 4;
  VectorKernel k(module, name,
                 {{"x", 0, rowBytes},
                  {"y", 0, rowBytes, true},
                  {"partners", tableBytes, 0, false, attrs.getDenseI32ArrayAttr(partners)},
                  {"signs", tableBytes, 0, false, attrs.getDenseF32ArrayAttr(signs)}},
                 blockDim);
  Value partnerTable = k.ub(tableBytes), signTable = k.ub(tableBytes), row = k.ub(rowBytes),
        swapped = k.ub(rowBytes);
  k.load(partnerTable, k.param(2), tableBytes);
  k.load(signTable, k.param(3), tableBytes);
  Value offset = k.mul(k.forEachRow(k.launchScalar(kRows)), k.c(rowBytes));
  k.load(row, k.add(k.param(0), offset), rowBytes);
  k.mask(width < kLanes ? width : 0);
  for (int64_t stage = 0; stage < stages; ++stage) {
    Value at = k.c(stage * lanes * 4);
    k.gather(swapped, row, k.add(partnerTable, at), width);
    k.binary("mul", row, row, k.add(signTable, at), width);
    k.binary("add", row, row, swapped, width);
  }
  k.scalar("mul", row, row, width, float(1.0 / std::sqrt(double(width))));
  k.mask(0);
  k.store(k.add(k.param(1), offset), row, rowBytes);
  return k.finish();
}

func::FuncOp buildEmbeddingKernel(ModuleOp module, StringRef name, int64_t vocab,
                                  int64_t width, int64_t tokenBytes, int64_t blockDim) {
  int64_t rowBytes = width * 4;
  VectorKernel k(module, name,
                 {{"table", vocab * rowBytes, 0}, {"tokens", 0, tokenBytes}, {"y", 0, rowBytes, true}},
                 blockDim);
  Value row = k.ub(rowBytes);
  Value token = k.forEachRow(k.launchScalar(kRows));
  Value id = k.readScalar(k.add(k.param(1), k.mul(token, k.c(tokenBytes))), "gm");
  k.load(row, k.add(k.param(0), k.mul(id, k.c(rowBytes))), rowBytes);
  k.store(k.add(k.param(2), k.mul(token, k.c(rowBytes))), row, rowBytes);
  return k.finish();
}

} // namespace v4c::npu
