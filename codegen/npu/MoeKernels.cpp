// The routed experts on the NPU (graph.moe_experts), as five launches:
//
//   route    (AIV, one block; its scalar unit) counts the rows routed to each expert, cuts each
//            expert's rows into work items of at most `rowsPerItem` rows, gives every (token,
//            k) slot its row in expert order, and copies x and the routing weight there
//   up       (AIC) the grouped GEMM: for every (item, N tile), x rows · w1[e]ᵀ and · w3[e]ᵀ
//   swiglu   (AIV) silu(g) · u · routing weight, per permuted row
//   down     (AIC) the grouped GEMM with w2
//   combine  (AIV) per token, the sum of its k expert outputs, in k order (as the reference)
//
// Experts map onto cores through the work items: the grouped GEMM's blocks take (item, N tile)
// pairs round robin, each at most rowsPerItem x nt, so a block's share is the same (±1 tile)
// however the tokens are spread over experts; an expert without tokens costs nothing.
// Every table lives in one GM buffer (MoeRoute, NpuTarget.h).
#include "codegen/npu/VectorKernel.h"

using namespace mlir;

namespace v4c::npu {

func::FuncOp buildMoeRouteKernel(ModuleOp module, StringRef name, int64_t experts, int64_t topk,
                                 int64_t width, int64_t rowsPerItem) {
  int64_t rowBytes = width * 4;
  VectorKernel k(module, name,
                 {{"experts", 0, 4},
                  {"weights", 0, 4},
                  {"x", 0, rowBytes, false, {}, kTokens},
                  {"route", MoeRoute::kHeaderBytes, MoeRoute::kBytesPerRow, true},
                  {"xperm", 0, rowBytes, true}},
                 /*blockDim=*/1);
  Value ids = k.param(0), weights = k.param(1), x = k.param(2), route = k.param(3),
        xperm = k.param(4), rows = k.launchScalar(kRows);
  Value counts = k.ub(experts * 4), cursor = k.ub(experts * 4), running = k.ub(32),
        row = k.ub(rowBytes);
  Value zero = k.c(0), one = k.c(1), four = k.c(4);
  auto at = [&](Value base, Value i) { return k.add(base, k.mul(i, four)); };
  Value items = k.add(route, k.c(MoeRoute::kHeaderBytes));
  Value slots = k.add(items, k.mul(rows, k.c(MoeRoute::kItemBytes)));
  Value routing = k.add(slots, k.mul(rows, four));

  // Rows per expert.
  k.loop(zero, k.c(experts), 1, [&](Value e) { k.writeScalar(zero, at(counts, e)); });
  k.loop(zero, rows, 1, [&](Value j) {
    Value count = at(counts, k.readScalar(at(ids, j), "gm"));
    k.writeScalar(k.add(k.readScalar(count), one), count);
  });
  // Each expert's first row (its cursor) and work items; the running offset and item count
  // live in UB (the binary's loops carry no values).
  Value offset = running, itemCount = k.add(running, four);
  k.writeScalar(zero, offset);
  k.writeScalar(zero, itemCount);
  k.loop(zero, k.c(experts), 1, [&](Value e) {
    Value count = k.readScalar(at(counts, e)), first = k.readScalar(offset);
    k.writeScalar(first, at(cursor, e));
    k.loop(zero, count, rowsPerItem, [&](Value r) {
      Value n = k.readScalar(itemCount);
      Value item = k.add(items, k.mul(n, k.c(MoeRoute::kItemBytes)));
      k.writeScalar(e, item, "gm");
      k.writeScalar(k.add(first, r), k.add(item, four), "gm");
      k.writeScalar(k.min(k.c(rowsPerItem), k.sub(count, r)), k.add(item, k.c(8)), "gm");
      k.writeScalar(k.add(n, one), itemCount);
    });
    k.writeScalar(k.add(first, count), offset);
  });
  k.writeScalar(k.readScalar(itemCount), route, "gm");
  // Every slot's row: x and the routing weight move there.
  k.loop(zero, rows, 1, [&](Value j) {
    Value cursorOf = at(cursor, k.readScalar(at(ids, j), "gm"));
    Value p = k.readScalar(cursorOf);
    k.writeScalar(k.add(p, one), cursorOf);
    k.writeScalar(p, at(slots, j), "gm");
    k.writeScalar(k.readScalar(at(weights, j), "gm"), at(routing, p), "gm");
    k.load(row, k.add(x, k.mul(k.div(j, k.c(topk)), k.c(rowBytes))), rowBytes);
    k.store(k.add(xperm, k.mul(p, k.c(rowBytes))), row, rowBytes);
  });
  return k.finish();
}

func::FuncOp buildMoeCombineKernel(ModuleOp module, StringRef name, int64_t topk, int64_t width,
                                   int64_t blockDim) {
  int64_t rowBytes = width * 4;
  VectorKernel k(module, name,
                 {{"yperm", 0, rowBytes},
                  {"route", MoeRoute::kHeaderBytes, MoeRoute::kBytesPerRow},
                  {"y", 0, rowBytes, true, {}, kTokens}},
                 blockDim);
  Value yperm = k.param(0), route = k.param(1), y = k.param(2), rows = k.launchScalar(kRows);
  Value slots = k.add(k.add(route, k.c(MoeRoute::kHeaderBytes)),
                      k.mul(rows, k.c(MoeRoute::kItemBytes)));
  Value sum = k.ub(rowBytes), parts[2] = {k.ub(rowBytes), k.ub(rowBytes)};
  Value token = k.forEachRow(k.launchScalar(kTokens));
  for (int64_t slot = 0; slot < topk; ++slot) {
    Value index = k.add(k.mul(token, k.c(topk)), k.c(slot));
    Value p = k.readScalar(k.add(slots, k.mul(index, k.c(4))), "gm");
    Value source = k.add(yperm, k.mul(p, k.c(rowBytes)));
    if (slot == 0) {
      k.load(sum, source, rowBytes);
      continue;
    }
    k.load(parts[slot % 2], source, rowBytes);
    k.binary("add", sum, sum, parts[slot % 2], width);
  }
  k.store(k.add(y, k.mul(token, k.c(rowBytes))), sum, rowBytes);
  return k.finish();
}

} // namespace v4c::npu
