// Loading and verifying .v4a artifacts, plus the format helpers the writer shares (header coding,
// checksums, dtype sizes, the manifest consistency checks).
#include "runtime/artifact/Artifact.h"

#include "runtime/artifact/Artifact_generated.h"

// Header-only xxHash (libxxhash-dev): nothing to link, so the standalone executable stays
// self-contained.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace v4c::artifact {

//===----------------------------------------------------------------------------------------===//
// Format helpers
//===----------------------------------------------------------------------------------------===//

namespace {

// Header field offsets; the reserved bytes [48, 64) stay zero.
constexpr size_t kVersionAt = 8, kFlagsAt = 12, kManifestOffsetAt = 16, kManifestSizeAt = 24,
                 kFileSizeAt = 32, kManifestChecksumAt = 40;

// Explicit little-endian coding, so that the header means the same on any host.
void putLE(uint8_t *dst, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i)
    dst[i] = uint8_t(value >> (8 * i));
}
uint64_t getLE(const uint8_t *src, unsigned bytes) {
  uint64_t value = 0;
  for (unsigned i = 0; i < bytes; ++i)
    value |= uint64_t(src[i]) << (8 * i);
  return value;
}

} // namespace

std::array<uint8_t, kHeaderSize> FileHeader::encode() const {
  std::array<uint8_t, kHeaderSize> bytes{};
  std::memcpy(bytes.data(), kMagic, sizeof(kMagic));
  putLE(&bytes[kVersionAt], version, 4);
  putLE(&bytes[kFlagsAt], flags, 4);
  putLE(&bytes[kManifestOffsetAt], manifestOffset, 8);
  putLE(&bytes[kManifestSizeAt], manifestSize, 8);
  putLE(&bytes[kFileSizeAt], fileSize, 8);
  putLE(&bytes[kManifestChecksumAt], manifestChecksum, 8);
  return bytes;
}

FileHeader FileHeader::decode(const uint8_t *bytes) {
  FileHeader header;
  header.version = uint32_t(getLE(&bytes[kVersionAt], 4));
  header.flags = uint32_t(getLE(&bytes[kFlagsAt], 4));
  header.manifestOffset = getLE(&bytes[kManifestOffsetAt], 8);
  header.manifestSize = getLE(&bytes[kManifestSizeAt], 8);
  header.fileSize = getLE(&bytes[kFileSizeAt], 8);
  header.manifestChecksum = getLE(&bytes[kManifestChecksumAt], 8);
  return header;
}

uint64_t checksum64(const void *data, uint64_t size) { return XXH3_64bits(data, size_t(size)); }

struct StreamingChecksum64::State {
  XXH3_state_t xxh;
};
StreamingChecksum64::StreamingChecksum64() : state_(new State) { XXH3_64bits_reset(&state_->xxh); }
StreamingChecksum64::~StreamingChecksum64() = default;
void StreamingChecksum64::update(const void *data, uint64_t size) {
  XXH3_64bits_update(&state_->xxh, data, size_t(size));
}
uint64_t StreamingChecksum64::digest() const { return XXH3_64bits_digest(&state_->xxh); }

std::optional<uint64_t> dtypeSize(std::string_view dtype) {
  static const std::pair<std::string_view, uint64_t> kSizes[] = {
      {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1},
      {"I8", 1},  {"U8", 1},  {"I16", 2},  {"I32", 4},     {"I64", 8},     {"BOOL", 1}};
  for (const auto &[name, size] : kSizes)
    if (name == dtype)
      return size;
  return std::nullopt;
}

std::optional<uint64_t> tensorByteSize(std::string_view dtype, const std::vector<int64_t> &shape) {
  std::optional<uint64_t> bytes = dtypeSize(dtype);
  for (int64_t dim : shape) {
    if (!bytes || dim < 0 || __builtin_mul_overflow(*bytes, uint64_t(dim), &*bytes))
      return std::nullopt;
  }
  return bytes;
}

//===----------------------------------------------------------------------------------------===//
// Manifest checks
//===----------------------------------------------------------------------------------------===//

namespace {

std::string_view str(const flatbuffers::String *s) {
  return s ? std::string_view(s->c_str(), s->size()) : std::string_view();
}

std::vector<int64_t> toVector(const flatbuffers::Vector<int64_t> *values) {
  return values ? std::vector<int64_t>(values->begin(), values->end()) : std::vector<int64_t>();
}

template <typename T> uint32_t count(const flatbuffers::Vector<flatbuffers::Offset<T>> *items) {
  return items ? items->size() : 0;
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string bytesString(uint64_t begin, uint64_t size) {
  return "bytes [" + std::to_string(begin) + ", " + std::to_string(begin + size) + ")";
}

/// offset + size <= limit, without overflow.
bool fitsIn(uint64_t offset, uint64_t size, uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

bool isPowerOfTwo(uint64_t value) { return value && !(value & (value - 1)); }

/// Checks a manifest against the file it sits in. `fileSize` is the real size; `recordedSize` is
/// what the header claims. When the file is shorter than recorded, a range that runs past its end
/// is reported as the part of the file that was cut short.
class ManifestChecker {
public:
  ManifestChecker(const std::string &file, uint64_t fileSize, uint64_t recordedSize,
                  std::string &error)
      : file_(file), fileSize_(fileSize), recordedSize_(recordedSize), error_(error) {}

  bool fail(const std::string &why) {
    error_ = file_ + ": " + why;
    return false;
  }

  bool truncated() const { return fileSize_ < recordedSize_; }
  std::string truncation() const {
    return "truncated: the file has " + std::to_string(fileSize_) +
           " bytes but its header records " + std::to_string(recordedSize_);
  }

  /// `what` (bytes [offset, offset + size)) must lie inside the file.
  bool checkInFile(const std::string &what, uint64_t offset, uint64_t size) {
    if (fitsIn(offset, size, fileSize_))
      return true;
    if (truncated())
      return fail(truncation() + "; " + what + " (" + bytesString(offset, size) + ") is cut short");
    return fail(what + " (" + bytesString(offset, size) + ") extends past the end of the file (" +
                std::to_string(fileSize_) + " bytes)");
  }

  bool checkManifestRegion(uint64_t offset, uint64_t size) {
    // 8-byte alignment keeps the manifest's scalars aligned in the page-aligned mapping.
    if (offset < kHeaderSize || offset % 8 != 0)
      return fail("manifest offset " + std::to_string(offset) +
                  " is inside the header or not 8-byte aligned");
    if (size == 0 || size >= FLATBUFFERS_MAX_BUFFER_SIZE)
      return fail("manifest size " + std::to_string(size) + " is out of range");
    return checkInFile("the manifest", offset, size);
  }

  const fb::Manifest *verify(const uint8_t *manifest, uint64_t size) {
    flatbuffers::Verifier::Options options;
    options.max_tables = 100'000'000; // a large MoE has a few hundred thousand tensors
    flatbuffers::Verifier verifier(manifest, size, options);
    if (!fb::VerifyManifestBuffer(verifier)) {
      fail("the manifest fails FlatBuffers verification (file corrupt?)");
      return nullptr;
    }
    return fb::GetManifest(manifest);
  }

  bool checkConsistency(const fb::Manifest &manifest, uint64_t manifestEnd) {
    if (manifest.format_version() != kFormatVersion)
      return fail("the manifest has format version " + std::to_string(manifest.format_version()) +
                  "; this loader reads version " + std::to_string(kFormatVersion));
    return checkSegments(manifest, manifestEnd) && checkTensors(manifest) && checkState(manifest) &&
           checkUniqueNames(manifest.entry_points(), "entry point");
  }

private:
  template <typename T>
  bool checkUniqueNames(const flatbuffers::Vector<flatbuffers::Offset<T>> *items,
                        const std::string &kind) {
    std::unordered_set<std::string_view> seen;
    for (uint32_t i = 0; i < count(items); ++i) {
      std::string_view name = str(items->Get(i)->name());
      if (name.empty())
        return fail(kind + " #" + std::to_string(i) + " has no name");
      if (!seen.insert(name).second)
        return fail("duplicate " + kind + " name '" + std::string(name) + "'");
    }
    return true;
  }

  bool checkSegments(const fb::Manifest &manifest, uint64_t manifestEnd) {
    const auto *segments = manifest.segments();
    if (!checkUniqueNames(segments, "segment"))
      return false;
    std::vector<const fb::Segment *> byOffset;
    for (uint32_t i = 0; i < count(segments); ++i) {
      const fb::Segment *segment = segments->Get(i);
      const std::string what = "segment '" + std::string(str(segment->name())) + "'";
      if (!isPowerOfTwo(segment->alignment()) || segment->alignment() < kSegmentAlignment)
        return fail(what + " has alignment " + std::to_string(segment->alignment()) +
                    "; expected a power of two of at least " + std::to_string(kSegmentAlignment));
      if (segment->offset() % segment->alignment() != 0)
        return fail(what + " at offset " + std::to_string(segment->offset()) +
                    " is not aligned to " + std::to_string(segment->alignment()));
      if (segment->offset() < manifestEnd)
        return fail(what + " (" + bytesString(segment->offset(), segment->size()) +
                    ") overlaps the header or the manifest");
      if (!checkInFile(what, segment->offset(), segment->size()))
        return false;
      byOffset.push_back(segment);
    }
    std::sort(byOffset.begin(), byOffset.end(),
              [](const fb::Segment *a, const fb::Segment *b) { return a->offset() < b->offset(); });
    for (size_t i = 1; i < byOffset.size(); ++i) {
      const fb::Segment *a = byOffset[i - 1], *b = byOffset[i];
      if (a->offset() + a->size() > b->offset())
        return fail("segments '" + std::string(str(a->name())) + "' (" +
                    bytesString(a->offset(), a->size()) + ") and '" + std::string(str(b->name())) +
                    "' (" + bytesString(b->offset(), b->size()) + ") overlap");
    }
    return true;
  }

  bool checkTensors(const fb::Manifest &manifest) {
    const auto *tensors = manifest.tensors();
    if (!checkUniqueNames(tensors, "tensor"))
      return false;
    for (uint32_t i = 0; i < count(tensors); ++i) {
      const fb::Tensor *tensor = tensors->Get(i);
      const std::string what = "tensor '" + std::string(str(tensor->name())) + "'";
      if (tensor->segment() >= count(manifest.segments()))
        return fail(what + " refers to segment #" + std::to_string(tensor->segment()) +
                    " but there are " + std::to_string(count(manifest.segments())));
      const fb::Segment *segment = manifest.segments()->Get(tensor->segment());
      const std::string dtype(str(tensor->dtype()));
      const std::vector<int64_t> shape = toVector(tensor->shape());
      if (!dtypeSize(dtype))
        return fail(what + " has unknown dtype '" + dtype + "'");
      std::optional<uint64_t> bytes = tensorByteSize(dtype, shape);
      if (!bytes)
        return fail(what + " has an invalid shape " + shapeString(shape));
      if (*bytes != tensor->byte_size())
        return fail(what + " has byte size " + std::to_string(tensor->byte_size()) + " but " +
                    dtype + " " + shapeString(shape) + " needs " + std::to_string(*bytes));
      if (tensor->offset() % kTensorAlignment != 0)
        return fail(what + " at offset " + std::to_string(tensor->offset()) +
                    " is not aligned to " + std::to_string(kTensorAlignment));
      if (!fitsIn(tensor->offset(), tensor->byte_size(), segment->size()))
        return fail(what + " (" + bytesString(tensor->offset(), tensor->byte_size()) +
                    ") lies outside segment '" + std::string(str(segment->name())) + "' (" +
                    std::to_string(segment->size()) + " bytes)");
    }
    return true;
  }

  bool checkState(const fb::Manifest &manifest) {
    const fb::StateLayout *state = manifest.state();
    if (!state)
      return true;
    if (state->max_seq_len() < 0)
      return fail("negative max_seq_len " + std::to_string(state->max_seq_len()));
    if (!checkUniqueNames(state->buffers(), "state buffer"))
      return false;
    for (uint32_t i = 0; i < count(state->buffers()); ++i) {
      const fb::StateBuffer *buffer = state->buffers()->Get(i);
      const std::string what = "state buffer '" + std::string(str(buffer->name())) + "'";
      const std::vector<int64_t> shape = toVector(buffer->shape());
      if (std::any_of(shape.begin(), shape.end(), [](int64_t dim) { return dim < 0; }))
        return fail(what + " has an invalid shape " + shapeString(shape));
      if (!fitsIn(buffer->offset(), buffer->byte_size(), state->arena_size()))
        return fail(what + " (" + bytesString(buffer->offset(), buffer->byte_size()) +
                    ") lies outside the state arena (" + std::to_string(state->arena_size()) +
                    " bytes)");
    }
    return true;
  }

  const std::string &file_;
  uint64_t fileSize_, recordedSize_;
  std::string &error_;
};

} // namespace

bool checkManifest(const uint8_t *manifest, uint64_t manifestSize, uint64_t manifestOffset,
                   uint64_t fileSize, const std::string &file, std::string &error) {
  ManifestChecker checker(file, fileSize, fileSize, error);
  if (!checker.checkManifestRegion(manifestOffset, manifestSize))
    return false;
  const fb::Manifest *parsed = checker.verify(manifest, manifestSize);
  return parsed && checker.checkConsistency(*parsed, manifestOffset + manifestSize);
}

//===----------------------------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------------------------===//

Artifact::~Artifact() {
  if (mapping_)
    ::munmap(const_cast<uint8_t *>(mapping_), mappingSize_);
}

const TensorView *Artifact::tensor(std::string_view name) const {
  auto it = tensorIndex_.find(name);
  return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
}

const SegmentView *Artifact::segment(std::string_view name) const {
  auto it = segmentIndex_.find(name);
  return it == segmentIndex_.end() ? nullptr : &segments_[it->second];
}

bool Artifact::load(const OpenOptions &options, std::string &error) {
  const uint64_t size = mappingSize_;
  if (size < kHeaderSize) {
    error = path_ + ": truncated: the file has " + std::to_string(size) + " bytes, less than the " +
            std::to_string(kHeaderSize) + "-byte header";
    return false;
  }
  const FileHeader header = FileHeader::decode(mapping_);
  ManifestChecker checker(path_, size, header.fileSize, error);
  if (std::memcmp(mapping_, kMagic, sizeof(kMagic)) != 0)
    return checker.fail("not a v4c artifact (bad magic)");
  if (header.version != kFormatVersion)
    return checker.fail("format version " + std::to_string(header.version) +
                        "; this loader reads version " + std::to_string(kFormatVersion) +
                        " (recompile the model)");
  if (header.flags != 0)
    return checker.fail("unknown header flags " + std::to_string(header.flags));
  if (header.fileSize < size)
    return checker.fail("the header records a file size of " + std::to_string(header.fileSize) +
                        " bytes but the file has " + std::to_string(size) +
                        " (corrupt header or trailing bytes)");

  // Structure first (so that nothing below reads outside the manifest), then its checksum for the
  // flips the Verifier cannot see, then the meaning.
  if (!checker.checkManifestRegion(header.manifestOffset, header.manifestSize))
    return false;
  const uint8_t *manifestBytes = mapping_ + header.manifestOffset;
  const fb::Manifest *manifest = checker.verify(manifestBytes, header.manifestSize);
  if (!manifest)
    return false;
  if (checksum64(manifestBytes, header.manifestSize) != header.manifestChecksum)
    return checker.fail("manifest checksum mismatch (file corrupt?)");
  if (!checker.checkConsistency(*manifest, header.manifestOffset + header.manifestSize))
    return false;
  if (checker.truncated()) // every recorded range fits: only padding is missing, still corrupt
    return checker.fail(checker.truncation());

  formatVersion_ = manifest->format_version();
  config_ = std::string(str(manifest->config()));
  if (const fb::Target *target = manifest->target())
    target_ = {std::string(str(target->kind())), std::string(str(target->triple())),
               std::string(str(target->cpu())), std::string(str(target->features())),
               std::string(str(target->precision_mode())), std::string(str(target->device()))};
  if (const fb::Build *build = manifest->build())
    build_ = {std::string(str(build->v4c_version())), std::string(str(build->pipeline()))};
  for (uint32_t i = 0; i < count(manifest->entry_points()); ++i) {
    const fb::EntryPoint *entry = manifest->entry_points()->Get(i);
    entryPoints_.push_back({std::string(str(entry->name())), std::string(str(entry->symbol()))});
  }
  if (const fb::StateLayout *state = manifest->state()) {
    state_.arenaSize = state->arena_size();
    state_.maxSeqLen = state->max_seq_len();
    for (uint32_t i = 0; i < count(state->buffers()); ++i) {
      const fb::StateBuffer *buffer = state->buffers()->Get(i);
      state_.buffers.push_back({std::string(str(buffer->name())), std::string(str(buffer->kind())),
                                toVector(buffer->shape()), buffer->offset(), buffer->byte_size()});
    }
  }

  for (uint32_t i = 0; i < count(manifest->segments()); ++i) {
    const fb::Segment *segment = manifest->segments()->Get(i);
    SegmentView view;
    view.name = std::string(str(segment->name()));
    view.offset = segment->offset();
    view.size = segment->size();
    view.alignment = segment->alignment();
    view.checksum = segment->checksum();
    view.data = mapping_ + segment->offset();
    if (options.verifyChecksums && checksum64(view.data, view.size) != view.checksum)
      return checker.fail("segment '" + view.name + "' checksum mismatch (file corrupt?)");
    segments_.push_back(std::move(view));
  }
  for (uint32_t i = 0; i < count(manifest->tensors()); ++i) {
    const fb::Tensor *tensor = manifest->tensors()->Get(i);
    TensorView view;
    view.name = std::string(str(tensor->name()));
    view.dtype = std::string(str(tensor->dtype()));
    view.shape = toVector(tensor->shape());
    if (const auto *sources = tensor->source())
      for (const flatbuffers::String *source : *sources)
        view.sources.emplace_back(str(source));
    view.segment = tensor->segment();
    view.offset = tensor->offset();
    view.byteSize = tensor->byte_size();
    view.data = segments_[view.segment].data + view.offset;
    tensors_.push_back(std::move(view));
  }
  // Only now, with both vectors final, can the indexes view their names.
  for (size_t i = 0; i < segments_.size(); ++i)
    segmentIndex_.emplace(segments_[i].name, i);
  for (size_t i = 0; i < tensors_.size(); ++i)
    tensorIndex_.emplace(tensors_[i].name, i);
  return true;
}

std::unique_ptr<Artifact> openArtifact(const std::string &path, std::string &error,
                                       const OpenOptions &options) {
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    return nullptr;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat status;
  if (::fstat(fd, &status) != 0) {
    const int savedErrno = errno;
    ::close(fd);
    return fail(std::string("cannot stat: ") + std::strerror(savedErrno));
  }
  if (!S_ISREG(status.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  std::unique_ptr<Artifact> artifact(new Artifact(path));
  artifact->mappingSize_ = uint64_t(status.st_size);
  if (artifact->mappingSize_ > 0) { // mmap rejects length 0; load() reports the empty file
    void *mapping = ::mmap(nullptr, artifact->mappingSize_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int savedErrno = errno;
    ::close(fd);
    if (mapping == MAP_FAILED)
      return fail(std::string("cannot map: ") + std::strerror(savedErrno));
    artifact->mapping_ = static_cast<const uint8_t *>(mapping);
  } else {
    ::close(fd);
  }
  if (!artifact->load(options, error))
    return nullptr;
  return artifact;
}

} // namespace v4c::artifact
