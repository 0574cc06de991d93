// The compiled-model artifact (.v4a): its file layout, a streaming writer and a verifying loader.
// Plain C++17 over header-only FlatBuffers: the runtime links no LLVM (ARCHITECTURE.md decision 7).
//
// File layout (all integers little-endian):
//   [0, 64)          header: magic "V4CA\0\0\0\0", u32 format version, u32 flags (0), u64 manifest
//                    offset (64), u64 manifest size, u64 file size, u64 checksum of the
//                    manifest bytes, 16 reserved zero bytes
//   [64, 64 + size)  the FlatBuffers manifest (Artifact.fbs, file_identifier "V4CA")
//   segments         each at a 4096-byte aligned offset, in manifest order; the file ends with the
//                    last segment. Tensors inside a segment start at multiples of 64 bytes.
// Checksums are XXH3-64 (xxHash 0.8, seed 0): tens of GB/s, so verifying a large model on
// load costs about what reading it does (version 1 used FNV-1a, at ~1 GB/s).
// No timestamps or paths are recorded: the same inputs give byte-identical files.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace v4c::artifact {

constexpr char kMagic[8] = {'V', '4', 'C', 'A', '\0', '\0', '\0', '\0'};
constexpr uint32_t kFormatVersion = 2; // 2: XXH3-64 checksums (1: FNV-1a)
constexpr uint64_t kHeaderSize = 64;
constexpr uint64_t kSegmentAlignment = 4096; // a page: every segment can be mapped on its own
constexpr uint64_t kTensorAlignment = 64;    // a cache line, and enough for any vector load

/// The header's fields. The magic is not a field: encode() writes it, the loader checks it.
struct FileHeader {
  uint32_t version = kFormatVersion;
  uint32_t flags = 0; // no flags are defined; the loader rejects any
  uint64_t manifestOffset = kHeaderSize;
  uint64_t manifestSize = 0;
  uint64_t fileSize = 0;
  uint64_t manifestChecksum = 0; // checksum64 of the manifest bytes

  std::array<uint8_t, kHeaderSize> encode() const;
  /// Reads the fields of 64 header bytes, whatever their magic.
  static FileHeader decode(const uint8_t *bytes);
};

/// The artifact checksum (XXH3-64, seed 0) of `size` bytes.
uint64_t checksum64(const void *data, uint64_t size);
/// The same checksum over bytes fed in pieces of any size.
class StreamingChecksum64 {
public:
  StreamingChecksum64();
  ~StreamingChecksum64();
  StreamingChecksum64(const StreamingChecksum64 &) = delete;
  StreamingChecksum64 &operator=(const StreamingChecksum64 &) = delete;
  void update(const void *data, uint64_t size);
  uint64_t digest() const;

private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Bytes per element of a dtype spelled as in safetensors: F32 F16 BF16 F8_E4M3 F8_E5M2 F8_E8M0
/// I8 U8 I16 I32 I64 BOOL. Packed FP4 (e2m1, two values a byte) is stored as I8 with the packed
/// shape. nullopt for anything else.
std::optional<uint64_t> dtypeSize(std::string_view dtype);
/// product(shape) * dtypeSize(dtype); nullopt for an unknown dtype, a negative dimension or a size
/// that does not fit 64 bits.
std::optional<uint64_t> tensorByteSize(std::string_view dtype, const std::vector<int64_t> &shape);

//===----------------------------------------------------------------------------------------===//
// What the manifest records (shared by the writer and the loader)
//===----------------------------------------------------------------------------------------===//

struct TargetInfo {
  std::string kind;          // "cpu" or "npu"
  std::string triple;        // "x86_64-unknown-linux-gnu"
  std::string cpu;           // "znver4"
  std::string features;      // "+avx512f,+avx512bf16"
  std::string precisionMode; // "faithful", "dequant", ...
  std::string device;        // the accelerator the kernels are for (NPU: its description)
};

struct BuildInfo {
  std::string version;  // the v4c version string
  std::string pipeline; // the pass pipeline that produced the artifact
};

struct EntryPoint {
  std::string name;   // "prefill", "decode", ...
  std::string symbol; // the exported symbol in the code segment
};

/// One buffer of the per-sequence state (KV cache, compressor state, ...) inside the state arena,
/// which the runtime allocates; the artifact only records the layout.
struct StateBuffer {
  std::string name;
  std::string kind; // "kv_cache", "compressor_state", ...
  std::vector<int64_t> shape;
  uint64_t offset = 0; // from the start of the arena
  uint64_t byteSize = 0;
};

struct StateLayout {
  uint64_t arenaSize = 0;
  int64_t maxSeqLen = 0;
  std::vector<StateBuffer> buffers;
};

/// A tensor as described to the writer; the loader's TensorView adds where it landed.
struct TensorDesc {
  std::string name;
  std::string dtype; // see dtypeSize()
  std::vector<int64_t> shape;
  std::vector<std::string> sources; // the checkpoint tensor(s) it was made from
};

//===----------------------------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------------------------===//

/// Produces the bytes of one tensor or blob: must fill all of dst[0, size). Called once, in file
/// order, while the artifact is written. Returns false and sets `error` to abort the write.
using FillFn = std::function<bool(uint8_t *dst, uint64_t size, std::string &error)>;

/// A FillFn that copies `size` bytes from `src`, which must stay valid until write() returns
/// (e.g. an mmap-ed checkpoint tensor).
FillFn copyFrom(const void *src);

/// Describes an artifact, then streams it to disk. Only the description is held in memory: the
/// bytes come from the fill callbacks, one tensor at a time.
///
///   ArtifactWriter writer;
///   writer.setConfig(configJson);
///   auto weights = writer.addTensorSegment("weights");
///   writer.addTensor(weights, {"embed.weight", "BF16", {vocab, dim}, {"embed.weight"}}, fill);
///   writer.addBlobSegment("code", std::move(sharedObjectBytes));
///   if (!writer.write("model.v4a", error)) ...
class ArtifactWriter {
public:
  using SegmentId = uint32_t;

  void setConfig(std::string configJson);
  void setTarget(TargetInfo target);
  void setBuild(BuildInfo build);
  void addEntryPoint(EntryPoint entry);
  void setState(StateLayout state);

  /// A segment of tensors, each placed at the next 64-byte aligned offset in the order added.
  SegmentId addTensorSegment(std::string name);
  /// The byte size follows from dtype and shape; `fill` gets exactly that many bytes.
  void addTensor(SegmentId segment, TensorDesc tensor, FillFn fill);
  /// A segment of `size` raw bytes (e.g. "code": the compiled shared object).
  SegmentId addBlobSegment(std::string name, uint64_t size, FillFn fill);
  SegmentId addBlobSegment(std::string name, std::vector<uint8_t> bytes);

  /// Plans the layout, checks it as the loader would, then streams header, manifest and segments
  /// to a temporary file next to `path` and renames it over `path`. On failure nothing is left
  /// behind and `error` names the file and the cause. May be called more than once (the fill
  /// callbacks run again each time).
  bool write(const std::string &path, std::string &error) const;

private:
  struct Item {
    TensorDesc tensor; // empty name for the payload of a blob segment
    uint64_t blobSize = 0;
    FillFn fill;
  };
  struct Segment {
    std::string name;
    bool isBlob = false;
    std::vector<Item> items;
  };
  struct Plan;

  bool plan(Plan &plan, std::string &error) const;

  std::string config_;
  TargetInfo target_;
  BuildInfo build_;
  std::vector<EntryPoint> entryPoints_;
  StateLayout state_;
  std::vector<Segment> segments_;
  std::string misuse_; // the first API misuse (e.g. a bad SegmentId), reported by write()
};

//===----------------------------------------------------------------------------------------===//
// Loader
//===----------------------------------------------------------------------------------------===//

/// A tensor of a loaded artifact; `data` points into the read-only mapping.
struct TensorView : TensorDesc {
  uint32_t segment = 0;
  uint64_t offset = 0; // within the segment
  uint64_t byteSize = 0;
  const uint8_t *data = nullptr;
};

struct SegmentView {
  std::string name;
  uint64_t offset = 0; // within the file
  uint64_t size = 0;
  uint64_t alignment = 0;
  uint64_t checksum = 0;
  const uint8_t *data = nullptr;
};

struct OpenOptions {
  /// Recompute every segment's checksum (reads every byte of the file). Off trades safety for a
  /// fast open of a large model; the manifest's own checksum is always verified.
  bool verifyChecksums = true;
};

/// A verified, read-only mapped artifact. Everything it hands out lives as long as it does.
class Artifact {
public:
  Artifact(const Artifact &) = delete;
  Artifact &operator=(const Artifact &) = delete;
  ~Artifact();

  const std::string &path() const { return path_; }
  uint32_t formatVersion() const { return formatVersion_; }
  /// The model's config.json text, verbatim.
  const std::string &config() const { return config_; }
  const TargetInfo &target() const { return target_; }
  const BuildInfo &build() const { return build_; }
  const std::vector<EntryPoint> &entryPoints() const { return entryPoints_; }
  const StateLayout &state() const { return state_; }

  const std::vector<TensorView> &tensors() const { return tensors_; }
  /// nullptr if there is no tensor of that name.
  const TensorView *tensor(std::string_view name) const;
  const std::vector<SegmentView> &segments() const { return segments_; }
  /// nullptr if there is no segment of that name.
  const SegmentView *segment(std::string_view name) const;

private:
  friend std::unique_ptr<Artifact> openArtifact(const std::string &, std::string &,
                                                const OpenOptions &);
  explicit Artifact(std::string path) : path_(std::move(path)) {}
  bool load(const OpenOptions &options, std::string &error);

  std::string path_;
  const uint8_t *mapping_ = nullptr;
  uint64_t mappingSize_ = 0;
  uint32_t formatVersion_ = 0;
  std::string config_;
  TargetInfo target_;
  BuildInfo build_;
  std::vector<EntryPoint> entryPoints_;
  StateLayout state_;
  std::vector<TensorView> tensors_;
  std::vector<SegmentView> segments_;
  // Keys view the names in tensors_/segments_, which never change after loading.
  std::unordered_map<std::string_view, size_t> tensorIndex_, segmentIndex_;
};

/// Maps `path` read-only and verifies it: header (magic, version, sizes against the real file
/// size), FlatBuffers Verifier and checksum of the manifest, then consistency (segments inside the
/// file, aligned, disjoint; tensors inside their segment, aligned, sized by dtype and shape; state
/// buffers inside the arena; unique names) and, unless disabled, every segment's checksum.
/// Returns nullptr and sets `error` (naming the file and the culprit) on any failure.
std::unique_ptr<Artifact> openArtifact(const std::string &path, std::string &error,
                                       const OpenOptions &options = {});

/// The loader's consistency checks on a manifest in memory (Verifier included, checksums not),
/// for a file of `fileSize` bytes whose manifest is at `manifestOffset`. The writer runs it before
/// writing, so it never produces a file the loader would reject. Messages start with `file`.
bool checkManifest(const uint8_t *manifest, uint64_t manifestSize, uint64_t manifestOffset,
                   uint64_t fileSize, const std::string &file, std::string &error);

} // namespace v4c::artifact
