// The CPU target's passes, for v4c-opt and pipelines:
//   v4c-plan-memory            weight and state offsets as attributes (deciding)
//   v4c-lower-graph-to-loops   graph ops to loops and microkernel calls (applying)
#pragma once

namespace v4c::cpu {

void registerCpuPasses();

} // namespace v4c::cpu
