#include "util/temp_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <utility>

#include "util/error.h"

namespace sieve {
namespace {

std::string temp_dir() {
  const char* d = std::getenv("TMPDIR");
  return d && *d ? d : "/tmp";
}

}  // namespace

TempFile::TempFile(std::string purpose) : purpose_(std::move(purpose)), dir_(temp_dir()) {
#ifdef O_TMPFILE
  fd_ = ::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ >= 0) return;
#endif
  // No O_TMPFILE (other systems, or a file system without it): a named file, unlinked at once.
  std::string path = dir_ + "/sieve-XXXXXX";
  fd_ = ::mkstemp(path.data());
  if (fd_ < 0) fail("cannot create a temporary file", errno);
  ::unlink(path.c_str());
}

TempFile::~TempFile() { ::close(fd_); }

void TempFile::fail(const std::string& what, int err) const {
  throw Error(purpose_ + ": " + what + " in " + dir_ + ": " + std::system_category().message(err));
}

// pwrite may write less than asked (signals, some file systems): loop.
void TempFile::write(int64_t offset, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd_, p, n, offset);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("cannot write the temporary file", w < 0 ? errno : ENOSPC);
    p += w, offset += w, n -= static_cast<size_t>(w);
  }
}

void TempFile::read(int64_t offset, void* data, size_t n) const {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::pread(fd_, p, n, offset);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("cannot read the temporary file", errno);
    if (r == 0) throw Error(purpose_ + ": the temporary file in " + dir_ + " ended before offset " +
                            std::to_string(offset + static_cast<int64_t>(n)));
    p += r, offset += r, n -= static_cast<size_t>(r);
  }
}

}  // namespace sieve
