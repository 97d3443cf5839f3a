#pragma once
// Up-front checks that what a command is about to allocate (mostly KV cache)
// fits the memory it may use, so it refuses with the numbers instead of
// running until the system kills it.
#include <cstddef>
#include <string>

namespace sieve {

// Memory the system can still give (MemAvailable), or 0 when unknown.
size_t available_memory_bytes();
// Throws sieve::Error naming `what`, the bytes it needs and the bytes
// available, when need exceeds what the system can give.
void check_memory_fits(size_t need, const std::string& what);
// "12.3 MiB"
std::string mib(size_t bytes);

}  // namespace sieve
