// Helpers shared by the unit tests.
#pragma once

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace v4c::test {

/// A fresh temporary directory, removed with everything in it when the test ends.
class TempDir {
public:
  explicit TempDir(llvm::StringRef prefix = "v4c-test") {
    std::error_code ec = llvm::sys::fs::createUniqueDirectory(prefix, path_);
    EXPECT_FALSE(ec) << ec.message();
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path_); }
  std::string path() const { return std::string(path_); }
  std::string file(llvm::StringRef name) const {
    llvm::SmallString<256> p(path_);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }

private:
  llvm::SmallString<256> path_;
};

/// A whole file as bytes ("" if it cannot be read).
inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

/// Replaces a file's contents.
inline void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

} // namespace v4c::test
