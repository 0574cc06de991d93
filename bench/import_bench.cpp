// Weightless import of the full V4-Flash and V4-Pro graphs from their configs: wall time,
// op count and peak resident memory per model. A full graph must build in seconds without
// touching weights (ARCHITECTURE.md); this prints how far below that we are.
//
//   v4c-bench-import [CONFIG.json ...]   (default: the Flash and Pro configs in tests/data)
#include "frontend/import/GraphBuilder.h"
#include "ir/InitAllDialects.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

long peakRssKiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

int importOne(const std::string &path) {
  auto config = v4c::loadModelConfig(path);
  if (!config) {
    llvm::errs() << "v4c-bench-import: " << llvm::toString(config.takeError()) << "\n";
    return 1;
  }
  mlir::DialectRegistry registry;
  v4c::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();

  auto start = std::chrono::steady_clock::now();
  auto module = v4c::buildV4Graph(context, *config, /*checkpoint=*/nullptr);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!module) {
    llvm::errs() << "v4c-bench-import: " << llvm::toString(module.takeError()) << "\n";
    return 1;
  }
  size_t ops = 0, params = 0;
  (*module)->walk([&](mlir::Operation *op) {
    ++ops;
    params += op->getName().getStringRef() == "graph.param";
  });
  llvm::outs() << llvm::format("%-28s %7lld %8zu %10zu %12.1f %14.1f\n",
                               llvm::sys::path::filename(path).str().c_str(),
                               (long long)config->numLayersWithMtp(), params, ops, ms,
                               peakRssKiB() / 1024.0);
  llvm::outs().flush();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> configs(argv + 1, argv + argc);
  if (configs.empty())
    configs = {V4C_CONFIG_DIR "/deepseek-v4-flash.json", V4C_CONFIG_DIR "/deepseek-v4-pro.json"};

  llvm::outs() << llvm::format("%-28s %7s %8s %10s %12s %14s\n", "config", "layers", "params",
                               "ops", "import ms", "peak RSS MiB");
  // Each config imports in a child process so that its peak RSS is its own.
  for (const std::string &path : configs) {
    llvm::outs().flush();
    pid_t child = fork();
    if (child == 0)
      _exit(importOne(path));
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return 1;
  }
  return 0;
}
