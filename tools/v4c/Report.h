// `v4c compile --report DIR`: what the graph-level passes made of the model, per op and per
// kernel (fusion group): FLOPs, bytes, arithmetic intensity, as report.json and a
// self-contained report.html (inline SVG: the fusion groups of one decoder layer and a
// roofline plot; no scripts, no network).
#pragma once

#include "passes/KernelStats.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <string>

namespace v4c {

struct ReportOptions {
  CostShape shape;               // a decode step at this context by default
  double bandwidth = 30e9;       // bytes/s of the roofline's memory slope (--report-bandwidth)
  double peakFlops = 200e9;      // FLOP/s of its flat part (--report-peak)
  std::string pipeline;          // the graph-level pipeline that ran, for the record
  int64_t layers = 0;            // decoder layers (kernels per layer)
};

/// Writes DIR/report.json and DIR/report.html for `module` after the graph-level passes
/// (graph.fused ops are kernels; every other kernel op is one). Creates DIR; files appear
/// atomically.
llvm::Error writeCompileReport(mlir::ModuleOp module, llvm::StringRef dir,
                               const ReportOptions &options);

} // namespace v4c
