#pragma once
// Reads a whole file into a string; throws sieve::Error("cannot read 'PATH'").
#include <string>

namespace sieve {

std::string read_text_file(const std::string& path);

}  // namespace sieve
