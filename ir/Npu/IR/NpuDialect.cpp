#include "ir/Npu/IR/NpuDialect.h"
#include "ir/Npu/IR/NpuOps.h"

#include <cmath>

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace v4c::npu;

#include "ir/Npu/IR/NpuDialect.cpp.inc"

#define GET_OP_CLASSES
#include "ir/Npu/IR/NpuOps.cpp.inc"

void NpuDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ir/Npu/IR/NpuOps.cpp.inc"
      >();
}

namespace v4c::npu {

static bool isSpace(StringRef s) {
  return llvm::is_contained({"gm", "l1", "l0a", "l0b", "l0c", "ub"}, s);
}
static bool isPipe(StringRef s, bool allowAll) {
  return llvm::is_contained({"S", "V", "M", "MTE1", "MTE2", "MTE3", "FIX"}, s) ||
         (allowAll && s == "ALL");
}

std::optional<int64_t> ArchLimits::capacityOf(StringRef space) const {
  if (auto v = capacity.getAs<IntegerAttr>(space))
    return v.getInt();
  return std::nullopt;
}
std::optional<int64_t> ArchLimits::alignmentOf(StringRef space) const {
  if (auto v = alignment.getAs<IntegerAttr>(space))
    return v.getInt();
  return std::nullopt;
}
bool ArchLimits::cubeSupports(Type a, Type b, Type c) const {
  std::string key = elementTypeName(a) + "," + elementTypeName(b) + "," + elementTypeName(c);
  return llvm::any_of(cube, [&](Attribute f) { return cast<StringAttr>(f).getValue() == key; });
}

std::optional<ArchLimits> archLimitsOf(Operation *op) {
  auto module = isa<ModuleOp>(op) ? cast<ModuleOp>(op) : op->getParentOfType<ModuleOp>();
  auto dict = module ? module->getAttrOfType<DictionaryAttr>(kArchAttr) : DictionaryAttr();
  if (!dict)
    return std::nullopt;
  ArchLimits limits;
  auto name = dict.getAs<StringAttr>("name");
  limits.capacity = dict.getAs<DictionaryAttr>("capacity");
  limits.alignment = dict.getAs<DictionaryAttr>("alignment");
  limits.cube = dict.getAs<ArrayAttr>("cube");
  auto events = dict.getAs<IntegerAttr>("event_ids");
  if (!name || !limits.capacity || !limits.alignment || !limits.cube || !events)
    return std::nullopt;
  limits.name = name.getValue();
  limits.eventIds = events.getInt();
  return limits;
}

std::string elementTypeName(Type type) {
  if (type.isF32()) return "f32";
  if (type.isF16()) return "f16";
  if (type.isBF16()) return "bf16";
  if (type.isSignlessInteger(8)) return "s8";
  if (type.isSignlessInteger(32)) return "s32";
  if (isa<Float8E4M3FNType>(type)) return "f8e4m3";
  if (isa<Float4E2M1FNType>(type)) return "f4e2m1";
  if (isa<Float8E8M0FNUType>(type)) return "e8m0";
  return "";
}

StringRef pipeOf(Operation *op) {
  if (auto dma = dyn_cast<DmaOp>(op))
    return dma.getSrcSpace() == "gm" ? "MTE2" : "MTE3";
  if (isa<Nd2NzOp>(op)) return "MTE2";
  if (isa<LoadL0Op>(op)) return "MTE1";
  if (isa<MmadOp>(op)) return "M";
  if (isa<FixpipeOp>(op)) return "FIX";
  if (isa<VBinaryOp, VUnaryOp, VScalarOp, VReduceOp, VGatherOp, SetMaskOp>(op)) return "V";
  if (auto set = dyn_cast<SetFlagOp>(op)) return set.getSrc();
  if (auto wait = dyn_cast<WaitFlagOp>(op)) return wait.getDst();
  if (auto barrier = dyn_cast<BarrierOp>(op)) return barrier.getPipe();
  return "S";
}

/// The npu.alloc an address derives from through additions of offsets, if exactly one.
static AllocOp bufferOf(Value address) {
  if (auto alloc = address.getDefiningOp<AllocOp>())
    return alloc;
  auto add = address.getDefiningOp<arith::AddIOp>();
  if (!add)
    return {};
  AllocOp lhs = bufferOf(add.getLhs()), rhs = bufferOf(add.getRhs());
  return lhs && rhs ? AllocOp() : lhs ? lhs : rhs;
}

SmallVector<BufferAccess> bufferAccesses(Operation *op, Value *untraced) {
  SmallVector<BufferAccess> accesses;
  auto add = [&](Value address, bool write) {
    if (AllocOp buffer = bufferOf(address))
      accesses.push_back({buffer, write});
    else if (untraced && !*untraced)
      *untraced = address;
  };
  if (auto dma = dyn_cast<DmaOp>(op)) {
    if (dma.getSrcSpace() != "gm")
      add(dma.getSrc(), false);
    if (dma.getDstSpace() != "gm")
      add(dma.getDst(), true);
  } else if (auto nd2nz = dyn_cast<Nd2NzOp>(op)) {
    add(nd2nz.getDst(), true);
  } else if (auto load = dyn_cast<LoadL0Op>(op)) {
    add(load.getSrc(), false);
    add(load.getDst(), true);
  } else if (auto mmad = dyn_cast<MmadOp>(op)) {
    add(mmad.getA(), false);
    add(mmad.getB(), false);
    add(mmad.getC(), false); // when accumulating
    add(mmad.getC(), true);
  } else if (auto fix = dyn_cast<FixpipeOp>(op)) {
    add(fix.getSrc(), false); // its destination is GM
  } else if (auto bin = dyn_cast<VBinaryOp>(op)) {
    add(bin.getLhs(), false);
    add(bin.getRhs(), false);
    add(bin.getDst(), true);
  } else if (auto un = dyn_cast<VUnaryOp>(op)) {
    add(un.getSrc(), false);
    add(un.getDst(), true);
  } else if (auto sc = dyn_cast<VScalarOp>(op)) {
    add(sc.getSrc(), false);
    add(sc.getDst(), true);
  } else if (auto red = dyn_cast<VReduceOp>(op)) {
    add(red.getSrc(), false);
    add(red.getDst(), true);
  } else if (auto gather = dyn_cast<VGatherOp>(op)) {
    add(gather.getSrc(), false); // lanes anywhere in the source buffer
    add(gather.getOffsets(), false);
    add(gather.getDst(), true);
  } else if (auto load = dyn_cast<LoadScalarOp>(op)) {
    if (load.getSpace() == "ub")
      add(load.getAddress(), false); // by the scalar unit: pipe S
  } else if (auto store = dyn_cast<StoreScalarOp>(op)) {
    if (store.getSpace() == "ub")
      add(store.getAddress(), true);
  }
  return accesses;
}

//===----------------------------------------------------------------------===//
// Verifiers
//===----------------------------------------------------------------------===//

LogicalResult NpuDialect::verifyOperationAttribute(Operation *op, NamedAttribute attribute) {
  if (attribute.getName() == kArchAttr) {
    if (!isa<ModuleOp>(op))
      return op->emitError() << kArchAttr << " belongs on the module";
    std::optional<ArchLimits> limits = archLimitsOf(op);
    if (!limits)
      return op->emitError() << kArchAttr
                             << " needs name, capacity, alignment, cube and event_ids";
    for (StringRef space : {"l1", "l0a", "l0b", "l0c", "ub"}) {
      std::optional<int64_t> capacity = limits->capacityOf(space), align = limits->alignmentOf(space);
      if (!capacity || !align || *capacity <= 0 || *align <= 0 || (*align & (*align - 1)))
        return op->emitError() << kArchAttr << " needs a positive capacity and a power-of-two "
                                               "alignment for "
                               << space;
    }
    return success();
  }
  if (attribute.getName() == kKernelAttr) {
    auto func = dyn_cast<func::FuncOp>(op);
    auto dict = dyn_cast<DictionaryAttr>(attribute.getValue());
    if (!func || !dict)
      return op->emitError() << kKernelAttr << " is a dictionary on a func.func";
    auto core = dict.getAs<StringAttr>("core");
    auto blocks = dict.getAs<IntegerAttr>("block_dim");
    auto params = dict.getAs<ArrayAttr>("params");
    auto bytes = dict.getAs<DenseI64ArrayAttr>("param_bytes");
    auto outputs = dict.getAs<DenseBoolArrayAttr>("outputs");
    auto perUnit = dict.getAs<DenseI64ArrayAttr>("param_bytes_per_unit");
    auto scalars = dict.getAs<ArrayAttr>("scalars");
    size_t scalarCount = scalars ? scalars.size() : 0;
    if (!core || (core.getValue() != "aic" && core.getValue() != "aiv"))
      return op->emitError() << kKernelAttr << ": core must be \"aic\" or \"aiv\"";
    if (!blocks || blocks.getInt() < 1)
      return op->emitError() << kKernelAttr << ": block_dim must be positive";
    if (!params || !bytes || !outputs || bytes.size() != int64_t(params.size()) ||
        outputs.size() != int64_t(params.size()) ||
        (perUnit && perUnit.size() != int64_t(params.size())) ||
        func.getNumArguments() != params.size() + scalarCount)
      return op->emitError() << kKernelAttr
                             << ": params, param_bytes (param_bytes_per_unit) and outputs must "
                                "give one entry per GM argument, then come the scalars";
    auto unitScalars = dict.getAs<DenseI64ArrayAttr>("param_unit_scalars");
    if (unitScalars && (!perUnit || unitScalars.size() != perUnit.size()))
      return op->emitError() << kKernelAttr
                             << ": param_unit_scalars gives one scalar per param_bytes_per_unit";
    for (size_t i = 0; perUnit && i < size_t(perUnit.size()); ++i) {
      int64_t unit = unitScalars ? unitScalars[i] : 0;
      if (perUnit[i] != 0 && (unit < 0 || unit >= int64_t(scalarCount)))
        return op->emitError() << kKernelAttr << ": param_bytes_per_unit scales param " << i
                               << "'s size by scalar " << unit << ", which is missing";
    }
    for (Type t : func.getArgumentTypes())
      if (!t.isIndex())
        return op->emitError() << "kernel arguments are GM addresses (index)";
    // Constant params: contents shipped with the kernel, read-only, of a fixed size.
    if (Attribute constants = dict.get("constants")) {
      auto tables = dyn_cast<DictionaryAttr>(constants);
      if (!tables)
        return op->emitError() << kKernelAttr << ": constants is a dictionary param -> array";
      for (NamedAttribute table : tables) {
        auto data = dyn_cast<DenseArrayAttr>(table.getValue());
        auto at = llvm::find_if(params, [&](Attribute name) {
          return cast<StringAttr>(name).getValue() == table.getName().getValue();
        });
        size_t i = size_t(at - params.begin());
        if (!data || at == params.end() || outputs[i] || bytes[i] != int64_t(data.getRawData().size()) ||
            (perUnit && perUnit[i] != 0))
          return op->emitError() << kKernelAttr << ": constant '" << table.getName().getValue()
                                 << "' must be a dense array for an input param of its fixed size";
      }
    }
    return success();
  }
  if (attribute.getName() == kLaunchAttr) {
    if (!isa<IntegerAttr, DenseI32ArrayAttr>(attribute.getValue()))
      return op->emitError() << "npu.launch is the index of an NPU kernel (an integer) or the "
                                "indices of a kernel sequence (array<i32>)";
    return success();
  }
  if (attribute.getName() == "npu.arch_json" || attribute.getName() == "npu.tiling" ||
      attribute.getName() == "npu.local_bytes")
    return success(); // the full description, and records the compiler reads back
  return op->emitError() << "unknown npu attribute " << attribute.getName();
}

static std::optional<int64_t> constantOf(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
    return c.value();
  return std::nullopt;
}

LogicalResult AllocOp::verify() {
  StringRef space = getSpace();
  if (!isSpace(space) || space == "gm")
    return emitOpError() << "space must be an on-chip buffer (l1 l0a l0b l0c ub), got '" << space
                         << "'";
  if (getBytes() <= 0)
    return emitOpError() << "needs a positive size";
  std::optional<ArchLimits> limits = archLimitsOf(*this);
  if (!limits)
    return success(); // checked once the module names its NPU
  int64_t capacity = *limits->capacityOf(space), alignment = *limits->alignmentOf(space);
  int64_t offset = getOffset().value_or(0);
  if (offset < 0 || offset + getBytes() > capacity)
    return emitOpError() << "[" << offset << ", " << offset + getBytes() << ") does not fit the "
                         << capacity << "-byte " << space << " of the " << limits->name;
  if (offset % alignment != 0)
    return emitOpError() << "offset " << offset << " is not aligned to the " << space << "'s "
                         << alignment << " bytes";
  return success();
}

LogicalResult DmaOp::verify() {
  StringRef src = getSrcSpace(), dst = getDstSpace();
  bool in = src == "gm" && (dst == "l1" || dst == "ub"), out = dst == "gm" && src == "ub";
  if (!in && !out)
    return emitOpError() << "moves gm to l1/ub or ub to gm, not " << src << " to " << dst;
  return success();
}

LogicalResult LoadL0Op::verify() {
  if (getDstSpace() != "l0a" && getDstSpace() != "l0b")
    return emitOpError() << "loads l0a or l0b, not " << getDstSpace();
  return success();
}

LogicalResult MmadOp::verify() {
  for (Type t : {getAType(), getBType(), getCType()})
    if (elementTypeName(t).empty())
      return emitOpError() << "operand type " << t << " is not a cube element type";
  std::optional<ArchLimits> limits = archLimitsOf(*this);
  if (limits && !limits->cubeSupports(getAType(), getBType(), getCType()))
    return emitOpError() << "the " << limits->name << " cube has no " << getAType() << " x "
                         << getBType() << " -> " << getCType() << " mode";
  for (Value dim : {getM(), getK(), getN()})
    if (std::optional<int64_t> v = constantOf(dim); v && (*v < 0 || *v > 4095))
      return emitOpError() << "m, k and n must be in [0, 4095], got " << *v;
  // A tile of known size must fit the buffers it is read from and written to.
  auto m = constantOf(getM()), k = constantOf(getK()), n = constantOf(getN());
  int64_t bits = getAType().getIntOrFloatBitWidth(), k0 = 256 / bits;
  if (m && k && n) {
    int64_t m1 = (*m + 15) / 16, k1 = (*k + k0 - 1) / k0, n1 = (*n + 15) / 16;
    for (auto [address, bytes, what] :
         {std::tuple{getA(), m1 * k1 * 512, "A"}, std::tuple{getB(), k1 * n1 * 512, "B"},
          std::tuple{getC(), m1 * n1 * 1024, "C"}})
      if (AllocOp buffer = bufferOf(address); buffer && buffer.getBytes() < bytes)
        return emitOpError() << "the " << what << " tile needs " << bytes << " bytes; its "
                             << buffer.getSpace() << " buffer has " << buffer.getBytes();
  }
  return success();
}

/// The kinds and operand count (for the strides) of each vector op.
template <typename Op>
static LogicalResult verifyVector(Op op, std::initializer_list<llvm::StringLiteral> kinds,
                                  size_t strided) {
  if (!llvm::is_contained(kinds, op.getKind()))
    return op.emitOpError() << "has no kind '" << op.getKind() << "'";
  Type t = op.getElementType();
  if (!t.isF32() && !t.isF16() && !t.isBF16())
    return op.emitOpError() << "computes on f32, f16 or bf16, not " << t;
  if (op.getBlockStrides().size() != strided || op.getRepeatStrides().size() != strided)
    return op.emitOpError() << "needs " << strided << " block and repeat strides";
  for (int64_t stride : llvm::concat<const int64_t>(op.getBlockStrides(), op.getRepeatStrides()))
    if (stride < 0)
      return op.emitOpError() << "strides must not be negative";
  return success();
}
LogicalResult VBinaryOp::verify() {
  return verifyVector(*this, {"add", "sub", "mul", "div", "max", "min"}, 3);
}
LogicalResult VUnaryOp::verify() {
  return verifyVector(*this, {"exp", "abs", "sqrt", "recip", "copy", "sin", "cos", "log1p"}, 2);
}
LogicalResult VScalarOp::verify() { return verifyVector(*this, {"add", "mul", "max", "min"}, 2); }
LogicalResult VReduceOp::verify() {
  if (getKind() == "argmax" && !getElementType().isF32())
    return emitOpError() << "argmax reduces f32 lanes";
  return verifyVector(*this, {"sum", "max", "argmax"}, 1);
}

LogicalResult FixpipeOp::verify() {
  Type t = getElementType();
  bool quantized = t.isSignlessInteger(8);
  if (!t.isF32() && !t.isBF16() && !t.isF16() && !quantized)
    return emitOpError() << "writes f32, bf16, f16 or i8 (quantized), not " << t;
  if (quantized != bool(getQuantScale()))
    return emitOpError() << "quantizes (quantScale) exactly when it writes i8";
  if (getQuantScale() && !std::isfinite(getQuantScale()->convertToFloat()))
    return emitOpError() << "needs a finite quantScale";
  return success();
}

LogicalResult LoadScalarOp::verify() {
  if (getSpace() != "ub" && getSpace() != "gm")
    return emitOpError() << "reads UB or GM, not " << getSpace();
  return success();
}
LogicalResult StoreScalarOp::verify() {
  if (getSpace() != "ub" && getSpace() != "gm")
    return emitOpError() << "writes UB or GM, not " << getSpace();
  return success();
}

static LogicalResult verifyFlag(Operation *op, StringRef src, StringRef dst, int64_t id) {
  if (!isPipe(src, false) || !isPipe(dst, false) || src == dst)
    return op->emitOpError() << "connects two different pipes (S V M MTE1 MTE2 MTE3 FIX), got "
                             << src << " -> " << dst;
  std::optional<ArchLimits> limits = archLimitsOf(op);
  if (id < 0 || (limits && id >= limits->eventIds))
    return op->emitOpError() << "event id " << id << " is out of range"
                             << (limits ? " for the " + limits->name.str() : std::string());
  return success();
}
LogicalResult SetFlagOp::verify() { return verifyFlag(*this, getSrc(), getDst(), getId()); }
LogicalResult WaitFlagOp::verify() { return verifyFlag(*this, getSrc(), getDst(), getId()); }

} // namespace v4c::npu
