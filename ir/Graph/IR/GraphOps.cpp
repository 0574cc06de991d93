// Verifiers of the graph dialect. Shapes are checked wherever both sides are static; the
// token dimension is dynamic, so checks on it only fire between two static sizes.
#include "ir/Graph/IR/GraphOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace v4c::graph;

namespace {

constexpr int64_t kAny = ShapedType::kDynamic;

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? ", " : "") + (ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d));
  return s + "]";
}

bool dimsMatch(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// `type` must have the given shape; kAny entries (and dynamic dims) match anything.
LogicalResult checkShape(Operation *op, StringRef what, Type shaped, ArrayRef<int64_t> expected) {
  auto type = cast<RankedTensorType>(shaped);
  bool ok = type.getRank() == static_cast<int64_t>(expected.size()) &&
            llvm::all_of(llvm::zip(type.getShape(), expected),
                         [](auto p) { return dimsMatch(std::get<0>(p), std::get<1>(p)); });
  if (ok)
    return success();
  return op->emitOpError() << what << " must have shape " << shapeString(expected) << ", got "
                           << type;
}

LogicalResult checkShape(Operation *op, StringRef what, Value value, ArrayRef<int64_t> expected) {
  return checkShape(op, what, value.getType(), expected);
}

LogicalResult checkRank(Operation *op, StringRef what, Value value, int64_t rank) {
  return checkShape(op, what, value, SmallVector<int64_t>(rank, kAny));
}

ArrayRef<int64_t> shapeOf(Value value) { return cast<RankedTensorType>(value.getType()).getShape(); }
int64_t dim(Value value, int64_t i) {
  auto shape = shapeOf(value);
  return i < 0 ? shape[shape.size() + i] : shape[i];
}

int64_t ceilDiv(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) ? kAny : (a + b - 1) / b;
}

/// Products and quotients of sizes, unknown when either side is.
int64_t mul(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) ? kAny : a * b;
}
int64_t div(int64_t a, int64_t b) { return ShapedType::isDynamic(a) ? kAny : a / b; }

/// Ops that work along the last dim need one.
LogicalResult checkHasLastDim(Operation *op, Value value) {
  if (cast<RankedTensorType>(value.getType()).getRank() >= 1)
    return success();
  return op->emitOpError() << "input must have rank >= 1, got " << value.getType();
}

/// The scale contract of block-scaled weights [..., N, K] (MODEL.md §3.2, §6.6): `batch`
/// leading dims (stacked experts) repeat on the scale.
LogicalResult checkWeightScale(Operation *op, StringRef what, Value weight, Value scale,
                               std::optional<ArrayRef<int64_t>> block) {
  auto wType = cast<RankedTensorType>(weight.getType());
  Type elem = wType.getElementType();
  ArrayRef<int64_t> w = wType.getShape();
  if (w.size() < 2)
    return op->emitOpError() << what << " weight must have rank >= 2, got " << wType;
  SmallVector<int64_t> expected(w.begin(), w.end() - 2);
  int64_t n = w[w.size() - 2], k = w.back();

  if (isa<Float8E4M3FNType>(elem)) {
    SmallVector<int64_t> b = block ? SmallVector<int64_t>(*block) : SmallVector<int64_t>{128, 128};
    if (b.size() != 2 || b[0] <= 0 || b[1] <= 0)
      return op->emitOpError() << what << " block must be two positive sizes";
    if (!scale)
      return op->emitOpError() << what << " weight is f8E4M3FN and needs a block scale";
    expected.append({ceilDiv(n, b[0]), ceilDiv(k, b[1])});
    return checkShape(op, (what + " scale").str(), scale, expected);
  }
  if (block)
    return op->emitOpError() << what << " block is only meaningful for f8E4M3FN weights";
  if (isa<Float4E2M1FNType>(elem)) {
    if (!scale || !isa<Float8E8M0FNUType>(cast<RankedTensorType>(scale.getType()).getElementType()))
      return op->emitOpError() << what
                               << " weight is f4E2M1FN and needs an f8E8M0FNU scale per 32 inputs";
    if (!ShapedType::isDynamic(k) && k % 32 != 0)
      return op->emitOpError() << what << " f4E2M1FN weight needs K divisible by 32, got " << k;
    expected.append({n, ceilDiv(k, 32)});
    return checkShape(op, (what + " scale").str(), scale, expected);
  }
  if (scale)
    return op->emitOpError() << what << " weight of type " << elem << " takes no scale";
  return success();
}

/// Symbol users: the referenced op must exist and be of the expected kind.
template <typename DeclOp>
FailureOr<DeclOp> lookupDecl(Operation *op, SymbolTableCollection &symbols, FlatSymbolRefAttr ref,
                             StringRef kind) {
  auto decl = symbols.lookupNearestSymbolFrom<DeclOp>(op, ref);
  if (!decl)
    return op->emitOpError() << "references " << ref << ", which is not a declared " << kind;
  return decl;
}

FailureOr<StateOp> lookupState(Operation *op, SymbolTableCollection &symbols, FlatSymbolRefAttr ref,
                               StateKind kind) {
  auto state = lookupDecl<StateOp>(op, symbols, ref, "graph.state");
  if (failed(state))
    return failure();
  if (state->getKind() != kind)
    return op->emitOpError() << "state " << ref << " is '" << stringifyStateKind(state->getKind())
                             << "', expected '" << stringifyStateKind(kind) << "'";
  return state;
}

} // namespace

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  auto type = cast<RankedTensorType>(getType());
  if (!type.hasStaticShape())
    return emitOpError() << "parameter type must be static, got " << type;
  // A "{}" in the source stands for the expert index of a stacked [E, ...] parameter.
  if (getSource() && getSource()->contains("{}") && type.getRank() < 3)
    return emitOpError() << "a stacked source pattern needs a stacked (rank >= 3) type, got "
                         << type;
  return success();
}

LogicalResult StateOp::verify() {
  auto type = cast<RankedTensorType>(getType());
  // window [W, D] and compressor_pending [2, rows, width] are fixed; compressed_kv [?, D]
  // grows with the context.
  switch (getKind()) {
  case StateKind::window:
    if (type.getRank() == 2 && type.hasStaticShape())
      return success();
    break;
  case StateKind::compressed_kv:
    if (type.getRank() == 2 && !ShapedType::isDynamic(type.getDimSize(1)))
      return success();
    break;
  case StateKind::compressor_pending:
    if (type.getRank() == 3 && type.hasStaticShape() && type.getDimSize(0) == 2)
      return success();
    break;
  }
  return emitOpError() << "'" << stringifyStateKind(getKind())
                       << "' state needs window: tensor<WxD>, compressed_kv: tensor<?xD>, "
                          "compressor_pending: tensor<2xRxC>; got "
                       << type;
}

LogicalResult WeightOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto param = lookupDecl<ParamOp>(*this, symbols, getParamAttr(), "graph.param");
  if (failed(param))
    return failure();
  if (param->getType() != getType())
    return emitOpError() << "result type " << getType() << " does not match parameter "
                         << getParamAttr() << " of type " << param->getType();
  return success();
}

LogicalResult PositionsOp::verify() {
  if (failed(checkRank(*this, "tokens", getTokens(), 1)))
    return failure();
  return checkShape(*this, "result", getResult(), {dim(getTokens(), 0)});
}

//===----------------------------------------------------------------------===//
// Embedding, norms, rope
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  if (failed(checkRank(*this, "table", getTable(), 2)) ||
      failed(checkRank(*this, "tokens", getTokens(), 1)))
    return failure();
  return checkShape(*this, "result", getResult(), {dim(getTokens(), 0), dim(getTable(), 1)});
}

LogicalResult RmsNormOp::verify() {
  if (failed(checkHasLastDim(*this, getInput())))
    return failure();
  if (getInput().getType() != getResult().getType())
    return emitOpError() << "result type must equal the input type";
  if (!(getEps().convertToDouble() > 0))
    return emitOpError() << "eps must be positive";
  if (getWeight() && failed(checkShape(*this, "weight", getWeight(), {dim(getInput(), -1)})))
    return failure();
  return success();
}

LogicalResult RopeOp::verify() {
  if (getInput().getType() != getResult().getType())
    return emitOpError() << "result type must equal the input type";
  // [tokens, ..., channels]: rows share a position, so a token dim and a channel dim.
  if (shapeOf(getInput()).size() < 2)
    return emitOpError() << "input must have rank >= 2 ([tokens, ..., channels]), got "
                         << getInput().getType();
  int64_t last = dim(getInput(), -1);
  if (!ShapedType::isDynamic(last) && getRope().getDim() > last)
    return emitOpError() << "rope dim " << getRope().getDim() << " exceeds the last dim " << last;
  return checkShape(*this, "positions", getPositions(), {dim(getInput(), 0)});
}

//===----------------------------------------------------------------------===//
// mHC
//===----------------------------------------------------------------------===//

namespace {
/// Shared by hc_pre and hc_head: streams [T, n, D], fn [mixes, n·D], base [mixes], scale [k].
LogicalResult checkHcParams(Operation *op, Value streams, Value fn, Value base, Value scale,
                            int64_t mixes, int64_t scales) {
  if (failed(checkRank(op, "streams", streams, 3)))
    return failure();
  int64_t n = dim(streams, 1), d = dim(streams, 2);
  if (failed(checkShape(op, "fn", fn, {mixes, mul(n, d)})) ||
      failed(checkShape(op, "base", base, {mixes})) ||
      failed(checkShape(op, "scale", scale, {scales})))
    return failure();
  return success();
}

int64_t mixCount(int64_t n) { return ShapedType::isDynamic(n) ? kAny : (2 + n) * n; }

LogicalResult checkEpsilons(Operation *op, APFloat hcEps, APFloat normEps) {
  if (!(normEps.convertToDouble() > 0) || hcEps.convertToDouble() < 0)
    return op->emitOpError() << "norm_eps must be positive and hc_eps non-negative";
  return success();
}
} // namespace

LogicalResult HcExpandOp::verify() {
  if (failed(checkRank(*this, "input", getInput(), 2)) ||
      failed(checkRank(*this, "result", getResult(), 3)))
    return failure();
  return checkShape(*this, "result", getResult(),
                    {dim(getInput(), 0), kAny, dim(getInput(), 1)});
}

LogicalResult HcPreOp::verify() {
  if (failed(checkRank(*this, "streams", getStreams(), 3)))
    return failure();
  int64_t t = dim(getStreams(), 0), n = dim(getStreams(), 1), d = dim(getStreams(), 2);
  if (failed(checkHcParams(*this, getStreams(), getFn(), getBase(), getScale(), mixCount(n), 3)))
    return failure();
  if (getSinkhornIters() < 1)
    return emitOpError() << "sinkhorn_iters must be >= 1";
  if (failed(checkEpsilons(*this, getHcEps(), getNormEps())))
    return failure();
  if (failed(checkShape(*this, "y", getY(), {t, d})) ||
      failed(checkShape(*this, "post", getPost(), {t, n})) ||
      failed(checkShape(*this, "comb", getComb(), {t, n, n})))
    return failure();
  return success();
}

LogicalResult HcPostOp::verify() {
  if (failed(checkRank(*this, "streams", getStreams(), 3)))
    return failure();
  int64_t t = dim(getStreams(), 0), n = dim(getStreams(), 1), d = dim(getStreams(), 2);
  if (failed(checkShape(*this, "sublayer_out", getSublayerOut(), {t, d})) ||
      failed(checkShape(*this, "post", getPost(), {t, n})) ||
      failed(checkShape(*this, "comb", getComb(), {t, n, n})) ||
      failed(checkShape(*this, "result", getResult(), {t, n, d})))
    return failure();
  return success();
}

LogicalResult HcHeadOp::verify() {
  if (failed(checkRank(*this, "streams", getStreams(), 3)))
    return failure();
  int64_t n = dim(getStreams(), 1);
  if (failed(checkHcParams(*this, getStreams(), getFn(), getBase(), getScale(), n, 1)) ||
      failed(checkEpsilons(*this, getHcEps(), getNormEps())))
    return failure();
  return checkShape(*this, "result", getResult(), {dim(getStreams(), 0), dim(getStreams(), 2)});
}

//===----------------------------------------------------------------------===//
// Linear layers, QAT
//===----------------------------------------------------------------------===//

/// x [..., K] times weight [N, K]ᵀ is [..., N]: `x` has a last dim of the weight's K, and
/// `result` that shape.
static LogicalResult checkProductShapes(Operation *op, StringRef xName, StringRef weightName, Value x,
                                        Value weight, Value result) {
  auto in = shapeOf(x);
  if (in.empty())
    return op->emitOpError() << xName << " must have rank >= 1";
  if (!dimsMatch(in.back(), dim(weight, 1)))
    return op->emitOpError() << xName << " has " << in.back() << " features but " << weightName
                             << " expects " << dim(weight, 1);
  SmallVector<int64_t> out(in.begin(), in.end() - 1);
  out.push_back(dim(weight, 0));
  return checkShape(op, "result", result, out);
}

LogicalResult LinearOp::verify() {
  if (failed(checkRank(*this, "weight", getWeight(), 2)) ||
      failed(checkWeightScale(*this, "linear", getWeight(), getScale(), getBlock())))
    return failure();
  return checkProductShapes(*this, "input", "the weight", getInput(), getWeight(), getResult());
}

LogicalResult GroupedLinearOp::verify() {
  if (failed(checkRank(*this, "weight", getWeight(), 2)) ||
      failed(checkRank(*this, "input", getInput(), 2)) ||
      failed(checkWeightScale(*this, "grouped_linear", getWeight(), getScale(), getBlock())))
    return failure();
  int64_t g = getGroups(), rows = dim(getWeight(), 0), k = dim(getWeight(), 1);
  if (g < 1 || (!ShapedType::isDynamic(rows) && rows % g != 0))
    return emitOpError() << "weight rows " << rows << " must split into " << g << " groups";
  if (!dimsMatch(dim(getInput(), 1), mul(g, k)))
    return emitOpError() << "input width " << dim(getInput(), 1) << " must be groups x " << k
                         << " = " << g * k;
  return checkShape(*this, "result", getResult(), {dim(getInput(), 0), rows});
}

LogicalResult QuantizeOp::verify() {
  if (failed(checkHasLastDim(*this, getInput())))
    return failure();
  int64_t block = getBlock();
  if (block < 1)
    return emitOpError() << "block must be positive, got " << block;
  auto in = shapeOf(getInput());
  if (failed(checkShape(*this, "codes", getCodes(), in)))
    return failure();
  SmallVector<int64_t> scales(in.begin(), in.end() - 1);
  scales.push_back(ceilDiv(in.back(), block));
  return checkShape(*this, "scales", getScales(), scales);
}

LogicalResult BlockScaledMatmulOp::verify() {
  if (failed(checkRank(*this, "rhs", getRhs(), 2)) ||
      failed(checkWeightScale(*this, "block_scaled_matmul", getRhs(), getRhsScale(), getBlock())))
    return failure();
  if (getLhsBlock() < 1)
    return emitOpError() << "lhs_block must be positive, got " << getLhsBlock();
  if (failed(checkProductShapes(*this, "lhs", "rhs", getLhs(), getRhs(), getResult())))
    return failure();
  auto in = shapeOf(getLhs());
  SmallVector<int64_t> scales(in.begin(), in.end() - 1);
  scales.push_back(ceilDiv(in.back(), getLhsBlock()));
  return checkShape(*this, "lhs_scale", getLhsScale(), scales);
}

LogicalResult QatOp::verify() {
  if (failed(checkHasLastDim(*this, getInput())))
    return failure();
  if (getInput().getType() != getResult().getType())
    return emitOpError() << "result type must equal the input type";
  Type format = getFormat();
  if (!isa<Float8E4M3FNType, Float4E2M1FNType>(format))
    return emitOpError() << "format must be f8E4M3FN or f4E2M1FN, got " << format;
  int64_t last = dim(getInput(), -1), group = getGroupSize(), dims = getDims();
  if (group < 1 || dims < 1 || dims % group != 0)
    return emitOpError() << "dims (" << dims << ") must be a positive multiple of group_size ("
                         << group << ")";
  if (!ShapedType::isDynamic(last) && dims > last)
    return emitOpError() << "dims " << dims << " exceed the last dim " << last;
  return success();
}

LogicalResult HadamardOp::verify() {
  if (failed(checkHasLastDim(*this, getInput())))
    return failure();
  if (getInput().getType() != getResult().getType())
    return emitOpError() << "result type must equal the input type";
  int64_t last = dim(getInput(), -1);
  if (ShapedType::isDynamic(last) || !llvm::isPowerOf2_64(last))
    return emitOpError() << "last dim must be a static power of two, got " << getInput().getType();
  return success();
}

LogicalResult SwigluOp::verify() {
  if (getGate().getType() != getUp().getType() || getGate().getType() != getResult().getType())
    return emitOpError() << "gate, up and result must have the same type";
  if (getLimit().convertToDouble() < 0)
    return emitOpError() << "limit must be >= 0 (0 disables the clamp)";
  return success();
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

LogicalResult CompressorOp::verify() {
  if (failed(checkRank(*this, "input", getInput(), 2)) ||
      failed(checkRank(*this, "wkv", getWkv(), 2)))
    return failure();
  int64_t t = dim(getInput(), 0), d = dim(getInput(), 1), width = dim(getWkv(), 0);
  int64_t ratio = getRatio(), copies = getOverlap() ? 2 : 1;
  if (ratio < 2)
    return emitOpError() << "ratio must be >= 2, got " << ratio;
  if (!ShapedType::isDynamic(width) && width % copies != 0)
    return emitOpError() << "overlapping compressor needs an even wkv width, got " << width;
  if (failed(checkShape(*this, "positions", getPositions(), {t})) ||
      failed(checkShape(*this, "wkv", getWkv(), {width, d})) ||
      failed(checkShape(*this, "wgate", getWgate(), {width, d})) ||
      failed(checkShape(*this, "ape", getApe(), {ratio, width})) ||
      failed(checkShape(*this, "entries", getEntries(), {kAny, div(width, copies)})) ||
      failed(checkShape(*this, "entry_positions", getEntryPositions(), {dim(getEntries(), 0)})))
    return failure();
  return success();
}

LogicalResult CompressorOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto state = lookupState(*this, symbols, getPendingAttr(), StateKind::compressor_pending);
  if (failed(state))
    return failure();
  // Pending rows: kv and score of up to (1 + overlap) blocks, each `width` wide.
  int64_t width = dim(getWkv(), 0), rows = (getOverlap() ? 2 : 1) * getRatio();
  if (failed(checkShape(*this, ("pending state @" + getPending()).str(), state->getType(),
                        {2, rows, width})))
    return failure();
  return success();
}

LogicalResult KvAppendOp::verify() {
  if (failed(checkRank(*this, "entries", getEntries(), 2)))
    return failure();
  return checkShape(*this, "result", getResult(), {kAny, dim(getEntries(), 1)});
}

LogicalResult KvAppendOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto state = lookupState(*this, symbols, getCacheAttr(), StateKind::compressed_kv);
  if (failed(state))
    return failure();
  auto type = cast<RankedTensorType>(state->getType());
  if (type.getRank() != 2 || !dimsMatch(type.getDimSize(1), dim(getEntries(), 1)))
    return emitOpError() << "cache " << getCacheAttr() << " of type " << type
                         << " does not hold entries of " << getEntries().getType();
  return success();
}

LogicalResult IndexTopkOp::verify() {
  if (failed(checkRank(*this, "queries", getQueries(), 3)))
    return failure();
  int64_t t = dim(getQueries(), 0), heads = dim(getQueries(), 1), width = dim(getQueries(), 2);
  if (getTopk() < 1 || getRatio() < 1 || !(getScale().convertToDouble() > 0))
    return emitOpError() << "topk, ratio and scale must be positive";
  if (failed(checkShape(*this, "weights", getWeights(), {t, heads})) ||
      failed(checkShape(*this, "keys", getKeys(), {kAny, width})) ||
      failed(checkShape(*this, "positions", getPositions(), {t})) ||
      failed(checkShape(*this, "result", getResult(), {t, int64_t(getTopk())})))
    return failure();
  return success();
}

LogicalResult SparseAttentionOp::verify() {
  if (failed(checkRank(*this, "queries", getQueries(), 3)))
    return failure();
  int64_t t = dim(getQueries(), 0), heads = dim(getQueries(), 1), d = dim(getQueries(), 2);
  if (getWindow() < 1)
    return emitOpError() << "window must be >= 1";
  if (failed(checkShape(*this, "kv", getKv(), {t, d})) ||
      failed(checkShape(*this, "positions", getPositions(), {t})) ||
      failed(checkShape(*this, "sink", getSink(), {heads})) ||
      failed(checkShape(*this, "result", getResult(), {t, heads, d})))
    return failure();
  if (getCompressed()) {
    if (getRatio() < 2)
      return emitOpError() << "compressed candidates need ratio >= 2, got " << getRatio();
    if (failed(checkShape(*this, "compressed", getCompressed(), {kAny, d})))
      return failure();
  } else if (getRatio() != 0 || getIndices()) {
    return emitOpError() << "ratio " << getRatio()
                         << (getIndices() ? " with indices" : "") << " needs compressed entries";
  }
  if (getIndices() && failed(checkShape(*this, "indices", getIndices(), {t, kAny})))
    return failure();
  return success();
}

LogicalResult SparseAttentionOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto state = lookupState(*this, symbols, getWindowStateAttr(), StateKind::window);
  if (failed(state))
    return failure();
  return checkShape(*this, ("window state @" + getWindowState()).str(), state->getType(),
                    {int64_t(getWindow()), dim(getQueries(), 2)});
}

//===----------------------------------------------------------------------===//
// MoE
//===----------------------------------------------------------------------===//

LogicalResult MoeGateOp::verify() {
  if (failed(checkRank(*this, "input", getInput(), 2)) ||
      failed(checkRank(*this, "gate", getGate(), 2)))
    return failure();
  int64_t t = dim(getInput(), 0), experts = dim(getGate(), 0), k = getTopk();
  if (failed(checkShape(*this, "gate", getGate(), {experts, dim(getInput(), 1)})))
    return failure();
  if (k < 1)
    return emitOpError() << "topk must be >= 1, got " << k;
  if (!ShapedType::isDynamic(experts) && k > experts)
    return emitOpError() << "topk " << k << " exceeds the " << experts << " experts";
  bool hash = static_cast<bool>(getTid2eid());
  if (hash != static_cast<bool>(getTokens()))
    return emitOpError() << "hash routing needs both tid2eid and tokens";
  if (hash && getBias())
    return emitOpError() << "hash routing takes no bias";
  if (getBias() && failed(checkShape(*this, "bias", getBias(), {experts})))
    return failure();
  if (hash && (failed(checkShape(*this, "tid2eid", getTid2eid(), {kAny, k})) ||
               failed(checkShape(*this, "tokens", getTokens(), {t}))))
    return failure();
  if (failed(checkShape(*this, "weights", getWeights(), {t, k})) ||
      failed(checkShape(*this, "experts", getExperts(), {t, k})))
    return failure();
  return success();
}

LogicalResult MoeExpertsOp::verify() {
  if (failed(checkRank(*this, "input", getInput(), 2)) ||
      failed(checkRank(*this, "w1", getW1(), 3)))
    return failure();
  int64_t t = dim(getInput(), 0), d = dim(getInput(), 1);
  int64_t e = dim(getW1(), 0), inter = dim(getW1(), 1);
  if (failed(checkShape(*this, "w1", getW1(), {e, inter, d})) ||
      failed(checkShape(*this, "w3", getW3(), {e, inter, d})) ||
      failed(checkShape(*this, "w2", getW2(), {e, d, inter})) ||
      failed(checkWeightScale(*this, "w1", getW1(), getW1Scale(), getBlock())) ||
      failed(checkWeightScale(*this, "w3", getW3(), getW3Scale(), getBlock())) ||
      failed(checkWeightScale(*this, "w2", getW2(), getW2Scale(), getBlock())) ||
      failed(checkRank(*this, "weights", getWeights(), 2)) ||
      failed(checkShape(*this, "weights", getWeights(), {t, kAny})) ||
      failed(checkShape(*this, "experts", getExperts(), {t, dim(getWeights(), 1)})) ||
      failed(checkShape(*this, "result", getResult(), {t, d})))
    return failure();
  if (getSwigluLimit().convertToDouble() < 0)
    return emitOpError() << "swiglu_limit must be >= 0";
  auto elem = [](Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); };
  if (elem(getW1()) != elem(getW3()) || elem(getW1()) != elem(getW2()))
    return emitOpError() << "w1, w3 and w2 must share one element type";
  return success();
}

#define GET_OP_CLASSES
#include "ir/Graph/IR/GraphOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

LogicalResult FusedOp::verify() {
  if (getBody().empty() || getBody().front().empty())
    return emitOpError() << "body must end with graph.yield";
  Block &body = getBody().front();
  if (getKind().empty())
    return emitOpError() << "kind must not be empty";
  if (body.getNumArguments() != getInputs().size() ||
      !llvm::equal(body.getArgumentTypes(), getInputs().getTypes()))
    return emitOpError() << "body arguments must match the inputs (" << getInputs().size()
                         << " values)";
  auto yield = dyn_cast<YieldOp>(body.back());
  if (!yield)
    return emitOpError() << "body must end with graph.yield";
  if (!llvm::equal(yield.getValues().getTypes(), getResultTypes()))
    return emitOpError() << "graph.yield must return the op's result types";
  return success();
}

