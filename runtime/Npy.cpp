#include "runtime/Npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace v4c {
namespace {

// The format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// NumPy aligns the data to 64 bytes so that a memory-mapped array is aligned for any dtype.
constexpr size_t kDataAlign = 64;

bool hostIsLittleEndian() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

void byteSwap(float *values, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    unsigned char bytes[4];
    std::memcpy(bytes, &values[i], 4);
    std::swap(bytes[0], bytes[3]);
    std::swap(bytes[1], bytes[2]);
    std::memcpy(&values[i], bytes, 4);
  }
}

/// Python's repr of the shape tuple: "()", "(5,)", "(2, 3)". Also used in messages.
std::string shapeString(const std::vector<int64_t> &shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

/// Number of elements, or -1 if a dimension is negative or the byte size would overflow.
int64_t elementCount(const std::vector<int64_t> &shape) {
  const int64_t limit = std::numeric_limits<int64_t>::max() / int64_t(sizeof(float));
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0 || (dim != 0 && count > limit / dim))
      return -1;
    count *= dim;
  }
  return count;
}

/// Magic, version 1.0, header length, then the dict padded with spaces and ended by '\n' so
/// that the data starts at a multiple of kDataAlign.
std::string npyHeader(const std::vector<int64_t> &shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shapeString(shape) +
                     ", }";
  const size_t preamble = kMagicSize + 2 + 2; // magic, version, uint16 header length
  dict.append((kDataAlign - (preamble + dict.size() + 1) % kDataAlign) % kDataAlign, ' ');
  dict += '\n';
  std::string header(kMagic, kMagicSize);
  header += {'\x01', '\x00', char(dict.size() & 0xff), char(dict.size() >> 8)};
  return header + dict;
}

bool writeAll(int fd, const char *bytes, size_t size) {
  while (size > 0) {
    ssize_t written = ::write(fd, bytes, size);
    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0)
      return false;
    bytes += written;
    size -= size_t(written);
  }
  return true;
}

/// Just enough of a Python-literal parser for the header dict that NumPy writes.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : text_(text) {}

  bool parse(std::string &descr, bool &fortranOrder, std::vector<int64_t> &shape,
             std::string &error) {
    bool seenDescr = false, seenFortranOrder = false, seenShape = false;
    if (!eat('{'))
      return fail(error, "the header is not a dict");
    while (!eat('}')) {
      std::string key;
      if (!parseString(key) || !eat(':'))
        return fail(error, "malformed header");
      bool ok;
      if (key == "descr")
        ok = seenDescr = parseString(descr);
      else if (key == "fortran_order")
        ok = seenFortranOrder = parseBool(fortranOrder);
      else if (key == "shape")
        ok = seenShape = parseShape(shape);
      else
        return fail(error, "unexpected key '" + key + "' in the header");
      if (!ok)
        return fail(error, "malformed value of '" + key + "' in the header");
      if (!eat(',')) {
        if (!eat('}'))
          return fail(error, "malformed header");
        break;
      }
    }
    skipSpace();
    if (pos_ != text_.size())
      return fail(error, "trailing characters after the header dict");
    if (!seenDescr || !seenFortranOrder || !seenShape)
      return fail(error, "the header lacks 'descr', 'fortran_order' or 'shape'");
    return true;
  }

private:
  static bool fail(std::string &error, std::string message) {
    error = std::move(message);
    return false;
  }
  void skipSpace() {
    while (pos_ < text_.size() && std::strchr(" \t\n\r", text_[pos_]))
      ++pos_;
  }
  bool eat(char c) {
    skipSpace();
    if (pos_ >= text_.size() || text_[pos_] != c)
      return false;
    ++pos_;
    return true;
  }
  bool parseString(std::string &out) {
    skipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      return false;
    size_t end = text_.find(text_[pos_], pos_ + 1);
    if (end == std::string::npos)
      return false;
    out = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return true;
  }
  bool parseBool(bool &out) {
    skipSpace();
    for (bool value : {true, false}) {
      const char *word = value ? "True" : "False";
      if (text_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        out = value;
        return true;
      }
    }
    return false;
  }
  bool parseShape(std::vector<int64_t> &out) {
    out.clear();
    if (!eat('('))
      return false;
    while (!eat(')')) {
      skipSpace();
      int64_t dim = 0;
      size_t start = pos_;
      for (; pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; ++pos_) {
        if (dim > (std::numeric_limits<int64_t>::max() - 9) / 10)
          return false;
        dim = dim * 10 + (text_[pos_] - '0');
      }
      if (pos_ == start)
        return false;
      if (pos_ < text_.size() && text_[pos_] == 'L') // Python 2 longs, in old files
        ++pos_;
      out.push_back(dim);
      if (!eat(',')) {
        if (!eat(')'))
          return false;
        break;
      }
    }
    return true;
  }

  const std::string &text_;
  size_t pos_ = 0;
};

} // namespace

bool writeNpyF32(const std::string &path, const std::vector<int64_t> &shape,
                 const std::vector<float> &data, std::string &error) {
  int64_t count = elementCount(shape);
  if (count < 0 || uint64_t(count) != data.size()) {
    error = "cannot write " + path + ": shape " + shapeString(shape) + " does not match " +
            std::to_string(data.size()) + " values";
    return false;
  }
  std::string header = npyHeader(shape);
  if (header.size() - kMagicSize - 4 > 0xffff) {
    error = "cannot write " + path + ": shape " + shapeString(shape) +
            " does not fit an .npy v1.0 header";
    return false;
  }
  std::vector<float> swapped;
  const float *payload = data.data();
  if (!hostIsLittleEndian()) {
    swapped = data;
    byteSwap(swapped.data(), swapped.size());
    payload = swapped.data();
  }

  // Same directory as the target, so that rename() is atomic (one filesystem).
  std::string temp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(&temp[0]);
  if (fd < 0) {
    error = "cannot create a temporary file next to " + path + ": " + std::strerror(errno);
    return false;
  }
  // mkstemp creates the file 0600; an output file should be readable like any other.
  ::fchmod(fd, 0644);
  bool ok = writeAll(fd, header.data(), header.size()) &&
            writeAll(fd, reinterpret_cast<const char *>(payload), data.size() * sizeof(float));
  int savedErrno = errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    savedErrno = errno;
  }
  if (ok && std::rename(temp.c_str(), path.c_str()) == 0)
    return true;
  if (ok)
    savedErrno = errno;
  error = "cannot write " + path + ": " + std::strerror(savedErrno);
  ::unlink(temp.c_str());
  return false;
}

bool readNpyF32(const std::string &path, std::vector<int64_t> &shape, std::vector<float> &data,
                std::string &error) {
  shape.clear();
  data.clear();
  auto fail = [&](const std::string &why) {
    error = path + ": " + why;
    shape.clear();
    data.clear();
    return false;
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE *)> file(std::fopen(path.c_str(), "rb"),
                                                        std::fclose);
  if (!file)
    return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat status;
  if (::fstat(::fileno(file.get()), &status) != 0)
    return fail(std::string("cannot stat: ") + std::strerror(errno));
  const uint64_t fileSize = uint64_t(status.st_size);

  unsigned char preamble[kMagicSize + 2];
  if (std::fread(preamble, 1, sizeof(preamble), file.get()) != sizeof(preamble) ||
      std::memcmp(preamble, kMagic, kMagicSize) != 0)
    return fail("not an .npy file (bad magic)");
  // Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4.
  const unsigned major = preamble[kMagicSize], minor = preamble[kMagicSize + 1];
  const size_t lengthBytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
  if (lengthBytes == 0)
    return fail("unsupported .npy version " + std::to_string(major) + "." +
                std::to_string(minor));
  unsigned char lengthField[4] = {0, 0, 0, 0};
  if (std::fread(lengthField, 1, lengthBytes, file.get()) != lengthBytes)
    return fail("truncated header");
  const uint64_t headerSize = uint64_t(lengthField[0]) | uint64_t(lengthField[1]) << 8 |
                              uint64_t(lengthField[2]) << 16 | uint64_t(lengthField[3]) << 24;
  const uint64_t dataOffset = sizeof(preamble) + lengthBytes + headerSize;
  if (dataOffset > fileSize)
    return fail("truncated header");
  std::string header(headerSize, '\0');
  if (std::fread(&header[0], 1, headerSize, file.get()) != headerSize)
    return fail("truncated header");

  std::string descr, why;
  bool fortranOrder = false;
  if (!HeaderParser(header).parse(descr, fortranOrder, shape, why))
    return fail(why);
  if (descr != "<f4")
    return fail("dtype '" + descr + "' is not little-endian float32 ('<f4')");
  if (fortranOrder)
    return fail("Fortran-order arrays are not supported");
  const int64_t count = elementCount(shape);
  if (count < 0)
    return fail("invalid shape " + shapeString(shape));
  const uint64_t expected = uint64_t(count) * sizeof(float), actual = fileSize - dataOffset;
  if (actual != expected)
    return fail(std::string(actual < expected ? "truncated data" : "trailing data") + ": " +
                std::to_string(actual) + " bytes for shape " + shapeString(shape) + ", expected " +
                std::to_string(expected));
  data.resize(size_t(count));
  if (std::fread(data.data(), sizeof(float), data.size(), file.get()) != data.size())
    return fail("read error");
  if (!hostIsLittleEndian())
    byteSwap(data.data(), data.size());
  return true;
}

} // namespace v4c
