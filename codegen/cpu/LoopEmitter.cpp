#include "codegen/cpu/LoopEmitter.h"

#include <cmath>

using namespace mlir;

namespace v4c::cpu {

Value LoopEmitter::buffer(Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  return b.create<bufferization::ToBufferOp>(loc, memrefType, tensor, /*read_only=*/true);
}

Value LoopEmitter::alloc(RankedTensorType type, ValueRange dynamicSizes) {
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  // 64-byte alignment: rows feed the vector microkernels.
  return b.create<memref::AllocOp>(loc, memrefType, dynamicSizes, b.getI64IntegerAttr(64));
}

Value LoopEmitter::allocLike(Value like, Type elem, ArrayRef<int64_t> shape) {
  auto likeType = cast<ShapedType>(like.getType());
  SmallVector<int64_t> dims = shape.empty() ? SmallVector<int64_t>(likeType.getShape())
                                            : SmallVector<int64_t>(shape);
  SmallVector<Value> dynamic;
  for (auto [i, d] : llvm::enumerate(dims))
    if (ShapedType::isDynamic(d))
      dynamic.push_back(dim(like, i));
  return alloc(RankedTensorType::get(dims, elem), dynamic);
}

Value LoopEmitter::tensor(Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  auto tensorType = RankedTensorType::get(type.getShape(), type.getElementType());
  return b.create<bufferization::ToTensorOp>(loc, tensorType, memref, /*restrict=*/true,
                                             /*writable=*/true);
}

Value LoopEmitter::dim(Value shaped, int64_t i) {
  if (isa<MemRefType>(shaped.getType()))
    return b.create<memref::DimOp>(loc, shaped, i);
  return b.create<tensor::DimOp>(loc, shaped, i);
}

void LoopEmitter::loop(Value lb, Value ub, llvm::function_ref<void(Value)> body) {
  auto loop = b.create<scf::ForOp>(loc, lb, ub, index(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

SmallVector<Value> LoopEmitter::fold(Value lb, Value ub, ValueRange init,
                                     llvm::function_ref<SmallVector<Value>(Value, ValueRange)> step) {
  auto loop = b.create<scf::ForOp>(loc, lb, ub, index(1), init);
  OpBuilder::InsertionGuard guard(b);
  Block *body = loop.getBody();
  b.setInsertionPointToEnd(body);
  SmallVector<Value> next = step(loop.getInductionVar(), loop.getRegionIterArgs());
  if (body->empty() || !body->back().hasTrait<OpTrait::IsTerminator>())
    b.create<scf::YieldOp>(loc, next);
  else
    body->getTerminator()->setOperands(next);
  return SmallVector<Value>(loop.getResults());
}

Value LoopEmitter::sum(Value lb, Value ub, llvm::function_ref<Value(Value)> term) {
  return fold(lb, ub, {f32(0)}, [&](Value i, ValueRange acc) -> SmallVector<Value> {
    return {add(acc[0], term(i))};
  })[0];
}

Value LoopEmitter::dot(int64_t lb, int64_t ub, llvm::function_ref<Value(Value)> term) {
  auto reassociable = arith::FastMathFlagsAttr::get(
      b.getContext(), arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
  return fold(index(lb), index(ub), {f32(0)}, [&](Value i, ValueRange acc) -> SmallVector<Value> {
    Value t = term(i);
    if (auto product = t.getDefiningOp<arith::MulFOp>()) // contract: the product may fuse into an FMA
      product.setFastmathAttr(reassociable);
    return {b.create<arith::AddFOp>(loc, acc[0], t, reassociable)};
  })[0];
}

Value LoopEmitter::blockedSum(int64_t n, llvm::function_ref<Value(Value)> term) {
  constexpr int64_t kBlock = 128;
  int64_t blocks = (n + kBlock - 1) / kBlock;
  return sum(0, blocks, [&](Value block) {
    Value lb = muli(block, index(kBlock));
    Value ub = mini(addi(lb, index(kBlock)), index(n));
    return sum(lb, ub, term);
  });
}

Value LoopEmitter::sumSquaresF64(int64_t lb, int64_t ub, llvm::function_ref<Value(Value)> term) {
  Value zero = b.create<arith::ConstantOp>(loc, b.getF64FloatAttr(0.0));
  return fold(index(lb), index(ub), {zero}, [&](Value i, ValueRange acc) -> SmallVector<Value> {
    Value wide = b.create<arith::ExtFOp>(loc, b.getF64Type(), term(i));
    Value square = b.create<arith::MulFOp>(loc, wide, wide);
    return {b.create<arith::AddFOp>(loc, acc[0], square)};
  })[0];
}

Value LoopEmitter::max(Value lb, Value ub, Value init, llvm::function_ref<Value(Value)> term) {
  return fold(lb, ub, {init}, [&](Value i, ValueRange acc) -> SmallVector<Value> {
    return {maxf(acc[0], term(i))};
  })[0];
}

void LoopEmitter::ifThen(Value cond, llvm::function_ref<void()> then) {
  auto op = b.create<scf::IfOp>(loc, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(op.thenBlock()->getTerminator());
  then();
}

Value LoopEmitter::select(Value cond, Value a, Value c) {
  return b.create<arith::SelectOp>(loc, cond, a, c);
}

Value LoopEmitter::loadRaw(Value memref, ValueRange indices) {
  return b.create<memref::LoadOp>(loc, memref, indices);
}

Value LoopEmitter::load(Value memref, ValueRange indices) {
  Value v = loadRaw(memref, indices);
  if (v.getType().isF32() || !isa<FloatType>(v.getType()))
    return v;
  return b.create<arith::ExtFOp>(loc, b.getF32Type(), v);
}

void LoopEmitter::store(Value value, Value memref, ValueRange indices) {
  b.create<memref::StoreOp>(loc, value, memref, indices);
}

void LoopEmitter::copy(Value from, Value to) { b.create<memref::CopyOp>(loc, from, to); }

Value LoopEmitter::toIndex(Value v) {
  if (v.getType().isIndex())
    return v;
  return b.create<arith::IndexCastOp>(loc, b.getIndexType(), v);
}

Value LoopEmitter::indexToF32(Value v) {
  Value i64v = b.create<arith::IndexCastOp>(loc, b.getI64Type(), v);
  return b.create<arith::SIToFPOp>(loc, b.getF32Type(), i64v);
}

Value LoopEmitter::floorLog2(Value x) {
  Value bits = b.create<arith::BitcastOp>(loc, b.getI32Type(), x);
  Value exponent = b.create<arith::AndIOp>(loc, b.create<arith::ShRUIOp>(loc, bits, i32(23)),
                                           i32(0xFF));
  return b.create<arith::SubIOp>(loc, exponent, i32(127));
}

Value LoopEmitter::pow2(Value exponentI32) {
  Value biased = b.create<arith::AddIOp>(loc, exponentI32, i32(127));
  Value bits = b.create<arith::ShLIOp>(loc, biased, i32(23));
  return b.create<arith::BitcastOp>(loc, b.getF32Type(), bits);
}

Value LoopEmitter::ue8m0Scale(Value amax, double qmax) {
  Value scaled = mul(amax, f32(float(1.0 / qmax)));
  Value bits = b.create<arith::BitcastOp>(loc, b.getI32Type(), scaled);
  Value mantissa = b.create<arith::AndIOp>(loc, bits, i32(0x7FFFFF));
  Value roundUp = b.create<arith::ExtUIOp>(
      loc, b.getI32Type(), cmpi(arith::CmpIPredicate::ne, mantissa, i32(0)));
  return pow2(b.create<arith::AddIOp>(loc, floorLog2(scaled), roundUp));
}

namespace {
/// Rounds x to the nearest even multiple of 2^(max(floor(log2|x|), minExponent) − mantissaBits):
/// exact RNE onto a small float grid (division and product by powers of two are exact).
Value roundToGrid(LoopEmitter &e, Value x, int minExponent, int mantissaBits) {
  OpBuilder &b = e.builder();
  Location loc = e.location();
  Value exponent = b.create<arith::MaxSIOp>(loc, e.floorLog2(x), e.i32(minExponent));
  Value quantum = e.pow2(b.create<arith::SubIOp>(loc, exponent, e.i32(mantissaBits)));
  Value rounded = b.create<math::RoundEvenOp>(loc, e.div(x, quantum));
  return e.mul(rounded, quantum);
}
} // namespace

Value LoopEmitter::roundToE4m3(Value x) { return roundToGrid(*this, x, -6, 3); }
Value LoopEmitter::e4m3Code(Value onGrid) {
  using Pred = arith::CmpIPredicate;
  auto shr = [&](Value v, int64_t n) { return b.create<arith::ShRUIOp>(loc, v, i32(n)).getResult(); };
  auto band = [&](Value v, int64_t m) { return b.create<arith::AndIOp>(loc, v, i32(m)).getResult(); };
  Value bits = b.create<arith::BitcastOp>(loc, b.getI32Type(), onGrid);
  Value sign = band(shr(bits, 24), 0x80);
  Value magnitude = band(bits, 0x7FFFFFFF);
  Value exponent = shr(magnitude, 23);
  // Normal (≥ 2^-6): the exponent rebiased from 127 to 7 and the top 3 mantissa bits.
  Value normal = b.create<arith::OrIOp>(
      loc, b.create<arith::ShLIOp>(loc, b.create<arith::SubIOp>(loc, exponent, i32(120)), i32(3)),
      band(shr(magnitude, 20), 7));
  // Subnormal: the value in units of 2^-9 (exact on the grid).
  Value units = b.create<arith::FPToUIOp>(loc, b.getI32Type(), mul(abs(onGrid), f32(512.0)));
  Value code = select(cmpi(Pred::uge, exponent, i32(121)), normal, units);
  Value isNan = cmpf(arith::CmpFPredicate::UNO, onGrid, onGrid);
  code = b.create<arith::OrIOp>(loc, sign, select(isNan, i32(0x7F), code));
  return b.create<arith::TruncIOp>(loc, b.getI8Type(), code);
}

Value LoopEmitter::decodeE4m3(Value code) {
  using Pred = arith::CmpIPredicate;
  Value c = b.create<arith::ExtUIOp>(loc, b.getI32Type(), code);
  auto band = [&](Value v, int64_t m) { return b.create<arith::AndIOp>(loc, v, i32(m)).getResult(); };
  Value exponent = band(b.create<arith::ShRUIOp>(loc, c, i32(3)), 15), mantissa = band(c, 7);
  Value normalBits = b.create<arith::OrIOp>(
      loc, b.create<arith::ShLIOp>(loc, b.create<arith::AddIOp>(loc, exponent, i32(120)), i32(23)),
      b.create<arith::ShLIOp>(loc, mantissa, i32(20)));
  Value normal = b.create<arith::BitcastOp>(loc, b.getF32Type(), normalBits);
  Value subnormal = mul(b.create<arith::UIToFPOp>(loc, b.getF32Type(), mantissa), f32(0x1p-9));
  Value magnitude = select(cmpi(Pred::eq, exponent, i32(0)), subnormal, normal);
  magnitude = select(cmpi(Pred::eq, band(c, 0x7F), i32(0x7F)), f32(NAN), magnitude);
  return select(cmpi(Pred::ne, band(c, 0x80), i32(0)), neg(magnitude), magnitude);
}

Value LoopEmitter::roundToE2m1(Value x) { return roundToGrid(*this, clamp(x, -6, 6), 0, 1); }

} // namespace v4c::cpu
