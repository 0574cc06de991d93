// main() of a deployable model executable (`v4c compile --emit exe`): the compiled model is
// linked in; its weights come from the artifact written next to the executable. Links no
// LLVM/MLIR and needs no v4c installation.
//
//   ./model --tokens 1,2,3 [--generate N] [--temperature T] [--top-p P] [--seed S]
//           [--dump-logits F.npy] [--artifact PATH]
#include "runtime/Npy.h"
#include "runtime/Sampler.h"
#include "runtime/cpu/CpuEngine.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" void _mlir_ciface_forward(); // provided by the model object; called through the engine

namespace {

const char *kUsage =
    "usage: %s --tokens ID,ID,... [options]\n"
    "Runs the DeepSeek-V4 model compiled into this program.\n\n"
    "  --tokens ID,...       input token ids (comma-separated)\n"
    "  --generate N          sample N tokens after the input (greedy unless --temperature)\n"
    "  --temperature T       sampling temperature (0 = greedy, default)\n"
    "  --top-p P             nucleus sampling mass, 0 < P <= 1 (default 1)\n"
    "  --seed S              random seed for sampling (default 0)\n"
    "  --dump-logits F.npy   write the input positions' logits as float32 [tokens, vocab]\n"
    "  --num-threads N       threads for the matrix products (default 1)\n"
    "  --artifact PATH       the weights (default: this program's path + .v4a)\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

bool parseTokens(const char *text, std::vector<int32_t> &tokens) {
  std::string s(text);
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    std::string item = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    char *rest = nullptr;
    long value = std::strtol(item.c_str(), &rest, 10);
    if (item.empty() || *rest != '\0' || value < 0 || value > INT32_MAX)
      return false;
    tokens.push_back(int32_t(value));
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return !tokens.empty();
}

} // namespace

int main(int argc, char **argv) {
  std::vector<int32_t> tokens;
  long generate = 0, threads = 1;
  v4c::SamplingOptions sampling;
  std::string dumpPath, artifactPath = std::string(argv[0]) + ".v4a";
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf(kUsage, argv[0]);
      return 0;
    }
    if (i + 1 >= argc)
      return fail("missing value for " + flag);
    const char *value = argv[++i];
    if (flag == "--tokens") {
      if (!parseTokens(value, tokens))
        return fail(std::string("--tokens: '") + value + "' is not a list of token ids");
    } else if (flag == "--generate") {
      generate = std::strtol(value, nullptr, 10);
    } else if (flag == "--temperature") {
      sampling.temperature = std::strtof(value, nullptr);
    } else if (flag == "--top-p") {
      sampling.topP = std::strtof(value, nullptr);
    } else if (flag == "--seed") {
      sampling.seed = std::strtoull(value, nullptr, 10);
    } else if (flag == "--dump-logits") {
      dumpPath = value;
    } else if (flag == "--num-threads") {
      threads = std::strtol(value, nullptr, 10);
    } else if (flag == "--artifact") {
      artifactPath = value;
    } else {
      return fail("unknown option " + flag + " (see --help)");
    }
  }
  if (tokens.empty())
    return fail("--tokens is required (see --help)");
  if (generate < 0 || threads < 1 || !(sampling.temperature >= 0) ||
      !(sampling.topP > 0 && sampling.topP <= 1))
    return fail("--generate must be >= 0, --num-threads >= 1, --temperature >= 0 and --top-p in (0, 1]");

  std::string error;
  auto engine = v4c::cpu::openCpuEngine(artifactPath, error,
                                        reinterpret_cast<void *>(&_mlir_ciface_forward));
  if (!engine)
    return fail(error);
  engine->setThreads(int(threads));
  auto start = std::chrono::steady_clock::now();
  std::vector<float> logits = engine->forward(tokens, error);
  if (logits.empty())
    return fail(error);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count();
  int64_t vocab = engine->vocabSize();
  std::vector<float> last(logits.end() - vocab, logits.end());
  std::printf("%zu tokens in %.1f ms\n", tokens.size(), ms);
  if (generate > 0) {
    v4c::Sampler sampler(sampling);
    std::printf("generated:");
    for (long i = 0; i < generate; ++i) {
      int32_t next = sampler.next(last.data(), vocab);
      if (next < 0)
        return fail("cannot sample: the logits contain NaN");
      std::printf(" %d", next);
      std::fflush(stdout);
      if (i + 1 == generate)
        break;
      last = engine->forward({next}, error);
      if (last.empty())
        return fail(error);
    }
    std::printf("\n");
  }
  if (!dumpPath.empty() &&
      !v4c::writeNpyF32(dumpPath, {int64_t(tokens.size()), vocab}, logits, error))
    return fail(error);
  return 0;
}
