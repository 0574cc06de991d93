// The CPU target end to end on the tiny checkpoint: v4c's compile path produces an artifact,
// the runtime runs it, and the logits are compared with the reference's. Dequant mode must
// agree tightly; faithful mode is discontinuous (MODEL.md §6.7), so its whole-model agreement
// is reported and only sanity-checked here (the per-op tests check faithful numerics).
#include "codegen/cpu/CompileCpu.h"
#include "frontend/import/GraphBuilder.h"
#include "frontend/synthetic/SyntheticCheckpoint.h"
#include "runtime/artifact/Artifact.h"
#include "runtime/cpu/CpuEngine.h"
#include "runtime/reference/ReferenceModel.h"

#include "TestSupport.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace v4c;

namespace {

struct Agreement {
  double relativeL2 = 0, maxAbs = 0;
  int64_t sameArgmax = 0, positions = 0;
};

Agreement compare(const std::vector<float> &a, const std::vector<float> &b, int64_t vocab) {
  Agreement r;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += double(a[i] - b[i]) * (a[i] - b[i]);
    den += double(b[i]) * b[i];
    r.maxAbs = std::max(r.maxAbs, double(std::fabs(a[i] - b[i])));
  }
  r.relativeL2 = std::sqrt(num / den);
  r.positions = a.size() / vocab;
  for (int64_t t = 0; t < r.positions; ++t) {
    auto row = [&](const std::vector<float> &v) {
      return std::max_element(v.begin() + t * vocab, v.begin() + (t + 1) * vocab) - v.begin();
    };
    r.sameArgmax += row(a) == row(b);
  }
  return r;
}

class CpuEndToEndTest : public testing::Test {
protected:
  static void SetUpTestSuite() { dir = new test::TempDir("v4c-cpu-e2e"); }
  static void TearDownTestSuite() { delete dir; }

  /// Generates (once per variant) and opens a tiny checkpoint.
  static std::unique_ptr<Checkpoint> checkpoint(bool bf16) {
    std::string path = dir->file(bf16 ? "tiny-bf16" : "tiny");
    if (!llvm::sys::fs::exists(path + "/config.json")) {
      std::string log;
      llvm::raw_string_ostream os(log);
      llvm::Error e = writeSyntheticCheckpoint({"tiny", 21, bf16}, path, os);
      EXPECT_FALSE(bool(e)) << llvm::toString(std::move(e));
    }
    auto opened = Checkpoint::open(path);
    EXPECT_TRUE(bool(opened)) << (opened ? "" : llvm::toString(opened.takeError()));
    return opened ? std::move(*opened) : nullptr;
  }

  /// Compiles the checkpoint the way `v4c compile` does; returns the artifact path.
  /// `pipeline` replaces the graph-level passes (`v4c compile --pipeline`) when not empty.
  static std::string compile(const Checkpoint &ckpt, bool faithful, const std::string &name,
                             const std::string &pipeline = "") {
    mlir::DialectRegistry registry;
    cpu::registerCpuDependencies(registry);
    mlir::MLIRContext context(registry);
    context.loadAllAvailableDialects();
    auto module = buildV4Graph(context, ckpt.config(), &ckpt);
    EXPECT_TRUE(bool(module));
    if (!module)
      return "";
    cpu::CpuOptions options;
    options.faithful = faithful;
    options.maxSeqLen = 512;
    options.graphPipeline = pipeline;
    std::string path = dir->file(name);
    llvm::Error e = cpu::compileToArtifact(**module, ckpt, options, path, [](llvm::StringRef) {});
    EXPECT_FALSE(bool(e)) << llvm::toString(std::move(e));
    return path;
  }

  static std::vector<int32_t> tokens(int64_t count) {
    std::vector<int32_t> ids(count);
    for (int64_t i = 0; i < count; ++i)
      ids[i] = int32_t((i * 53 + 7) % 512);
    return ids;
  }

  /// Runs `ids` as a prefill of `prefill` tokens followed by one-token decode steps.
  static std::vector<float> run(Engine &engine, const std::vector<int32_t> &ids, size_t prefill) {
    engine.reset();
    std::string error;
    std::vector<float> logits =
        engine.forward(std::vector<int32_t>(ids.begin(), ids.begin() + prefill), error);
    EXPECT_EQ(error, "");
    for (size_t t = prefill; t < ids.size(); ++t) {
      std::vector<float> row = engine.forward({ids[t]}, error);
      EXPECT_EQ(error, "");
      logits.insert(logits.end(), row.begin(), row.end());
    }
    return logits;
  }

  static test::TempDir *dir;
};

test::TempDir *CpuEndToEndTest::dir = nullptr;

// 300 tokens: crosses the 32-token window, completes two 128-token HCA blocks.
constexpr int64_t kLength = 300;

TEST_F(CpuEndToEndTest, DequantModeMatchesTheReference) {
  for (bool bf16 : {false, true}) {
    SCOPED_TRACE(bf16 ? "bf16 checkpoint" : "fp8/fp4 checkpoint");
    auto ckpt = checkpoint(bf16);
    ASSERT_TRUE(ckpt);
    std::string path = compile(*ckpt, /*faithful=*/false, bf16 ? "bf16.v4a" : "dequant.v4a");
    std::string error;
    auto compiled = cpu::openCpuEngine(path, error);
    ASSERT_TRUE(compiled) << error;
    auto reference = reference::createReferenceEngine(*ckpt, PrecisionMode::Dequant);
    ASSERT_TRUE(bool(reference)) << llvm::toString(reference.takeError());

    std::vector<int32_t> ids = tokens(kLength);
    std::vector<float> expected = run(**reference, ids, kLength);
    for (size_t prefill : {size_t(kLength), size_t(100)}) {
      Agreement a = compare(run(*compiled, ids, prefill), expected, 512);
      std::printf("[ cpu ] %s, prefill %zu + decode: relative L2 %.3g, max |diff| %.3g, argmax "
                  "%lld/%lld\n",
                  bf16 ? "bf16" : "dequant", prefill, a.relativeL2, a.maxAbs,
                  (long long)a.sameArgmax, (long long)a.positions);
      EXPECT_LE(a.relativeL2, 1e-4);
      EXPECT_EQ(a.sameArgmax, a.positions);
    }
  }
}

// The MTP module (speculative decoding) compiled as @mtp0, after a prefill and after a decode
// step, against the reference's (dequant mode: the same tolerance as the main model).
TEST_F(CpuEndToEndTest, MtpModuleMatchesTheReference) {
  auto ckpt = checkpoint(false);
  ASSERT_TRUE(ckpt);
  std::string path = compile(*ckpt, /*faithful=*/false, "mtp.v4a");
  std::string error;
  auto compiled = cpu::openCpuEngine(path, error);
  ASSERT_TRUE(compiled) << error;
  auto reference = reference::createReferenceEngine(*ckpt, PrecisionMode::Dequant);
  ASSERT_TRUE(bool(reference)) << llvm::toString(reference.takeError());
  std::vector<int32_t> ids = tokens(42);
  std::vector<int32_t> prompt(ids.begin(), ids.begin() + 40), next(ids.begin() + 1, ids.begin() + 41);
  for (Engine *engine : {compiled.get(), static_cast<Engine *>(reference->get())})
    ASSERT_FALSE(engine->forward(prompt, error).empty()) << error;
  std::vector<float> got = compiled->mtpLogits(0, next, error), want = (*reference)->mtpLogits(0, next, error);
  ASSERT_EQ(got.size(), want.size()) << error;
  Agreement a = compare(got, want, 512);
  std::printf("[ cpu ] MTP after a 40-token prefill: relative L2 %.3g, argmax %lld/%lld\n",
              a.relativeL2, (long long)a.sameArgmax, (long long)a.positions);
  EXPECT_LE(a.relativeL2, 1e-4);
  EXPECT_EQ(a.sameArgmax, a.positions);
  for (Engine *engine : {compiled.get(), static_cast<Engine *>(reference->get())})
    ASSERT_FALSE(engine->forward({ids[40]}, error).empty()) << error;
  got = compiled->mtpLogits(0, {ids[41]}, error);
  want = (*reference)->mtpLogits(0, {ids[41]}, error);
  ASSERT_EQ(got.size(), want.size()) << error;
  a = compare(got, want, 512);
  std::printf("[ cpu ] MTP after a decode step: relative L2 %.3g, argmax %lld/%lld\n",
              a.relativeL2, (long long)a.sameArgmax, (long long)a.positions);
  EXPECT_LE(a.relativeL2, 1e-4);
  EXPECT_EQ(a.sameArgmax, a.positions);
  EXPECT_TRUE(compiled->mtpLogits(0, {1, 2}, error).empty()); // 2 tokens for 1 position
  EXPECT_TRUE(compiled->mtpLogits(3, {1}, error).empty());
  EXPECT_EQ(error, "the model has no MTP module 3");
}

TEST_F(CpuEndToEndTest, FaithfulModeAgreementIsReported) {
  auto ckpt = checkpoint(false);
  ASSERT_TRUE(ckpt);
  std::string path = compile(*ckpt, /*faithful=*/true, "faithful.v4a");
  std::string error;
  auto compiled = cpu::openCpuEngine(path, error);
  ASSERT_TRUE(compiled) << error;
  auto reference = reference::createReferenceEngine(*ckpt, PrecisionMode::Faithful);
  ASSERT_TRUE(bool(reference)) << llvm::toString(reference.takeError());
  std::vector<int32_t> ids = tokens(kLength);
  std::vector<float> prefill = run(*compiled, ids, kLength);
  Agreement a = compare(prefill, run(**reference, ids, kLength), 512);
  std::printf("[ cpu ] faithful vs reference: relative L2 %.3g, argmax %lld/%lld\n", a.relativeL2,
              (long long)a.sameArgmax, (long long)a.positions);
  // FP8 rounding-boundary flips spread through routing and selections (MODEL.md §6.7: 80-95%
  // argmax agreement between two correct implementations); anything far below is a bug.
  EXPECT_GE(double(a.sameArgmax) / a.positions, 0.8);
  EXPECT_LE(a.relativeL2, 0.2);

  // Prefill and prefill + decode differ only in the GEMM microkernel's summation order for
  // m > 1 rows vs one row; in faithful mode a last-bit change can flip an FP8 rounding.
  Agreement steps = compare(run(*compiled, ids, 100), prefill, 512);
  std::printf("[ cpu ] faithful prefill vs prefill + decode: relative L2 %.3g, argmax %lld/%lld\n",
              steps.relativeL2, (long long)steps.sameArgmax, (long long)steps.positions);
  EXPECT_LE(steps.relativeL2, 1e-3);
  EXPECT_GE(double(steps.sameArgmax) / steps.positions, 0.99);
}

// Every graph pass on and off (passes/Pipelines.cpp): the logits do not change, bit for bit
// (fusion changes where activation quantization runs, not what it computes). The precision
// policy cannot be switched off: the code generator refuses ops without a decision.
TEST_F(CpuEndToEndTest, GraphPassesOnAndOffGiveTheSameLogits) {
  auto ckpt = checkpoint(false);
  ASSERT_TRUE(ckpt);
  std::vector<int32_t> ids = tokens(64);
  for (const char *mode : {"faithful", "dequant"}) {
    SCOPED_TRACE(mode);
    std::string policy = std::string("v4c-precision-policy{mode=") + mode + "}";
    std::vector<float> all;
    const std::string fusion = ",v4c-plan-fusion,v4c-apply-fusion";
    for (const std::string &pipeline :
         {std::string(),                                            // everything
          policy + ",canonicalize,cse" + fusion,                    // no v4c-lower-precision
          policy + ",v4c-lower-precision" + fusion,                 // no canonicalize, cse
          policy + ",v4c-lower-precision,canonicalize,cse"}) {      // no fusion
      SCOPED_TRACE(pipeline.empty() ? "default pipeline" : pipeline);
      std::string path =
          compile(*ckpt, std::string(mode) == "faithful", std::string(mode) + "-passes.v4a", pipeline);
      std::string error;
      auto compiled = cpu::openCpuEngine(path, error);
      ASSERT_TRUE(compiled) << error;
      std::vector<float> logits = run(*compiled, ids, 40);
      if (all.empty()) {
        all = logits;
        continue;
      }
      Agreement a = compare(logits, all, 512);
      std::printf("[ cpu ] %s, '%s' vs all passes: max |diff| %.3g\n", mode, pipeline.c_str(),
                  a.maxAbs);
      EXPECT_EQ(a.maxAbs, 0.0); // the same values, bit for bit
    }
  }
  mlir::DialectRegistry registry;
  cpu::registerCpuDependencies(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  auto module = buildV4Graph(context, ckpt->config(), ckpt.get());
  ASSERT_TRUE(bool(module));
  cpu::CpuOptions options;
  options.graphPipeline = "canonicalize,cse";
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler capture(&context, [&](mlir::Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return mlir::success();
  });
  llvm::Error e = cpu::compileToArtifact(**module, *ckpt, options, dir->file("no-policy.v4a"),
                                         [](llvm::StringRef) {});
  EXPECT_TRUE(bool(e));
  llvm::consumeError(std::move(e));
  EXPECT_NE(diagnostics.find("has no graph.precision decision"), std::string::npos) << diagnostics;
  EXPECT_FALSE(llvm::sys::fs::exists(dir->file("no-policy.v4a")));
}

TEST_F(CpuEndToEndTest, CompilingTwiceGivesIdenticalBytesAndExpertsLieBackToBack) {
  auto ckpt = checkpoint(false);
  ASSERT_TRUE(ckpt);
  std::string a = compile(*ckpt, false, "twice-a.v4a"), b = compile(*ckpt, false, "twice-b.v4a");
  auto bytesA = llvm::MemoryBuffer::getFile(a), bytesB = llvm::MemoryBuffer::getFile(b);
  ASSERT_TRUE(bytesA && bytesB);
  llvm::StringRef x = (*bytesA)->getBuffer(), y = (*bytesB)->getBuffer();
  ASSERT_EQ(x.size(), y.size());
  size_t first = 0;
  while (first < x.size() && x[first] == y[first])
    ++first;
  EXPECT_EQ(first, x.size()) << "the artifacts first differ at byte " << first << " of "
                             << x.size();

  // Routed experts are stored one tensor per expert (no layer-sized buffer while writing),
  // contiguous, in expert order: the stacked layout the generated code indexes.
  std::string error;
  auto artifact = artifact::openArtifact(a, error);
  ASSERT_TRUE(artifact) << error;
  const artifact::TensorView *e0 = artifact->tensor("layers.2.ffn.experts.0.w1.weight");
  const artifact::TensorView *e1 = artifact->tensor("layers.2.ffn.experts.1.w1.weight");
  ASSERT_TRUE(e0 && e1);
  EXPECT_EQ(e0->shape, (std::vector<int64_t>{128, 128})); // FP4 packed two per byte
  EXPECT_EQ(e1->offset, e0->offset + e0->byteSize);
  EXPECT_EQ(artifact->tensor("layers.2.ffn.experts.w1.weight"), nullptr);
}

TEST_F(CpuEndToEndTest, CorruptArtifactsAreRejectedByName) {
  auto ckpt = checkpoint(false);
  ASSERT_TRUE(ckpt);
  std::string path = compile(*ckpt, false, "corrupt.v4a");
  auto bytes = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE(bytes);
  std::string data = (*bytes)->getBuffer().str();
  auto writeVariant = [&](const std::string &name, const std::string &contents) {
    std::string p = dir->file(name);
    std::error_code ec;
    llvm::raw_fd_ostream os(p, ec);
    os << contents;
    return p;
  };
  std::string error;
  EXPECT_FALSE(cpu::openCpuEngine(writeVariant("cut.v4a", data.substr(0, data.size() / 2)), error));
  EXPECT_NE(error.find("cut.v4a"), std::string::npos) << error;
  std::string flipped = data;
  flipped[flipped.size() - 100] ^= 0x5A; // inside the code segment
  EXPECT_FALSE(cpu::openCpuEngine(writeVariant("flip.v4a", flipped), error));
  EXPECT_NE(error.find("checksum"), std::string::npos) << error;
}

} // namespace
