// Automatic synchronization of a kernel's pipes (what AscendC's queues hide, NPU.md §3.1-3.2).
//
// Each block of the kernel (the body, each loop body) is a sequence of items: npu ops and
// loops, a loop standing for every access inside it. For every access to an on-chip buffer,
// the earlier conflicting accesses (one of the two writes) by other pipes need a
// set_flag(src, dst) after them and a wait_flag before it. Walking back from the access stops
// at the previous write: that write was itself ordered after everything before it. In a loop
// body the walk continues around the back edge: those dependences are loop-carried, so the
// flag pair also gets a set before the loop (the first iteration has nothing to wait for) and
// a wait after it (the last set must be consumed), hoisted out of enclosing loops that use
// the buffer nowhere else. A buffer touched only inside one inner loop is that loop's business:
// its drain waits order it before anything after the loop.
//
// One flag orders everything its source pipe did before it, so dependences between the same
// pipes merge into one set/wait pair placed after the latest source and before the earliest
// destination when that delays no other work. Event ids are numbered per pipe pair across the
// kernel.
#include "codegen/npu/NpuTarget.h"

#include "ir/Npu/IR/NpuOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <map>

using namespace mlir;

namespace v4c::npu {

namespace {

struct Access {
  Operation *buffer;
  bool write;
  StringRef pipe;
};

/// One item of a block: an npu op or a loop, with the buffer accesses it stands for.
struct Item {
  Operation *op;
  SmallVector<Access> accesses;
};

/// A dependence from item `from` to item `to` of the same block; `carried`: from one
/// iteration to the next (to <= from).
struct Dependence {
  int from, to;
  StringRef src, dst;
  bool carried;
  Operation *buffer;
};

/// A set/wait pair: set after item `set`, wait before item `wait` (for carried pairs, in the
/// next iteration: positions are then compared with wait + the body's length).
struct SyncPair {
  int set, wait;
  StringRef src, dst;
  bool carried;
  SmallVector<Operation *, 2> buffers; // the buffers it orders
};

class SyncInserter {
public:
  LogicalResult run(func::FuncOp kernel) {
    // The pass owns the kernel's flags: hand-written ones would share its event ids.
    WalkResult prior = kernel.walk([&](Operation *op) {
      if (!isa<SetFlagOp, WaitFlagOp, BarrierOp>(op))
        return WalkResult::advance();
      op->emitOpError("is already in the kernel: v4c-npu-insert-sync synchronizes kernels "
                      "that have no flags yet");
      return WalkResult::interrupt();
    });
    if (prior.wasInterrupted())
      return failure();
    // Innermost loops first (syncBlock recurses before it looks at its own items).
    if (failed(syncBlock(kernel.getBody().front(), /*loopBody=*/false)))
      return failure();
    auto limits = archLimitsOf(kernel);
    for (auto &[pair, count] : idsUsed)
      if (limits && count > limits->eventIds)
        return kernel.emitError() << "needs " << count << " event ids for " << pair.first << " -> "
                                  << pair.second << "; the " << limits->name << " has "
                                  << limits->eventIds;
    return success();
  }

private:
  std::map<std::pair<std::string, std::string>, int64_t> idsUsed;

  /// Every access inside `op` (itself when it is an npu op); fails on an on-chip address the
  /// pass cannot attribute to one buffer (it could not order it).
  static LogicalResult collect(Operation *op, SmallVector<Access> &out) {
    WalkResult result = op->walk([&](Operation *inner) {
      Value untraced;
      for (BufferAccess a : bufferAccesses(inner, &untraced))
        out.push_back({a.buffer.getOperation(), a.write, pipeOf(inner)});
      if (!untraced)
        return WalkResult::advance();
      inner->emitOpError("addresses on-chip memory that does not derive from one npu.alloc "
                         "by additions: the synchronization pass cannot order it");
      return WalkResult::interrupt();
    });
    return failure(result.wasInterrupted());
  }

  LogicalResult syncBlock(Block &block, bool loopBody) {
    // Inner loops first: their own flags are part of what this level sees as the loop.
    for (Operation &op : block)
      if (auto loop = dyn_cast<scf::ForOp>(op))
        if (failed(syncBlock(*loop.getBody(), /*loopBody=*/true)))
          return failure();

    SmallVector<Item> items;
    for (Operation &op : block) {
      Item item{&op, {}};
      if (failed(collect(&op, item.accesses)))
        return failure();
      if (!item.accesses.empty())
        items.push_back(item);
    }
    // Buffers confined to one loop item are that loop's business.
    llvm::DenseMap<Operation *, SmallVector<int>> itemsOf;
    for (int i = 0, e = items.size(); i < e; ++i)
      for (const Access &a : items[i].accesses)
        if (itemsOf[a.buffer].empty() || itemsOf[a.buffer].back() != i)
          itemsOf[a.buffer].push_back(i);
    auto confined = [&](Operation *buffer) {
      const SmallVector<int> &where = itemsOf[buffer];
      return where.size() == 1 && isa<scf::ForOp>(items[where[0]].op);
    };

    SmallVector<Dependence> deps;
    int n = items.size();
    for (int j = 0; j < n; ++j)
      for (const Access &a : items[j].accesses) {
        if (confined(a.buffer))
          continue;
        // Walk back, around the back edge in a loop body, until a write orders the rest.
        bool stop = false;
        for (int step = 1; step <= (loopBody ? n : j) && !stop; ++step) {
          int i = (j - step + n) % n;
          bool carried = i >= j;
          for (const Access &p : items[i].accesses) {
            if (p.buffer != a.buffer || (!p.write && !a.write))
              continue;
            if (p.pipe != a.pipe)
              deps.push_back({i, j, p.pipe, a.pipe, carried, a.buffer});
            if (p.write)
              stop = true;
          }
        }
      }
    auto limits = archLimitsOf(block.getParentOp());
    for (const SyncPair &pair : merge(deps, items, limits ? limits->eventIds : 8))
      insert(items, pair, block);
    return success();
  }

  /// Merges dependences between the same pipes into one set/wait pair (after the later
  /// source, before the earlier destination) when that delays nothing else: no destination-pipe
  /// item lies between the two sources and no source-pipe item between the two destinations.
  /// (Merging across the two halves of a double buffer would serialize them.) Only when a pipe
  /// pair still needs more event ids than the NPU has are its dependences merged greedily.
  static SmallVector<SyncPair> merge(SmallVector<Dependence> deps, ArrayRef<Item> items,
                                     int64_t eventIds) {
    int n = items.size();
    auto waitAt = [&](const Dependence &d) { return d.carried ? d.to + n : d.to; };
    auto pipeBetween = [&](StringRef pipe, int a, int b) { // strictly between, unrolled positions
      for (int p = std::min(a, b) + 1; p < std::max(a, b); ++p)
        for (const Access &access : items[p % n].accesses)
          if (access.pipe == pipe)
            return true;
      return false;
    };
    llvm::stable_sort(deps, [&](const Dependence &x, const Dependence &y) {
      return std::tie(x.src, x.dst, x.carried) < std::tie(y.src, y.dst, y.carried) ||
             (std::tie(x.src, x.dst, x.carried) == std::tie(y.src, y.dst, y.carried) &&
              waitAt(x) < waitAt(y));
    });
    auto run = [&](bool greedy) {
      SmallVector<SyncPair> pairs;
      for (const Dependence &d : deps) {
        if (!pairs.empty()) {
          SyncPair &last = pairs.back();
          int lastWait = last.carried ? last.wait + n : last.wait;
          int set = std::max(last.set, d.from), wait = std::min(lastWait, waitAt(d));
          bool samePipes = last.src == d.src && last.dst == d.dst && last.carried == d.carried;
          bool free = greedy || (!pipeBetween(d.dst, last.set, d.from) &&
                                 !pipeBetween(d.src, lastWait, waitAt(d)));
          if (samePipes && set < wait && free) {
            last.set = set;
            last.wait = d.carried ? wait - n : wait;
            if (!llvm::is_contained(last.buffers, d.buffer))
              last.buffers.push_back(d.buffer);
            continue;
          }
        }
        pairs.push_back({d.from, d.to, d.src, d.dst, d.carried, {d.buffer}});
      }
      return pairs;
    };
    SmallVector<SyncPair> pairs = run(false);
    std::map<std::pair<StringRef, StringRef>, int64_t> perPipes;
    for (const SyncPair &p : pairs)
      ++perPipes[{p.src, p.dst}];
    for (auto &[key, count] : perPipes)
      if (count > eventIds)
        return run(true);
    return pairs;
  }

  void insert(ArrayRef<Item> items, const SyncPair &pair, Block &block) {
    int64_t id = idsUsed[{pair.src.str(), pair.dst.str()}]++;
    Location loc = items[pair.set].op->getLoc();
    auto make = [&](OpBuilder &b, bool set) {
      auto src = b.getStringAttr(pair.src), dst = b.getStringAttr(pair.dst);
      auto idAttr = b.getI64IntegerAttr(id);
      if (set)
        b.create<SetFlagOp>(loc, src, dst, idAttr);
      else
        b.create<WaitFlagOp>(loc, src, dst, idAttr);
    };
    OpBuilder b(items[pair.set].op->getContext());
    b.setInsertionPointAfter(items[pair.set].op);
    make(b, true);
    b.setInsertionPoint(items[pair.wait].op);
    make(b, false);
    if (pair.carried) { // the first iteration's wait and the last iteration's set
      Operation *loop = outermostReuse(block.getParentOp(), pair.buffers);
      b.setInsertionPoint(loop);
      make(b, true);
      b.setInsertionPointAfter(loop);
      make(b, false);
    }
  }

  /// Where a carried pair's first set and last wait go: around `loop`, or around the loops
  /// enclosing it whose bodies use the pair's buffers nowhere else. The last set of one run of
  /// the inner loop then orders its next run (e.g. the next output tile's first L1 load waits
  /// only for the previous tile's last read of that buffer, not for the whole tile to drain).
  static Operation *outermostReuse(Operation *loop, ArrayRef<Operation *> buffers) {
    for (auto outer = dyn_cast<scf::ForOp>(loop->getParentOp()); outer;
         outer = dyn_cast<scf::ForOp>(loop->getParentOp())) {
      for (Operation &op : *outer.getBody()) {
        if (&op == loop)
          continue;
        SmallVector<Access> accesses;
        (void)collect(&op, accesses); // an untraceable address fails syncBlock of this body
        for (const Access &a : accesses)
          if (llvm::is_contained(buffers, a.buffer))
            return loop;
      }
      loop = outer;
    }
    return loop;
  }
};

} // namespace

LogicalResult insertSync(func::FuncOp kernel) { return SyncInserter().run(kernel); }

} // namespace v4c::npu
