#include "frontend/synthetic/SyntheticCheckpoint.h"

#include "frontend/checkpoint/LowPrecision.h"
#include "frontend/checkpoint/Safetensors.h"
#include "frontend/checkpoint/TensorInventory.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

namespace v4c {

namespace {

constexpr llvm::StringLiteral kShardNames[] = {"model-00001-of-00002.safetensors",
                                               "model-00002-of-00002.safetensors"};
constexpr llvm::StringLiteral kIndexFile = "model.safetensors.index.json";
constexpr llvm::StringLiteral kConfigFile = "config.json";

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

std::string joinPath(llvm::StringRef dir, llvm::StringRef file) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, file);
  return std::string(path);
}

int64_t numElements(llvm::ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

//===----------------------------------------------------------------------===//
// Deterministic sampling
//===----------------------------------------------------------------------===//

/// splitmix64's finalizer: a bijective 64-bit mix.
uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Each tensor draws from its own stream seeded by (seed, name), so its bytes do not depend on
/// the order the writer asks for tensors, on the sharding, or on which other tensors exist.
uint64_t tensorSeed(uint64_t seed, llvm::StringRef name) {
  uint64_t hash = 0xCBF29CE484222325ull; // FNV-1a
  for (char c : name)
    hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
  return mix64(seed ^ mix64(hash));
}

/// Random numbers that are the same bits on every platform: std::mt19937_64 is fully specified
/// by the standard, but std::normal_distribution and std::uniform_int_distribution are not, so
/// both are replaced. "Normal" samples are the standardized sum of four 16-bit uniforms from one
/// draw (Irwin–Hall, n = 4): integer arithmetic plus one correctly rounded division, close
/// enough to N(0, 1) for synthetic weights and bounded by ±3.46 (no outliers to blow up).
class Sampler {
public:
  explicit Sampler(uint64_t seed) : engine(seed) {}

  double normal() {
    uint64_t r = engine();
    int64_t sum = static_cast<int64_t>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) +
                                       ((r >> 32) & 0xFFFF) + (r >> 48));
    // Each 16-bit uniform has mean 32767.5 and variance (2^32 − 1)/12.
    static const double stddev = std::sqrt((4294967296.0 - 1) / 3);
    return (static_cast<double>(sum) - 131070.0) / stddev;
  }

  /// Uniform in [0, n) (Lemire's multiply-shift; its tiny bias is irrelevant here).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(engine()) * n) >> 64);
  }

private:
  std::mt19937_64 engine;
};

//===----------------------------------------------------------------------===//
// What each tensor holds
//===----------------------------------------------------------------------===//

enum class Role { Embedding, Norm, Scale, HcFn, HcBase, HcScale, AttnSink, Ape, GateBias,
                  Tid2Eid, Linear };

/// The value rules, matched on the tensor name's suffix (MODEL.md §6.3 names; first match wins).
/// n = hc_mult, d = hidden_size, `in` = a linear's logical input width; N is Sampler::normal.
///
///   suffix        role       values
///   embed.weight  Embedding  N(0, 1), BF16
///   norm.weight   Norm       1 + N(0, 0.02)  (attn/ffn/q/kv/compressor/final norms, enorm, hnorm)
///   .scale        Scale      E8M0 code (or F32 value) of its weight's per-block power-of-two scale
///   _fn           HcFn       N(0, 0.5/sqrt(n·d)): mHC mixing logits ~N(0, 0.5²) at any size
///   _base         HcBase     pre logit(1/n) (pre ≈ 1/n), post 0 (post ≈ 1), res 4 on the
///                            diagonal and 0 off it (streams mostly keep themselves); + N(0, 0.01)
///   _scale        HcScale    1 + N(0, 0.01)
///   attn_sink     AttnSink   N(0, 0.1)
///   .ape          Ape        N(0, 0.02)
///   gate.bias     GateBias   N(0, 0.01)
///   gate.tid2eid  Tid2Eid    num_experts_per_tok distinct expert ids per token, uniform
///   .weight       Linear     N(0, 1/sqrt(in)) in the stored encoding: FP8 e4m3 with one E8M0
///                            scale per 128×128 block (smallest 2^k with amax/2^k ≤ 448), packed
///                            FP4 e2m1 with one per 1×32 group (≤ 6), or plain BF16 (head, router
///                            gate, compressors, weights_proj, every linear of a BF16 model)
struct RoleRule {
  llvm::StringLiteral suffix;
  Role role;
};
constexpr RoleRule kRoleRules[] = {
    {"embed.weight", Role::Embedding}, {"norm.weight", Role::Norm},
    {".scale", Role::Scale},           {"_fn", Role::HcFn},
    {"_base", Role::HcBase},           {"_scale", Role::HcScale},
    {"attn_sink", Role::AttnSink},     {".ape", Role::Ape},
    {"gate.bias", Role::GateBias},     {"gate.tid2eid", Role::Tid2Eid},
    {".weight", Role::Linear},
};

llvm::Expected<Role> classify(const TensorSpec &spec) {
  for (const RoleRule &rule : kRoleRules)
    if (llvm::StringRef(spec.name).ends_with(rule.suffix))
      return rule.role;
  return makeError("synthetic checkpoint: no value rule for tensor '" + spec.name + "'");
}

bool isBlockQuantized(const TensorSpec &spec) {
  return spec.dtype == DType::F8_E4M3 || spec.encoding == TensorEncoding::Fp4x2;
}

/// A quantized linear as stored: the weight's bytes and its scale tensor's E8M0 codes.
struct QuantizedWeight {
  std::vector<uint8_t> data;
  std::vector<uint8_t> scaleCodes;
};

/// Blockwise power-of-two quantization: FP8 uses 128×128 blocks (qmax 448), FP4 1×32 groups
/// along K (qmax 6, with the §6.7 amax clamp).
struct BlockFormat {
  int64_t blockRows, blockCols;
  int (*scaleExponent)(float amax);
  uint8_t (*encode)(float);
};

/// Quantizes a row-major [rows, cols] matrix into one code per element plus one scale code per
/// block (row-major over blocks; partial edge blocks get their own scale).
void quantizeBlocks(llvm::ArrayRef<float> values, int64_t rows, int64_t cols,
                    const BlockFormat &format, std::vector<uint8_t> &codes,
                    std::vector<uint8_t> &scaleCodes) {
  int64_t blockRowCount = ceilDiv(rows, format.blockRows);
  int64_t blockColCount = ceilDiv(cols, format.blockCols);
  codes.assign(values.size(), 0);
  scaleCodes.assign(blockRowCount * blockColCount, 0);
  for (int64_t bi = 0; bi < blockRowCount; ++bi) {
    int64_t rowEnd = std::min(rows, (bi + 1) * format.blockRows);
    for (int64_t bj = 0; bj < blockColCount; ++bj) {
      int64_t colBegin = bj * format.blockCols;
      int64_t colEnd = std::min(cols, colBegin + format.blockCols);
      float amax = 0;
      for (int64_t r = bi * format.blockRows; r < rowEnd; ++r)
        for (int64_t c = colBegin; c < colEnd; ++c)
          amax = std::max(amax, std::fabs(values[r * cols + c]));
      uint8_t scaleCode = lowp::e8m0FromPow2Exponent(format.scaleExponent(amax));
      scaleCodes[bi * blockColCount + bj] = scaleCode;
      // Divide by the scale the checkpoint stores (never 0, unlike pow2Bits(-127)).
      float scale = lowp::e8m0ToFloat(scaleCode);
      for (int64_t r = bi * format.blockRows; r < rowEnd; ++r)
        for (int64_t c = colBegin; c < colEnd; ++c)
          codes[r * cols + c] = format.encode(values[r * cols + c] / scale);
    }
  }
}

/// Produces every tensor's bytes from (config, seed). Quantized linears are computed once and
/// shared between the weight and its `.scale`, whichever the writer asks for first.
class ValueGenerator {
public:
  ValueGenerator(const ModelConfig &config, uint64_t seed, llvm::ArrayRef<TensorSpec> specs)
      : config(config), seed(seed) {
    for (const TensorSpec &spec : specs)
      specsByName[spec.name] = &spec;
  }

  /// Checks up front what the fill callbacks rely on (they cannot report errors).
  llvm::Error check(const TensorSpec &spec, Role role) const {
    auto fail = [&](const llvm::Twine &why) {
      return makeError("synthetic checkpoint: tensor '" + spec.name + "' " + why);
    };
    if (spec.shape.empty())
      return fail("is a scalar");
    switch (role) {
    case Role::Scale: {
      const TensorSpec *weight = weightOfScale(spec);
      if (!weight || !isBlockQuantized(*weight))
        return fail("has no FP8/FP4 weight next to it");
      if (spec.dtype != DType::F8_E8M0 && spec.dtype != DType::F32)
        return fail("is a scale stored as " + dtypeName(spec.dtype));
      return llvm::Error::success();
    }
    case Role::Tid2Eid:
      if (spec.dtype != DType::I64 && spec.dtype != DType::I32)
        return fail("holds expert ids but is stored as " + dtypeName(spec.dtype));
      if (spec.shape.back() > config.nRoutedExperts)
        return fail("needs more distinct experts per token than n_routed_experts");
      return llvm::Error::success();
    case Role::Linear:
      if (isBlockQuantized(spec))
        return llvm::Error::success();
      [[fallthrough]];
    default:
      if (spec.dtype != DType::F32 && spec.dtype != DType::BF16 && spec.dtype != DType::F16)
        return fail("holds real values but is stored as " + dtypeName(spec.dtype));
      return llvm::Error::success();
    }
  }

  void fill(const TensorSpec &spec, Role role, llvm::MutableArrayRef<uint8_t> out) {
    switch (role) {
    case Role::Scale:
      withQuantized(*weightOfScale(spec), /*forScale=*/true, [&](const QuantizedWeight &q) {
        for (auto [i, code] : llvm::enumerate(q.scaleCodes)) {
          if (spec.dtype == DType::F8_E8M0)
            out[i] = code;
          else
            storeFloat(DType::F32, out, i, lowp::e8m0ToFloat(code));
        }
      });
      return;
    case Role::Tid2Eid:
      fillTid2Eid(spec, out);
      return;
    case Role::Linear:
      if (isBlockQuantized(spec)) {
        withQuantized(spec, /*forScale=*/false,
                      [&](const QuantizedWeight &q) { llvm::copy(q.data, out.begin()); });
        return;
      }
      break;
    default:
      break;
    }
    std::vector<float> values = drawFloats(spec, role);
    for (size_t i = 0; i < values.size(); ++i)
      storeFloat(spec.dtype, out, i, values[i]);
  }

private:
  const TensorSpec *weightOfScale(const TensorSpec &scale) const {
    llvm::StringRef base = llvm::StringRef(scale.name).drop_back(llvm::StringRef(".scale").size());
    return specsByName.lookup((base + ".weight").str());
  }

  static void storeFloat(DType dtype, llvm::MutableArrayRef<uint8_t> out, size_t index,
                         float value) {
    using namespace llvm::support::endian;
    switch (dtype) {
    case DType::F32:
      write32le(&out[index * 4], llvm::bit_cast<uint32_t>(value));
      return;
    case DType::BF16:
      write16le(&out[index * 2], lowp::floatToBf16(value));
      return;
    case DType::F16:
      write16le(&out[index * 2], lowp::floatToF16(value));
      return;
    default:
      llvm_unreachable("check() admits only float dtypes here");
    }
  }

  /// The logical input width of a linear (FP4 weights store two values per byte).
  static int64_t inFeatures(const TensorSpec &spec) { return spec.logicalShape().back(); }

  std::vector<float> drawFloats(const TensorSpec &spec, Role role) const {
    Sampler sampler(tensorSeed(seed, spec.name));
    std::vector<float> values(numElements(spec.logicalShape()));
    auto normals = [&](double mean, double stddev) {
      for (float &v : values)
        v = static_cast<float>(mean + stddev * sampler.normal());
    };
    switch (role) {
    case Role::Embedding: normals(0, 1); break;
    case Role::Linear: normals(0, 1 / std::sqrt(static_cast<double>(inFeatures(spec)))); break;
    case Role::Norm: normals(1, 0.02); break;
    case Role::HcFn: normals(0, 0.5 / std::sqrt(static_cast<double>(spec.shape.back()))); break;
    case Role::HcScale: normals(1, 0.01); break;
    case Role::AttnSink: normals(0, 0.1); break;
    case Role::Ape: normals(0, 0.02); break;
    case Role::GateBias: normals(0, 0.01); break;
    case Role::HcBase: {
      int64_t n = config.hcMult;
      double pre = 1.0 / std::max<int64_t>(n, 2); // σ(b) = 1/n (n = 1 would need b = +∞)
      for (auto [i, v] : llvm::enumerate(values)) {
        int64_t index = static_cast<int64_t>(i);
        double base;
        if (index < n)
          base = std::log(pre / (1 - pre));
        else if (index < 2 * n)
          base = 0; // 2σ(0) = 1
        else
          base = (index - 2 * n) % (n + 1) == 0 ? 4.0 : 0.0; // R̃[j][k], diagonal j = k
        v = static_cast<float>(base + 0.01 * sampler.normal());
      }
      break;
    }
    case Role::Scale:
    case Role::Tid2Eid:
      llvm_unreachable("not float-valued");
    }
    return values;
  }

  void fillTid2Eid(const TensorSpec &spec, llvm::MutableArrayRef<uint8_t> out) const {
    Sampler sampler(tensorSeed(seed, spec.name));
    int64_t rows = spec.shape[0], k = spec.shape.back();
    std::vector<int64_t> experts(config.nRoutedExperts);
    for (int64_t row = 0; row < rows; ++row) {
      // Partial Fisher–Yates: the first k entries become k distinct random experts.
      std::iota(experts.begin(), experts.end(), 0);
      for (int64_t j = 0; j < k; ++j) {
        std::swap(experts[j], experts[j + sampler.below(experts.size() - j)]);
        size_t index = row * k + j;
        if (spec.dtype == DType::I64)
          llvm::support::endian::write64le(&out[index * 8], experts[j]);
        else
          llvm::support::endian::write32le(&out[index * 4], static_cast<uint32_t>(experts[j]));
      }
    }
  }

  QuantizedWeight quantize(const TensorSpec &weight) const {
    std::vector<int64_t> logical = weight.logicalShape();
    int64_t rows = numElements(llvm::ArrayRef(logical).drop_back()), cols = logical.back();
    std::vector<float> values = drawFloats(weight, Role::Linear);
    QuantizedWeight q;
    if (weight.encoding != TensorEncoding::Fp4x2) {
      BlockFormat fp8{config.weightBlockRows, config.weightBlockCols,
                      [](float amax) { return lowp::ue8m0ScaleExponent(amax, 448.0f); },
                      lowp::floatToE4m3};
      quantizeBlocks(values, rows, cols, fp8, q.data, q.scaleCodes);
      return q;
    }
    BlockFormat fp4{1, 32, lowp::ue8m0ScaleExponentFp4, lowp::floatToE2m1};
    std::vector<uint8_t> nibbles;
    quantizeBlocks(values, rows, cols, fp4, nibbles, q.scaleCodes);
    q.data.resize(nibbles.size() / 2);
    for (size_t i = 0; i < q.data.size(); ++i)
      q.data[i] = lowp::packE2m1Pair(nibbles[2 * i], nibbles[2 * i + 1]);
    return q;
  }

  /// Runs `use` on the quantized form of `weight`: computed when the first of its two tensors
  /// (weight, scale) is written and freed after the second.
  void withQuantized(const TensorSpec &weight, bool forScale,
                     llvm::function_ref<void(const QuantizedWeight &)> use) {
    auto [it, inserted] = cache.try_emplace(weight.name);
    CacheEntry &entry = it->second;
    if (inserted)
      entry.value = quantize(weight);
    use(entry.value);
    (forScale ? entry.scaleWritten : entry.dataWritten) = true;
    if (entry.dataWritten && entry.scaleWritten)
      cache.erase(it);
  }

  struct CacheEntry {
    QuantizedWeight value;
    bool dataWritten = false, scaleWritten = false;
  };

  const ModelConfig &config;
  uint64_t seed;
  llvm::StringMap<const TensorSpec *> specsByName;
  std::map<std::string, CacheEntry> cache;
};

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

llvm::Error writeTextAtomically(const std::string &path, const std::string &text) {
  return llvm::writeToOutput(path, [&](llvm::raw_ostream &os) {
    os << text;
    return llvm::Error::success();
  });
}

/// {"metadata": {"total_size": N}, "weight_map": {name: shard}}, keys sorted as in HF files.
std::string indexJson(uint64_t totalSize, llvm::ArrayRef<TensorSpec> specs,
                      llvm::ArrayRef<unsigned> shardOf) {
  llvm::json::Object weightMap;
  for (auto [spec, shard] : llvm::zip_equal(specs, shardOf))
    weightMap[spec.name] = kShardNames[shard];
  llvm::json::Object root{
      {"metadata", llvm::json::Object{{"total_size", static_cast<int64_t>(totalSize)}}},
      {"weight_map", std::move(weightMap)}};
  return llvm::formatv("{0:2}", llvm::json::Value(std::move(root))).str() + "\n";
}

} // namespace

//===----------------------------------------------------------------------===//
// Presets
//===----------------------------------------------------------------------===//

llvm::Expected<ModelConfig> presetConfig(llvm::StringRef preset, bool bf16) {
  // Shared by both presets: the release's rope/mHC/routing constants (MODEL.md §6.2) with
  // small-model dimensions. Every matrix dim is a multiple of 128 (the FP8 block).
  ModelConfig c;
  c.modelType = "deepseek_v4";
  c.numKeyValueHeads = 1;
  c.qkRopeHeadDim = 64;
  c.ropeTheta = 10000;
  c.compressRopeTheta = 160000;
  c.ropeScaling = YarnScaling{16.0, 65536, 32.0, 1.0};
  c.indexHeadDim = 128;
  c.nSharedExperts = 1;
  c.numHashLayers = 2;
  c.scoringFunc = "sqrtsoftplus";
  c.topkMethod = "noaux_tc";
  c.normTopkProb = true;
  c.routedScalingFactor = 1.5;
  c.swigluLimit = 10.0;
  c.hcMult = 4;
  c.hcSinkhornIters = 20;
  c.hcEps = 1e-6;
  c.numNextnPredictLayers = 1;
  c.maxPositionEmbeddings = 4096;
  c.rmsNormEps = 1e-6;

  if (preset == "tiny") {
    c.vocabSize = 512;
    c.hiddenSize = 256;
    c.numHiddenLayers = 4;
    c.compressRatios = {0, 4, 128, 4, 0};
    c.numAttentionHeads = 4;
    c.headDim = 128;
    c.qLoraRank = 128;
    c.oGroups = 2;
    c.oLoraRank = 128;
    c.slidingWindow = 32;
    c.indexNHeads = 4;
    c.indexTopk = 4;
    c.nRoutedExperts = 8;
    c.numExpertsPerTok = 2;
    c.moeIntermediateSize = 128;
  } else if (preset == "small") {
    c.vocabSize = 8192;
    c.hiddenSize = 1024;
    c.numHiddenLayers = 8;
    c.compressRatios = {0, 0, 4, 128, 4, 128, 4, 128, 0};
    c.numAttentionHeads = 8;
    c.headDim = 512;
    c.qLoraRank = 512;
    c.oGroups = 4;
    c.oLoraRank = 512;
    c.slidingWindow = 128;
    c.indexNHeads = 8;
    c.indexTopk = 64;
    c.nRoutedExperts = 32;
    c.numExpertsPerTok = 4;
    c.moeIntermediateSize = 512;
  } else {
    return makeError("unknown synthetic preset '" + preset + "' (expected 'tiny' or 'small')");
  }

  if (!bf16) {
    c.expertDtype = "fp4";
    c.fp8Weights = true;
    c.scaleFmt = "ue8m0";
  }
  return c;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

llvm::Error writeSyntheticCheckpoint(const SyntheticOptions &options, llvm::StringRef dir,
                                     llvm::raw_ostream &log) {
  llvm::Expected<ModelConfig> config = presetConfig(options.preset, options.bf16);
  if (!config)
    return config.takeError();
  std::vector<TensorSpec> specs = expectedTensors(*config);
  ValueGenerator generator(*config, options.seed, specs);
  std::vector<Role> roles;
  for (const TensorSpec &spec : specs) {
    llvm::Expected<Role> role = classify(spec);
    if (!role)
      return role.takeError();
    if (llvm::Error err = generator.check(spec, *role))
      return err;
    roles.push_back(*role);
  }

  // Split in inventory order: a tensor goes to the first shard when its midpoint lies in the
  // first half of the bytes.
  std::vector<uint64_t> sizes;
  uint64_t totalSize = 0;
  for (const TensorSpec &spec : specs) {
    sizes.push_back(numElements(spec.shape) * dtypeSize(spec.dtype));
    totalSize += sizes.back();
  }
  std::vector<unsigned> shardOf;
  SafetensorsWriter writers[2];
  uint64_t before = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    unsigned shard = 2 * before + sizes[i] < totalSize ? 0 : 1;
    before += sizes[i];
    shardOf.push_back(shard);
    const TensorSpec *spec = &specs[i];
    Role role = roles[i];
    writers[shard].add(spec->name, spec->dtype, spec->shape,
                       [&generator, spec, role](llvm::MutableArrayRef<uint8_t> out) {
                         generator.fill(*spec, role, out);
                       });
  }

  // Completeness marker discipline: the index and config.json make a directory a checkpoint,
  // so stale ones go first and config.json (read first by Checkpoint::open) comes last. Each
  // file appears atomically, so an interrupted run leaves no config.json behind.
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return makeError(dir + ": cannot create directory: " + ec.message());
  for (llvm::StringRef marker : {kConfigFile, kIndexFile}) {
    std::string path = joinPath(dir, marker);
    if (std::error_code ec = llvm::sys::fs::remove(path))
      return makeError(path + ": cannot remove the stale file: " + ec.message());
  }
  for (unsigned shard = 0; shard < 2; ++shard) {
    writers[shard].setMetadata("format", "pt");
    if (llvm::Error err = writers[shard].write(joinPath(dir, kShardNames[shard])))
      return err;
    uint64_t bytes = 0;
    size_t count = 0;
    for (size_t i = 0; i < specs.size(); ++i)
      if (shardOf[i] == shard) {
        bytes += sizes[i];
        ++count;
      }
    log << "wrote " << kShardNames[shard] << ": " << count << " tensors, " << bytes
        << " bytes\n";
  }
  if (llvm::Error err =
          writeTextAtomically(joinPath(dir, kIndexFile), indexJson(totalSize, specs, shardOf)))
    return err;
  return writeTextAtomically(joinPath(dir, kConfigFile), modelConfigToJson(*config));
}

} // namespace v4c
