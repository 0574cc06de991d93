// Single graph ops compiled through the real CPU path (memory plan, loops, LLVM at O3, object,
// shared object linked with the microkernels, dlopen) and run on the same inputs as the
// reference kernels (runtime/reference/Kernels.h). Faithful numerics are compared exactly where
// the reference computation is exact and the lowering follows its order; GEMM-based results
// within 1e-5 of the row's magnitude (the microkernels sum in another order). Each module is
// compiled once per mode and shared by the tests that use it.
#include "codegen/cpu/CompileCpu.h"
#include "codegen/cpu/CpuPipeline.h"
#include "codegen/cpu/MemoryPlan.h"
#include "frontend/checkpoint/LowPrecision.h"
#include "ir/Graph/IR/GraphOps.h"
#include "runtime/cpu/MemRefDescriptor.h"
#include "runtime/reference/Kernels.h"
#include "tests/unit/TestSupport.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

namespace lowp = v4c::lowp;
namespace ref = v4c::reference;

//===----------------------------------------------------------------------===//
// Harness: compile a module, call its entry points with MLIR memref descriptors
//===----------------------------------------------------------------------===//

/// Entry points are called through untyped descriptors (runtime/cpu/MemRefDescriptor.h).
template <int N>
using MemRef = v4c::cpu::MemRef<void, N>;

/// A row-major descriptor over `data` (which must outlive the call).
template <int N, typename T>
MemRef<N> desc(T *data, const int64_t (&sizes)[N]) {
  return v4c::cpu::rowMajor<void, N>(static_cast<void *>(const_cast<std::remove_const_t<T> *>(data)), sizes);
}
template <int N, typename T>
MemRef<N> desc(std::vector<T> &data, const int64_t (&sizes)[N]) {
  int64_t count = 1;
  for (int64_t s : sizes)
    count *= s;
  EXPECT_EQ(int64_t(data.size()), count) << "descriptor does not match its buffer";
  return desc(data.data(), sizes);
}

/// A 64-byte aligned, zeroed byte arena (weights or state).
class Arena {
public:
  explicit Arena(int64_t size)
      : size_(size), data_(static_cast<uint8_t *>(std::aligned_alloc(64, roundUp(size)))) {
    std::memset(data_.get(), 0, roundUp(size));
  }
  uint8_t *data() { return data_.get(); }
  int64_t size() const { return size_; }
  MemRef<1> view() { return desc(data_.get(), {size_}); }

private:
  static size_t roundUp(int64_t v) { return size_t(std::max<int64_t>(v, 64) + 63) / 64 * 64; }
  struct Free {
    void operator()(uint8_t *p) const { std::free(p); }
  };
  int64_t size_;
  std::unique_ptr<uint8_t, Free> data_;
};

/// A module compiled for the host CPU and loaded: its memory plan and its entry points.
class CompiledModule {
public:
  CompiledModule(const std::string &source, bool faithful, int64_t maxSeqLen) {
    error = compile(source, faithful, maxSeqLen);
  }
  ~CompiledModule() {
    if (library)
      dlclose(library);
  }

  bool ok() const { return error.empty(); }
  std::string error;
  int64_t weightsBytes = 0, stateBytes = 0;

  /// A weights arena of the planned size.
  Arena weights() const { return Arena(weightsBytes); }
  Arena state() const { return Arena(stateBytes); }

  /// Writes a parameter's bytes at its planned offset (the size must be the planned one).
  void put(Arena &arena, const std::string &param, const void *bytes, int64_t size) const {
    auto it = params.find(param);
    ASSERT_NE(it, params.end()) << "no graph.param @" << param;
    ASSERT_EQ(size, it->second.bytes) << "@" << param << " is planned with another size";
    ASSERT_LE(it->second.offset + size, arena.size());
    std::memcpy(arena.data() + it->second.offset, bytes, size);
  }
  template <typename T>
  void put(Arena &arena, const std::string &param, const std::vector<T> &values) const {
    put(arena, param, values.data(), int64_t(values.size() * sizeof(T)));
  }

  /// Calls `_mlir_ciface_<name>` with the given arguments (descriptor pointers and int64s).
  template <typename... Args>
  void call(const std::string &name, Args... args) const {
    void *symbol = library ? dlsym(library, ("_mlir_ciface_" + name).c_str()) : nullptr;
    ASSERT_NE(symbol, nullptr) << "no entry point _mlir_ciface_" << name;
    reinterpret_cast<void (*)(Args...)>(symbol)(args...);
  }

private:
  struct Param {
    int64_t offset, bytes;
  };

  std::string compile(const std::string &source, bool faithful, int64_t maxSeqLen) {
    mlir::DialectRegistry registry;
    v4c::cpu::registerCpuDependencies(registry);
    mlir::MLIRContext context(registry);
    context.loadAllAvailableDialects(); // the lowering creates ops of dialects the text lacks
    std::string diagnostics;
    llvm::raw_string_ostream os(diagnostics);
    mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
      os << d.getLocation() << ": " << d << "\n";
      return mlir::success();
    });
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(source, &context);
    if (!module)
      return "cannot parse the module: " + diagnostics;
    if (failed(v4c::cpu::planMemory(*module, maxSeqLen)))
      return "memory planning failed: " + diagnostics;
    for (auto param : module->getOps<v4c::graph::ParamOp>())
      params[param.getSymName().str()] = {
          param->getAttrOfType<mlir::IntegerAttr>("v4c.offset").getInt(),
          param->getAttrOfType<mlir::IntegerAttr>("v4c.bytes").getInt()};
    weightsBytes = (*module)->getAttrOfType<mlir::IntegerAttr>("v4c.weights_bytes").getInt();
    stateBytes = (*module)->getAttrOfType<mlir::IntegerAttr>("v4c.state_bytes").getInt();

    v4c::cpu::CpuOptions options;
    options.faithful = faithful;
    options.maxSeqLen = maxSeqLen;
    if (failed(v4c::cpu::lowerToLLVMDialect(*module, options)))
      return "lowering failed: " + diagnostics;
    auto object = v4c::cpu::emitObject(*module, options);
    if (!object)
      return "object emission failed: " + llvm::toString(object.takeError());
    auto shared = v4c::cpu::linkSharedObject(*object);
    if (!shared)
      return "linking failed: " + llvm::toString(shared.takeError());
    v4c::test::TempDir dir("v4c-cpu-op-test");
    std::string path = dir.file("ops.so");
    {
      std::ofstream file(path, std::ios::binary);
      file.write(reinterpret_cast<const char *>(shared->data()), shared->size());
      if (!file)
        return "cannot write " + path;
    }
    library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL); // stays mapped after the unlink
    if (!library)
      return std::string("dlopen failed: ") + dlerror();
    return "";
  }

  std::map<std::string, Param> params;
  void *library = nullptr;
};

//===----------------------------------------------------------------------===//
// Inputs: random values, encoded weights with their exact decodings
//===----------------------------------------------------------------------===//

std::vector<float> normal(int64_t n, std::mt19937 &rng, float sigma = 1.0f) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

/// Rows whose `group`-wide channel groups span many magnitudes (so ue8m0 scales differ).
std::vector<float> spreadRows(int64_t rows, int64_t cols, int64_t group, std::mt19937 &rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-10, 6);
  std::vector<float> x(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < cols; g += group) {
      float magnitude = std::ldexp(1.0f, exponent(rng));
      for (int64_t c = g; c < std::min(cols, g + group); ++c)
        x[r * cols + c] = dist(rng) * magnitude;
    }
  return x;
}

/// A weight as stored (codes, scale bytes) and as the reference sees it (fp32, exact).
struct Weight {
  int64_t n = 0, k = 0;
  std::vector<uint8_t> codes, scales;
  std::vector<float> decoded; // [n, k]
};

std::vector<uint8_t> randomE8m0(int64_t count, int lo, int hi, std::mt19937 &rng) {
  std::uniform_int_distribution<int> exponent(lo, hi);
  std::vector<uint8_t> s(count);
  for (uint8_t &b : s)
    b = lowp::e8m0FromPow2Exponent(exponent(rng));
  return s;
}

/// FP8 e4m3 codes (every code but NaN) with a scale per bN x bK block: E8M0 bytes, or (with
/// `f32Scales`) V3-style fp32 scales that are not powers of two.
Weight fp8Weight(int64_t n, int64_t k, std::mt19937 &rng, int64_t bN = 128, int64_t bK = 128,
                 bool f32Scales = false) {
  Weight w{n, k, std::vector<uint8_t>(n * k), {}, std::vector<float>(n * k)};
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t &b : w.codes)
    do
      b = uint8_t(byte(rng));
    while ((b & 0x7F) == 0x7F);
  int64_t kb = (k + bK - 1) / bK, blocks = ((n + bN - 1) / bN) * kb;
  w.scales = randomE8m0(blocks, -10, -4, rng);
  std::vector<float> scale(blocks);
  for (int64_t i = 0; i < blocks; ++i)
    scale[i] = lowp::e8m0ToFloat(w.scales[i]) * (f32Scales ? 1.0f + 0.37f * (i % 3) : 1.0f);
  if (f32Scales) {
    w.scales.resize(4 * blocks);
    std::memcpy(w.scales.data(), scale.data(), 4 * blocks);
  }
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c)
      w.decoded[r * k + c] =
          lowp::e4m3ToFloat(w.codes[r * k + c]) * scale[(r / bN) * kb + c / bK];
  return w;
}

/// FP4 e2m1 nibbles packed two per byte (element 2i low) with an E8M0 scale per 32 along K.
Weight fp4Weight(int64_t n, int64_t k, std::mt19937 &rng, int scaleLo = -4, int scaleHi = -1) {
  Weight w{n, k, std::vector<uint8_t>(n * k / 2), {}, std::vector<float>(n * k)};
  std::uniform_int_distribution<int> nibble(0, 15);
  std::vector<uint8_t> nibbles(n * k);
  for (uint8_t &v : nibbles)
    v = uint8_t(nibble(rng));
  for (int64_t i = 0; i < n * k / 2; ++i)
    w.codes[i] = lowp::packE2m1Pair(nibbles[2 * i], nibbles[2 * i + 1]);
  int64_t groups = k / 32;
  w.scales = randomE8m0(n * groups, scaleLo, scaleHi, rng);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c)
      w.decoded[r * k + c] = lowp::e2m1ToFloat(lowp::e2m1Nibble(w.codes, r * k + c)) *
                             lowp::e8m0ToFloat(w.scales[r * groups + c / 32]);
  return w;
}

/// bf16 values (codes as bytes, little endian) and their fp32 values.
Weight bf16Weight(int64_t n, int64_t k, std::mt19937 &rng, float sigma = 0.1f) {
  Weight w{n, k, std::vector<uint8_t>(2 * n * k), {}, std::vector<float>(n * k)};
  std::vector<float> v = normal(n * k, rng, sigma);
  for (int64_t i = 0; i < n * k; ++i) {
    uint16_t h = lowp::floatToBf16(v[i]);
    std::memcpy(&w.codes[2 * i], &h, 2);
    w.decoded[i] = lowp::bf16ToFloat(h);
  }
  return w;
}

/// E experts stacked into one [E, n, k] parameter (codes and scales concatenated).
Weight stack(const std::vector<Weight> &experts) {
  Weight all{experts[0].n, experts[0].k, {}, {}, {}};
  for (const Weight &e : experts) {
    all.codes.insert(all.codes.end(), e.codes.begin(), e.codes.end());
    all.scales.insert(all.scales.end(), e.scales.begin(), e.scales.end());
    all.decoded.insert(all.decoded.end(), e.decoded.begin(), e.decoded.end());
  }
  return all;
}

/// Σ_k |x[r, k]·w[o, k]| per output: the size of an fp32 dot product's rounding error.
std::vector<float> dotMagnitudes(const std::vector<float> &x, int64_t rows, const Weight &w) {
  std::vector<float> m(rows * w.n);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < w.n; ++o) {
      double s = 0;
      for (int64_t c = 0; c < w.k; ++c)
        s += std::fabs(double(x[r * w.k + c]) * w.decoded[o * w.k + c]);
      m[r * w.n + o] = float(s);
    }
  return m;
}

//===----------------------------------------------------------------------===//
// Comparisons (they print the largest error seen, for the record)
//===----------------------------------------------------------------------===//

uint32_t bitsOf(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

/// Bit-for-bit equality.
void expectExact(const std::vector<float> &got, const std::vector<float> &want,
                 const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int64_t mismatches = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (bitsOf(got[i]) == bitsOf(want[i]))
      continue;
    worst = std::max(worst, std::fabs(double(got[i]) - want[i]) /
                                std::max(1e-30, std::fabs(double(want[i]))));
    if (++mismatches <= 5)
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << " (0x" << std::hex
                    << bitsOf(got[i]) << "), the reference has " << want[i] << " (0x"
                    << bitsOf(want[i]) << std::dec << ")";
  }
  EXPECT_EQ(mismatches, 0) << what << ": " << mismatches << " of " << got.size()
                           << " elements differ, worst relative " << worst;
  std::printf("[ observed ] %-44s %s\n", what.c_str(),
              mismatches ? "NOT bit-exact" : "bit-exact");
}

/// |got − want| ≤ rel · max(|want|, magnitude[i], floor) elementwise; `magnitude` may be empty.
void expectClose(const std::vector<float> &got, const std::vector<float> &want, double rel,
                 const std::string &what, const std::vector<float> &magnitude = {},
                 double floor = 0) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int64_t failures = 0, exact = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double scale = std::max({std::fabs(double(want[i])),
                             magnitude.empty() ? 0.0 : double(magnitude[i]), floor, 1e-30});
    double err = std::fabs(double(got[i]) - want[i]) / scale;
    exact += bitsOf(got[i]) == bitsOf(want[i]);
    worst = std::max(worst, std::isnan(err) ? INFINITY : err);
    if (!(err <= rel) && ++failures <= 5)
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", the reference has "
                    << want[i] << " (error " << err << " of " << scale << ", bound " << rel << ")";
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << got.size()
                         << " elements outside the bound";
  std::printf("[ observed ] %-44s max rel error %.3g (bound %.0e), %lld/%zu bit-exact\n",
              what.c_str(), worst, rel, (long long)exact, got.size());
}

template <typename T>
void expectEqualInts(const std::vector<T> &got, const std::vector<T> &want,
                     const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int64_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i] && ++mismatches <= 5)
      ADD_FAILURE() << what << ": element " << i << " is " << int64_t(got[i])
                    << ", the reference has " << int64_t(want[i]);
  EXPECT_EQ(mismatches, 0) << what;
  std::printf("[ observed ] %-44s %s\n", what.c_str(), mismatches ? "DIFFERENT" : "equal");
}

//===----------------------------------------------------------------------===//
// Modules
//===----------------------------------------------------------------------===//

constexpr int64_t kMaxSeqLen = 64;

/// Linears (FP8 with a partial 128x128 block, FP4, bf16 on a rank-3 input), QAT round trips
/// and FP4 routed experts: compiled in both precision modes.
const char *kLinearModule = R"mlir(
graph.param @fp8.w : tensor<200x320xf8E4M3FN>
graph.param @fp8.s : tensor<2x3xf8E8M0FNU>
graph.param @fp4.w : tensor<72x320xf4E2M1FN>
graph.param @fp4.s : tensor<72x10xf8E8M0FNU>
graph.param @bf16.w : tensor<40x320xbf16>
graph.param @experts.w1 : tensor<4x96x160xf4E2M1FN>
graph.param @experts.s1 : tensor<4x96x5xf8E8M0FNU>
graph.param @experts.w3 : tensor<4x96x160xf4E2M1FN>
graph.param @experts.s3 : tensor<4x96x5xf8E8M0FNU>
graph.param @experts.w2 : tensor<4x160x96xf4E2M1FN>
graph.param @experts.s2 : tensor<4x160x3xf8E8M0FNU>
graph.param @fp8f.w : tensor<200x320xf8E4M3FN>
graph.param @fp8f.s : tensor<2x3xf32>
graph.param @wo_a.w : tensor<256x96xf8E4M3FN>
graph.param @wo_a.s : tensor<2x1xf8E8M0FNU>

func.func @linear_fp8(%x: tensor<?x320xf32>) -> tensor<?x200xf32> {
  %w = graph.weight @fp8.w : tensor<200x320xf8E4M3FN>
  %s = graph.weight @fp8.s : tensor<2x3xf8E8M0FNU>
  %y = graph.linear %x, %w, %s : tensor<?x320xf32>, tensor<200x320xf8E4M3FN>, tensor<2x3xf8E8M0FNU> -> tensor<?x200xf32>
  return %y : tensor<?x200xf32>
}

func.func @linear_fp4(%x: tensor<?x320xf32>) -> tensor<?x72xf32> {
  %w = graph.weight @fp4.w : tensor<72x320xf4E2M1FN>
  %s = graph.weight @fp4.s : tensor<72x10xf8E8M0FNU>
  %y = graph.linear %x, %w, %s : tensor<?x320xf32>, tensor<72x320xf4E2M1FN>, tensor<72x10xf8E8M0FNU> -> tensor<?x72xf32>
  return %y : tensor<?x72xf32>
}

func.func @linear_bf16(%x: tensor<?x2x320xf32>) -> tensor<?x2x40xf32> {
  %w = graph.weight @bf16.w : tensor<40x320xbf16>
  %y = graph.linear %x, %w : tensor<?x2x320xf32>, tensor<40x320xbf16> -> tensor<?x2x40xf32>
  return %y : tensor<?x2x40xf32>
}

func.func @linear_fp8_f32_scale(%x: tensor<?x320xf32>) -> tensor<?x200xf32> {
  %w = graph.weight @fp8f.w : tensor<200x320xf8E4M3FN>
  %s = graph.weight @fp8f.s : tensor<2x3xf32>
  %y = graph.linear %x, %w, %s : tensor<?x320xf32>, tensor<200x320xf8E4M3FN>, tensor<2x3xf32> -> tensor<?x200xf32>
  return %y : tensor<?x200xf32>
}

func.func @grouped_linear(%x: tensor<?x384xf32>) -> tensor<?x256xf32> {
  %w = graph.weight @wo_a.w : tensor<256x96xf8E4M3FN>
  %s = graph.weight @wo_a.s : tensor<2x1xf8E8M0FNU>
  %y = graph.grouped_linear %x, %w, %s {groups = 4 : i64} : tensor<?x384xf32>, tensor<256x96xf8E4M3FN>, tensor<2x1xf8E8M0FNU> -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}

func.func @qat_fp8(%x: tensor<?x192xf32>) -> tensor<?x192xf32> {
  %y = graph.qat %x {dims = 128 : i64, format = f8E4M3FN, group_size = 64 : i64} : tensor<?x192xf32> -> tensor<?x192xf32>
  return %y : tensor<?x192xf32>
}

func.func @qat_fp4(%x: tensor<?x2x128xf32>) -> (tensor<?x2x128xf32>, tensor<?x2x128xf32>) {
  %h = graph.hadamard %x : tensor<?x2x128xf32> -> tensor<?x2x128xf32>
  %y = graph.qat %h {dims = 128 : i64, format = f4E2M1FN, group_size = 32 : i64} : tensor<?x2x128xf32> -> tensor<?x2x128xf32>
  return %h, %y : tensor<?x2x128xf32>, tensor<?x2x128xf32>
}

func.func @moe_experts(%x: tensor<?x160xf32>, %rw: tensor<?x2xf32>, %re: tensor<?x2xi32>) -> tensor<?x160xf32> {
  %w1 = graph.weight @experts.w1 : tensor<4x96x160xf4E2M1FN>
  %s1 = graph.weight @experts.s1 : tensor<4x96x5xf8E8M0FNU>
  %w3 = graph.weight @experts.w3 : tensor<4x96x160xf4E2M1FN>
  %s3 = graph.weight @experts.s3 : tensor<4x96x5xf8E8M0FNU>
  %w2 = graph.weight @experts.w2 : tensor<4x160x96xf4E2M1FN>
  %s2 = graph.weight @experts.s2 : tensor<4x160x3xf8E8M0FNU>
  %y = graph.moe_experts %x, %rw, %re w1(%w1, %s1 : tensor<4x96x5xf8E8M0FNU>) w3(%w3, %s3 : tensor<4x96x5xf8E8M0FNU>)
      w2(%w2, %s2 : tensor<4x160x3xf8E8M0FNU>) {swiglu_limit = 10.0 : f64}
      : tensor<?x160xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<4x96x160xf4E2M1FN>, tensor<4x96x160xf4E2M1FN>, tensor<4x160x96xf4E2M1FN>
      -> tensor<?x160xf32>
  return %y : tensor<?x160xf32>
}
)mlir";

/// Norms, rotary embedding, Hadamard, mHC, the indexer's top-k and the router.
const char *kOpsModule = R"mlir(
graph.param @norm.w : tensor<96xbf16>
graph.param @hc.fn : tensor<24x384xf32>
graph.param @hc.base : tensor<24xf32>
graph.param @hc.scale : tensor<3xf32>
graph.param @head.fn : tensor<4x384xf32>
graph.param @head.base : tensor<4xf32>
graph.param @head.scale : tensor<1xf32>
graph.param @gate.w : tensor<12x64xbf16>
graph.param @gate.bias : tensor<12xf32>
graph.param @hash.w : tensor<12x64xf32>
graph.param @hash.tid2eid : tensor<50x3xi64>

func.func @rms_norm(%x: tensor<?x96xf32>, %q: tensor<?x3x32xf32>) -> (tensor<?x96xf32>, tensor<?x3x32xf32>) {
  %w = graph.weight @norm.w : tensor<96xbf16>
  %a = graph.rms_norm %x, %w {eps = 1.0e-6 : f64} : tensor<?x96xf32>, tensor<96xbf16> -> tensor<?x96xf32>
  %b = graph.rms_norm %q {eps = 1.0e-3 : f64} : tensor<?x3x32xf32> -> tensor<?x3x32xf32>
  return %a, %b : tensor<?x96xf32>, tensor<?x3x32xf32>
}

func.func @rope(%q: tensor<?x2x128xf32>, %kv: tensor<?x128xf32>, %pos: tensor<?xi64>)
    -> (tensor<?x2x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>) {
  %a = graph.rope %q, %pos {rope = #graph.rope<dim = 64, theta = 1.6e+05, yarn_factor = 16.0, yarn_original = 65536, yarn_beta = [32.0, 1.0]>}
      : tensor<?x2x128xf32>, tensor<?xi64> -> tensor<?x2x128xf32>
  %b = graph.rope %kv, %pos {inverse, rope = #graph.rope<dim = 64, theta = 1.6e+05, yarn_factor = 16.0, yarn_original = 65536, yarn_beta = [32.0, 1.0]>}
      : tensor<?x128xf32>, tensor<?xi64> -> tensor<?x128xf32>
  %c = graph.rope %kv, %pos {rope = #graph.rope<dim = 64, theta = 1.0e+04>} : tensor<?x128xf32>, tensor<?xi64> -> tensor<?x128xf32>
  return %a, %b, %c : tensor<?x2x128xf32>, tensor<?x128xf32>, tensor<?x128xf32>
}

func.func @hadamard(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %y = graph.hadamard %x : tensor<?x64xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

func.func @hc_pre(%s: tensor<?x4x96xf32>) -> (tensor<?x96xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>) {
  %fn = graph.weight @hc.fn : tensor<24x384xf32>
  %base = graph.weight @hc.base : tensor<24xf32>
  %scale = graph.weight @hc.scale : tensor<3xf32>
  %y, %post, %comb = graph.hc_pre %s, %fn, %base, %scale {hc_eps = 0.01 : f64, norm_eps = 1.0e-3 : f64, sinkhorn_iters = 20 : i64}
      : tensor<?x4x96xf32>, tensor<24x384xf32>, tensor<24xf32>, tensor<3xf32> -> tensor<?x96xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
  return %y, %post, %comb : tensor<?x96xf32>, tensor<?x4xf32>, tensor<?x4x4xf32>
}

func.func @hc_post(%f: tensor<?x96xf32>, %s: tensor<?x4x96xf32>, %post: tensor<?x4xf32>, %comb: tensor<?x4x4xf32>) -> tensor<?x4x96xf32> {
  %y = graph.hc_post %f, %s, %post, %comb : tensor<?x96xf32>, tensor<?x4x96xf32>, tensor<?x4xf32>, tensor<?x4x4xf32> -> tensor<?x4x96xf32>
  return %y : tensor<?x4x96xf32>
}

func.func @hc_head(%s: tensor<?x4x96xf32>) -> tensor<?x96xf32> {
  %fn = graph.weight @head.fn : tensor<4x384xf32>
  %base = graph.weight @head.base : tensor<4xf32>
  %scale = graph.weight @head.scale : tensor<1xf32>
  %y = graph.hc_head %s, %fn, %base, %scale {hc_eps = 0.01 : f64, norm_eps = 1.0e-3 : f64}
      : tensor<?x4x96xf32>, tensor<4x384xf32>, tensor<4xf32>, tensor<1xf32> -> tensor<?x96xf32>
  return %y : tensor<?x96xf32>
}

func.func @index_topk(%q: tensor<?x2x32xf32>, %w: tensor<?x2xf32>, %keys: tensor<?x32xf32>, %pos: tensor<?xi64>) -> tensor<?x6xi32> {
  %i = graph.index_topk %q, %w, %keys, %pos {ratio = 4 : i64, scale = 0.125 : f64, topk = 6 : i64}
      : tensor<?x2x32xf32>, tensor<?x2xf32>, tensor<?x32xf32>, tensor<?xi64> -> tensor<?x6xi32>
  return %i : tensor<?x6xi32>
}

func.func @moe_gate_score(%x: tensor<?x64xf32>) -> (tensor<?x3xf32>, tensor<?x3xi32>) {
  %g = graph.weight @gate.w : tensor<12x64xbf16>
  %b = graph.weight @gate.bias : tensor<12xf32>
  %w, %e = graph.moe_gate %x, %g bias(%b : tensor<12xf32>) {route_scale = 1.5 : f64, topk = 3 : i64}
      : tensor<?x64xf32>, tensor<12x64xbf16> -> tensor<?x3xf32>, tensor<?x3xi32>
  return %w, %e : tensor<?x3xf32>, tensor<?x3xi32>
}

func.func @moe_gate_hash(%x: tensor<?x64xf32>, %tokens: tensor<?xi32>) -> (tensor<?x3xf32>, tensor<?x3xi32>) {
  %g = graph.weight @hash.w : tensor<12x64xf32>
  %t = graph.weight @hash.tid2eid : tensor<50x3xi64>
  %w, %e = graph.moe_gate %x, %g hash(%t[%tokens] : tensor<50x3xi64>, tensor<?xi32>) {route_scale = 2.5 : f64, topk = 3 : i64}
      : tensor<?x64xf32>, tensor<12x64xf32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return %w, %e : tensor<?x3xf32>, tensor<?x3xi32>
}
)mlir";

/// Stateful attention ops: compressors (+ the compressed cache) and sparse attention.
const char *kAttentionModule = R"mlir(
graph.param @csa.wkv : tensor<64x48xbf16>
graph.param @csa.wgate : tensor<64x48xf32>
graph.param @csa.ape : tensor<4x64xf32>
graph.state @csa.pending compressor_pending : tensor<2x8x64xf32>
graph.state @csa.cache compressed_kv : tensor<?x32xf32>
graph.param @hca.wkv : tensor<32x48xf32>
graph.param @hca.wgate : tensor<32x48xbf16>
graph.param @hca.ape : tensor<8x32xf32>
graph.state @hca.pending compressor_pending : tensor<2x8x32xf32>
graph.state @hca.cache compressed_kv : tensor<?x32xf32>
graph.state @window.a window : tensor<4x16xf32>
graph.state @window.b window : tensor<4x16xf32>
graph.state @window.c window : tensor<4x16xf32>

func.func @compress_overlap(%x: tensor<?x48xf32>, %tokens: tensor<?xi32>, %start: index)
    -> (tensor<?x32xf32>, tensor<?xi64>, tensor<?x32xf32>) {
  %pos = graph.positions %tokens, %start : tensor<?xi32> -> tensor<?xi64>
  %wkv = graph.weight @csa.wkv : tensor<64x48xbf16>
  %wgate = graph.weight @csa.wgate : tensor<64x48xf32>
  %ape = graph.weight @csa.ape : tensor<4x64xf32>
  %e, %ep = graph.compressor @csa.pending(%x, %pos, %wkv, %wgate, %ape) {overlap, ratio = 4 : i64}
      : tensor<?x48xf32>, tensor<?xi64>, tensor<64x48xbf16>, tensor<64x48xf32>, tensor<4x64xf32> -> tensor<?x32xf32>, tensor<?xi64>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %tokens, %c0 : tensor<?xi32>
  %end = arith.addi %start, %n : index
  %c4 = arith.constant 4 : index
  %total = arith.divui %end, %c4 : index
  %all = graph.kv_append @csa.cache(%e) total %total : tensor<?x32xf32> -> tensor<?x32xf32>
  return %e, %ep, %all : tensor<?x32xf32>, tensor<?xi64>, tensor<?x32xf32>
}

func.func @compress_plain(%x: tensor<?x48xf32>, %tokens: tensor<?xi32>, %start: index)
    -> (tensor<?x32xf32>, tensor<?xi64>, tensor<?x32xf32>) {
  %pos = graph.positions %tokens, %start : tensor<?xi32> -> tensor<?xi64>
  %wkv = graph.weight @hca.wkv : tensor<32x48xf32>
  %wgate = graph.weight @hca.wgate : tensor<32x48xbf16>
  %ape = graph.weight @hca.ape : tensor<8x32xf32>
  %e, %ep = graph.compressor @hca.pending(%x, %pos, %wkv, %wgate, %ape) {ratio = 8 : i64}
      : tensor<?x48xf32>, tensor<?xi64>, tensor<32x48xf32>, tensor<32x48xbf16>, tensor<8x32xf32> -> tensor<?x32xf32>, tensor<?xi64>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %tokens, %c0 : tensor<?xi32>
  %end = arith.addi %start, %n : index
  %c8 = arith.constant 8 : index
  %total = arith.divui %end, %c8 : index
  %all = graph.kv_append @hca.cache(%e) total %total : tensor<?x32xf32> -> tensor<?x32xf32>
  return %e, %ep, %all : tensor<?x32xf32>, tensor<?xi64>, tensor<?x32xf32>
}

func.func @attention_window(%q: tensor<?x2x16xf32>, %kv: tensor<?x16xf32>, %sink: tensor<2xf32>,
                            %tokens: tensor<?xi32>, %start: index) -> tensor<?x2x16xf32> {
  %pos = graph.positions %tokens, %start : tensor<?xi32> -> tensor<?xi64>
  %o = graph.sparse_attention @window.a(%q, %kv, %pos, %sink) {ratio = 0 : i64, scale = 0.25 : f64, window = 4 : i64}
      : tensor<?x2x16xf32>, tensor<?x16xf32>, tensor<?xi64>, tensor<2xf32> -> tensor<?x2x16xf32>
  return %o : tensor<?x2x16xf32>
}

func.func @attention_hca(%q: tensor<?x2x16xf32>, %kv: tensor<?x16xf32>, %sink: tensor<2xf32>, %c: tensor<?x16xf32>,
                         %tokens: tensor<?xi32>, %start: index) -> tensor<?x2x16xf32> {
  %pos = graph.positions %tokens, %start : tensor<?xi32> -> tensor<?xi64>
  %o = graph.sparse_attention @window.b(%q, %kv, %pos, %sink) compressed(%c : tensor<?x16xf32>)
      {ratio = 4 : i64, scale = 0.25 : f64, window = 4 : i64}
      : tensor<?x2x16xf32>, tensor<?x16xf32>, tensor<?xi64>, tensor<2xf32> -> tensor<?x2x16xf32>
  return %o : tensor<?x2x16xf32>
}

func.func @attention_csa(%q: tensor<?x2x16xf32>, %kv: tensor<?x16xf32>, %sink: tensor<2xf32>, %c: tensor<?x16xf32>,
                         %idx: tensor<?x3xi32>, %tokens: tensor<?xi32>, %start: index) -> tensor<?x2x16xf32> {
  %pos = graph.positions %tokens, %start : tensor<?xi32> -> tensor<?xi64>
  %o = graph.sparse_attention @window.c(%q, %kv, %pos, %sink) compressed(%c : tensor<?x16xf32>) indices(%idx : tensor<?x3xi32>)
      {ratio = 4 : i64, scale = 0.25 : f64, window = 4 : i64}
      : tensor<?x2x16xf32>, tensor<?x16xf32>, tensor<?xi64>, tensor<2xf32> -> tensor<?x2x16xf32>
  return %o : tensor<?x2x16xf32>
}
)mlir";

const CompiledModule &linearModule(bool faithful) {
  static CompiledModule faithfulModule(kLinearModule, true, kMaxSeqLen);
  if (faithful)
    return faithfulModule;
  static CompiledModule dequantModule(kLinearModule, false, kMaxSeqLen);
  return dequantModule;
}
const CompiledModule &opsModule() {
  static CompiledModule module(kOpsModule, true, kMaxSeqLen);
  return module;
}
const CompiledModule &attentionModule() {
  static CompiledModule module(kAttentionModule, true, kMaxSeqLen);
  return module;
}

#define REQUIRE_MODULE(m) ASSERT_TRUE((m).ok()) << (m).error

//===----------------------------------------------------------------------===//
// Linear layers
//===----------------------------------------------------------------------===//

/// y[r, :] = x'[r, :] Wᵀ by the reference: x' quantized to FP8 per 128 channels when
/// `quantize` (blockScaledLinear), else x (matmul).
std::vector<float> referenceLinear(const std::vector<float> &x, int64_t rows, const Weight &w,
                                   bool quantize) {
  std::vector<float> y(rows * w.n);
  if (quantize)
    ref::blockScaledLinear(x.data(), rows, w.k, w.decoded.data(), w.n, y.data());
  else
    ref::matmul(x.data(), rows, w.k, w.decoded.data(), w.n, y.data());
  return y;
}

/// Activation rows for the linears: spread magnitudes, plus an all-zero row (amax clamp).
std::vector<float> linearInput(int64_t rows, int64_t k, std::mt19937 &rng) {
  std::vector<float> x = spreadRows(rows, k, 128, rng);
  std::fill_n(&x[(rows - 1) * k], k, 0.0f);
  return x;
}

void runLinear(bool faithful, const std::string &func, const Weight &w, const std::string &wName,
               const std::string &sName, bool quantizes) {
  const CompiledModule &m = linearModule(faithful);
  REQUIRE_MODULE(m);
  std::mt19937 rng(7);
  int64_t T = 5;
  std::vector<float> x = linearInput(T, w.k, rng);
  Arena weights = m.weights(), state = m.state();
  m.put(weights, wName, w.codes);
  if (!sName.empty())
    m.put(weights, sName, w.scales);
  std::vector<float> y(T * w.n, NAN);
  auto xd = desc(x, {T, w.k});
  auto wd = weights.view(), sd = state.view();
  auto yd = desc(y, {T, w.n});
  m.call(func, &xd, &wd, &sd, &yd);
  std::vector<float> want = referenceLinear(x, T, w, quantizes);
  // The reference quantizes x before measuring: use the quantized x for the error scale.
  std::vector<float> xq = x;
  if (quantizes)
    for (int64_t r = 0; r < T; ++r)
      ref::fp8RoundTrip(&xq[r * w.k], w.k, 128);
  expectClose(y, want, 1e-5, func + (faithful ? " (faithful)" : " (dequant)"),
              dotMagnitudes(xq, T, w));
}

TEST(CpuOpTest, LinearFp8Faithful) {
  std::mt19937 rng(1);
  runLinear(true, "linear_fp8", fp8Weight(200, 320, rng), "fp8.w", "fp8.s", /*quantizes=*/true);
}
TEST(CpuOpTest, LinearFp8Dequant) {
  std::mt19937 rng(1);
  runLinear(false, "linear_fp8", fp8Weight(200, 320, rng), "fp8.w", "fp8.s", false);
}
TEST(CpuOpTest, LinearFp4Faithful) {
  std::mt19937 rng(2);
  runLinear(true, "linear_fp4", fp4Weight(72, 320, rng), "fp4.w", "fp4.s", true);
}
TEST(CpuOpTest, LinearFp4Dequant) {
  std::mt19937 rng(2);
  runLinear(false, "linear_fp4", fp4Weight(72, 320, rng), "fp4.w", "fp4.s", false);
}

/// V3-style fp32 block scales (not powers of two): the kernel scales block sums, the reference
/// the weights, so the results differ by rounding only.
TEST(CpuOpTest, LinearFp8F32ScalesFaithful) {
  std::mt19937 rng(21);
  runLinear(true, "linear_fp8_f32_scale", fp8Weight(200, 320, rng, 128, 128, true), "fp8f.w",
            "fp8f.s", true);
}


/// wo_a (MODEL.md §6.7): group g maps x[:, gK:(g+1)K] through rows [gR, (g+1)R) of the weight
/// as a plain matmul, without activation quantization even in faithful mode.
TEST(CpuOpTest, GroupedLinearPlainMatmulPerGroup) {
  for (bool faithful : {true, false}) {
    const CompiledModule &m = linearModule(faithful);
    REQUIRE_MODULE(m);
    std::mt19937 rng(23);
    int64_t T = 3, G = 4, K = 96, R = 64;
    Weight w = fp8Weight(G * R, K, rng);
    std::vector<float> x = spreadRows(T, G * K, 32, rng), y(T * G * R, NAN);
    Arena weights = m.weights(), state = m.state();
    m.put(weights, "wo_a.w", w.codes);
    m.put(weights, "wo_a.s", w.scales);
    auto xd = desc(x, {T, G * K});
    auto wd = weights.view(), sd = state.view();
    auto yd = desc(y, {T, G * R});
    m.call("grouped_linear", &xd, &wd, &sd, &yd);
    std::vector<float> want(T * G * R), magnitude(T * G * R);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t g = 0; g < G; ++g) {
        Weight slice{R, K, {}, {}, std::vector<float>(&w.decoded[g * R * K],
                                                      &w.decoded[(g + 1) * R * K])};
        std::vector<float> xg(&x[(t * G + g) * K], &x[(t * G + g + 1) * K]);
        ref::matmul(xg.data(), 1, K, slice.decoded.data(), R, &want[(t * G + g) * R]);
        std::vector<float> mag = dotMagnitudes(xg, 1, slice);
        std::copy(mag.begin(), mag.end(), &magnitude[(t * G + g) * R]);
      }
    expectClose(y, want, 1e-5,
                std::string("grouped_linear fp8") + (faithful ? " (faithful)" : " (dequant)"),
                magnitude);
  }
}

/// bf16 weights never quantize activations, faithful or not; a rank-3 input is flattened.
TEST(CpuOpTest, LinearBf16NoActivationQuantization) {
  for (bool faithful : {true, false}) {
    const CompiledModule &m = linearModule(faithful);
    REQUIRE_MODULE(m);
    std::mt19937 rng(3);
    Weight w = bf16Weight(40, 320, rng);
    int64_t T = 3, rows = T * 2;
    std::vector<float> x = linearInput(rows, 320, rng);
    Arena weights = m.weights(), state = m.state();
    m.put(weights, "bf16.w", w.codes);
    std::vector<float> y(rows * 40, NAN);
    auto xd = desc(x, {T, 2, 320});
    auto wd = weights.view(), sd = state.view();
    auto yd = desc(y, {T, 2, 40});
    m.call("linear_bf16", &xd, &wd, &sd, &yd);
    expectClose(y, referenceLinear(x, rows, w, false), 1e-5,
                std::string("linear_bf16 rank 3") + (faithful ? " (faithful)" : " (dequant)"),
                dotMagnitudes(x, rows, w));
  }
}

//===----------------------------------------------------------------------===//
// QAT round trips and the Hadamard transform
//===----------------------------------------------------------------------===//

/// Rows that stress the FP8 round trip: spread magnitudes, all zeros, values below the 1e-4
/// amax clamp, exact e4m3 midpoints and a -0.
std::vector<float> qatFp8Input(int64_t rows, int64_t cols, std::mt19937 &rng) {
  std::vector<float> x = spreadRows(rows, cols, 64, rng);
  std::fill_n(&x[0 * cols], cols, 0.0f);
  for (int64_t c = 0; c < cols; ++c)
    x[1 * cols + c] = std::ldexp(float(c % 7) - 3.0f, -20); // below the clamp
  for (int64_t c = 0; c < cols; ++c) // midpoints between e4m3 codes at scale 1 (amax 448)
    x[2 * cols + c] = c == 0 ? 448.0f : (1.0f + (2 * (c % 8) + 1) / 16.0f) * float(1 << (c % 5));
  x[3 * cols + 5] = -0.0f;
  return x;
}

TEST(CpuOpTest, QatFp8ExactFirstDims) {
  const CompiledModule &m = linearModule(true);
  REQUIRE_MODULE(m);
  std::mt19937 rng(4);
  int64_t T = 6, D = 192, dims = 128;
  std::vector<float> x = qatFp8Input(T, D, rng), y(T * D, NAN);
  Arena weights = m.weights(), state = m.state();
  auto xd = desc(x, {T, D});
  auto wd = weights.view(), sd = state.view();
  auto yd = desc(y, {T, D});
  m.call("qat_fp8", &xd, &wd, &sd, &yd);
  std::vector<float> want = x;
  for (int64_t t = 0; t < T; ++t)
    ref::fp8RoundTrip(&want[t * D], dims, 64); // the last 64 channels stay untouched
  expectExact(y, want, "qat fp8 (group 64, dims D-64)");
}

TEST(CpuOpTest, QatFp4AfterHadamardExact) {
  const CompiledModule &m = linearModule(true);
  REQUIRE_MODULE(m);
  std::mt19937 rng(5);
  int64_t T = 4, H = 2, D = 128;
  std::vector<float> x = spreadRows(T * H, D, 32, rng);
  std::fill_n(&x[0], D, 0.0f); // amax 0: the 6·2^-126 clamp
  std::vector<float> h(T * H * D, NAN), y(T * H * D, NAN);
  Arena weights = m.weights(), state = m.state();
  auto xd = desc(x, {T, H, D});
  auto wd = weights.view(), sd = state.view();
  auto hd = desc(h, {T, H, D}), yd = desc(y, {T, H, D});
  m.call("qat_fp4", &xd, &wd, &sd, &hd, &yd);
  std::vector<float> wantH = x;
  for (int64_t r = 0; r < T * H; ++r)
    ref::hadamard(&wantH[r * D], D);
  std::vector<float> wantY = wantH;
  for (int64_t r = 0; r < T * H; ++r)
    ref::fp4RoundTrip(&wantY[r * D], D, 32);
  expectExact(h, wantH, "hadamard (128, before the fp4 qat)");
  expectExact(y, wantY, "qat fp4 (group 32)");
}

TEST(CpuOpTest, QatIsIdentityInDequantMode) {
  const CompiledModule &m = linearModule(false);
  REQUIRE_MODULE(m);
  std::mt19937 rng(4);
  int64_t T = 6, D = 192;
  std::vector<float> x = qatFp8Input(T, D, rng), y(T * D, NAN);
  Arena weights = m.weights(), state = m.state();
  auto xd = desc(x, {T, D});
  auto wd = weights.view(), sd = state.view();
  auto yd = desc(y, {T, D});
  m.call("qat_fp8", &xd, &wd, &sd, &yd);
  expectExact(y, x, "qat fp8 (dequant: identity)");

  std::vector<float> x4 = spreadRows(4 * 2, 128, 32, rng), h(4 * 2 * 128), y4(4 * 2 * 128);
  auto x4d = desc(x4, {4, 2, 128}), hd = desc(h, {4, 2, 128}), y4d = desc(y4, {4, 2, 128});
  m.call("qat_fp4", &x4d, &wd, &sd, &hd, &y4d);
  expectExact(y4, h, "qat fp4 (dequant: identity)");
}

TEST(CpuOpTest, HadamardExact) {
  const CompiledModule &m = opsModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(6);
  int64_t T = 5, D = 64;
  std::vector<float> x = normal(T * D, rng, 3.0f), y(T * D, NAN);
  Arena weights = m.weights(), state = m.state();
  auto xd = desc(x, {T, D});
  auto wd = weights.view(), sd = state.view();
  auto yd = desc(y, {T, D});
  m.call("hadamard", &xd, &wd, &sd, &yd);
  std::vector<float> want = x;
  for (int64_t t = 0; t < T; ++t)
    ref::hadamard(&want[t * D], D);
  expectExact(y, want, "hadamard (64)");
}

//===----------------------------------------------------------------------===//
// RMSNorm, RoPE
//===----------------------------------------------------------------------===//

TEST(CpuOpTest, RmsNormWithAndWithoutWeight) {
  const CompiledModule &m = opsModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(8);
  int64_t T = 4;
  Weight w = bf16Weight(1, 96, rng, 1.0f);
  std::vector<float> x = spreadRows(T, 96, 96, rng), q = normal(T * 3 * 32, rng, 5.0f);
  std::vector<float> a(T * 96, NAN), b(T * 3 * 32, NAN);
  Arena weights = m.weights(), state = m.state();
  m.put(weights, "norm.w", w.codes);
  auto xd = desc(x, {T, 96});
  auto qd = desc(q, {T, 3, 32});
  auto wd = weights.view(), sd = state.view();
  auto ad = desc(a, {T, 96});
  auto bd = desc(b, {T, 3, 32});
  m.call("rms_norm", &xd, &qd, &wd, &sd, &ad, &bd);
  std::vector<float> wantA = x, wantB = q;
  for (int64_t t = 0; t < T; ++t)
    ref::rmsNorm(&wantA[t * 96], 96, w.decoded.data(), 1e-6);
  for (int64_t r = 0; r < T * 3; ++r)
    ref::rmsNorm(&wantB[r * 32], 32, nullptr, 1e-3);
  expectExact(a, wantA, "rms_norm (bf16 weight)");
  expectExact(b, wantB, "rms_norm (no weight, per head)");
}

TEST(CpuOpTest, RopeYarnInverseAndPlain) {
  const CompiledModule &m = opsModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(9);
  int64_t T = 5;
  std::vector<int64_t> pos = {0, 1, 17, 1000, 4093};
  std::vector<float> q = normal(T * 2 * 128, rng), kv = normal(T * 128, rng);
  std::vector<float> a(q.size(), NAN), b(kv.size(), NAN), c(kv.size(), NAN);
  Arena weights = m.weights(), state = m.state();
  auto qd = desc(q, {T, 2, 128});
  auto kvd = desc(kv, {T, 128});
  auto pd = desc(pos, {T});
  auto wd = weights.view(), sd = state.view();
  auto ad = desc(a, {T, 2, 128});
  auto bd = desc(b, {T, 128}), cd = desc(c, {T, 128});
  m.call("rope", &qd, &kvd, &pd, &wd, &sd, &ad, &bd, &cd);
  std::vector<float> yarn = ref::ropeInvFreqs(64, 1.6e5, 16.0, 65536, 32.0, 1.0);
  std::vector<float> plain = ref::ropeInvFreqs(64, 1.0e4, 1.0, 0, 32.0, 1.0);
  std::vector<float> wantA = q, wantB = kv, wantC = kv;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < 2; ++h)
      ref::applyRope(&wantA[(t * 2 + h) * 128 + 64], yarn, pos[t], false);
    ref::applyRope(&wantB[t * 128 + 64], yarn, pos[t], true);
    ref::applyRope(&wantC[t * 128 + 64], plain, pos[t], false);
  }
  expectExact(a, wantA, "rope (yarn, last 64 of 128, per head)");
  expectExact(b, wantB, "rope (yarn, inverse)");
  expectExact(c, wantC, "rope (theta 1e4, no yarn)");
}

//===----------------------------------------------------------------------===//
// mHC (MODEL.md §6.4 "Residual stream")
//===----------------------------------------------------------------------===//

constexpr int64_t kStreams = 4, kHidden = 96;
constexpr double kHcEps = 0.01, kHcNormEps = 1e-3;

/// m = r·(Φ vec X) with r = (mean(vec X²) + eps)^(-1/2), for one token.
std::vector<float> hcMixes(const float *X, const std::vector<float> &fn, int64_t rows) {
  int64_t nd = kStreams * kHidden;
  double sumSq = 0;
  for (int64_t i = 0; i < nd; ++i)
    sumSq += double(X[i]) * X[i];
  float r = float(1.0 / std::sqrt(sumSq / nd + kHcNormEps));
  std::vector<float> m(rows);
  ref::matmul(X, 1, nd, fn.data(), rows, m.data());
  for (float &v : m)
    v *= r;
  return m;
}

struct HcParams {
  std::vector<float> fn, base, scale;
};
HcParams hcParams(int64_t rows, int64_t scales, std::mt19937 &rng) {
  return {normal(rows * kStreams * kHidden, rng, 0.05f), normal(rows, rng, 0.5f),
          normal(scales, rng, 0.8f)};
}

TEST(CpuOpTest, HcPre) {
  const CompiledModule &m = opsModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(10);
  int64_t T = 3, n = kStreams, d = kHidden, mixes = (2 + n) * n;
  HcParams p = hcParams(mixes, 3, rng);
  std::vector<float> X = normal(T * n * d, rng, 2.0f);
  std::vector<float> y(T * d, NAN), post(T * n, NAN), comb(T * n * n, NAN);
  Arena weights = m.weights(), state = m.state();
  m.put(weights, "hc.fn", p.fn);
  m.put(weights, "hc.base", p.base);
  m.put(weights, "hc.scale", p.scale);
  auto Xd = desc(X, {T, n, d});
  auto wd = weights.view(), sd = state.view();
  auto yd = desc(y, {T, d});
  auto postd = desc(post, {T, n});
  auto combd = desc(comb, {T, n, n});
  m.call("hc_pre", &Xd, &wd, &sd, &yd, &postd, &combd);

  std::vector<float> wantY(T * d, 0.0f), wantPost(T * n), wantComb(T * n * n);
  for (int64_t t = 0; t < T; ++t) {
    const float *Xt = &X[t * n * d];
    std::vector<float> mix = hcMixes(Xt, p.fn, mixes), pre(n);
    for (int64_t j = 0; j < n; ++j) {
      pre[j] = ref::sigmoid(p.scale[0] * mix[j] + p.base[j]) + float(kHcEps);
      wantPost[t * n + j] = 2.0f * ref::sigmoid(p.scale[1] * mix[n + j] + p.base[n + j]);
    }
    float *R = &wantComb[t * n * n];
    for (int64_t i = 0; i < n * n; ++i)
      R[i] = p.scale[2] * mix[2 * n + i] + p.base[2 * n + i];
    ref::sinkhorn(R, n, 20, kHcEps);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < d; ++c)
        wantY[t * d + c] += pre[j] * Xt[j * d + c];
  }
  expectClose(y, wantY, 1e-5, "hc_pre y");
  expectClose(post, wantPost, 1e-5, "hc_pre post");
  expectClose(comb, wantComb, 1e-5, "hc_pre comb (sinkhorn)");
}

TEST(CpuOpTest, HcPost) {
  const CompiledModule &m = opsModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(11);
  int64_t T = 3, n = kStreams, d = kHidden;
  std::vector<float> f = normal(T * d, rng), X = normal(T * n * d, rng, 2.0f);
  std::vector<float> post = normal(T * n, rng), comb = normal(T * n * n, rng, 0.3f);
  std::vector<float> out(T * n * d, NAN);
  Arena weights = m.weights(), state = m.state();
  auto fd = desc(f, {T, d});
  auto Xd = desc(X, {T, n, d});
  auto postd = desc(post, {T, n});
  auto combd = desc(comb, {T, n, n});
  auto wd = weights.view(), sd = state.view();
  auto outd = desc(out, {T, n, d});
  m.call("hc_post", &fd, &Xd, &postd, &combd, &wd, &sd, &outd);
  std::vector<float> want(T * n * d);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t c = 0; c < d; ++c) {
        float v = post[t * n + k] * f[t * d + c];
        for (int64_t j = 0; j < n; ++j)
          v += comb[(t * n + j) * n + k] * X[(t * n + j) * d + c];
        want[(t * n + k) * d + c] = v;
      }
  expectClose(out, want, 1e-5, "hc_post");
}

TEST(CpuOpTest, HcHead) {
  const CompiledModule &m = opsModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(12);
  int64_t T = 3, n = kStreams, d = kHidden;
  HcParams p = hcParams(n, 1, rng);
  std::vector<float> X = normal(T * n * d, rng, 2.0f), y(T * d, NAN);
  Arena weights = m.weights(), state = m.state();
  m.put(weights, "head.fn", p.fn);
  m.put(weights, "head.base", p.base);
  m.put(weights, "head.scale", p.scale);
  auto Xd = desc(X, {T, n, d});
  auto wd = weights.view(), sd = state.view();
  auto yd = desc(y, {T, d});
  m.call("hc_head", &Xd, &wd, &sd, &yd);
  std::vector<float> want(T * d, 0.0f);
  for (int64_t t = 0; t < T; ++t) {
    const float *Xt = &X[t * n * d];
    std::vector<float> mix = hcMixes(Xt, p.fn, n);
    for (int64_t j = 0; j < n; ++j) {
      float pre = ref::sigmoid(p.scale[0] * mix[j] + p.base[j]) + float(kHcEps);
      for (int64_t c = 0; c < d; ++c)
        want[t * d + c] += pre * Xt[j * d + c];
    }
  }
  expectClose(y, want, 1e-5, "hc_head");
}

//===----------------------------------------------------------------------===//
// Compressor and compressed cache, fed over two calls
//===----------------------------------------------------------------------===//

/// The compressor of MODEL.md §6.4 computed from the reference kernels over the whole history:
/// C = x W_kvᵀ, Z = x W_gateᵀ + ape[pos mod ratio], entry b pooled from block b (and b−1).
struct CompressorReference {
  int64_t ratio, width, headDim;
  bool overlap;
  std::vector<float> C, Z; // [positions so far, width]

  void feed(const std::vector<float> &x, int64_t T, int64_t D, const Weight &wkv,
            const Weight &wgate, const std::vector<float> &ape) {
    std::vector<float> c(T * width), z(T * width);
    ref::matmul(x.data(), T, D, wkv.decoded.data(), width, c.data());
    ref::matmul(x.data(), T, D, wgate.decoded.data(), width, z.data());
    int64_t start = int64_t(C.size()) / width;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t ch = 0; ch < width; ++ch)
        z[t * width + ch] += ape[((start + t) % ratio) * width + ch];
    C.insert(C.end(), c.begin(), c.end());
    Z.insert(Z.end(), z.begin(), z.end());
  }
  /// Entry b; with `magnitude`, Σ softmax·|C| instead (the size of its rounding error: the
  /// pooled values may cancel).
  std::vector<float> entry(int64_t b, bool magnitude = false) const {
    std::vector<float> absC(C.size());
    for (size_t i = 0; i < C.size(); ++i)
      absC[i] = std::fabs(C[i]);
    const std::vector<float> &kv = magnitude ? absC : C;
    std::vector<float> e(headDim);
    const float *prevKv = b > 0 ? &kv[(b - 1) * ratio * width] : nullptr;
    const float *prevScore = b > 0 ? &Z[(b - 1) * ratio * width] : nullptr;
    ref::poolCompressedEntry(&kv[b * ratio * width], &Z[b * ratio * width], ratio, prevKv,
                             prevScore, b > 0 ? ratio : 0, width, headDim, overlap, e.data());
    return e;
  }
};

void runCompressor(const std::string &func, bool overlap, int64_t ratio, const std::string &prefix,
                   bool wkvBf16) {
  const CompiledModule &m = attentionModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(13 + ratio);
  int64_t D = 48, headDim = 32, width = overlap ? 2 * headDim : headDim;
  Weight wkv = wkvBf16 ? bf16Weight(width, D, rng, 0.3f) : Weight{};
  Weight wgate = wkvBf16 ? Weight{} : bf16Weight(width, D, rng, 0.3f);
  // The other one is f32: its "codes" are its fp32 bytes.
  Weight &f32 = wkvBf16 ? wgate : wkv;
  f32 = Weight{width, D, std::vector<uint8_t>(width * D * 4), {}, normal(width * D, rng, 0.3f)};
  std::memcpy(f32.codes.data(), f32.decoded.data(), f32.codes.size());
  std::vector<float> ape = normal(ratio * width, rng);
  Arena weights = m.weights(), state = m.state();
  m.put(weights, prefix + ".wkv", wkv.codes);
  m.put(weights, prefix + ".wgate", wgate.codes);
  m.put(weights, prefix + ".ape", ape);
  auto wd = weights.view(), sd = state.view();

  CompressorReference reference{ratio, width, headDim, overlap, {}, {}};
  std::vector<float> allEntries, allMagnitudes;
  int64_t start = 0;
  for (int64_t T : {6, 7}) { // the second call completes blocks begun in the first
    std::vector<float> x = normal(T * D, rng);
    std::vector<int32_t> tokens(T, 1);
    reference.feed(x, T, D, wkv, wgate, ape);
    int64_t first = start / ratio, total = (start + T) / ratio, count = total - first;
    std::vector<float> entries(count * headDim, NAN), all(total * headDim, NAN);
    std::vector<int64_t> positions(count, -7);
    auto xd = desc(x, {T, D});
    auto td = desc(tokens, {T});
    auto ed = desc(entries, {count, headDim});
    auto pd = desc(positions, {count});
    auto ad = desc(all, {total, headDim});
    m.call(func, &xd, &td, start, &wd, &sd, &ed, &pd, &ad);

    std::vector<float> want, magnitude;
    std::vector<int64_t> wantPositions;
    for (int64_t b = first; b < total; ++b) {
      std::vector<float> e = reference.entry(b), size = reference.entry(b, true);
      want.insert(want.end(), e.begin(), e.end());
      magnitude.insert(magnitude.end(), size.begin(), size.end());
      wantPositions.push_back(b * ratio);
    }
    allEntries.insert(allEntries.end(), want.begin(), want.end());
    allMagnitudes.insert(allMagnitudes.end(), magnitude.begin(), magnitude.end());
    std::string call = func + " call at " + std::to_string(start) + "+" + std::to_string(T);
    expectClose(entries, want, 1e-5, call + " entries", magnitude);
    expectEqualInts(positions, wantPositions, call + " entry positions");
    expectClose(all, allEntries, 1e-5, call + " kv_append (all so far)", allMagnitudes);
    start += T;
  }
}

TEST(CpuOpTest, CompressorOverlapRatio4TwoCalls) {
  runCompressor("compress_overlap", /*overlap=*/true, 4, "csa", /*wkvBf16=*/true);
}
TEST(CpuOpTest, CompressorRatio8TwoCalls) {
  runCompressor("compress_plain", /*overlap=*/false, 8, "hca", /*wkvBf16=*/false);
}

//===----------------------------------------------------------------------===//
// Indexer top-k
//===----------------------------------------------------------------------===//

TEST(CpuOpTest, IndexTopkTiesAndPadding) {
  const CompiledModule &m = opsModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(14);
  int64_t H = 2, dim = 32, N = 12, k = 6;
  std::vector<int64_t> pos = {0, 3, 7, 13, 20, 23, 30, 47, 60};
  int64_t T = pos.size();
  std::vector<float> q = normal(T * H * dim, rng), w = normal(T * H, rng);
  std::vector<float> keys = normal(N * dim, rng);
  // Ties: zero keys score exactly 0 (so do keys every head's q is negative against), and
  // duplicated keys score alike.
  std::fill_n(&keys[2 * dim], dim, 0.0f);
  std::fill_n(&keys[9 * dim], dim, 0.0f);
  std::copy_n(&keys[1 * dim], dim, &keys[6 * dim]);
  std::copy_n(&keys[4 * dim], dim, &keys[10 * dim]);
  for (int64_t j = 0; j < H; ++j) // token 4: positive weights, so many ReLU zeros tie at 0
    w[4 * H + j] = std::fabs(w[4 * H + j]);
  std::vector<int32_t> out(T * k, 99);
  Arena weights = m.weights(), state = m.state();
  auto qd = desc(q, {T, H, dim});
  auto wdsc = desc(w, {T, H});
  auto kd = desc(keys, {N, dim});
  auto pd = desc(pos, {T});
  auto wd = weights.view(), sd = state.view();
  auto od = desc(out, {T, k});
  m.call("index_topk", &qd, &wdsc, &kd, &pd, &wd, &sd, &od);

  std::vector<int32_t> want;
  int64_t zeros = 0;
  for (int64_t t = 0; t < T; ++t) {
    int64_t visible = std::min<int64_t>((pos[t] + 1) / 4, N);
    std::vector<float> score =
        ref::indexScores(&q[t * H * dim], &w[t * H], H, dim, keys.data(), visible, 0.125f);
    zeros += std::count(score.begin(), score.end(), 0.0f);
    std::vector<int32_t> picks = ref::topk(score.data(), visible, k);
    picks.resize(k, -1);
    want.insert(want.end(), picks.begin(), picks.end());
  }
  EXPECT_GE(zeros, 8) << "the inputs should produce many tied zero scores";
  expectEqualInts(out, want, "index_topk (ties, -1 padding)");
}

//===----------------------------------------------------------------------===//
// Sparse attention, fed over two calls (the window ring carries the earlier tokens)
//===----------------------------------------------------------------------===//

enum class AttentionKind { Window, Hca, Csa };

void runAttention(AttentionKind kind, std::vector<int64_t> calls) {
  const CompiledModule &m = attentionModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(15 + int(kind));
  int64_t H = 2, hd = 16, W = 4, ratio = 4, topk = 3;
  float scale = 0.25f;
  std::vector<float> sink = normal(H, rng);
  int64_t totalTokens = 0;
  for (int64_t T : calls)
    totalTokens += T;
  std::vector<float> pool = normal((totalTokens / ratio + 1) * hd, rng, 1.5f); // compressed
  std::vector<float> history; // every raw kv row so far
  Arena weights = m.weights(), state = m.state();
  auto wd = weights.view(), sd = state.view();
  auto sinkd = desc(sink, {H});
  const char *name = kind == AttentionKind::Window ? "attention_window"
                     : kind == AttentionKind::Hca  ? "attention_hca"
                                                   : "attention_csa";
  int64_t start = 0;
  for (int64_t T : calls) {
    std::vector<float> q = normal(T * H * hd, rng, 0.7f), kv = normal(T * hd, rng, 1.5f);
    history.insert(history.end(), kv.begin(), kv.end());
    std::vector<int32_t> tokens(T, 1);
    int64_t entries = std::max<int64_t>((start + T) / ratio, 1);
    std::vector<float> compressed(pool.begin(), pool.begin() + entries * hd);
    std::vector<int32_t> indices(T * topk);
    std::uniform_int_distribution<int> pick(-1, int(entries) - 1);
    for (int32_t &i : indices)
      i = pick(rng);
    indices[0] = -1;
    indices[1] = 0; // a duplicate candidate: the union is not deduplicated
    indices[2] = 0;
    std::vector<float> o(T * H * hd, NAN);
    auto qd = desc(q, {T, H, hd});
    auto kvd = desc(kv, {T, hd});
    auto cd = desc(compressed, {entries, hd});
    auto id = desc(indices, {T, topk});
    auto td = desc(tokens, {T});
    auto od = desc(o, {T, H, hd});
    if (kind == AttentionKind::Window)
      m.call(name, &qd, &kvd, &sinkd, &td, start, &wd, &sd, &od);
    else if (kind == AttentionKind::Hca)
      m.call(name, &qd, &kvd, &sinkd, &cd, &td, start, &wd, &sd, &od);
    else
      m.call(name, &qd, &kvd, &sinkd, &cd, &id, &td, start, &wd, &sd, &od);

    std::vector<float> want(T * H * hd);
    for (int64_t t = 0; t < T; ++t) {
      int64_t p = start + t;
      std::vector<const float *> candidates;
      for (int64_t s = std::max<int64_t>(0, p - W + 1); s <= p; ++s)
        candidates.push_back(&history[s * hd]);
      if (kind == AttentionKind::Hca)
        for (int64_t i = 0; i < std::min((p + 1) / ratio, entries); ++i)
          candidates.push_back(&compressed[i * hd]);
      if (kind == AttentionKind::Csa)
        for (int64_t r = 0; r < topk; ++r)
          if (indices[t * topk + r] >= 0)
            candidates.push_back(&compressed[indices[t * topk + r] * hd]);
      for (int64_t h = 0; h < H; ++h)
        ref::attendWithSink(&q[(t * H + h) * hd], candidates, sink[h], scale, hd,
                            &want[(t * H + h) * hd]);
    }
    expectClose(o, want, 1e-5,
                std::string(name) + " call at " + std::to_string(start) + "+" + std::to_string(T),
                {}, 1e-2);
    start += T;
  }
}

TEST(CpuOpTest, SparseAttentionWindowOnlyTwoCalls) { runAttention(AttentionKind::Window, {3, 4}); }
/// A call longer than the window (only its last W rows enter the ring), then decode steps.
TEST(CpuOpTest, SparseAttentionWindowLongCallThenDecode) {
  runAttention(AttentionKind::Window, {3, 6, 1, 1});
}
TEST(CpuOpTest, SparseAttentionHcaTwoCallsThenDecode) { runAttention(AttentionKind::Hca, {5, 6, 1}); }
TEST(CpuOpTest, SparseAttentionCsaTwoCalls) { runAttention(AttentionKind::Csa, {6, 5}); }

//===----------------------------------------------------------------------===//
// MoE router and experts
//===----------------------------------------------------------------------===//

TEST(CpuOpTest, MoeGateScoreRoutingWithBias) {
  const CompiledModule &m = opsModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(16);
  int64_t T = 6, D = 64, E = 12, k = 3;
  Weight gate = bf16Weight(E, D, rng, 0.3f);
  // Experts 2 and 7 have the same gate row and bias: an exact tie, lower index first. Token 0
  // is a zero row: every score is sqrt(log 2), so the bias alone orders the experts.
  std::copy_n(&gate.codes[2 * D * 2], D * 2, &gate.codes[7 * D * 2]);
  std::copy_n(&gate.decoded[2 * D], D, &gate.decoded[7 * D]);
  std::vector<float> bias = normal(E, rng, 0.2f);
  bias[7] = bias[2] = 3.0f;
  bias[5] = bias[9] = -0.05f;
  std::vector<float> x = normal(T * D, rng);
  std::fill_n(&x[0], D, 0.0f);
  std::vector<float> weightsOut(T * k, NAN);
  std::vector<int32_t> experts(T * k, 99);
  Arena weights = m.weights(), state = m.state();
  m.put(weights, "gate.w", gate.codes);
  m.put(weights, "gate.bias", bias);
  auto xd = desc(x, {T, D});
  auto wd = weights.view(), sd = state.view();
  auto wod = desc(weightsOut, {T, k});
  auto ed = desc(experts, {T, k});
  m.call("moe_gate_score", &xd, &wd, &sd, &wod, &ed);

  std::vector<float> scores(T * E), wantWeights;
  std::vector<int32_t> wantExperts;
  ref::matmul(x.data(), T, D, gate.decoded.data(), E, scores.data());
  for (float &s : scores)
    s = ref::sqrtSoftplus(s);
  for (int64_t t = 0; t < T; ++t) {
    ref::Routing r = ref::route(&scores[t * E], E, bias.data(), nullptr, k, 1.5);
    wantExperts.insert(wantExperts.end(), r.experts.begin(), r.experts.end());
    wantWeights.insert(wantWeights.end(), r.weights.begin(), r.weights.end());
  }
  expectEqualInts(experts, wantExperts, "moe_gate score routing: expert ids");
  expectClose(weightsOut, wantWeights, 1e-6, "moe_gate score routing: weights");
}

TEST(CpuOpTest, MoeGateHashRouting) {
  const CompiledModule &m = opsModule();
  REQUIRE_MODULE(m);
  std::mt19937 rng(17);
  int64_t T = 5, D = 64, E = 12, k = 3, V = 50;
  std::vector<float> gate = normal(E * D, rng, 0.3f), x = normal(T * D, rng);
  std::vector<int64_t> tid2eid(V * k);
  std::uniform_int_distribution<int> expert(0, int(E) - 1), token(0, int(V) - 1);
  for (int64_t &e : tid2eid)
    e = expert(rng);
  std::vector<int32_t> tokens(T);
  for (int32_t &t : tokens)
    t = token(rng);
  tokens[3] = int32_t(V - 1); // the last row of the table
  std::vector<float> weightsOut(T * k, NAN);
  std::vector<int32_t> experts(T * k, 99);
  Arena weights = m.weights(), state = m.state();
  m.put(weights, "hash.w", gate);
  m.put(weights, "hash.tid2eid", tid2eid);
  auto xd = desc(x, {T, D});
  auto td = desc(tokens, {T});
  auto wd = weights.view(), sd = state.view();
  auto wod = desc(weightsOut, {T, k});
  auto ed = desc(experts, {T, k});
  m.call("moe_gate_hash", &xd, &td, &wd, &sd, &wod, &ed);

  std::vector<float> scores(T * E), wantWeights;
  std::vector<int32_t> wantExperts;
  ref::matmul(x.data(), T, D, gate.data(), E, scores.data());
  for (float &s : scores)
    s = ref::sqrtSoftplus(s);
  for (int64_t t = 0; t < T; ++t) {
    ref::Routing r =
        ref::route(&scores[t * E], E, nullptr, &tid2eid[tokens[t] * k], k, 2.5);
    wantExperts.insert(wantExperts.end(), r.experts.begin(), r.experts.end());
    wantWeights.insert(wantWeights.end(), r.weights.begin(), r.weights.end());
  }
  expectEqualInts(experts, wantExperts, "moe_gate hash routing: expert ids");
  expectClose(weightsOut, wantWeights, 1e-6, "moe_gate hash routing: weights");
}

/// The reference expert: g = W1 x, a = W3 x, z = silu(min(g, L))·clamp(a, ±L)·w, out = W2 z,
/// with FP8 activation quantization before each FP4 GEMM in faithful mode.
void runExperts(bool faithful) {
  const CompiledModule &m = linearModule(faithful);
  REQUIRE_MODULE(m);
  std::mt19937 rng(18);
  int64_t E = 4, inter = 96, D = 160, T = 4, k = 2;
  float limit = 10.0f;
  std::vector<Weight> w1s, w3s, w2s;
  for (int64_t e = 0; e < E; ++e) {
    w1s.push_back(fp4Weight(inter, D, rng, -4, -2));
    w3s.push_back(fp4Weight(inter, D, rng, -4, -2));
    w2s.push_back(fp4Weight(D, inter, rng, -5, -3));
  }
  Weight w1 = stack(w1s), w3 = stack(w3s), w2 = stack(w2s);
  std::vector<float> x = normal(T * D, rng);
  std::vector<int32_t> chosen = {3, 0, 1, 1, 2, 3, 0, 2}; // expert ids [T, k]; token 1 twice
  std::vector<float> routing = normal(T * k, rng, 0.5f);
  std::vector<float> y(T * D, NAN);
  Arena weights = m.weights(), state = m.state();
  m.put(weights, "experts.w1", w1.codes);
  m.put(weights, "experts.s1", w1.scales);
  m.put(weights, "experts.w3", w3.codes);
  m.put(weights, "experts.s3", w3.scales);
  m.put(weights, "experts.w2", w2.codes);
  m.put(weights, "experts.s2", w2.scales);
  auto xd = desc(x, {T, D});
  auto rwd = desc(routing, {T, k});
  auto red = desc(chosen, {T, k});
  auto wd = weights.view(), sd = state.view();
  auto yd = desc(y, {T, D});
  m.call("moe_experts", &xd, &rwd, &red, &wd, &sd, &yd);

  std::vector<float> want(T * D, 0.0f), magnitude(T * D, 0.0f);
  int64_t clamped = 0;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> xt(&x[t * D], &x[(t + 1) * D]);
    for (int64_t r = 0; r < k; ++r) {
      int64_t e = chosen[t * k + r];
      std::vector<float> g = referenceLinear(xt, 1, w1s[e], faithful);
      std::vector<float> a = referenceLinear(xt, 1, w3s[e], faithful);
      for (int64_t i = 0; i < inter; ++i) {
        clamped += a[i] > limit || a[i] < -limit || g[i] > limit;
        a[i] = std::clamp(a[i], -limit, limit);
        g[i] = ref::silu(std::min(g[i], limit)) * a[i] * routing[t * k + r];
      }
      std::vector<float> out = referenceLinear(g, 1, w2s[e], faithful);
      std::vector<float> gq = g;
      if (faithful)
        ref::fp8RoundTrip(gq.data(), inter, 128);
      std::vector<float> mag = dotMagnitudes(gq, 1, w2s[e]);
      for (int64_t c = 0; c < D; ++c) {
        want[t * D + c] += out[c];
        magnitude[t * D + c] += mag[c];
      }
    }
  }
  EXPECT_GT(clamped, 0) << "the inputs should exercise the SwiGLU clamp";
  expectClose(y, want, 1e-5,
              std::string("moe_experts fp4") + (faithful ? " (faithful)" : " (dequant)"),
              magnitude);
}

TEST(CpuOpTest, MoeExpertsFp4Faithful) { runExperts(true); }
TEST(CpuOpTest, MoeExpertsFp4Dequant) { runExperts(false); }

} // namespace
