// .npy writer/reader: round trips, the exact v1.0 header layout (checked against bytes written
// out by hand from the NumPy format spec), and crafted bad files the reader must reject.
#include "runtime/Npy.h"

#include "TestSupport.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace v4c;

namespace {

using v4c::test::readBytes;
using v4c::test::writeBytes;

/// A hand-made .npy image: magic, version, little-endian header length, header, data bytes.
std::string npyImage(const std::string &header, size_t dataBytes, unsigned char major = 1) {
  std::string out = "\x93NUMPY";
  out += char(major);
  out += '\0';
  const size_t lengthBytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < lengthBytes; ++i)
    out += char((header.size() >> (8 * i)) & 0xff);
  return out + header + std::string(dataBytes, '\0');
}

/// Number of files in `dir` (to see that no temporary file was left behind).
int countFiles(const std::string &dir) {
  int count = 0;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec))
    ++count;
  return count;
}

/// Succeeds if reading `bytes` as an .npy file fails with an error containing `part`.
testing::AssertionResult rejects(const std::string &bytes, const std::string &part) {
  test::TempDir dir;
  std::string path = dir.file("bad.npy");
  writeBytes(path, bytes);
  std::vector<int64_t> shape;
  std::vector<float> data;
  std::string error;
  if (readNpyF32(path, shape, data, error))
    return testing::AssertionFailure() << "expected an error, got success";
  if (error.find(part) == std::string::npos || error.find(path) == std::string::npos)
    return testing::AssertionFailure() << "error \"" << error << "\" lacks \"" << part
                                       << "\" or the file name";
  if (!shape.empty() || !data.empty())
    return testing::AssertionFailure() << "outputs not cleared on error";
  return testing::AssertionSuccess() << error;
}

const std::string kHeader23 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

TEST(Npy, RoundTrip) {
  test::TempDir dir;
  std::string path = dir.file("logits.npy");
  std::vector<float> data;
  for (int i = 0; i < 3 * 5; ++i)
    data.push_back(float(i) * 0.25f - 1.5f);
  data[7] = -0.0f;
  std::string error;
  ASSERT_TRUE(writeNpyF32(path, {3, 5}, data, error)) << error;

  std::vector<int64_t> shape;
  std::vector<float> back;
  ASSERT_TRUE(readNpyF32(path, shape, back, error)) << error;
  EXPECT_EQ(shape, (std::vector<int64_t>{3, 5}));
  ASSERT_EQ(back.size(), data.size());
  EXPECT_EQ(std::memcmp(back.data(), data.data(), data.size() * sizeof(float)), 0);
  EXPECT_EQ(countFiles(dir.path()), 1);
}

TEST(Npy, HeaderIsByteExact) {
  test::TempDir dir;
  std::string path = dir.file("a.npy");
  std::string error;
  ASSERT_TRUE(writeNpyF32(path, {2, 3}, {1, 2, 3, 4, 5, 6}, error)) << error;
  // 10-byte preamble + 59-byte dict + 58 spaces + '\n' = 128; header length 118 = 0x76.
  std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + kHeader23 +
                         std::string(58, ' ') + "\n";
  std::string bytes = readBytes(path);
  ASSERT_EQ(bytes.size(), 128u + 6 * 4);
  EXPECT_EQ(bytes.substr(0, 128), expected);
  float first;
  std::memcpy(&first, &bytes[128], 4);
  EXPECT_EQ(first, 1.0f);

  // A 1-d shape is a one-element tuple, with its trailing comma.
  ASSERT_TRUE(writeNpyF32(path, {7}, std::vector<float>(7), error)) << error;
  EXPECT_EQ(readBytes(path).substr(0, 128),
            std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }" +
                std::string(60, ' ') + "\n");
}

TEST(Npy, DataIsAlignedForEveryShape) {
  test::TempDir dir;
  std::string path = dir.file("a.npy");
  for (const std::vector<int64_t> &shape : std::vector<std::vector<int64_t>>{
           {}, {0}, {1}, {4, 0}, {3, 129280}, {1, 2, 3, 4}, {123456789012, 0}}) {
    int64_t count = 1;
    for (int64_t dim : shape)
      count *= dim;
    std::string error;
    ASSERT_TRUE(writeNpyF32(path, shape, std::vector<float>(size_t(count), 0.5f), error))
        << error;
    std::string bytes = readBytes(path);
    size_t headerSize = size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8;
    EXPECT_EQ((10 + headerSize) % 64, 0u);
    EXPECT_EQ(bytes[10 + headerSize - 1], '\n');
    EXPECT_EQ(bytes.size(), 10 + headerSize + size_t(count) * 4);

    std::vector<int64_t> backShape;
    std::vector<float> back;
    ASSERT_TRUE(readNpyF32(path, backShape, back, error)) << error;
    EXPECT_EQ(backShape, shape);
    EXPECT_EQ(back.size(), size_t(count));
  }
}

TEST(Npy, OverwritesAtomicallyAndCleansUpOnError) {
  test::TempDir dir;
  std::string path = dir.file("a.npy");
  std::string error;
  ASSERT_TRUE(writeNpyF32(path, {1}, {1.0f}, error)) << error;
  ASSERT_TRUE(writeNpyF32(path, {2}, {2.0f, 3.0f}, error)) << error;
  std::vector<int64_t> shape;
  std::vector<float> data;
  ASSERT_TRUE(readNpyF32(path, shape, data, error)) << error;
  EXPECT_EQ(data, (std::vector<float>{2.0f, 3.0f}));

  // A shape that does not match the data: an error, and the old file stays untouched.
  EXPECT_FALSE(writeNpyF32(path, {2, 2}, {1.0f}, error));
  EXPECT_NE(error.find("(2, 2)"), std::string::npos) << error;
  EXPECT_FALSE(writeNpyF32(path, {-1}, {}, error));
  ASSERT_TRUE(readNpyF32(path, shape, data, error)) << error;
  EXPECT_EQ(data, (std::vector<float>{2.0f, 3.0f}));

  // Renaming onto a directory fails after the data was written: the temporary file must go.
  std::string sub = dir.file("sub");
  ASSERT_FALSE(llvm::sys::fs::create_directory(sub));
  EXPECT_FALSE(writeNpyF32(sub, {1}, {1.0f}, error));
  EXPECT_NE(error.find(sub), std::string::npos) << error;
  EXPECT_EQ(countFiles(dir.path()), 2); // a.npy and sub

  EXPECT_FALSE(writeNpyF32(dir.file("missing/a.npy"), {1}, {1.0f}, error));
}

TEST(Npy, ReadsOtherValidLayouts) {
  test::TempDir dir;
  std::string path = dir.file("a.npy");
  // NumPy's own spacing (room to grow the shape in place), double quotes, version 2.0.
  std::string header = "{\"descr\": \"<f4\", \"shape\": (2, 3), \"fortran_order\": False}" +
                       std::string(40, ' ') + "\n";
  writeBytes(path, npyImage(header, 24, 2));
  std::vector<int64_t> shape;
  std::vector<float> data;
  std::string error;
  ASSERT_TRUE(readNpyF32(path, shape, data, error)) << error;
  EXPECT_EQ(shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(data, std::vector<float>(6, 0.0f));
}

TEST(Npy, RejectsBadFiles) {
  const std::string good = kHeader23 + "\n";
  EXPECT_TRUE(rejects("PK\x03\x04 not numpy at all", "bad magic"));
  EXPECT_TRUE(rejects("\x93NUM", "bad magic"));
  EXPECT_TRUE(rejects(npyImage(good, 24, 4), "unsupported .npy version 4.0"));
  EXPECT_TRUE(rejects(npyImage(good, 0).substr(0, 30), "truncated header"));
  EXPECT_TRUE(rejects(npyImage(good, 23), "truncated data: 23 bytes for shape (2, 3), expected 24"));
  EXPECT_TRUE(rejects(npyImage(good, 25), "trailing data"));
  EXPECT_TRUE(rejects(npyImage("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n", 48),
                      "dtype '<f8'"));
  EXPECT_TRUE(rejects(npyImage("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24),
                      "dtype '>f4'"));
  EXPECT_TRUE(rejects(npyImage("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24),
                      "Fortran"));
  EXPECT_TRUE(rejects(npyImage("{'descr': '<f4', 'shape': (2, 3), }\n", 24), "lacks"));
  EXPECT_TRUE(rejects(npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n",
                               24),
                      "'shape'"));
  EXPECT_TRUE(rejects(npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), "
                               "'extra': 1}\n",
                               24),
                      "unexpected key 'extra'"));
  EXPECT_TRUE(rejects(npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x\n",
                               24),
                      "trailing characters"));
  EXPECT_TRUE(rejects(npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': "
                               "(99999999999, 99999999999), }\n",
                               24),
                      "invalid shape"));
}

TEST(Npy, ReportsMissingFile) {
  std::vector<int64_t> shape;
  std::vector<float> data;
  std::string error;
  EXPECT_FALSE(readNpyF32("/nonexistent/v4c.npy", shape, data, error));
  EXPECT_NE(error.find("/nonexistent/v4c.npy: cannot open"), std::string::npos) << error;
}

} // namespace
