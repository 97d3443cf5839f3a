#pragma once
// The exponentials of a softmax row, with the vector unit (Highway, chosen
// at run time): shared by the policies that need attention probabilities
// the attention kernel does not return (TokenSelect's votes, the eviction
// policies' scores).
#include <cstdint>

namespace sieve {

// x[i] = exp(x[i] - m) for i < n; returns their sum.
double exp_shifted(float* x, int64_t n, float m);

}  // namespace sieve
