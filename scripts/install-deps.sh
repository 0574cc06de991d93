#!/usr/bin/env bash
# Installs everything v4c needs to build and test, from Debian's package registry only.
# Safe to re-run; skips apt when every package is already present.
set -euo pipefail
packages=(
  cmake ninja-build g++ python3
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools lld-22   # MLIR/LLVM 22, FileCheck, linker
  llvm-19-tools                                                    # lit.py
  libboost-graph-dev libfmt-dev libflatbuffers-dev flatbuffers-compiler libxxhash-dev
  libgtest-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
