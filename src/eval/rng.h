#pragma once
// The evaluation's own random numbers. std::uniform_int_distribution and
// friends are implementation-defined (libstdc++ and libc++ draw differently),
// so prompts built with them would differ between platforms; these are plain
// integer arithmetic and give the same numbers everywhere.
#include <cstdint>
#include <string_view>

namespace sieve::eval {

// SplitMix64's finaliser: a bijective 64-bit mix with full avalanche.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// FNV-1a: a stable hash of a name (std::hash is not stable across platforms).
inline uint64_t hash_name(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// One independent stream per (task, seed, length, depth, sample): a cell's
// prompts do not depend on which other cells or policies run, or in what order.
// depth is -1 for a random depth.
inline uint64_t stream_seed(std::string_view task, uint64_t seed, int64_t length, int64_t depth, int64_t sample) {
  uint64_t h = mix64(hash_name(task));
  for (uint64_t v : {seed, static_cast<uint64_t>(length), static_cast<uint64_t>(depth), static_cast<uint64_t>(sample)})
    h = mix64(h ^ mix64(v + 0x9E3779B97F4A7C15ull));
  return h;
}

// SplitMix64 generator (Steele, Lea, Flood 2014): small state, passes BigCrush.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() { return mix64(state_ += 0x9E3779B97F4A7C15ull); }

  // Uniform integer in [lo, hi] (inclusive), unbiased: Lemire's multiply-shift
  // with rejection of the few values that would favour low results.
  int64_t uniform(int64_t lo, int64_t hi) {
    const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
    if (range == 0) return static_cast<int64_t>(next());  // the whole 64-bit range
    const uint64_t threshold = (0 - range) % range;
    for (;;) {
      const unsigned __int128 m = static_cast<unsigned __int128>(next()) * range;
      if (static_cast<uint64_t>(m) >= threshold) return lo + static_cast<int64_t>(m >> 64);
    }
  }

 private:
  uint64_t state_;
};

}  // namespace sieve::eval
