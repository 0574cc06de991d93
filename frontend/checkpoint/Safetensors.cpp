// safetensors reading (mmap + validated JSON header), checkpoint directories, and the streaming
// writer. Format: u64 LE header length N, N bytes of JSON header, then the data section; each
// header entry gives dtype, shape and [begin, end) offsets relative to the data section.
#include "frontend/checkpoint/Safetensors.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <map>

namespace v4c {

namespace {

// Same cap as the Hugging Face library: a larger header is a corrupt or hostile file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr llvm::StringLiteral kMetadataKey = "__metadata__";
constexpr llvm::StringLiteral kIndexFile = "model.safetensors.index.json";

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// Compact JSON text of a value for error messages, shortened so a huge value stays readable.
std::string formatJson(const llvm::json::Value &value) {
  std::string text;
  llvm::raw_string_ostream(text) << value;
  if (text.size() > 80)
    text = text.substr(0, 77) + "...";
  return text;
}

/// product(shape) x dtype size; nullopt if it overflows int64 (numElements() must fit too).
/// `shape` must be non-negative.
std::optional<uint64_t> byteSize(DType dtype, llvm::ArrayRef<int64_t> shape) {
  uint64_t size = dtypeSize(dtype);
  for (int64_t d : shape) {
    bool overflow = false;
    size = llvm::SaturatingMultiply(size, uint64_t(d), &overflow);
    if (overflow)
      return std::nullopt;
  }
  if (size > uint64_t(std::numeric_limits<int64_t>::max()))
    return std::nullopt;
  return size;
}

std::optional<uint64_t> asNonNegative(const llvm::json::Value &value) {
  // getAsInteger also takes integral doubles (4.0); harmless, and the header is still exact.
  std::optional<int64_t> n = value.getAsInteger();
  if (!n || *n < 0)
    return std::nullopt;
  return uint64_t(*n);
}

/// Keys of the top-level object of `text`, in source order and with duplicates kept.
/// llvm::json::parse silently keeps only the last of duplicate keys, so duplicates are found
/// here. `text` must already have been accepted by llvm::json::parse, so the scan only needs to
/// follow nesting and string tokens (which cannot hold raw quotes or control characters).
std::vector<std::string> topLevelKeys(llvm::StringRef text) {
  std::vector<std::string> keys;
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == '"') {
      size_t start = i;
      for (++i; i < text.size() && text[i] != '"'; ++i)
        if (text[i] == '\\')
          ++i;
      llvm::StringRef token = text.slice(start, i + 1);
      size_t next = text.find_first_not_of(" \t\r\n", i + 1);
      if (depth != 1 || next == llvm::StringRef::npos || text[next] != ':')
        continue;
      // Decode escapes ("\u0061" and "a" are the same key) by parsing the token as JSON.
      llvm::Expected<llvm::json::Value> decoded = llvm::json::parse(token);
      if (!decoded) {
        llvm::consumeError(decoded.takeError());
        keys.push_back(token.drop_front().drop_back().str());
      } else if (std::optional<llvm::StringRef> s = decoded->getAsString()) {
        keys.push_back(s->str());
      }
    }
  }
  return keys;
}

} // namespace

int64_t TensorInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

//===----------------------------------------------------------------------===//
// SafetensorsFile
//===----------------------------------------------------------------------===//

llvm::Expected<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(llvm::StringRef path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path.str();
  auto fail = [&](const llvm::Twine &message) { return makeError(path + ": " + message); };

  llvm::Expected<llvm::sys::fs::file_t> fd = llvm::sys::fs::openNativeFileForRead(path);
  if (!fd)
    return fail("cannot open: " + llvm::toString(fd.takeError()));
  llvm::scope_exit closeFd([&] { llvm::sys::fs::closeFile(*fd); });

  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(*fd, status))
    return fail("cannot stat: " + ec.message());
  if (status.type() != llvm::sys::fs::file_type::regular_file)
    return fail("not a regular file");
  uint64_t fileSize = status.getSize();
  // Also keeps us from mapping an empty file, which mmap rejects.
  if (fileSize < 8)
    return fail("file is " + llvm::Twine(fileSize) +
                " bytes, shorter than the 8-byte header length");

  std::error_code ec;
  file->mapping_ = std::make_unique<llvm::sys::fs::mapped_file_region>(
      *fd, llvm::sys::fs::mapped_file_region::readonly, fileSize, 0, ec);
  if (ec)
    return fail("cannot map: " + ec.message());
  const char *base = file->mapping_->const_data();

  uint64_t headerSize = llvm::support::endian::read64le(base);
  if (headerSize > kMaxHeaderBytes)
    return fail("header length " + llvm::Twine(headerSize) + " exceeds the " +
                llvm::Twine(kMaxHeaderBytes) + "-byte cap");
  if (headerSize > fileSize - 8)
    return fail("header length " + llvm::Twine(headerSize) + " runs past the end of the file (" +
                llvm::Twine(fileSize) + " bytes)");
  uint64_t dataStart = 8 + headerSize;
  uint64_t dataSize = fileSize - dataStart;
  llvm::StringRef headerText(base + 8, headerSize);

  llvm::Expected<llvm::json::Value> header = llvm::json::parse(headerText);
  if (!header)
    return fail("header is not valid JSON: " + llvm::toString(header.takeError()));
  const llvm::json::Object *root = header->getAsObject();
  if (!root)
    return fail("header is not a JSON object");

  std::vector<std::string> keys = topLevelKeys(headerText);
  llvm::StringSet<> seen;
  for (const std::string &key : keys) {
    if (seen.insert(key).second)
      continue;
    if (key == kMetadataKey)
      return fail("'__metadata__' appears twice in the header");
    return fail("tensor '" + key + "' appears twice in the header");
  }
  // The scan and the parser must agree on the key set (they do for any text json::parse takes).
  if (seen.size() != root->size() ||
      llvm::any_of(keys, [&](const std::string &key) { return !root->get(key); }))
    return fail("internal error: header key scan disagrees with the JSON parser");

  // Source order, so tensors() lists tensors as the file declares them.
  for (const std::string &key : keys) {
    const llvm::json::Value &entry = *root->get(key);
    if (key == kMetadataKey) {
      const llvm::json::Object *metadata = entry.getAsObject();
      if (!metadata)
        return fail("'__metadata__' must be an object of strings, got " + formatJson(entry));
      for (const auto &kv : *metadata) {
        std::optional<llvm::StringRef> value = kv.second.getAsString();
        if (!value)
          return fail("'__metadata__' entry '" + kv.first.str() + "' must be a string, got " +
                      formatJson(kv.second));
        file->metadata_[kv.first.str()] = value->str();
      }
      continue;
    }

    auto tensorFail = [&](const llvm::Twine &message) {
      return fail("tensor '" + key + "': " + message);
    };
    const llvm::json::Object *fields = entry.getAsObject();
    if (!fields)
      return tensorFail("entry must be an object, got " + formatJson(entry));

    TensorInfo info;
    info.name = key;

    const llvm::json::Value *dtypeValue = fields->get("dtype");
    if (!dtypeValue)
      return tensorFail("field 'dtype' is missing");
    std::optional<llvm::StringRef> dtypeText = dtypeValue->getAsString();
    if (!dtypeText)
      return tensorFail("field 'dtype' must be a string, got " + formatJson(*dtypeValue));
    std::optional<DType> dtype = parseDType(*dtypeText);
    if (!dtype)
      return tensorFail("unknown dtype '" + *dtypeText + "'");
    info.dtype = *dtype;

    const llvm::json::Value *shapeValue = fields->get("shape");
    if (!shapeValue)
      return tensorFail("field 'shape' is missing");
    const llvm::json::Array *shape = shapeValue->getAsArray();
    if (!shape)
      return tensorFail("field 'shape' must be an array of non-negative integers, got " +
                        formatJson(*shapeValue));
    for (const llvm::json::Value &dim : *shape) {
      std::optional<uint64_t> d = asNonNegative(dim);
      if (!d)
        return tensorFail("field 'shape' must be an array of non-negative integers, got " +
                          formatJson(*shapeValue));
      info.shape.push_back(int64_t(*d));
    }
    std::optional<uint64_t> needed = byteSize(info.dtype, info.shape);
    if (!needed)
      return tensorFail("shape " + formatShape(info.shape) + " x " + dtypeText->str() +
                        " overflows the byte size");

    const llvm::json::Value *offsetsValue = fields->get("data_offsets");
    if (!offsetsValue)
      return tensorFail("field 'data_offsets' is missing");
    const llvm::json::Array *offsets = offsetsValue->getAsArray();
    std::optional<uint64_t> begin, end;
    if (offsets && offsets->size() == 2) {
      begin = asNonNegative((*offsets)[0]);
      end = asNonNegative((*offsets)[1]);
    }
    if (!begin || !end)
      return tensorFail("field 'data_offsets' must be [begin, end] with non-negative integers, "
                        "got " + formatJson(*offsetsValue));
    std::string offsetsText =
        "data_offsets [" + std::to_string(*begin) + ", " + std::to_string(*end) + "]";
    if (*begin > *end)
      return tensorFail(offsetsText + " are reversed (begin > end)");
    if (*end > dataSize)
      return tensorFail(offsetsText + " run past the end of the data section (" +
                        llvm::Twine(dataSize) + " bytes; file truncated?)");
    if (*end - *begin != *needed)
      return tensorFail(offsetsText + " hold " + llvm::Twine(*end - *begin) +
                        " bytes but shape " + formatShape(info.shape) + " x " + dtypeText->str() +
                        " needs " + llvm::Twine(*needed));
    info.offset = dataStart + *begin;
    info.size = *needed;
    file->byName_[info.name] = file->tensors_.size();
    file->tensors_.push_back(std::move(info));
  }

  // Overlap check on the non-empty ranges, sorted by start: neighbours must not intersect.
  std::vector<const TensorInfo *> byOffset;
  for (const TensorInfo &t : file->tensors_)
    if (t.size)
      byOffset.push_back(&t);
  llvm::sort(byOffset, [](const TensorInfo *a, const TensorInfo *b) {
    return a->offset != b->offset ? a->offset < b->offset : a->name < b->name;
  });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const TensorInfo &prev = *byOffset[i - 1], &cur = *byOffset[i];
    if (cur.offset < prev.offset + prev.size)
      return fail("tensors '" + prev.name + "' and '" + cur.name + "' overlap in the data section");
  }
  return std::move(file);
}

const TensorInfo *SafetensorsFile::find(llvm::StringRef name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : &tensors_[it->second];
}

llvm::ArrayRef<uint8_t> SafetensorsFile::bytes(const TensorInfo &tensor) const {
  // Guard against a TensorInfo from another file: never hand out bytes past the mapping.
  if (!mapping_ || tensor.offset > mapping_->size() ||
      tensor.size > mapping_->size() - tensor.offset)
    return {};
  return {reinterpret_cast<const uint8_t *>(mapping_->const_data()) + tensor.offset,
          size_t(tensor.size)};
}

//===----------------------------------------------------------------------===//
// Checkpoint
//===----------------------------------------------------------------------===//

namespace {

std::string joinPath(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, name);
  return std::string(path);
}

/// model.safetensors.index.json's weight_map, as shard file name -> tensor names (sorted, so
/// shards open and errors come in a stable order). A tensor listed twice in weight_map keeps its
/// last shard (llvm::json drops earlier duplicate keys); any resulting disagreement with the
/// shards' contents is still reported by Checkpoint::open.
llvm::Expected<std::map<std::string, std::vector<std::string>>>
readIndex(llvm::StringRef indexPath) {
  auto fail = [&](const llvm::Twine &message) { return makeError(indexPath + ": " + message); };
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(indexPath, /*IsText=*/true);
  if (!buffer)
    return fail("cannot read: " + buffer.getError().message());
  llvm::Expected<llvm::json::Value> json = llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return fail("not valid JSON: " + llvm::toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    return fail("not a JSON object");
  const llvm::json::Object *weightMap = root->getObject("weight_map");
  if (!weightMap)
    return fail("field 'weight_map' is missing or not an object");

  std::map<std::string, std::vector<std::string>> shards;
  for (const auto &kv : *weightMap) {
    std::optional<llvm::StringRef> shard = kv.second.getAsString();
    if (!shard)
      return fail("weight_map entry '" + kv.first.str() + "' must be a file name string, got " +
                  formatJson(kv.second));
    // Shards live next to the index; a path could point anywhere.
    if (shard->empty() || llvm::sys::path::filename(*shard) != *shard || *shard == "." ||
        *shard == "..")
      return fail("weight_map entry '" + kv.first.str() + "' names shard '" + *shard +
                  "', which is not a plain file name");
    shards[shard->str()].push_back(kv.first.str());
  }
  for (auto &kv : shards)
    llvm::sort(kv.second);
  return shards;
}

} // namespace

llvm::Expected<std::unique_ptr<Checkpoint>> Checkpoint::open(llvm::StringRef dir) {
  std::unique_ptr<Checkpoint> checkpoint(new Checkpoint());
  checkpoint->dir_ = dir.str();

  llvm::Expected<ModelConfig> config = loadModelConfig(joinPath(dir, "config.json"));
  if (!config)
    return config.takeError();
  checkpoint->config_ = std::move(*config);

  // Registers a shard's tensors under their global names; names must be unique across shards.
  auto addFile = [&](std::unique_ptr<SafetensorsFile> file) -> llvm::Error {
    unsigned index = checkpoint->files_.size();
    for (size_t i = 0; i < file->tensors_.size(); ++i) {
      TensorInfo &tensor = file->tensors_[i];
      tensor.file = index;
      auto [it, inserted] = checkpoint->byName_.try_emplace(tensor.name, index, i);
      if (!inserted)
        return makeError(file->path() + ": tensor '" + tensor.name + "' is also in " +
                         checkpoint->files_[it->second.first]->path());
    }
    checkpoint->files_.push_back(std::move(file));
    return llvm::Error::success();
  };

  std::string indexPath = joinPath(dir, kIndexFile);
  if (llvm::sys::fs::exists(indexPath)) {
    llvm::Expected<std::map<std::string, std::vector<std::string>>> shards = readIndex(indexPath);
    if (!shards)
      return shards.takeError();
    // Check every shard exists before mapping any, so the error is about the index.
    for (const auto &[shard, names] : *shards)
      if (!llvm::sys::fs::exists(joinPath(dir, shard)))
        return makeError(indexPath + ": shard '" + shard + "' (holding tensor '" + names.front() +
                         "') does not exist");
    for (const auto &[shard, names] : *shards) {
      llvm::Expected<std::unique_ptr<SafetensorsFile>> file =
          SafetensorsFile::open(joinPath(dir, shard));
      if (!file)
        return file.takeError();
      if (llvm::Error err = addFile(std::move(*file)))
        return std::move(err);
    }
    // Names are now known unique across shards; the index and the shards must agree exactly.
    unsigned index = 0;
    for (const auto &[shard, names] : *shards) {
      const SafetensorsFile &file = *checkpoint->files_[index++];
      for (const std::string &name : names)
        if (!file.find(name))
          return makeError(indexPath + ": tensor '" + name + "' is mapped to shard '" + shard +
                           "', which does not contain it");
      // Every mapped name was found, so a count mismatch means unmapped extras: name one.
      if (file.tensors().size() != names.size())
        for (const TensorInfo &t : file.tensors())
          if (!std::binary_search(names.begin(), names.end(), t.name))
            return makeError(file.path() + ": tensor '" + t.name + "' is not mapped to '" +
                             shard + "' in " + indexPath);
    }
    return std::move(checkpoint);
  }

  // No index: every *.safetensors file in the directory, in name order.
  std::vector<std::string> paths;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
    llvm::StringRef path = it->path();
    if (path.ends_with(".safetensors") && it->type() != llvm::sys::fs::file_type::directory_file)
      paths.push_back(path.str());
  }
  if (ec)
    return makeError(dir + ": cannot list directory: " + ec.message());
  llvm::sort(paths);
  for (const std::string &path : paths) {
    llvm::Expected<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::open(path);
    if (!file)
      return file.takeError();
    if (llvm::Error err = addFile(std::move(*file)))
      return std::move(err);
  }
  return std::move(checkpoint);
}

const TensorInfo *Checkpoint::find(llvm::StringRef name) const {
  auto it = byName_.find(name);
  if (it == byName_.end())
    return nullptr;
  return &files_[it->second.first]->tensors()[it->second.second];
}

std::vector<const TensorInfo *> Checkpoint::tensors() const {
  std::vector<const TensorInfo *> all;
  for (const auto &file : files_)
    for (const TensorInfo &tensor : file->tensors())
      all.push_back(&tensor);
  return all;
}

llvm::ArrayRef<uint8_t> Checkpoint::bytes(const TensorInfo &tensor) const {
  if (tensor.file >= files_.size())
    return {};
  return files_[tensor.file]->bytes(tensor);
}

//===----------------------------------------------------------------------===//
// SafetensorsWriter
//===----------------------------------------------------------------------===//

void SafetensorsWriter::add(std::string name, DType dtype, std::vector<int64_t> shape, Fill fill) {
  entries_.push_back({std::move(name), dtype, std::move(shape), std::move(fill)});
}

void SafetensorsWriter::setMetadata(std::string key, std::string value) {
  for (auto &kv : metadata_)
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  metadata_.emplace_back(std::move(key), std::move(value));
}

llvm::Error SafetensorsWriter::write(llvm::StringRef path) {
  auto fail = [&](const llvm::Twine &message) { return makeError(path + ": " + message); };

  // Lay the tensors out back to back in declaration order.
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  llvm::StringSet<> names;
  for (const Entry &e : entries_) {
    if (e.name == kMetadataKey)
      return fail("'__metadata__' is reserved and cannot name a tensor");
    if (!names.insert(e.name).second)
      return fail("tensor '" + e.name + "' is added twice");
    if (llvm::any_of(e.shape, [](int64_t d) { return d < 0; }))
      return fail("tensor '" + e.name + "': negative dimension in shape " + formatShape(e.shape));
    std::optional<uint64_t> size = byteSize(e.dtype, e.shape);
    bool overflow = !size;
    if (size)
      offset = llvm::SaturatingAdd(offset, *size, &overflow);
    if (overflow)
      return fail("tensor '" + e.name + "': shape " + formatShape(e.shape) + " is too large");
    sizes.push_back(*size);
  }

  // OStream keeps insertion order (a json::Object would be printed with sorted keys).
  std::string header;
  {
    llvm::raw_string_ostream os(header);
    llvm::json::OStream json(os);
    json.objectBegin();
    if (!metadata_.empty()) {
      json.attributeObject(kMetadataKey, [&] {
        for (const auto &kv : metadata_)
          json.attribute(kv.first, kv.second);
      });
    }
    uint64_t begin = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
      const Entry &e = entries_[i];
      json.attributeObject(e.name, [&] {
        json.attribute("dtype", dtypeName(e.dtype));
        json.attributeArray("shape", [&] {
          for (int64_t d : e.shape)
            json.value(d);
        });
        json.attributeArray("data_offsets", [&] {
          json.value(int64_t(begin));
          json.value(int64_t(begin + sizes[i]));
        });
      });
      begin += sizes[i];
    }
    json.objectEnd();
  }
  // Pad with spaces so the data section starts 8-byte aligned, as the HF library does.
  header.append((8 - header.size() % 8) % 8, ' ');

  int fd = -1;
  llvm::SmallString<256> tmpPath;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(path + ".tmp-%%%%%%", fd, tmpPath))
    return fail("cannot create a temporary file: " + ec.message());
  bool kept = false;
  llvm::scope_exit removeTmp([&] {
    if (!kept)
      llvm::sys::fs::remove(tmpPath);
  });

  llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
  char lengthBytes[8];
  llvm::support::endian::write64le(lengthBytes, header.size());
  os.write(lengthBytes, 8);
  os << header;
  for (size_t i = 0; i < entries_.size() && !os.has_error(); ++i) {
    // One tensor's buffer at a time; zero-filled so a callback that writes nothing is defined.
    std::vector<uint8_t> buffer(sizes[i]);
    if (entries_[i].fill)
      entries_[i].fill(buffer);
    os.write(reinterpret_cast<const char *>(buffer.data()), buffer.size());
  }
  // Keep the first error; clear it, or raw_fd_ostream aborts on destruction.
  std::error_code ec = os.error();
  os.close();
  if (!ec)
    ec = os.error();
  os.clear_error();
  if (ec)
    return fail("cannot write " + tmpPath.str() + ": " + ec.message());

  if (std::error_code renameError = llvm::sys::fs::rename(tmpPath, path))
    return fail("cannot rename " + tmpPath.str() + " into place: " + renameError.message());
  kept = true;
  return llvm::Error::success();
}

} // namespace v4c
