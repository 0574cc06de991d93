// Element types a safetensors checkpoint may store, with their names as written in file headers.
#pragma once

#include "llvm/ADT/StringRef.h"
#include <cstdint>
#include <optional>

namespace v4c {

enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, F8_E5M2, F8_E8M0, I8, U8, I16, I32, I64, BOOL };

/// The safetensors header spelling ("F8_E4M3", "BF16", ...).
llvm::StringRef dtypeName(DType dtype);
/// Parses a safetensors dtype string; nullopt for anything this project does not know.
std::optional<DType> parseDType(llvm::StringRef name);
/// Bytes per element.
unsigned dtypeSize(DType dtype);

} // namespace v4c
