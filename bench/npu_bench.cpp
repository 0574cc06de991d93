// The NPU target in the cycle model (runtime/npu/Simulator.h): GEMM kernels compiled by
// codegen/npu for the 910B-like and 950-like descriptions, simulated in timing-only mode.
// For each shape: simulated time, cube utilization (useful multiply-add cycles over the cycles
// of the cores used), and the fraction of the chip's roofline reached: the roofline time is
// max(FLOPs / cube peak over all cores, bytes / HBM bandwidth) for the same arch and format.
// Then one V4-Flash decoder layer's decode step (one token), GEMMs only (attention
// projections, indexer and compressor projections, MoE gate, shared expert and the 6 routed
// experts as dense GEMVs): the sum of its kernels' simulated times next to the same roofline,
// with and without the per-launch overhead; and the same step with every kernel v4c compiles
// for it (vector kernels, attention, the MoE route/grouped GEMM/combine path). On the 910B every weight streams as bf16 (its cube format
// for DeepSeek's FP8/FP4 after vector dequantization, which is not simulated yet); on the 950
// as FP8 (the FP4 experts too: the simulator's ND→NZ does not move FP4 yet).
//
//   v4c-bench-npu [--json F]
#include "codegen/npu/NpuTarget.h"
#include "ir/InitAllDialects.h"
#include "ir/Npu/IR/NpuOps.h"
#include "runtime/npu/Kernel_generated.h"
#include "runtime/npu/Simulator.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

using namespace v4c::npu;

namespace {

llvm::cl::OptionCategory benchCategory("v4c-bench-npu options");
llvm::cl::opt<std::string> jsonPath("json", llvm::cl::desc("Also write the results as JSON"),
                                    llvm::cl::value_desc("file"), llvm::cl::cat(benchCategory));
llvm::cl::opt<std::string> onlyShape("shape", llvm::cl::desc("Run only this GEMM: m,n,k"),
                                     llvm::cl::value_desc("m,n,k"), llvm::cl::cat(benchCategory));
llvm::cl::opt<std::string> tracePath("npu-trace",
                                     llvm::cl::desc("Chrome-trace timeline of the runs (with --shape)"),
                                     llvm::cl::value_desc("file"), llvm::cl::cat(benchCategory));
Trace trace;
double traceEndUs = 0; // runs follow each other on the trace

struct Row {
  std::string arch, type;
  int64_t m, n, k;
  GemmTiling tiling;
  double us, utilization, rooflineUs;
};

bool runGemm(mlir::MLIRContext &context, const Arch &arch, mlir::Type type, int64_t m, int64_t n,
             int64_t k, Row &row, std::string &error) {
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  setModuleArch(*module, arch);
  mlir::Builder b(&context);
  // Outputs as a model stores them: bf16 activations from bf16/FP8 products, f32 from f32 ones.
  GemmShape shape{m, n, k, type, type.isF32() ? type : b.getBF16Type()};
  GemmTiling tiling = chooseGemmTiling(arch, shape);
  if (std::string problem = checkGemmTiling(arch, shape, tiling); !problem.empty()) {
    error = problem;
    return false;
  }
  auto kernel = buildGemmKernel(*module, "gemm", shape, tiling);
  if (mlir::failed(insertSync(kernel)) || mlir::failed(planBuffers(kernel))) {
    error = "the kernel did not compile";
    return false;
  }
  flatbuffers::FlatBufferBuilder fbb;
  if (!serializeKernels(*module, fbb, error))
    return false;
  const fb::Kernel *binary = fb::GetKernelLibrary(fbb.GetBufferPointer())->kernels()->Get(0);
  int64_t bits = type.getIntOrFloatBitWidth();
  std::vector<GmBinding> params = {{nullptr, uint64_t(m * k * bits / 8)},
                                   {nullptr, uint64_t(n * k * bits / 8)},
                                   {nullptr, uint64_t(m * n * 4)}};
  SimOptions options;
  options.functional = false;
  options.checkRaces = false;
  if (!tracePath.empty())
    options.trace = &trace;
  options.startUs = traceEndUs;
  LaunchStats stats;
  if (!simulate(arch, *binary, params, {}, options, stats, error))
    return false;
  traceEndUs += stats.microseconds;
  std::optional<DType> dtype = parseDType(elementTypeName(type));
  const CubeFormat *format = arch.cubeFormat(*dtype, *dtype, DType::F32);
  double flopsPerCycle = 2.0 * 16 * 16 * format->k0 / format->cyclesPerFractal * arch.cubeCores;
  double peakFlops = flopsPerCycle * arch.clockGhz * 1e9;
  double bytes = double(m * k + n * k) * bits / 8 +
                 double(m * n) * (shape.outputType.isF32() ? 4 : 2);
  double rooflineUs = std::max(2.0 * m * n * k / peakFlops, bytes / (arch.hbmGBPerSecond * 1e9)) * 1e6;
  row = {arch.name, elementTypeName(type), m, n, k, tiling, stats.microseconds,
         stats.cubeUtilization(), rooflineUs};
  return true;
}

/// A GM buffer the kernels below read to steer their control flow (positions, indices,
/// routing tables); every other buffer stays unbound in the timing-only runs.
struct Bound {
  size_t param;
  std::vector<uint8_t> *data;
};

/// One kernel of the decode step: what `build` appends, launched `count` times.
struct StepKernel {
  const char *what;
  int64_t count;
  std::function<void(mlir::ModuleOp)> build;
  std::vector<Bound> bound;
  std::vector<int64_t> scalars;
};

/// Compiles and simulates one step kernel (timing only; the scalar unit reads bound buffers).
bool runStepKernel(mlir::MLIRContext &context, const Arch &arch, const StepKernel &step,
                   LaunchStats &stats, std::string &error) {
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
  setModuleArch(*module, arch);
  step.build(*module);
  auto kernel = *module->getOps<mlir::func::FuncOp>().begin();
  if (mlir::failed(insertSync(kernel)) || mlir::failed(planBuffers(kernel))) {
    error = std::string(step.what) + ": the kernel did not compile";
    return false;
  }
  flatbuffers::FlatBufferBuilder fbb;
  if (!serializeKernels(*module, fbb, error))
    return false;
  const fb::Kernel *binary = fb::GetKernelLibrary(fbb.GetBufferPointer())->kernels()->Get(0);
  size_t scalarCount = binary->scalars() ? binary->scalars()->size() : 0;
  std::vector<int64_t> scalars(step.scalars.begin(),
                               step.scalars.begin() + std::min(scalarCount, step.scalars.size()));
  std::vector<GmBinding> params;
  for (size_t i = 0; i < binary->params()->size(); ++i) {
    uint64_t bytes = paramBytes(*binary, i, scalars);
    params.push_back(isConstant(*binary, i) ? constantBinding(*binary, i) : GmBinding{nullptr, bytes});
    for (const Bound &b : step.bound)
      if (b.param == i) {
        b.data->resize(std::max<size_t>(b.data->size(), bytes));
        params.back().data = b.data->data();
      }
  }
  SimOptions options;
  options.functional = false;
  options.checkRaces = false;
  if (!simulate(arch, *binary, params, scalars, options, stats, error)) {
    error = std::string(step.what) + ": " + error;
    return false;
  }
  return true;
}

template <typename T> std::vector<uint8_t> bytesOf(const std::vector<T> &values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

/// One CSA layer of V4-Flash (tests/data/configs/deepseek-v4-flash.json) decoding one token at
/// position 4095 (a 4096-token context): every kernel v4c compiles for it, GEMMs in `type`,
/// vector kernels in f32. Prints the kernels by time and the total against the roofline.
bool estimateLayer(mlir::MLIRContext &context, const Arch &arch, mlir::Type type,
                   std::vector<Row> &rows) {
  mlir::Builder b(&context);
  mlir::Type out = type.isF32() ? type : b.getBF16Type();
  const int64_t D = 4096, heads = 64, hd = 512, window = 128, topk = 512, tokens = 4096;
  const int64_t entries = tokens / 4, experts = 256, k = 6, inter = 2048, n = 4;
  auto gemm = [&](int64_t N, int64_t K, int64_t batches = 1, int64_t moeExperts = 0) {
    return [=](mlir::ModuleOp m) {
      GemmShape shape{16, N, K, type, out, true, moeExperts, batches};
      buildGemmKernel(m, "gemm", shape, chooseGemmTiling(arch, shape));
    };
  };
  std::vector<uint8_t> position = bytesOf(std::vector<int64_t>{tokens - 1});
  std::vector<int32_t> picks(topk);
  for (int64_t i = 0; i < topk; ++i)
    picks[i] = int32_t(i * 2);
  std::vector<uint8_t> indices = bytesOf(picks), ids = bytesOf(std::vector<int32_t>{3, 40, 77, 120, 181, 250});
  std::vector<uint8_t> route, empty;
  AttentionShape attention{heads, hd, window, 4, AttentionShape::kIndexed, topk, 0.044};
  double scale = 1.0, hcEps = 1e-6, eps = 1e-6;
  unsigned vec = arch.vectorCores;
  std::vector<StepKernel> steps = {
      {"hc_pre mixes (GEMM)", 2, gemm((2 + n) * n, n * D), {}, {1}},
      {"hc_pre", 2, [&](mlir::ModuleOp m) { buildHcMixKernel(m, "k", n, D, false, 20, hcEps, eps, vec); }, {}, {1, 1}},
      {"rms_norm 4096", 2, [&](mlir::ModuleOp m) { buildRmsNormKernel(m, "k", D, true, eps, vec); }, {}, {1, 1}},
      {"wq_a, wkv (GEMM)", 1, gemm(1024 + hd, D), {}, {1}},
      {"rms_norm q, kv", 2, [&](mlir::ModuleOp m) { buildRmsNormKernel(m, "k", 1024, true, eps, vec); }, {}, {1, 1}},
      {"wq_b (GEMM)", 1, gemm(heads * hd, 1024), {}, {1}},
      {"rms_norm q heads", 1, [&](mlir::ModuleOp m) { buildRmsNormKernel(m, "k", hd, false, eps, vec); }, {}, {heads, 1}},
      {"rope q, k, o (inverse: the same work)", 3, [&](mlir::ModuleOp m) {
         buildRopeKernel(m, "k", heads, hd, std::vector<float>(32, 0.01f), false, vec); }, {{1, &position}}, {heads, 1}},
      {"compressor wkv+wgate (GEMM)", 2, gemm(2 * hd, D), {}, {1}},
      {"compressor pool", 1, [&](mlir::ModuleOp m) { buildCompressorPoolKernel(m, "k", 4, 2 * hd, true); }, {{3, &position}}, {1, 1, 1}},
      {"kv_append", 1, [&](mlir::ModuleOp m) { buildKvAppendKernel(m, "k", hd, entries, vec); }, {}, {1, 1, entries}},
      {"indexer compressor (GEMM)", 2, gemm(2 * 128, D), {}, {1}},
      {"indexer compressor pool", 1, [&](mlir::ModuleOp m) { buildCompressorPoolKernel(m, "k", 4, 256, true); }, {{3, &position}}, {1, 1, 1}},
      {"indexer kv_append", 1, [&](mlir::ModuleOp m) { buildKvAppendKernel(m, "k", 128, entries, vec); }, {}, {1, 1, entries}},
      {"indexer wq_b, weights (GEMM)", 1, gemm(heads * 128 + heads, 1024), {}, {1}},
      {"indexer rope", 1, [&](mlir::ModuleOp m) {
         buildRopeKernel(m, "k", heads, 128, std::vector<float>(32, 0.01f), false, vec); }, {{1, &position}}, {heads, 1}},
      {"indexer hadamard", 1, [&](mlir::ModuleOp m) { buildHadamardKernel(m, "k", 128, vec); }, {}, {heads, 1}},
      {"index_topk scores", 1, [&](mlir::ModuleOp m) { buildIndexScoreKernel(m, "k", heads, 128, entries, 4, scale, vec); }, {{3, &position}}, {1, 1, entries}},
      {"index_topk selection", 1, [&](mlir::ModuleOp m) { buildIndexSelectKernel(m, "k", entries, topk, 4, vec); }, {{1, &position}}, {1, 1, entries}},
      {"attention (window + 512 picks)", 1, [&](mlir::ModuleOp m) { buildAttentionKernel(m, "k", attention, vec); }, {{2, &position}, {6, &indices}}, {1, 1, entries}},
      {"kv ring update", 1, [&](mlir::ModuleOp m) { buildRingUpdateKernel(m, "k", hd, window, vec); }, {{1, &position}}, {1, 1}},
      {"wo_a (batched GEMM, 8 groups)", 1, gemm(1024, heads * hd / 8, 8), {}, {1}},
      {"wo_b (GEMM)", 1, gemm(D, 8 * 1024), {}, {1}},
      {"hc_post", 2, [&](mlir::ModuleOp m) { buildHcPostKernel(m, "k", n, D, vec); }, {}, {1, 1}},
      {"gate (GEMM)", 1, gemm(experts, D), {}, {1}},
      {"router", 1, [&](mlir::ModuleOp m) { buildMoeGateKernel(m, "k", experts, k, 1.5, true, 0, 0, 4, vec); }, {}, {1, 1}},
      {"moe route", 1, [&](mlir::ModuleOp m) { buildMoeRouteKernel(m, "k", experts, k, D, 16); }, {{0, &ids}, {3, &route}}, {k, 1}},
      {"routed w1, w3 (grouped GEMM)", 2, gemm(inter, D, 1, experts), {{2, &route}}, {k, 1}},
      {"routed swiglu", 1, [&](mlir::ModuleOp m) { buildSwigluKernel(m, "k", inter, 10.0, vec, true); }, {{2, &route}}, {k, 1}},
      {"routed w2 (grouped GEMM)", 1, gemm(D, inter, 1, experts), {{2, &route}}, {k, 1}},
      {"moe combine", 1, [&](mlir::ModuleOp m) { buildMoeCombineKernel(m, "k", k, D, vec); }, {{1, &route}}, {k, 1}},
      {"shared w1, w3 (GEMM)", 1, gemm(2 * inter, D), {}, {1}},
      {"shared swiglu", 1, [&](mlir::ModuleOp m) { buildSwigluKernel(m, "k", inter, 10.0, vec); }, {}, {1, 1}},
      {"shared w2 (GEMM)", 1, gemm(D, inter), {}, {1}},
  };
  double totalUs = 0, gemmUs = 0, launches = 0;
  std::vector<std::pair<double, std::string>> byTime;
  for (const StepKernel &step : steps) {
    LaunchStats stats;
    std::string error;
    if (!runStepKernel(context, arch, step, stats, error)) {
      std::fprintf(stderr, "v4c-bench-npu: %s\n", error.c_str());
      return false;
    }
    double us = stats.microseconds * double(step.count);
    totalUs += us;
    launches += double(step.count);
    if (std::strstr(step.what, "GEMM"))
      gemmUs += us;
    byTime.push_back({us, step.what});
  }
  // Roofline: the weights this token reads once (its 6 experts of 256), the candidates' KV
  // rows (f32), and the multiply-adds at the cube's peak.
  std::optional<DType> dtype = parseDType(elementTypeName(type));
  const CubeFormat *format = arch.cubeFormat(*dtype, *dtype, DType::F32);
  double weightElements = double((2 + n) * n * n * D * 2 + (1024 + hd) * D + heads * hd * 1024 +
                                 2 * hd * D + 256 * D + (heads * 128 + heads) * 1024 +
                                 heads * hd * 1024 + D * 8 * 1024 + experts * D +
                                 3 * (k + 1) * inter * D);
  double bytes = weightElements * type.getIntOrFloatBitWidth() / 8 +
                 double((window + topk) * hd + entries * 128) * 4;
  double peak = 2.0 * 16 * 16 * format->k0 / format->cyclesPerFractal * arch.cubeCores *
                arch.clockGhz * 1e9;
  double rooflineUs = std::max(2 * weightElements / peak, bytes / (arch.hbmGBPerSecond * 1e9)) * 1e6;
  double overheadUs = launches * arch.launchOverheadUs;
  std::sort(byTime.rbegin(), byTime.rend());
  std::printf("V4-Flash CSA layer decode step on %s (%s weights), every kernel: %.1f us "
              "simulated (%.0f launches; GEMMs %.1f us, vector kernels %.1f us), roofline %.1f "
              "us: %.1f%%; without launch overhead %.1f us: %.1f%%\n",
              arch.name.c_str(), elementTypeName(type).c_str(), totalUs, launches, gemmUs,
              totalUs - gemmUs, rooflineUs, 100 * rooflineUs / totalUs, totalUs - overheadUs,
              100 * rooflineUs / (totalUs - overheadUs));
  std::printf("  longest:");
  for (size_t i = 0; i < 5 && i < byTime.size(); ++i)
    std::printf("%s %s %.1f us", i ? ";" : "", byTime[i].second.c_str(), byTime[i].first);
  std::printf("\n");
  rows.push_back({arch.name + " v4-flash-layer-all", elementTypeName(type), 1, 0, 0, {}, totalUs,
                  0, rooflineUs});
  return true;
}

} // namespace

int main(int argc, char **argv) {
  llvm::cl::HideUnrelatedOptions(benchCategory);
  llvm::cl::ParseCommandLineOptions(argc, argv, "v4c-bench-npu: NPU GEMM kernels in the cycle model\n");
  mlir::DialectRegistry registry;
  v4c::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  mlir::Builder b(&context);

  struct Config {
    const char *arch;
    mlir::Type type;
  };
  std::vector<Config> configs = {{"910b", b.getBF16Type()}, {"910b", b.getF32Type()},
                                 {"950", b.getType<mlir::Float8E4M3FNType>()}};
  // Decode GEMVs (m = 1) of V4-Flash's sizes, then batches up to large square-ish GEMMs.
  std::vector<std::array<int64_t, 3>> shapes = {
      {1, 4096, 4096}, {1, 1024, 4096}, {16, 4096, 4096}, {128, 4096, 4096},
      {512, 4096, 4096}, {1024, 4096, 4096}, {2048, 4096, 7168}, {4096, 4096, 4096}};
  if (!onlyShape.empty()) {
    long m, n, k;
    if (std::sscanf(onlyShape.c_str(), "%ld,%ld,%ld", &m, &n, &k) != 3 || m < 1 || n < 1 || k < 1) {
      std::fprintf(stderr, "v4c-bench-npu: --shape wants m,n,k (positive), got '%s'\n",
                   onlyShape.c_str());
      return 1;
    }
    shapes = {{m, n, k}};
  }
  std::vector<Row> rows;
  std::printf("%-5s %-7s %5s %5s %5s  %-20s %11s %8s %10s %9s\n", "arch", "type", "m", "n", "k",
              "tiles mt,nt,kt1,kt/b", "time us", "cube", "roof us", "of roof");
  for (const Config &config : configs) {
    Arch arch;
    std::string error;
    if (!builtinArch(config.arch, arch, error)) {
      std::fprintf(stderr, "v4c-bench-npu: %s\n", error.c_str());
      return 1;
    }
    for (auto [m, n, k] : shapes) {
      Row row;
      if (!runGemm(context, arch, config.type, m, n, k, row, error)) {
        std::fprintf(stderr, "v4c-bench-npu: %s %ldx%ldx%ld: %s\n", config.arch, long(m), long(n),
                     long(k), error.c_str());
        return 1;
      }
      char tiles[48];
      std::snprintf(tiles, sizeof tiles, "%ld,%ld,%ld,%ld/%ld", long(row.tiling.mt),
                    long(row.tiling.nt), long(row.tiling.kt1), long(row.tiling.kt),
                    long(row.tiling.blockDim));
      std::printf("%-5s %-7s %5ld %5ld %5ld  %-20s %11.1f %7.1f%% %10.1f %8.1f%%\n",
                  row.arch.c_str(), row.type.c_str(), long(m), long(n), long(k), tiles, row.us,
                  100 * row.utilization, row.rooflineUs, 100 * row.rooflineUs / row.us);
      std::fflush(stdout);
      rows.push_back(row);
    }
  }
  if (onlyShape.empty()) {
    // V4-Flash (tests/data/configs/deepseek-v4-flash.json): hidden 4096, q_lora 1024, 64 heads
    // x 512, one KV head of 512, o_groups 8 x o_lora 1024, indexer 64 heads x 128, 256 routed
    // experts (6 per token) and 1 shared of 2048.
    struct Gemm {
      const char *what;
      int64_t n, k, count;
    };
    std::vector<Gemm> layer = {
        {"wq_a", 1024, 4096, 1},         {"wq_b", 64 * 512, 1024, 1},
        {"wkv", 512, 4096, 1},           {"wo_a (8 groups)", 1024, 4096, 8},
        {"wo_b", 4096, 8192, 1},         {"indexer wq_b", 64 * 128, 1024, 1},
        {"indexer weights", 64, 4096, 1}, {"compressor wkv+wgate", 1024, 4096, 2},
        {"moe gate", 256, 4096, 1},      {"shared w1,w3", 2048, 4096, 2},
        {"shared w2", 4096, 2048, 1},    {"routed w1,w3 (6 experts)", 2048, 4096, 12},
        {"routed w2 (6 experts)", 4096, 2048, 6}};
    for (const Config &config : {configs[0], configs[2]}) {
      Arch arch;
      std::string error;
      if (!builtinArch(config.arch, arch, error))
        return 1;
      double us = 0, roofUs = 0, launches = 0;
      for (const Gemm &g : layer) {
        Row row;
        if (!runGemm(context, arch, config.type, 1, g.n, g.k, row, error)) {
          std::fprintf(stderr, "v4c-bench-npu: %s: %s\n", g.what, error.c_str());
          return 1;
        }
        us += row.us * g.count;
        roofUs += row.rooflineUs * g.count;
        launches += g.count;
      }
      double overheadUs = launches * arch.launchOverheadUs;
      std::printf("V4-Flash layer decode GEMMs on %s (%s weights): %.1f us simulated (%.0f "
                  "launches), roofline %.1f us: %.1f%%; without launch overhead %.1f us: %.1f%%\n",
                  config.arch, elementTypeName(config.type).c_str(), us, launches, roofUs,
                  100 * roofUs / us, us - overheadUs, 100 * roofUs / (us - overheadUs));
      rows.push_back({std::string(config.arch) + " v4-flash-layer", elementTypeName(config.type),
                      1, 0, 0, {}, us, 0, roofUs});
    }
  }
  if (onlyShape.empty())
    for (const Config &config : {configs[0], configs[2]}) {
      Arch arch;
      std::string error;
      if (!builtinArch(config.arch, arch, error) || !estimateLayer(context, arch, config.type, rows))
        return 1;
    }
  if (!tracePath.empty()) {
    std::string error;
    if (!trace.write(tracePath, error)) {
      std::fprintf(stderr, "v4c-bench-npu: %s\n", error.c_str());
      return 1;
    }
  }
  if (!jsonPath.empty()) {
    std::ofstream out(jsonPath);
    out << "{\"gemm\": [\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row &r = rows[i];
      out << "  {\"arch\": \"" << r.arch << "\", \"type\": \"" << r.type << "\", \"m\": " << r.m
          << ", \"n\": " << r.n << ", \"k\": " << r.k << ", \"time_us\": " << r.us
          << ", \"cube_utilization\": " << r.utilization << ", \"roofline_us\": " << r.rooflineUs
          << ", \"roofline_fraction\": " << r.rooflineUs / r.us << "}"
          << (i + 1 < rows.size() ? ",\n" : "\n");
    }
    out << "]}\n";
  }
  return 0;
}
