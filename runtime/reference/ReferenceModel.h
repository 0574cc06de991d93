// The numerical ground truth: a direct C++ transcription of the DeepSeek-V4 forward pass
// (MODEL.md §6.4-§6.7) in plain fp32 loops, reading weights through the checkpoint reader.
// Independent of the graph IR: every compiled path is judged against it.
#pragma once

#include "runtime/Engine.h"

#include "frontend/checkpoint/Safetensors.h"

#include "llvm/Support/Error.h"

#include <memory>

namespace v4c::reference {

/// The reference as an Engine (MTP modules included).
class ReferenceEngine : public Engine {};

/// Loads the model behind `checkpoint` (which must outlive the engine) after checking every
/// tensor against the config. Weights are decoded lazily, tensor by tensor, on first use.
llvm::Expected<std::unique_ptr<ReferenceEngine>>
createReferenceEngine(const Checkpoint &checkpoint, PrecisionMode mode);

} // namespace v4c::reference
