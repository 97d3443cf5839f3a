#pragma once
// Where tests find the data the project ships (never ../shared: a fresh clone
// must test itself).
#include <string>

namespace sieve {

inline std::string source_dir() { return SIEVE_SOURCE_DIR; }
inline std::string test_model_dir() { return source_dir() + "/models/sieve-test-27m"; }
inline std::string test_data_dir() { return source_dir() + "/tests/data"; }
inline std::string sieve_binary() { return std::string(SIEVE_BINARY_DIR) + "/sieve"; }

}  // namespace sieve
