// Attention on the vector cores (graph.sparse_attention), two launches:
//
//   attention  one work unit per (token, head), blocks round robin. The scalar unit walks the
//              candidates in the reference's order: the window's positions lo..p (those before
//              this call from the ring state, the others from this call's kv), then the
//              compressed entries (every visible one, HCA; or the indexer's picks, CSA, where
//              -1 contributes nothing). Pass 1: per candidate, q · row on the vector unit, the
//              logit stored by the scalar unit. Then softmax with the head's sink: logits ·
//              scale, max (the sink included), exp(l - max), the denominator with the sink's
//              term, each weight = e · (1 / denominator). Pass 2: Σ weight · row.
//   ring       the last `window` rows of kv into the ring state, after every block has read
//              it (a launch boundary orders them).
//
// The logits live in UB (the candidate count is bounded: window + top-k or + the compressed
// cache's capacity); slots no candidate filled hold -inf and weigh 0.
#include "codegen/npu/VectorKernel.h"

using namespace mlir;

namespace v4c::npu {

namespace {

constexpr uint32_t kMinusInfinity = 0xFF800000u;

int64_t logitCapacity(const AttentionShape &a) {
  return (a.window + a.entries + kLanes - 1) / kLanes * kLanes;
}

} // namespace

bool attentionFitsVectorKernel(const AttentionShape &a) {
  int64_t capacity = logitCapacity(a);
  return a.headDim % kLanes == 0 && a.headDim / kLanes <= kLanes && capacity / kLanes <= kLanes &&
         8 * a.headDim * 4 + capacity * 4 <= kUbRowBudget;
}

func::FuncOp buildAttentionKernel(ModuleOp module, StringRef name, const AttentionShape &a,
                                  int64_t blockDim) {
  int64_t hd = a.headDim, rowBytes = hd * 4, capacity = logitCapacity(a);
  bool compressed = a.compressed != AttentionShape::kNone;
  bool indexed = a.compressed == AttentionShape::kIndexed;
  SmallVector<VectorParam> params = {{"q", 0, a.heads * rowBytes},
                                     {"kv", 0, rowBytes},
                                     {"positions", 0, 8},
                                     {"sink", a.heads * 4, 0},
                                     {"ring", a.window * rowBytes, 0}};
  if (compressed)
    params.push_back({"compressed", 0, rowBytes, false, {}, kEntries});
  if (indexed)
    params.push_back({"indices", 0, a.entries * 4});
  params.push_back({"out", 0, a.heads * rowBytes, true});
  VectorKernel k(module, name, params, blockDim, /*scalars=*/3);
  Value q = k.param(0), kv = k.param(1), positions = k.param(2), sink = k.param(3),
        ring = k.param(4), entries = compressed ? k.param(5) : Value(),
        indices = indexed ? k.param(6) : Value(), out = k.param(params.size() - 1);
  Value tokens = k.launchScalar(kRows), entryCount = k.launchScalar(kEntries);
  Value zero = k.c(0), one = k.c(1), four = k.c(4), window = k.c(a.window);

  Value qb = k.ub(rowBytes), product = k.ub(rowBytes), sum = k.ub(rowBytes),
        zeros = k.ub(rowBytes), partial = k.ub(kLanes * 4), cell = k.ub(32), sinkCell = k.ub(32),
        sinkTerm = k.ub(32), logits = k.ub(capacity * 4);
  // Each candidate loop has its own row buffer (and pass 1 its own dot-product cell), so that
  // the synchronization of one loop's buffers stays inside it.
  Value rows[2][2] = {{k.ub(rowBytes), k.ub(rowBytes)}, {k.ub(rowBytes), k.ub(rowBytes)}};
  Value dots[2] = {k.ub(32), k.ub(32)};
  k.loop(zero, k.c(hd), 1, [&](Value i) { k.writeScalar(zero, k.add(zeros, k.mul(i, four))); });
  k.loop(zero, k.c(capacity), 1, [&](Value i) {
    k.writeScalar(k.c(kMinusInfinity), k.add(logits, k.mul(i, four)));
  });
  Value start = k.readScalar(positions, "gm");

  Value unit = k.forEachRow(k.mul(tokens, k.c(a.heads)));
  Value token = k.div(unit, k.c(a.heads)), head = k.rem(unit, k.c(a.heads));
  Value p = k.add(start, token), end = k.add(p, one);
  Value lo = k.sub(k.max(end, window), window), windowCount = k.sub(end, lo);
  k.load(qb, k.add(q, k.mul(unit, k.c(rowBytes))), rowBytes);

  // Calls body(slot, row address, valid, loop) for each candidate, in the reference's order
  // (loop 0: the window, 1: the compressed entries).
  auto forEachCandidate = [&](const std::function<void(Value, Value, Value, int)> &body) {
    k.loop(lo, end, 1, [&](Value s) { // positions before this call come from the ring
      body(k.sub(s, lo),
           k.select(k.lessThan(s, start), k.add(ring, k.mul(k.rem(s, window), k.c(rowBytes))),
                    k.add(kv, k.mul(k.sub(s, start), k.c(rowBytes)))),
           Value(), 0);
    });
    if (indexed) {
      k.loop(zero, k.c(a.entries), 1, [&](Value r) {
        Value at = k.mul(k.add(k.mul(token, k.c(a.entries)), r), four);
        Value picked = k.readScalar(k.add(indices, at), "gm"); // -1 reads as 2^32 - 1
        Value valid = k.lessThan(picked, k.c(int64_t(1) << 31));
        // A -1 reads this token's own kv row (always there; its logit is -inf, its weight 0).
        body(k.add(windowCount, r),
             k.select(valid, k.add(entries, k.mul(picked, k.c(rowBytes))),
                      k.add(kv, k.mul(token, k.c(rowBytes)))),
             valid, 1);
      });
    } else if (compressed) {
      Value visible = k.min(k.div(end, k.c(a.ratio)), entryCount);
      k.loop(zero, visible, 1, [&](Value i) {
        body(k.add(windowCount, i), k.add(entries, k.mul(i, k.c(rowBytes))), Value(), 1);
      });
    }
  };
  auto logitOf = [&](Value slot) { return k.add(logits, k.mul(slot, four)); };

  // Pass 1: the logits (-inf for an index of -1).
  forEachCandidate([&](Value slot, Value rowAddress, Value valid, int loop) {
    Value row = rows[0][loop], dot = dots[loop];
    k.load(row, rowAddress, rowBytes);
    k.binary("mul", product, qb, row, hd);
    k.sum(partial, product, hd);
    k.mask(hd / kLanes);
    k.sum(dot, partial, kLanes);
    k.mask(0);
    Value bits = k.readScalar(dot);
    k.writeScalar(valid ? k.select(valid, bits, k.c(kMinusInfinity)) : bits, logitOf(slot));
  });
  // Softmax with the sink, over the whole buffer (empty slots: exp(-inf) = 0).
  k.scalar("mul", logits, logits, capacity, float(a.scale));
  k.load(sinkCell, k.add(sink, k.mul(head, four)), 4);
  k.reduce("max", partial, logits, capacity);
  k.mask(capacity / kLanes);
  k.reduce("max", cell, partial, kLanes);
  k.mask(1);
  k.binary("max", cell, cell, sinkCell, 1);
  k.scalar("mul", cell, cell, 1, -1.0f);
  k.mask(0);
  Value minusMax = k.readScalar(cell);
  k.scalar("add", logits, logits, capacity, 0.0f, minusMax);
  k.unary("exp", logits, logits, capacity);
  k.sum(partial, logits, capacity);
  k.mask(capacity / kLanes);
  k.sum(cell, partial, kLanes);
  k.mask(1);
  k.scalar("add", sinkTerm, sinkCell, 1, 0.0f, minusMax);
  k.unary("exp", sinkTerm, sinkTerm, 1);
  k.binary("add", cell, cell, sinkTerm, 1);
  k.unary("recip", cell, cell, 1);
  k.mask(0);
  k.scalar("mul", logits, logits, capacity, 0.0f, k.readScalar(cell));
  // Pass 2: Σ weight · row; then the slots go back to -inf for the next unit.
  k.unary("copy", sum, zeros, hd);
  forEachCandidate([&](Value slot, Value rowAddress, Value, int loop) {
    Value row = rows[1][loop];
    k.load(row, rowAddress, rowBytes);
    k.scalar("mul", product, row, hd, 0.0f, k.readScalar(logitOf(slot)));
    k.binary("add", sum, sum, product, hd);
  });
  k.store(k.add(out, k.mul(unit, k.c(rowBytes))), sum, rowBytes);
  k.loop(zero, k.c(capacity), 1,
         [&](Value i) { k.writeScalar(k.c(kMinusInfinity), logitOf(i)); });
  return k.finish();
}

func::FuncOp buildRingUpdateKernel(ModuleOp module, StringRef name, int64_t headDim,
                                   int64_t window, int64_t blockDim) {
  int64_t rowBytes = headDim * 4;
  VectorKernel k(module, name,
                 {{"kv", 0, rowBytes},
                  {"positions", 0, 8},
                  {"ring", window * rowBytes, 0, /*output=*/true}},
                 blockDim);
  Value kv = k.param(0), positions = k.param(1), ring = k.param(2);
  Value tokens = k.launchScalar(kRows), w = k.c(window), row = k.ub(rowBytes);
  Value start = k.readScalar(positions, "gm");
  Value t = k.forEachRow(tokens, k.sub(k.max(tokens, w), w)); // the last `window` tokens
  k.load(row, k.add(kv, k.mul(t, k.c(rowBytes))), rowBytes);
  k.store(k.add(ring, k.mul(k.rem(k.add(start, t), w), k.c(rowBytes))), row, rowBytes);
  return k.finish();
}

} // namespace v4c::npu
