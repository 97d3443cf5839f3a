#pragma once
// SIMD helper of the `infllm` policy.
#include <cstdint>

namespace sieve {

// dst[j] += exp(scores[j] - m) * inv_l for j < n: softmax probabilities of
// one query row (max m, 1 / sum inv_l) added to the attention its keys received.
void add_probabilities(const float* scores, int64_t n, float m, float inv_l, float* dst);

}  // namespace sieve
