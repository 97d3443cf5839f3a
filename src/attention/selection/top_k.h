#pragma once
// The k-th largest of n floats, for policies that keep the top k of many
// scores every step (TokenSelect's votes over every cached token): a radix
// pass over the floats' order-preserving bit patterns finds the bucket that
// holds it, and only that bucket is sorted partially. Two passes over the
// input instead of nth_element's several, with no data movement.
#include <cstdint>
#include <vector>

namespace sieve {

// The k-th largest of x[0..n) (1 <= k <= n; no NaNs), exactly what
// std::nth_element with std::greater would put at k - 1. scratch is reused
// between calls.
float kth_largest(const float* x, int64_t n, int64_t k, std::vector<float>& scratch);

}  // namespace sieve
