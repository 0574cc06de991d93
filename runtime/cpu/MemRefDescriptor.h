// MLIR's ranked memref descriptor: what the `_mlir_ciface_*` entry points of compiled code take
// by pointer (see codegen/cpu/LowerToLoops.h for the ABI).
#pragma once

#include <cstdint>

namespace v4c::cpu {

template <typename T, int N>
struct MemRef {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[N];
  int64_t strides[N];
};

/// A row-major descriptor over `data`, which must outlive the call it is passed to.
template <typename T, int N>
MemRef<T, N> rowMajor(T *data, const int64_t (&sizes)[N]) {
  MemRef<T, N> m{data, data, 0, {}, {}};
  int64_t stride = 1;
  for (int i = N - 1; i >= 0; --i) {
    m.sizes[i] = sizes[i];
    m.strides[i] = stride;
    stride *= sizes[i];
  }
  return m;
}

} // namespace v4c::cpu
