#include "runtime/cpu/CpuEngine.h"

#include "runtime/artifact/Artifact.h"
#include "runtime/cpu/MemRefDescriptor.h"
#include "runtime/kernels/Gemm.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <unistd.h>

namespace v4c::cpu {
namespace {

using Bytes = MemRef<uint8_t, 1>;
using ForwardFn = void (*)(MemRef<int32_t, 1> *, int64_t, Bytes *, Bytes *, MemRef<float, 2> *,
                           MemRef<float, 3> *);
/// @mtpK(streams [T, n, D], next tokens [T], start) -> logits [T, V], in the runtime ABI.
using MtpFn = void (*)(MemRef<float, 3> *, MemRef<int32_t, 1> *, int64_t, Bytes *, Bytes *,
                       MemRef<float, 2> *);

class CpuEngine final : public Engine {
public:
  ~CpuEngine() override {
    if (library)
      dlclose(library);
    std::free(state);
  }

  explicit CpuEngine(CodeHooks hooks) : hooks(std::move(hooks)) {}

  bool open(const std::string &path, std::string &error, void *linkedForward) {
    artifact = artifact::openArtifact(path, error);
    if (!artifact)
      return false;
    if (artifact->target().kind != hooks.targetKind)
      return fail(error, path + " was compiled for target '" + artifact->target().kind +
                             "', not " + hooks.targetKind);
    const artifact::TensorView *embed = artifact->tensor("embed.weight");
    const artifact::TensorView *hcHead = artifact->tensor("hc_head_base");
    const artifact::SegmentView *code = artifact->segment("code");
    const artifact::SegmentView *weightSegment = artifact->segment("weights");
    if (!embed || embed->shape.size() != 2 || !hcHead || hcHead->shape.size() != 1 || !code ||
        !weightSegment)
      return fail(error, "lacks the embedding, the mHC head, the weights or the code");
    vocab = embed->shape[0];
    hidden = embed->shape[1];
    streams = hcHead->shape[0];
    weights = weightSegment;
    if (linkedForward) {
      forwardFn = reinterpret_cast<ForwardFn>(linkedForward);
      setThreadsFn = v4c_set_num_threads; // the executable links the microkernels itself
    } else if (!loadCode(*code, error)) {
      return false;
    }
    if (hooks.onLoad && !hooks.onLoad(library, *artifact, error))
      return false;
    stateBytes = artifact->state().arenaSize;
    state = static_cast<uint8_t *>(std::aligned_alloc(64, roundUp(std::max<uint64_t>(stateBytes, 64))));
    if (!state)
      return fail(error, "cannot allocate " + std::to_string(stateBytes) + " bytes of state");
    reset();
    return true;
  }

  int64_t vocabSize() const override { return vocab; }
  void setThreads(int threads) override {
    if (setThreadsFn)
      setThreadsFn(threads);
  }
  int64_t position() const override { return pos; }
  void reset() override {
    pos = 0;
    lastStreams.clear();
    std::memset(state, 0, stateBytes);
  }

  std::vector<float> forward(const std::vector<int32_t> &tokens, std::string &error) override {
    if (!inVocabulary(tokens, error))
      return {};
    if (pos + int64_t(tokens.size()) > artifact->state().maxSeqLen) {
      error = "the context would exceed the " + std::to_string(artifact->state().maxSeqLen) +
              " tokens this artifact was compiled for (v4c compile --max-seq-len)";
      return {};
    }
    int64_t T = tokens.size();
    std::vector<float> logits(T * vocab), finalStreams(T * streams * hidden);
    auto tokenView = rowMajor(const_cast<int32_t *>(tokens.data()), {T});
    auto [weightView, stateView] = arenaViews();
    auto logitsView = rowMajor(logits.data(), {T, vocab});
    auto streamsView = rowMajor(finalStreams.data(), {T, streams, hidden});
    forwardFn(&tokenView, pos, &weightView, &stateView, &logitsView, &streamsView);
    if (hooks.afterCall && !hooks.afterCall(error))
      return {};
    lastStreams = std::move(finalStreams);
    lastStart = pos;
    pos += T;
    return logits;
  }

  std::vector<float> mtpLogits(int64_t k, const std::vector<int32_t> &nextTokens,
                               std::string &error) override {
    MtpFn mtp = k >= 0 && size_t(k) < mtpFns.size() ? mtpFns[k] : nullptr;
    if (!mtp) {
      error = library ? "the model has no MTP module " + std::to_string(k)
                      : "MTP modules are not linked into standalone executables yet";
      return {};
    }
    int64_t T = nextTokens.size();
    if (T == 0 || T * streams * hidden != int64_t(lastStreams.size())) {
      error = "MTP needs one next token per position of the last forward call";
      return {};
    }
    if (!inVocabulary(nextTokens, error))
      return {};
    std::vector<float> logits(T * vocab);
    auto streamsView = rowMajor(lastStreams.data(), {T, streams, hidden});
    auto tokenView = rowMajor(const_cast<int32_t *>(nextTokens.data()), {T});
    auto [weightView, stateView] = arenaViews();
    auto logitsView = rowMajor(logits.data(), {T, vocab});
    mtp(&streamsView, &tokenView, lastStart, &weightView, &stateView, &logitsView);
    if (hooks.afterCall && !hooks.afterCall(error))
      return {};
    return logits;
  }

private:
  static bool fail(std::string &error, const std::string &what) {
    error = what;
    return false;
  }
  static uint64_t roundUp(uint64_t v) { return (v + 63) / 64 * 64; }

  bool inVocabulary(const std::vector<int32_t> &tokens, std::string &error) const {
    for (int32_t token : tokens)
      if (token < 0 || token >= vocab)
        return fail(error, "token id " + std::to_string(token) + " is outside the vocabulary [0, " +
                               std::to_string(vocab) + ")");
    return true;
  }
  /// The weight and state arenas as the entry points take them.
  std::pair<Bytes, Bytes> arenaViews() const {
    return {rowMajor(const_cast<uint8_t *>(weights->data), {int64_t(weights->size)}),
            rowMajor(state, {int64_t(stateBytes)})};
  }

  /// dlopen needs a file: the code goes into a fresh temporary one, removed once loaded. Its
  /// name is unique: dlopen knows libraries by path, and a library that cannot be unloaded
  /// (C++ unique symbols) would otherwise be handed to the next model opened under that name.
  bool loadCode(const artifact::SegmentView &code, std::string &error) {
    const char *tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/v4c-model-XXXXXX";
    int fd = mkstemp(path.data());
    if (fd < 0)
      return fail(error, artifact->path() + ": cannot create a temporary file for the code in " +
                             path.substr(0, path.rfind('/')));
    bool written = ::write(fd, code.data, code.size) == ssize_t(code.size);
    close(fd);
    library = written ? dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) : nullptr;
    // V4C_KEEP_CODE=1 leaves the file for profilers, which read symbols from it.
    const char *keep = std::getenv("V4C_KEEP_CODE");
    if (!keep || std::string(keep) != "1")
      unlink(path.c_str());
    if (!library)
      return fail(error, artifact->path() + ": cannot load the compiled code: " +
                             (written ? dlerror() : "write failed"));
    forwardFn = reinterpret_cast<ForwardFn>(dlsym(library, "_mlir_ciface_forward"));
    // The model's own copy of the microkernels (linked into its shared object) owns its threads.
    setThreadsFn = reinterpret_cast<void (*)(int)>(dlsym(library, "v4c_set_num_threads"));
    if (!forwardFn)
      return fail(error, artifact->path() + ": the code has no 'forward' entry point");
    // MTP modules, by index, once: the entry points the artifact lists ("mtp0", ...).
    for (const artifact::EntryPoint &entry : artifact->entryPoints())
      if (entry.name.rfind("mtp", 0) == 0) {
        size_t index = std::strtoul(entry.name.c_str() + 3, nullptr, 10);
        if (index >= 64) // V4 has one or two; a bigger index is not a model's
          continue;
        if (mtpFns.size() <= index)
          mtpFns.resize(index + 1, nullptr);
        mtpFns[index] = reinterpret_cast<MtpFn>(dlsym(library, entry.symbol.c_str()));
      }
    return true;
  }

  CodeHooks hooks;
  std::unique_ptr<artifact::Artifact> artifact;
  const artifact::SegmentView *weights = nullptr;
  void *library = nullptr;
  ForwardFn forwardFn = nullptr;
  std::vector<MtpFn> mtpFns; // by module index; null where the code has none
  void (*setThreadsFn)(int) = nullptr;
  uint8_t *state = nullptr;
  uint64_t stateBytes = 0;
  int64_t vocab = 0, hidden = 0, streams = 0, pos = 0;
  std::vector<float> lastStreams; // the last forward call's final residual streams, for MTP
  int64_t lastStart = 0;
};

} // namespace

std::unique_ptr<Engine> openCpuEngine(const std::string &path, std::string &error,
                                      void *linkedForward, const CodeHooks &hooks) {
  auto engine = std::make_unique<CpuEngine>(hooks);
  if (!engine->open(path, error, linkedForward))
    return nullptr;
  return engine;
}

} // namespace v4c::cpu
