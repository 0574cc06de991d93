// safetensors files and checkpoint directories, read through mmap: the header is parsed with
// llvm::json and validated; tensor bytes are views into the mapping and are never copied.
#pragma once

#include "frontend/checkpoint/DType.h"
#include "frontend/checkpoint/ModelConfig.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace v4c {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute byte offset of the data in its file
  uint64_t size = 0;    // bytes
  unsigned file = 0;    // index into Checkpoint::files() (0 for a lone SafetensorsFile)
  int64_t numElements() const;
};

/// One mmap-ed .safetensors file. Validates on open: 8-byte header length within the file and
/// below a 100 MiB cap, header is a JSON object, known dtypes, integer shapes, data_offsets in
/// bounds, byte size = product(shape) x dtype size, no overlapping ranges, no duplicate names.
class SafetensorsFile {
public:
  static llvm::Expected<std::unique_ptr<SafetensorsFile>> open(llvm::StringRef path);

  llvm::StringRef path() const { return path_; }
  llvm::ArrayRef<TensorInfo> tensors() const { return tensors_; }
  const TensorInfo *find(llvm::StringRef name) const;
  /// The tensor's bytes, a view into the mapping (valid while this object lives).
  llvm::ArrayRef<uint8_t> bytes(const TensorInfo &tensor) const;
  /// `__metadata__` string entries.
  const llvm::StringMap<std::string> &metadata() const { return metadata_; }

private:
  friend class Checkpoint; // sets TensorInfo::file when adding a shard
  SafetensorsFile() = default;
  std::string path_;
  std::unique_ptr<llvm::sys::fs::mapped_file_region> mapping_;
  std::vector<TensorInfo> tensors_;
  llvm::StringMap<size_t> byName_;
  llvm::StringMap<std::string> metadata_;
};

/// A Hugging Face checkpoint directory: config.json plus either model.safetensors.index.json
/// (sharded), or the *.safetensors files present, or none at all (a weightless import).
class Checkpoint {
public:
  static llvm::Expected<std::unique_ptr<Checkpoint>> open(llvm::StringRef dir);

  llvm::StringRef dir() const { return dir_; }
  const ModelConfig &config() const { return config_; }
  bool hasWeights() const { return !files_.empty(); }
  llvm::ArrayRef<std::unique_ptr<SafetensorsFile>> files() const { return files_; }
  /// Every tensor of every shard; names are unique across shards.
  const TensorInfo *find(llvm::StringRef name) const;
  std::vector<const TensorInfo *> tensors() const;
  llvm::ArrayRef<uint8_t> bytes(const TensorInfo &tensor) const;

private:
  Checkpoint() = default;
  std::string dir_;
  ModelConfig config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  llvm::StringMap<std::pair<unsigned, size_t>> byName_; // -> (file, tensor index)
};

/// Writes a .safetensors file streaming: the header is built from the declared tensors, then
/// each tensor's bytes are produced by its callback in order. The file appears atomically
/// (temporary file + rename); on error nothing is left behind.
class SafetensorsWriter {
public:
  using Fill = std::function<void(llvm::MutableArrayRef<uint8_t>)>;
  void add(std::string name, DType dtype, std::vector<int64_t> shape, Fill fill);
  void setMetadata(std::string key, std::string value);
  llvm::Error write(llvm::StringRef path);

private:
  struct Entry { std::string name; DType dtype; std::vector<int64_t> shape; Fill fill; };
  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

} // namespace v4c
