#!/usr/bin/env bash
# Installs the dependencies (Debian packages) if needed, then configures and builds v4c in
# ./build (override with BUILD_DIR). Two cores: ninja's default parallelism is right.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
scripts/install-deps.sh
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR"
