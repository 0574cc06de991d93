#!/usr/bin/env bash
# The main job on its built-in default: build v4c, generate the tiny synthetic DeepSeek-V4
# checkpoint, import it into graph IR, check the IR round-trips, and print what happened.
# Output goes to ./out (override with OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT=${OUT:-out}
scripts/build.sh >/dev/null
bin="$BUILD_DIR/tools"
mkdir -p "$OUT"

echo "== 1. generate a tiny synthetic V4 checkpoint (FP8 weights, FP4 experts, 2 shards)"
"$bin/v4c" gen --preset tiny --seed 1 -o "$OUT/tiny"
ls -l "$OUT/tiny"

echo "== 2. import it into the graph dialect"
"$bin/v4c" import "$OUT/tiny" -o "$OUT/tiny.mlir"

echo "== 3. verify and round-trip the IR (text and bytecode) with v4c-opt"
"$bin/v4c-opt" "$OUT/tiny.mlir" -o "$OUT/tiny.roundtrip.mlir"
"$bin/v4c-opt" "$OUT/tiny.mlir" --emit-bytecode -o "$OUT/tiny.mlirbc"
"$bin/v4c-opt" "$OUT/tiny.mlirbc" -o "$OUT/tiny.bytecode.mlir"
cmp "$OUT/tiny.mlir" "$OUT/tiny.roundtrip.mlir"
cmp "$OUT/tiny.mlir" "$OUT/tiny.bytecode.mlir"
echo "text and bytecode round trips are identical ($(wc -c < "$OUT/tiny.mlirbc") bytes of bytecode)"

echo "== 4. what the graph holds"
printf '%6d params, %d state buffers, %d graph ops\n' \
  "$(grep -c 'graph.param' "$OUT/tiny.mlir")" "$(grep -c 'graph.state' "$OUT/tiny.mlir")" \
  "$(grep -c '= graph\.' "$OUT/tiny.mlir")"
grep -o 'graph\.[a-z_]*' "$OUT/tiny.mlir" | sort | uniq -c | sort -rn

echo "== 5. the full V4-Flash and V4-Pro graphs from their configs alone (no weights)"
for model in flash pro; do
  mkdir -p "$OUT/v4-$model"
  cp "tests/data/configs/deepseek-v4-$model.json" "$OUT/v4-$model/config.json"
  "$bin/v4c" import "$OUT/v4-$model" -o "$OUT/v4-$model.mlir"
done

echo "== 6. run the tiny model with the reference engine: 300-token prefill, then prefill 200 + 100 decode steps"
tokens=$(seq -s, 1 300 | sed 's/,$//')
"$bin/v4c-run" "$OUT/tiny" --tokens "$tokens" --dump-logits "$OUT/prefill.npy"
"$bin/v4c-run" "$OUT/tiny" --tokens "$tokens" --decode-from 200 --dump-logits "$OUT/decode.npy"
cmp "$OUT/prefill.npy" "$OUT/decode.npy" && echo "prefill and prefill+decode logits are bit-identical"
"$bin/v4c-run" "$OUT/tiny" --tokens 1,2,3 --generate 8

echo "== not yet: 'v4c compile' for CPU and NPU (later issues)"
