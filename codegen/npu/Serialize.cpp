// npu-dialect kernels → kernel binaries (runtime/npu/Kernel.fbs). Index values become scalar
// registers (one per value; constants stay immediates); scf.for becomes LOOP ... END_LOOP.
#include "codegen/npu/NpuTarget.h"

#include "ir/Npu/IR/NpuOps.h"
#include "runtime/npu/Kernel_generated.h"
#include "runtime/npu/Launch.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace v4c::npu {

namespace {

/// An instruction's fields besides its operands.
struct Fields {
  fb::Space srcSpace = fb::Space::GM, dstSpace = fb::Space::GM;
  fb::DType dtype = fb::DType::F32, dtype2 = fb::DType::F32, dtype3 = fb::DType::F32;
  fb::Pipe pipe = fb::Pipe::S, pipe2 = fb::Pipe::S;
  float scale = 1.0f; // FIXPIPE
  bool relu = false;
};

class KernelWriter {
public:
  KernelWriter(flatbuffers::FlatBufferBuilder &fbb) : fbb(fbb) {}

  /// The serialized kernel, or a null offset with `error` set.
  flatbuffers::Offset<fb::Kernel> write(func::FuncOp kernel, std::string &error) {
    auto attr = kernel->getAttrOfType<DictionaryAttr>(kKernelAttr);
    auto local = kernel->getAttrOfType<DenseI64ArrayAttr>("npu.local_bytes");
    if (!local) {
      error = "kernel '" + kernel.getSymName().str() + "' has no planned buffers (run v4c-npu-plan-buffers)";
      return {};
    }
    auto names = attr.getAs<ArrayAttr>("params");
    auto scalarNames = attr.getAs<ArrayAttr>("scalars");
    for (auto [i, arg] : llvm::enumerate(kernel.getArguments())) {
      bool scalar = i >= names.size();
      instr(scalar ? fb::Opcode::SCALAR : fb::Opcode::PARAM, define(arg),
            {fb::Operand(int64_t(scalar ? i - names.size() : i), -1)});
    }
    for (Operation &op : kernel.getBody().front())
      if (failed(emit(&op))) {
        error = problem;
        return {};
      }
    if (nextRegister > 32767) {
      error = "kernel '" + kernel.getSymName().str() + "' needs more than 32767 registers";
      return {};
    }
    std::vector<flatbuffers::Offset<fb::Param>> params;
    auto bytes = attr.getAs<DenseI64ArrayAttr>("param_bytes");
    auto perUnit = attr.getAs<DenseI64ArrayAttr>("param_bytes_per_unit");
    auto outputs = attr.getAs<DenseBoolArrayAttr>("outputs");
    auto constants = attr.getAs<DictionaryAttr>("constants");
    auto unitScalars = attr.getAs<DenseI64ArrayAttr>("param_unit_scalars");
    for (size_t i = 0; i < names.size(); ++i) {
      int64_t unit = perUnit ? perUnit[i] : 0;
      int unitScalar = !unit ? -1 : unitScalars ? int(unitScalars[i]) : 0;
      StringRef name = cast<StringAttr>(names[i]).getValue();
      flatbuffers::Offset<flatbuffers::Vector<uint8_t>> data;
      if (auto table = constants ? constants.getAs<DenseArrayAttr>(name) : DenseArrayAttr())
        data = fbb.CreateVector(reinterpret_cast<const uint8_t *>(table.getRawData().data()),
                                table.getRawData().size());
      params.push_back(fb::CreateParam(fbb, fbb.CreateString(name.str()), bytes[i], outputs[i],
                                       uint64_t(unit), unitScalar, data));
    }
    std::vector<flatbuffers::Offset<flatbuffers::String>> scalars;
    if (scalarNames)
      for (Attribute name : scalarNames)
        scalars.push_back(fbb.CreateString(cast<StringAttr>(name).str()));
    std::vector<uint64_t> localBytes(local.asArrayRef().begin(), local.asArrayRef().end());
    bool cube = attr.getAs<StringAttr>("core").getValue() == "aic";
    return fb::CreateKernel(fbb, fbb.CreateString(kernel.getSymName().str()),
                            cube ? fb::CoreType::AIC : fb::CoreType::AIV,
                            uint32_t(attr.getAs<IntegerAttr>("block_dim").getInt()),
                            uint16_t(nextRegister), fbb.CreateVector(params),
                            fbb.CreateVector(scalars), fbb.CreateVector(localBytes),
                            fbb.CreateVector(code));
  }

private:
  flatbuffers::FlatBufferBuilder &fbb;
  std::vector<flatbuffers::Offset<fb::Instr>> code;
  llvm::DenseMap<Value, int> registers;
  int nextRegister = 0;
  std::string problem;

  LogicalResult fail(Operation *op, const Twine &what) {
    problem = what.str();
    op->emitError(what);
    return failure();
  }

  int define(Value v) {
    auto [it, inserted] = registers.try_emplace(v, nextRegister);
    if (inserted)
      ++nextRegister;
    return it->second; // write() refuses kernels past the format's 32767 registers
  }
  fb::Operand operand(Value v) {
    if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
      return fb::Operand(c.value(), -1);
    if (auto alloc = v.getDefiningOp<AllocOp>())
      return fb::Operand(alloc.getOffset().value_or(0), -1);
    return fb::Operand(0, int16_t(registers.lookup(v)));
  }

  void instr(fb::Opcode op, int dst, ArrayRef<fb::Operand> args, Fields f = {}) {
    std::vector<fb::Operand> list(args.begin(), args.end());
    code.push_back(fb::CreateInstr(fbb, op, int16_t(dst), fbb.CreateVectorOfStructs(list),
                                   f.srcSpace, f.dstSpace, f.dtype, f.dtype2, f.dtype3, f.pipe,
                                   f.pipe2, f.scale, f.relu));
  }
  static fb::Space space(StringRef s) { return fb::Space(int(*parseSpace(s.str()))); }
  static fb::Pipe pipe(StringRef p) {
    return p == "ALL" ? fb::Pipe::ALL : fb::Pipe(int(*parsePipe(p.str())));
  }
  LogicalResult dtype(Operation *op, Type t, fb::DType &out) {
    std::optional<DType> d = parseDType(elementTypeName(t));
    if (!d)
      return fail(op, "no kernel-binary element type for this type");
    out = fb::DType(int(*d));
    return success();
  }

  static SmallVector<Value> vectorAddresses(VBinaryOp op) {
    return {op.getDst(), op.getLhs(), op.getRhs()};
  }
  static SmallVector<Value> vectorAddresses(VUnaryOp op) { return {op.getDst(), op.getSrc()}; }
  static SmallVector<Value> vectorAddresses(VScalarOp op) { return {op.getDst(), op.getSrc()}; }
  static SmallVector<Value> vectorAddresses(VReduceOp op) { return {op.getDst(), op.getSrc()}; }

  /// The opcode of a vector op's kind (the verifier admits only these).
  template <typename Op> static fb::Opcode vectorOpcode(Op op) {
    llvm::StringRef kind = op.getKind();
    if constexpr (std::is_same_v<Op, VBinaryOp>)
      return llvm::StringSwitch<fb::Opcode>(kind)
          .Case("add", fb::Opcode::VADD).Case("sub", fb::Opcode::VSUB)
          .Case("mul", fb::Opcode::VMUL).Case("div", fb::Opcode::VDIV)
          .Case("max", fb::Opcode::VMAX).Default(fb::Opcode::VMIN);
    else if constexpr (std::is_same_v<Op, VUnaryOp>)
      return llvm::StringSwitch<fb::Opcode>(kind)
          .Case("exp", fb::Opcode::VEXP).Case("abs", fb::Opcode::VABS)
          .Case("sqrt", fb::Opcode::VSQRT).Case("recip", fb::Opcode::VRECIP)
          .Case("sin", fb::Opcode::VSIN).Case("cos", fb::Opcode::VCOS)
          .Case("log1p", fb::Opcode::VLOG1P)
          .Default(fb::Opcode::VCOPY);
    else if constexpr (std::is_same_v<Op, VScalarOp>)
      return llvm::StringSwitch<fb::Opcode>(kind)
          .Case("add", fb::Opcode::VADDS).Case("mul", fb::Opcode::VMULS)
          .Case("max", fb::Opcode::VMAXS).Default(fb::Opcode::VMINS);
    else
      return llvm::StringSwitch<fb::Opcode>(kind)
          .Case("sum", fb::Opcode::VREDUCE_SUM).Case("max", fb::Opcode::VREDUCE_MAX)
          .Default(fb::Opcode::VREDUCE_ARGMAX);
  }

  LogicalResult emit(Operation *op) {
    auto ops = [&](ValueRange values) {
      SmallVector<fb::Operand> list;
      for (Value v : values)
        list.push_back(operand(v));
      return list;
    };
    auto scalar = [&](fb::Opcode code2) {
      instr(code2, define(op->getResult(0)), ops(op->getOperands()));
      return success();
    };
    return llvm::TypeSwitch<Operation *, LogicalResult>(op)
        .Case<arith::ConstantIndexOp, AllocOp, func::ReturnOp, scf::YieldOp>(
            [](Operation *) { return success(); }) // immediates, or nothing to do
        .Case<arith::AddIOp>([&](auto) { return scalar(fb::Opcode::ADD); })
        .Case<arith::SubIOp>([&](auto) { return scalar(fb::Opcode::SUB); })
        .Case<arith::MulIOp>([&](auto) { return scalar(fb::Opcode::MUL); })
        // The binary's scalar ops are signed; the kernels' unsigned index arithmetic only ever
        // sees non-negative values (sizes, offsets, counts), on which both agree.
        .Case<arith::DivUIOp, arith::DivSIOp>([&](auto) { return scalar(fb::Opcode::DIV); })
        .Case<arith::RemUIOp, arith::RemSIOp>([&](auto) { return scalar(fb::Opcode::REM); })
        .Case<arith::MinUIOp, arith::MinSIOp>([&](auto) { return scalar(fb::Opcode::IMIN); })
        .Case<arith::MaxUIOp, arith::MaxSIOp>([&](auto) { return scalar(fb::Opcode::IMAX); })
        .Case<arith::CmpIOp>([&](arith::CmpIOp cmp) -> LogicalResult {
          if (cmp.getPredicate() != arith::CmpIPredicate::ult)
            return fail(op, "the scalar unit compares with ult only");
          return scalar(fb::Opcode::LTU);
        })
        .Case<arith::SelectOp>([&](auto) { return scalar(fb::Opcode::SEL); })
        .Case<BlockIdxOp>([&](auto) { return scalar(fb::Opcode::BLOCK_IDX); })
        .Case<BlockNumOp>([&](auto) { return scalar(fb::Opcode::BLOCK_NUM); })
        .Case<scf::ForOp>([&](scf::ForOp loop) -> LogicalResult {
          if (loop.getNumResults() != 0)
            return fail(op, "loops with results have no kernel-binary form");
          instr(fb::Opcode::LOOP, define(loop.getInductionVar()),
                ops({loop.getLowerBound(), loop.getUpperBound(), loop.getStep()}));
          for (Operation &inner : *loop.getBody())
            if (failed(emit(&inner)))
              return failure();
          instr(fb::Opcode::END_LOOP, -1, {});
          return success();
        })
        .Case<DmaOp>([&](DmaOp dma) {
          Fields f;
          f.srcSpace = space(dma.getSrcSpace());
          f.dstSpace = space(dma.getDstSpace());
          instr(fb::Opcode::DMA, -1, ops(dma->getOperands()), f);
          return success();
        })
        .Case<Nd2NzOp>([&](Nd2NzOp nd) -> LogicalResult {
          Fields f;
          f.srcSpace = fb::Space::GM;
          f.dstSpace = fb::Space::L1;
          if (failed(dtype(op, nd.getElementType(), f.dtype)))
            return failure();
          instr(fb::Opcode::ND2NZ, -1, ops(nd->getOperands()), f);
          return success();
        })
        .Case<LoadL0Op>([&](LoadL0Op load) {
          Fields f;
          f.srcSpace = fb::Space::L1;
          f.dstSpace = space(load.getDstSpace());
          instr(fb::Opcode::LOAD_L0, -1, ops(load->getOperands()), f);
          return success();
        })
        .Case<MmadOp>([&](MmadOp mmad) -> LogicalResult {
          Fields f;
          if (failed(dtype(op, mmad.getAType(), f.dtype)) ||
              failed(dtype(op, mmad.getBType(), f.dtype2)) ||
              failed(dtype(op, mmad.getCType(), f.dtype3)))
            return failure();
          instr(fb::Opcode::MMAD, -1, ops(mmad->getOperands()), f);
          return success();
        })
        .Case<FixpipeOp>([&](FixpipeOp fix) -> LogicalResult {
          Fields f;
          f.dtype3 = fb::DType::F32;
          if (failed(dtype(op, fix.getElementType(), f.dtype)))
            return failure();
          f.relu = fix.getRelu();
          if (auto scale = fix.getQuantScale())
            f.scale = scale->convertToFloat();
          instr(fb::Opcode::FIXPIPE, -1, ops(fix->getOperands()), f);
          return success();
        })
        .Case<VBinaryOp, VUnaryOp, VScalarOp, VReduceOp>([&](auto vec) -> LogicalResult {
          Fields f;
          if (failed(dtype(op, vec.getElementType(), f.dtype)))
            return failure();
          SmallVector<fb::Operand> args;
          for (Value address : vectorAddresses(vec))
            args.push_back(operand(address));
          if constexpr (std::is_same_v<decltype(vec), VScalarOp>)
            args.push_back(vec.getDynamicScalar()
                               ? operand(vec.getDynamicScalar())
                               : fb::Operand(int64_t(llvm::bit_cast<uint32_t>(
                                                 vec.getScalar().convertToFloat())),
                                             -1));
          args.push_back(operand(vec.getRepeats()));
          for (int64_t stride : vec.getBlockStrides())
            args.push_back(fb::Operand(stride, -1));
          for (int64_t stride : vec.getRepeatStrides())
            args.push_back(fb::Operand(stride, -1));
          instr(vectorOpcode(vec), -1, args, f);
          return success();
        })
        .Case<VGatherOp>([&](VGatherOp gather) {
          instr(fb::Opcode::VGATHER, -1, ops(gather->getOperands())); // f32 lanes
          return success();
        })
        .Case<IntToFloatOp>([&](auto) { return scalar(fb::Opcode::ITOF); })
        .Case<LoadScalarOp>([&](LoadScalarOp load) {
          Fields f;
          f.srcSpace = space(load.getSpace());
          instr(fb::Opcode::LDS, define(load.getBits()), {operand(load.getAddress())}, f);
          return success();
        })
        .Case<StoreScalarOp>([&](StoreScalarOp store) {
          Fields f;
          f.dstSpace = space(store.getSpace());
          instr(fb::Opcode::STS, -1, ops(store->getOperands()), f);
          return success();
        })
        .Case<SetMaskOp>([&](SetMaskOp mask) {
          instr(fb::Opcode::SET_MASK, -1, {operand(mask.getCount())});
          return success();
        })
        .Case<SetFlagOp, WaitFlagOp>([&](auto flag) {
          Fields f;
          f.pipe = pipe(flag.getSrc());
          f.pipe2 = pipe(flag.getDst());
          instr(isa<SetFlagOp>(op) ? fb::Opcode::SET_FLAG : fb::Opcode::WAIT_FLAG, -1,
                {fb::Operand(flag.getId(), -1)}, f);
          return success();
        })
        .Case<BarrierOp>([&](BarrierOp barrier) {
          Fields f;
          f.pipe = pipe(barrier.getPipe());
          instr(fb::Opcode::BARRIER, -1, {}, f);
          return success();
        })
        .Default([&](Operation *other) {
          return fail(other, "'" + other->getName().getStringRef() +
                                 "' has no kernel-binary form");
        });
  }
};

} // namespace

bool serializeKernels(ModuleOp module, flatbuffers::FlatBufferBuilder &fbb, std::string &error) {
  std::vector<flatbuffers::Offset<fb::Kernel>> kernels;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func->hasAttr(kKernelAttr))
      continue;
    KernelWriter writer(fbb);
    auto kernel = writer.write(func, error);
    if (kernel.IsNull())
      return false;
    kernels.push_back(kernel);
  }
  auto json = module->getAttrOfType<StringAttr>("npu.arch_json");
  auto library = fb::CreateKernelLibrary(fbb, fbb.CreateString(json ? json.str() : std::string()),
                                         fbb.CreateVector(kernels), V4C_NPU_ABI);
  fb::FinishKernelLibraryBuffer(fbb, library);
  return true;
}

} // namespace v4c::npu
