// CPU decode and prefill throughput of a compiled model next to the memory roofline measured in
// the same run: bytes of weights and state one decode token touches, divided by the measured
// read bandwidth. Also times `v4c compile`. Writes a table to stdout and JSON to --json.
//
//   v4c-bench-cpu [--checkpoint DIR] [--preset small] [--json FILE] [--decode N] [--prefill N]
#include "codegen/cpu/CompileCpu.h"
#include "frontend/import/GraphBuilder.h"
#include "frontend/synthetic/SyntheticCheckpoint.h"
#include "runtime/artifact/Artifact.h"
#include "runtime/cpu/CpuEngine.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstring>
#include <thread>

using namespace v4c;
namespace cl = llvm::cl;

namespace {

cl::OptionCategory benchCategory("v4c-bench-cpu options");
cl::opt<std::string> checkpointDir("checkpoint", cl::desc("Checkpoint (default: generate --preset)"),
                                   cl::cat(benchCategory));
cl::opt<std::string> preset("preset", cl::desc("Preset to generate"), cl::init("small"),
                            cl::cat(benchCategory));
cl::opt<std::string> workDir("work", cl::desc("Scratch directory (the checkpoint and artifact)"),
                             cl::init("bench-out"), cl::cat(benchCategory));
cl::opt<std::string> jsonPath("json", cl::desc("JSON results"), cl::init("bench-out/cpu.json"),
                              cl::cat(benchCategory));
cl::opt<int> decodeSteps("decode", cl::desc("Decode steps measured"), cl::init(128),
                         cl::cat(benchCategory));
cl::opt<int> prefillTokens("prefill", cl::desc("Prompt length"), cl::init(128),
                           cl::cat(benchCategory));

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

/// Read bandwidth of `threads` threads summing a 1 GiB buffer (best of 3), bytes/s.
double readBandwidth(int threads) {
  const size_t bytes = size_t(1) << 30, words = bytes / 8;
  std::vector<uint64_t> buffer(words, 1);
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<uint64_t> sums(threads);
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        const uint64_t *p = buffer.data() + words / threads * t;
        uint64_t a = 0, b = 0, c = 0, d = 0;
        for (size_t i = 0; i < words / threads; i += 4) {
          a += p[i];
          b += p[i + 1];
          c += p[i + 2];
          d += p[i + 3];
        }
        sums[t] = a + b + c + d;
      });
    for (std::thread &w : workers)
      w.join();
    double s = seconds(start);
    if (sums[0] == 0) // keep the loads
      llvm::errs() << "";
    best = std::max(best, bytes / s);
  }
  return best;
}

/// Bytes one decode token reads at context length `context`: every weight except the routed
/// experts and the embedding, top-k of E routed experts per layer, one embedding row, and the
/// KV state attention reads (window ring + compressed caches so far).
double bytesPerDecodeToken(const artifact::Artifact &a, const ModelConfig &cfg, int64_t context) {
  double total = 0;
  for (const artifact::TensorView &t : a.tensors()) {
    llvm::StringRef name(t.name);
    if (name == "embed.weight")
      total += double(t.byteSize) / t.shape[0];
    else if (name.contains(".ffn.experts."))
      total += double(t.byteSize) * cfg.numExpertsPerTok / cfg.nRoutedExperts;
    else
      total += double(t.byteSize);
  }
  for (const artifact::StateBuffer &s : a.state().buffers) {
    if (s.kind == "compressed_kv") {
      int64_t tokensPerEntry = a.state().maxSeqLen / std::max<int64_t>(1, s.shape[0]);
      total += double(context / std::max<int64_t>(1, tokensPerEntry)) * s.shape[1] * 4;
    } else if (s.kind == "window") {
      total += double(s.byteSize);
    }
  }
  return total;
}

} // namespace

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(benchCategory);
  cl::ParseCommandLineOptions(argc, argv, "v4c CPU throughput vs the memory roofline\n");
  llvm::sys::fs::create_directories(workDir);
  std::string dir = checkpointDir;
  if (dir.empty()) {
    dir = workDir + "/" + preset;
    if (!llvm::sys::fs::exists(dir + "/config.json")) {
      llvm::errs() << "generating the '" << preset << "' checkpoint in " << dir << "\n";
      if (llvm::Error e = writeSyntheticCheckpoint({preset, 0, false}, dir, llvm::errs())) {
        llvm::errs() << "error: " << llvm::toString(std::move(e)) << "\n";
        return 1;
      }
    }
  }
  auto checkpoint = Checkpoint::open(dir);
  if (!checkpoint) {
    llvm::errs() << "error: " << llvm::toString(checkpoint.takeError()) << "\n";
    return 1;
  }
  const ModelConfig &cfg = (*checkpoint)->config();

  // 1. Compile (timed: import + lowering + code generation + artifact).
  std::string artifactPath = workDir + "/bench.v4a";
  auto compileStart = std::chrono::steady_clock::now();
  {
    mlir::DialectRegistry registry;
    cpu::registerCpuDependencies(registry);
    mlir::MLIRContext context(registry);
    context.loadAllAvailableDialects();
    auto module = buildV4Graph(context, cfg, checkpoint->get());
    if (!module) {
      llvm::errs() << "error: " << llvm::toString(module.takeError()) << "\n";
      return 1;
    }
    cpu::CpuOptions options;
    options.maxSeqLen = 1024;
    if (llvm::Error e = cpu::compileToArtifact(**module, **checkpoint, options, artifactPath,
                                               [](llvm::StringRef s) { llvm::errs() << "  " << s << "\n"; })) {
      llvm::errs() << "error: " << llvm::toString(std::move(e)) << "\n";
      return 1;
    }
  }
  double compileSeconds = seconds(compileStart);

  std::string error;
  auto artifact = artifact::openArtifact(artifactPath, error, {false});
  auto engine = cpu::openCpuEngine(artifactPath, error);
  if (!artifact || !engine) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
  std::vector<int32_t> prompt(prefillTokens);
  for (int i = 0; i < prefillTokens; ++i)
    prompt[i] = (i * 7919 + 13) % int32_t(cfg.vocabSize);
  double decodeBytes = bytesPerDecodeToken(*artifact, cfg, prefillTokens + decodeSteps / 2);

  llvm::json::Array runs;
  llvm::outs() << llvm::format("\nmodel: %s (%lld layers, hidden %lld, %lld experts top-%lld)\n",
                               dir.c_str(), (long long)cfg.numHiddenLayers, (long long)cfg.hiddenSize,
                               (long long)cfg.nRoutedExperts, (long long)cfg.numExpertsPerTok);
  llvm::outs() << llvm::format("v4c compile: %.1f s; bytes touched per decode token: %.1f MiB\n\n",
                               compileSeconds, decodeBytes / (1 << 20));
  llvm::outs() << llvm::format("%8s %14s %14s %14s %16s %10s\n", "threads", "read GB/s",
                               "prefill tok/s", "decode tok/s", "roofline tok/s", "fraction");
  for (int threads : {1, 2}) {
    engine->setThreads(threads);
    double bandwidth = readBandwidth(threads);
    engine->reset();
    auto start = std::chrono::steady_clock::now();
    if (engine->forward(prompt, error).empty()) {
      llvm::errs() << "error: " << error << "\n";
      return 1;
    }
    double prefillRate = prefillTokens / seconds(start);
    int32_t token = 1;
    start = std::chrono::steady_clock::now();
    for (int i = 0; i < decodeSteps; ++i)
      if (engine->forward({token}, error).empty()) {
        llvm::errs() << "error: " << error << "\n";
        return 1;
      }
    double decodeRate = decodeSteps / seconds(start);
    double roofline = bandwidth / decodeBytes;
    llvm::outs() << llvm::format("%8d %14.1f %14.1f %14.1f %16.1f %9.0f%%\n", threads,
                                 bandwidth / 1e9, prefillRate, decodeRate, roofline,
                                 100 * decodeRate / roofline);
    runs.push_back(llvm::json::Object{{"threads", threads},
                                      {"read_bandwidth_bytes_per_s", bandwidth},
                                      {"prefill_tokens_per_s", prefillRate},
                                      {"decode_tokens_per_s", decodeRate},
                                      {"roofline_decode_tokens_per_s", roofline},
                                      {"roofline_fraction", decodeRate / roofline}});
  }
  llvm::json::Object result{{"model", dir},
                            {"compile_seconds", compileSeconds},
                            {"decode_bytes_per_token", decodeBytes},
                            {"prefill_tokens", prefillTokens.getValue()},
                            {"decode_steps", decodeSteps.getValue()},
                            {"runs", std::move(runs)}};
  std::error_code ec;
  llvm::raw_fd_ostream json(jsonPath, ec);
  if (ec) {
    llvm::errs() << "error: cannot write " << jsonPath << ": " << ec.message() << "\n";
    return 1;
  }
  json << llvm::formatv("{0:2}", llvm::json::Value(std::move(result))) << "\n";
  llvm::outs() << "\nresults: " << jsonPath << "\n";
  return 0;
}
