#include "runtime/reference/Weights.h"

#include "frontend/checkpoint/LowPrecision.h"

#include "llvm/Support/Endian.h"

#include <cstring>
#include <optional>

namespace v4c::reference {

namespace {

llvm::Error missing(const std::string &name) {
  return llvm::createStringError("checkpoint has no tensor '%s'", name.c_str());
}

/// One stored element as fp32, for the plain float dtypes and the E8M0 scales.
std::optional<float> decodeElement(DType dtype, const uint8_t *p) {
  using namespace llvm::support;
  switch (dtype) {
  case DType::F32: {
    uint32_t bits = endian::read32le(p);
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  case DType::BF16: return lowp::bf16ToFloat(endian::read16le(p));
  case DType::F16: return lowp::f16ToFloat(endian::read16le(p));
  case DType::F8_E4M3: return lowp::e4m3ToFloat(*p);
  case DType::F8_E5M2: return lowp::e5m2ToFloat(*p);
  case DType::F8_E8M0: return lowp::e8m0ToFloat(*p);
  default: return std::nullopt;
  }
}

} // namespace

llvm::Expected<Tensor> WeightStore::decode(const std::string &name) {
  const TensorInfo *info = checkpoint.find(name);
  if (!info)
    return missing(name);
  llvm::ArrayRef<uint8_t> bytes = checkpoint.bytes(*info);
  Tensor t;
  t.shape = info->shape;
  llvm::StringRef ref(name);
  std::string scaleName = ref.ends_with(".weight") ? ref.drop_back(7).str() + ".scale" : "";
  const TensorInfo *scaleInfo = scaleName.empty() ? nullptr : checkpoint.find(scaleName);

  // FP4 experts: I8 bytes holding two e2m1 values (element 2i in the low nibble), one E8M0
  // scale per 32 along K.
  if ((info->dtype == DType::I8 || info->dtype == DType::U8) && scaleInfo) {
    int64_t rows = info->shape[0], packed = info->shape[1], cols = packed * 2;
    if (scaleInfo->shape != std::vector<int64_t>{rows, cols / 32})
      return llvm::createStringError("'%s': FP4 scale shape does not match", scaleName.c_str());
    llvm::ArrayRef<uint8_t> scales = checkpoint.bytes(*scaleInfo);
    t.shape = {rows, cols};
    t.data.resize(rows * cols);
    t.quantized = true;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        float scale = *decodeElement(scaleInfo->dtype,
                                     scales.data() + (r * (cols / 32) + c / 32) * dtypeSize(scaleInfo->dtype));
        t.data[r * cols + c] =
            lowp::e2m1ToFloat(lowp::e2m1Nibble(bytes.slice(r * packed, packed), c)) * scale;
      }
    return t;
  }

  int64_t n = info->numElements();
  t.data.resize(n);
  unsigned size = dtypeSize(info->dtype);
  for (int64_t i = 0; i < n; ++i) {
    auto v = decodeElement(info->dtype, bytes.data() + i * size);
    if (!v)
      return llvm::createStringError("'%s': dtype %s is not a float type", name.c_str(),
                                     dtypeName(info->dtype).str().c_str());
    t.data[i] = *v;
  }
  // FP8 weights: multiply each 128x128 block by its dequantization scale.
  if (info->dtype == DType::F8_E4M3 && scaleInfo) {
    int64_t rows = t.rows(), cols = t.cols();
    int64_t scaleCols = (cols + blockCols - 1) / blockCols;
    llvm::ArrayRef<uint8_t> scales = checkpoint.bytes(*scaleInfo);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        t.data[r * cols + c] *=
            *decodeElement(scaleInfo->dtype,
                           scales.data() + ((r / blockRows) * scaleCols + c / blockCols) *
                                               dtypeSize(scaleInfo->dtype));
    t.quantized = true;
  }
  return t;
}

llvm::Expected<const Tensor &> WeightStore::get(const std::string &name) {
  auto it = cache.find(name);
  if (it != cache.end())
    return it->second;
  auto decoded = decode(name);
  if (!decoded)
    return decoded.takeError();
  return cache.try_emplace(name, std::move(*decoded)).first->second;
}

llvm::Expected<const std::vector<int64_t> &> WeightStore::integers(const std::string &name) {
  auto it = intCache.find(name);
  if (it != intCache.end())
    return it->second;
  const TensorInfo *info = checkpoint.find(name);
  if (!info)
    return missing(name);
  llvm::ArrayRef<uint8_t> bytes = checkpoint.bytes(*info);
  std::vector<int64_t> values(info->numElements());
  for (size_t i = 0; i < values.size(); ++i) {
    if (info->dtype == DType::I64)
      values[i] = int64_t(llvm::support::endian::read64le(bytes.data() + 8 * i));
    else if (info->dtype == DType::I32)
      values[i] = int32_t(llvm::support::endian::read32le(bytes.data() + 4 * i));
    else
      return llvm::createStringError("'%s': expected I32 or I64, got %s", name.c_str(),
                                     dtypeName(info->dtype).str().c_str());
  }
  return intCache.try_emplace(name, std::move(values)).first->second;
}

} // namespace v4c::reference
