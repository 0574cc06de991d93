// Buffer planning: every npu.alloc of a kernel lives for the whole kernel (ping and pong are
// separate buffers), so planning is packing each space in order with its alignment. The peak
// per space is recorded for the kernel binary and checked against the NPU's capacity.
#include "codegen/npu/NpuTarget.h"

#include "ir/Npu/IR/NpuOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

using namespace mlir;

namespace v4c::npu {

LogicalResult planBuffers(func::FuncOp kernel) {
  std::optional<ArchLimits> limits = archLimitsOf(kernel);
  if (!limits)
    return kernel.emitError("the module names no NPU (npu.arch): cannot plan buffers");
  SmallVector<int64_t> used(kNumSpaces, 0);
  WalkResult result = kernel.walk([&](AllocOp alloc) {
    std::optional<Space> space = parseSpace(alloc.getSpace().str());
    if (!space)
      return WalkResult::interrupt(); // the verifier names it
    int64_t alignment = *limits->alignmentOf(alloc.getSpace());
    int64_t offset = (used[int(*space)] + alignment - 1) / alignment * alignment;
    alloc.setOffsetAttr(Builder(alloc).getI64IntegerAttr(offset));
    used[int(*space)] = offset + alloc.getBytes();
    return WalkResult::advance();
  });
  if (result.wasInterrupted())
    return failure();
  for (int s = 1; s < kNumSpaces; ++s) {
    const char *name = spaceName(Space(s));
    if (used[s] > *limits->capacityOf(name))
      return kernel.emitError() << "kernel buffers need " << used[s] << " bytes of " << name
                                << "; the " << limits->name << " has " << *limits->capacityOf(name);
  }
  kernel->setAttr("npu.local_bytes", Builder(kernel).getDenseI64ArrayAttr(used));
  return success();
}

} // namespace v4c::npu
