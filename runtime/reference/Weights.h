// Decoded weights of the reference: each checkpoint tensor as fp32, decoded on first use from
// the mmap-ed file (BF16/F16/F32 as stored; FP8 e4m3 x 128x128 block scales; FP4 e2m1 x one
// scale per 32 along K) and kept for later calls.
#pragma once

#include "frontend/checkpoint/Safetensors.h"

#include "llvm/ADT/StringMap.h"

#include <vector>

namespace v4c::reference {

/// A decoded tensor, row-major; `quantized` says whether the file stored it as FP8/FP4 (the
/// faithful mode quantizes activations before such linears).
struct Tensor {
  std::vector<int64_t> shape; // logical shape
  std::vector<float> data;
  bool quantized = false;
  int64_t rows() const { return shape.empty() ? 1 : shape.front(); }
  int64_t cols() const { return shape.size() < 2 ? 1 : shape.back(); }
};

class WeightStore {
public:
  WeightStore(const Checkpoint &checkpoint, int64_t blockRows, int64_t blockCols)
      : checkpoint(checkpoint), blockRows(blockRows), blockCols(blockCols) {}

  /// `name` decoded to fp32 (with `name`'s companion `.scale` applied for `X.weight`).
  llvm::Expected<const Tensor &> get(const std::string &name);
  /// An integer tensor (tid2eid) as int64.
  llvm::Expected<const std::vector<int64_t> &> integers(const std::string &name);

private:
  llvm::Expected<Tensor> decode(const std::string &name);

  const Checkpoint &checkpoint;
  int64_t blockRows, blockCols;
  llvm::StringMap<Tensor> cache;
  llvm::StringMap<std::vector<int64_t>> intCache;
};

} // namespace v4c::reference
