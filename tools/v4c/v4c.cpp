// v4c: the compiler driver. Reads top to bottom like the pipeline it drives:
//   gen     -> a synthetic V4 checkpoint (config.json + sharded safetensors)
//   import  -> checkpoint directory to graph-dialect IR (text or bytecode)
//   compile -> a .v4a artifact from a checkpoint or its graph IR: weights in the planned
//              layout + compiled code (CPU target)
#include "Report.h"
#include "codegen/cpu/CompileCpu.h"
#include "codegen/cpu/CpuPipeline.h"
#include "codegen/npu/CompileNpu.h"
#include "frontend/import/GraphBuilder.h"
#include "frontend/quantize/OfflineQuantizer.h"
#include "frontend/synthetic/SyntheticCheckpoint.h"
#include "ir/InitAllDialects.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <map>

namespace cl = llvm::cl;
using namespace v4c;

namespace {

cl::SubCommand genCmd("gen", "Write a random DeepSeek-V4 checkpoint in the Hugging Face layout");
cl::opt<std::string> genPreset("preset", cl::desc("Model size: tiny (tests) or small (benchmarks)"),
                               cl::init("tiny"), cl::sub(genCmd));
cl::opt<uint64_t> genSeed("seed", cl::desc("Random seed (same seed, same bytes)"), cl::init(0),
                          cl::sub(genCmd));
cl::opt<bool> genBf16("bf16", cl::desc("Unquantized BF16 weights instead of FP8/FP4"),
                      cl::sub(genCmd));
cl::opt<std::string> genOut("o", cl::desc("Output checkpoint directory"), cl::value_desc("DIR"),
                            cl::Required, cl::sub(genCmd));

cl::SubCommand importCmd("import", "Import a V4 checkpoint directory into graph-dialect IR");
cl::opt<std::string> importDir(cl::Positional, cl::desc("<checkpoint dir>"), cl::Required,
                               cl::sub(importCmd));
cl::opt<std::string> importOut("o", cl::desc("Output IR file ('-' for stdout)"),
                               cl::value_desc("FILE"), cl::init("-"), cl::sub(importCmd));
cl::opt<bool> importBytecode("emit-bytecode", cl::desc("Write MLIR bytecode instead of text"),
                             cl::sub(importCmd));

cl::SubCommand quantizeCmd(
    "quantize", "Quantize a BF16/F32 checkpoint to DeepSeek's FP8/FP4 release format");
cl::opt<std::string> quantizeInput(cl::Positional, cl::desc("<checkpoint dir>"), cl::Required,
                                   cl::sub(quantizeCmd));
cl::opt<std::string> quantizeOut("o", cl::desc("Output checkpoint directory"),
                                 cl::value_desc("DIR"), cl::Required, cl::sub(quantizeCmd));
cl::opt<std::string> quantizeExperts(
    "experts", cl::desc("Routed experts as fp4 (E2M1, one E8M0 scale per 32; the release) or fp8"),
    cl::init("fp4"), cl::sub(quantizeCmd));
cl::opt<std::string> quantizeReport("report",
                                    cl::desc("Write every quantized tensor's error as JSON"),
                                    cl::value_desc("FILE.json"), cl::sub(quantizeCmd));

cl::SubCommand compileCmd("compile", "Compile a checkpoint for a target into a .v4a artifact");
cl::opt<std::string> compileInput(cl::Positional, cl::desc("<checkpoint dir | model.mlir>"),
                                  cl::Required,
                                  cl::sub(compileCmd));
cl::opt<std::string> compileTarget(
    "target",
    cl::desc("cpu, or npu: host code for this CPU that launches kernels on a simulated "
             "CANN-style NPU (v4c-run runs it; today the GEMMs of --precision-mode dequant run "
             "on the NPU, the rest in the host code)"),
    cl::init("cpu"), cl::sub(compileCmd));
cl::opt<std::string> compileNpuArch(
    "npu-arch",
    cl::desc("The NPU for --target npu: 910b (no FP8 cube, default), 950 (FP8/MXFP4 cube), or "
             "a description file in runtime/npu/Arch.fbs's schema (see runtime/npu/arch/)"),
    cl::init("910b"), cl::value_desc("910b|950|FILE.json"), cl::sub(compileCmd));
cl::opt<std::string> compileOut("o", cl::desc("Output artifact (.v4a)"), cl::value_desc("FILE"),
                                cl::Required, cl::sub(compileCmd));
cl::opt<std::string> compileCpu("cpu", cl::desc("CPU to generate code for: host, x86-64-v3, ..."),
                                cl::init("host"), cl::sub(compileCmd));
cl::opt<std::string> compilePrecision(
    "precision-mode",
    cl::desc("faithful (DeepSeek's FP8 activation quantization and QAT round trips, default) or "
             "dequant (exactly dequantized weights in fp32, no quantization steps)"),
    cl::init("faithful"), cl::sub(compileCmd));
cl::opt<std::string> compilePipeline(
    "pipeline",
    cl::desc("Graph-level pass pipeline to run instead of the default "
             "'v4c-graph-pipeline{target=cpu mode=<precision-mode>}', e.g. to switch a pass off "
             "(`v4c-opt --help` lists the passes)"),
    cl::value_desc("PASSES"), cl::sub(compileCmd));
cl::opt<std::string> compileReport(
    "report",
    cl::desc("Also write DIR/report.json and DIR/report.html: per-op and per-kernel FLOPs, "
             "bytes and arithmetic intensity of a decode step, the fusion groups and a roofline"),
    cl::value_desc("DIR"), cl::sub(compileCmd));
cl::opt<double> reportBandwidth("report-bandwidth",
                                cl::desc("Memory bandwidth of the report's roofline, GB/s"),
                                cl::init(30), cl::sub(compileCmd));
cl::opt<double> reportPeak("report-peak", cl::desc("Peak compute of the report's roofline, GFLOP/s"),
                           cl::init(200), cl::sub(compileCmd));
enum class EmitKind { Artifact, Executable };
cl::opt<EmitKind> compileEmit(
    "emit", cl::desc("What to produce"),
    cl::values(clEnumValN(EmitKind::Artifact, "artifact", "A .v4a artifact (default)"),
               clEnumValN(EmitKind::Executable, "exe",
                          "A standalone executable OUT (the model linked in) and its weights "
                          "OUT.v4a")),
    cl::init(EmitKind::Artifact), cl::sub(compileCmd));
cl::opt<int64_t> compileMaxSeqLen("max-seq-len",
                                  cl::desc("Longest context the artifact's KV caches hold"),
                                  cl::init(4096), cl::sub(compileCmd));

/// Prints "v4c: <stage> ... (12 ms)" progress lines on stderr.
class Progress {
public:
  void stage(llvm::StringRef what) {
    finish();
    llvm::errs() << "v4c: " << what << " ...";
    start = std::chrono::steady_clock::now();
    open = true;
  }
  void finish(llvm::StringRef detail = {}) {
    if (!open)
      return;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start).count();
    llvm::errs() << " " << (detail.empty() ? "" : detail.str() + " ") << "(" << ms << " ms)\n";
    open = false;
  }

private:
  std::chrono::steady_clock::time_point start;
  bool open = false;
};

int fail(llvm::Error error) {
  llvm::errs() << "\n";
  llvm::WithColor::error(llvm::errs(), "v4c") << llvm::toString(std::move(error)) << "\n";
  return 1;
}

int runGen() {
  SyntheticOptions options;
  options.preset = genPreset;
  options.seed = genSeed;
  options.bf16 = genBf16;
  llvm::errs() << "v4c: generating a '" << genPreset << "' checkpoint (seed " << genSeed
               << (genBf16 ? ", bf16" : ", fp8/fp4") << ") in " << genOut << "\n";
  if (llvm::Error e = writeSyntheticCheckpoint(options, genOut, llvm::errs()))
    return fail(std::move(e));
  return 0;
}

int runQuantize() {
  Progress progress;
  progress.stage("reading " + quantizeInput);
  auto checkpoint = Checkpoint::open(quantizeInput);
  if (!checkpoint)
    return fail(checkpoint.takeError());
  progress.finish(std::to_string((*checkpoint)->tensors().size()) + " tensors");
  progress.stage("quantizing into " + quantizeOut);
  auto errors = quantizeCheckpoint(**checkpoint, quantizeOut, {quantizeExperts}, llvm::nulls());
  if (!errors)
    return fail(errors.takeError());
  progress.finish(std::to_string(errors->size()) + " weight tensors");

  // Per format: how many, the mean and the worst relative L2 error; then the worst tensors.
  std::map<std::string, std::pair<int, double>> mean;
  for (const QuantizationError &e : *errors) {
    mean[e.format].first += 1;
    mean[e.format].second += e.relativeL2;
  }
  llvm::outs() << llvm::format("%-20s %8s %14s\n", "format", "tensors", "mean rel. L2");
  for (const auto &[format, m] : mean)
    llvm::outs() << llvm::format("%-20s %8d %14.4f\n", format.c_str(), m.first, m.second / m.first);
  std::vector<QuantizationError> worst = *errors;
  llvm::sort(worst, [](const auto &a, const auto &b) { return a.relativeL2 > b.relativeL2; });
  llvm::outs() << "largest errors:\n";
  for (size_t i = 0; i < std::min<size_t>(5, worst.size()); ++i)
    llvm::outs() << llvm::format("  %-48s %-18s rel. L2 %.4f  max |err| %.3g\n",
                                 worst[i].name.c_str(), worst[i].format.c_str(),
                                 worst[i].relativeL2, worst[i].maxAbs);
  if (!quantizeReport.empty()) {
    llvm::json::Array tensors;
    for (const QuantizationError &e : *errors)
      tensors.push_back(llvm::json::Object{{"name", e.name},
                                           {"format", e.format},
                                           {"elements", e.elements},
                                           {"relative_l2", e.relativeL2},
                                           {"max_abs", e.maxAbs}});
    if (llvm::Error e = llvm::writeToOutput(quantizeReport, [&](llvm::raw_ostream &os) {
          os << llvm::formatv("{0:2}", llvm::json::Value(llvm::json::Object{
                                           {"source", quantizeInput.getValue()},
                                           {"output", quantizeOut.getValue()},
                                           {"tensors", std::move(tensors)}}))
             << "\n";
          return llvm::Error::success();
        }))
      return fail(std::move(e));
  }
  llvm::errs() << "v4c: wrote " << quantizeOut << "\n";
  return 0;
}

int runImport() {
  Progress progress;
  progress.stage("reading " + importDir);
  auto checkpoint = Checkpoint::open(importDir);
  if (!checkpoint)
    return fail(checkpoint.takeError());
  const ModelConfig &config = (*checkpoint)->config();
  size_t tensors = (*checkpoint)->tensors().size();
  progress.finish((*checkpoint)->hasWeights()
                      ? std::to_string(tensors) + " tensors in " +
                            std::to_string((*checkpoint)->files().size()) + " file(s)"
                      : "config.json only: weightless import, parameter types from the config");

  progress.stage("building the graph (" + std::to_string(config.numHiddenLayers) + " layers + " +
                 std::to_string(config.numNextnPredictLayers) + " MTP)");
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  auto module = buildV4Graph(context, config, checkpoint->get());
  if (!module)
    return fail(module.takeError());
  size_t ops = 0;
  (*module)->walk([&](mlir::Operation *) { ++ops; });
  progress.finish(std::to_string(ops) + " ops, verified");

  progress.stage("writing " + importOut);
  llvm::Error written = llvm::writeToOutput(importOut, [&](llvm::raw_ostream &os) -> llvm::Error {
    if (!importBytecode) {
      (*module)->print(os);
      os << "\n";
      return llvm::Error::success();
    }
    if (mlir::failed(mlir::writeBytecodeToFile(module->get(), os)))
      return llvm::createStringError("cannot encode the module as bytecode");
    return llvm::Error::success();
  });
  if (written)
    return fail(std::move(written));
  progress.finish();
  return 0;
}

int runCompile() {
  if (compileTarget != "cpu" && compileTarget != "npu")
    return fail(llvm::createStringError("--target must be cpu or npu, got '%s'",
                                        compileTarget.c_str()));
  bool npuTarget = compileTarget == "npu";
  npu::Arch npuArch;
  std::string archError;
  if (npuTarget && !npu::loadArch(compileNpuArch, npuArch, archError))
    return fail(llvm::createStringError("--npu-arch: %s", archError.c_str()));
  if (!npuTarget && compileNpuArch.getNumOccurrences())
    return fail(llvm::createStringError("--npu-arch needs --target npu"));
  if (npuTarget && compileEmit == EmitKind::Executable)
    return fail(llvm::createStringError(
        "--emit exe is for --target cpu: NPU artifacts run with v4c-run (the simulator)"));
  if (compilePrecision != "faithful" && compilePrecision != "dequant")
    return fail(llvm::createStringError(
        "--precision-mode must be faithful or dequant, got '%s'", compilePrecision.c_str()));
  if (!compilePipeline.empty() && compilePrecision.getNumOccurrences())
    return fail(llvm::createStringError(
        "--pipeline replaces the default pipeline that --precision-mode configures: give the "
        "mode to v4c-precision-policy inside the pipeline instead"));
  if (compileMaxSeqLen < 1)
    return fail(llvm::createStringError("--max-seq-len must be positive"));
  Progress progress;
  mlir::DialectRegistry registry;
  cpu::registerCpuDependencies(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();

  // The input is a checkpoint directory, or graph IR imported from one (which names its
  // checkpoint in the `v4c.checkpoint` attribute: the weights come from there).
  bool fromIR = !llvm::sys::fs::is_directory(compileInput);
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::string checkpointDir = compileInput;
  if (fromIR) {
    progress.stage("parsing " + compileInput);
    module = mlir::parseSourceFile<mlir::ModuleOp>(compileInput, &context);
    if (!module)
      return fail(llvm::createStringError("%s: not valid graph IR (see the diagnostics above)",
                                          compileInput.c_str()));
    auto dir = (*module)->getAttrOfType<mlir::StringAttr>("v4c.checkpoint");
    if (!dir)
      return fail(llvm::createStringError(
          "%s has no weights (imported from config.json only, or no v4c.checkpoint attribute)",
          compileInput.c_str()));
    checkpointDir = dir.str();
    progress.finish();
  }
  progress.stage("reading " + checkpointDir);
  auto checkpoint = Checkpoint::open(checkpointDir);
  if (!checkpoint)
    return fail(checkpoint.takeError());
  if (!(*checkpoint)->hasWeights())
    return fail(llvm::createStringError("%s holds only config.json: compiling needs weights",
                                        checkpointDir.c_str()));
  progress.finish(std::to_string((*checkpoint)->tensors().size()) + " tensors");

  if (!fromIR) {
    progress.stage("importing");
    auto built = buildV4Graph(context, (*checkpoint)->config(), checkpoint->get());
    if (!built)
      return fail(built.takeError());
    module = std::move(*built);
    progress.finish();
  }

  cpu::CpuOptions options;
  options.cpu = compileCpu;
  options.faithful = compilePrecision == "faithful";
  options.maxSeqLen = compileMaxSeqLen;
  options.graphPipeline = compilePipeline;
  if (!compileReport.empty() && !(reportBandwidth > 0 && reportPeak > 0))
    return fail(llvm::createStringError("--report-bandwidth and --report-peak must be positive"));
  if (!compileReport.empty()) {
    // The report looks at the graph right after the graph-level passes, which the compile
    // runs once (before any target's offload and the memory plan).
    ReportOptions report;
    report.bandwidth = reportBandwidth * 1e9;
    report.peakFlops = reportPeak * 1e9;
    report.pipeline = cpu::graphPipelineText(options);
    report.layers = (*checkpoint)->config().numHiddenLayers;
    options.beforePlanning = [report, &progress](mlir::ModuleOp passed) -> mlir::LogicalResult {
      progress.stage("writing the report to " + compileReport);
      if (llvm::Error e = writeCompileReport(passed, compileReport, report)) {
        llvm::WithColor::error(llvm::errs(), "v4c") << llvm::toString(std::move(e)) << "\n";
        return mlir::failure();
      }
      return mlir::success();
    };
  }
  bool exe = compileEmit == EmitKind::Executable;
  std::string artifactPath = exe ? compileOut + ".v4a" : std::string(compileOut);
  auto stage = [&](llvm::StringRef what) { progress.stage(what.str()); };
  llvm::Error compiled =
      npuTarget ? npu::compileNpuArtifact(*module, **checkpoint, options, npuArch, artifactPath,
                                          stage)
                : cpu::compileToArtifact(*module, **checkpoint, options, artifactPath, stage,
                                         exe ? llvm::StringRef(compileOut) : llvm::StringRef());
  progress.finish();
  if (compiled)
    return fail(std::move(compiled));
  llvm::errs() << "v4c: wrote " << (exe ? compileOut + " and " : "") << artifactPath << "\n";
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // The LLVM libraries register their own options at the top level (hundreds of code generator
  // flags); v4c's options all live in its commands, so the top level shows only help.
  for (auto &[name, option] : cl::getRegisteredOptions(cl::SubCommand::getTopLevel()))
    if (!name.starts_with("help") && name != "version")
      option->setHiddenFlag(cl::ReallyHidden);
  cl::ParseCommandLineOptions(
      argc, argv,
      "v4c: ahead-of-time compiler for DeepSeek-V4 models\n\n"
      "  v4c gen --preset tiny|small [--seed N] [--bf16] -o DIR\n"
      "  v4c import DIR -o model.mlir [--emit-bytecode]\n"
      "  v4c quantize BF16_DIR -o DIR [--experts fp4|fp8] [--report errors.json]\n"
      "  v4c compile DIR|model.mlir --target cpu [--precision-mode faithful|dequant] [--cpu host] -o OUT.v4a\n"
      "  v4c compile DIR|model.mlir --target npu [--npu-arch 910b|950|FILE] --precision-mode dequant -o OUT.v4a\n\n"
      "'v4c <command> --help' explains each command.\n");
  if (genCmd)
    return runGen();
  if (importCmd)
    return runImport();
  if (quantizeCmd)
    return runQuantize();
  if (compileCmd)
    return runCompile();
  llvm::errs() << "v4c: no command given; see 'v4c --help'\n";
  return 1;
}
