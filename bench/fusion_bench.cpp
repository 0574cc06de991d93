// Fusion on the CPU: kernels per decoder layer, activation bytes handed between kernels per
// decode token, and decode throughput, unfused vs fused, measured in the same run. "Unfused" is
// the default graph pipeline without v4c-plan-fusion/v4c-apply-fusion; both compute the same
// logits bit for bit (CpuEndToEndTest.GraphPassesOnAndOffGiveTheSameLogits).
//
//   v4c-bench-fusion [--checkpoint DIR] [--preset small] [--json FILE] [--rounds N] [--steps N]
#include "codegen/cpu/CompileCpu.h"
#include "codegen/cpu/CpuPipeline.h"
#include "frontend/import/GraphBuilder.h"
#include "frontend/synthetic/SyntheticCheckpoint.h"
#include "passes/KernelStats.h"
#include "passes/Passes.h"
#include "runtime/cpu/CpuEngine.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>

using namespace v4c;
namespace cl = llvm::cl;

namespace {

cl::OptionCategory benchCategory("v4c-bench-fusion options");
cl::opt<std::string> checkpointDir("checkpoint", cl::desc("Checkpoint (default: generate --preset)"),
                                   cl::cat(benchCategory));
cl::opt<std::string> preset("preset", cl::desc("Preset to generate"), cl::init("small"),
                            cl::cat(benchCategory));
cl::opt<std::string> workDir("work", cl::desc("Scratch directory (the checkpoint and artifacts)"),
                             cl::init("bench-out"), cl::cat(benchCategory));
cl::opt<std::string> jsonPath("json", cl::desc("JSON results"), cl::init("bench-out/fusion.json"),
                              cl::cat(benchCategory));
cl::opt<int> rounds("rounds", cl::desc("Alternating measurement rounds"), cl::init(7),
                    cl::cat(benchCategory));
cl::opt<int> steps("steps", cl::desc("Decode steps per round and variant"), cl::init(48),
                   cl::cat(benchCategory));

const std::string kUnfused =
    "v4c-precision-policy,v4c-lower-precision,canonicalize,cse"; // the default minus fusion

struct Variant {
  std::string name, pipeline; // empty pipeline: the default (fused)
  KernelStats stats;
  std::unique_ptr<Engine> engine;
  std::vector<double> rates;        // decode tokens/s, one per round
  std::vector<double> prefillRates; // prefill tokens/s, one per round
};

int fail(llvm::Error e) {
  llvm::errs() << "error: " << llvm::toString(std::move(e)) << "\n";
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(benchCategory);
  cl::ParseCommandLineOptions(argc, argv, "v4c fusion: unfused vs fused CPU decode\n");
  llvm::sys::fs::create_directories(workDir);
  std::string dir = checkpointDir.empty() ? workDir + "/" + preset : std::string(checkpointDir);
  if (checkpointDir.empty() && !llvm::sys::fs::exists(dir + "/config.json")) {
    llvm::errs() << "generating the '" << preset << "' checkpoint in " << dir << "\n";
    if (llvm::Error e = writeSyntheticCheckpoint({preset, 0, false}, dir, llvm::errs()))
      return fail(std::move(e));
  }
  auto checkpoint = Checkpoint::open(dir);
  if (!checkpoint)
    return fail(checkpoint.takeError());
  const ModelConfig &cfg = (*checkpoint)->config();

  Variant variants[] = {{"unfused", kUnfused, {}, nullptr, {}}, {"fused", "", {}, nullptr, {}}};
  for (Variant &v : variants) {
    mlir::DialectRegistry registry;
    cpu::registerCpuDependencies(registry);
    mlir::MLIRContext context(registry);
    context.loadAllAvailableDialects();
    auto module = buildV4Graph(context, cfg, checkpoint->get());
    if (!module)
      return fail(module.takeError());
    cpu::CpuOptions options;
    options.maxSeqLen = 1024;
    options.graphPipeline = v.pipeline;
    // Count on a copy after the graph-level passes; compile the original.
    mlir::OwningOpRef<mlir::ModuleOp> copy((*module)->clone());
    mlir::PassManager pm(&context);
    if (failed(cpu::addGraphPipeline(pm, options)) || failed(pm.run(*copy)))
      return fail(llvm::createStringError("the graph pipeline failed"));
    v.stats = kernelStats(copy->lookupSymbol<mlir::func::FuncOp>("forward"));
    std::string path = workDir + "/" + v.name + ".v4a";
    llvm::errs() << "compiling " << v.name << "\n";
    if (llvm::Error e = cpu::compileToArtifact(**module, **checkpoint, options, path,
                                               [](llvm::StringRef) {}))
      return fail(std::move(e));
    std::string error;
    v.engine = cpu::openCpuEngine(path, error);
    if (!v.engine)
      return fail(llvm::createStringError(error));
  }

  // Both engines prefill the same prompt and decode the same tokens, round after round,
  // alternating which goes first, so that the machine's changing load hits both alike; the
  // speedup is the median of the rounds' paired ratios.
  std::vector<int32_t> prompt(128);
  for (size_t i = 0; i < prompt.size(); ++i)
    prompt[i] = int32_t((i * 7919 + 13) % cfg.vocabSize);
  std::string error;
  auto since = [](std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (int r = 0; r < rounds; ++r)
    for (int i = 0; i < 2; ++i) {
      Variant &v = variants[(r + i) % 2];
      v.engine->reset();
      auto start = std::chrono::steady_clock::now();
      if (v.engine->forward(prompt, error).empty())
        return fail(llvm::createStringError(error));
      v.prefillRates.push_back(prompt.size() / since(start));
      start = std::chrono::steady_clock::now();
      for (int s = 0; s < steps; ++s)
        if (v.engine->forward({int32_t((r * steps + s) % cfg.vocabSize)}, error).empty())
          return fail(llvm::createStringError(error));
      v.rates.push_back(steps / since(start));
    }

  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  llvm::outs() << llvm::format("\nmodel: %s (%lld layers), %d rounds of %d decode steps\n\n",
                               dir.c_str(), (long long)cfg.numHiddenLayers, int(rounds), int(steps));
  llvm::outs() << llvm::format("%-9s %14s %21s %19s %19s\n", "pipeline", "kernels/layer",
                               "activation KiB/token", "decode tok/s (med)", "prefill tok/s (med)");
  llvm::json::Array runs;
  for (Variant &v : variants) {
    double perLayer = double(v.stats.kernels) / cfg.numHiddenLayers;
    llvm::outs() << llvm::format("%-9s %14.1f %21.1f %19.1f %19.1f\n", v.name.c_str(), perLayer,
                                 v.stats.activationBytes / 1024, median(v.rates),
                                 median(v.prefillRates));
    runs.push_back(llvm::json::Object{{"pipeline", v.name},
                                      {"kernels", v.stats.kernels},
                                      {"kernels_per_layer", perLayer},
                                      {"activation_bytes_per_token", v.stats.activationBytes},
                                      {"decode_tokens_per_s", llvm::json::Array(v.rates)},
                                      {"prefill_tokens_per_s", llvm::json::Array(v.prefillRates)}});
  }
  auto pairedSpeedup = [&](auto member) {
    std::vector<double> ratios;
    for (int r = 0; r < rounds; ++r)
      ratios.push_back((variants[1].*member)[r] / (variants[0].*member)[r]);
    return median(ratios);
  };
  double speedup = pairedSpeedup(&Variant::rates);
  double prefillSpeedup = pairedSpeedup(&Variant::prefillRates);
  llvm::outs() << llvm::format("\nfused / unfused (median of paired rounds): decode %.3fx, "
                               "prefill %.3fx\n",
                               speedup, prefillSpeedup);
  std::error_code ec;
  llvm::raw_fd_ostream json(jsonPath, ec);
  if (ec)
    return fail(llvm::createStringError("cannot write " + jsonPath + ": " + ec.message()));
  json << llvm::formatv("{0:2}", llvm::json::Value(llvm::json::Object{
                                     {"model", dir},
                                     {"runs", std::move(runs)},
                                     {"decode_speedup_median", speedup},
                                     {"prefill_speedup_median", prefillSpeedup}}))
       << "\n";
  llvm::outs() << "results: " << jsonPath << "\n";
  return 0;
}
