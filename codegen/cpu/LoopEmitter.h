// Small builder for the loop code the CPU lowering emits: scf loops over memrefs with f32
// arithmetic. Keeps each op's lowering close to the equation it implements.
#pragma once

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

#include <functional>

namespace v4c::cpu {

class LoopEmitter {
public:
  LoopEmitter(mlir::OpBuilder &b, mlir::Location loc) : b(b), loc(loc) {}

  mlir::OpBuilder &builder() { return b; }
  mlir::Location location() const { return loc; }

  // Constants.
  mlir::Value index(int64_t v) { return b.create<mlir::arith::ConstantIndexOp>(loc, v); }
  mlir::Value f32(double v) {
    return b.create<mlir::arith::ConstantOp>(loc, b.getF32FloatAttr(float(v)));
  }
  mlir::Value i32(int64_t v) { return b.create<mlir::arith::ConstantIntOp>(loc, v, 32); }
  mlir::Value i64(int64_t v) { return b.create<mlir::arith::ConstantIntOp>(loc, v, 64); }

  // Tensors <-> buffers. Inputs are read through to_buffer; results are written into fresh
  // allocations and handed back as tensors (one-shot bufferization resolves both).
  mlir::Value buffer(mlir::Value tensor);
  mlir::Value alloc(mlir::RankedTensorType type, mlir::ValueRange dynamicSizes);
  /// An allocation shaped like `like` (a tensor or memref) with element type `elem`.
  mlir::Value allocLike(mlir::Value like, mlir::Type elem, mlir::ArrayRef<int64_t> shape = {});
  mlir::Value tensor(mlir::Value memref);
  mlir::Value dim(mlir::Value shaped, int64_t i);

  // Loops. `body` receives the induction variable.
  void loop(mlir::Value lb, mlir::Value ub, llvm::function_ref<void(mlir::Value)> body);
  void loop(int64_t lb, mlir::Value ub, llvm::function_ref<void(mlir::Value)> body) {
    loop(index(lb), ub, body);
  }
  void loop(int64_t lb, int64_t ub, llvm::function_ref<void(mlir::Value)> body) {
    loop(index(lb), index(ub), body);
  }
  /// A loop carrying values: `step(i, carried)` returns the next carried values.
  mlir::SmallVector<mlir::Value>
  fold(mlir::Value lb, mlir::Value ub, mlir::ValueRange init,
       llvm::function_ref<mlir::SmallVector<mlir::Value>(mlir::Value, mlir::ValueRange)> step);
  /// Σ term(i) for i in [lb, ub), in f32, left to right.
  mlir::Value sum(mlir::Value lb, mlir::Value ub, llvm::function_ref<mlir::Value(mlir::Value)> term);
  mlir::Value sum(int64_t lb, int64_t ub, llvm::function_ref<mlir::Value(mlir::Value)> term) {
    return sum(index(lb), index(ub), term);
  }
  /// Σ term(i) for i in [lb, ub) in any order: the adds may be reassociated, so LLVM turns the
  /// loop into SIMD partial sums (a few ulps from the reference's left-to-right sum). For dot
  /// products whose consumers tolerate that: attention and index scores.
  mlir::Value dot(int64_t lb, int64_t ub, llvm::function_ref<mlir::Value(mlir::Value)> term);
  /// Σ over 128-wide blocks of Σ within the block: DeepSeek's fp32 accumulation order, which
  /// the reference follows (runtime/reference/Kernels.cpp matmul).
  mlir::Value blockedSum(int64_t n, llvm::function_ref<mlir::Value(mlir::Value)> term);
  /// Σ term(i)² computed in f64 (the reference accumulates norms' squares in double).
  mlir::Value sumSquaresF64(int64_t lb, int64_t ub,
                            llvm::function_ref<mlir::Value(mlir::Value)> term);
  /// max term(i) for i in [lb, ub), starting from `init`.
  mlir::Value max(mlir::Value lb, mlir::Value ub, mlir::Value init,
                  llvm::function_ref<mlir::Value(mlir::Value)> term);
  void ifThen(mlir::Value cond, llvm::function_ref<void()> then);
  mlir::Value select(mlir::Value cond, mlir::Value a, mlir::Value b);

  // Memory: loads widen bf16/f16 to f32.
  mlir::Value load(mlir::Value memref, mlir::ValueRange indices);
  mlir::Value loadRaw(mlir::Value memref, mlir::ValueRange indices);
  void store(mlir::Value value, mlir::Value memref, mlir::ValueRange indices);
  void copy(mlir::Value from, mlir::Value to);

  // f32 arithmetic.
  mlir::Value add(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::AddFOp>(loc, a, c); }
  mlir::Value sub(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::SubFOp>(loc, a, c); }
  mlir::Value mul(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::MulFOp>(loc, a, c); }
  mlir::Value div(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::DivFOp>(loc, a, c); }
  mlir::Value maxf(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::MaximumFOp>(loc, a, c); }
  mlir::Value minf(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::MinimumFOp>(loc, a, c); }
  mlir::Value neg(mlir::Value a) { return b.create<mlir::arith::NegFOp>(loc, a); }
  mlir::Value exp(mlir::Value a) { return b.create<mlir::math::ExpOp>(loc, a); }
  mlir::Value sqrt(mlir::Value a) { return b.create<mlir::math::SqrtOp>(loc, a); }
  mlir::Value abs(mlir::Value a) { return b.create<mlir::math::AbsFOp>(loc, a); }
  mlir::Value sigmoid(mlir::Value a) { return div(f32(1), add(f32(1), exp(neg(a)))); }
  mlir::Value silu(mlir::Value a) { return div(a, add(f32(1), exp(neg(a)))); }
  mlir::Value clamp(mlir::Value a, double lo, double hi) { return minf(maxf(a, f32(lo)), f32(hi)); }
  mlir::Value cmpf(mlir::arith::CmpFPredicate p, mlir::Value a, mlir::Value c) {
    return b.create<mlir::arith::CmpFOp>(loc, p, a, c);
  }

  // index arithmetic.
  mlir::Value addi(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::AddIOp>(loc, a, c); }
  mlir::Value subi(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::SubIOp>(loc, a, c); }
  mlir::Value muli(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::MulIOp>(loc, a, c); }
  mlir::Value divi(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::DivUIOp>(loc, a, c); }
  mlir::Value remi(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::RemUIOp>(loc, a, c); }
  mlir::Value maxi(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::MaxSIOp>(loc, a, c); }
  mlir::Value mini(mlir::Value a, mlir::Value c) { return b.create<mlir::arith::MinSIOp>(loc, a, c); }
  mlir::Value cmpi(mlir::arith::CmpIPredicate p, mlir::Value a, mlir::Value c) {
    return b.create<mlir::arith::CmpIOp>(loc, p, a, c);
  }
  /// Any integer or index value as index.
  mlir::Value toIndex(mlir::Value v);
  mlir::Value indexToF32(mlir::Value v);

  /// 2^e for an f32 `e`-less computation: floor(log2|x|) of a finite f32 from its exponent
  /// bits (subnormals give -127), and 2^k for an integer k in [-126, 127] from bits.
  mlir::Value floorLog2(mlir::Value x);
  mlir::Value pow2(mlir::Value exponentI32);
  /// The power-of-two (ue8m0) scale of MODEL.md §3.3: 2^(ceil(log2(amax · fp32(1/qmax)))) taken
  /// from the fp32 bits (exponent − 127 + (mantissa ≠ 0)).
  mlir::Value ue8m0Scale(mlir::Value amax, double qmax);
  /// Round to nearest even onto the e4m3 grid (|x| ≤ 448) or the e2m1 grid (|x| ≤ 6).
  mlir::Value roundToE4m3(mlir::Value x);
  /// The E4M3FN code (i8) of an f32 on the e4m3 grid (roundToE4m3's results; NaN → 0x7F with
  /// the NaN's sign bit).
  mlir::Value e4m3Code(mlir::Value onGrid);
  /// The f32 value of an E4M3FN code (i8); 0x7F/0xFF are NaN.
  mlir::Value decodeE4m3(mlir::Value code);
  mlir::Value roundToE2m1(mlir::Value x);

private:
  mlir::OpBuilder &b;
  mlir::Location loc;
};

} // namespace v4c::cpu
