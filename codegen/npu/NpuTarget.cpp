#include "codegen/npu/NpuTarget.h"

#include "ir/Npu/IR/NpuOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace v4c::npu {

DictionaryAttr archAttr(MLIRContext *context, const Arch &arch) {
  Builder b(context);
  SmallVector<NamedAttribute> capacity, alignment;
  for (int s = 1; s < kNumSpaces; ++s) {
    capacity.push_back(b.getNamedAttr(spaceName(Space(s)), b.getI64IntegerAttr(arch.capacity[s])));
    alignment.push_back(b.getNamedAttr(spaceName(Space(s)), b.getI64IntegerAttr(arch.alignment[s])));
  }
  SmallVector<Attribute> cube;
  for (const CubeFormat &f : arch.cube)
    cube.push_back(b.getStringAttr(std::string(dtypeName(f.a)) + "," + dtypeName(f.b) + "," +
                                   dtypeName(f.c)));
  return b.getDictionaryAttr({
      b.getNamedAttr("name", b.getStringAttr(arch.name)),
      b.getNamedAttr("capacity", b.getDictionaryAttr(capacity)),
      b.getNamedAttr("alignment", b.getDictionaryAttr(alignment)),
      b.getNamedAttr("cube", b.getArrayAttr(cube)),
      b.getNamedAttr("event_ids", b.getI64IntegerAttr(arch.eventIds)),
  });
}

void setModuleArch(ModuleOp module, const Arch &arch) {
  module->setAttr(kArchAttr, archAttr(module.getContext(), arch));
  module->setAttr("npu.arch_json", StringAttr::get(module.getContext(), arch.description));
}

bool moduleArch(ModuleOp module, Arch &arch, std::string &error) {
  auto json = module->getAttrOfType<StringAttr>("npu.arch_json");
  if (!json) {
    error = "the module names no NPU (npu.arch_json)";
    return false;
  }
  return parseArch(json.str(), "the module's npu.arch_json", arch, error);
}

//===----------------------------------------------------------------------===//
// GEMM tiling
//===----------------------------------------------------------------------===//

static int64_t roundUp(int64_t v, int64_t to) { return (v + to - 1) / to * to; }
static int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static std::optional<DType> dtypeOf(Type type) {
  return parseDType(elementTypeName(type));
}

std::string checkGemmTiling(const Arch &arch, const GemmShape &shape, const GemmTiling &t) {
  std::optional<DType> in = dtypeOf(shape.inputType);
  if (!in || !arch.cubeFormat(*in, *in, DType::F32))
    return "the " + arch.name + " cube has no " + elementTypeName(shape.inputType) + " x " +
           elementTypeName(shape.inputType) + " -> f32 mode";
  int64_t bits = dtypeBits(*in), k0 = 256 / bits;
  if (t.mt <= 0 || t.nt <= 0 || t.kt <= 0 || t.mt % 16 || t.nt % 16 || t.kt % k0 ||
      t.kt1 < t.kt || t.kt1 % t.kt)
    return "tiles must be positive, mt and nt multiples of 16, kt a multiple of " +
           std::to_string(k0) + " and kt1 a multiple of kt";
  auto bytes = [&](int64_t rows, int64_t cols) { return rows * cols * bits / 8; };
  auto over = [&](Space s, int64_t need) -> std::string {
    if (need <= int64_t(arch.capacity[int(s)]))
      return "";
    return std::string(spaceName(s)) + " needs " + std::to_string(need) + " bytes, the " +
           arch.name + " has " + std::to_string(arch.capacity[int(s)]);
  };
  for (std::string problem :
       {over(Space::L1, 2 * (bytes(t.mt, t.kt1) + bytes(t.nt, t.kt1))),
        over(Space::L0A, 2 * bytes(t.mt, t.kt)), over(Space::L0B, 2 * bytes(t.nt, t.kt)),
        over(Space::L0C, t.mt * t.nt * 4)})
    if (!problem.empty())
      return "tiles " + std::to_string(t.mt) + "x" + std::to_string(t.nt) + "x" +
             std::to_string(t.kt1) + "/" + std::to_string(t.kt) + ": " + problem;
  if (t.blockDim < 1 || t.blockDim > int64_t(arch.cubeCores))
    return "block_dim must be in [1, " + std::to_string(arch.cubeCores) + "]";
  return "";
}

GemmTiling chooseGemmTiling(const Arch &arch, const GemmShape &shape) {
  std::optional<DType> in = dtypeOf(shape.inputType);
  int64_t k0 = in ? 256 / dtypeBits(*in) : 8;
  int64_t cores = arch.cubeCores;
  GemmTiling best;
  double bestScore = -1;
  for (int64_t mt : {256, 128, 64, 32, 16})
    for (int64_t nt : {256, 128, 64, 32, 16}) {
      if (mt > roundUp(shape.m, 16) && mt > 16)
        continue;
      if (nt > roundUp(shape.n, 16) && nt > 16)
        continue;
      // The longest K step that fits L0, then the longest L1 chunk of up to four steps.
      for (int64_t kt = roundUp(std::min<int64_t>(shape.k, 1024), k0); kt >= k0; kt -= k0) {
        int64_t tiles = ceilDiv(shape.m, mt) * ceilDiv(shape.n, nt);
        GemmTiling t{mt, nt, kt, kt, std::min(tiles, cores)};
        if (!checkGemmTiling(arch, shape, t).empty())
          continue;
        for (int64_t steps = std::min<int64_t>(4, ceilDiv(shape.k, kt)); steps > 1; --steps) {
          GemmTiling longer = t;
          longer.kt1 = steps * kt;
          if (checkGemmTiling(arch, shape, longer).empty()) {
            t = longer;
            break;
          }
        }
        // Useful area per tile, discounted by idle cores in the last wave, then longer K steps.
        double waves = double(ceilDiv(tiles, cores));
        double useful = double(std::min(shape.m, mt)) * std::min(shape.n, nt);
        double score = useful * tiles / (waves * cores) * 1e6 + double(kt);
        if (score > bestScore) {
          bestScore = score;
          best = t;
        }
        break;
      }
    }
  return best;
}

} // namespace v4c::npu
