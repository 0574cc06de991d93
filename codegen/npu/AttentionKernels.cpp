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
//
//   compressor  after its two GEMMs (kv and gate scores on the cube), one block walks the
//              call's tokens in order (the pending state carries incomplete blocks across
//              calls): each token's kv row and score + ape row go into the pending rows; a
//              token that completes a block pools it per channel (lanes): the max over the
//              candidates (the previous block's on the first half of the channels when
//              overlapping), Σ w · kv and Σ w with w = exp(score - max), entry = Σ w·kv / Σ w.
//              Conditional steps are loops of 0 or 1 trips (the binary has no branches).
//   kv_append   rows [0, total) of the compressed cache after appending this call's entries
//              (rows total - count on): each row from the entries or the cache, into the
//              result, and the appended ones into the cache too (a 0/1-trip loop).
//   index_topk  the lightning indexer, two launches: scores, the blocks sharing each token's
//              entries 64 at a time: Σ_j w_j · scale · ReLU(q_j · key) (all heads' products in
//              one strided op per 64-lane chunk, their sums gathered into lanes, a lane per
//              head; -inf past the visible entries), into a GM scratch; then per token top-k
//              rounds of a two-level argmax (the first max wins: lower index on ties), each pick
//              then set to -inf; rounds past the visible entries give -1.
#include "codegen/npu/VectorKernel.h"

using namespace mlir;

namespace v4c::npu {

namespace {

/// Candidate rows in flight per loop (unrolledLoop's ways).
constexpr int kWays = 4;

/// Logit slots: the window and the compressed candidates, and the last group's padding.
int64_t logitCapacity(const AttentionShape &a) {
  return (a.window + a.entries + 2 * (kWays - 1) + kLanes - 1) / kLanes * kLanes;
}

} // namespace

bool attentionFitsVectorKernel(const AttentionShape &a) {
  int64_t capacity = logitCapacity(a);
  return a.headDim % kLanes == 0 && a.headDim / kLanes <= kLanes && capacity / kLanes <= kLanes &&
         (4 * kWays + 5) * a.headDim * 4 + capacity * 4 <= kUbRowBudget;
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
  // Row buffers per pass, candidate loop and way, so that a loop's synchronization stays
  // inside it and the ways' loads overlap; per loop, the ways' partial sums and their dots
  // (one 32-byte cell: one scalar/vector handoff per group, not per candidate).
  int64_t partialStride = std::max<int64_t>(32, hd / kLanes * 4);
  Value rows[2][2][kWays], dots[2] = {k.ub(32), k.ub(32)},
        partials[2] = {k.ub(kWays * partialStride), k.ub(kWays * partialStride)};
  for (int pass = 0; pass < 2; ++pass)
    for (int loop = 0; loop < 2; ++loop)
      for (int way = 0; way < kWays; ++way)
        rows[pass][loop][way] = k.ub(rowBytes);
  k.loop(zero, k.c(hd), 1, [&](Value i) { k.writeScalar(zero, k.add(zeros, k.mul(i, four))); });
  k.loop(zero, k.c(capacity), 1, [&](Value i) {
    k.writeScalar(k.c(kMinusInfinityBits), k.add(logits, k.mul(i, four)));
  });
  Value start = k.readScalar(positions, "gm");

  Value unit = k.forEachRow(k.mul(tokens, k.c(a.heads)));
  Value token = k.div(unit, k.c(a.heads)), head = k.rem(unit, k.c(a.heads));
  Value p = k.add(start, token), end = k.add(p, one);
  Value lo = k.sub(k.max(end, window), window), windowCount = k.sub(end, lo);
  k.load(qb, k.add(q, k.mul(unit, k.c(rowBytes))), rowBytes);

  // A candidate of loop 0 (the window: positions before this call from the ring) or loop 1
  // (the compressed entries) by its index there: its logit slot, row address and whether it
  // counts. Padding past a loop's end and the indexer's -1 picks do not: they read this
  // token's own kv row (always there), their logits are -inf and their weights 0.
  struct Candidate {
    Value slot, address, valid;
  };
  Value own = k.add(kv, k.mul(token, k.c(rowBytes)));
  auto candidate = [&](int loop, Value i, Value inRange) -> Candidate {
    Value slot = loop == 0 ? k.sub(i, lo) : k.add(windowCount, i), valid = inRange, address;
    if (loop == 0) {
      address = k.select(k.lessThan(i, start),
                         k.add(ring, k.mul(k.rem(i, window), k.c(rowBytes))),
                         k.add(kv, k.mul(k.sub(i, start), k.c(rowBytes))));
    } else if (!indexed) {
      address = k.add(entries, k.mul(i, k.c(rowBytes)));
    } else {
      Value at = k.mul(k.add(k.mul(token, k.c(a.entries)), k.select(inRange, i, zero)), four);
      Value picked = k.readScalar(k.add(indices, at), "gm"); // -1 reads as 2^32 - 1
      valid = k.select(inRange, k.lessThan(picked, k.c(int64_t(1) << 31)), inRange); // and
      address = k.add(entries, k.mul(picked, k.c(rowBytes)));
    }
    return {slot, k.select(valid, address, own), valid};
  };
  // Every candidate in the reference's order (and the padding), its row loaded into
  // rows[pass][loop][way].
  using Compute = std::function<void(const Candidate &, Value, int, int)>;
  using AfterGroup = std::function<void(ArrayRef<Candidate>, int)>;
  auto forEachCandidate = [&](int pass, const Compute &compute, const AfterGroup &afterGroup) {
    auto walk = [&](int loop, Value lower, Value upper) {
      k.unrolledLoop(
          lower, upper, kWays,
          [&](Value i, Value inRange, int way) {
            k.load(rows[pass][loop][way], candidate(loop, i, inRange).address, rowBytes);
          },
          [&](Value i, Value inRange, int way) {
            compute(candidate(loop, i, inRange), rows[pass][loop][way], loop, way);
          },
          [&](ArrayRef<Value> index, ArrayRef<Value> inRange) {
            if (!afterGroup)
              return;
            SmallVector<Candidate> group;
            for (int way = 0; way < kWays; ++way)
              group.push_back(candidate(loop, index[way], inRange[way]));
            afterGroup(group, loop);
          });
    };
    walk(0, lo, end);
    if (indexed)
      walk(1, zero, k.c(a.entries));
    else if (compressed)
      walk(1, zero, k.min(k.div(end, k.c(a.ratio)), entryCount));
  };
  auto logitOf = [&](Value slot) { return k.add(logits, k.mul(slot, four)); };

  // Pass 1: the logits (-inf for padding and an index of -1): per candidate the partial sums
  // of q · row, per group the dots (one sum per way) handed to the scalar unit.
  forEachCandidate(
      0,
      [&](const Candidate &, Value row, int loop, int way) {
        k.binary("mul", product, qb, row, hd);
        k.sum(k.add(partials[loop], k.c(way * partialStride)), product, hd);
      },
      [&](ArrayRef<Candidate> group, int loop) {
        k.mask(hd / kLanes);
        k.sumRepeats(dots[loop], partials[loop], kWays, partialStride);
        k.mask(0);
        for (int way = 0; way < kWays; ++way)
          k.writeScalar(k.select(group[way].valid,
                                 k.readScalar(k.add(dots[loop], k.c(way * 4))),
                                 k.c(kMinusInfinityBits)),
                        logitOf(group[way].slot));
      });
  // Softmax with the sink, over the whole buffer (empty slots: exp(-inf) = 0).
  k.scalar("mul", logits, logits, capacity, float(a.scale));
  k.load(sinkCell, k.add(sink, k.mul(head, four)), 4);
  k.reduceAll("max", cell, partial, logits, capacity);
  k.binary("max", cell, cell, sinkCell, 1);
  k.scalar("mul", cell, cell, 1, -1.0f);
  k.mask(0);
  Value minusMax = k.readScalar(cell);
  k.scalar("add", logits, logits, capacity, 0.0f, minusMax);
  k.unary("exp", logits, logits, capacity);
  k.reduceAll("sum", cell, partial, logits, capacity);
  k.scalar("add", sinkTerm, sinkCell, 1, 0.0f, minusMax);
  k.unary("exp", sinkTerm, sinkTerm, 1);
  k.binary("add", cell, cell, sinkTerm, 1);
  k.unary("recip", cell, cell, 1);
  k.mask(0);
  k.scalar("mul", logits, logits, capacity, 0.0f, k.readScalar(cell));
  // Pass 2: Σ weight · row; then the slots go back to -inf for the next unit.
  k.unary("copy", sum, zeros, hd);
  forEachCandidate(
      1,
      [&](const Candidate &c, Value row, int, int) {
        // A padding slot may hold a later candidate's weight: it weighs 0 here.
        k.scalar("mul", product, row, hd, 0.0f,
                 k.select(c.valid, k.readScalar(logitOf(c.slot)), zero));
        k.binary("add", sum, sum, product, hd);
      },
      {});
  k.store(k.add(out, k.mul(unit, k.c(rowBytes))), sum, rowBytes);
  k.loop(zero, k.c(capacity), 1,
         [&](Value i) { k.writeScalar(k.c(kMinusInfinityBits), logitOf(i)); });
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

bool indexTopkFitsVectorKernel(int64_t heads, int64_t dim, int64_t capacity) {
  int64_t lanes = (capacity + kLanes - 1) / kLanes * kLanes;
  return heads <= kLanes && dim % kLanes == 0 && heads * (dim / kLanes) <= 255 &&
         lanes / kLanes <= kLanes && (2 * heads + 1) * dim * 4 + 3 * lanes * 4 <= kUbRowBudget;
}

func::FuncOp buildIndexScoreKernel(ModuleOp module, StringRef name, int64_t heads, int64_t dim,
                                   int64_t capacity, int64_t ratio, double scale,
                                   int64_t blockDim) {
  int64_t rowBytes = dim * 4, lanes = indexScoreLanes(capacity), chunks = dim / kLanes;
  // Gather tables: per 64-lane chunk j of a key, lane h reads head h's partial sum of chunk j.
  SmallVector<int32_t> tables;
  for (int64_t j = 0; j < chunks; ++j)
    tables.append(gatherOffsets(kLanes, [&](int64_t l) { return l * chunks + j; }));
  int64_t tableBytes = int64_t(tables.size()) * 4;
  Builder attrs(module.getContext());
  VectorKernel k(module, name,
                 {{"q", 0, heads * rowBytes, false, {}, kTokens},
                  {"weights", 0, heads * 4, false, {}, kTokens},
                  {"keys", 0, rowBytes, false, {}, kEntries},
                  {"positions", 0, 8, false, {}, kTokens},
                  {"scores", 0, lanes * 4, true, {}, kTokens},
                  {"tables", tableBytes, 0, false, attrs.getDenseI32ArrayAttr(tables)}},
                 blockDim, /*scalars=*/3);
  Value q = k.param(0), weights = k.param(1), keys = k.param(2), positions = k.param(3),
        scoresOut = k.param(4);
  Value zero = k.c(0), four = k.c(4);
  Value table = k.ub(tableBytes), qs = k.ub(heads * rowBytes), key = k.ub(rowBytes),
        products = k.ub(heads * rowBytes), partial = k.ub(heads * chunks * 4), dots = k.ub(256),
        part = k.ub(256), headWeights = k.ub(256), score = k.ub(32), scores = k.ub(kLanes * 4);
  k.load(table, k.param(5), tableBytes);
  auto scoreOf = [&](Value i) { return k.add(scores, k.mul(i, four)); };
  // One unit per (token, 64 entries): the blocks share a token's entries.
  Value unit = k.forEachRow(k.mul(k.launchScalar(kTokens), k.c(lanes / kLanes)));
  Value token = k.div(unit, k.c(lanes / kLanes)), first = k.mul(k.rem(unit, k.c(lanes / kLanes)), k.c(kLanes));
  Value p = k.readScalar(k.add(positions, k.mul(token, k.c(8))), "gm");
  Value visible = k.min(k.div(k.add(p, k.c(1)), k.c(ratio)), k.launchScalar(kEntries));
  Value last = k.max(first, k.min(visible, k.add(first, k.c(kLanes))));
  k.loop(zero, k.c(kLanes), 1, [&](Value i) { k.writeScalar(k.c(kMinusInfinityBits), scoreOf(i)); });
  k.load(qs, k.add(q, k.mul(token, k.c(heads * rowBytes))), heads * rowBytes);
  k.load(headWeights, k.add(weights, k.mul(token, k.c(heads * 4))), heads * 4);
  k.mask(heads);
  k.scalar("mul", headWeights, headWeights, heads, float(scale));
  k.mask(0);
  k.loop(first, last, 1, [&](Value i) {
    k.load(key, k.add(keys, k.mul(i, k.c(rowBytes))), rowBytes);
    // Every head's products with the key at once: per chunk, one repeat per head (the key's
    // chunk re-read: repeat stride 0); then one sum per (head, chunk), gathered per head.
    for (int64_t j = 0; j < chunks; ++j)
      k.binaryRepeats("mul", k.add(products, k.c(j * 256)), k.add(qs, k.c(j * 256)),
                      k.add(key, k.c(j * 256)), heads, {chunks * 8, chunks * 8, 0});
    k.sum(partial, products, heads * dim);
    k.mask(heads); // Σ_j (w_j · scale) · ReLU(dot_j), in head order
    for (int64_t j = 0; j < chunks; ++j) {
      k.gather(j == 0 ? dots : part, partial, k.add(table, k.c(j * kLanes * 4)), heads);
      if (j > 0)
        k.binary("add", dots, dots, part, heads);
    }
    k.scalar("max", dots, dots, heads, 0.0f);
    k.binary("mul", dots, dots, headWeights, heads);
    k.sum(score, dots, heads);
    k.mask(0);
    k.writeScalar(k.readScalar(score), scoreOf(k.sub(i, first)));
  });
  k.store(k.add(scoresOut, k.mul(k.add(k.mul(token, k.c(lanes)), first), four)), scores,
          kLanes * 4);
  return k.finish();
}

func::FuncOp buildIndexSelectKernel(ModuleOp module, StringRef name, int64_t capacity,
                                    int64_t topk, int64_t ratio, int64_t blockDim) {
  int64_t lanes = indexScoreLanes(capacity), repeats = lanes / kLanes;
  SmallVector<int32_t> maximaTable = argmaxGatherOffsets();
  Builder attrs(module.getContext());
  VectorKernel k(module, name,
                 {{"scores", 0, lanes * 4, false, {}, kTokens},
                  {"positions", 0, 8, false, {}, kTokens},
                  {"out", 0, topk * 4, true, {}, kTokens},
                  {"tables", kLanes * 4, 0, false, attrs.getDenseI32ArrayAttr(maximaTable)}},
                 blockDim, /*scalars=*/3);
  Value scoresIn = k.param(0), positions = k.param(1), out = k.param(2);
  Value zero = k.c(0), four = k.c(4);
  Value table = k.ub(kLanes * 4), scores = k.ub(lanes * 4), maxima = k.ub(repeats * 8),
        best = k.ub(256), top = k.ub(32);
  k.load(table, k.param(3), kLanes * 4);
  Value token = k.forEachRow(k.launchScalar(kTokens));
  Value p = k.readScalar(k.add(positions, k.mul(token, k.c(8))), "gm");
  Value visible = k.min(k.div(k.add(p, k.c(1)), k.c(ratio)), k.launchScalar(kEntries));
  k.load(scores, k.add(scoresIn, k.mul(token, k.c(lanes * 4))), lanes * 4);
  k.loop(zero, k.c(topk), 1, [&](Value round) {
    Value index = k.argmax(scores, lanes, maxima, best, top, table);
    Value slot = k.add(out, k.mul(k.add(k.mul(token, k.c(topk)), round), four));
    k.writeScalar(k.select(k.lessThan(round, visible), index, k.c(0xFFFFFFFFll)), slot, "gm");
    k.writeScalar(k.c(kMinusInfinityBits), k.add(scores, k.mul(index, four)));
  });
  return k.finish();
}

bool compressorFitsVectorKernel(int64_t ratio, int64_t width, bool overlap) {
  int64_t rows = overlap ? 2 * ratio : ratio, headDim = overlap ? width / 2 : width;
  return headDim % kLanes == 0 && width / kLanes <= 255 &&
         (!overlap || ratio * width / kLanes <= 255) && // the shift of the pending rows
         2 * rows * width * 4 + 8 * width * 4 <= kUbRowBudget;
}

func::FuncOp buildCompressorPoolKernel(ModuleOp module, StringRef name, int64_t ratio,
                                       int64_t width, bool overlap) {
  int64_t rows = overlap ? 2 * ratio : ratio, rowBytes = width * 4;
  int64_t headDim = overlap ? width / 2 : width, entryBytes = headDim * 4,
          current = overlap ? ratio : 0, half = rows * rowBytes;
  VectorKernel k(module, name,
                 {{"kv", 0, rowBytes},
                  {"score", 0, rowBytes},
                  {"ape", ratio * rowBytes, 0},
                  {"positions", 0, 8},
                  {"pending", 2 * half, 0, true},
                  {"entries", 0, entryBytes, true, {}, kEntries},
                  {"entry_positions", 0, 8, true, {}, kEntries}},
                 /*blockDim=*/1, /*scalars=*/3);
  Value kv = k.param(0), score = k.param(1), ape = k.param(2), positions = k.param(3),
        pendingState = k.param(4), entries = k.param(5), entryPositions = k.param(6);
  Value zero = k.c(0), one = k.c(1), ratioV = k.c(ratio);
  Value pending = k.ub(2 * half), apeRow = k.ub(rowBytes), maxima = k.ub(entryBytes),
        total = k.ub(entryBytes), sum = k.ub(entryBytes), weight = k.ub(entryBytes),
        product = k.ub(entryBytes), zeros = k.ub(entryBytes), minusInf = k.ub(entryBytes);
  k.loop(zero, k.c(headDim), 1, [&](Value i) {
    k.writeScalar(zero, k.add(zeros, k.mul(i, k.c(4))));
    k.writeScalar(k.c(kMinusInfinityBits), k.add(minusInf, k.mul(i, k.c(4))));
  });
  k.load(pending, pendingState, 2 * half);
  auto kvRow = [&](Value r) { return k.add(pending, k.mul(r, k.c(rowBytes))); };
  auto scoreRow = [&](Value r) { return k.add(kvRow(r), k.c(half)); };
  auto when = [&](Value flag, const std::function<void()> &body) { // flag is 0 or 1
    k.loop(zero, flag, 1, [&](Value) { body(); });
  };
  Value start = k.readScalar(positions, "gm"), firstEntry = k.div(start, ratioV);
  k.loop(zero, k.launchScalar(kTokens), 1, [&](Value t) {
    Value p = k.add(start, t), slot = k.rem(p, ratioV), row = k.add(k.c(current), slot);
    k.load(kvRow(row), k.add(kv, k.mul(t, k.c(rowBytes))), rowBytes);
    k.load(scoreRow(row), k.add(score, k.mul(t, k.c(rowBytes))), rowBytes);
    k.load(apeRow, k.add(ape, k.mul(slot, k.c(rowBytes))), rowBytes);
    k.binary("add", scoreRow(row), scoreRow(row), apeRow, width);
    Value end = k.add(p, one);
    when(k.sub(one, k.min(one, k.rem(end, ratioV))), [&] { // the token completes a block
      Value hasPrevious = overlap ? k.min(one, k.div(k.sub(end, one), ratioV)) : zero;
      Value own = k.c(overlap ? entryBytes : 0); // this block's channels within its rows
      // The candidates in the reference's order: the previous block (channels 0..hd), then
      // this one (channels own..own+hd).
      auto forEachCandidate = [&](const std::function<void(Value, Value)> &body) {
        if (overlap)
          when(hasPrevious, [&] {
            k.loop(zero, ratioV, 1, [&](Value j) { body(j, zero); });
          });
        k.loop(zero, ratioV, 1, [&](Value j) { body(k.add(k.c(current), j), own); });
      };
      k.unary("copy", maxima, minusInf, headDim);
      forEachCandidate([&](Value r, Value channel) {
        k.binary("max", maxima, maxima, k.add(scoreRow(r), channel), headDim);
      });
      k.unary("copy", total, zeros, headDim);
      k.unary("copy", sum, zeros, headDim);
      forEachCandidate([&](Value r, Value channel) {
        k.binary("sub", weight, k.add(scoreRow(r), channel), maxima, headDim);
        k.unary("exp", weight, weight, headDim);
        k.binary("add", total, total, weight, headDim);
        k.binary("mul", product, weight, k.add(kvRow(r), channel), headDim);
        k.binary("add", sum, sum, product, headDim);
      });
      k.binary("div", sum, sum, total, headDim);
      Value entry = k.sub(k.div(end, ratioV), k.add(firstEntry, one));
      k.store(k.add(entries, k.mul(entry, k.c(entryBytes))), sum, entryBytes);
      Value position = k.add(entryPositions, k.mul(entry, k.c(8))); // i64: low, high words
      k.writeScalar(k.sub(end, ratioV), position, "gm");
      k.writeScalar(zero, k.add(position, k.c(4)), "gm");
      if (overlap) // this block becomes the previous one
        for (Value base : {kvRow(zero), scoreRow(zero)})
          k.unary("copy", base, k.add(base, k.c(ratio * rowBytes)), ratio * width);
    });
  });
  k.store(pendingState, pending, 2 * half);
  return k.finish();
}

func::FuncOp buildKvAppendKernel(ModuleOp module, StringRef name, int64_t width,
                                 int64_t capacity, int64_t blockDim) {
  int64_t rowBytes = width * 4;
  VectorKernel k(module, name,
                 {{"entries", 0, rowBytes},
                  {"cache", capacity * rowBytes, 0, true},
                  {"out", 0, rowBytes, true, {}, kEntries}},
                 blockDim, /*scalars=*/3);
  Value entries = k.param(0), cache = k.param(1), out = k.param(2), one = k.c(1);
  Value total = k.launchScalar(kEntries), first = k.sub(total, k.launchScalar(kRows));
  Value row = k.ub(rowBytes);
  Value r = k.forEachRow(total);
  Value old = k.lessThan(r, first), at = k.mul(r, k.c(rowBytes));
  Value appended = k.select(old, k.c(0), one); // trips of the loop writing the cache
  k.load(row, k.select(old, k.add(cache, at), k.add(entries, k.mul(k.sub(r, first), k.c(rowBytes)))),
         rowBytes);
  k.store(k.add(out, at), row, rowBytes);
  k.loop(k.c(0), appended, 1, [&](Value) { k.store(k.add(cache, at), row, rowBytes); });
  return k.finish();
}

} // namespace v4c::npu
