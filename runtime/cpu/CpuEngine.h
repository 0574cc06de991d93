// Runs a CPU artifact: verifies it, loads its code (a shared object stored in the artifact)
// and calls the compiled entry points on the artifact's mmap-ed weights and a state arena.
#pragma once

#include "runtime/Engine.h"

#include <functional>
#include <memory>
#include <string>

namespace v4c::artifact {
class Artifact;
}

namespace v4c::cpu {

/// How a target whose host code is CPU code (the NPU: the code launches kernels) extends the
/// CPU engine.
struct CodeHooks {
  std::string targetKind = "cpu"; // the artifact target accepted
  /// After the code is loaded: install what it calls back into. False (with `error`) fails open.
  std::function<bool(void *library, const artifact::Artifact &, std::string &error)> onLoad;
  /// After each call of the code: false (with `error`) makes the call fail.
  std::function<bool(std::string &error)> afterCall;
};

/// Opens `path` (a .v4a compiled for the CPU target); null with `error` set on failure. The
/// code comes from the artifact's code segment, or, in a standalone executable that has the
/// model linked in, from `linkedForward` (the address of `_mlir_ciface_forward`).
std::unique_ptr<Engine> openCpuEngine(const std::string &path, std::string &error,
                                      void *linkedForward = nullptr,
                                      const CodeHooks &hooks = CodeHooks());

} // namespace v4c::cpu
