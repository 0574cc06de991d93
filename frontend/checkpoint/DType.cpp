#include "frontend/checkpoint/DType.h"

#include "llvm/ADT/StringSwitch.h"

namespace v4c {

llvm::StringRef dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32: return "F32";
  case DType::F16: return "F16";
  case DType::BF16: return "BF16";
  case DType::F8_E4M3: return "F8_E4M3";
  case DType::F8_E5M2: return "F8_E5M2";
  case DType::F8_E8M0: return "F8_E8M0";
  case DType::I8: return "I8";
  case DType::U8: return "U8";
  case DType::I16: return "I16";
  case DType::I32: return "I32";
  case DType::I64: return "I64";
  case DType::BOOL: return "BOOL";
  }
  return "?";
}

std::optional<DType> parseDType(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<DType>>(name)
      .Case("F32", DType::F32)
      .Case("F16", DType::F16)
      .Case("BF16", DType::BF16)
      .Case("F8_E4M3", DType::F8_E4M3)
      .Case("F8_E5M2", DType::F8_E5M2)
      .Case("F8_E8M0", DType::F8_E8M0)
      .Case("I8", DType::I8)
      .Case("U8", DType::U8)
      .Case("I16", DType::I16)
      .Case("I32", DType::I32)
      .Case("I64", DType::I64)
      .Case("BOOL", DType::BOOL)
      .Default(std::nullopt);
}

unsigned dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F32: case DType::I32: return 4;
  case DType::F16: case DType::BF16: case DType::I16: return 2;
  case DType::I64: return 8;
  default: return 1;
  }
}

} // namespace v4c
