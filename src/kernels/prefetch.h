#pragma once
// Software prefetch of the streaming (decode) kernels: each step prefetches
// the bytes it reads, prefetch_distance() further on, in address order. Into
// L2, not L1: on Zen 4 (2 threads, a real decode step of the test model)
// prefetcht0 16 KiB ahead made decode 2x slower than none at all, prefetcht1
// made it ~15% faster than none; distances of 8-64 KiB measured alike.
#include <algorithm>
#include <cstddef>

namespace sieve::kernels {

inline void prefetch_l2(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, 2);
#else
  (void)p;
#endif
}

// About 16 KiB, in whole tiles of `tile_rows` rows, and at least two tiles.
inline size_t prefetch_distance(size_t row_bytes, size_t tile_rows) {
  const size_t tile = row_bytes * tile_rows;
  return std::max<size_t>(2, (size_t{16384} + tile - 1) / tile) * tile;
}

}  // namespace sieve::kernels
