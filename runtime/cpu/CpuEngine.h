// Runs a CPU artifact: verifies it, loads its code (a shared object stored in the artifact)
// and calls the compiled entry points on the artifact's mmap-ed weights and a state arena.
#pragma once

#include "runtime/Engine.h"

#include <memory>
#include <string>

namespace v4c::cpu {

/// Opens `path` (a .v4a compiled for the CPU target); null with `error` set on failure.
std::unique_ptr<Engine> openCpuEngine(const std::string &path, std::string &error);

} // namespace v4c::cpu
