// The V4 graph builder: the full Flash/Pro graphs build from configs alone, every checkpoint
// tensor is referenced by exactly one parameter, parameter types follow the files, and the
// module round-trips through text and bytecode unchanged.
#include "frontend/import/GraphBuilder.h"

#include "frontend/checkpoint/TensorInventory.h"
#include "frontend/synthetic/SyntheticCheckpoint.h"
#include "ir/Graph/IR/GraphOps.h"
#include "ir/InitAllDialects.h"

#include "TestSupport.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace v4c;

namespace {

class GraphBuilderTest : public testing::Test {
protected:
  GraphBuilderTest() {
    mlir::DialectRegistry registry;
    registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  ModelConfig config(llvm::StringRef name) {
    auto cfg = loadModelConfig(std::string(V4C_TEST_DATA_DIR) + "/configs/" + name.str());
    EXPECT_TRUE(bool(cfg)) << (cfg ? "" : llvm::toString(cfg.takeError()));
    return cfg ? *cfg : ModelConfig();
  }

  mlir::OwningOpRef<mlir::ModuleOp> build(const ModelConfig &cfg, const Checkpoint *ckpt) {
    auto module = buildV4Graph(context, cfg, ckpt);
    EXPECT_TRUE(bool(module)) << (module ? "" : llvm::toString(module.takeError()));
    return module ? std::move(*module) : mlir::OwningOpRef<mlir::ModuleOp>();
  }

  static std::string text(mlir::ModuleOp module) {
    std::string s;
    llvm::raw_string_ostream os(s);
    module->print(os);
    return s;
  }

  mlir::MLIRContext context;
};

/// Every inventory tensor is covered by one param: by name, or through a stacked source
/// pattern "prefix.{}.suffix" for each expert index.
void expectParamsCoverInventory(mlir::ModuleOp module, const ModelConfig &cfg) {
  llvm::StringSet<> covered;
  for (auto param : module.getOps<graph::ParamOp>()) {
    if (auto source = param.getSource()) {
      auto [prefix, suffix] = source->split("{}");
      int64_t experts = llvm::cast<mlir::RankedTensorType>(param.getType()).getDimSize(0);
      for (int64_t e = 0; e < experts; ++e)
        EXPECT_TRUE(covered.insert((prefix + std::to_string(e) + suffix).str()).second);
    } else {
      EXPECT_TRUE(covered.insert(param.getSymName()).second) << param.getSymName().str();
    }
  }
  auto specs = expectedTensors(cfg);
  EXPECT_EQ(covered.size(), specs.size());
  for (const TensorSpec &spec : specs)
    EXPECT_TRUE(covered.count(spec.name)) << spec.name << " is not referenced by the graph";
}

/// Writes the tiny preset into `dir` and opens it; null (with a test failure) on error.
std::unique_ptr<Checkpoint> generateTiny(const test::TempDir &dir, uint64_t seed) {
  std::string log;
  llvm::raw_string_ostream logStream(log);
  if (llvm::Error e = writeSyntheticCheckpoint({"tiny", seed, false}, dir.path(), logStream)) {
    ADD_FAILURE() << llvm::toString(std::move(e));
    return nullptr;
  }
  auto checkpoint = Checkpoint::open(dir.path());
  if (!checkpoint) {
    ADD_FAILURE() << llvm::toString(checkpoint.takeError());
    return nullptr;
  }
  return std::move(*checkpoint);
}

TEST_F(GraphBuilderTest, FlashAndProBuildWeightlessAndCoverEveryTensor) {
  for (const char *name : {"deepseek-v4-flash.json", "deepseek-v4-pro.json", "tiny.json"}) {
    SCOPED_TRACE(name);
    ModelConfig cfg = config(name);
    auto module = build(cfg, nullptr);
    ASSERT_TRUE(module);
    EXPECT_TRUE((*module)->hasAttr("v4c.weightless"));
    expectParamsCoverInventory(*module, cfg);

    // One window per layer (MTP included); a compressor per compressed layer, an indexer per
    // CSA layer.
    int64_t windows = 0, compressed = 0, csa = 0;
    for (auto state : module->getOps<graph::StateOp>())
      windows += state.getKind() == graph::StateKind::window;
    for (int64_t ratio : cfg.compressRatios) {
      compressed += ratio > 0;
      csa += ratio == 4;
    }
    int64_t compressors = 0, indexers = 0;
    module->walk([&](graph::CompressorOp) { ++compressors; });
    module->walk([&](graph::IndexTopkOp) { ++indexers; });
    EXPECT_EQ(windows, cfg.numLayersWithMtp());
    EXPECT_EQ(compressors, compressed + csa);
    EXPECT_EQ(indexers, csa);
    EXPECT_TRUE(module->lookupSymbol<mlir::func::FuncOp>("forward"));
    EXPECT_TRUE(module->lookupSymbol<mlir::func::FuncOp>("mtp0"));
  }
}

TEST_F(GraphBuilderTest, FlashParamTypesFollowTheRelease) {
  auto module = build(config("deepseek-v4-flash.json"), nullptr);
  ASSERT_TRUE(module);
  auto typeOf = [&](llvm::StringRef name) {
    auto param = module->lookupSymbol<graph::ParamOp>(name);
    EXPECT_TRUE(param) << name.str();
    std::string s;
    llvm::raw_string_ostream os(s);
    if (param)
      os << param.getType();
    return s;
  };
  EXPECT_EQ(typeOf("layers.0.attn.wq_b.weight"), "tensor<32768x1024xf8E4M3FN>");
  EXPECT_EQ(typeOf("layers.0.attn.wq_b.scale"), "tensor<256x8xf8E8M0FNU>");
  EXPECT_EQ(typeOf("layers.0.hc_attn_fn"), "tensor<24x16384xf32>");
  EXPECT_EQ(typeOf("hc_head_fn"), "tensor<4x16384xf32>");
  EXPECT_EQ(typeOf("layers.4.ffn.experts.w2.weight"), "tensor<256x4096x2048xf4E2M1FN>");
  EXPECT_EQ(typeOf("layers.4.ffn.experts.w2.scale"), "tensor<256x4096x64xf8E8M0FNU>");
  EXPECT_EQ(typeOf("layers.2.attn.indexer.compressor.ape"), "tensor<4x256xf32>");
  EXPECT_EQ(typeOf("layers.0.ffn.gate.tid2eid"), "tensor<129280x6xi64>");
}

TEST_F(GraphBuilderTest, ImportsGeneratedCheckpointAndRoundTrips) {
  test::TempDir dir("v4c-import-test");
  auto checkpoint = generateTiny(dir, 7);
  ASSERT_TRUE(checkpoint);
  auto module = build(checkpoint->config(), checkpoint.get());
  ASSERT_TRUE(module);
  EXPECT_TRUE((*module)->hasAttr("v4c.checkpoint"));
  expectParamsCoverInventory(*module, checkpoint->config());

  std::string printed = text(*module);
  auto reparsed = mlir::parseSourceString<mlir::ModuleOp>(printed, &context);
  ASSERT_TRUE(reparsed);
  EXPECT_EQ(text(*reparsed), printed);

  std::string bytecode;
  llvm::raw_string_ostream bc(bytecode);
  ASSERT_TRUE(mlir::succeeded(mlir::writeBytecodeToFile(*module, bc)));
  auto decoded = mlir::parseSourceString<mlir::ModuleOp>(bytecode, &context);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(text(*decoded), printed);
}

TEST_F(GraphBuilderTest, WrongShapeInCheckpointIsRejectedByName) {
  test::TempDir dir("v4c-import-test");
  auto checkpoint = generateTiny(dir, 1);
  ASSERT_TRUE(checkpoint);
  ModelConfig other = checkpoint->config();
  other.qLoraRank = 256; // the file's wq_a is [128, 256]
  auto module = buildV4Graph(context, other, checkpoint.get());
  ASSERT_FALSE(bool(module));
  std::string message = llvm::toString(module.takeError());
  EXPECT_NE(message.find("'layers.0.attn.wq_a.weight' has shape [128, 256], but the config "
                         "needs [256, 256]"),
            std::string::npos)
      << message;
}

} // namespace
