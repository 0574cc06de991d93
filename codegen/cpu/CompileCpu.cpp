#include "codegen/cpu/CompileCpu.h"

#include "codegen/cpu/MemoryPlan.h"
#include "ir/Graph/IR/GraphOps.h"
#include "runtime/artifact/Artifact.h"
#include "runtime/reference/Weights.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <cstring>

using namespace mlir;

namespace v4c::cpu {
namespace {

/// The safetensors dtype a parameter is stored as (FP4 values travel packed in I8).
std::string storedDType(RankedTensorType type) {
  Type elem = type.getElementType();
  if (isa<Float4E2M1FNType>(elem)) return "I8";
  if (isa<Float8E4M3FNType>(elem)) return "F8_E4M3";
  if (isa<Float8E5M2Type>(elem)) return "F8_E5M2";
  if (isa<Float8E8M0FNUType>(elem)) return "F8_E8M0";
  if (elem.isBF16()) return "BF16";
  if (elem.isF16()) return "F16";
  if (elem.isF32()) return "F32";
  if (elem.isInteger(64)) return "I64";
  if (elem.isInteger(32)) return "I32";
  if (elem.isInteger(16)) return "I16";
  if (elem.isInteger(8)) return "I8";
  return "BOOL";
}

std::vector<int64_t> storedShape(RankedTensorType type) {
  std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
  if (isa<Float4E2M1FNType>(type.getElementType()))
    shape.back() /= 2;
  return shape;
}

/// One weight of the artifact: its checkpoint sources (several for stacked experts), or the
/// checkpoint weight it is the f32 decoding of.
struct PlannedTensor {
  std::string name;
  RankedTensorType type;
  int64_t offset;
  std::vector<std::string> sources; // checkpoint tensors, in order (stacked experts: one each)
  bool dequantize = false;          // written as the sources decoded to f32
};

std::vector<PlannedTensor> plannedTensors(ModuleOp module) {
  std::vector<PlannedTensor> tensors;
  for (auto param : module.getOps<graph::ParamOp>()) {
    PlannedTensor t{param.getSymName().str(), cast<RankedTensorType>(param.getType()),
                    param->getAttrOfType<IntegerAttr>("v4c.offset").getInt(), {}, false};
    auto from = param->getAttrOfType<StringAttr>("v4c.dequantize");
    t.dequantize = bool(from);
    StringRef source = from ? from.getValue() : param.getSource().value_or(t.name);
    if (source.contains("{}")) { // stacked experts
      auto [prefix, suffix] = source.split("{}");
      for (int64_t e = 0; e < t.type.getDimSize(0); ++e)
        t.sources.push_back((prefix + std::to_string(e) + suffix).str());
    } else {
      t.sources.push_back(source.str());
    }
    tensors.push_back(std::move(t));
  }
  return tensors;
}

artifact::StateLayout stateLayout(ModuleOp module) {
  artifact::StateLayout layout;
  layout.arenaSize = module->getAttrOfType<IntegerAttr>("v4c.state_bytes").getInt();
  layout.maxSeqLen = module->getAttrOfType<IntegerAttr>("v4c.max_seq_len").getInt();
  for (auto decl : module.getOps<graph::StateOp>()) {
    auto type = cast<RankedTensorType>(decl.getType());
    std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
    if (auto capacity = decl->getAttrOfType<IntegerAttr>("v4c.capacity"))
      shape[0] = capacity.getInt();
    layout.buffers.push_back({decl.getSymName().str(),
                              graph::stringifyStateKind(decl.getKind()).str(), shape,
                              uint64_t(decl->getAttrOfType<IntegerAttr>("v4c.offset").getInt()),
                              uint64_t(decl->getAttrOfType<IntegerAttr>("v4c.bytes").getInt())});
  }
  return layout;
}

} // namespace

namespace {

/// Runs the system C++ driver on `object` (written to a temporary directory) plus `inputs`,
/// producing `outputName` there; `consume` receives its path before the directory goes away.
llvm::Error link(llvm::ArrayRef<char> object, llvm::ArrayRef<llvm::StringRef> flags,
                 llvm::StringRef outputName, llvm::function_ref<llvm::Error(llvm::StringRef)> consume) {
  llvm::SmallString<128> dir;
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory("v4c-link", dir))
    return llvm::createStringError("cannot create a temporary directory: %s", ec.message().c_str());
  auto cleanup = llvm::make_scope_exit([&] { llvm::sys::fs::remove_directories(dir); });
  std::string objectPath = (dir + "/model.o").str(), outputPath = (dir + "/" + outputName).str();
  std::string logPath = (dir + "/link.log").str();
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(objectPath, ec);
    if (ec)
      return llvm::createStringError("cannot write %s: %s", objectPath.c_str(), ec.message().c_str());
    os.write(object.data(), object.size());
  }
  std::vector<llvm::StringRef> args = {V4C_LINKER, "-o", outputPath, objectPath};
  args.insert(args.end(), flags.begin(), flags.end());
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logPath, logPath};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(V4C_LINKER, args, std::nullopt, redirects, 0, 0, &message);
  if (rc != 0) {
    auto log = llvm::MemoryBuffer::getFile(logPath);
    return llvm::createStringError("linking the model failed (%s): %s", message.c_str(),
                                   log ? (*log)->getBuffer().str().c_str() : "");
  }
  return consume(outputPath);
}

} // namespace

llvm::Expected<std::vector<uint8_t>> linkSharedObject(llvm::ArrayRef<char> object,
                                                      llvm::ArrayRef<std::string> inputs) {
  // The microkernels are C++; the model needs libm.
  std::vector<uint8_t> bytes;
  std::vector<llvm::StringRef> flags = {"-shared"};
  for (const std::string &input : inputs)
    flags.push_back(input);
  flags.insert(flags.end(), {V4C_KERNELS_ARCHIVE, "-lm"});
  llvm::Error e = link(object, flags, "model.so",
                       [&](llvm::StringRef path) -> llvm::Error {
                         auto library = llvm::MemoryBuffer::getFile(path);
                         if (!library)
                           return llvm::createStringError("cannot read the linked model");
                         llvm::StringRef data = (*library)->getBuffer();
                         bytes.assign(data.begin(), data.end());
                         return llvm::Error::success();
                       });
  if (e)
    return std::move(e);
  return bytes;
}

llvm::Error linkExecutable(llvm::ArrayRef<char> object, llvm::StringRef path) {
  return link(object,
              {V4C_STANDALONE_MAIN_ARCHIVE, V4C_CPU_RUNTIME_ARCHIVE, V4C_ARTIFACT_ARCHIVE,
               V4C_RUNTIME_ARCHIVE, V4C_KERNELS_ARCHIVE, "-ldl", "-lm"},
              "model", [&](llvm::StringRef linked) -> llvm::Error {
                if (std::error_code ec = llvm::sys::fs::copy_file(linked, path + ".tmp"))
                  return llvm::createStringError("cannot write %s: %s", path.str().c_str(),
                                                 ec.message().c_str());
                llvm::sys::fs::setPermissions(path + ".tmp", llvm::sys::fs::all_read |
                                                                 llvm::sys::fs::all_exe |
                                                                 llvm::sys::fs::owner_write);
                if (std::error_code ec = llvm::sys::fs::rename(path + ".tmp", path)) {
                  llvm::sys::fs::remove(path + ".tmp");
                  return llvm::createStringError("cannot write %s: %s", path.str().c_str(),
                                                 ec.message().c_str());
                }
                return llvm::Error::success();
              });
}

llvm::Error compileToArtifact(ModuleOp module, const Checkpoint &checkpoint,
                              const CpuOptions &options, llvm::StringRef output,
                              llvm::function_ref<void(llvm::StringRef)> progress,
                              llvm::StringRef executable, const ArtifactExtras *extras) {
  static const ArtifactExtras kCpuOnly;
  if (!extras)
    extras = &kCpuOnly;
  // 1. The graph passes, then the memory layout: the artifact and the code both follow it.
  if (failed(prepareModule(module, options, progress)))
    return llvm::createStringError("the graph passes or memory planning failed (see the "
                                   "diagnostics above)");
  std::vector<PlannedTensor> tensors = plannedTensors(module);
  artifact::StateLayout state = stateLayout(module);
  progress(llvm::formatv("planned {0} weight tensors ({1} MiB) and {2} state buffers ({3} KiB)",
                         tensors.size(),
                         module->getAttrOfType<IntegerAttr>("v4c.weights_bytes").getInt() >> 20,
                         state.buffers.size(), state.arenaSize >> 10)
               .str());

  // 2. Code: loops, LLVM, object, shared object.
  if (failed(lowerPreparedModule(module, progress)))
    return llvm::createStringError("lowering for the CPU failed (see the diagnostics above)");
  // What the precision policy ran with (a --pipeline may have configured it).
  std::string precisionMode = "unspecified";
  if (auto policy = module->getAttrOfType<DictionaryAttr>("v4c.precision_policy"))
    if (auto mode = policy.getAs<StringAttr>("mode"))
      precisionMode = mode.str();
  progress("generating machine code for " +
           (options.cpu == "host" ? llvm::sys::getHostCPUName().str() : options.cpu));
  auto object = emitObject(module, options);
  if (!object)
    return object.takeError();
  progress("linking");
  auto library = linkSharedObject(*object, extras->linkInputs);
  if (!library)
    return library.takeError();


  // 3. The artifact: weights streamed from the checkpoint, then the code.
  artifact::ArtifactWriter writer;
  writer.setConfig(modelConfigToJson(checkpoint.config()));
  writer.setTarget({extras->targetKind, llvm::sys::getDefaultTargetTriple(),
                    options.cpu == "host" ? llvm::sys::getHostCPUName().str() : options.cpu, "",
                    precisionMode, extras->device});
  writer.setBuild({"v4c 0.1", graphPipelineText(options) + " | v4c-plan-memory,v4c-lower-graph-to-loops," +
                                 defaultLoweringPipeline()});
  writer.addEntryPoint({"forward", "_mlir_ciface_forward"});
  if (module.lookupSymbol("mtp0"))
    writer.addEntryPoint({"mtp0", "_mlir_ciface_mtp0"});
  writer.setState(state);
  auto weights = writer.addTensorSegment("weights");
  for (const PlannedTensor &t : tensors) {
    if (t.dequantize) { // decoded one source tensor at a time, each its own tensor
      // Stacked experts lie back to back as the stacked layout wants when each is a multiple
      // of the alignment (f32 [N, K] with N·K a multiple of 16); no buffer holds a stack.
      std::vector<int64_t> shape = storedShape(t.type);
      uint64_t partBytes = uint64_t(t.type.getNumElements()) * 4 / t.sources.size();
      if (t.sources.size() > 1 && partBytes % kTensorAlignment != 0)
        return llvm::createStringError("'%s': its experts (%llu bytes of f32 each) are not "
                                       "multiples of the %llu-byte tensor alignment",
                                       t.name.c_str(), (unsigned long long)partBytes,
                                       (unsigned long long)kTensorAlignment);
      std::vector<int64_t> partShape(shape.begin() + (t.sources.size() > 1 ? 1 : 0), shape.end());
      for (const std::string &source : t.sources)
        writer.addTensor(weights,
                         {t.sources.size() > 1 ? source : t.name, storedDType(t.type),
                          partShape, {source}},
                         [&checkpoint, source](uint8_t *dst, uint64_t size, std::string &error) {
                           reference::WeightStore store(checkpoint, 128, 128);
                           auto decoded = store.get(source);
                           if (!decoded) {
                             error = llvm::toString(decoded.takeError());
                             return false;
                           }
                           if (decoded->data.size() * sizeof(float) != size) {
                             error = "'" + source + "' decodes to " +
                                     std::to_string(decoded->data.size()) +
                                     " values, not the planned " + std::to_string(size / 4);
                             return false;
                           }
                           std::memcpy(dst, decoded->data.data(), size);
                           return true;
                         });
      continue;
    }
    std::vector<const TensorInfo *> parts;
    for (const std::string &source : t.sources) {
      const TensorInfo *info = checkpoint.find(source);
      if (!info)
        return llvm::createStringError("checkpoint has no tensor '%s'", source.c_str());
      parts.push_back(info);
    }
    // Stacked experts are written expert by expert, each as its own tensor (named as in the
    // checkpoint), so that no buffer holds a whole layer's experts. Each expert is a multiple of
    // the 64-byte alignment, so they lie back to back exactly as the stacked layout wants.
    std::vector<int64_t> shape = storedShape(t.type);
    uint64_t partBytes = parts.front()->size;
    bool perExpert = parts.size() > 1 && partBytes % kTensorAlignment == 0 &&
                     llvm::all_of(parts, [&](const TensorInfo *p) { return p->size == partBytes; });
    if (perExpert) {
      std::vector<int64_t> expertShape(shape.begin() + 1, shape.end());
      for (const TensorInfo *info : parts)
        writer.addTensor(weights, {info->name, storedDType(t.type), expertShape, {info->name}},
                         artifact::copyFrom(checkpoint.bytes(*info).data()));
      continue;
    }
    writer.addTensor(weights, {t.name, storedDType(t.type), shape, t.sources},
                     [&checkpoint, parts](uint8_t *dst, uint64_t size, std::string &error) {
                       uint64_t at = 0;
                       for (const TensorInfo *info : parts) { // experts, one after the other
                         llvm::ArrayRef<uint8_t> bytes = checkpoint.bytes(*info);
                         if (at + bytes.size() > size) {
                           error = "tensor '" + info->name + "' does not fit its planned size";
                           return false;
                         }
                         std::memcpy(dst + at, bytes.data(), bytes.size());
                         at += bytes.size();
                       }
                       return true;
                     });
  }
  writer.addBlobSegment("code", std::move(*library));
  for (const auto &[name, bytes] : extras->segments)
    writer.addBlobSegment(name, bytes);
  progress(("writing " + output).str());
  std::string error;
  if (!writer.write(output.str(), error))
    return llvm::createStringError("%s", error.c_str());

  // The generated code addresses weights by the planned offsets: check the file agrees.
  auto written = artifact::openArtifact(output.str(), error, {/*verifyChecksums=*/false});
  if (!written)
    return llvm::createStringError("%s", error.c_str());
  for (const PlannedTensor &t : tensors) {
    const artifact::TensorView *view = written->tensor(t.name);
    if (!view) // written expert by expert: the first one starts the stack
      view = written->tensor(t.sources.front());
    if (!view || int64_t(view->offset) != t.offset) {
      llvm::sys::fs::remove(output);
      return llvm::createStringError("internal error: tensor '%s' is not at its planned offset",
                                     t.name.c_str());
    }
  }
  // Last, so that a failure leaves neither file: the executable needs its artifact.
  if (!executable.empty()) {
    progress(("linking the standalone executable " + executable).str());
    if (llvm::Error e = linkExecutable(*object, executable)) {
      llvm::sys::fs::remove(output);
      return e;
    }
  }
  return llvm::Error::success();
}

} // namespace v4c::cpu
