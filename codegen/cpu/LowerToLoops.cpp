// Each graph op becomes loops that follow the reference's equations and arithmetic order
// (runtime/reference), so that the compiled model can be compared with it closely. GEMMs call
// the block-scaled microkernel `v4c_gemm` (runtime/kernels/Gemm.h).
#include "codegen/cpu/LowerToLoops.h"

#include "mlir/IR/IRMapping.h"

#include "codegen/cpu/LoopEmitter.h"
#include "ir/Graph/IR/GraphOps.h"
#include "ir/Npu/IR/NpuOps.h"
#include "runtime/npu/Launch.h"
#include "runtime/reference/Kernels.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace v4c::cpu {
namespace {

using Pred = arith::CmpIPredicate;
using FPred = arith::CmpFPredicate;

/// Format codes of runtime/kernels/Gemm.h.
enum WeightFormat : int32_t { kF32 = 0, kBF16 = 1, kFP8 = 2, kFP4 = 3 };
enum ScaleFormat : int32_t { kNoScale = 0, kE8M0 = 1, kScaleF32 = 2 };

/// Where a GEMM's weight (and scale) bytes are, and how they are encoded.
struct WeightRef {
  Value ptr, scalePtr;     // index-typed addresses
  int32_t format = kF32, scaleFormat = kNoScale;
  int64_t rows = 0, cols = 0; // of one matrix [N, K]
  int64_t bytesPerMatrix = 0, scaleBytesPerMatrix = 0; // stride between stacked experts
};

class Lowering {
public:
  explicit Lowering(ModuleOp module) : module(module) {}

  LogicalResult run() {
    inlineFusedGroups();
    for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (!func.isDeclaration() && failed(rewriteEntry(func)))
        return failure();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<graph::GraphDialect>(op->getDialect()) &&
          !isa<graph::ParamOp, graph::StateOp, graph::WeightOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (inRowChain.count(op) || inGemmPrologue.count(op))
        continue; // lowered with the chain's last op, or by the GEMMs reading it
      auto chain = rowChains.find(op);
      if (failed(chain != rowChains.end() ? lowerRowChain(chain->second) : lower(op)))
        return failure();
    }
    for (Operation *op : inGemmPrologue)
      op->erase(); // its GEMMs, lowered, no longer use it
    // Weights read by GEMMs were consumed by address; drop the readers and declarations.
    for (auto func : module.getOps<func::FuncOp>())
      func.walk([](graph::WeightOp op) {
        if (op->use_empty())
          op->erase();
      });
    for (Operation &op : llvm::make_early_inc_range(module.getBody()->getOperations()))
      if (isa<graph::ParamOp, graph::StateOp>(op))
        op.erase();
    return success();
  }

private:
  //===--------------------------------------------------------------------===//
  // Fusion groups
  //===--------------------------------------------------------------------===//

  /// graph.fused ops (v4c-apply-fusion) are lowered in place of the group, after the group's
  /// own rewrite: activation quantization feeding a GEMM in the same group becomes the GEMM
  /// microkernel's prologue (it quantizes x as it reads it), so the codes are never stored; so
  /// does an RMS norm or a SwiGLU read only by the group's linears (each computes x from the
  /// op's inputs as it prepares it: no buffer for it at all); a norm → rope [→ qat] chain becomes one loop nest
  /// doing all three on each row while it is in L1, in one buffer. The other ops of a group are
  /// emitted one after the other.
  void inlineFusedGroups() {
    SmallVector<graph::FusedOp> fused;
    module.walk([&](graph::FusedOp op) { fused.push_back(op); });
    for (graph::FusedOp op : fused) {
      Block &body = op.getBody().front();
      for (auto matmul : llvm::make_early_inc_range(body.getOps<graph::BlockScaledMatmulOp>()))
        quantizeInPrologue(matmul);
      OpBuilder b(op);
      IRMapping map;
      map.map(body.getArguments(), op.getInputs());
      SmallVector<Operation *> kernels;
      for (Operation &inner : body.without_terminator()) {
        Operation *copy = b.clone(inner, map);
        // Ops the NPU computes (npu.launch) are device kernels: no CPU fusion takes them in.
        if (!isa<graph::WeightOp>(copy) && !copy->hasTrait<OpTrait::ConstantLike>() &&
            !copy->hasAttr(npu::kLaunchAttr))
          kernels.push_back(copy);
      }
      auto yield = cast<graph::YieldOp>(body.getTerminator());
      op->replaceAllUsesWith(llvm::map_to_vector(yield.getValues(), [&](Value v) { return map.lookup(v); }));
      op->erase();
      // After the group's results have their users: the use checks see them.
      recordRowChain(kernels);
      recordGemmPrologues(kernels);
    }
  }

  /// Linears whose x is made by an rms_norm or swiglu of the same group that only linears read.
  llvm::DenseMap<Operation *, Operation *> gemmPrologue; // linear → its x's producer
  llvm::SetVector<Operation *> inGemmPrologue;

  void recordGemmPrologues(ArrayRef<Operation *> kernels) {
    for (Operation *op : kernels) {
      if (!isa<graph::RmsNormOp, graph::SwigluOp>(op) || op->use_empty() || inRowChain.count(op))
        continue; // (a chain is keyed by its rope or qat, never by these)
      bool onlyLinears = llvm::all_of(op->getUsers(), [&](Operation *user) {
        return isa<graph::LinearOp>(user) && llvm::is_contained(kernels, user);
      });
      if (!onlyLinears)
        continue;
      for (Operation *user : op->getUsers())
        gemmPrologue[user] = op;
      inGemmPrologue.insert(op);
    }
  }

  /// A group's ops rms_norm → rope [→ qat], each reading only the previous one's result.
  struct RowChain {
    graph::RmsNormOp norm;
    graph::RopeOp rope;
    graph::QatOp qat; // may be null
  };
  llvm::DenseMap<Operation *, RowChain> rowChains; // by the chain's last op
  llvm::SmallPtrSet<Operation *, 32> inRowChain;   // its other ops

  void recordRowChain(ArrayRef<Operation *> kernels) {
    if (kernels.size() < 2 || kernels.size() > 3)
      return;
    auto norm = dyn_cast<graph::RmsNormOp>(kernels[0]);
    auto rope = dyn_cast<graph::RopeOp>(kernels[1]);
    auto qat = kernels.size() == 3 ? dyn_cast<graph::QatOp>(kernels[2]) : graph::QatOp();
    if (!norm || !rope || (kernels.size() == 3 && !qat) || rope.getInput() != norm.getResult() ||
        !norm->hasOneUse() || (qat && (qat.getInput() != rope.getResult() || !rope->hasOneUse())))
      return;
    rowChains[kernels.back()] = {norm, rope, qat};
    inRowChain.insert(kernels.begin(), kernels.end() - 1);
  }

  /// Norm, rotation and QAT round trip of each row in turn, in one buffer (the same row
  /// functions as the separate lowerings, in the same order: the same values).
  LogicalResult lowerRowChain(RowChain chain) {
    Operation *last = chain.qat ? chain.qat.getOperation() : chain.rope.getOperation();
    if (chain.qat && failed(checkDecision(chain.qat)))
      return failure();
    OpBuilder b(last);
    LoopEmitter e(b, last->getLoc());
    Value in = e.buffer(chain.norm.getInput());
    Value weight = chain.norm.getWeight() ? e.buffer(chain.norm.getWeight()) : Value();
    Value positions = e.buffer(chain.rope.getPositions());
    Value freqs = invFreqTable(e, chain.rope.getRope());
    Value out = e.allocLike(in, b.getF32Type());
    int64_t width = cast<RankedTensorType>(chain.rope.getType()).getShape().back();
    bool roundTrip = chain.qat && quantizesActivations(chain.qat);
    forEachRow(e, in, [&](SmallVector<Value> row) {
      rmsNormRow(e, in, out, row, width, weight, chain.norm.getEps().convertToDouble());
      rotateRow(e, out, row, width, e.loadRaw(positions, row[0]), freqs,
                chain.rope.getRope().getDim(), chain.rope.getInverse());
      if (roundTrip)
        qatRow(e, out, row, chain.qat.getDims(), chain.qat.getGroupSize(),
               isa<Float4E2M1FNType>(chain.qat.getFormat()));
    });
    last->replaceAllUsesWith(ValueRange{e.tensor(out)});
    last->erase();
    if (chain.qat)
      chain.rope.erase();
    chain.norm.erase();
    return success();
  }

  /// block_scaled_matmul(quantize(x)) → linear(x) that quantizes per 128 in the microkernel.
  static void quantizeInPrologue(graph::BlockScaledMatmulOp matmul) {
    auto quantize = matmul.getLhs().getDefiningOp<graph::QuantizeOp>();
    if (!quantize || quantize.getBlock() != 128 || matmul.getLhsBlock() != 128)
      return;
    // The activations are what the quantize op makes; the GEMM kind is the decision's.
    auto decided = matmul->getAttrOfType<graph::PrecisionAttr>(graph::PrecisionAttr::kName);
    auto precision = graph::PrecisionAttr::get(
        matmul.getContext(), matmul.getRhs().getType().getElementType(),
        quantize.getCodes().getType().getElementType(), 128,
        decided ? decided.getGemm() : graph::GemmKind::emulated);
    OpBuilder b(matmul);
    auto linear = b.create<graph::LinearOp>(matmul.getLoc(), matmul.getType(), quantize.getInput(),
                                            matmul.getRhs(), matmul.getRhsScale(), matmul.getBlockAttr());
    linear->setAttr(graph::PrecisionAttr::kName, precision);
    matmul.replaceAllUsesWith(linear.getResult());
    matmul.erase();
    if (quantize->use_empty())
      quantize.erase();
  }

  //===--------------------------------------------------------------------===//
  // Runtime ABI
  //===--------------------------------------------------------------------===//

  /// func(tensors..., index...) -> (tensors...) becomes
  /// func(memrefs..., index..., weights: memref<?xi8>, state: memref<?xi8>, outs: memrefs...)
  /// with a C interface; results are written into the output buffers.
  LogicalResult rewriteEntry(func::FuncOp func) {
    MLIRContext *ctx = func.getContext();
    Block &entry = func.front();
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    Location loc = func.getLoc();
    auto arena = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());

    for (unsigned i = 0, e = entry.getNumArguments(); i < e; ++i) {
      BlockArgument old = entry.getArgument(i);
      auto tensorType = dyn_cast<RankedTensorType>(old.getType());
      if (!tensorType)
        continue;
      auto memrefType = MemRefType::get(tensorType.getShape(), tensorType.getElementType());
      BlockArgument arg = entry.insertArgument(i + 1, memrefType, loc);
      Value asTensor = b.create<bufferization::ToTensorOp>(loc, tensorType, arg, true, false);
      old.replaceAllUsesWith(asTensor);
      entry.eraseArgument(i);
    }
    Arenas &arenas = arenasOf[func];
    arenas.weights = entry.addArgument(arena, loc);
    arenas.state = entry.addArgument(arena, loc);

    auto ret = cast<func::ReturnOp>(entry.getTerminator());
    b.setInsertionPoint(ret);
    for (Value result : ret.getOperands()) {
      auto tensorType = cast<RankedTensorType>(result.getType());
      Value out = entry.addArgument(
          MemRefType::get(tensorType.getShape(), tensorType.getElementType()), loc);
      b.create<bufferization::MaterializeInDestinationOp>(loc, TypeRange{}, result, out, true,
                                                          true);
    }
    b.create<func::ReturnOp>(loc);
    ret.erase();
    func.setType(FunctionType::get(ctx, entry.getArgumentTypes(), {}));
    func->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));

    // Plain-typed weights become views of the weight arena; FP8/FP4 ones are only ever read
    // by the GEMM microkernel, by address (see weightRef).
    func.walk([&](graph::WeightOp op) {
      auto type = cast<RankedTensorType>(op.getType());
      if (isa<Float8E4M3FNType, Float4E2M1FNType, Float8E8M0FNUType>(type.getElementType()))
        return;
      OpBuilder vb(op);
      Value view = viewOf(vb, op.getLoc(), arenas.weights, param(op).getOffset(),
                          MemRefType::get(type.getShape(), type.getElementType()), {});
      Value t = vb.create<bufferization::ToTensorOp>(op.getLoc(), type, view, true, false);
      op.replaceAllUsesWith(t);
      op.erase();
    });
    return success();
  }

  struct ParamInfo {
    int64_t offset;
    RankedTensorType type;
    int64_t getOffset() const { return offset; }
  };
  ParamInfo param(graph::WeightOp op) {
    auto decl = module.lookupSymbol<graph::ParamOp>(op.getParamAttr());
    return {decl->getAttrOfType<IntegerAttr>("v4c.offset").getInt(),
            cast<RankedTensorType>(decl.getType())};
  }

  static Value viewOf(OpBuilder &b, Location loc, Value arena, int64_t offset, MemRefType type,
                      ValueRange dynamicSizes) {
    Value shift = b.create<arith::ConstantIndexOp>(loc, offset);
    return b.create<memref::ViewOp>(loc, type, arena, shift, dynamicSizes);
  }

  /// A view of a graph.state buffer; `rows` sizes a dynamic leading dim.
  Value stateView(LoopEmitter &e, Operation *user, FlatSymbolRefAttr symbol, Value rows = {}) {
    auto decl = module.lookupSymbol<graph::StateOp>(symbol);
    auto type = cast<RankedTensorType>(decl.getType());
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    SmallVector<Value> dynamic;
    if (rows)
      dynamic.push_back(rows);
    return viewOf(e.builder(), e.location(), arenasOf[user->getParentOfType<func::FuncOp>()].state,
                  decl->getAttrOfType<IntegerAttr>("v4c.offset").getInt(), memrefType, dynamic);
  }

  //===--------------------------------------------------------------------===//
  // GEMM microkernel calls
  //===--------------------------------------------------------------------===//

  Value address(LoopEmitter &e, Value memref) {
    return e.builder().create<memref::ExtractAlignedPointerAsIndexOp>(e.location(), memref);
  }
  /// An index-typed address as the !llvm.ptr the microkernels take.
  static Value pointer(LoopEmitter &e, Value address) {
    OpBuilder &b = e.builder();
    Value i = b.create<arith::IndexCastOp>(e.location(), b.getI64Type(), address);
    return b.create<LLVM::IntToPtrOp>(e.location(), LLVM::LLVMPointerType::get(b.getContext()), i);
  }

  WeightRef weightRef(LoopEmitter &e, Value weight, Value scale, Operation *user) {
    WeightRef ref;
    auto type = cast<RankedTensorType>(weight.getType());
    ArrayRef<int64_t> shape = type.getShape();
    ref.rows = shape[shape.size() - 2];
    ref.cols = shape.back();
    Type elem = type.getElementType();
    ref.format = isa<Float4E2M1FNType>(elem)   ? kFP4
                 : isa<Float8E4M3FNType>(elem) ? kFP8
                 : elem.isBF16()               ? kBF16
                                               : kF32;
    ref.bytesPerMatrix = (ref.rows * ref.cols * elem.getIntOrFloatBitWidth() + 7) / 8;
    ref.ptr = pointerOf(e, weight, user);
    if (scale) {
      auto scaleType = cast<RankedTensorType>(scale.getType());
      ref.scaleFormat = isa<Float8E8M0FNUType>(scaleType.getElementType()) ? kE8M0 : kScaleF32;
      ArrayRef<int64_t> s = scaleType.getShape();
      ref.scaleBytesPerMatrix =
          s[s.size() - 2] * s.back() * (ref.scaleFormat == kE8M0 ? 1 : 4);
      ref.scalePtr = pointerOf(e, scale, user);
    } else {
      ref.scalePtr = e.index(0);
    }
    return ref;
  }

  /// Address of a weight: FP8/FP4 params straight from the arena, others via their buffer.
  Value pointerOf(LoopEmitter &e, Value tensor, Operation *user) {
    if (auto weight = tensor.getDefiningOp<graph::WeightOp>()) {
      Value base = address(e, arenasOf[user->getParentOfType<func::FuncOp>()].weights);
      return e.addi(base, e.index(param(weight).getOffset()));
    }
    return address(e, e.buffer(tensor));
  }

  /// What a GEMM computes its x from (v4c_gemm_rms_norm, v4c_gemm_swiglu): the call's
  /// arguments between k and the weights.
  struct Prologue {
    const char *entry;
    SmallVector<Value> args; // i64/ptr/f32/f64 values
  };

  func::FuncOp gemmDecl(StringRef name, TypeRange prologueTypes) {
    if (auto f = module.lookupSymbol<func::FuncOp>(name))
      return f;
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    MLIRContext *ctx = module.getContext();
    Type ptr = LLVM::LLVMPointerType::get(ctx), i64 = b.getI64Type(), i32 = b.getI32Type();
    SmallVector<Type> inputs{ptr, i64, i64};
    inputs.append(prologueTypes.begin(), prologueTypes.end());
    inputs.append({ptr, i32, ptr, i32, i64, i64, i64, i32, ptr, i64});
    auto f = b.create<func::FuncOp>(module.getLoc(), name, b.getFunctionType(inputs, {}));
    f.setPrivate();
    return f;
  }

  /// y[r, n] = x[r, :] · W[n, :] for rows r < m, n in [nBegin, nEnd), x made by `prologue`
  /// when given; addresses are index values, y rows are `ldy` floats apart.
  void gemm(LoopEmitter &e, Value x, Value m, const WeightRef &w, Value wOffset,
            Value scaleOffset, Value nBegin, Value nEnd, bool quantize, Value y, Value ldy,
            const Prologue *prologue = nullptr) {
    OpBuilder &b = e.builder();
    Location loc = e.location();
    auto ptr = [&](Value address) { return pointer(e, address); };
    auto i64 = [&](Value v) -> Value {
      return b.create<arith::IndexCastOp>(loc, b.getI64Type(), v);
    };
    Value scale = w.scaleFormat == kNoScale ? e.index(0) : e.addi(w.scalePtr, scaleOffset);
    SmallVector<Value> args{ptr(x), i64(m), e.i64(w.cols)};
    if (prologue)
      args.append(prologue->args);
    args.append({ptr(e.addi(w.ptr, wOffset)), e.i32(w.format), ptr(scale), e.i32(w.scaleFormat),
                 e.i64(w.rows), i64(nBegin), i64(nEnd), e.i32(quantize ? 1 : 0), ptr(y), i64(ldy)});
    StringRef entry = prologue ? prologue->entry : "v4c_gemm";
    SmallVector<Type> prologueTypes;
    if (prologue)
      prologueTypes = llvm::to_vector(ValueRange(prologue->args).getTypes());
    b.create<func::CallOp>(loc, gemmDecl(entry, prologueTypes), args);
  }

  //===--------------------------------------------------------------------===//
  // Ops
  //===--------------------------------------------------------------------===//

  LogicalResult lower(Operation *op) {
    // The microkernel reads FP8 scales per 128x128 block, DeepSeek's only layout.
    if (auto block = op->getAttrOfType<DenseI64ArrayAttr>("block"))
      if (block.asArrayRef() != ArrayRef<int64_t>{128, 128})
        return op->emitOpError("the CPU target supports 128x128 weight blocks only");
    if (failed(checkDecision(op)))
      return failure();
    OpBuilder b(op);
    LoopEmitter e(b, op->getLoc());
    SmallVector<Value> results;
    // An op the NPU computes: its kernel (or kernel sequence) launched from the host code.
    if (Attribute launch = op->getAttr(npu::kLaunchAttr))
      results = npuLaunchFor(op, launch, e);
    else
      results = llvm::TypeSwitch<Operation *, SmallVector<Value>>(op)
            .Case<graph::PositionsOp, graph::EmbeddingOp, graph::RmsNormOp, graph::RopeOp,
                  graph::HcExpandOp, graph::HcPreOp, graph::HcPostOp, graph::HcHeadOp,
                  graph::LinearOp, graph::GroupedLinearOp, graph::QatOp, graph::HadamardOp,
                  graph::QuantizeOp, graph::BlockScaledMatmulOp,
                  graph::SwigluOp, graph::CompressorOp, graph::KvAppendOp, graph::IndexTopkOp,
                  graph::SparseAttentionOp, graph::MoeGateOp, graph::MoeExpertsOp>(
                [&](auto concrete) { return lowerOp(concrete, e); })
            .Default([](Operation *) { return SmallVector<Value>(); });
    if (results.size() != op->getNumResults())
      return op->emitOpError("has no CPU lowering");
    op->replaceAllUsesWith(results);
    op->erase();
    return success();
  }

  /// Ops with a precision choice must carry a decision the CPU can run (v4c-precision-policy).
  LogicalResult checkDecision(Operation *op) {
    if (!isa<graph::LinearOp, graph::GroupedLinearOp, graph::MoeExpertsOp, graph::QatOp,
             graph::BlockScaledMatmulOp>(op))
      return success();
    auto precision = op->getAttrOfType<graph::PrecisionAttr>(graph::PrecisionAttr::kName);
    if (!precision && isa<graph::BlockScaledMatmulOp>(op))
      return success(); // its operands say what it multiplies
    if (!precision)
      return op->emitOpError() << "has no " << graph::PrecisionAttr::kName
                               << " decision (run v4c-precision-policy first)";
    if (precision.getGemm() != graph::GemmKind::emulated)
      return op->emitOpError() << "gemm = " << graph::stringifyGemmKind(precision.getGemm())
                               << " is not available on the CPU target (emulated only)";
    if (!isa<graph::QatOp>(op) && precision.quantizesActivations() && precision.getActBlock() != 128)
      return op->emitOpError() << "the CPU microkernels quantize activations per 128, not per "
                               << precision.getActBlock();
    return success();
  }
  static bool quantizesActivations(Operation *op) {
    return op->getAttrOfType<graph::PrecisionAttr>(graph::PrecisionAttr::kName)
        .quantizesActivations();
  }

  /// Loops over every index of `shape`'s leading dims (all but the last).
  void forEachRow(LoopEmitter &e, Value shaped, llvm::function_ref<void(SmallVector<Value>)> body,
                  SmallVector<Value> prefix = {}) {
    int64_t rank = cast<ShapedType>(shaped.getType()).getRank();
    if (int64_t(prefix.size()) == rank - 1)
      return body(prefix);
    e.loop(0, e.dim(shaped, prefix.size()), [&](Value i) {
      SmallVector<Value> next = prefix;
      next.push_back(i);
      forEachRow(e, shaped, body, next);
    });
  }
  static SmallVector<Value> with(SmallVector<Value> row, Value last) {
    row.push_back(last);
    return row;
  }

  SmallVector<Value> lowerOp(graph::PositionsOp op, LoopEmitter &e) {
    Value tokens = e.buffer(op.getTokens());
    Value out = e.allocLike(tokens, e.builder().getI64Type());
    e.loop(0, e.dim(tokens, 0), [&](Value t) {
      Value p = e.addi(op.getStart(), t);
      e.store(e.builder().create<arith::IndexCastOp>(e.location(), e.builder().getI64Type(), p),
              out, t);
    });
    return {e.tensor(out)};
  }

  SmallVector<Value> lowerOp(graph::EmbeddingOp op, LoopEmitter &e) {
    Value table = e.buffer(op.getTable()), tokens = e.buffer(op.getTokens());
    auto type = cast<RankedTensorType>(op.getType());
    Value out = e.alloc(type, {e.dim(tokens, 0)});
    e.loop(0, e.dim(tokens, 0), [&](Value t) {
      Value id = e.toIndex(e.loadRaw(tokens, t));
      e.loop(0, type.getDimSize(1), [&](Value c) { e.store(e.load(table, {id, c}), out, {t, c}); });
    });
    return {e.tensor(out)};
  }

  /// x ← x / sqrt(mean(x²) + eps) · w, the reference's rmsNorm (squares summed in f64).
  void rmsNormRow(LoopEmitter &e, Value in, Value out, SmallVector<Value> row, int64_t dim,
                  Value weight, double eps) {
    OpBuilder &b = e.builder();
    Location loc = e.location();
    Value sumSq = e.sumSquaresF64(0, dim, [&](Value c) { return e.load(in, with(row, c)); });
    Value mean = b.create<arith::DivFOp>(
        loc, sumSq, b.create<arith::ConstantOp>(loc, b.getF64FloatAttr(double(dim))));
    Value variance =
        b.create<arith::AddFOp>(loc, mean, b.create<arith::ConstantOp>(loc, b.getF64FloatAttr(eps)));
    Value inv = b.create<arith::DivFOp>(loc, b.create<arith::ConstantOp>(loc, b.getF64FloatAttr(1.0)),
                                        b.create<math::SqrtOp>(loc, variance));
    Value r = b.create<arith::TruncFOp>(loc, b.getF32Type(), inv);
    e.loop(0, dim, [&](Value c) {
      Value y = e.mul(e.load(in, with(row, c)), r);
      e.store(weight ? e.mul(y, e.load(weight, c)) : e.mul(y, e.f32(1.0f)), out, with(row, c));
    });
  }

  SmallVector<Value> lowerOp(graph::RmsNormOp op, LoopEmitter &e) {
    Value in = e.buffer(op.getInput());
    Value weight = op.getWeight() ? e.buffer(op.getWeight()) : Value();
    Value out = e.allocLike(in, e.builder().getF32Type());
    int64_t dim = cast<RankedTensorType>(op.getType()).getShape().back();
    double eps = op.getEps().convertToDouble();
    forEachRow(e, in, [&](SmallVector<Value> row) { rmsNormRow(e, in, out, row, dim, weight, eps); });
    return {e.tensor(out)};
  }

  /// The inverse frequencies of a rope table, computed like the reference's, as a constant.
  Value invFreqTable(LoopEmitter &e, graph::RopeAttr rope) {
    std::vector<float> freqs = reference::ropeInvFreqs(rope.getDim(), rope.theta(), rope.yarnFactor(),
                                                       rope.getYarnOriginal(), rope.betaFast(),
                                                       rope.betaSlow());
    auto type = RankedTensorType::get({int64_t(freqs.size())}, e.builder().getF32Type());
    Value table = e.builder().create<arith::ConstantOp>(
        e.location(), DenseElementsAttr::get(type, llvm::ArrayRef<float>(freqs)));
    return e.buffer(table);
  }

  /// Rotates the interleaved pairs of the last rope.dim channels of `row` in place.
  void rotateRow(LoopEmitter &e, Value buf, SmallVector<Value> row, int64_t width, Value position,
                 Value freqs, int64_t ropeDim, bool inverse) {
    Value pos = e.builder().create<arith::SIToFPOp>(e.location(), e.builder().getF32Type(),
                                                    position);
    int64_t offset = width - ropeDim;
    e.loop(0, ropeDim / 2, [&](Value i) {
      Value angle = e.mul(pos, e.load(freqs, i));
      Value c = e.builder().create<math::CosOp>(e.location(), angle);
      Value s = e.builder().create<math::SinOp>(e.location(), angle);
      if (inverse)
        s = e.neg(s);
      Value even = e.addi(e.index(offset), e.muli(i, e.index(2)));
      Value odd = e.addi(even, e.index(1));
      Value a = e.load(buf, with(row, even)), bb = e.load(buf, with(row, odd));
      e.store(e.sub(e.mul(a, c), e.mul(bb, s)), buf, with(row, even));
      e.store(e.add(e.mul(a, s), e.mul(bb, c)), buf, with(row, odd));
    });
  }

  SmallVector<Value> lowerOp(graph::RopeOp op, LoopEmitter &e) {
    Value in = e.buffer(op.getInput()), positions = e.buffer(op.getPositions());
    Value out = e.allocLike(in, e.builder().getF32Type());
    e.copy(in, out);
    Value freqs = invFreqTable(e, op.getRope());
    int64_t width = cast<RankedTensorType>(op.getType()).getShape().back();
    forEachRow(e, out, [&](SmallVector<Value> row) {
      rotateRow(e, out, row, width, e.loadRaw(positions, row[0]), freqs, op.getRope().getDim(),
                op.getInverse());
    });
    return {e.tensor(out)};
  }

  SmallVector<Value> lowerOp(graph::HcExpandOp op, LoopEmitter &e) {
    Value in = e.buffer(op.getInput());
    auto type = cast<RankedTensorType>(op.getType());
    Value out = e.alloc(type, {e.dim(in, 0)});
    e.loop(0, e.dim(in, 0), [&](Value t) {
      e.loop(0, type.getDimSize(1), [&](Value j) {
        e.loop(0, type.getDimSize(2), [&](Value c) { e.store(e.load(in, {t, c}), out, {t, j, c}); });
      });
    });
    return {e.tensor(out)};
  }

  /// m = rms(vec X) · (fn vec X) of token t, written into `mixes` [M].
  void hcMixes(LoopEmitter &e, Value streams, Value t, Value fn, int64_t n, int64_t d,
               double normEps, Value mixes) {
    OpBuilder &b = e.builder();
    Location loc = e.location();
    int64_t nd = n * d, rows = cast<MemRefType>(fn.getType()).getDimSize(0);
    auto element = [&](Value k) {
      return e.load(streams, {t, e.divi(k, e.index(d)), e.remi(k, e.index(d))});
    };
    Value sumSq = e.sumSquaresF64(0, nd, element);
    Value mean = b.create<arith::DivFOp>(
        loc, sumSq, b.create<arith::ConstantOp>(loc, b.getF64FloatAttr(double(nd))));
    Value variance = b.create<arith::AddFOp>(
        loc, mean, b.create<arith::ConstantOp>(loc, b.getF64FloatAttr(normEps)));
    Value inv = b.create<arith::DivFOp>(loc, b.create<arith::ConstantOp>(loc, b.getF64FloatAttr(1.0)),
                                        b.create<math::SqrtOp>(loc, variance));
    Value r = b.create<arith::TruncFOp>(loc, b.getF32Type(), inv);
    e.loop(0, rows, [&](Value i) {
      Value dot = e.blockedSum(nd, [&](Value k) { return e.mul(element(k), e.load(fn, {i, k})); });
      e.store(e.mul(dot, r), mixes, i);
    });
  }

  /// Sinkhorn of the reference, in place on comb[t] (n x n).
  void sinkhorn(LoopEmitter &e, Value comb, Value t, int64_t n, int64_t iters, double eps) {
    Value epsilon = e.f32(eps);
    auto normalizeLines = [&](bool rows) {
      e.loop(0, n, [&](Value line) {
        auto at = [&](Value i) -> SmallVector<Value> {
          return rows ? SmallVector<Value>{t, line, i} : SmallVector<Value>{t, i, line};
        };
        Value total = e.sum(0, n, [&](Value i) { return e.load(comb, at(i)); });
        e.loop(0, n, [&](Value i) { e.store(e.div(e.load(comb, at(i)), e.add(total, epsilon)), comb, at(i)); });
      });
    };
    e.loop(0, n, [&](Value j) { // softmax over k, plus eps
      Value max = e.max(e.index(0), e.index(n), e.f32(-INFINITY),
                        [&](Value k) { return e.load(comb, {t, j, k}); });
      e.loop(0, n, [&](Value k) { e.store(e.exp(e.sub(e.load(comb, {t, j, k}), max)), comb, {t, j, k}); });
      Value total = e.sum(0, n, [&](Value k) { return e.load(comb, {t, j, k}); });
      e.loop(0, n, [&](Value k) {
        e.store(e.add(e.div(e.load(comb, {t, j, k}), total), epsilon), comb, {t, j, k});
      });
    });
    normalizeLines(/*rows=*/false);
    e.loop(1, iters, [&](Value) {
      normalizeLines(/*rows=*/true);
      normalizeLines(/*rows=*/false);
    });
  }

  /// The buffers and sizes hc_pre and hc_head share: streams [T, n, D] and the mix params.
  struct HcOperands {
    Value streams, fn, base, scale, T, y; // y: the [T, D] result both produce
    int64_t n, d;
  };
  template <typename Op>
  HcOperands hcOperands(Op op, LoopEmitter &e) {
    HcOperands h;
    h.streams = e.buffer(op.getStreams());
    h.fn = e.buffer(op.getFn());
    h.base = e.buffer(op.getBase());
    h.scale = e.buffer(op.getScale());
    auto type = cast<RankedTensorType>(op.getStreams().getType());
    h.n = type.getDimSize(1);
    h.d = type.getDimSize(2);
    h.T = e.dim(h.streams, 0);
    h.y = e.alloc(RankedTensorType::get({ShapedType::kDynamic, h.d}, e.builder().getF32Type()),
                  {h.T});
    return h;
  }

  SmallVector<Value> lowerOp(graph::HcPreOp op, LoopEmitter &e) {
    HcOperands h = hcOperands(op, e);
    Value streams = h.streams, fn = h.fn, base = h.base, scale = h.scale, T = h.T, y = h.y;
    int64_t n = h.n, d = h.d;
    Type f32 = e.builder().getF32Type();
    Value post = e.alloc(RankedTensorType::get({ShapedType::kDynamic, n}, f32), {T});
    Value comb = e.alloc(RankedTensorType::get({ShapedType::kDynamic, n, n}, f32), {T});
    int64_t mixCount = (2 + n) * n;
    Value mixes = e.alloc(RankedTensorType::get({mixCount}, f32), {});
    Value pre = e.alloc(RankedTensorType::get({n}, f32), {});
    double hcEps = op.getHcEps().convertToDouble();
    e.loop(0, T, [&](Value t) {
      hcMixes(e, streams, t, fn, n, d, op.getNormEps().convertToDouble(), mixes);
      Value a0 = e.load(scale, e.index(0)), a1 = e.load(scale, e.index(1)),
            a2 = e.load(scale, e.index(2));
      e.loop(0, n, [&](Value j) {
        Value nj = e.addi(e.index(n), j);
        e.store(e.add(e.sigmoid(e.add(e.mul(a0, e.load(mixes, j)), e.load(base, j))), e.f32(hcEps)),
                pre, j);
        e.store(e.mul(e.f32(2), e.sigmoid(e.add(e.mul(a1, e.load(mixes, nj)), e.load(base, nj)))),
                post, {t, j});
        e.loop(0, n, [&](Value k) {
          Value i = e.addi(e.index(2 * n), e.addi(e.muli(j, e.index(n)), k));
          e.store(e.add(e.mul(a2, e.load(mixes, i)), e.load(base, i)), comb, {t, j, k});
        });
      });
      sinkhorn(e, comb, t, n, op.getSinkhornIters(), hcEps);
      e.loop(0, d, [&](Value c) {
        Value acc = e.f32(0);
        for (int64_t j = 0; j < n; ++j) // y = Σ_j pre_j X_j, in stream order
          acc = e.add(acc, e.mul(e.load(pre, e.index(j)), e.load(streams, {t, e.index(j), c})));
        e.store(acc, y, {t, c});
      });
    });
    return {e.tensor(y), e.tensor(post), e.tensor(comb)};
  }

  SmallVector<Value> lowerOp(graph::HcPostOp op, LoopEmitter &e) {
    Value f = e.buffer(op.getSublayerOut()), streams = e.buffer(op.getStreams());
    Value post = e.buffer(op.getPost()), comb = e.buffer(op.getComb());
    auto type = cast<RankedTensorType>(op.getType());
    int64_t n = type.getDimSize(1), d = type.getDimSize(2);
    Value T = e.dim(streams, 0);
    Value out = e.alloc(type, {T});
    e.loop(0, T, [&](Value t) {
      e.loop(0, n, [&](Value k) {
        e.loop(0, d, [&](Value c) {
          Value v = e.mul(e.load(post, {t, k}), e.load(f, {t, c}));
          for (int64_t j = 0; j < n; ++j)
            v = e.add(v, e.mul(e.load(comb, {t, e.index(j), k}), e.load(streams, {t, e.index(j), c})));
          e.store(v, out, {t, k, c});
        });
      });
    });
    return {e.tensor(out)};
  }

  SmallVector<Value> lowerOp(graph::HcHeadOp op, LoopEmitter &e) {
    HcOperands h = hcOperands(op, e);
    Value streams = h.streams, fn = h.fn, base = h.base, scale = h.scale, T = h.T, y = h.y;
    int64_t n = h.n, d = h.d;
    Type f32 = e.builder().getF32Type();
    Value mixes = e.alloc(RankedTensorType::get({n}, f32), {});
    double hcEps = op.getHcEps().convertToDouble();
    e.loop(0, T, [&](Value t) {
      hcMixes(e, streams, t, fn, n, d, op.getNormEps().convertToDouble(), mixes);
      Value a0 = e.load(scale, e.index(0));
      e.loop(0, d, [&](Value c) {
        Value acc = e.f32(0);
        for (int64_t j = 0; j < n; ++j) {
          Value jj = e.index(j);
          Value pre = e.add(e.sigmoid(e.add(e.mul(a0, e.load(mixes, jj)), e.load(base, jj))),
                            e.f32(hcEps));
          acc = e.add(acc, e.mul(pre, e.load(streams, {t, jj, c})));
        }
        e.store(acc, y, {t, c});
      });
    });
    return {e.tensor(y)};
  }

  SmallVector<Value> lowerOp(graph::LinearOp op, LoopEmitter &e) {
    Operation *producer = gemmPrologue.lookup(op);
    Value x = e.buffer(producer ? producer->getOperand(0) : op.getInput());
    auto type = cast<RankedTensorType>(op.getType());
    WeightRef w = weightRef(e, op.getWeight(), op.getScale(), op);
    Value out = e.allocLike(x, e.builder().getF32Type(), type.getShape());
    Value rows = leadingRows(e, x, type);
    std::optional<Prologue> prologue;
    if (producer)
      prologue = gemmPrologueOf(e, producer, op);
    gemm(e, address(e, x), rows, w, e.index(0), e.index(0), e.index(0), e.index(w.rows),
         quantizesActivations(op), address(e, out), e.index(w.rows),
         prologue ? &*prologue : nullptr);
    return {e.tensor(out)};
  }

  /// The rows a GEMM over the last dim of `x` (of a result of `type`) processes: the product
  /// of the leading dims.
  static Value leadingRows(LoopEmitter &e, Value x, RankedTensorType type) {
    Value rows = e.index(1);
    for (int64_t i = 0; i + 1 < type.getRank(); ++i)
      rows = e.muli(rows, e.dim(x, i));
    return rows;
  }

  /// The launches of an op the NPU computes (codegen/npu/Offload.cpp): the sequences of ops
  /// with several kernels or scratch, else the one kernel with the op's operands as inputs.
  SmallVector<Value> npuLaunchFor(Operation *op, Attribute launch, LoopEmitter &e) {
    SmallVector<int32_t> kernels;
    if (auto one = dyn_cast<IntegerAttr>(launch))
      kernels.push_back(int32_t(one.getInt()));
    else
      llvm::append_range(kernels, cast<DenseI32ArrayAttr>(launch).asArrayRef());
    return llvm::TypeSwitch<Operation *, SmallVector<Value>>(op)
        .Case([&](graph::MoeExpertsOp moe) { return npuMoeLaunch(moe, kernels, e); })
        .Case([&](graph::SparseAttentionOp attention) {
          return npuAttentionLaunch(attention, kernels, e);
        })
        .Case<graph::HcPreOp, graph::HcHeadOp>(
            [&](auto hc) { return npuHcMixLaunch(hc, kernels, e); })
        .Case([&](graph::CompressorOp compressor) {
          return npuCompressorLaunch(compressor, kernels, e);
        })
        .Case([&](graph::MoeGateOp gate) { return npuGateLaunch(gate, kernels, e); })
        .Case([&](graph::IndexTopkOp indexer) { return npuIndexTopkLaunch(indexer, kernels, e); })
        .Case([&](graph::KvAppendOp append) { return npuKvAppendLaunch(append, kernels[0], e); })
        .Default([&](Operation *) { return npuLaunch(op, kernels[0], op->getOperands(), e); });
  }

  /// Emits a call of v4c_npu_launch (runtime/npu/Launch.h): kernel `kernel` with GM buffers
  /// at `addresses` (index values, in parameter order) and `scalars` (rows, tokens, ...).
  void launchNpuKernel(LoopEmitter &e, int64_t kernel, ArrayRef<Value> addresses,
                       ArrayRef<Value> scalars) {
    OpBuilder &b = e.builder();
    Location loc = e.location();
    Type ptr = LLVM::LLVMPointerType::get(b.getContext()), i64 = b.getI64Type();
    auto decl = module.lookupSymbol<func::FuncOp>("v4c_npu_launch");
    if (!decl) {
      OpBuilder top = OpBuilder::atBlockEnd(module.getBody());
      SmallVector<Type> args = {b.getI32Type()};
      args.append(V4C_NPU_LAUNCH_BUFFERS, ptr);
      args.append(V4C_NPU_LAUNCH_SCALARS, i64);
      decl = top.create<func::FuncOp>(module.getLoc(), "v4c_npu_launch",
                                      top.getFunctionType(args, {}));
      decl.setPrivate();
    }
    assert(addresses.size() <= V4C_NPU_LAUNCH_BUFFERS && scalars.size() <= V4C_NPU_LAUNCH_SCALARS &&
           "the offload's kernels fit a launch");
    SmallVector<Value> operands = {e.i32(int32_t(kernel))};
    for (size_t i = 0; i < V4C_NPU_LAUNCH_BUFFERS; ++i)
      operands.push_back(pointer(e, i < addresses.size() ? addresses[i] : e.index(0)));
    for (size_t i = 0; i < V4C_NPU_LAUNCH_SCALARS; ++i)
      operands.push_back(b.create<arith::IndexCastOp>(loc, i64, i < scalars.size() ? scalars[i]
                                                                                     : e.index(0)));
    b.create<func::CallOp>(loc, decl, operands);
  }

  /// An op the NPU computes (codegen/npu/Offload.cpp, which makes its operands the kernel's
  /// inputs): the host code launches its kernel with the op's GM buffers in parameter order
  /// (inputs, then the result), the row count (all but the last dim) and the token count (the
  /// first dim).
  SmallVector<Value> npuLaunch(Operation *op, int64_t kernel, ValueRange inputs, LoopEmitter &e) {
    // The rows come from the first input over the tokens (its first dim dynamic; weights are
    // static): rows = its dims but the last (a token list: its length), tokens = its first.
    Value source = *llvm::find_if(inputs, [](Value v) {
      return cast<RankedTensorType>(v.getType()).isDynamicDim(0);
    });
    auto sourceType = cast<RankedTensorType>(source.getType());
    Value x = e.buffer(source);
    Value out = e.alloc(cast<RankedTensorType>(op->getResult(0).getType()), {e.dim(x, 0)});
    SmallVector<Value> addresses;
    for (Value input : inputs)
      addresses.push_back(pointerOf(e, input, op));
    addresses.push_back(address(e, out));
    Value rows = sourceType.getRank() == 1 ? e.dim(x, 0) : leadingRows(e, x, sourceType);
    launchNpuKernel(e, kernel, addresses, {rows, e.dim(x, 0)});
    return {e.tensor(out)};
  }

  /// A compressed-cache append on the NPU: the kernel appends and returns rows [0, total).
  SmallVector<Value> npuKvAppendLaunch(graph::KvAppendOp op, int64_t kernel, LoopEmitter &e) {
    Value entries = e.buffer(op.getEntries()), total = op.getTotal();
    Value out = e.alloc(cast<RankedTensorType>(op.getType()), {total});
    Value cache = stateView(e, op, op.getCacheAttr(), total);
    Value count = e.dim(entries, 0);
    launchNpuKernel(e, kernel, {address(e, entries), address(e, cache), address(e, out)},
                    {count, count, total});
    return {e.tensor(out)};
  }

  /// The lightning indexer on the NPU (codegen/npu/AttentionKernels.cpp): scores into a GM
  /// scratch (every block), then the per-token top-k.
  SmallVector<Value> npuIndexTopkLaunch(graph::IndexTopkOp op, ArrayRef<int32_t> kernels,
                                        LoopEmitter &e) {
    Value q = e.buffer(op.getQueries());
    Value T = e.dim(q, 0), entries = e.dim(e.buffer(op.getKeys()), 0);
    // As the offload sized the kernels: the compressed caches' capacity (memory planning).
    int64_t maxSeqLen = module->getAttrOfType<IntegerAttr>("v4c.max_seq_len").getInt();
    int64_t capacity = graph::compressedCapacity(maxSeqLen, op.getRatio());
    auto at = [&](Value v) { return pointerOf(e, v, op); };
    Value scores = e.alloc(RankedTensorType::get({ShapedType::kDynamic,
                                                  npu::indexScoreLanes(capacity)},
                                                 e.builder().getF32Type()),
                           {T});
    Value out = e.alloc(cast<RankedTensorType>(op.getType()), {T});
    launchNpuKernel(e, kernels[0],
                    {at(op.getQueries()), at(op.getWeights()), at(op.getKeys()),
                     at(op.getPositions()), address(e, scores)},
                    {T, T, entries});
    launchNpuKernel(e, kernels[1], {address(e, scores), at(op.getPositions()), address(e, out)},
                    {T, T, entries});
    return {e.tensor(out)};
  }

  /// The router on the NPU (codegen/npu/MoeKernels.cpp): the gate GEMM, then scores, top-k
  /// (or hash ids) and weights.
  SmallVector<Value> npuGateLaunch(graph::MoeGateOp op, ArrayRef<int32_t> kernels,
                                   LoopEmitter &e) {
    Type f32 = e.builder().getF32Type();
    Value x = e.buffer(op.getInput());
    int64_t experts = cast<RankedTensorType>(op.getGate().getType()).getDimSize(0);
    Value T = e.dim(x, 0);
    Value logits = e.alloc(RankedTensorType::get({ShapedType::kDynamic, experts}, f32), {T});
    auto at = [&](Value v) { return pointerOf(e, v, op); };
    launchNpuKernel(e, kernels[0], {at(op.getInput()), at(op.getGate()), address(e, logits)}, {T});
    Value weights = e.alloc(cast<RankedTensorType>(op.getWeights().getType()), {T});
    Value chosen = e.alloc(cast<RankedTensorType>(op.getExperts().getType()), {T});
    SmallVector<Value> buffers = {address(e, logits)};
    if (op.getBias())
      buffers.push_back(at(op.getBias()));
    if (op.getTid2eid())
      buffers.append({at(op.getTid2eid()), at(op.getTokens())});
    buffers.append({address(e, weights), address(e, chosen)});
    launchNpuKernel(e, kernels[1], buffers, {T, T});
    return {e.tensor(weights), e.tensor(chosen)};
  }

  /// A compressor on the NPU (codegen/npu/AttentionKernels.cpp): the kv and gate GEMMs, then
  /// the pooling kernel, which also carries the pending state.
  SmallVector<Value> npuCompressorLaunch(graph::CompressorOp op, ArrayRef<int32_t> kernels,
                                         LoopEmitter &e) {
    CompressorBuffers c = compressorBuffers(op, e);
    auto at = [&](Value v) { return pointerOf(e, v, op); };
    launchNpuKernel(e, kernels[0], {at(op.getInput()), at(op.getWkv()), address(e, c.kv)}, {c.T});
    launchNpuKernel(e, kernels[0], {at(op.getInput()), at(op.getWgate()), address(e, c.score)},
                    {c.T});
    launchNpuKernel(e, kernels[1],
                    {address(e, c.kv), address(e, c.score), at(op.getApe()), at(op.getPositions()),
                     address(e, stateView(e, op, op.getPendingAttr())), address(e, c.entries),
                     address(e, c.entryPositions)},
                    {c.T, c.T, c.count});
    return {e.tensor(c.entries), e.tensor(c.entryPositions)};
  }

  /// hc_pre / hc_head on the NPU (codegen/npu/HcKernels.cpp): the mixes' GEMM (the streams
  /// as rows of n·D), then the vector kernel.
  template <typename Op>
  SmallVector<Value> npuHcMixLaunch(Op op, ArrayRef<int32_t> kernels, LoopEmitter &e) {
    Type f32 = e.builder().getF32Type();
    HcOperands h = hcOperands(op, e);
    int64_t mixCount = cast<RankedTensorType>(op.getFn().getType()).getDimSize(0);
    Value mixes = e.alloc(RankedTensorType::get({ShapedType::kDynamic, mixCount}, f32), {h.T});
    auto at = [&](Value v) { return pointerOf(e, v, op); };
    launchNpuKernel(e, kernels[0], {at(op.getStreams()), at(op.getFn()), address(e, mixes)},
                    {h.T});
    SmallVector<Value> buffers = {at(op.getStreams()), address(e, mixes), at(op.getBase()),
                                  at(op.getScale()), address(e, h.y)};
    SmallVector<Value> results = {e.tensor(h.y)};
    if constexpr (std::is_same_v<Op, graph::HcPreOp>) {
      Value post = e.alloc(RankedTensorType::get({ShapedType::kDynamic, h.n}, f32), {h.T});
      Value comb = e.alloc(RankedTensorType::get({ShapedType::kDynamic, h.n, h.n}, f32), {h.T});
      buffers.append({address(e, post), address(e, comb)});
      results.append({e.tensor(post), e.tensor(comb)});
    }
    launchNpuKernel(e, kernels[1], buffers, {h.T, h.T});
    return results;
  }

  /// Attention on the NPU (codegen/npu/AttentionKernels.cpp): the attention kernel, then the
  /// ring update (the window state the kernel read).
  SmallVector<Value> npuAttentionLaunch(graph::SparseAttentionOp op, ArrayRef<int32_t> kernels,
                                        LoopEmitter &e) {
    Value q = e.buffer(op.getQueries());
    Value tokens = e.dim(q, 0);
    Value out = e.alloc(cast<RankedTensorType>(op.getType()), {tokens});
    auto at = [&](Value v) { return pointerOf(e, v, op); };
    Value ring = address(e, stateView(e, op, op.getWindowStateAttr()));
    SmallVector<Value> buffers = {at(op.getQueries()), at(op.getKv()), at(op.getPositions()),
                                  at(op.getSink()), ring};
    Value entries = e.index(0);
    if (Value compressed = op.getCompressed()) {
      buffers.push_back(at(compressed));
      entries = e.dim(e.buffer(compressed), 0);
    }
    if (Value indices = op.getIndices())
      buffers.push_back(at(indices));
    buffers.push_back(address(e, out));
    launchNpuKernel(e, kernels[0], buffers, {tokens, tokens, entries});
    launchNpuKernel(e, kernels[1], {at(op.getKv()), at(op.getPositions()), ring},
                    {tokens, tokens});
    return {e.tensor(out)};
  }

  /// The routed experts on the NPU (codegen/npu/MoeKernels.cpp): route, grouped GEMMs w1 and
  /// w3, routed SwiGLU, grouped GEMM w2, combine; the host allocates their GM scratch.
  SmallVector<Value> npuMoeLaunch(graph::MoeExpertsOp op, ArrayRef<int32_t> kernels,
                                  LoopEmitter &e) {
    Type f32 = e.builder().getF32Type();
    Value x = e.buffer(op.getInput());
    int64_t d = cast<RankedTensorType>(op.getInput().getType()).getDimSize(1);
    int64_t inter = cast<RankedTensorType>(op.getW1().getType()).getDimSize(1);
    int64_t topk = cast<RankedTensorType>(op.getWeights().getType()).getDimSize(1);
    Value tokens = e.dim(x, 0), rows = e.muli(tokens, e.index(topk));
    auto scratch = [&](int64_t width) {
      return e.alloc(RankedTensorType::get({ShapedType::kDynamic, width}, f32), {rows});
    };
    Value table = e.alloc(RankedTensorType::get({ShapedType::kDynamic}, f32),
                          {e.addi(e.index(npu::MoeRoute::kHeaderBytes / 4),
                                  e.muli(rows, e.index(npu::MoeRoute::kBytesPerRow / 4)))});
    Value xperm = scratch(d), gate = scratch(inter), up = scratch(inter), act = scratch(inter),
          yperm = scratch(d);
    Value out = e.alloc(cast<RankedTensorType>(op.getType()), {tokens});
    auto at = [&](Value v) { return pointerOf(e, v, op); };
    auto buf = [&](Value memref) { return address(e, memref); };
    SmallVector<Value> scalars = {rows, tokens};
    launchNpuKernel(e, kernels[0],
                    {at(op.getExperts()), at(op.getWeights()), at(op.getInput()), buf(table),
                     buf(xperm)},
                    scalars);
    launchNpuKernel(e, kernels[1], {buf(xperm), at(op.getW1()), buf(table), buf(gate)}, scalars);
    launchNpuKernel(e, kernels[1], {buf(xperm), at(op.getW3()), buf(table), buf(up)}, scalars);
    launchNpuKernel(e, kernels[2], {buf(gate), buf(up), buf(table), buf(act)}, scalars);
    launchNpuKernel(e, kernels[3], {buf(act), at(op.getW2()), buf(table), buf(yperm)}, scalars);
    launchNpuKernel(e, kernels[4], {buf(yperm), buf(table), buf(out)}, scalars);
    return {e.tensor(out)};
  }

  /// The microkernel entry and arguments computing x from `producer`'s inputs (its operand 0
  /// is the x pointer of the call).
  Prologue gemmPrologueOf(LoopEmitter &e, Operation *producer, Operation *user) {
    OpBuilder &b = e.builder();
    Location loc = e.location();
    auto ptr = [&](Value address) { return pointer(e, address); };
    if (auto norm = dyn_cast<graph::RmsNormOp>(producer)) {
      Value weight = norm.getWeight();
      bool bf16 = weight && cast<ShapedType>(weight.getType()).getElementType().isBF16();
      return {"v4c_gemm_rms_norm",
              {ptr(weight ? pointerOf(e, weight, user) : e.index(0)), e.i32(bf16 ? kBF16 : kF32),
               b.create<arith::ConstantOp>(loc, b.getF64FloatAttr(norm.getEps().convertToDouble()))}};
    }
    auto swiglu = cast<graph::SwigluOp>(producer);
    return {"v4c_gemm_swiglu",
            {ptr(address(e, e.buffer(swiglu.getUp()))),
             e.f32(float(swiglu.getLimit().convertToDouble()))}};
  }

  /// Codes and power-of-two scales per block of each row (DeepSeek's act_quant).
  SmallVector<Value> lowerOp(graph::QuantizeOp op, LoopEmitter &e) {
    if (ShapedType::isDynamic(op.getInput().getType().getShape().back())) {
      op.emitOpError("the CPU target quantizes rows of a static width");
      return {};
    }
    OpBuilder &b = e.builder();
    Value x = e.buffer(op.getInput());
    Value codes = e.allocLike(x, op.getCodes().getType().getElementType());
    Value scales = e.allocLike(x, b.getF32Type(), op.getScales().getType().getShape());
    int64_t k = op.getInput().getType().getShape().back(), block = op.getBlock();
    forEachRow(e, x, [&](SmallVector<Value> row) {
      e.loop(0, (k + block - 1) / block, [&](Value g) {
        Value first = e.muli(g, e.index(block));
        Value last = e.mini(e.addi(first, e.index(block)), e.index(k));
        Value amax = e.max(first, last, e.f32(0),
                           [&](Value c) { return e.abs(e.load(x, with(row, c))); });
        Value scale = e.ue8m0Scale(e.maxf(amax, e.f32(1e-4)), 448.0);
        e.store(scale, scales, with(row, g));
        e.loop(first, last, [&](Value c) {
          Value q = e.roundToE4m3(e.clamp(e.div(e.load(x, with(row, c)), scale), -448, 448));
          Value code = b.create<arith::BitcastOp>(e.location(), b.getType<Float8E4M3FNType>(),
                                                  e.e4m3Code(q));
          e.store(code, codes, with(row, c));
        });
      });
    });
    return {e.tensor(codes), e.tensor(scales)};
  }

  /// The codes times their scales (exactly the values DeepSeek's GEMM multiplies), then the
  /// microkernel with no quantization of its own.
  SmallVector<Value> lowerOp(graph::BlockScaledMatmulOp op, LoopEmitter &e) {
    OpBuilder &b = e.builder();
    Value codes = e.buffer(op.getLhs()), scales = e.buffer(op.getLhsScale());
    auto type = cast<RankedTensorType>(op.getType());
    Value x = e.allocLike(codes, b.getF32Type());
    int64_t block = op.getLhsBlock();
    forEachRow(e, codes, [&](SmallVector<Value> row) {
      e.loop(0, e.dim(codes, type.getRank() - 1), [&](Value c) {
        Value bits = b.create<arith::BitcastOp>(e.location(), b.getI8Type(), e.loadRaw(codes, with(row, c)));
        Value scale = e.load(scales, with(row, e.divi(c, e.index(block))));
        e.store(e.mul(e.decodeE4m3(bits), scale), x, with(row, c));
      });
    });
    WeightRef w = weightRef(e, op.getRhs(), op.getRhsScale(), op);
    Value out = e.allocLike(x, b.getF32Type(), type.getShape());
    Value rows = leadingRows(e, x, type);
    gemm(e, address(e, x), rows, w, e.index(0), e.index(0), e.index(0), e.index(w.rows),
         /*quantize=*/false, address(e, out), e.index(w.rows));
    return {e.tensor(out)};
  }

  /// Group g of wo_a maps its slice of the heads' outputs: a plain matmul (MODEL.md §6.7).
  SmallVector<Value> lowerOp(graph::GroupedLinearOp op, LoopEmitter &e) {
    Value x = e.buffer(op.getInput());
    auto type = cast<RankedTensorType>(op.getType());
    WeightRef w = weightRef(e, op.getWeight(), op.getScale(), op);
    int64_t groups = op.getGroups(), rank = w.rows / groups, k = w.cols;
    Value T = e.dim(x, 0);
    Value out = e.alloc(type, {T});
    Value xBase = address(e, x), outBase = address(e, out);
    e.loop(0, T, [&](Value t) {
      e.loop(0, groups, [&](Value g) {
        Value xRow = e.addi(xBase, e.muli(e.addi(e.muli(t, e.index(groups)), g), e.index(k * 4)));
        Value yRow = e.addi(outBase, e.muli(t, e.index(w.rows * 4)));
        Value nBegin = e.muli(g, e.index(rank));
        gemm(e, xRow, e.index(1), w, e.index(0), e.index(0), nBegin, e.addi(nBegin, e.index(rank)),
             quantizesActivations(op), yRow, e.index(w.rows));
      });
    });
    return {e.tensor(out)};
  }

  /// Quantize-dequantize, in place, of the first `count` values of a row, in groups.
  void qatRow(LoopEmitter &e, Value buf, SmallVector<Value> row, int64_t count, int64_t group,
              bool fp4) {
    for (int64_t g = 0; g < count; g += group) {
      int64_t len = std::min(group, count - g);
      Value amax = e.max(e.index(g), e.index(g + len), e.f32(0),
                         [&](Value c) { return e.abs(e.load(buf, with(row, c))); });
      Value scale = fp4 ? e.ue8m0Scale(e.maxf(amax, e.f32(6.0 * 0x1p-126)), 6.0)
                        : e.ue8m0Scale(e.maxf(amax, e.f32(1e-4)), 448.0);
      e.loop(g, g + len, [&](Value c) {
        Value q = e.div(e.load(buf, with(row, c)), scale);
        Value rounded = fp4 ? e.roundToE2m1(q) : e.roundToE4m3(e.clamp(q, -448, 448));
        e.store(e.mul(rounded, scale), buf, with(row, c));
      });
    }
  }

  SmallVector<Value> lowerOp(graph::QatOp op, LoopEmitter &e) {
    if (!quantizesActivations(op)) // the policy skips this round trip
      return {op.getInput()};
    Value in = e.buffer(op.getInput());
    Value out = e.allocLike(in, e.builder().getF32Type());
    e.copy(in, out);
    bool fp4 = isa<Float4E2M1FNType>(op.getFormat());
    forEachRow(e, out, [&](SmallVector<Value> row) {
      qatRow(e, out, row, op.getDims(), op.getGroupSize(), fp4);
    });
    return {e.tensor(out)};
  }

  /// In-place orthonormal Walsh-Hadamard transform of a row (butterflies, then 1/sqrt(n)).
  void hadamardRow(LoopEmitter &e, Value buf, SmallVector<Value> row, int64_t n) {
    for (int64_t len = 1; len < n; len *= 2) {
      e.loop(0, n / (2 * len), [&](Value block) {
        Value first = e.muli(block, e.index(2 * len));
        e.loop(0, len, [&](Value j) {
          Value i = e.addi(first, j), k = e.addi(i, e.index(len));
          Value a = e.load(buf, with(row, i)), c = e.load(buf, with(row, k));
          e.store(e.add(a, c), buf, with(row, i));
          e.store(e.sub(a, c), buf, with(row, k));
        });
      });
    }
    Value scale = e.f32(1.0 / std::sqrt(double(n)));
    e.loop(0, n, [&](Value i) { e.store(e.mul(e.load(buf, with(row, i)), scale), buf, with(row, i)); });
  }

  SmallVector<Value> lowerOp(graph::HadamardOp op, LoopEmitter &e) {
    Value in = e.buffer(op.getInput());
    Value out = e.allocLike(in, e.builder().getF32Type());
    e.copy(in, out);
    int64_t n = cast<RankedTensorType>(op.getType()).getShape().back();
    forEachRow(e, out, [&](SmallVector<Value> row) { hadamardRow(e, out, row, n); });
    return {e.tensor(out)};
  }

  /// silu(min(g, L)) · clamp(a, −L, L) · weight; L = 0 disables the clamp.
  Value swiglu(LoopEmitter &e, Value g, Value a, double limit, Value weight) {
    if (limit > 0) {
      a = e.clamp(a, -limit, limit);
      g = e.minf(g, e.f32(limit));
    }
    Value z = e.mul(e.silu(g), a);
    return weight ? e.mul(z, weight) : e.mul(z, e.f32(1.0f));
  }

  SmallVector<Value> lowerOp(graph::SwigluOp op, LoopEmitter &e) {
    Value g = e.buffer(op.getGate()), a = e.buffer(op.getUp());
    Value out = e.allocLike(g, e.builder().getF32Type());
    double limit = op.getLimit().convertToDouble();
    forEachRow(e, g, [&](SmallVector<Value> row) {
      e.loop(0, e.dim(g, row.size()), [&](Value c) {
        e.store(swiglu(e, e.load(g, with(row, c)), e.load(a, with(row, c)), limit, {}), out,
                with(row, c));
      });
    });
    return {e.tensor(out)};
  }

  /// MODEL.md §6.4 "Compressor": rows go into the pending state; each completed block is
  /// pooled (softmax over its rows per channel, plus the previous block's when overlapping).
  /// A compressor's buffers, on either target: the kv and gate-score rows of this call's
  /// tokens, and its outputs: the entries its blocks complete (those ending in
  /// [start, start + T)) and their positions.
  struct CompressorBuffers {
    Value T, kv, score, start, firstEntry, count, entries, entryPositions;
  };
  CompressorBuffers compressorBuffers(graph::CompressorOp op, LoopEmitter &e) {
    OpBuilder &b = e.builder();
    Type f32 = b.getF32Type();
    int64_t ratio = op.getRatio(), width = cast<RankedTensorType>(op.getWkv().getType()).getDimSize(0);
    int64_t headDim = op.getOverlap() ? width / 2 : width;
    CompressorBuffers c;
    c.T = e.dim(e.buffer(op.getInput()), 0);
    auto rowsType = RankedTensorType::get({ShapedType::kDynamic, width}, f32);
    c.kv = e.alloc(rowsType, {c.T});
    c.score = e.alloc(rowsType, {c.T});
    c.start = e.toIndex(e.loadRaw(e.buffer(op.getPositions()), e.index(0)));
    c.firstEntry = e.divi(c.start, e.index(ratio));
    c.count = e.subi(e.divi(e.addi(c.start, c.T), e.index(ratio)), c.firstEntry);
    c.entries = e.alloc(RankedTensorType::get({ShapedType::kDynamic, headDim}, f32), {c.count});
    c.entryPositions =
        e.alloc(RankedTensorType::get({ShapedType::kDynamic}, b.getI64Type()), {c.count});
    return c;
  }

  SmallVector<Value> lowerOp(graph::CompressorOp op, LoopEmitter &e) {
    OpBuilder &b = e.builder();
    Value x = e.buffer(op.getInput()), ape = e.buffer(op.getApe());
    int64_t ratio = op.getRatio(), width = cast<RankedTensorType>(op.getWkv().getType()).getDimSize(0);
    bool overlap = op.getOverlap();
    int64_t headDim = overlap ? width / 2 : width, cur = overlap ? ratio : 0;
    CompressorBuffers c = compressorBuffers(op, e);
    Value T = c.T, kv = c.kv, score = c.score, start = c.start, firstEntry = c.firstEntry;
    Value entries = c.entries, entryPositions = c.entryPositions;
    for (auto [weight, out] : {std::pair{op.getWkv(), kv}, std::pair{op.getWgate(), score}}) {
      WeightRef w = weightRef(e, weight, {}, op);
      gemm(e, address(e, x), T, w, e.index(0), e.index(0), e.index(0), e.index(width), false,
           address(e, out), e.index(width));
    }
    Value pending = stateView(e, op, op.getPendingAttr());
    Value zero = e.index(0), one = e.index(1);
    e.loop(0, T, [&](Value t) {
      Value p = e.addi(start, t), slot = e.remi(p, e.index(ratio));
      Value row = e.addi(e.index(cur), slot);
      e.loop(0, width, [&](Value c) {
        e.store(e.load(kv, {t, c}), pending, {zero, row, c});
        e.store(e.add(e.load(score, {t, c}), e.load(ape, {slot, c})), pending, {one, row, c});
      });
      Value end = e.addi(p, one);
      e.ifThen(e.cmpi(Pred::eq, e.remi(end, e.index(ratio)), zero), [&] {
        Value entry = e.subi(e.divi(end, e.index(ratio)), e.addi(firstEntry, one));
        Value hasPrevious = e.cmpi(Pred::ugt, end, e.index(ratio));
        e.loop(0, headDim, [&](Value c) {
          Value own = overlap ? e.addi(c, e.index(headDim)) : c;
          // Candidates: the previous block on channel c (overlap only), then this block.
          Value maxScore = e.f32(-INFINITY);
          for (int64_t j = 0; overlap && j < ratio; ++j)
            maxScore = e.select(hasPrevious, e.maxf(maxScore, e.load(pending, {one, e.index(j), c})),
                                maxScore);
          for (int64_t j = 0; j < ratio; ++j)
            maxScore = e.maxf(maxScore, e.load(pending, {one, e.index(cur + j), own}));
          Value total = e.f32(0), acc = e.f32(0);
          auto accumulate = [&](Value rowIndex, Value channel, Value valid) {
            Value w = e.exp(e.sub(e.load(pending, {one, rowIndex, channel}), maxScore));
            Value nextTotal = e.add(total, w);
            Value nextAcc = e.add(acc, e.mul(w, e.load(pending, {zero, rowIndex, channel})));
            total = valid ? e.select(valid, nextTotal, total) : nextTotal;
            acc = valid ? e.select(valid, nextAcc, acc) : nextAcc;
          };
          for (int64_t j = 0; overlap && j < ratio; ++j)
            accumulate(e.index(j), c, hasPrevious);
          for (int64_t j = 0; j < ratio; ++j)
            accumulate(e.index(cur + j), own, {});
          e.store(e.div(acc, total), entries, {entry, c});
        });
        Value blockStart = e.subi(end, e.index(ratio));
        e.store(b.create<arith::IndexCastOp>(e.location(), b.getI64Type(), blockStart),
                entryPositions, entry);
        if (overlap) // this block becomes the previous one
          e.loop(0, ratio, [&](Value j) {
            e.loop(0, width, [&](Value c) {
              for (Value k : {zero, one})
                e.store(e.load(pending, {k, e.addi(j, e.index(ratio)), c}), pending, {k, j, c});
            });
          });
      });
    });
    return {e.tensor(entries), e.tensor(entryPositions)};
  }

  SmallVector<Value> lowerOp(graph::KvAppendOp op, LoopEmitter &e) {
    Value entries = e.buffer(op.getEntries());
    Value total = op.getTotal();
    Value cache = stateView(e, op, op.getCacheAttr(), total);
    Value first = e.subi(total, e.dim(entries, 0));
    int64_t width = cast<RankedTensorType>(op.getType()).getDimSize(1);
    e.loop(0, e.dim(entries, 0), [&](Value i) {
      e.loop(0, width, [&](Value c) { e.store(e.load(entries, {i, c}), cache, {e.addi(first, i), c}); });
    });
    // A copy, so later calls' appends cannot alias this call's tensor.
    Value out = e.allocLike(cache, e.builder().getF32Type());
    e.copy(cache, out);
    return {e.tensor(out)};
  }

  /// Writes the indices of the k largest `scores[0:n)` (lower index first on ties) into
  /// out[t, :], padding with -1.
  void selectTopk(LoopEmitter &e, Value scores, Value n, int64_t k, Value taken, Value out, Value t) {
    OpBuilder &b = e.builder();
    Location loc = e.location();
    e.loop(0, n, [&](Value i) { e.store(e.i32(0), taken, i); });
    e.loop(0, k, [&](Value r) {
      SmallVector<Value> search = e.fold(
          e.index(0), n, {e.f32(-INFINITY), e.index(-1)},
          [&](Value i, ValueRange best) -> SmallVector<Value> {
            Value s = e.loadRaw(scores, i);
            Value free = e.cmpi(Pred::eq, e.loadRaw(taken, i), e.i32(0));
            Value none = e.cmpi(Pred::eq, best[1], e.index(-1));
            // Strictly greater wins; scanning upward keeps the lower index on ties.
            Value better = b.create<arith::OrIOp>(loc, none, e.cmpf(FPred::OGT, s, best[0]));
            Value take = b.create<arith::AndIOp>(loc, free, better);
            return {e.select(take, s, best[0]), e.select(take, i, best[1])};
          });
      Value best = search[1];
      Value found = e.cmpi(Pred::ne, best, e.index(-1));
      Value bestI32 = b.create<arith::IndexCastOp>(loc, b.getI32Type(), best);
      e.store(bestI32, out, {t, r});
      e.ifThen(found, [&] { e.store(e.i32(1), taken, best); });
    });
  }

  SmallVector<Value> lowerOp(graph::IndexTopkOp op, LoopEmitter &e) {
    Value q = e.buffer(op.getQueries()), w = e.buffer(op.getWeights());
    Value keys = e.buffer(op.getKeys()), positions = e.buffer(op.getPositions());
    auto qType = cast<RankedTensorType>(op.getQueries().getType());
    int64_t heads = qType.getDimSize(1), dim = qType.getDimSize(2), k = op.getTopk();
    Value T = e.dim(q, 0), N = e.dim(keys, 0);
    Type f32 = e.builder().getF32Type();
    Value out = e.alloc(cast<RankedTensorType>(op.getType()), {T});
    Value scores = e.alloc(RankedTensorType::get({ShapedType::kDynamic}, f32), {N});
    Value taken = e.alloc(RankedTensorType::get({ShapedType::kDynamic}, e.builder().getI32Type()), {N});
    Value scale = e.f32(op.getScale().convertToDouble());
    e.loop(0, T, [&](Value t) {
      Value p = e.toIndex(e.loadRaw(positions, t));
      Value visible = e.mini(e.divi(e.addi(p, e.index(1)), e.index(op.getRatio())), N);
      e.loop(e.index(0), visible, [&](Value i) {
        Value acc = e.f32(0);
        for (int64_t j = 0; j < heads; ++j) {
          Value jj = e.index(j);
          Value dot = e.dot(0, dim, [&](Value c) { return e.mul(e.load(q, {t, jj, c}), e.load(keys, {i, c})); });
          acc = e.add(acc, e.mul(e.mul(e.load(w, {t, jj}), scale), e.maxf(dot, e.f32(0))));
        }
        e.store(acc, scores, i);
      });
      selectTopk(e, scores, visible, k, taken, out, t);
    });
    return {e.tensor(out)};
  }

  /// MODEL.md §6.4 steps 3-4: window ∪ compressed candidates, softmax with the sink.
  SmallVector<Value> lowerOp(graph::SparseAttentionOp op, LoopEmitter &e) {
    OpBuilder &b = e.builder();
    Value q = e.buffer(op.getQueries()), kv = e.buffer(op.getKv());
    Value positions = e.buffer(op.getPositions()), sink = e.buffer(op.getSink());
    Value compressed = op.getCompressed() ? e.buffer(op.getCompressed()) : Value();
    Value indices = op.getIndices() ? e.buffer(op.getIndices()) : Value();
    auto qType = cast<RankedTensorType>(op.getQueries().getType());
    int64_t heads = qType.getDimSize(1), hd = qType.getDimSize(2), window = op.getWindow();
    int64_t ratio = op.getRatio();
    Value T = e.dim(q, 0);
    Value ring = stateView(e, op, op.getWindowStateAttr());
    Value out = e.alloc(cast<RankedTensorType>(op.getType()), {T});
    Value start = e.toIndex(e.loadRaw(positions, e.index(0)));
    Value extra = !compressed ? e.index(0)
                  : indices   ? e.dim(indices, 1)
                              : e.dim(compressed, 0);
    Value logits = e.alloc(RankedTensorType::get({ShapedType::kDynamic}, b.getF32Type()),
                           {e.addi(e.index(window), extra)});
    Value scale = e.f32(op.getScale().convertToDouble());

    e.loop(0, T, [&](Value t) {
      Value p = e.addi(start, t);
      Value lo = e.subi(e.maxi(e.addi(p, e.index(1)), e.index(window)), e.index(window));
      // Calls `body(slot, rows, row)` for each candidate in the reference's order: window
      // positions lo..p, then the compressed entries. Its channels are rows[row, c]. A window
      // candidate lives in the ring (earlier calls) or in this call's kv; the memref is chosen
      // once per candidate so that the loops over channels stay branch-free (vectorizable).
      Value ringRows = b.create<memref::CastOp>(e.location(), cast<MemRefType>(kv.getType()), ring);
      auto forEachCandidate = [&](llvm::function_ref<void(Value, Value, Value)> body) {
        e.loop(lo, e.addi(p, e.index(1)), [&](Value s) {
          Value fromRing = e.cmpi(Pred::ult, s, start);
          body(e.subi(s, lo), e.select(fromRing, ringRows, kv),
               e.select(fromRing, e.remi(s, e.index(window)), e.subi(s, start)));
        });
        if (!compressed)
          return;
        if (indices) {
          e.loop(0, e.dim(indices, 1), [&](Value r) {
            Value i = e.loadRaw(indices, {t, r});
            e.ifThen(e.cmpi(Pred::sge, i, e.i32(0)), [&] {
              body(e.addi(e.index(window), r), compressed, e.toIndex(i));
            });
          });
        } else {
          Value visible = e.mini(e.divi(e.addi(p, e.index(1)), e.index(ratio)), e.dim(compressed, 0));
          e.loop(e.index(0), visible,
                 [&](Value i) { body(e.addi(e.index(window), i), compressed, i); });
        }
      };
      e.loop(0, heads, [&](Value h) {
        Value sinkLogit = e.load(sink, h);
        // 1. logits and their max (the sink included)
        Value maxLogit = e.alloc(RankedTensorType::get({1}, b.getF32Type()), {});
        e.store(sinkLogit, maxLogit, e.index(0));
        forEachCandidate([&](Value slot, Value rows, Value row) {
          Value dot = e.dot(0, hd, [&](Value c) { return e.mul(e.load(q, {t, h, c}), e.load(rows, {row, c})); });
          Value l = e.mul(dot, scale);
          e.store(l, logits, slot);
          e.store(e.maxf(e.load(maxLogit, e.index(0)), l), maxLogit, e.index(0));
        });
        Value max = e.load(maxLogit, e.index(0));
        // 2. the denominator: the sink's term, then each candidate's
        Value denominator = e.alloc(RankedTensorType::get({1}, b.getF32Type()), {});
        e.store(e.exp(e.sub(sinkLogit, max)), denominator, e.index(0));
        forEachCandidate([&](Value slot, Value, Value) {
          Value w = e.exp(e.sub(e.load(logits, slot), max));
          e.store(w, logits, slot);
          e.store(e.add(e.load(denominator, e.index(0)), w), denominator, e.index(0));
        });
        Value den = e.load(denominator, e.index(0));
        // 3. o = Σ p_s kv_s
        e.loop(0, hd, [&](Value c) { e.store(e.f32(0), out, {t, h, c}); });
        forEachCandidate([&](Value slot, Value rows, Value row) {
          Value weight = e.div(e.load(logits, slot), den);
          e.loop(0, hd, [&](Value c) {
            e.store(e.add(e.load(out, {t, h, c}), e.mul(weight, e.load(rows, {row, c}))), out, {t, h, c});
          });
        });
      });
    });
    // The ring keeps the last W raw entries for later calls.
    e.loop(e.subi(e.maxi(T, e.index(window)), e.index(window)), T, [&](Value t) {
      Value slot = e.remi(e.addi(start, t), e.index(window));
      e.loop(0, hd, [&](Value c) { e.store(e.load(kv, {t, c}), ring, {slot, c}); });
    });
    return {e.tensor(out)};
  }

  /// Routing of token t into weights[t, :], experts[t, :] (MODEL.md §6.4 "MoE").
  SmallVector<Value> lowerOp(graph::MoeGateOp op, LoopEmitter &e) {
    OpBuilder &b = e.builder();
    Type f32 = b.getF32Type();
    Value x = e.buffer(op.getInput());
    WeightRef g = weightRef(e, op.getGate(), {}, op);
    int64_t experts = g.rows, k = op.getTopk();
    Value T = e.dim(x, 0);
    Value scores = e.alloc(RankedTensorType::get({ShapedType::kDynamic, experts}, f32), {T});
    gemm(e, address(e, x), T, g, e.index(0), e.index(0), e.index(0), e.index(experts), false,
         address(e, scores), e.index(experts));
    e.loop(0, T, [&](Value t) {
      e.loop(0, experts, [&](Value i) {
        Value s = e.load(scores, {t, i});
        Value softplus = e.select(e.cmpf(FPred::OGT, s, e.f32(20)), s,
                                  b.create<math::Log1pOp>(e.location(), e.exp(s)));
        e.store(e.sqrt(softplus), scores, {t, i});
      });
    });
    Value weights = e.alloc(cast<RankedTensorType>(op.getWeights().getType()), {T});
    Value chosen = e.alloc(cast<RankedTensorType>(op.getExperts().getType()), {T});
    if (op.getTid2eid()) {
      Value table = e.buffer(op.getTid2eid()), tokens = e.buffer(op.getTokens());
      e.loop(0, T, [&](Value t) {
        Value token = e.toIndex(e.loadRaw(tokens, t));
        e.loop(0, k, [&](Value r) {
          Value id = e.loadRaw(table, {token, r});
          e.store(b.create<arith::TruncIOp>(e.location(), b.getI32Type(), id), chosen, {t, r});
        });
      });
    } else {
      Value bias = e.buffer(op.getBias());
      Value biased = e.alloc(RankedTensorType::get({experts}, f32), {});
      Value taken = e.alloc(RankedTensorType::get({experts}, b.getI32Type()), {});
      e.loop(0, T, [&](Value t) {
        e.loop(0, experts, [&](Value i) {
          e.store(e.add(e.load(scores, {t, i}), e.load(bias, i)), biased, i);
        });
        selectTopk(e, biased, e.index(experts), k, taken, chosen, t);
      });
    }
    // Weights: the chosen unbiased scores, normalized, times route_scale.
    Value routeScale = e.f32(op.getRouteScale().convertToDouble());
    e.loop(0, T, [&](Value t) {
      auto scoreOf = [&](Value r) {
        return e.load(scores, {t, e.toIndex(e.loadRaw(chosen, {t, r}))});
      };
      Value total = e.sum(0, k, scoreOf);
      e.loop(0, k, [&](Value r) { e.store(e.mul(e.div(scoreOf(r), total), routeScale), weights, {t, r}); });
    });
    return {e.tensor(weights), e.tensor(chosen)};
  }

  /// Σ_k w2_e(weight_k · swiglu(w1_e x, w3_e x)) per token, one GEMV per (token, expert).
  SmallVector<Value> lowerOp(graph::MoeExpertsOp op, LoopEmitter &e) {
    Type f32 = e.builder().getF32Type();
    Value x = e.buffer(op.getInput()), weights = e.buffer(op.getWeights());
    Value experts = e.buffer(op.getExperts());
    WeightRef w1 = weightRef(e, op.getW1(), op.getW1Scale(), op);
    WeightRef w3 = weightRef(e, op.getW3(), op.getW3Scale(), op);
    WeightRef w2 = weightRef(e, op.getW2(), op.getW2Scale(), op);
    int64_t d = w2.rows, inter = w1.rows, k = cast<MemRefType>(weights.getType()).getDimSize(1);
    Value T = e.dim(x, 0);
    Value out = e.alloc(cast<RankedTensorType>(op.getType()), {T});
    Value gate = e.alloc(RankedTensorType::get({inter}, f32), {});
    Value up = e.alloc(RankedTensorType::get({inter}, f32), {});
    Value down = e.alloc(RankedTensorType::get({d}, f32), {});
    Value xBase = address(e, x), outBase = address(e, out);
    double limit = op.getSwigluLimit().convertToDouble();
    e.loop(0, T, [&](Value t) {
      e.loop(0, d, [&](Value c) { e.store(e.f32(0), out, {t, c}); });
      Value xRow = e.addi(xBase, e.muli(t, e.index(d * 4)));
      e.loop(0, k, [&](Value r) {
        Value expert = e.toIndex(e.loadRaw(experts, {t, r}));
        auto call = [&](const WeightRef &w, Value in, Value result) {
          gemm(e, in, e.index(1), w, e.muli(expert, e.index(w.bytesPerMatrix)),
               e.muli(expert, e.index(w.scaleBytesPerMatrix)), e.index(0), e.index(w.rows),
               quantizesActivations(op), address(e, result), e.index(w.rows));
        };
        call(w1, xRow, gate);
        call(w3, xRow, up);
        Value routing = e.load(weights, {t, r});
        e.loop(0, inter, [&](Value i) {
          e.store(swiglu(e, e.load(gate, i), e.load(up, i), limit, routing), gate, i);
        });
        call(w2, address(e, gate), down);
        e.loop(0, d, [&](Value c) { e.store(e.add(e.load(out, {t, c}), e.load(down, c)), out, {t, c}); });
      });
    });
    (void)outBase;
    return {e.tensor(out)};
  }

  struct Arenas {
    Value weights, state;
  };
  ModuleOp module;
  llvm::DenseMap<Operation *, Arenas> arenasOf;
};

} // namespace

LogicalResult lowerGraphToLoops(ModuleOp module) {
  return Lowering(module).run();
}

} // namespace v4c::cpu
