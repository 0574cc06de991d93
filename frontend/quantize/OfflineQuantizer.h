// `v4c quantize`: an unquantized (BF16/F32) V4 checkpoint in, DeepSeek's release format out:
// linear weights FP8 e4m3 in 128x128 blocks, routed experts FP4 e2m1 with one scale per 32
// along K (or FP8 in 128x128 blocks), all scales E8M0 powers of two (MODEL.md §3), every other
// tensor copied.
// Streams one tensor at a time from the mmap-ed input and reports each quantized tensor's error.
#pragma once

#include "frontend/checkpoint/Safetensors.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace v4c {

struct QuantizeOptions {
  std::string experts = "fp4"; // fp4 (the release) or fp8
};

/// How far a quantized tensor is from its source: ‖w − dequant(q)‖₂ / ‖w‖₂ and max |w − dequant(q)|.
struct QuantizationError {
  std::string name, format; // format: "fp8_e4m3_b128x128" or "fp4_e2m1_g32"
  int64_t elements = 0;
  double relativeL2 = 0, maxAbs = 0;
};

/// Writes the quantized checkpoint to `outDir` (model.safetensors, then config.json with the
/// quantization settings: the directory is a checkpoint only once it is complete). `in` must be
/// an unquantized checkpoint with every tensor expectedTensors() lists; `outDir` must not be
/// it, nor hold safetensors files already.
llvm::Expected<std::vector<QuantizationError>>
quantizeCheckpoint(const Checkpoint &in, llvm::StringRef outDir, const QuantizeOptions &options,
                   llvm::raw_ostream &log);

} // namespace v4c
