#pragma once
// Helpers shared by the attention kernel tests (attention_kernel_test.cc,
// attention_tiles_test.cc): a cache of random slots and queries.
#include <random>
#include <vector>

#include "cache/kv_cache.h"

namespace sieve::testing_support {

struct Case {
  int64_t head_dim, n_heads, n_kv_heads, context, n_q;
};

// A cache of c.context random slots and c.n_q random queries (the last
// n_q slots' tokens).
struct Filled {
  KvCache cache;
  std::vector<float> q;
  int64_t first_slot;
};

inline Filled fill(const Case& c, KvType type) {
  std::mt19937 rng(static_cast<unsigned>(c.context * 31 + c.n_q));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Filled f{KvCache(KvCacheShape{1, c.n_kv_heads, c.head_dim, 64, type}), {}, c.context - c.n_q};
  std::vector<int64_t> pos(c.context);
  for (int64_t i = 0; i < c.context; ++i) pos[i] = i;
  f.cache.append_slots(pos.data(), c.context);
  std::vector<float> k(c.n_kv_heads * c.head_dim), v(k.size());
  for (int64_t i = 0; i < c.context; ++i) {
    for (float& x : k) x = 2.0f * nd(rng);  // spread scores so softmax is not flat
    for (float& x : v) x = nd(rng);
    f.cache.write(0, i, k.data(), v.data());
  }
  f.q.resize(c.n_q * c.n_heads * c.head_dim);
  for (float& x : f.q) x = nd(rng);
  return f;
}

}  // namespace sieve::testing_support
