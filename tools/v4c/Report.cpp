#include "Report.h"

#include "ir/Graph/IR/GraphOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>

namespace v4c {

using namespace mlir;

namespace {

struct Kernel {
  int64_t index = 0;   // position in @forward
  std::string kind;    // fusion kind, or the op's name
  int64_t layer = -1;  // decoder layer of the weights it reads (-1: none / outside layers)
  SmallVector<Operation *> ops;
  OpCost cost;         // summed over its ops; tensorBytes: what crosses its boundary
  Operation *top = nullptr;
  double bytes() const { return cost.weightBytes + cost.tensorBytes; }
  double intensity() const { return bytes() > 0 ? cost.flops / bytes() : 0; }
};

std::string opName(Operation *op) { return op->getName().getStringRef().str(); }

/// "layers.N." in the name of a weight the op reads: N.
int64_t layerOf(Operation *op) {
  for (Value v : op->getOperands())
    if (auto w = v.getDefiningOp<graph::WeightOp>()) {
      StringRef name = w.getParam();
      int64_t layer;
      if (name.consume_front("layers.") && !name.consumeInteger(10, layer))
        return layer;
    }
  return -1;
}

std::vector<Kernel> kernelsOf(func::FuncOp func, const CostShape &shape) {
  std::vector<Kernel> kernels;
  for (Operation &op : func.getBody().front()) {
    if (!isKernelOp(&op))
      continue;
    Kernel k;
    k.index = int64_t(kernels.size());
    k.top = &op;
    if (auto fused = dyn_cast<graph::FusedOp>(op)) {
      k.kind = fused.getKind().str();
      for (Operation &inner : fused.getBody().front().without_terminator())
        if (isKernelOp(&inner))
          k.ops.push_back(&inner);
    } else {
      auto kind = op.getAttrOfType<StringAttr>("v4c.fusion_kind");
      k.kind = kind ? kind.str() : StringRef(opName(&op)).drop_until([](char c) { return c == '.'; }).drop_front().str();
      k.ops.push_back(&op);
    }
    for (Operation *member : k.ops) {
      OpCost c = opCost(member, shape);
      k.cost.flops += c.flops;
      k.cost.weightBytes += c.weightBytes;
      if (k.layer < 0)
        k.layer = layerOf(member);
    }
    // Tensors crossing the kernel's boundary (the internal ones stay in registers/cache).
    k.cost.tensorBytes = opCost(&op, shape).tensorBytes;
    if (isa<graph::FusedOp>(op)) { // a fused op's own operands/results are its boundary
      k.cost.tensorBytes = 0;
      for (Value v : op.getOperands())
        k.cost.tensorBytes += tensorBytes(v.getType(), shape.tokens);
      for (Value v : op.getResults())
        k.cost.tensorBytes += tensorBytes(v.getType(), shape.tokens);
    }
    kernels.push_back(std::move(k));
  }
  return kernels;
}

/// A fixed palette, a colour per kind in order of first appearance.
std::string colorOf(const std::string &kind, std::map<std::string, std::string> &colors) {
  static const char *kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                   "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  auto [it, fresh] = colors.try_emplace(kind, "");
  if (fresh)
    it->second = kPalette[(colors.size() - 1) % std::size(kPalette)];
  return it->second;
}

std::string escape(StringRef text) {
  std::string out;
  for (char c : text)
    out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return out;
}

/// The kernels of one decoder layer as boxes in reading order, edges where one feeds another.
void fusionGraphSvg(llvm::raw_ostream &os, const std::vector<const Kernel *> &layer,
                    std::map<std::string, std::string> &colors) {
  constexpr int kColumns = 6, kW = 150, kH = 46, kGapX = 30, kGapY = 40;
  int rows = (int(layer.size()) + kColumns - 1) / kColumns;
  int width = kColumns * (kW + kGapX) + kGapX, height = rows * (kH + kGapY) + kGapY;
  auto position = [&](size_t i) {
    return std::pair<int, int>(kGapX + int(i % kColumns) * (kW + kGapX),
                               kGapY + int(i / kColumns) * (kH + kGapY));
  };
  os << llvm::formatv("<svg xmlns='http://www.w3.org/2000/svg' width='{0}' height='{1}' "
                      "font-family='sans-serif' font-size='11'>\n",
                      width, height);
  os << "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='6' "
        "markerHeight='6' orient='auto'><path d='M0,0 L10,5 L0,10 z' fill='#666'/></marker></defs>\n";
  std::map<Operation *, size_t> slot;
  for (size_t i = 0; i < layer.size(); ++i)
    slot[layer[i]->top] = i;
  for (size_t i = 0; i < layer.size(); ++i)
    for (Operation *user : layer[i]->top->getUsers()) {
      // Through shape views to the kernel that reads the value.
      while (user && !slot.count(user) && user->getNumResults() == 1 && !isKernelOp(user) &&
             !user->getResult(0).use_empty())
        user = *user->getResult(0).getUsers().begin();
      if (!user || !slot.count(user) || slot[user] == i)
        continue;
      auto [x1, y1] = position(i);
      auto [x2, y2] = position(slot[user]);
      os << llvm::formatv("<line x1='{0}' y1='{1}' x2='{2}' y2='{3}' stroke='#999' "
                          "stroke-width='1' marker-end='url(#arrow)'/>\n",
                          x1 + kW / 2, y1 + kH, x2 + kW / 2, y2);
    }
  for (size_t i = 0; i < layer.size(); ++i) {
    const Kernel &k = *layer[i];
    auto [x, y] = position(i);
    os << llvm::formatv("<g><title>{0}: {1} op(s), {2:f1} MFLOP, {3:f1} KiB</title>"
                        "<rect x='{4}' y='{5}' width='{6}' height='{7}' rx='6' fill='{8}' "
                        "fill-opacity='0.85'/>",
                        escape(k.kind), k.ops.size(), k.cost.flops / 1e6, k.bytes() / 1024, x, y,
                        kW, kH, colorOf(k.kind, colors));
    os << llvm::formatv("<text x='{0}' y='{1}' text-anchor='middle' fill='white' "
                        "font-weight='bold'>{2}</text>",
                        x + kW / 2, y + 19, escape(k.kind));
    os << llvm::formatv("<text x='{0}' y='{1}' text-anchor='middle' fill='white'>{2} op{3}"
                        "</text></g>\n",
                        x + kW / 2, y + 35, k.ops.size(), k.ops.size() == 1 ? "" : "s");
  }
  os << "</svg>\n";
}

/// Log-log roofline: attainable FLOP/s = min(peak, bandwidth · intensity), a dot per kernel.
void rooflineSvg(llvm::raw_ostream &os, const std::vector<Kernel> &kernels,
                 const ReportOptions &options, std::map<std::string, std::string> &colors) {
  constexpr int kW = 640, kH = 400, kLeft = 70, kBottom = 50, kTop = 20, kRight = 20;
  const double xMin = -3, xMax = 3;
  const double yMax = std::max(std::ceil(std::log10(options.peakFlops)) + 0.5, 1.0);
  const double yMin = std::min(6.0, yMax - 3); // at least three decades under the peak
  auto px = [&](double intensity) {
    double l = std::clamp(std::log10(std::max(intensity, 1e-9)), xMin, xMax);
    return kLeft + (l - xMin) / (xMax - xMin) * (kW - kLeft - kRight);
  };
  auto py = [&](double flops) {
    double l = std::clamp(std::log10(std::max(flops, 1.0)), yMin, yMax);
    return kH - kBottom - (l - yMin) / (yMax - yMin) * (kH - kBottom - kTop);
  };
  os << llvm::formatv("<svg xmlns='http://www.w3.org/2000/svg' width='{0}' height='{1}' "
                      "font-family='sans-serif' font-size='11'>\n",
                      kW, kH);
  os << llvm::formatv("<rect x='{0}' y='{1}' width='{2}' height='{3}' fill='none' stroke='#333'/>\n",
                      kLeft, kTop, kW - kLeft - kRight, kH - kBottom - kTop);
  for (int e = int(xMin); e <= int(xMax); ++e)
    os << llvm::formatv("<text x='{0:f1}' y='{1}' text-anchor='middle'>1e{2}</text>\n", px(std::pow(10, e)),
                        kH - kBottom + 15, e);
  for (int e = int(yMin); e <= int(yMax); ++e)
    os << llvm::formatv("<text x='{0}' y='{1:f1}' text-anchor='end'>1e{2}</text>\n", kLeft - 5,
                        py(std::pow(10, e)) + 4, e);
  os << llvm::formatv("<text x='{0}' y='{1}' text-anchor='middle'>arithmetic intensity "
                      "(FLOP/byte)</text>\n",
                      (kLeft + kW) / 2, kH - 12);
  os << llvm::formatv("<text x='14' y='{0}' transform='rotate(-90 14 {0})' "
                      "text-anchor='middle'>attainable FLOP/s</text>\n",
                      (kTop + kH - kBottom) / 2);
  // The roof: the memory slope up to the ridge, then flat.
  double ridge = options.peakFlops / options.bandwidth;
  os << llvm::formatv("<polyline fill='none' stroke='#c00' stroke-width='2' "
                      "points='{0:f1},{1:f1} {2:f1},{3:f1} {4:f1},{5:f1}'/>\n",
                      px(std::pow(10, xMin)), py(options.bandwidth * std::pow(10, xMin)), px(ridge),
                      py(options.peakFlops), px(std::pow(10, xMax)), py(options.peakFlops));
  for (const Kernel &k : kernels) {
    if (k.cost.flops <= 0 || k.bytes() <= 0)
      continue;
    double attainable = std::min(options.peakFlops, options.bandwidth * k.intensity());
    os << llvm::formatv("<circle cx='{0:f1}' cy='{1:f1}' r='3.5' fill='{2}' fill-opacity='0.8'>"
                        "<title>{3} (kernel {4}): {5:f2} FLOP/byte</title></circle>\n",
                        px(k.intensity()), py(attainable), colorOf(k.kind, colors),
                        escape(k.kind), k.index, k.intensity());
  }
  os << "</svg>\n";
}

} // namespace

llvm::Error writeCompileReport(ModuleOp module, llvm::StringRef dir, const ReportOptions &options) {
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  if (!forward || forward.isExternal())
    return llvm::createStringError("the module has no @forward to report on");
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return llvm::createStringError("cannot create " + dir.str() + ": " + ec.message());
  std::vector<Kernel> kernels = kernelsOf(forward, options.shape);

  // Per kind totals, and layer 0 for the graph.
  struct Totals {
    int64_t kernels = 0, ops = 0;
    double flops = 0, bytes = 0;
  };
  std::map<std::string, Totals> byKind;
  Totals all;
  // Decoder layer 0: from its first kernel that reads a layers.0 weight to its last one.
  std::vector<const Kernel *> layer0;
  int64_t first = -1, last = -1;
  for (const Kernel &k : kernels)
    if (k.layer == 0) {
      first = first < 0 ? k.index : first;
      last = k.index;
    }
  for (int64_t i = first; first >= 0 && i <= last; ++i)
    layer0.push_back(&kernels[i]);
  for (const Kernel &k : kernels) {
    for (Totals *t : {&byKind[k.kind], &all}) {
      ++t->kernels;
      t->ops += int64_t(k.ops.size());
      t->flops += k.cost.flops;
      t->bytes += k.bytes();
    }
  }

  llvm::json::Array opsJson, kernelsJson;
  for (const Kernel &k : kernels) {
    llvm::json::Array members;
    for (Operation *op : k.ops) {
      OpCost c = opCost(op, options.shape);
      opsJson.push_back(llvm::json::Object{{"op", opName(op)},
                                           {"kernel", k.index},
                                           {"flops", c.flops},
                                           {"weight_bytes", c.weightBytes},
                                           {"tensor_bytes", c.tensorBytes}});
      members.push_back(opName(op));
    }
    kernelsJson.push_back(llvm::json::Object{{"index", k.index},
                                             {"kind", k.kind},
                                             {"layer", k.layer},
                                             {"ops", std::move(members)},
                                             {"flops", k.cost.flops},
                                             {"weight_bytes", k.cost.weightBytes},
                                             {"tensor_bytes", k.cost.tensorBytes},
                                             {"arithmetic_intensity", k.intensity()}});
  }
  llvm::json::Object json{
      {"function", "forward"},
      {"pipeline", options.pipeline},
      {"tokens", options.shape.tokens},
      {"context", options.shape.context},
      {"kernels_total", all.kernels},
      {"kernels_per_layer", options.layers > 0 ? double(all.kernels) / options.layers : 0.0},
      {"flops_total", all.flops},
      {"bytes_total", all.bytes},
      {"roofline", llvm::json::Object{{"bandwidth_bytes_per_s", options.bandwidth},
                                      {"peak_flops", options.peakFlops}}},
      {"kernels", std::move(kernelsJson)},
      {"ops", std::move(opsJson)}};
  if (llvm::Error e = llvm::writeToOutput(dir.str() + "/report.json", [&](llvm::raw_ostream &os) {
        os << llvm::formatv("{0:2}", llvm::json::Value(std::move(json))) << "\n";
        return llvm::Error::success();
      }))
    return e;

  std::map<std::string, std::string> colors;
  return llvm::writeToOutput(dir.str() + "/report.html", [&](llvm::raw_ostream &os) {
    os << "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>v4c compile report</title>"
          "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
          "text-align:right}th{background:#eee}td:first-child{text-align:left}</style>"
          "</head><body>\n<h1>v4c compile report</h1>\n";
    os << llvm::formatv("<p>@forward for {0} token(s) at context {1}: <b>{2}</b> kernels"
                        " ({3:f1} per decoder layer), {4:f2} GFLOP, {5:f1} MiB moved.</p>\n",
                        options.shape.tokens, options.shape.context, all.kernels,
                        options.layers > 0 ? double(all.kernels) / options.layers : 0.0,
                        all.flops / 1e9, all.bytes / (1 << 20));
    os << "<p>Pipeline: <code>" << escape(options.pipeline) << "</code></p>\n";
    os << "<p>FLOPs and bytes are estimates from shapes (passes/KernelStats.h): weights read "
          "(routed experts: the top-k share) plus the tensors crossing each kernel's boundary."
          "</p>\n<h2>Kernels by kind</h2>\n<table><tr><th>kind</th><th>kernels</th><th>ops</th>"
          "<th>MFLOP</th><th>MiB</th><th>FLOP/byte</th></tr>\n";
    for (const auto &[kind, t] : byKind)
      os << llvm::formatv("<tr><td>{0}</td><td>{1}</td><td>{2}</td><td>{3:f2}</td>"
                          "<td>{4:f3}</td><td>{5:f2}</td></tr>\n",
                          escape(kind), t.kernels, t.ops, t.flops / 1e6, t.bytes / (1 << 20),
                          t.bytes > 0 ? t.flops / t.bytes : 0.0);
    os << "</table>\n<h2>Fusion groups of decoder layer 0</h2>\n"
          "<p>One box per kernel, in execution order (left to right, then down); arrows where "
          "one kernel's result feeds another. Hover a box for its cost.</p>\n";
    fusionGraphSvg(os, layer0, colors);
    os << llvm::formatv("<h2>Roofline</h2>\n<p>Memory slope {0:f1} GB/s, peak {1:f1} GFLOP/s "
                        "(assumed; set with --report-bandwidth and --report-peak). A dot per "
                        "kernel at its arithmetic intensity, on the roof it can reach.</p>\n",
                        options.bandwidth / 1e9, options.peakFlops / 1e9);
    rooflineSvg(os, kernels, options, colors);
    os << "</body></html>\n";
    return llvm::Error::success();
  });
}

} // namespace v4c
