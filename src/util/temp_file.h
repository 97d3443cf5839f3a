#pragma once
// An anonymous temporary file: created in $TMPDIR (else /tmp) with no name
// (O_TMPFILE, or mkstemp then unlink), so nothing is left behind however the
// process ends; its space is freed when it is closed. Read and written at
// explicit offsets (pread/pwrite: the data sits in the page cache, not in the
// process's memory); writers take space at its end with reserve().
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace sieve {

class TempFile {
 public:
  // `purpose` starts every error message. Throws sieve::Error.
  explicit TempFile(std::string purpose);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // The offset of n new bytes at the end of the file, never given out again
  // (thread-safe).
  int64_t reserve(int64_t n) { return end_.fetch_add(n); }
  // Throw sieve::Error naming the failure (errno text or a short read).
  void write(int64_t offset, const void* data, size_t n);
  void read(int64_t offset, void* data, size_t n) const;

 private:
  [[noreturn]] void fail(const std::string& what, int err) const;

  std::string purpose_, dir_;
  int fd_ = -1;
  std::atomic<int64_t> end_{0};
};

}  // namespace sieve
