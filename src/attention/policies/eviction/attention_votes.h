#pragma once
// The step every eviction policy shares: one query's attention
// probabilities (a softmax of its raw scores over the slots it sees), added
// with a weight to per-slot votes, in double.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace sieve {

// votes[j] += weight * softmax(scores[0, seen))[j] for j < count (count <= seen).
inline void add_attention(const float* scores, int64_t seen, int64_t count, double weight, double* votes) {
  const float m = *std::max_element(scores, scores + seen);
  double z = 0;
  for (int64_t j = 0; j < seen; ++j) z += std::exp(static_cast<double>(scores[j] - m));
  const double w = weight / z;
  for (int64_t j = 0; j < count; ++j) votes[j] += std::exp(static_cast<double>(scores[j] - m)) * w;
}

}  // namespace sieve
