// `full`: exact attention over every cached slot, at true positions. The
// reference every other policy is measured against.
#include "attention/full_policy.h"

#include <vector>

#include "attention/full_attention.h"

namespace sieve {

void FullPolicy::attend(const AttentionInput& in, float* out) {
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim;
  rotated_.assign(in.q, in.q + in.n_q * in.n_heads * hd);
  for (int64_t i = 0; i < in.n_q; ++i)
    in.rope.rotate(rotated_.data() + i * in.n_heads * hd, in.n_heads,
                   static_cast<double>(in.cache.positions()[in.first_slot + i]));
  attend_full(in.cache, in.layer, rotated_.data(), in.n_q, in.first_slot, in.n_heads, out, in.pool);
  count_read(in, static_cast<double>((in.first_slot + 1) * s.n_kv_heads));
}

}  // namespace sieve
