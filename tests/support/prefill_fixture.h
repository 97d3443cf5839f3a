#pragma once
// A cache of random keys (as if rotated) with a batch of prompt queries,
// for the prefill-method tests: with a large rope_theta every pair but the
// first barely rotates, so a planted direction stays one across positions.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "attention/policy.h"
#include "support/policy_testing.h"

namespace sieve::testing_support {

struct PrefillFixture {
  static constexpr int64_t kHd = 64, kKv = 2, kHeads = 4;

  ModelConfig config;
  Rope rope;
  KvCache cache;
  std::vector<float> q;
  int64_t first_slot, n_q;
  ThreadPool pool{2};

  // rope_theta: the default barely rotates (see above); 10000 rotates as a model does.
  PrefillFixture(int64_t context, int64_t queries, KvType type = KvType::F32, double rope_theta = 1e12)
      : config(testing::small_policy_config(kHd, kHeads, kKv, rope_theta)),
        rope(config, {}),
        cache(KvCacheShape{1, kKv, kHd, 64, type}),
        first_slot(context - queries),
        n_q(queries) {
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<int64_t> pos(context);
    for (int64_t i = 0; i < context; ++i) pos[i] = i;
    cache.append_slots(pos.data(), context);
    std::vector<float> k(kKv * kHd), v(k.size());
    for (int64_t i = 0; i < context; ++i) {
      for (float& x : k) x = nd(rng);
      for (float& x : v) x = nd(rng);
      cache.write(0, i, k.data(), v.data());
    }
    q.resize(n_q * kHeads * kHd);
    for (float& x : q) x = nd(rng);
  }
  AttentionInput input() { return {cache, 0, q.data(), n_q, first_slot, kHeads, rope, pool}; }
  // The planted direction: zero on the fast-rotating first pair.
  static std::vector<float> direction(float scale) {
    std::vector<float> u(kHd, scale / std::sqrt(static_cast<float>(kHd - 2)));
    u[0] = u[1] = 0;
    return u;
  }
  void plant_key(int64_t slot, const std::vector<float>& u) {
    std::vector<float> k(kKv * kHd), v(kKv * kHd);
    cache.read_key(0, 0, slot, k.data());
    cache.read_key(0, 1, slot, k.data() + kHd);
    cache.read_value(0, 0, slot, v.data());
    cache.read_value(0, 1, slot, v.data() + kHd);
    std::copy(u.begin(), u.end(), k.begin());  // KV head 0
    cache.write(0, slot, k.data(), v.data());
  }
  void point_queries(const std::vector<float>& u) {  // query heads 0 and 1 (KV head 0) along u
    for (int64_t t = 0; t < n_q; ++t)
      for (int64_t h = 0; h < 2; ++h) std::copy(u.begin(), u.end(), q.begin() + (t * kHeads + h) * kHd);
  }
};

}  // namespace sieve::testing_support
