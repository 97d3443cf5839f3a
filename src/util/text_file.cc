#include "util/text_file.h"

#include <fstream>
#include <sstream>

#include "util/error.h"

namespace sieve {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace sieve
