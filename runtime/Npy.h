// NumPy .npy files of float32 (v4c-run --dump-logits, and the tests that compare such dumps).
// Plain C++17: the runtime links no LLVM (ARCHITECTURE.md decision 7).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace v4c {

/// Writes `data` (row-major, product(shape) floats) as an .npy v1.0 file: dtype '<f4', C order,
/// header padded so the data starts at a multiple of 64 bytes. The file appears atomically (a
/// temporary file in the same directory, then rename); on failure nothing is left behind.
/// Returns false and sets `error` on failure.
bool writeNpyF32(const std::string &path, const std::vector<int64_t> &shape,
                 const std::vector<float> &data, std::string &error);

/// Reads an .npy file written by writeNpyF32 or by NumPy (versions 1.0-3.0). Accepts only dtype
/// '<f4' in C order, and a data section of exactly product(shape) floats. Returns false and sets
/// `error` (naming the file and the problem) otherwise.
bool readNpyF32(const std::string &path, std::vector<int64_t> &shape, std::vector<float> &data,
                std::string &error);

} // namespace v4c
