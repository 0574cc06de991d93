#!/usr/bin/env bash
# The main job on its built-in default: build v4c, generate the tiny synthetic DeepSeek-V4
# checkpoint, import it, compile it for the CPU and for the simulated NPU, run the artifacts and
# a standalone executable, and compare their logits with the C++ reference. Output goes to ./out
# (override with OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT=${OUT:-out}
scripts/build.sh >/dev/null
bin="$BUILD_DIR/tools"
rm -rf "$OUT" && mkdir -p "$OUT"
tokens=$(seq -s, 1 300)   # crosses the 32-token window, completes two 128-token HCA blocks

echo "== 1. generate a tiny synthetic V4 checkpoint (FP8 weights, FP4 experts, 2 shards)"
"$bin/v4c" gen --preset tiny --seed 1 -o "$OUT/tiny"

echo; echo "== 2. import it into the graph dialect; the IR verifies and round-trips"
"$bin/v4c" import "$OUT/tiny" -o "$OUT/tiny.mlir"
"$bin/v4c-opt" "$OUT/tiny.mlir" --emit-bytecode -o "$OUT/tiny.mlirbc"
"$bin/v4c-opt" "$OUT/tiny.mlirbc" -o "$OUT/tiny.roundtrip.mlir"
cmp "$OUT/tiny.mlir" "$OUT/tiny.roundtrip.mlir" && echo "text -> bytecode -> text: identical"
echo "graph ops used:" $(grep -o '= graph\.[a-z_]*' "$OUT/tiny.mlir" | sort | uniq -c | sort -rn | awk '{print $3"×"$1}' | sed 's/graph\.//')

echo; echo "== 3. compile for the CPU (dequant and faithful precision), and as a standalone executable"
"$bin/v4c" compile "$OUT/tiny" --target cpu --precision-mode dequant -o "$OUT/tiny-dequant.v4a"
"$bin/v4c" compile "$OUT/tiny" --target cpu -o "$OUT/tiny.v4a" --report "$OUT/report" 2>/dev/null
"$bin/v4c" compile "$OUT/tiny" --target cpu --precision-mode dequant --emit exe -o "$OUT/model" 2>/dev/null
ls -l "$OUT"/*.v4a "$OUT/model"
echo "graph passes (precision policy, activation quantization, fusion) -> $OUT/report/report.html:"
python3 - "$OUT/report/report.json" <<'PY'
import collections, json, sys
r = json.load(open(sys.argv[1]))
fused = collections.Counter(k["kind"] for k in r["kernels"] if len(k["ops"]) > 1)
print(f"  {r['kernels_total']} kernels ({r['kernels_per_layer']:.1f} per decoder layer); fusion groups:",
      ", ".join(f"{kind}×{n}" for kind, n in sorted(fused.items())))
PY

echo; echo "== 4. run: 300-token prefill on the compiled model and on the reference"
"$bin/v4c-run" "$OUT/tiny-dequant.v4a" --tokens "$tokens" --dump-logits "$OUT/cpu.npy" 2>/dev/null
"$bin/v4c-run" "$OUT/tiny" --precision-mode dequant --tokens "$tokens" --dump-logits "$OUT/ref.npy" 2>/dev/null
echo -n "dequant, compiled CPU vs reference: "
python3 tests/lit/Inputs/compare_npy.py "$OUT/cpu.npy" "$OUT/ref.npy" --max-rel-l2 1e-4 --same-argmax
"$bin/v4c-run" "$OUT/tiny.v4a" --tokens "$tokens" --decode-from 200 --dump-logits "$OUT/cpu-faithful.npy" 2>/dev/null
"$bin/v4c-run" "$OUT/tiny" --tokens "$tokens" --dump-logits "$OUT/ref-faithful.npy" 2>/dev/null
echo -n "faithful (FP8 activations, QAT), compiled CPU (prefill 200 + 100 decode steps) vs reference: "
python3 tests/lit/Inputs/compare_npy.py "$OUT/cpu-faithful.npy" "$OUT/ref-faithful.npy" || true

echo; echo "== 5. the standalone executable generates what the reference generates"
"$OUT/model" --tokens 1,2,3 --generate 8
"$bin/v4c-run" "$OUT/tiny" --precision-mode dequant --tokens 1,2,3 --generate 8 2>/dev/null | grep generated

echo; echo "== 6. offline quantization: a BF16 checkpoint to FP8 linears and FP4 experts, with each tensor's error"
"$bin/v4c" gen --preset tiny --bf16 -o "$OUT/tiny-bf16" >/dev/null 2>&1
rm -rf "$OUT/tiny-quantized"
"$bin/v4c" quantize "$OUT/tiny-bf16" -o "$OUT/tiny-quantized" > "$OUT/quantize.txt" 2>/dev/null
head -3 "$OUT/quantize.txt"

echo; echo "== 7. the NPU target: host code + kernels on a simulated Ascend 910B-like NPU (dequant: every op; GEMMs on the cube, the rest on the vector cores)"
"$bin/v4c" compile "$OUT/tiny" --target npu --npu-arch 910b --precision-mode dequant -o "$OUT/tiny-npu.v4a" 2>&1 | grep 'NPU 910b'
"$bin/v4c-run" "$OUT/tiny-npu.v4a" --tokens "$(seq -s, 1 40)" --decode-from 32 --dump-logits "$OUT/npu.npy" --npu-trace "$OUT/npu-trace.json" 2>/dev/null
"$bin/v4c-run" "$OUT/tiny" --precision-mode dequant --tokens "$(seq -s, 1 40)" --dump-logits "$OUT/ref40.npy" 2>/dev/null >/dev/null
echo -n "dequant, NPU run vs reference: "
python3 tests/lit/Inputs/compare_npy.py "$OUT/npu.npy" "$OUT/ref40.npy" --max-rel-l2 1e-4 --same-argmax
echo "NPU timeline (chrome://tracing, Perfetto): $OUT/npu-trace.json"

echo; echo "== 8. the full V4-Flash and V4-Pro graphs import from their configs alone"
for model in flash pro; do
  mkdir -p "$OUT/v4-$model"
  cp "tests/data/configs/deepseek-v4-$model.json" "$OUT/v4-$model/config.json"
  "$bin/v4c" import "$OUT/v4-$model" -o "$OUT/v4-$model.mlir"
done

echo; echo "== not yet: NPU kernels for the FP8/FP4 faithful mode (host code today), cube-based attention and indexer scoring, MPI expert parallelism"
