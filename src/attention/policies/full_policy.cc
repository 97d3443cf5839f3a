// `full`: exact attention over every cached slot, at true positions. The
// reference every other policy is measured against.
#include "attention/policies/full_policy.h"

#include <vector>

#include "attention/full_attention.h"

namespace sieve {

double attend_dense(const AttentionInput& in, std::vector<float>& rotated, float* out) {
  const int64_t hd = in.cache.shape().head_dim;
  rotated.assign(in.q, in.q + in.n_q * in.n_heads * hd);
  for (int64_t i = 0; i < in.n_q; ++i)
    in.rope.rotate(rotated.data() + i * in.n_heads * hd, in.n_heads,
                   static_cast<double>(in.cache.positions()[in.first_slot + i]));
  attend_full(in.cache, in.layer, rotated.data(), in.n_q, in.first_slot, in.n_heads, out, in.pool);
  return static_cast<double>((in.first_slot + 1) * in.cache.shape().n_kv_heads);
}

void FullPolicy::attend(const AttentionInput& in, float* out) { count_read(in, attend_dense(in, rotated_, out)); }

}  // namespace sieve
