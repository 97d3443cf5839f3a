#include "cli/haystack.h"

#include <unistd.h>

#include <filesystem>

namespace sieve::cli {

std::string default_haystack() {
  const std::string rel = "data/haystack.txt";
  if (std::filesystem::exists(rel)) return rel;
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    const auto p = std::filesystem::path(std::string(buf, static_cast<size_t>(n))).parent_path().parent_path() / rel;
    if (std::filesystem::exists(p)) return p.string();
  }
  return rel;  // read_text_file names it in the error
}

}  // namespace sieve::cli
