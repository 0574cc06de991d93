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
//
// The router (graph.moe_gate): the gate GEMM on the cube, then per token on a vector core
// s = sqrt(softplus(logits)) (softplus as log1p(exp(min(x, 20))) + max(x - 20, 0): no branch;
// the reference takes x itself past 20), the top-k of s + bias by rounds of a two-level argmax
// (lower index first on ties) or the hash table's ids, and weights s / Σ s · route_scale.
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
  Value items = k.routeSection(route, rows, 0);
  Value slots = k.routeSection(route, rows, MoeRoute::kSlotsPerRow);
  Value routing = k.routeSection(route, rows, MoeRoute::kWeightsPerRow);

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
  Value slots = k.routeSection(route, rows, MoeRoute::kSlotsPerRow);
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

bool gateFitsVectorKernel(int64_t experts, int64_t topk) {
  return (experts <= kLanes || experts % kLanes == 0) && experts / kLanes <= kLanes &&
         topk >= 1 && topk <= experts && topk <= kLanes;
}

func::FuncOp buildMoeGateKernel(ModuleOp module, StringRef name, int64_t experts, int64_t topk,
                                double routeScale, bool biased, int64_t hashIdBytes,
                                int64_t hashTableBytes, int64_t tokenBytes, int64_t blockDim) {
  bool hashed = hashIdBytes > 0;
  int64_t lanes = (experts + kLanes - 1) / kLanes * kLanes, repeats = lanes / kLanes;
  // Gather tables: the argmax's; every lane reads lane 0 (a broadcast).
  SmallVector<int32_t> tables = argmaxGatherOffsets();
  tables.append(kLanes, 0);
  Builder attrs(module.getContext());
  SmallVector<VectorParam> params = {{"logits", 0, experts * 4}};
  if (biased)
    params.push_back({"bias", experts * 4, 0});
  if (hashed) {
    params.push_back({"tid2eid", hashTableBytes, 0});
    params.push_back({"tokens", 0, tokenBytes});
  }
  params.push_back({"weights", 0, topk * 4, true});
  params.push_back({"experts", 0, topk * 4, true});
  params.push_back({"tables", 2 * kLanes * 4, 0, false, attrs.getDenseI32ArrayAttr(tables)});
  VectorKernel k(module, name, params, blockDim);
  size_t at = 1;
  Value logits = k.param(0), bias = biased ? k.param(at++) : Value();
  Value tid2eid = hashed ? k.param(at++) : Value(), tokens = hashed ? k.param(at++) : Value();
  Value weightsOut = k.param(at++), expertsOut = k.param(at++), tableParam = k.param(at);
  Value zero = k.c(0), four = k.c(4);
  Value table = k.ub(2 * kLanes * 4), scores = k.ub(lanes * 4), ranked = k.ub(lanes * 4),
        clamped = k.ub(lanes * 4), biasBuffer = k.ub(lanes * 4), maxima = k.ub(repeats * 8),
        best = k.ub(256), top = k.ub(32), chosen = k.ub(256), total = k.ub(256);
  k.load(table, tableParam, 2 * kLanes * 4);
  if (biased)
    k.load(biasBuffer, bias, experts * 4);
  // Lanes past the experts rank last.
  k.loop(k.c(experts), k.c(lanes), 1, [&](Value i) {
    k.writeScalar(k.c(kMinusInfinityBits), k.add(ranked, k.mul(i, four)));
  });
  Value token = k.forEachRow(k.launchScalar(kTokens));
  k.load(scores, k.add(logits, k.mul(token, k.c(experts * 4))), experts * 4);
  k.masked(experts, [&] { // s = sqrt(log1p(exp(min(x, 20))) + max(x, 20) - 20)
    k.scalar("min", clamped, scores, experts, 20.0f);
    k.unary("exp", clamped, clamped, experts);
    k.unary("log1p", clamped, clamped, experts);
    k.scalar("max", scores, scores, experts, 20.0f);
    k.scalar("add", scores, scores, experts, -20.0f);
    k.binary("add", scores, scores, clamped, experts);
    k.unary("sqrt", scores, scores, experts);
    if (biased)
      k.binary("add", ranked, scores, biasBuffer, experts);
    else
      k.unary("copy", ranked, scores, experts);
  });
  k.loop(zero, k.c(topk), 1, [&](Value round) {
    Value expert;
    if (hashed) { // tid2eid[token id, round]
      Value id = k.readScalar(k.add(tokens, k.mul(token, k.c(tokenBytes))), "gm");
      expert = k.readScalar(
          k.add(tid2eid, k.mul(k.add(k.mul(id, k.c(topk)), round), k.c(hashIdBytes))), "gm");
    } else { // the best remaining, then out of the running
      expert = k.argmax(ranked, lanes, maxima, best, top, table);
      k.writeScalar(k.c(kMinusInfinityBits), k.add(ranked, k.mul(expert, four)));
    }
    Value slot = k.add(k.mul(token, k.c(topk)), round);
    k.writeScalar(expert, k.add(expertsOut, k.mul(slot, four)), "gm");
    k.writeScalar(k.readScalar(k.add(scores, k.mul(expert, four))),
                  k.add(chosen, k.mul(round, four)));
  });
  k.masked(topk, [&] { // s / Σ s · route_scale, the sum in rank order
    k.sum(total, chosen, topk);
    k.gather(best, total, k.add(table, k.c(kLanes * 4)), topk); // Σ s on every lane
    k.binary("div", chosen, chosen, best, topk);
    k.scalar("mul", chosen, chosen, topk, float(routeScale));
  });
  k.store(k.add(weightsOut, k.mul(token, k.c(topk * 4))), chosen, topk * 4);
  return k.finish();
}

} // namespace v4c::npu
