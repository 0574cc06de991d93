// mHC residual streams on the NPU (MODEL.md §6.4):
//
//   hc_pre / hc_head  two launches: the mixes m = Φ vec X on the cube (the GEMM kernel, X's n
//                     streams as one row of n·D), then per token on a vector core: the RMS
//                     factor of vec X, a = α·(r·m) + b, pre = σ(a_pre) + ε, post = 2σ(a_post),
//                     comb = Sinkhorn(a_res), y = Σ_j pre_j X_j
//   hc_post           per (token, stream k): post_k · f + Σ_j comb[j, k] · X_j
//   hc_expand         copies of the row into the n streams
//
// The mixes sit at lane offsets that are not 32-byte aligned (n floats per segment), and
// Sinkhorn normalizes the columns of an n x n matrix: both through gathers with constant
// offset tables. A line's sum or max is broadcast to its lanes by n gathers (lane (j, i) reads
// element (j, k), or (k, i) for columns) combined in k order, the reference's summation order.
#include "codegen/npu/VectorKernel.h"

using namespace mlir;

namespace v4c::npu {


bool hcFitsVectorKernel(int64_t streams, int64_t width) {
  return streams >= 1 && (2 + streams) * streams <= kLanes && width / kLanes <= kLanes &&
         rowsFit(width, streams + 3, kUbRowBudget); // one repeat reduces the partial sums
}

func::FuncOp buildHcMixKernel(ModuleOp module, StringRef name, int64_t n, int64_t width,
                              bool head, int64_t sinkhornIters, double hcEps, double normEps,
                              int64_t blockDim) {
  int64_t rowBytes = width * 4, mixCount = head ? n : (2 + n) * n, nn = n * n;
  // Constant gather tables, 64 lanes each: the α of each mix; the pre, post and comb segments
  // of the mixes; for Sinkhorn, per k, a row's element k and a column's element k.
  SmallVector<int32_t> tables;
  auto append = [&](const std::function<int64_t(int64_t)> &at, int64_t lanes) {
    SmallVector<int32_t> t = gatherOffsets(lanes, at);
    tables.append(t.begin(), t.end());
  };
  append([&](int64_t l) { return std::min<int64_t>(l / n, 2); }, mixCount); // table 0: α
  append([&](int64_t l) { return l; }, n);                                   // 1: pre
  append([&](int64_t l) { return n + l; }, n);                               // 2: post
  append([&](int64_t l) { return 2 * n + l; }, nn);                          // 3: comb
  for (int64_t k = 0; k < n; ++k) {                                          // 4 + 2k, 5 + 2k
    append([&](int64_t l) { return l / n * n + k; }, nn);
    append([&](int64_t l) { return k * n + l % n; }, nn);
  }
  Builder attrs(module.getContext());
  int64_t tableBytes = int64_t(tables.size()) * 4;
  SmallVector<VectorParam> params = {{"streams", 0, n * rowBytes},
                                     {"mixes", 0, mixCount * 4},
                                     {"base", mixCount * 4, 0},
                                     {"scale", (head ? 1 : 3) * 4, 0},
                                     {"y", 0, rowBytes, true}};
  if (!head) {
    params.push_back({"post", 0, n * 4, true});
    params.push_back({"comb", 0, nn * 4, true});
  }
  params.push_back({"tables", tableBytes, 0, false, attrs.getDenseI32ArrayAttr(tables)});
  VectorKernel k(module, name, params, blockDim);
  Value streams = k.param(0), mixes = k.param(1), y = k.param(4);
  Value tableBase = k.ub(tableBytes), alpha = k.ub(256), base = k.ub(256), scales = k.ub(32);
  k.load(tableBase, k.param(params.size() - 1), tableBytes);
  k.load(base, k.param(2), mixCount * 4);
  k.load(scales, k.param(3), (head ? 1 : 3) * 4);
  auto table = [&](int64_t i) { return k.add(tableBase, k.c(i * 256)); };
  k.masked(mixCount, [&] { k.gather(alpha, scales, table(0), mixCount); });

  Value xs = k.ub(n * rowBytes), squares = k.ub(rowBytes), product = k.ub(rowBytes),
        sum = k.ub(rowBytes), partial = k.ub(256), cell = k.ub(32), mix = k.ub(256),
        pre = k.ub(256), post = k.ub(256), comb = k.ub(256), line = k.ub(256), part = k.ub(256);
  Value token = k.forEachRow(k.launchScalar(kTokens));
  k.load(xs, k.add(streams, k.mul(token, k.c(n * rowBytes))), n * rowBytes); // the n streams
  auto stream = [&](int64_t j) { return k.add(xs, k.c(j * rowBytes)); };
  // 1 / rms(vec X): the squares summed lane-wise over the streams, then over the lanes.
  for (int64_t j = 0; j < n; ++j) {
    k.binary("mul", j == 0 ? squares : product, stream(j), stream(j), width);
    if (j > 0)
      k.binary("add", squares, squares, product, width);
  }
  k.reduceAll("sum", cell, partial, squares, width);
  k.rsqrtMean(cell, n * width, normEps);
  Value factor = k.readScalar(cell);
  // a = α · (r · m) + b, lane by lane.
  k.load(mix, k.add(mixes, k.mul(token, k.c(mixCount * 4))), mixCount * 4);
  k.masked(mixCount, [&] {
    k.scalar("mul", mix, mix, mixCount, 0.0f, factor);
    k.binary("mul", mix, mix, alpha, mixCount);
    k.binary("add", mix, mix, base, mixCount);
  });
  auto sigmoid = [&](Value v, int64_t lanes) { // 1 / (1 + exp(-v))
    k.scalar("mul", v, v, lanes, -1.0f);
    k.unary("exp", v, v, lanes);
    k.scalar("add", v, v, lanes, 1.0f);
    k.unary("recip", v, v, lanes);
  };
  k.masked(n, [&] {
    k.gather(pre, mix, table(1), n);
    sigmoid(pre, n);
    k.scalar("add", pre, pre, n, float(hcEps));
  });
  if (!head) {
    k.masked(n, [&] {
      k.gather(post, mix, table(2), n);
      sigmoid(post, n);
      k.scalar("mul", post, post, n, 2.0f);
    });
    // Sinkhorn: per-row softmax + ε, then columns, then (rows, columns) x (iters - 1).
    auto broadcast = [&](StringRef kind, bool columns) { // line ← each lane's line sum/max
      for (int64_t j = 0; j < n; ++j) {
        k.gather(j == 0 ? line : part, comb, table(4 + 2 * j + (columns ? 1 : 0)), nn);
        if (j > 0)
          k.binary(kind, line, line, part, nn);
      }
    };
    auto normalize = [&](bool columns) { // comb / (line sum + ε)
      broadcast("add", columns);
      k.scalar("add", line, line, nn, float(hcEps));
      k.binary("div", comb, comb, line, nn);
    };
    k.masked(nn, [&] {
      k.gather(comb, mix, table(3), nn);
      broadcast("max", false);
      k.binary("sub", comb, comb, line, nn);
      k.unary("exp", comb, comb, nn);
      broadcast("add", false);
      k.binary("div", comb, comb, line, nn);
      k.scalar("add", comb, comb, nn, float(hcEps));
      normalize(true);
      for (int64_t it = 1; it < sinkhornIters; ++it) {
        normalize(false);
        normalize(true);
      }
    });
    k.store(k.add(k.param(5), k.mul(token, k.c(n * 4))), post, n * 4);
    k.store(k.add(k.param(6), k.mul(token, k.c(nn * 4))), comb, nn * 4);
  }
  // y = Σ_j pre_j X_j, in stream order.
  for (int64_t j = 0; j < n; ++j) {
    Value weight = k.readScalar(k.add(pre, k.c(j * 4)));
    k.scalar("mul", j == 0 ? sum : product, stream(j), width, 0.0f, weight);
    if (j > 0)
      k.binary("add", sum, sum, product, width);
  }
  k.store(k.add(y, k.mul(token, k.c(rowBytes))), sum, rowBytes);
  return k.finish();
}

func::FuncOp buildHcPostKernel(ModuleOp module, StringRef name, int64_t n, int64_t width,
                               int64_t blockDim) {
  int64_t rowBytes = width * 4;
  VectorKernel k(module, name,
                 {{"f", 0, rowBytes},
                  {"streams", 0, n * rowBytes, false, {}, kTokens},
                  {"post", 0, n * 4, false, {}, kTokens},
                  {"comb", 0, n * n * 4, false, {}, kTokens},
                  {"out", 0, n * rowBytes, true, {}, kTokens}},
                 blockDim);
  Value f = k.param(0), streams = k.param(1), post = k.param(2), comb = k.param(3),
        out = k.param(4);
  Value fb = k.ub(rowBytes), sum = k.ub(rowBytes), xs = k.ub(n * rowBytes),
        product = k.ub(rowBytes);
  Value unit = k.forEachRow(k.mul(k.launchScalar(kTokens), k.c(n))); // (token, stream k)
  Value token = k.div(unit, k.c(n)), stream = k.rem(unit, k.c(n));
  auto gmFloat = [&](Value base, Value index) {
    return k.readScalar(k.add(base, k.mul(index, k.c(4))), "gm");
  };
  k.load(fb, k.add(f, k.mul(token, k.c(rowBytes))), rowBytes);
  k.load(xs, k.add(streams, k.mul(token, k.c(n * rowBytes))), n * rowBytes);
  k.scalar("mul", sum, fb, width, 0.0f, gmFloat(post, unit));
  for (int64_t j = 0; j < n; ++j) {
    Value tokenStream = k.add(k.mul(token, k.c(n)), k.c(j));
    k.scalar("mul", product, k.add(xs, k.c(j * rowBytes)), width, 0.0f,
             gmFloat(comb, k.add(k.mul(tokenStream, k.c(n)), stream)));
    k.binary("add", sum, sum, product, width);
  }
  k.store(k.add(out, k.mul(unit, k.c(rowBytes))), sum, rowBytes);
  return k.finish();
}

func::FuncOp buildHcExpandKernel(ModuleOp module, StringRef name, int64_t n, int64_t width,
                                 int64_t blockDim) {
  int64_t rowBytes = width * 4;
  VectorKernel k(module, name, {{"x", 0, rowBytes}, {"streams", 0, n * rowBytes, true}},
                 blockDim);
  Value row = k.ub(rowBytes);
  Value token = k.forEachRow(k.launchScalar(kTokens));
  k.load(row, k.add(k.param(0), k.mul(token, k.c(rowBytes))), rowBytes);
  for (int64_t j = 0; j < n; ++j)
    k.store(k.add(k.param(1), k.mul(k.add(k.mul(token, k.c(n)), k.c(j)), k.c(rowBytes))), row,
            rowBytes);
  return k.finish();
}

} // namespace v4c::npu
