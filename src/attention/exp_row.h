#pragma once
// Softmax rows with the vector unit (Highway, chosen
// at run time): shared by the policies that need attention probabilities
// the attention kernel does not return (TokenSelect's votes, the eviction
// policies' scores).
#include <cstdint>

namespace sieve {

// x[i] = exp(x[i] - m) for i < n; returns their sum.
double exp_shifted(float* x, int64_t n, float m);
// The same to 1e-5 relative, at half the cost, for x <= m (estimates: sparse
// prefill's votes); values more than 126 octaves below m give 0.
double fast_exp_shifted(float* x, int64_t n, float m);
// The largest of x[0..n) (-inf when n is 0).
float row_max(const float* x, int64_t n);
// a[i] += x[i] * scale for i < n.
void add_scaled(const float* x, int64_t n, float scale, float* a);

}  // namespace sieve
