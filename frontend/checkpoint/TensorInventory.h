// Which tensors a V4 checkpoint holds for a given config: names, stored shapes and dtypes
// (MODEL.md §6.3). The single source of truth for the generator, the checkpoint validator
// and the weightless graph import.
#pragma once

#include "frontend/checkpoint/DType.h"
#include "frontend/checkpoint/ModelConfig.h"

#include <string>
#include <vector>

namespace v4c {

/// How a tensor's stored bytes map to logical values.
enum class TensorEncoding : uint8_t {
  Plain,       // stored dtype is the logical element type
  Fp4x2,       // I8 bytes holding two E2M1 values along the last dim (element 2i = low nibble)
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;        // as stored in the file
  DType dtype;                       // what the release (and `v4c gen`) stores
  std::vector<DType> alsoAccepted;   // other dtypes real checkpoints are known to use
  TensorEncoding encoding = TensorEncoding::Plain;

  bool accepts(DType d) const;
  /// Logical shape (FP4-packed tensors have twice the stored last dim).
  std::vector<int64_t> logicalShape() const;
};

/// Every tensor the checkpoint for `config` must contain, in a stable order (by layer, then
/// the order of MODEL.md §6.3). Expert tensors are listed per expert, as stored.
std::vector<TensorSpec> expectedTensors(const ModelConfig &config);

/// Name prefix of decoder layer `layer` ("layers.N." or "mtp.K." for MTP layers).
std::string layerPrefix(const ModelConfig &config, int64_t layer);

} // namespace v4c

namespace v4c {
class Checkpoint;

/// Checks that `checkpoint` holds every tensor of `specs` with the stored shape and an accepted
/// dtype, and that no scale tensor holds NaN/Inf (rejected: a NaN scale poisons whole blocks).
/// Returns the number of tensors in the checkpoint that the config does not use.
llvm::Expected<size_t> validateCheckpointTensors(const Checkpoint &checkpoint,
                                                 llvm::ArrayRef<TensorSpec> specs);
} // namespace v4c
