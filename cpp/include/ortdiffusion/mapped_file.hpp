// A read-only memory mapping of a whole file (RAII: unmapped when the last owner goes away).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace ortdiffusion {

class MappedFile {
 public:
  // Maps `path` read-only. Throws FormatError naming the file if it cannot be opened, is not a regular
  // file, or cannot be mapped. An empty file maps to size() == 0 and data() == nullptr.
  static std::shared_ptr<const MappedFile> open(const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Paging hints for the whole mapping (madvise; hints only, failures ignored). kRandom while a parser
  // reads only headers scattered through the file: the kernel then neither reads ahead nor maps the
  // neighbouring pages, so resident memory stays at the pages actually read. kNormal (the default)
  // before tensor bytes are streamed, so sequential reads get readahead again.
  enum class Access { kNormal, kRandom };
  void advise(Access access) const;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const std::byte* data, std::size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const std::byte* data_;
  std::size_t size_;
};

}  // namespace ortdiffusion
