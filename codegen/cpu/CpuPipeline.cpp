#include "codegen/cpu/CpuPipeline.h"

#include "codegen/cpu/LowerToLoops.h"
#include "codegen/cpu/MemoryPlan.h"
#include "ir/InitAllDialects.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;

namespace v4c::cpu {

std::string defaultLoweringPipeline() {
  return // 1. arith on tensors (residual adds) becomes linalg
         "func.func(convert-elementwise-to-linalg),"
         // 2. tensors become buffers; the loops' allocations get their deallocations
         "one-shot-bufferize,"
         "buffer-deallocation-pipeline,"
         // 3. structured ops to loops, loops to branches
         "convert-linalg-to-loops,expand-strided-metadata,lower-affine,convert-scf-to-cf,"
         // 4. math through libm (the same expf/cosf/sinf/log1pf the reference uses), then LLVM
         "convert-math-to-libm,convert-math-to-llvm,"
         "convert-arith-to-llvm,finalize-memref-to-llvm,convert-func-to-llvm,"
         "convert-cf-to-llvm,reconcile-unrealized-casts";
}

namespace {
/// Upstream and v4c passes, registered once: textual pipelines name them.
void registerPassesOnce() {
  static bool registered = (registerAllPasses(), registerAllV4CPasses(), true);
  (void)registered;
}
} // namespace

LogicalResult addGraphPipeline(OpPassManager &pm, const CpuOptions &options) {
  registerPassesOnce();
  if (options.graphPipeline.empty()) {
    buildGraphPipeline(pm, {"cpu", options.faithful ? "faithful" : "dequant"});
    return success();
  }
  std::string error;
  llvm::raw_string_ostream os(error);
  if (succeeded(parsePassPipeline(options.graphPipeline, pm, os)))
    return success();
  llvm::errs() << "error: invalid pipeline '" << options.graphPipeline << "': " << error << "\n";
  return failure();
}

std::string graphPipelineText(const CpuOptions &options) {
  OpPassManager pm(ModuleOp::getOperationName());
  if (failed(addGraphPipeline(pm, options)))
    return options.graphPipeline;
  std::string text;
  llvm::raw_string_ostream os(text);
  pm.printAsTextualPipeline(os);
  return text;
}

void registerCpuDependencies(DialectRegistry &registry) {
  registerAllDialects(registry);
  registry.insert<bufferization::BufferizationDialect, linalg::LinalgDialect, math::MathDialect,
                  memref::MemRefDialect, scf::SCFDialect, LLVM::LLVMDialect>();
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  linalg::registerBufferizableOpInterfaceExternalModels(registry);
  scf::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
}

LogicalResult prepareModule(ModuleOp module, const CpuOptions &options,
                            llvm::function_ref<void(llvm::StringRef)> progress) {
  registerPassesOnce();
  if (progress)
    progress("running the graph passes");
  PassManager graphPasses(module.getContext());
  if (failed(addGraphPipeline(graphPasses, options)) || failed(graphPasses.run(module)))
    return failure();
  if (options.beforePlanning && failed(options.beforePlanning(module)))
    return failure();
  return planMemory(module, options.maxSeqLen);
}

LogicalResult lowerPreparedModule(ModuleOp module,
                                  llvm::function_ref<void(llvm::StringRef)> progress) {
  auto say = [&](llvm::StringRef what) {
    if (progress)
      progress(what);
  };
  say("lowering graph ops to loops");
  if (failed(lowerGraphToLoops(module)))
    return failure();
  say("bufferizing and lowering to the LLVM dialect");
  PassManager pm(module.getContext());
  if (failed(parsePassPipeline(defaultLoweringPipeline(), pm, llvm::errs())))
    return failure();
  if (failed(pm.run(module)))
    return failure();
  // Nothing but the LLVM dialect may remain.
  WalkResult leftover = module.walk([](Operation *op) {
    if (isa<ModuleOp>(op) || isa<LLVM::LLVMDialect>(op->getDialect()))
      return WalkResult::advance();
    op->emitError("not lowered to the LLVM dialect");
    return WalkResult::interrupt();
  });
  return failure(leftover.wasInterrupted());
}

LogicalResult lowerToLLVMDialect(ModuleOp module, const CpuOptions &options,
                                 llvm::function_ref<void(llvm::StringRef)> progress) {
  if (failed(prepareModule(module, options, progress)))
    return failure();
  return lowerPreparedModule(module, progress);
}

llvm::Expected<llvm::SmallVector<char, 0>> emitObject(ModuleOp module, const CpuOptions &options) {
  static bool targetsReady = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)targetsReady;

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return llvm::createStringError("cannot translate the module to LLVM IR");

  std::string triple = llvm::sys::getDefaultTargetTriple(), error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return llvm::createStringError("no LLVM target for %s: %s", triple.c_str(), error.c_str());
  std::string cpu = options.cpu == "host" ? llvm::sys::getHostCPUName().str() : options.cpu;
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      target->createMCSubtargetInfo(llvm::Triple(triple), cpu, ""));
  if (!subtarget || !subtarget->isCPUStringValid(cpu))
    return llvm::createStringError("--cpu %s is not a CPU LLVM knows for %s (try host, "
                                   "x86-64-v3, x86-64-v4, skylake-avx512, znver4, ...)",
                                   cpu.c_str(), triple.c_str());
  std::string features;
  if (options.cpu == "host") {
    llvm::SubtargetFeatures hostFeatures;
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      hostFeatures.AddFeature(feature.getKey(), feature.getValue());
    features = hostFeatures.getString();
  }
  llvm::TargetOptions targetOptions;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      llvm::Triple(triple), cpu, features, targetOptions, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return llvm::createStringError("unknown CPU '%s' for %s", cpu.c_str(), triple.c_str());
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(llvm::Triple(triple));

  // O3 middle end, then code generation.
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder passBuilder(machine.get());
  passBuilder.registerModuleAnalyses(mam);
  passBuilder.registerCGSCCAnalyses(cgam);
  passBuilder.registerFunctionAnalyses(fam);
  passBuilder.registerLoopAnalyses(lam);
  passBuilder.crossRegisterProxies(lam, fam, cgam, mam);
  passBuilder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(*llvmModule, mam);

  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream os(object);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    return llvm::createStringError("the target cannot emit object files");
  codegen.run(*llvmModule);
  return object;
}

} // namespace v4c::cpu
