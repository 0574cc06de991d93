// safetensors reader/writer and checkpoint directories: a write -> read round trip, and crafted
// bad files whose errors must name the culprit (file, tensor, field).
#include "frontend/checkpoint/Safetensors.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>

using namespace v4c;

namespace {

/// Succeeds if `result` failed with a message containing every one of `parts`.
template <typename T>
testing::AssertionResult failsWith(llvm::Expected<T> result,
                                   std::initializer_list<llvm::StringRef> parts) {
  if (result)
    return testing::AssertionFailure() << "expected an error, got success";
  std::string message = llvm::toString(result.takeError());
  for (llvm::StringRef part : parts)
    if (!llvm::StringRef(message).contains(part))
      return testing::AssertionFailure() << "error \"" << message << "\" lacks \"" << part.str()
                                         << "\"";
  return testing::AssertionSuccess() << message;
}

/// A raw safetensors image: u64 LE header length, the header text, `dataBytes` zero bytes.
std::string image(llvm::StringRef header, size_t dataBytes) {
  std::string out(8, '\0');
  llvm::support::endian::write64le(&out[0], header.size());
  out += header.str();
  out.append(dataBytes, '\0');
  return out;
}

/// The config.json to put in test checkpoints: tests/data/configs/tiny.json, else the first
/// config there (sorted); empty if there is none.
std::string testConfigPath() {
  llvm::SmallString<256> dir(V4C_TEST_DATA_DIR);
  llvm::sys::path::append(dir, "configs");
  llvm::SmallString<256> tiny(dir);
  llvm::sys::path::append(tiny, "tiny.json");
  if (llvm::sys::fs::exists(tiny))
    return std::string(tiny);
  std::vector<std::string> configs;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec))
    if (llvm::StringRef(it->path()).ends_with(".json"))
      configs.push_back(it->path());
  std::sort(configs.begin(), configs.end());
  return configs.empty() ? std::string() : configs.front();
}

class SafetensorsTest : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("v4c-safetensors-test", dir_));
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir_); }

  std::string path(llvm::StringRef name) const {
    llvm::SmallString<256> p(dir_);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }

  std::string writeFile(llvm::StringRef name, llvm::StringRef contents) {
    std::string p = path(name);
    std::error_code ec;
    llvm::raw_fd_ostream os(p, ec);
    EXPECT_FALSE(ec) << ec.message();
    os << contents;
    return p;
  }

  /// Writes a file with `header` and `dataBytes` zero bytes of data, and opens it.
  llvm::Expected<std::unique_ptr<SafetensorsFile>> openImage(llvm::StringRef header,
                                                             size_t dataBytes) {
    return SafetensorsFile::open(writeFile("bad.safetensors", image(header, dataBytes)));
  }

  /// Copies the test config into the checkpoint dir; false if no config exists yet.
  bool writeConfig() {
    std::string config = testConfigPath();
    if (config.empty())
      return false;
    return !llvm::sys::fs::copy_file(config, path("config.json"));
  }

  /// A small valid shard holding F32 tensors of shape [2], value-filled with `value`.
  void writeShard(llvm::StringRef name, std::initializer_list<const char *> tensors,
                  float value = 1.0f) {
    SafetensorsWriter writer;
    for (const char *tensor : tensors)
      writer.add(tensor, DType::F32, {2}, [value](llvm::MutableArrayRef<uint8_t> bytes) {
        for (size_t i = 0; i < bytes.size(); i += 4)
          memcpy(&bytes[i], &value, 4);
      });
    llvm::Error err = writer.write(path(name));
    EXPECT_FALSE(bool(err)) << llvm::toString(std::move(err));
  }

  std::vector<std::string> listDir() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (llvm::sys::fs::directory_iterator it(dir_, ec), end; it != end && !ec; it.increment(ec))
      names.push_back(llvm::sys::path::filename(it->path()).str());
    std::sort(names.begin(), names.end());
    return names;
  }

  llvm::SmallString<256> dir_;
};

#define REQUIRE_CONFIG()                                                                         \
  if (!writeConfig())                                                                            \
  GTEST_SKIP() << "no config under " V4C_TEST_DATA_DIR "/configs yet"

//===----------------------------------------------------------------------===//
// Round trip
//===----------------------------------------------------------------------===//

TEST_F(SafetensorsTest, WriteReadRoundTrip) {
  struct Spec {
    const char *name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  const std::vector<Spec> specs = {
      {"embed.weight", DType::BF16, {4, 3}},
      {"layers.0.attn.wq_a.weight", DType::F8_E4M3, {3, 5}}, // 15 bytes: next one unaligned
      {"layers.0.attn.wq_a.scale", DType::F8_E8M0, {1, 1}},
      {"hc_head_fn", DType::F32, {2, 3}},
      {"empty", DType::F32, {0, 7}},
      {"layers.0.ffn.gate.tid2eid", DType::I64, {2, 2}},
      {"scalar", DType::I32, {}},
      {"mask", DType::BOOL, {3}},
      {"small", DType::I16, {2}},
  };
  SafetensorsWriter writer;
  for (size_t i = 0; i < specs.size(); ++i)
    writer.add(specs[i].name, specs[i].dtype, specs[i].shape,
               [i](llvm::MutableArrayRef<uint8_t> bytes) {
                 for (size_t j = 0; j < bytes.size(); ++j)
                   bytes[j] = uint8_t(i * 31 + j);
               });
  writer.setMetadata("format", "pt");
  writer.setMetadata("note", "v4c \"test\"");
  std::string file = path("model.safetensors");
  ASSERT_FALSE(bool(writer.write(file)));
  // Only the final file: the temporary was renamed, not left behind.
  EXPECT_EQ(listDir(), std::vector<std::string>{"model.safetensors"});

  auto opened = SafetensorsFile::open(file);
  ASSERT_TRUE(bool(opened)) << llvm::toString(opened.takeError());
  const SafetensorsFile &st = **opened;
  EXPECT_EQ(st.path(), file);
  EXPECT_EQ(st.metadata().size(), 2u);
  EXPECT_EQ(st.metadata().lookup("format"), "pt");
  EXPECT_EQ(st.metadata().lookup("note"), "v4c \"test\"");
  ASSERT_EQ(st.tensors().size(), specs.size());

  // The header is space-padded so the data section starts 8-byte aligned.
  llvm::ArrayRef<uint8_t> first = st.bytes(st.tensors()[0]);
  uint64_t headerSize = llvm::support::endian::read64le(first.data() - st.tensors()[0].offset);
  EXPECT_EQ(headerSize % 8, 0u);

  uint64_t expectedOffset = 8 + headerSize;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorInfo &t = st.tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, specs[i].name); // declaration order is kept
    EXPECT_EQ(t.dtype, specs[i].dtype);
    EXPECT_EQ(t.shape, specs[i].shape);
    EXPECT_EQ(t.file, 0u);
    int64_t elements = 1;
    for (int64_t d : specs[i].shape)
      elements *= d;
    EXPECT_EQ(t.numElements(), elements);
    EXPECT_EQ(t.size, uint64_t(elements) * dtypeSize(specs[i].dtype));
    EXPECT_EQ(t.offset, expectedOffset); // absolute, back to back
    expectedOffset += t.size;
    EXPECT_EQ(st.find(specs[i].name), &t);
    llvm::ArrayRef<uint8_t> bytes = st.bytes(t);
    ASSERT_EQ(bytes.size(), t.size);
    for (size_t j = 0; j < bytes.size(); ++j)
      ASSERT_EQ(bytes[j], uint8_t(i * 31 + j)) << "byte " << j;
  }
  EXPECT_EQ(st.find("missing"), nullptr);
}

TEST_F(SafetensorsTest, WriterWithoutTensorsOrMetadata) {
  std::string file = path("empty.safetensors");
  ASSERT_FALSE(bool(SafetensorsWriter().write(file)));
  auto opened = SafetensorsFile::open(file);
  ASSERT_TRUE(bool(opened)) << llvm::toString(opened.takeError());
  EXPECT_TRUE((*opened)->tensors().empty());
  EXPECT_TRUE((*opened)->metadata().empty());
}

TEST_F(SafetensorsTest, WriterErrorsLeaveNothingBehind) {
  SafetensorsWriter dup;
  dup.add("w", DType::F32, {1}, nullptr);
  dup.add("w", DType::F32, {1}, nullptr);
  std::string file = path("dup.safetensors");
  llvm::Error err = dup.write(file);
  ASSERT_TRUE(bool(err));
  EXPECT_NE(llvm::toString(std::move(err)).find("'w'"), std::string::npos);

  SafetensorsWriter negative;
  negative.add("neg", DType::F32, {-1}, nullptr);
  err = negative.write(file);
  ASSERT_TRUE(bool(err));
  EXPECT_NE(llvm::toString(std::move(err)).find("'neg'"), std::string::npos);
  EXPECT_TRUE(listDir().empty());

  SafetensorsWriter ok;
  ok.add("w", DType::F32, {1}, nullptr);
  err = ok.write(path("no-such-dir/x.safetensors"));
  ASSERT_TRUE(bool(err));
  EXPECT_NE(llvm::toString(std::move(err)).find("no-such-dir"), std::string::npos);
  EXPECT_TRUE(listDir().empty());

  // The rename onto a non-empty directory fails after the data was written: the temporary
  // file must be removed.
  ASSERT_FALSE(llvm::sys::fs::create_directory(path("taken.safetensors")));
  writeFile("taken.safetensors/keep", "x");
  err = ok.write(path("taken.safetensors"));
  ASSERT_TRUE(bool(err));
  EXPECT_NE(llvm::toString(std::move(err)).find("taken.safetensors"), std::string::npos);
  EXPECT_EQ(listDir(), std::vector<std::string>{"taken.safetensors"});
}

TEST_F(SafetensorsTest, ZeroSizeTensorsMayShareOffsets) {
  auto st = openImage(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                      R"("z":{"dtype":"BF16","shape":[0],"data_offsets":[8,8]},)"
                      R"("y":{"dtype":"U8","shape":[3,0],"data_offsets":[16,16]}})",
                      16);
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  EXPECT_EQ((*st)->tensors().size(), 3u);
  EXPECT_EQ((*st)->find("z")->size, 0u);
}

//===----------------------------------------------------------------------===//
// Bad files
//===----------------------------------------------------------------------===//

TEST_F(SafetensorsTest, MissingFile) {
  EXPECT_TRUE(failsWith(SafetensorsFile::open(path("nope.safetensors")), {"nope.safetensors"}));
}

TEST_F(SafetensorsTest, ShorterThanHeaderLength) {
  std::string p = writeFile("short.safetensors", llvm::StringRef("\x10\0\0\0\0", 5));
  EXPECT_TRUE(failsWith(SafetensorsFile::open(p), {"short.safetensors", "5 bytes"}));
  p = writeFile("zero.safetensors", "");
  EXPECT_TRUE(failsWith(SafetensorsFile::open(p), {"zero.safetensors", "0 bytes"}));
}

TEST_F(SafetensorsTest, DataCutShort) {
  // The header declares 128 bytes of data; only 100 are present.
  EXPECT_TRUE(failsWith(
      openImage(R"({"layers.0.attn.wq_a.weight":{"dtype":"F32","shape":[4,8],"data_offsets":[0,128]}})",
                100),
      {"bad.safetensors", "'layers.0.attn.wq_a.weight'", "data_offsets [0, 128]", "100 bytes"}));
}

TEST_F(SafetensorsTest, HeaderLengthPastEndOfFile) {
  std::string bytes = image("{}", 0);
  llvm::support::endian::write64le(&bytes[0], 1000);
  std::string p = writeFile("past.safetensors", bytes);
  EXPECT_TRUE(failsWith(SafetensorsFile::open(p), {"past.safetensors", "header length 1000"}));
}

TEST_F(SafetensorsTest, HeaderOverCap) {
  std::string bytes = image("{}", 0);
  llvm::support::endian::write64le(&bytes[0], 200ull << 20);
  std::string p = writeFile("huge.safetensors", bytes);
  EXPECT_TRUE(failsWith(SafetensorsFile::open(p), {"huge.safetensors", "cap"}));
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  EXPECT_TRUE(failsWith(openImage(R"({"w": {"dtype": )", 0), {"bad.safetensors", "JSON"}));
}

TEST_F(SafetensorsTest, HeaderNotObject) {
  EXPECT_TRUE(failsWith(openImage("[1, 2]", 0), {"bad.safetensors", "not a JSON object"}));
}

TEST_F(SafetensorsTest, UnknownDType) {
  EXPECT_TRUE(failsWith(openImage(R"({"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", 1),
                        {"bad.safetensors", "'w'", "dtype 'F4'"}));
  EXPECT_TRUE(failsWith(openImage(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,1]}})", 1),
                        {"'w'", "'dtype'"}));
}

TEST_F(SafetensorsTest, MissingField) {
  EXPECT_TRUE(failsWith(openImage(R"({"w":{"dtype":"F32","shape":[2]}})", 8),
                        {"'w'", "'data_offsets' is missing"}));
  EXPECT_TRUE(failsWith(openImage(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8),
                        {"'w'", "'shape' is missing"}));
  EXPECT_TRUE(failsWith(openImage(R"({"w":[1]})", 8), {"'w'", "object"}));
}

TEST_F(SafetensorsTest, ShapeNotIntegers) {
  for (const char *shape : {R"(["a",2])", "[2.5]", "[-1]", "4", "[[2]]"}) {
    SCOPED_TRACE(shape);
    std::string header =
        std::string(R"({"w":{"dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,8]}})";
    EXPECT_TRUE(failsWith(openImage(header, 8), {"bad.safetensors", "'w'", "'shape'"}));
  }
}

TEST_F(SafetensorsTest, ShapeOverflow) {
  EXPECT_TRUE(failsWith(
      openImage(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
      {"'w'", "overflows"}));
}

TEST_F(SafetensorsTest, OffsetsMalformed) {
  for (const char *offsets : {"[0]", "[0,8,16]", "[-8,0]", R"(["0",8])", "8"}) {
    SCOPED_TRACE(offsets);
    std::string header =
        std::string(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":)") + offsets + "}}";
    EXPECT_TRUE(failsWith(openImage(header, 8), {"'w'", "'data_offsets'"}));
  }
}

TEST_F(SafetensorsTest, OffsetsOutOfRange) {
  EXPECT_TRUE(
      failsWith(openImage(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[1000,1008]}})", 16),
                {"bad.safetensors", "'w'", "data_offsets [1000, 1008]", "past the end"}));
}

TEST_F(SafetensorsTest, OffsetsReversed) {
  EXPECT_TRUE(failsWith(openImage(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8),
                        {"'w'", "data_offsets [8, 0]", "reversed"}));
}

TEST_F(SafetensorsTest, OverlappingRanges) {
  EXPECT_TRUE(failsWith(openImage(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                  R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                  24),
                        {"bad.safetensors", "'a'", "'b'", "overlap"}));
  // Identical ranges overlap too.
  EXPECT_TRUE(failsWith(openImage(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                                  8),
                        {"'a'", "'b'", "overlap"}));
}

TEST_F(SafetensorsTest, ByteSizeMismatch) {
  EXPECT_TRUE(failsWith(
      openImage(R"({"layers.0.attn.wq_a.weight":{"dtype":"F32","shape":[4,8],"data_offsets":[0,96]}})",
                96),
      {"bad.safetensors: tensor 'layers.0.attn.wq_a.weight': data_offsets [0, 96] hold 96 bytes "
       "but shape [4, 8] x F32 needs 128"}));
}

TEST_F(SafetensorsTest, DuplicateTensorNames) {
  // llvm::json::parse keeps only the last duplicate key; the reader must still notice.
  EXPECT_TRUE(failsWith(openImage(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                  16),
                        {"bad.safetensors", "'w'", "twice"}));
  // The same key spelled with an escape is still a duplicate.
  EXPECT_TRUE(failsWith(openImage(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("\u0077":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                  16),
                        {"'w'", "twice"}));
  // Same-named keys nested inside entries are not top-level duplicates.
  auto ok = openImage(R"({"__metadata__":{"shape":"x","dtype":"y"},)"
                      R"("shape":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                      8);
  EXPECT_TRUE(bool(ok)) << llvm::toString(ok.takeError());
}

TEST_F(SafetensorsTest, BadMetadata) {
  EXPECT_TRUE(failsWith(openImage(R"({"__metadata__":{"format":1}})", 0),
                        {"bad.safetensors", "'__metadata__'", "'format'"}));
  EXPECT_TRUE(failsWith(openImage(R"({"__metadata__":["pt"]})", 0),
                        {"bad.safetensors", "'__metadata__'"}));
  EXPECT_TRUE(failsWith(openImage(R"({"__metadata__":{},"__metadata__":{}})", 0),
                        {"'__metadata__'", "twice"}));
}

//===----------------------------------------------------------------------===//
// Checkpoint directories
//===----------------------------------------------------------------------===//

TEST_F(SafetensorsTest, CheckpointWeightless) {
  REQUIRE_CONFIG();
  auto ckpt = Checkpoint::open(dir_);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  EXPECT_FALSE((*ckpt)->hasWeights());
  EXPECT_TRUE((*ckpt)->tensors().empty());
  EXPECT_EQ((*ckpt)->find("embed.weight"), nullptr);
}

TEST_F(SafetensorsTest, CheckpointMissingConfig) {
  writeShard("model.safetensors", {"a"});
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_), {"config.json"}));
}

TEST_F(SafetensorsTest, CheckpointShardsWithoutIndex) {
  REQUIRE_CONFIG();
  writeShard("b.safetensors", {"y"}, 2.0f);
  writeShard("a.safetensors", {"x", "z"}, 1.0f);
  auto ckpt = Checkpoint::open(dir_);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  const Checkpoint &c = **ckpt;
  ASSERT_TRUE(c.hasWeights());
  ASSERT_EQ(c.files().size(), 2u);
  EXPECT_EQ(llvm::sys::path::filename(c.files()[0]->path()), "a.safetensors"); // sorted
  EXPECT_EQ(c.tensors().size(), 3u);
  const TensorInfo *y = c.find("y");
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->file, 1u);
  float value;
  ASSERT_EQ(c.bytes(*y).size(), 8u);
  memcpy(&value, c.bytes(*y).data(), 4);
  EXPECT_EQ(value, 2.0f);
  EXPECT_EQ(c.find("z")->file, 0u);
}

TEST_F(SafetensorsTest, CheckpointWithIndex) {
  REQUIRE_CONFIG();
  writeShard("model-00001-of-00002.safetensors", {"a", "b"}, 1.0f);
  writeShard("model-00002-of-00002.safetensors", {"c"}, 3.0f);
  writeShard("stray.safetensors", {"unrelated"}); // not in the index: ignored
  writeFile("model.safetensors.index.json",
            R"({"metadata":{"total_size":24},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
            R"("b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})");
  auto ckpt = Checkpoint::open(dir_);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  const Checkpoint &c = **ckpt;
  EXPECT_EQ(c.files().size(), 2u);
  EXPECT_EQ(c.tensors().size(), 3u);
  EXPECT_EQ(c.find("unrelated"), nullptr);
  const TensorInfo *t = c.find("c");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(llvm::sys::path::filename(c.files()[t->file]->path()),
            "model-00002-of-00002.safetensors");
  float value;
  memcpy(&value, c.bytes(*t).data(), 4);
  EXPECT_EQ(value, 3.0f);
}

TEST_F(SafetensorsTest, CheckpointIndexNamesMissingShard) {
  REQUIRE_CONFIG();
  writeShard("model-00001-of-00002.safetensors", {"a"});
  writeFile("model.safetensors.index.json",
            R"({"weight_map":{"a":"model-00001-of-00002.safetensors",)"
            R"("layers.0.attn.wkv.weight":"model-00002-of-00002.safetensors"}})");
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_),
                        {"model.safetensors.index.json", "'model-00002-of-00002.safetensors'",
                         "'layers.0.attn.wkv.weight'", "does not exist"}));
}

TEST_F(SafetensorsTest, CheckpointIndexNamesTensorShardLacks) {
  REQUIRE_CONFIG();
  writeShard("model-00001-of-00001.safetensors", {"a"});
  writeFile("model.safetensors.index.json",
            R"({"weight_map":{"a":"model-00001-of-00001.safetensors",)"
            R"("norm.weight":"model-00001-of-00001.safetensors"}})");
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_), {"model.safetensors.index.json", "'norm.weight'",
                                                 "'model-00001-of-00001.safetensors'"}));
}

TEST_F(SafetensorsTest, CheckpointShardTensorMissingFromIndex) {
  REQUIRE_CONFIG();
  writeShard("model-00001-of-00001.safetensors", {"a", "extra"});
  writeFile("model.safetensors.index.json",
            R"({"weight_map":{"a":"model-00001-of-00001.safetensors"}})");
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_), {"model-00001-of-00001.safetensors", "'extra'",
                                                 "model.safetensors.index.json"}));
}

TEST_F(SafetensorsTest, CheckpointBadIndex) {
  REQUIRE_CONFIG();
  writeFile("model.safetensors.index.json", R"({"weight_map":{"a":3}})");
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_), {"model.safetensors.index.json", "'a'"}));
  writeFile("model.safetensors.index.json", R"({"weight_map":{"a":"../elsewhere.safetensors"}})");
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_), {"model.safetensors.index.json", "'a'"}));
  writeFile("model.safetensors.index.json", R"({"metadata":{}})");
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_), {"model.safetensors.index.json", "weight_map"}));
}

TEST_F(SafetensorsTest, CheckpointDuplicateTensorAcrossShards) {
  REQUIRE_CONFIG();
  writeShard("model-00001-of-00002.safetensors", {"a", "shared"});
  writeShard("model-00002-of-00002.safetensors", {"b", "shared"});
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_),
                        {"'shared'", "model-00001-of-00002.safetensors",
                         "model-00002-of-00002.safetensors"}));
  // With an index, the duplicate is still reported as such.
  writeFile("model.safetensors.index.json",
            R"({"weight_map":{"a":"model-00001-of-00002.safetensors",)"
            R"("shared":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_),
                        {"'shared'", "model-00001-of-00002.safetensors",
                         "model-00002-of-00002.safetensors", "also in"}));
}

TEST_F(SafetensorsTest, CheckpointPropagatesShardErrors) {
  REQUIRE_CONFIG();
  writeShard("a.safetensors", {"x"});
  writeFile("b.safetensors", "tiny");
  EXPECT_TRUE(failsWith(Checkpoint::open(dir_), {"b.safetensors"}));
}

} // namespace
