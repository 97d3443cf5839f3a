#pragma once
// What the engine does with a row of logits besides sampling: OpenAI's
// presence and frequency penalties, and log-probabilities.
#include <cstdint>
#include <vector>

#include "runtime/request.h"

namespace sieve {

// logits[t] -= presence * (counts[t] > 0) + frequency * counts[t].
void apply_penalties(float* logits, int64_t n_vocab, const std::vector<int32_t>& counts, float presence,
                     float frequency);

// log softmax(logits)[token], and the `top` most likely tokens with theirs.
TokenLogprob token_logprob(const float* logits, int64_t n_vocab, int32_t token, int top);

}  // namespace sieve
