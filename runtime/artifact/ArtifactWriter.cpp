// Streaming the artifact to disk.
//
// The manifest records every segment's offset and checksum, but the offsets depend on the
// manifest's size and the checksums are known only once the bytes have streamed past. The writer
// therefore (1) builds the manifest with zero offsets and checksums, forcing every scalar field to
// be stored so that patching a value can never change the size, (2) places the segments after it
// and patches their offsets in place, (3) streams the segments behind a zero-filled header and
// manifest region, hashing as it goes, and (4) patches the checksums and pwrite()s the real
// manifest and header into the reserved region. Nothing but the description and one tensor's bytes
// is ever held in memory.
#include "runtime/artifact/Artifact.h"

#include "runtime/artifact/Artifact_generated.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace v4c::artifact {
namespace {

/// value rounded up to a multiple of `align` (a power of two); false on overflow.
bool alignUp(uint64_t value, uint64_t align, uint64_t &result) {
  if (__builtin_add_overflow(value, align - 1, &result))
    return false;
  result &= ~(align - 1);
  return true;
}

bool pwriteAll(int fd, const uint8_t *bytes, uint64_t size, uint64_t offset) {
  while (size > 0) {
    ssize_t written = ::pwrite(fd, bytes, size, off_t(offset));
    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0)
      return false;
    bytes += written;
    offset += uint64_t(written);
    size -= uint64_t(written);
  }
  return true;
}

/// Sequential writes through a fixed buffer; writes larger than the buffer go straight to the fd.
class FileSink {
public:
  explicit FileSink(int fd) : fd_(fd) { buffer_.reserve(kCapacity); }

  bool write(const uint8_t *bytes, uint64_t size) {
    if (buffer_.size() + size > kCapacity && !flush())
      return false;
    position_ += size;
    if (size >= kCapacity)
      return pwriteAll(fd_, bytes, size, position_ - size);
    buffer_.insert(buffer_.end(), bytes, bytes + size);
    return true;
  }

  bool zeros(uint64_t count) {
    static const uint8_t kZeros[4096] = {};
    for (uint64_t chunk; count > 0; count -= chunk) {
      chunk = std::min<uint64_t>(count, sizeof(kZeros));
      if (!write(kZeros, chunk))
        return false;
    }
    return true;
  }

  bool flush() {
    const uint64_t start = position_ - buffer_.size();
    const bool ok = pwriteAll(fd_, buffer_.data(), buffer_.size(), start);
    buffer_.clear();
    return ok;
  }

  uint64_t position() const { return position_; }

private:
  static constexpr uint64_t kCapacity = 1 << 20;
  int fd_;
  uint64_t position_ = 0; // bytes accepted so far, buffered or not
  std::vector<uint8_t> buffer_;
};

/// A temporary file next to the target (same filesystem, so rename() is atomic), removed unless
/// committed.
class TempFile {
public:
  ~TempFile() {
    if (fd_ >= 0)
      ::close(fd_);
    if (!path_.empty())
      ::unlink(path_.c_str());
  }

  bool create(const std::string &target, std::string &error) {
    std::string path = target + ".tmp-XXXXXX";
    fd_ = ::mkstemp(&path[0]);
    if (fd_ < 0) {
      error = target + ": cannot create a temporary file next to it: " + std::strerror(errno);
      return false;
    }
    path_ = std::move(path);
    ::fchmod(fd_, 0644); // mkstemp creates 0600; an artifact is read by whoever runs the model
    return true;
  }

  int fd() const { return fd_; }

  bool commit(const std::string &target, std::string &error) {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 || std::rename(path_.c_str(), target.c_str()) != 0) {
      error = target + ": cannot write: " + std::strerror(errno);
      return false;
    }
    path_.clear();
    return true;
  }

private:
  std::string path_;
  int fd_ = -1;
};

} // namespace

//===----------------------------------------------------------------------------------------===//
// Description
//===----------------------------------------------------------------------------------------===//

FillFn copyFrom(const void *src) {
  return [src](uint8_t *dst, uint64_t size, std::string &) {
    std::memcpy(dst, src, size);
    return true;
  };
}

void ArtifactWriter::setConfig(std::string configJson) { config_ = std::move(configJson); }
void ArtifactWriter::setTarget(TargetInfo target) { target_ = std::move(target); }
void ArtifactWriter::setBuild(BuildInfo build) { build_ = std::move(build); }
void ArtifactWriter::addEntryPoint(EntryPoint entry) { entryPoints_.push_back(std::move(entry)); }
void ArtifactWriter::setState(StateLayout state) { state_ = std::move(state); }

ArtifactWriter::SegmentId ArtifactWriter::addTensorSegment(std::string name) {
  segments_.push_back({std::move(name), /*isBlob=*/false, {}});
  return SegmentId(segments_.size() - 1);
}

void ArtifactWriter::addTensor(SegmentId segment, TensorDesc tensor, FillFn fill) {
  if (segment >= segments_.size() || segments_[segment].isBlob) {
    if (misuse_.empty())
      misuse_ = "tensor '" + tensor.name + "' added to segment #" + std::to_string(segment) +
                ", which is not a tensor segment";
    return;
  }
  segments_[segment].items.push_back({std::move(tensor), 0, std::move(fill)});
}

ArtifactWriter::SegmentId ArtifactWriter::addBlobSegment(std::string name, uint64_t size,
                                                         FillFn fill) {
  segments_.push_back({std::move(name), /*isBlob=*/true, {}});
  segments_.back().items.push_back({TensorDesc{}, size, std::move(fill)});
  return SegmentId(segments_.size() - 1);
}

ArtifactWriter::SegmentId ArtifactWriter::addBlobSegment(std::string name,
                                                         std::vector<uint8_t> bytes) {
  // Shared so that the FillFn stays copyable; the bytes live as long as the writer.
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  const uint64_t size = owned->size();
  return addBlobSegment(std::move(name), size, [owned](uint8_t *dst, uint64_t size, std::string &) {
    std::memcpy(dst, owned->data(), size);
    return true;
  });
}

//===----------------------------------------------------------------------------------------===//
// Planning
//===----------------------------------------------------------------------------------------===//

struct ArtifactWriter::Plan {
  // Per segment, per item: offset and size within the segment.
  std::vector<std::vector<uint64_t>> itemOffsets, itemSizes;
  std::vector<uint64_t> segmentSizes, segmentOffsets;
  uint64_t fileSize = 0;
  // The manifest with final offsets; its checksums are patched after streaming.
  flatbuffers::FlatBufferBuilder manifest;
};

namespace {

std::string itemLabel(const std::string &segmentName, const TensorDesc &tensor) {
  return tensor.name.empty() ? "segment '" + segmentName + "'" : "tensor '" + tensor.name + "'";
}

} // namespace

bool ArtifactWriter::plan(Plan &plan, std::string &error) const {
  auto fail = [&](const std::string &why) {
    error = why;
    return false;
  };
  if (!misuse_.empty())
    return fail(misuse_);

  // 1. Tensors at 64-byte aligned offsets inside their segment, in the order they were added.
  for (const Segment &segment : segments_) {
    std::vector<uint64_t> offsets, sizes;
    uint64_t end = 0;
    for (const Item &item : segment.items) {
      const std::string label = itemLabel(segment.name, item.tensor);
      std::optional<uint64_t> size =
          segment.isBlob ? item.blobSize : tensorByteSize(item.tensor.dtype, item.tensor.shape);
      if (!size)
        return fail(label + " has an unknown dtype '" + item.tensor.dtype +
                    "' or an invalid shape");
      if (!item.fill && *size > 0)
        return fail(label + " has no fill callback");
      uint64_t offset;
      if (!alignUp(end, kTensorAlignment, offset) || __builtin_add_overflow(offset, *size, &end))
        return fail("segment '" + segment.name + "' does not fit 64 bits at " + label);
      offsets.push_back(offset);
      sizes.push_back(*size);
    }
    plan.itemOffsets.push_back(std::move(offsets));
    plan.itemSizes.push_back(std::move(sizes));
    plan.segmentSizes.push_back(end);
  }

  // 2. The manifest, every field stored (see the top of this file), segment offsets still 0.
  // Every child is created into a named local first: C++ leaves the evaluation order of call
  // arguments open, and a different order would give different (if equivalent) bytes.
  flatbuffers::FlatBufferBuilder &fbb = plan.manifest;
  fbb.ForceDefaults(true);
  auto strings = [&](const std::vector<std::string> &values) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> offsets;
    for (const std::string &value : values)
      offsets.push_back(fbb.CreateString(value));
    return fbb.CreateVector(offsets);
  };
  std::vector<flatbuffers::Offset<fb::EntryPoint>> entries;
  for (const EntryPoint &entry : entryPoints_) {
    auto name = fbb.CreateString(entry.name);
    auto symbol = fbb.CreateString(entry.symbol);
    entries.push_back(fb::CreateEntryPoint(fbb, name, symbol));
  }
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (size_t s = 0; s < segments_.size(); ++s) {
    if (segments_[s].isBlob)
      continue;
    for (size_t i = 0; i < segments_[s].items.size(); ++i) {
      const TensorDesc &tensor = segments_[s].items[i].tensor;
      auto name = fbb.CreateString(tensor.name);
      auto dtype = fbb.CreateString(tensor.dtype);
      auto shape = fbb.CreateVector(tensor.shape);
      auto sources = strings(tensor.sources);
      tensors.push_back(fb::CreateTensor(fbb, name, dtype, shape, uint32_t(s),
                                         plan.itemOffsets[s][i], plan.itemSizes[s][i], sources));
    }
  }
  std::vector<flatbuffers::Offset<fb::StateBuffer>> buffers;
  for (const StateBuffer &buffer : state_.buffers) {
    auto name = fbb.CreateString(buffer.name);
    auto kind = fbb.CreateString(buffer.kind);
    auto shape = fbb.CreateVector(buffer.shape);
    buffers.push_back(
        fb::CreateStateBuffer(fbb, name, kind, shape, buffer.offset, buffer.byteSize));
  }
  std::vector<flatbuffers::Offset<fb::Segment>> segments;
  for (size_t s = 0; s < segments_.size(); ++s) {
    auto name = fbb.CreateString(segments_[s].name);
    segments.push_back(fb::CreateSegment(fbb, name, /*offset=*/0, plan.segmentSizes[s],
                                         kSegmentAlignment, /*checksum=*/0));
  }
  auto config = fbb.CreateString(config_);
  auto kind = fbb.CreateString(target_.kind);
  auto triple = fbb.CreateString(target_.triple);
  auto cpu = fbb.CreateString(target_.cpu);
  auto features = fbb.CreateString(target_.features);
  auto precisionMode = fbb.CreateString(target_.precisionMode);
  auto device = fbb.CreateString(target_.device);
  auto target = fb::CreateTarget(fbb, kind, triple, cpu, features, precisionMode, device);
  auto version = fbb.CreateString(build_.version);
  auto pipeline = fbb.CreateString(build_.pipeline);
  auto build = fb::CreateBuild(fbb, version, pipeline);
  auto entryVector = fbb.CreateVector(entries);
  auto tensorVector = fbb.CreateVector(tensors);
  auto bufferVector = fbb.CreateVector(buffers);
  auto state = fb::CreateStateLayout(fbb, state_.arenaSize, state_.maxSeqLen, bufferVector);
  auto segmentVector = fbb.CreateVector(segments);
  fbb.Finish(fb::CreateManifest(fbb, kFormatVersion, config, target, build, entryVector,
                                tensorVector, state, segmentVector),
             fb::ManifestIdentifier());

  // 3. Segments on page boundaries after the manifest; the file ends with the last one.
  uint64_t end = kHeaderSize + fbb.GetSize();
  auto *patched = fb::GetMutableManifest(fbb.GetBufferPointer())->mutable_segments();
  for (size_t s = 0; s < segments_.size(); ++s) {
    uint64_t offset;
    if (!alignUp(end, kSegmentAlignment, offset) ||
        __builtin_add_overflow(offset, plan.segmentSizes[s], &end))
      return fail("segment '" + segments_[s].name + "' does not fit 64 bits");
    plan.segmentOffsets.push_back(offset);
    patched->GetMutableObject(flatbuffers::uoffset_t(s))->mutate_offset(offset);
  }
  plan.fileSize = end;
  return true;
}

//===----------------------------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------------------------===//

bool ArtifactWriter::write(const std::string &path, std::string &error) const {
  Plan plan;
  std::string why;
  if (!this->plan(plan, why)) {
    error = path + ": " + why;
    return false;
  }
  // Refuse to write anything the loader would reject (duplicate names, state outside the arena).
  flatbuffers::FlatBufferBuilder &fbb = plan.manifest;
  if (!checkManifest(fbb.GetBufferPointer(), fbb.GetSize(), kHeaderSize, plan.fileSize, path,
                     error))
    return false;

  TempFile temp;
  if (!temp.create(path, error))
    return false;
  FileSink sink(temp.fd());
  bool ioOk = sink.zeros(kHeaderSize + fbb.GetSize()); // reserved for the header and manifest
  std::vector<uint8_t> scratch;                        // one tensor at a time, reused
  std::vector<uint64_t> checksums;
  for (size_t s = 0; ioOk && s < segments_.size(); ++s) {
    ioOk = sink.zeros(plan.segmentOffsets[s] - sink.position());
    StreamingChecksum64 checksum;
    uint64_t end = 0;
    // Every byte of the segment is hashed, the zero padding between tensors included.
    auto emit = [&](const uint8_t *bytes, uint64_t size) {
      checksum.update(bytes, size);
      return sink.write(bytes, size);
    };
    for (size_t i = 0; ioOk && i < segments_[s].items.size(); ++i) {
      static const uint8_t kPadding[kTensorAlignment] = {};
      const Item &item = segments_[s].items[i];
      const uint64_t offset = plan.itemOffsets[s][i], size = plan.itemSizes[s][i];
      ioOk = emit(kPadding, offset - end);
      // Zeroed first, so that a callback that leaves bytes unwritten still gives a
      // deterministic file.
      scratch.assign(size, 0);
      if (ioOk && size > 0 && !item.fill(scratch.data(), size, why)) {
        error = path + ": cannot write " + itemLabel(segments_[s].name, item.tensor) + ": " + why;
        return false;
      }
      ioOk = ioOk && emit(scratch.data(), size);
      end = offset + size;
    }
    checksums.push_back(checksum.digest());
  }
  ioOk = ioOk && sink.zeros(plan.fileSize - sink.position()) && sink.flush();

  // The real manifest and header, now that the checksums are known.
  auto *segments = fb::GetMutableManifest(fbb.GetBufferPointer())->mutable_segments();
  for (size_t s = 0; s < checksums.size(); ++s)
    segments->GetMutableObject(flatbuffers::uoffset_t(s))->mutate_checksum(checksums[s]);
  FileHeader header;
  header.manifestSize = fbb.GetSize();
  header.fileSize = plan.fileSize;
  header.manifestChecksum = checksum64(fbb.GetBufferPointer(), fbb.GetSize());
  const auto headerBytes = header.encode();
  ioOk = ioOk && pwriteAll(temp.fd(), headerBytes.data(), headerBytes.size(), 0) &&
         pwriteAll(temp.fd(), fbb.GetBufferPointer(), fbb.GetSize(), kHeaderSize);
  if (!ioOk) {
    error = path + ": cannot write: " + std::strerror(errno);
    return false;
  }
  return temp.commit(path, error);
}

} // namespace v4c::artifact
