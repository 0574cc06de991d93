// What v4c-run drives: something that turns token ids into logits, one call at a time, keeping
// its KV state between calls (the reference interpreter now; compiled artifacts later).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace v4c {

/// DeepSeek's quantization steps on (faithful) or off (dequant); MODEL.md §6.7.
enum class PrecisionMode { Faithful, Dequant };

class Engine {
public:
  virtual ~Engine() = default;

  virtual int64_t vocabSize() const = 0;
  /// Positions processed so far; the next call starts here.
  virtual int64_t position() const = 0;
  /// Threads the engine may use (1 = the calling thread only). Results do not depend on it.
  virtual void setThreads(int threads) {}
  /// Forgets all state: the next call starts at position 0.
  virtual void reset() = 0;
  /// Processes `tokens` at positions position()..position()+T-1 (prefill: T tokens at once;
  /// decode: T = 1) and returns logits for every one of them, row-major [T, vocab].
  /// On failure returns an empty vector and sets `error`.
  virtual std::vector<float> forward(const std::vector<int32_t> &tokens, std::string &error) = 0;
  /// Logits of MTP module k (MODEL.md §6.4, speculative decoding) for the positions of the last
  /// forward() call, given the tokens that followed them (`nextTokens[t]` = the token at
  /// position t + 1), row-major [T, vocab]. On failure returns empty and sets `error`.
  virtual std::vector<float> mtpLogits(int64_t k, const std::vector<int32_t> &nextTokens,
                                       std::string &error) {
    error = "this engine has no MTP modules";
    return {};
  }
};

} // namespace v4c
