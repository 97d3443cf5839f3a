#include "runtime/token_choice.h"

#include <algorithm>
#include <cmath>

namespace sieve {

void apply_penalties(float* logits, int64_t n_vocab, const std::vector<int32_t>& counts, float presence,
                     float frequency) {
  if (presence == 0.0f && frequency == 0.0f) return;
  for (int64_t t = 0; t < n_vocab && t < static_cast<int64_t>(counts.size()); ++t)
    if (counts[t] > 0) logits[t] -= presence + frequency * static_cast<float>(counts[t]);
}

TokenLogprob token_logprob(const float* logits, int64_t n_vocab, int32_t token, int top) {
  double max = -INFINITY;
  for (int64_t t = 0; t < n_vocab; ++t) max = std::max(max, static_cast<double>(logits[t]));
  double sum = 0;
  for (int64_t t = 0; t < n_vocab; ++t) sum += std::exp(static_cast<double>(logits[t]) - max);
  const double log_z = max + std::log(sum);
  TokenLogprob r;
  r.token = token;
  r.logprob = static_cast<float>(logits[token] - log_z);
  if (top > 0) {
    std::vector<int32_t> ids(static_cast<size_t>(n_vocab));
    for (int64_t t = 0; t < n_vocab; ++t) ids[t] = static_cast<int32_t>(t);
    const int64_t k = std::min<int64_t>(top, n_vocab);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
    });
    for (int64_t i = 0; i < k; ++i) r.top.push_back({ids[i], static_cast<float>(logits[ids[i]] - log_z)});
  }
  return r;
}

}  // namespace sieve
