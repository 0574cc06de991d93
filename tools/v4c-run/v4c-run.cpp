// v4c-run: feeds token ids to an engine and reports what comes out. Reads top to bottom:
//   check the flags -> open the model with an engine -> prefill + decode the input tokens
//   -> summary line -> optional sampling of new tokens -> optional .npy dump of the logits.
// Engines: the reference interpreter (checkpoint directory), compiled CPU artifacts (.v4a) and
// NPU artifacts (host code plus kernels on the simulated NPU, whose summary is printed).
#include "runtime/Npy.h"
#include "runtime/artifact/Artifact.h"
#include "runtime/cpu/CpuEngine.h"
#include "runtime/npu/NpuEngine.h"
#include "runtime/Sampler.h"
#include "runtime/reference/ReferenceModel.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <limits>

namespace cl = llvm::cl;
using namespace v4c;

namespace {

enum class EngineKind { Auto, Reference, Cpu, Npu };

cl::OptionCategory runCategory("v4c-run options");

cl::opt<std::string> modelPath(cl::Positional, cl::desc("<checkpoint dir>"), cl::Required,
                               cl::cat(runCategory));
cl::opt<std::string> tokensArg("tokens",
                               cl::desc("Input token ids, comma-separated (each < vocab size)"),
                               cl::value_desc("ID,ID,..."), cl::Required, cl::cat(runCategory));
cl::opt<int64_t> decodeFrom(
    "decode-from",
    cl::desc("Prefill the first K tokens in one call, then decode the rest one token per call "
             "(1 <= K <= number of tokens; default: all tokens in one call)"),
    cl::value_desc("K"), cl::cat(runCategory));
cl::opt<std::string> dumpLogits(
    "dump-logits",
    cl::desc("Write the logits of every input position as a float32 [tokens, vocab] .npy file "
             "(written at the end, atomically; nothing on error)"),
    cl::value_desc("FILE.npy"), cl::cat(runCategory));
cl::opt<unsigned> generateCount(
    "generate",
    cl::desc("After the input, sample N new tokens (each fed back as a one-token call) and "
             "print them as 'generated: ID ID ...'"),
    cl::value_desc("N"), cl::init(0), cl::cat(runCategory));
cl::opt<EngineKind> engineKind(
    "engine", cl::desc("What runs the model (default: reference for a checkpoint directory, "
                       "the artifact's target for a .v4a)"),
    cl::values(clEnumValN(EngineKind::Reference, "reference",
                          "The C++ reference interpreter of the V4 forward pass"),
               clEnumValN(EngineKind::Cpu, "cpu", "Compiled CPU code (a .v4a from v4c compile)"),
               clEnumValN(EngineKind::Npu, "npu",
                          "Host code with kernels on the simulated NPU (v4c compile --target "
                          "npu); prints the NPU's summary")),
    cl::init(EngineKind::Auto), cl::cat(runCategory));
cl::opt<std::string> npuTrace(
    "npu-trace",
    cl::desc("NPU runs: write a Chrome-trace timeline (chrome://tracing, Perfetto) of every "
             "kernel, one process per core, one thread per pipe"),
    cl::value_desc("FILE.json"), cl::cat(runCategory));
cl::opt<bool> npuNoRaceCheck("npu-no-race-check",
                             cl::desc("NPU runs: skip the race detector (faster)"),
                             cl::cat(runCategory));
cl::opt<PrecisionMode> precisionMode(
    "precision-mode", cl::desc("Numerics of the reference engine (MODEL.md section 6.7)"),
    cl::values(clEnumValN(PrecisionMode::Faithful, "faithful",
                          "DeepSeek's quantization steps: FP8/FP4 activations, QAT round-trips "
                          "(default)"),
               clEnumValN(PrecisionMode::Dequant, "dequant",
                          "Weights dequantized to fp32, no activation quantization")),
    cl::init(PrecisionMode::Faithful), cl::cat(runCategory));
cl::opt<float> temperature("temperature",
                           cl::desc("Sampling temperature for --generate; 0 = greedy argmax "
                                    "(default 0)"),
                           cl::value_desc("T"), cl::init(0), cl::cat(runCategory));
cl::opt<float> topP("top-p",
                    cl::desc("Nucleus sampling for --generate: keep the most probable tokens "
                             "up to this probability mass, 0 < P <= 1 (default 1)"),
                    cl::value_desc("P"), cl::init(1), cl::cat(runCategory));
cl::opt<unsigned> threads("num-threads",
                          cl::desc("Threads for compiled code (results do not depend on it)"),
                          cl::init(1), cl::cat(runCategory));
cl::opt<uint64_t> seed("seed", cl::desc("Random seed for --generate (same seed, same tokens)"),
                       cl::value_desc("S"), cl::init(0), cl::cat(runCategory));

int fail(const llvm::Twine &message) {
  llvm::outs().flush(); // keep whatever was printed on stdout ahead of the error
  llvm::WithColor::error(llvm::errs(), "v4c-run") << message << "\n";
  return 1;
}

int fail(llvm::Error error) { return fail(llvm::toString(std::move(error))); }

class Stopwatch {
public:
  double ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  }

private:
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

/// "1,2,3" -> ids; names the offending entry when one is not a non-negative 32-bit integer.
llvm::Expected<std::vector<int32_t>> parseTokens(llvm::StringRef text) {
  std::vector<int32_t> tokens;
  llvm::SmallVector<llvm::StringRef> entries;
  text.split(entries, ',');
  for (auto [index, entry] : llvm::enumerate(entries)) {
    uint64_t value;
    // getAsInteger rejects signs, blanks and trailing junk, and reports overflow.
    if (entry.trim().getAsInteger(10, value) || value > uint64_t(INT32_MAX))
      return llvm::createStringError("--tokens: entry " + std::to_string(index) + " ('" +
                                     entry.str() + "') is not a token id (a non-negative integer)");
    tokens.push_back(int32_t(value));
  }
  return tokens;
}

/// Which engine runs MODEL: explicit, or from what MODEL is (directory: reference, .v4a: cpu).
llvm::Expected<EngineKind> resolveEngine() {
  const bool isDirectory = llvm::sys::fs::is_directory(modelPath);
  if (!isDirectory && !llvm::sys::fs::exists(modelPath))
    return llvm::createStringError("'" + modelPath + "': no such file or directory");
  EngineKind kind = engineKind;
  if (kind == EngineKind::Auto && !isDirectory) { // the artifact says what it was compiled for
    std::string error;
    auto artifact = artifact::openArtifact(modelPath, error, {/*verifyChecksums=*/false});
    if (!artifact)
      return llvm::createStringError(error);
    kind = artifact->target().kind == "npu" ? EngineKind::Npu : EngineKind::Cpu;
  }
  if (kind == EngineKind::Auto)
    kind = EngineKind::Reference;
  switch (kind) {
  case EngineKind::Npu:
  case EngineKind::Cpu:
    if (isDirectory)
      return llvm::createStringError("'" + modelPath + "' is a checkpoint directory: compile it "
                                     "first (v4c compile DIR --target cpu|npu -o model.v4a)");
    return kind;
  case EngineKind::Reference:
    if (!isDirectory)
      return llvm::createStringError("'" + modelPath +
                                     "' is not a checkpoint directory (the reference engine "
                                     "reads config.json + safetensors)");
    return kind;
  case EngineKind::Auto:
    break;
  }
  llvm_unreachable("unknown engine kind");
}

/// The reference interpreter on the checkpoint directory MODEL. `checkpoint` receives the
/// checkpoint, which must outlive the engine (the engine reads the weights from its mapping).
llvm::Expected<std::unique_ptr<Engine>>
openReferenceEngine(std::unique_ptr<Checkpoint> &checkpoint) {
  auto opened = Checkpoint::open(modelPath);
  if (!opened)
    return opened.takeError();
  checkpoint = std::move(*opened);
  if (!checkpoint->hasWeights())
    return llvm::createStringError("'" + modelPath +
                                   "' has no weights (config.json only); the reference engine "
                                   "needs the safetensors files");
  return reference::createReferenceEngine(*checkpoint, precisionMode);
}

/// One engine call; appends its [tokens.size(), vocab] logits to `logits`.
llvm::Error forward(Engine &engine, const std::vector<int32_t> &tokens,
                    std::vector<float> &logits) {
  const int64_t first = engine.position(), vocab = engine.vocabSize();
  const int64_t last = first + int64_t(tokens.size()) - 1;
  std::string error;
  std::vector<float> rows = engine.forward(tokens, error);
  const std::string where = "the engine failed at position" +
                            (first == last ? " " + std::to_string(first)
                                           : "s " + std::to_string(first) + ".." +
                                                 std::to_string(last));
  if (rows.empty())
    return llvm::createStringError(where + ": " + (error.empty() ? "no message" : error));
  if (int64_t(rows.size()) != int64_t(tokens.size()) * vocab)
    return llvm::createStringError(where + ": it returned " + std::to_string(rows.size()) +
                                   " logits, expected " + std::to_string(tokens.size()) + " x " +
                                   std::to_string(vocab));
  logits.insert(logits.end(), rows.begin(), rows.end());
  return llvm::Error::success();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(runCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "v4c-run: run a DeepSeek-V4 model on token ids\n\n"
      "  v4c-run MODEL --tokens 1,2,3 [--decode-from K] [--dump-logits F.npy] [--generate N]\n"
      "          [--engine reference] [--precision-mode faithful|dequant]\n"
      "          [--temperature T] [--top-p P] [--seed S]\n\n"
      "MODEL is a checkpoint directory (config.json + safetensors), run by the reference\n"
      "interpreter, or a .v4a artifact from v4c compile: CPU code, or host code whose kernels\n"
      "run on the simulated NPU (--npu-trace F.json for its timeline). Prints the timing and\n"
      "the argmax of the last input position on stdout (NPU runs: the NPU's summary too);\n"
      "progress goes to stderr.\n");

  // 1. Flags that need no model.
  auto parsed = parseTokens(tokensArg);
  if (!parsed)
    return fail(parsed.takeError());
  const std::vector<int32_t> tokens = std::move(*parsed);
  const int64_t numTokens = int64_t(tokens.size());
  const int64_t prefillCount = decodeFrom.getNumOccurrences() ? decodeFrom.getValue() : numTokens;
  if (prefillCount < 1 || prefillCount > numTokens)
    return fail("--decode-from " + llvm::Twine(prefillCount) +
                " is out of range: it must be in 1.." + llvm::Twine(numTokens) + " for " +
                llvm::Twine(numTokens) + " token(s)");
  const SamplingOptions sampling{temperature, topP, seed};
  if (!std::isfinite(sampling.temperature) || sampling.temperature < 0)
    return fail("--temperature must be a finite number >= 0, got " +
                llvm::formatv("{0}", sampling.temperature).str());
  if (!(sampling.topP > 0 && sampling.topP <= 1))
    return fail("--top-p must be in (0, 1], got " + llvm::formatv("{0}", sampling.topP).str());
  auto kind = resolveEngine();
  if (!kind)
    return fail(kind.takeError());

  // 2. The model.
  Stopwatch openTime;
  llvm::errs() << "v4c-run: opening " << modelPath << " ...";
  std::unique_ptr<Checkpoint> checkpoint;
  llvm::Expected<std::unique_ptr<Engine>> engine = nullptr;
  std::string description;
  std::shared_ptr<npu::NpuDevice> device;
  npu::Trace trace;
  if (*kind == EngineKind::Npu) {
    std::string error;
    npu::DeviceOptions options;
    options.checkRaces = !npuNoRaceCheck;
    options.trace = npuTrace.empty() ? nullptr : &trace;
    npu::NpuRun run = npu::openNpuEngine(modelPath, options, error);
    engine = std::move(run.engine);
    if (!*engine)
      engine = llvm::createStringError(error);
    else {
      device = run.device;
      description = "host code + simulated NPU " + device->arch().name + " (" +
                    std::to_string(device->kernelCount()) + " kernels" +
                    (options.checkRaces ? ", race detector on" : "") + ")";
    }
  } else if (*kind == EngineKind::Cpu) {
    std::string error;
    engine = cpu::openCpuEngine(modelPath, error);
    if (!*engine)
      engine = llvm::createStringError(error);
    description = "compiled CPU code, " + std::to_string(threads) + " thread(s)";
  } else {
    engine = openReferenceEngine(checkpoint);
    description = std::string("reference engine, ") +
                  (precisionMode == PrecisionMode::Faithful ? "faithful" : "dequant") +
                  " precision";
  }
  if (!engine) {
    llvm::errs() << "\n";
    return fail(engine.takeError());
  }
  if (threads < 1)
    return fail("--num-threads must be at least 1");
  (*engine)->setThreads(int(threads));
  const int64_t vocab = (*engine)->vocabSize();
  if (vocab <= 0 || vocab > INT32_MAX) {
    llvm::errs() << "\n";
    return fail("the engine reports a vocabulary of " + llvm::Twine(vocab) + " entries");
  }
  llvm::errs() << " " << description << ", vocab " << vocab << " ("
               << llvm::format("%.0f", openTime.ms()) << " ms)\n";
  for (auto [position, token] : llvm::enumerate(tokens))
    if (token >= vocab)
      return fail("--tokens: token " + llvm::Twine(token) + " at position " +
                  llvm::Twine(position) + " is out of range: the vocabulary has " +
                  llvm::Twine(vocab) + " entries");

  // 3. The input: one prefill call, then one call per remaining token.
  std::vector<float> logits;
  logits.reserve(size_t(numTokens * vocab));
  Stopwatch prefillTime;
  if (llvm::Error e = forward(**engine, {tokens.begin(), tokens.begin() + prefillCount}, logits))
    return fail(std::move(e));
  const double prefillMs = prefillTime.ms();
  Stopwatch decodeTime;
  for (int64_t t = prefillCount; t < numTokens; ++t)
    if (llvm::Error e = forward(**engine, {tokens[t]}, logits))
      return fail(std::move(e));
  const double decodeMs = decodeTime.ms();
  const int64_t decodeCount = numTokens - prefillCount;

  std::vector<float> lastRow(logits.end() - vocab, logits.end());
  const int32_t argmax = Sampler(SamplingOptions{}).next(lastRow.data(), vocab);
  llvm::outs() << "v4c-run: " << numTokens << " tokens in "
               << llvm::format("%.1f", prefillMs + decodeMs) << " ms (prefill "
               << llvm::format("%.1f", prefillMs) << " ms";
  if (decodeCount > 0)
    llvm::outs() << ", decode " << llvm::format("%.1f", decodeMs / double(decodeCount))
                 << " ms/token";
  llvm::outs() << "), argmax of the last position: ";
  if (argmax < 0)
    llvm::outs() << "none (NaN in the logits)\n";
  else
    llvm::outs() << argmax << "\n";

  if (device) {
    llvm::outs() << device->summary();
    llvm::outs().flush();
  }

  // 4. Generation: sample from the last row, feed the token back, repeat.
  if (generateCount > 0) {
    Sampler sampler(sampling);
    Stopwatch generateTime;
    llvm::outs() << "generated:";
    for (unsigned i = 0; i < generateCount; ++i) {
      int32_t next = sampler.next(lastRow.data(), vocab);
      if (next < 0) {
        llvm::outs() << "\n";
        return fail("cannot sample: the logits of position " +
                    llvm::Twine((*engine)->position() - 1) + " contain NaN");
      }
      llvm::outs() << " " << next;
      llvm::outs().flush(); // show tokens as they come
      if (i + 1 == generateCount)
        break; // the last token needs no forward call
      lastRow.clear();
      if (llvm::Error e = forward(**engine, {next}, lastRow)) {
        llvm::outs() << "\n";
        return fail(std::move(e));
      }
    }
    llvm::outs() << "\n";
    llvm::outs().flush(); // before the stderr line, so terminals show them in order
    llvm::errs() << "v4c-run: generated " << generateCount << " token(s) in "
                 << llvm::format("%.1f", generateTime.ms()) << " ms\n";
  }

  // 5. The NPU timeline and the dump, last, so that a failed run leaves no file behind.
  if (device && !npuTrace.empty()) {
    std::string error;
    if (!trace.write(npuTrace, error))
      return fail(error);
    llvm::errs() << "v4c-run: wrote the NPU timeline (" << trace.size() << " events) to "
                 << npuTrace << "\n";
  }
  if (!dumpLogits.empty()) {
    std::string error;
    if (!writeNpyF32(dumpLogits, {numTokens, vocab}, logits, error))
      return fail(error);
    llvm::errs() << "v4c-run: wrote the logits [" << numTokens << ", " << vocab << "] to "
                 << dumpLogits << "\n";
  }
  return 0;
}
