#include "frontend/quantize/OfflineQuantizer.h"

#include "frontend/checkpoint/LowPrecision.h"
#include "frontend/checkpoint/ModelConfig.h"
#include "frontend/checkpoint/TensorInventory.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <cstring>

namespace v4c {

namespace {

constexpr int64_t kBlock = 128, kGroup = 32;

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Element i of a BF16/F32 source tensor.
float sourceValue(DType dtype, llvm::ArrayRef<uint8_t> bytes, size_t i) {
  if (dtype == DType::BF16)
    return lowp::bf16ToFloat(llvm::support::endian::read16le(&bytes[2 * i]));
  return llvm::bit_cast<float>(llvm::support::endian::read32le(&bytes[4 * i]));
}

/// A source matrix [rows, cols] in BF16 or F32.
struct Matrix {
  DType dtype;
  llvm::ArrayRef<uint8_t> bytes;
  int64_t rows, cols;
  float at(int64_t r, int64_t c) const { return sourceValue(dtype, bytes, size_t(r * cols + c)); }
};

/// The scale exponent of each quantization unit: a 128x128 block (FP8) or 32 along a row (FP4).
int blockExponent(const Matrix &m, int64_t r0, int64_t c0, int64_t rows, int64_t cols, bool fp4) {
  float amax = 0;
  for (int64_t r = r0; r < std::min(m.rows, r0 + rows); ++r)
    for (int64_t c = c0; c < std::min(m.cols, c0 + cols); ++c)
      amax = std::max(amax, std::fabs(m.at(r, c)));
  return fp4 ? lowp::ue8m0ScaleExponentFp4(amax) : lowp::ue8m0ScaleExponent(amax, 448.0f);
}

struct ErrorSums {
  double diff2 = 0, ref2 = 0, maxAbs = 0;
  void add(float ref, float got) {
    double d = double(ref) - got;
    diff2 += d * d;
    ref2 += double(ref) * ref;
    maxAbs = std::max(maxAbs, std::fabs(d));
  }
};

} // namespace

llvm::Expected<std::vector<QuantizationError>>
quantizeCheckpoint(const Checkpoint &in, llvm::StringRef outDir, const QuantizeOptions &options,
                   llvm::raw_ostream &log) {
  const ModelConfig &source = in.config();
  if (source.fp8Weights)
    return makeError(in.dir() + ": already quantized (config.json has a quantization_config); "
                                "v4c quantize reads BF16/F32 checkpoints");
  if (options.experts != "fp4" && options.experts != "fp8")
    return makeError("--experts must be fp4 or fp8, got '" + options.experts + "'");
  if (!in.hasWeights())
    return makeError(in.dir() + ": holds only config.json: quantizing needs weights");
  // The output must be a fresh checkpoint: writing over the input, or next to other shards
  // (which Checkpoint::open would merge in), would corrupt one or the other.
  if (llvm::sys::fs::equivalent(in.dir(), outDir))
    return makeError(outDir + ": is the input checkpoint; choose another output directory");
  std::error_code listError;
  for (llvm::sys::fs::directory_iterator it(outDir, listError), end; !listError && it != end;
       it.increment(listError))
    if (llvm::StringRef(it->path()).ends_with(".safetensors") ||
        llvm::StringRef(it->path()).ends_with(".safetensors.index.json"))
      return makeError(outDir + ": already holds " + llvm::sys::path::filename(it->path()) +
                       "; quantize into an empty directory");
  ModelConfig target = source;
  target.fp8Weights = true;
  target.scaleFmt = "ue8m0";
  target.expertDtype = options.experts;
  target.weightBlockRows = target.weightBlockCols = kBlock;

  // Every source tensor first (present, BF16/F32 linears, stored shapes, finite scales): a bad
  // one is reported before anything is written.
  if (llvm::Expected<size_t> unused = validateCheckpointTensors(in, expectedTensors(source));
      !unused)
    return unused.takeError();
  std::vector<TensorSpec> specs = expectedTensors(target);
  std::vector<QuantizationError> errors;
  SafetensorsWriter writer;

  for (const TensorSpec &spec : specs) {
    llvm::StringRef name(spec.name);
    bool fp4 = spec.encoding == TensorEncoding::Fp4x2;
    bool fp8 = spec.dtype == DType::F8_E4M3;
    bool scale = name.ends_with(".scale");
    if (!fp4 && !fp8 && !scale) { // copied as stored
      const TensorInfo *t = in.find(name);
      llvm::ArrayRef<uint8_t> bytes = in.bytes(*t);
      writer.add(spec.name, t->dtype, t->shape, [bytes](llvm::MutableArrayRef<uint8_t> out) {
        std::memcpy(out.data(), bytes.data(), bytes.size());
      });
      continue;
    }
    // A scale belongs to its weight: the weight's spec gives the unit and the logical shape.
    std::string weightName = scale ? (name.drop_back(6) + ".weight").str() : spec.name;
    auto owner = llvm::find_if(specs, [&](const TensorSpec &s) { return s.name == weightName; });
    if (owner == specs.end())
      return makeError("the inventory lists " + name + " without " + weightName);
    const TensorSpec &weightSpec = *owner;
    bool fp4Unit = weightSpec.encoding == TensorEncoding::Fp4x2;
    std::vector<int64_t> logical = weightSpec.logicalShape();
    int64_t rows = logical[0], cols = logical[1];
    const TensorInfo *source = in.find(weightName);
    const Matrix m{source->dtype, in.bytes(*source), rows, cols};
    const int64_t unitRows = fp4Unit ? 1 : kBlock, unitCols = fp4Unit ? kGroup : kBlock;
    const int64_t unitsPerRow = (cols + unitCols - 1) / unitCols;
    if (scale) {
      writer.add(spec.name, DType::F8_E8M0, spec.shape,
                 [m, fp4Unit, unitRows, unitCols, unitsPerRow](llvm::MutableArrayRef<uint8_t> out) {
                   for (size_t u = 0; u < out.size(); ++u)
                     out[u] = lowp::e8m0FromPow2Exponent(
                         blockExponent(m, int64_t(u / unitsPerRow) * unitRows,
                                       int64_t(u % unitsPerRow) * unitCols, unitRows, unitCols, fp4Unit));
                 });
      continue;
    }
    errors.push_back({spec.name, fp4 ? "fp4_e2m1_g32" : "fp8_e4m3_b128x128", rows * cols, 0, 0});
    size_t index = errors.size() - 1; // the fills run later, once `errors` has stopped growing
    writer.add(spec.name, spec.dtype, spec.shape,
               [m, fp4, unitRows, unitCols, &errors, index](llvm::MutableArrayRef<uint8_t> out) {
                 std::memset(out.data(), 0, out.size());
                 ErrorSums sums;
                 for (int64_t r0 = 0; r0 < m.rows; r0 += unitRows)
                   for (int64_t c0 = 0; c0 < m.cols; c0 += unitCols) {
                     int e = blockExponent(m, r0, c0, unitRows, unitCols, fp4);
                     float scale = std::ldexp(1.0f, e), inverse = std::ldexp(1.0f, -e);
                     for (int64_t r = r0; r < std::min(m.rows, r0 + unitRows); ++r)
                       for (int64_t c = c0; c < std::min(m.cols, c0 + unitCols); ++c) {
                         float w = m.at(r, c), q = w * inverse;
                         size_t i = size_t(r * m.cols + c);
                         if (fp4) {
                           uint8_t nibble = lowp::floatToE2m1(q);
                           out[i / 2] |= uint8_t(i % 2 == 0 ? nibble : nibble << 4);
                           sums.add(w, lowp::e2m1ToFloat(nibble) * scale);
                         } else {
                           out[i] = lowp::floatToE4m3(q);
                           sums.add(w, lowp::e4m3ToFloat(out[i]) * scale);
                         }
                       }
                   }
                 QuantizationError &err = errors[index];
                 err.relativeL2 = sums.ref2 > 0 ? std::sqrt(sums.diff2 / sums.ref2) : 0;
                 err.maxAbs = sums.maxAbs;
               });
  }

  if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
    return makeError(outDir + ": cannot create directory: " + ec.message());
  llvm::SmallString<256> configPath(outDir), modelPath(outDir);
  llvm::sys::path::append(configPath, "config.json");
  llvm::sys::path::append(modelPath, "model.safetensors");
  if (std::error_code ec = llvm::sys::fs::remove(configPath)) // stale marker first
    return makeError(configPath + ": cannot remove: " + ec.message());
  writer.setMetadata("format", "pt");
  log << "quantizing " << errors.size() << " weight tensors into " << modelPath << "\n";
  if (llvm::Error e = writer.write(modelPath))
    return std::move(e);
  if (llvm::Error e = llvm::writeToOutput(configPath, [&](llvm::raw_ostream &os) {
        os << modelConfigToJson(target);
        return llvm::Error::success();
      }))
    return std::move(e);
  return errors;
}

} // namespace v4c
