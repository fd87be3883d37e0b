// POSIX mmap behind MappedFile. The descriptor is closed right after mapping; the mapping stays valid.
#include "ortdiffusion/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {

namespace {

// Closes a descriptor on scope exit.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FormatError(path + ": cannot open (" + errno_text() + ")");
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw FormatError(path + ": cannot stat (" + errno_text() + ")");
  if (!S_ISREG(st.st_mode)) throw FormatError(path + ": not a regular file");
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) return std::shared_ptr<const MappedFile>(new MappedFile(path, nullptr, 0));
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mapped == MAP_FAILED) throw FormatError(path + ": cannot map (" + errno_text() + ")");
  return std::shared_ptr<const MappedFile>(new MappedFile(path, static_cast<const std::byte*>(mapped), size));
}

void MappedFile::advise(Access access) const {
  if (data_ == nullptr) return;
  ::madvise(const_cast<std::byte*>(data_), size_, access == Access::kRandom ? MADV_RANDOM : MADV_NORMAL);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace ortdiffusion
