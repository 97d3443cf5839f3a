#include "attention/selection/top_k.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>

#include "util/error.h"

namespace sieve {
namespace {

constexpr int kBucketBits = 12;  // top bits of the ordered pattern: sign, exponent, 3 mantissa bits

// Bit patterns that order as the floats do (as unsigned integers).
inline uint32_t ordered(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

}  // namespace

float kth_largest(const float* x, int64_t n, int64_t k, std::vector<float>& scratch) {
  if (k < 1 || k > n) throw Error("internal: kth_largest needs 1 <= k <= n");
  if (n <= 256) {  // small: a plain partial sort
    scratch.assign(x, x + n);
    std::nth_element(scratch.begin(), scratch.begin() + (k - 1), scratch.end(), std::greater<float>());
    return scratch[k - 1];
  }
  std::array<uint32_t, (1u << kBucketBits)> count{};
  for (int64_t i = 0; i < n; ++i) ++count[ordered(x[i]) >> (32 - kBucketBits)];
  // The bucket holding the k-th largest, counting down from the top.
  int64_t above = 0;
  uint32_t bucket = (1u << kBucketBits) - 1;
  for (;; --bucket) {
    if (above + count[bucket] >= k) break;
    above += count[bucket];
  }
  scratch.clear();
  scratch.reserve(count[bucket]);
  for (int64_t i = 0; i < n; ++i)
    if ((ordered(x[i]) >> (32 - kBucketBits)) == bucket) scratch.push_back(x[i]);
  const int64_t r = k - above;  // its rank within the bucket
  std::nth_element(scratch.begin(), scratch.begin() + (r - 1), scratch.end(), std::greater<float>());
  return scratch[r - 1];
}

}  // namespace sieve
