#pragma once
// The haystack text that ships in the source tree's data/ (eval's prompts,
// the pattern search's calibration prompt).
#include <string>

namespace sieve::cli {

// data/haystack.txt, found from the current folder (the repository root) or
// next to the build folder holding the binary.
std::string default_haystack();

}  // namespace sieve::cli
