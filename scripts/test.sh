#!/usr/bin/env bash
# The test command: builds, then runs every test (GoogleTest units and lit/FileCheck IR
# tests) through ctest. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
scripts/build.sh
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 "$@"
