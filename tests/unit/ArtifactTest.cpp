// The .v4a artifact: writer/loader round trip, byte-identical rebuilds, atomic writes, and damaged
// or inconsistent files (each rejected with a message naming the file and the culprit).
#include "runtime/artifact/Artifact.h"

#include "runtime/artifact/Artifact_generated.h"

#include "TestSupport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

using namespace v4c::artifact;

namespace {

using v4c::test::readBytes;
using v4c::test::writeBytes;

std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  for (const auto &entry : std::filesystem::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// Deterministic bytes that differ per tensor, so that a misplaced tensor shows.
std::vector<uint8_t> pattern(const std::string &name, uint64_t size) {
  std::vector<uint8_t> bytes(size);
  uint64_t seed = checksum64(name.data(), name.size());
  for (uint64_t i = 0; i < size; ++i)
    bytes[i] = uint8_t((seed >> (8 * (i % 8))) + i);
  return bytes;
}

FillFn patternFill(const std::string &name) {
  return [name](uint8_t *dst, uint64_t size, std::string &) {
    std::vector<uint8_t> bytes = pattern(name, size);
    std::memcpy(dst, bytes.data(), size);
    return true;
  };
}

const std::string kConfig = R"({"model_type": "deepseek_v4", "hidden_size": 64})";
const std::vector<uint8_t> kCode = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 42};

struct SampleTensor {
  const char *segment;
  TensorDesc desc;
};

/// Two tensor segments, a code blob and a state layout; F32 [2, 3] is 24 bytes, so the next
/// tensor needs padding to reach its 64-byte boundary.
const std::vector<SampleTensor> &sampleTensors() {
  static const std::vector<SampleTensor> tensors = {
      {"weights", {"layers.0.attn.wq", "F32", {2, 3}, {"layers.0.attn.wq_a.weight"}}},
      {"weights", {"layers.0.ffn.w1", "F8_E4M3", {16, 8}, {"layers.0.ffn.w1.weight"}}},
      {"weights",
       {"layers.0.ffn.experts", "I8", {2, 4, 8}, {"experts.0.w1.weight", "experts.1.w1.weight"}}},
      {"scales", {"layers.0.ffn.w1.scale", "F8_E8M0", {1, 1}, {"layers.0.ffn.w1.scale"}}},
      {"scales", {"layers.0.norm", "BF16", {5}, {}}},
  };
  return tensors;
}

ArtifactWriter sampleWriter() {
  ArtifactWriter writer;
  writer.setConfig(kConfig);
  writer.setTarget(
      {"cpu", "x86_64-unknown-linux-gnu", "znver4", "+avx512f,+avx512bf16", "faithful"});
  writer.setBuild({"v4c 0.1.0", "graph-fuse,shard-experts,lower-low-precision"});
  writer.addEntryPoint({"prefill", "v4c_prefill"});
  writer.addEntryPoint({"decode", "v4c_decode"});
  writer.setState({4096,
                   128,
                   {{"kv.layer0", "kv_cache", {128, 64}, 0, 2048},
                    {"compressor.layer0", "compressor_state", {4, 64}, 2048, 1024}}});
  auto weights = writer.addTensorSegment("weights");
  auto scales = writer.addTensorSegment("scales");
  for (const SampleTensor &tensor : sampleTensors())
    writer.addTensor(std::string(tensor.segment) == "weights" ? weights : scales, tensor.desc,
                     patternFill(tensor.desc.name));
  writer.addBlobSegment("code", kCode);
  return writer;
}

/// A fresh sample artifact in `dir`; returns its path.
std::string writeSample(const v4c::test::TempDir &dir, const std::string &name = "m.v4a") {
  std::string path = dir.file(name), error;
  EXPECT_TRUE(sampleWriter().write(path, error)) << error;
  return path;
}

FileHeader headerOf(const std::string &bytes) {
  return FileHeader::decode(reinterpret_cast<const uint8_t *>(bytes.data()));
}

void putHeader(std::string &bytes, const FileHeader &header) {
  const auto encoded = header.encode();
  bytes.replace(0, encoded.size(), reinterpret_cast<const char *>(encoded.data()), encoded.size());
}

/// Edits the manifest in place through FlatBuffers' mutable API and re-seals its checksum, so the
/// loader gets past the integrity checks to the consistency checks.
void patchManifest(const std::string &path, const std::function<void(fb::Manifest &)> &edit) {
  std::string bytes = readBytes(path);
  FileHeader header = headerOf(bytes);
  uint8_t *manifest = reinterpret_cast<uint8_t *>(&bytes[header.manifestOffset]);
  edit(*fb::GetMutableManifest(manifest));
  header.manifestChecksum = checksum64(manifest, header.manifestSize);
  putHeader(bytes, header);
  writeBytes(path, bytes);
}

/// Opening `path` fails with a message that names the file and contains every one of `parts`.
void expectOpenError(const std::string &path, const std::vector<std::string> &parts,
                     const OpenOptions &options = {}) {
  std::string error;
  EXPECT_EQ(openArtifact(path, error, options), nullptr);
  EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
  for (const std::string &part : parts)
    EXPECT_NE(error.find(part), std::string::npos) << "'" << part << "' not in: " << error;
}

} // namespace

TEST(Artifact, ChecksumIsXxh3AndStreamsInAnyPieces) {
  EXPECT_EQ(checksum64("", 0), 0x2D06800538D394C2ull); // XXH3-64's published empty-input value
  std::vector<uint8_t> bytes(100000);
  std::mt19937 rng(11);
  for (uint8_t &b : bytes)
    b = uint8_t(rng());
  for (uint64_t size : {uint64_t(0), uint64_t(17), uint64_t(240), uint64_t(241), uint64_t(bytes.size())}) {
    StreamingChecksum64 streamed;
    for (uint64_t at = 0; at < size;) {
      uint64_t piece = std::min<uint64_t>(size - at, 1 + rng() % 5000);
      streamed.update(bytes.data() + at, piece);
      at += piece;
    }
    EXPECT_EQ(streamed.digest(), checksum64(bytes.data(), size)) << size << " bytes";
  }
}

TEST(Artifact, RoundTripReadsBackEveryField) {
  v4c::test::TempDir dir;
  const std::string path = writeSample(dir);
  std::string error;
  auto artifact = openArtifact(path, error);
  ASSERT_NE(artifact, nullptr) << error;

  EXPECT_EQ(artifact->path(), path);
  EXPECT_EQ(artifact->formatVersion(), kFormatVersion);
  EXPECT_EQ(artifact->config(), kConfig);
  EXPECT_EQ(artifact->target().kind, "cpu");
  EXPECT_EQ(artifact->target().triple, "x86_64-unknown-linux-gnu");
  EXPECT_EQ(artifact->target().cpu, "znver4");
  EXPECT_EQ(artifact->target().features, "+avx512f,+avx512bf16");
  EXPECT_EQ(artifact->target().precisionMode, "faithful");
  EXPECT_EQ(artifact->build().version, "v4c 0.1.0");
  EXPECT_EQ(artifact->build().pipeline, "graph-fuse,shard-experts,lower-low-precision");
  ASSERT_EQ(artifact->entryPoints().size(), 2u);
  EXPECT_EQ(artifact->entryPoints()[1].name, "decode");
  EXPECT_EQ(artifact->entryPoints()[1].symbol, "v4c_decode");

  const StateLayout &state = artifact->state();
  EXPECT_EQ(state.arenaSize, 4096u);
  EXPECT_EQ(state.maxSeqLen, 128);
  ASSERT_EQ(state.buffers.size(), 2u);
  EXPECT_EQ(state.buffers[1].name, "compressor.layer0");
  EXPECT_EQ(state.buffers[1].kind, "compressor_state");
  EXPECT_EQ(state.buffers[1].shape, (std::vector<int64_t>{4, 64}));
  EXPECT_EQ(state.buffers[1].offset, 2048u);
  EXPECT_EQ(state.buffers[1].byteSize, 1024u);

  ASSERT_EQ(artifact->segments().size(), 3u);
  const std::vector<std::string> segmentNames = {"weights", "scales", "code"};
  const uint64_t fileSize = readBytes(path).size();
  for (size_t i = 0; i < segmentNames.size(); ++i) {
    const SegmentView &segment = artifact->segments()[i];
    EXPECT_EQ(segment.name, segmentNames[i]);
    EXPECT_EQ(artifact->segment(segmentNames[i]), &segment);
    EXPECT_EQ(segment.offset % kSegmentAlignment, 0u);
    EXPECT_EQ(segment.alignment, kSegmentAlignment);
    EXPECT_EQ(segment.checksum, checksum64(segment.data, segment.size));
    EXPECT_LE(segment.offset + segment.size, fileSize);
  }
  const SegmentView *code = artifact->segment("code");
  EXPECT_EQ(std::vector<uint8_t>(code->data, code->data + code->size), kCode);
  EXPECT_EQ(code->offset + code->size, fileSize); // the file ends with the last segment
  EXPECT_EQ(artifact->segment("nope"), nullptr);

  ASSERT_EQ(artifact->tensors().size(), sampleTensors().size());
  for (const SampleTensor &expected : sampleTensors()) {
    const TensorView *tensor = artifact->tensor(expected.desc.name);
    ASSERT_NE(tensor, nullptr) << expected.desc.name;
    const SegmentView &segment = artifact->segments()[tensor->segment];
    EXPECT_EQ(segment.name, expected.segment);
    EXPECT_EQ(tensor->dtype, expected.desc.dtype);
    EXPECT_EQ(tensor->shape, expected.desc.shape);
    EXPECT_EQ(tensor->sources, expected.desc.sources);
    EXPECT_EQ(tensor->byteSize, *tensorByteSize(tensor->dtype, tensor->shape));
    EXPECT_EQ(tensor->offset % kTensorAlignment, 0u);
    EXPECT_EQ(tensor->data, segment.data + tensor->offset);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor->data) % kTensorAlignment, 0u);
    EXPECT_EQ(std::vector<uint8_t>(tensor->data, tensor->data + tensor->byteSize),
              pattern(expected.desc.name, tensor->byteSize));
  }
  // F32 [2, 3] is 24 bytes: the next tensor starts at the next 64-byte boundary.
  EXPECT_EQ(artifact->tensor("layers.0.ffn.w1")->offset, 64u);
  EXPECT_EQ(artifact->tensor("missing"), nullptr);
}

TEST(Artifact, HeaderRecordsTheLayout) {
  v4c::test::TempDir dir;
  const std::string bytes = readBytes(writeSample(dir));
  EXPECT_EQ(bytes.compare(0, 8, std::string(kMagic, sizeof(kMagic))), 0);
  const FileHeader header = headerOf(bytes);
  EXPECT_EQ(header.version, kFormatVersion);
  EXPECT_EQ(header.flags, 0u);
  EXPECT_EQ(header.manifestOffset, kHeaderSize);
  EXPECT_EQ(header.fileSize, bytes.size());
  EXPECT_EQ(header.manifestChecksum, checksum64(&bytes[header.manifestOffset], header.manifestSize));
  EXPECT_EQ(bytes.compare(header.manifestOffset + 4, 4, "V4CA"), 0); // FlatBuffers identifier
  EXPECT_EQ(bytes.substr(48, 16), std::string(16, '\0'));            // reserved
}

TEST(Artifact, WritingTwiceGivesIdenticalBytes) {
  v4c::test::TempDir dir;
  std::string error;
  const ArtifactWriter writer = sampleWriter();
  ASSERT_TRUE(writer.write(dir.file("a.v4a"), error)) << error;
  ASSERT_TRUE(writer.write(dir.file("b.v4a"), error)) << error;
  const std::string first = readBytes(dir.file("a.v4a"));
  EXPECT_EQ(first, readBytes(dir.file("b.v4a")));
  EXPECT_EQ(first, readBytes(writeSample(dir, "c.v4a"))); // a second, identical description
}

TEST(Artifact, LargeTensorsStreamPastTheWriteBuffer) {
  // Larger than the writer's 1 MiB buffer, so the bytes go straight to the file, between small
  // tensors that stay buffered.
  v4c::test::TempDir dir;
  const std::vector<uint8_t> big = pattern("big", 3 << 20);
  const std::vector<float> small = {1.5f, -2.0f, 3.25f};
  ArtifactWriter writer;
  auto weights = writer.addTensorSegment("weights");
  writer.addTensor(weights, {"small.0", "F32", {3}, {}}, copyFrom(small.data()));
  writer.addTensor(weights, {"big", "U8", {3, 1 << 20}, {}}, copyFrom(big.data()));
  writer.addTensor(weights, {"small.1", "F32", {3}, {}}, copyFrom(small.data()));
  std::string error;
  ASSERT_TRUE(writer.write(dir.file("big.v4a"), error)) << error;
  auto artifact = openArtifact(dir.file("big.v4a"), error);
  ASSERT_NE(artifact, nullptr) << error;
  const TensorView *loaded = artifact->tensor("big");
  EXPECT_EQ(std::vector<uint8_t>(loaded->data, loaded->data + loaded->byteSize), big);
  for (const char *name : {"small.0", "small.1"})
    EXPECT_EQ(std::memcmp(artifact->tensor(name)->data, small.data(), 12), 0) << name;
}

TEST(Artifact, EmptyArtifactRoundTrips) {
  v4c::test::TempDir dir;
  std::string error;
  ASSERT_TRUE(ArtifactWriter().write(dir.file("empty.v4a"), error)) << error;
  auto artifact = openArtifact(dir.file("empty.v4a"), error);
  ASSERT_NE(artifact, nullptr) << error;
  EXPECT_TRUE(artifact->tensors().empty());
  EXPECT_TRUE(artifact->segments().empty());
  EXPECT_EQ(artifact->config(), "");
}

TEST(Artifact, WriterLeavesNoTemporaryFile) {
  v4c::test::TempDir dir;
  writeSample(dir);
  EXPECT_EQ(listDir(dir.path()), std::vector<std::string>{"m.v4a"});

  // A fill callback that fails aborts the write; its message reaches the caller.
  ArtifactWriter failing = sampleWriter();
  auto segment = failing.addTensorSegment("more");
  failing.addTensor(segment, {"late", "F32", {4}, {}}, [](uint8_t *, uint64_t, std::string &error) {
    error = "checkpoint shard missing";
    return false;
  });
  std::string error;
  EXPECT_FALSE(failing.write(dir.file("f.v4a"), error));
  EXPECT_NE(error.find("f.v4a: cannot write tensor 'late': checkpoint shard missing"),
            std::string::npos)
      << error;
  EXPECT_EQ(listDir(dir.path()), std::vector<std::string>{"m.v4a"});

  // The final rename fails when the target is a directory.
  std::filesystem::create_directory(dir.file("taken"));
  EXPECT_FALSE(sampleWriter().write(dir.file("taken"), error));
  EXPECT_NE(error.find("taken: cannot write"), std::string::npos) << error;
  EXPECT_EQ(listDir(dir.path()), (std::vector<std::string>{"m.v4a", "taken"}));

  // No temporary file can be made in a directory that does not exist.
  EXPECT_FALSE(sampleWriter().write(dir.file("missing/m.v4a"), error));
  EXPECT_NE(error.find("cannot create a temporary file"), std::string::npos) << error;
}

TEST(Artifact, WriterRefusesWhatTheLoaderWouldReject) {
  v4c::test::TempDir dir;
  const std::string path = dir.file("bad.v4a");
  auto expectWriteError = [&](const ArtifactWriter &writer, const std::string &part) {
    std::string error;
    EXPECT_FALSE(writer.write(path, error));
    EXPECT_NE(error.find(path + ": "), std::string::npos) << error;
    EXPECT_NE(error.find(part), std::string::npos) << "'" << part << "' not in: " << error;
    EXPECT_TRUE(listDir(dir.path()).empty());
  };

  ArtifactWriter unknownDtype = sampleWriter();
  unknownDtype.addTensor(0, {"odd", "F4", {2}, {}}, patternFill("odd"));
  expectWriteError(unknownDtype, "tensor 'odd' has an unknown dtype 'F4'");

  ArtifactWriter negative = sampleWriter();
  negative.addTensor(0, {"neg", "F32", {2, -1}, {}}, patternFill("neg"));
  expectWriteError(negative, "tensor 'neg'");

  ArtifactWriter duplicate = sampleWriter();
  duplicate.addTensor(1, sampleTensors()[0].desc, patternFill("again"));
  expectWriteError(duplicate, "duplicate tensor name 'layers.0.attn.wq'");

  ArtifactWriter intoBlob = sampleWriter();
  intoBlob.addTensor(2, {"x", "F32", {1}, {}}, patternFill("x"));
  expectWriteError(intoBlob, "segment #2, which is not a tensor segment");

  ArtifactWriter stateOutside = sampleWriter();
  stateOutside.setState({1024, 16, {{"kv", "kv_cache", {16}, 512, 1024}}});
  expectWriteError(stateOutside, "state buffer 'kv' (bytes [512, 1536)) lies outside the state "
                                 "arena (1024 bytes)");
}

TEST(Artifact, RejectsTruncatedFiles) {
  v4c::test::TempDir dir;
  const std::string path = writeSample(dir);
  const std::string bytes = readBytes(path);
  const FileHeader header = headerOf(bytes);
  std::string error;
  auto artifact = openArtifact(path, error);
  ASSERT_NE(artifact, nullptr) << error;
  const SegmentView weights = *artifact->segment("weights");
  const SegmentView code = *artifact->segment("code");
  artifact.reset();

  struct Cut {
    uint64_t size;
    std::vector<std::string> parts;
  };
  const std::vector<Cut> cuts = {
      {0, {"truncated", "less than the 64-byte header"}},
      {10, {"truncated", "the file has 10 bytes", "64-byte header"}},
      {header.manifestOffset + header.manifestSize / 2, {"truncated", "the manifest", "cut short"}},
      {weights.offset + weights.size / 2, {"truncated", "segment 'weights'", "cut short"}},
      {weights.offset, {"truncated", "segment 'weights'", "cut short"}},
      {code.offset + 1, {"truncated", "segment 'code'", "cut short"}},
  };
  for (const Cut &cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut.size));
    writeBytes(path, bytes.substr(0, cut.size));
    expectOpenError(path, cut.parts);
  }
}

TEST(Artifact, RejectsDamagedHeader) {
  v4c::test::TempDir dir;
  const std::string path = writeSample(dir);
  const std::string good = readBytes(path);

  std::string bytes = good;
  bytes[1] = 'X';
  writeBytes(path, bytes);
  expectOpenError(path, {"bad magic"});

  auto withHeader = [&](const std::function<void(FileHeader &)> &edit) {
    std::string patched = good;
    FileHeader header = headerOf(patched);
    edit(header);
    putHeader(patched, header);
    writeBytes(path, patched);
  };
  withHeader([](FileHeader &header) { header.version = kFormatVersion + 1; });
  expectOpenError(path, {"format version 3", "reads version 2"});

  withHeader([](FileHeader &header) { header.flags = 1; });
  expectOpenError(path, {"unknown header flags"});

  // The file size field lying, in both directions.
  withHeader([](FileHeader &header) { header.fileSize += 4096; });
  expectOpenError(path, {"truncated", "its header records " + std::to_string(good.size() + 4096)});
  withHeader([](FileHeader &header) { header.fileSize -= 1; });
  expectOpenError(path, {"the header records a file size of " + std::to_string(good.size() - 1)});

  withHeader([](FileHeader &header) { header.manifestSize = header.fileSize; });
  expectOpenError(path, {"the manifest", "extends past the end of the file"});
}

TEST(Artifact, RejectsDamagedManifest) {
  v4c::test::TempDir dir;
  const std::string path = writeSample(dir);
  const std::string good = readBytes(path);
  const FileHeader header = headerOf(good);

  // A root offset pointing outside the buffer: the Verifier catches it.
  std::string bytes = good;
  for (int i = 0; i < 4; ++i)
    bytes[header.manifestOffset + i] = char(0xff);
  writeBytes(path, bytes);
  expectOpenError(path, {"the manifest fails FlatBuffers verification"});

  // The wrong file identifier, likewise.
  bytes = good;
  bytes[header.manifestOffset + 4] ^= 0x20;
  writeBytes(path, bytes);
  expectOpenError(path, {"the manifest fails FlatBuffers verification"});

  // A flip inside the config text is well-formed FlatBuffers: the manifest checksum catches it.
  bytes = good;
  const size_t at = bytes.find("deepseek_v4", header.manifestOffset);
  ASSERT_NE(at, std::string::npos);
  bytes[at] ^= 0x01;
  writeBytes(path, bytes);
  expectOpenError(path, {"manifest checksum mismatch"});
}

TEST(Artifact, ChecksumCatchesAFlippedSegmentByte) {
  v4c::test::TempDir dir;
  const std::string path = writeSample(dir);
  std::string error;
  auto artifact = openArtifact(path, error);
  ASSERT_NE(artifact, nullptr) << error;
  const uint64_t at = artifact->tensor("layers.0.ffn.w1")->data -
                      artifact->segment("weights")->data + artifact->segment("weights")->offset + 5;
  artifact.reset();
  std::string bytes = readBytes(path);
  bytes[at] ^= 0x10;
  writeBytes(path, bytes);
  expectOpenError(path, {"segment 'weights' checksum mismatch (file corrupt?)"});

  // Skipping the checksums trades that check for speed.
  OpenOptions fast;
  fast.verifyChecksums = false;
  EXPECT_NE(openArtifact(path, error, fast), nullptr) << error;
}

TEST(Artifact, RejectsInconsistentManifest) {
  v4c::test::TempDir dir;
  const std::string path = writeSample(dir);
  const std::string good = readBytes(path);
  auto tensorNamed = [](fb::Manifest &manifest, const std::string &name) {
    for (uint32_t i = 0; i < manifest.tensors()->size(); ++i)
      if (manifest.tensors()->Get(i)->name()->str() == name)
        return manifest.mutable_tensors()->GetMutableObject(i);
    ADD_FAILURE() << "no tensor " << name;
    return static_cast<fb::Tensor *>(nullptr);
  };
  auto check = [&](const std::function<void(fb::Manifest &)> &edit,
                   const std::vector<std::string> &parts) {
    writeBytes(path, good);
    patchManifest(path, edit);
    expectOpenError(path, parts);
  };

  check(
      [&](fb::Manifest &manifest) {
        fb::Tensor *tensor = tensorNamed(manifest, "layers.0.ffn.experts");
        tensor->mutate_offset(manifest.segments()->Get(0)->size());
      },
      {"tensor 'layers.0.ffn.experts'", "lies outside segment 'weights'"});
  check([&](fb::Manifest &manifest) { tensorNamed(manifest, "layers.0.norm")->mutate_offset(32); },
        {"tensor 'layers.0.norm' at offset 32 is not aligned to 64"});
  check(
      [&](fb::Manifest &manifest) { tensorNamed(manifest, "layers.0.norm")->mutate_byte_size(8); },
      {"tensor 'layers.0.norm' has byte size 8 but BF16 [5] needs 10"});
  check([&](fb::Manifest &manifest) { tensorNamed(manifest, "layers.0.norm")->mutate_segment(7); },
        {"tensor 'layers.0.norm' refers to segment #7"});
  check(
      [](fb::Manifest &manifest) {
        auto *segments = manifest.mutable_segments();
        segments->GetMutableObject(1)->mutate_offset(segments->Get(0)->offset());
      },
      {"segments 'weights'", "and 'scales'", "overlap"});
  check(
      [](fb::Manifest &manifest) {
        manifest.mutable_segments()->GetMutableObject(0)->mutate_offset(4096 + 64);
      },
      {"segment 'weights' at offset 4160 is not aligned to 4096"});
  check(
      [](fb::Manifest &manifest) {
        manifest.mutable_segments()->GetMutableObject(0)->mutate_offset(0);
      },
      {"segment 'weights'", "overlaps the header or the manifest"});
  check([](fb::Manifest &manifest) { manifest.mutable_state()->mutate_arena_size(3000); },
        {"state buffer 'compressor.layer0'", "lies outside the state arena (3000 bytes)"});
  check([](fb::Manifest &manifest) { manifest.mutate_format_version(9); },
        {"the manifest has format version 9"});
  // Shorten "layers.0.ffn.w1.scale" to "layers.0.ffn.w1" in place (length prefix and NUL): two
  // tensors of one name.
  check(
      [&](fb::Manifest &manifest) {
        const flatbuffers::String *name = tensorNamed(manifest, "layers.0.ffn.w1.scale")->name();
        char *chars = const_cast<char *>(name->c_str());
        chars[15] = '\0';
        flatbuffers::WriteScalar<flatbuffers::uoffset_t>(chars - sizeof(flatbuffers::uoffset_t),
                                                         15);
      },
      {"duplicate tensor name 'layers.0.ffn.w1'"});
}
