// `v4c gen`: random DeepSeek-V4 checkpoints in the real Hugging Face file layout (config.json,
// sharded safetensors, index), quantized like the releases, with values that keep activations
// sane through many layers. Used by tests and benchmarks in place of the real (huge) weights.
#pragma once

#include "frontend/checkpoint/ModelConfig.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>

namespace v4c {

struct SyntheticOptions {
  std::string preset = "tiny"; // "tiny" | "small"
  uint64_t seed = 0;           // same seed (and preset) → byte-identical files
  bool bf16 = false;           // unquantized: every linear BF16, no `.scale` tensors
};

/// The model config of a preset: "tiny" (unit tests, 7 MB, ~0.3 s) or "small" (benchmarks,
/// 390 MB, ~25 s). `bf16` drops the quantization (fp8Weights false, no expert_dtype).
llvm::Expected<ModelConfig> presetConfig(llvm::StringRef preset, bool bf16);

/// Writes config.json + two safetensors shards + model.safetensors.index.json into `dir`
/// (created if missing). Prints progress to `log` (one line per shard with tensor count and
/// bytes). config.json is written last: a failed run never leaves a checkpoint that looks
/// complete (a stale config.json / index in `dir` is removed before anything is written).
llvm::Error writeSyntheticCheckpoint(const SyntheticOptions &options, llvm::StringRef dir,
                                     llvm::raw_ostream &log);

} // namespace v4c
