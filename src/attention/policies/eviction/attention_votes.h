#pragma once
// The step every eviction policy shares: one query's attention
// probabilities (a softmax of its raw scores over the slots it sees), added
// with a weight to per-slot votes. The exponentials are computed in float
// with the vector unit (Highway, chosen at run time); the votes, sums over
// thousands of queries, are kept in double.
#include <cstdint>

namespace sieve {

// votes[j] += weight * softmax(scores[0, seen))[j] for j < count (count <= seen).
// The scores are overwritten (with their exponentials): each is computed once.
void add_attention(float* scores, int64_t seen, int64_t count, double weight, double* votes);

}  // namespace sieve
