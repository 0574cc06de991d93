// Runs a CPU artifact: verifies it, loads its code (a shared object stored in the artifact)
// and calls the compiled entry points on the artifact's mmap-ed weights and a state arena.
#pragma once

#include "runtime/Engine.h"

#include <memory>
#include <string>

namespace v4c::cpu {

/// Opens `path` (a .v4a compiled for the CPU target); null with `error` set on failure. The
/// code comes from the artifact's code segment, or, in a standalone executable that has the
/// model linked in, from `linkedForward` (the address of `_mlir_ciface_forward`).
std::unique_ptr<Engine> openCpuEngine(const std::string &path, std::string &error,
                                      void *linkedForward = nullptr);

} // namespace v4c::cpu
