#include "runtime/npu/Arch.h"

#include "runtime/npu/ArchData.inc" // kArchSchema, kBuiltinArchs (generated from Arch.fbs, arch/*.json)
#include "runtime/npu/Arch_generated.h"

#include <flatbuffers/idl.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace v4c::npu {

namespace {
constexpr const char *kSpaceNames[kNumSpaces] = {"gm", "l1", "l0a", "l0b", "l0c", "ub"};
constexpr const char *kPipeNames[kNumPipes] = {"S", "V", "M", "MTE1", "MTE2", "MTE3", "FIX"};
constexpr const char *kDTypeNames[] = {"f32", "f16", "bf16", "s8", "s32", "f8e4m3", "f4e2m1", "e8m0"};
constexpr unsigned kDTypeBits[] = {32, 16, 16, 8, 32, 8, 4, 8};

template <typename E, size_t N>
std::optional<E> parseName(const char *const (&names)[N], const std::string &name) {
  for (size_t i = 0; i < N; ++i)
    if (name == names[i])
      return E(i);
  return std::nullopt;
}
} // namespace

const char *spaceName(Space space) { return kSpaceNames[int(space)]; }
std::optional<Space> parseSpace(const std::string &name) { return parseName<Space>(kSpaceNames, name); }
const char *pipeName(Pipe pipe) { return kPipeNames[int(pipe)]; }
std::optional<Pipe> parsePipe(const std::string &name) { return parseName<Pipe>(kPipeNames, name); }
const char *dtypeName(DType type) { return kDTypeNames[int(type)]; }
std::optional<DType> parseDType(const std::string &name) { return parseName<DType>(kDTypeNames, name); }
unsigned dtypeBits(DType type) { return kDTypeBits[int(type)]; }

const CubeFormat *Arch::cubeFormat(DType a, DType b, DType c) const {
  for (const CubeFormat &f : cube)
    if (f.a == a && f.b == b && f.c == c)
      return &f;
  return nullptr;
}
const DmaPath *Arch::dmaPath(Space src, Space dst) const {
  for (const DmaPath &p : dma)
    if (p.src == src && p.dst == dst)
      return &p;
  return nullptr;
}
const VectorCost *Arch::vectorCost(const std::string &op) const {
  for (const VectorCost &v : vector)
    if (v.op == op)
      return &v;
  return nullptr;
}

namespace {

/// Reads the verified flatbuffer into `arch`; false with `problem` set at the first hole.
bool readArch(const fb::Arch &in, Arch &arch, std::string &problem) {
  auto str = [](const flatbuffers::String *s) { return s ? s->str() : std::string(); };
  auto need = [&](bool ok, const std::string &what) {
    if (!ok && problem.empty())
      problem = what;
    return ok;
  };
  arch.name = str(in.name());
  need(!arch.name.empty(), "'name' is missing");
  arch.clockGhz = in.clock_ghz();
  arch.cubeCores = in.cube_cores();
  arch.vectorCores = in.vector_cores();
  arch.hbmGBPerSecond = in.hbm_gb_per_second();
  need(arch.clockGhz > 0 && std::isfinite(arch.clockGhz), "'clock_ghz' must be positive");
  need(arch.cubeCores > 0, "'cube_cores' must be positive");
  need(arch.vectorCores > 0 && arch.cubeCores > 0 && arch.vectorCores % arch.cubeCores == 0,
       "'vector_cores' must be a positive multiple of 'cube_cores'");
  need(arch.hbmGBPerSecond > 0 && std::isfinite(arch.hbmGBPerSecond), "'hbm_gb_per_second' must be positive");
  arch.l2Bytes = in.l2_bytes();
  arch.l2Line = in.l2_line();
  arch.l2BytesPerCycle = in.l2_bytes_per_cycle();
  need(arch.l2Line > 0 && (arch.l2Line & (arch.l2Line - 1)) == 0, "'l2_line' must be a power of two");
  need(arch.l2BytesPerCycle > 0, "'l2_bytes_per_cycle' must be positive");

  std::array<bool, kNumSpaces> seen{};
  if (in.spaces())
    for (const fb::Space *s : *in.spaces()) {
      std::optional<Space> space = parseSpace(str(s->name()));
      if (!need(space.has_value(), "unknown space '" + str(s->name()) + "' (gm l1 l0a l0b l0c ub)") ||
          !need(!seen[int(*space)], "space '" + str(s->name()) + "' is listed twice"))
        return false;
      seen[int(*space)] = true;
      arch.capacity[int(*space)] = s->bytes();
      arch.alignment[int(*space)] = s->alignment();
      uint32_t a = s->alignment();
      need(a > 0 && (a & (a - 1)) == 0, "space '" + str(s->name()) + "': 'alignment' must be a power of two");
      need(*space == Space::GM || (s->bytes() > 0 && s->bytes() <= (uint64_t(64) << 20)),
           "space '" + str(s->name()) + "': 'bytes' must be in (0, 64 MiB]");
      need(a <= 4096, "space '" + str(s->name()) + "': 'alignment' must be at most 4096");
    }
  for (int i = 0; i < kNumSpaces; ++i)
    need(seen[i], std::string("space '") + kSpaceNames[i] + "' is missing");

  if (in.cube())
    for (const fb::CubeFormat *f : *in.cube()) {
      auto a = parseDType(str(f->a())), b = parseDType(str(f->b())), c = parseDType(str(f->c()));
      if (!need(a && b && c, "cube format " + str(f->a()) + "/" + str(f->b()) + "/" + str(f->c()) +
                                 ": unknown element type"))
        return false;
      need(uint64_t(f->k0()) == 256 / dtypeBits(*a),
           "cube format " + str(f->a()) + ": 'k0' must be 32 bytes of input");
      need(f->cycles_per_fractal() > 0, "cube format " + str(f->a()) + ": 'cycles_per_fractal' must be positive");
      arch.cube.push_back({*a, *b, *c, f->k0(), f->cycles_per_fractal()});
    }
  need(!arch.cube.empty(), "'cube' lists no format");
  arch.mmadHead = in.mmad_head();
  arch.vectorRepeatBytes = in.vector_repeat_bytes();
  need(arch.vectorRepeatBytes > 0 && arch.vectorRepeatBytes % 32 == 0,
       "'vector_repeat_bytes' must be a positive multiple of 32");
  if (in.vector())
    for (const fb::VectorCost *v : *in.vector())
      arch.vector.push_back({str(v->op()), v->head(), v->slope()});
  for (const char *op : {"unary", "binary", "scalar", "exp", "div", "reduce", "convert", "copy"})
    need(arch.vectorCost(op) != nullptr, std::string("'vector' has no cost for '") + op + "'");
  if (in.dma())
    for (const fb::DmaPath *p : *in.dma()) {
      auto src = parseSpace(str(p->src())), dst = parseSpace(str(p->dst()));
      if (!need(src && dst, "dma path " + str(p->src()) + " -> " + str(p->dst()) + ": unknown space"))
        return false;
      need(p->bytes_per_cycle() > 0, "dma path " + str(p->src()) + " -> " + str(p->dst()) +
                                         ": 'bytes_per_cycle' must be positive");
      arch.dma.push_back({*src, *dst, p->bytes_per_cycle(), p->latency()});
    }
  for (auto [src, dst] : {std::pair{Space::GM, Space::L1}, std::pair{Space::GM, Space::UB},
                          std::pair{Space::UB, Space::GM}, std::pair{Space::L1, Space::L0A},
                          std::pair{Space::L1, Space::L0B}, std::pair{Space::L0C, Space::GM}})
    need(arch.dmaPath(src, dst) != nullptr, std::string("'dma' has no path ") + spaceName(src) +
                                                " -> " + spaceName(dst));
  arch.eventIds = in.event_ids();
  need(arch.eventIds >= 1 && arch.eventIds <= 16, "'event_ids' must be 1..16");
  arch.flagLatency = in.flag_latency();
  arch.barrierCycles = in.barrier_cycles();
  arch.scalarCycles = in.scalar_cycles();
  need(arch.scalarCycles > 0, "'scalar_cycles' must be positive");
  arch.launchOverheadUs = in.launch_overhead_us();
  need(arch.launchOverheadUs >= 0, "'launch_overhead_us' must not be negative");
  return problem.empty();
}

} // namespace

bool parseArch(const std::string &json, const std::string &source, Arch &arch, std::string &error) {
  flatbuffers::IDLOptions options;
  options.skip_unexpected_fields_in_json = false; // a misspelt field is an error, not a default
  flatbuffers::Parser parser(options);
  if (!parser.Parse(kArchSchema)) {
    error = "internal error: Arch.fbs does not parse: " + parser.error_;
    return false;
  }
  if (!parser.Parse(json.c_str())) {
    error = source + ": not an NPU description: " + parser.error_;
    return false;
  }
  const uint8_t *buffer = parser.builder_.GetBufferPointer();
  flatbuffers::Verifier verifier(buffer, parser.builder_.GetSize());
  if (!fb::VerifyArchBuffer(verifier)) {
    error = source + ": not an NPU description (the parsed buffer does not verify)";
    return false;
  }
  Arch result;
  std::string problem;
  if (!readArch(*fb::GetArch(buffer), result, problem)) {
    error = source + ": " + problem;
    return false;
  }
  result.description = json;
  arch = std::move(result);
  return true;
}

std::vector<std::string> builtinArchNames() {
  std::vector<std::string> names;
  for (const auto &builtin : kBuiltinArchs)
    names.push_back(builtin.name);
  return names;
}

bool builtinArch(const std::string &name, Arch &arch, std::string &error) {
  for (const auto &builtin : kBuiltinArchs)
    if (name == builtin.name)
      return parseArch(builtin.json, "built-in NPU '" + name + "'", arch, error);
  error = "unknown NPU architecture '" + name + "' (built-in:";
  for (const std::string &known : builtinArchNames())
    error += " " + known;
  error += "; or a path to a description file)";
  return false;
}

bool loadArch(const std::string &nameOrPath, Arch &arch, std::string &error) {
  if (nameOrPath.find('/') == std::string::npos && nameOrPath.find(".json") == std::string::npos)
    return builtinArch(nameOrPath, arch, error);
  std::ifstream in(nameOrPath, std::ios::binary);
  if (!in) {
    error = nameOrPath + ": cannot open the NPU description";
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parseArch(text.str(), nameOrPath, arch, error);
}

} // namespace v4c::npu
