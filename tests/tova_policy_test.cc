// tova (attention/policies/eviction/tova_policy.h): the head-averaged
// attention against a direct computation, the least attended token dropped
// on a hand-built cache, and through the engine: a budget that holds
// everything is `full`, a small one holds the cache at the budget.
#include "attention/policies/eviction/tova_policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/engine.h"
#include "runtime/generator.h"
#include "support/engine_fixture.h"

namespace sieve {
namespace {

TEST(Tova, HeadMeanAttentionEqualsTheDirectComputation) {
  const int64_t hd = 64, n_kv = 2, n_heads = 8, n = 150;
  KvCache cache({1, n_kv, hd, 64, KvType::F16});
  std::vector<int64_t> pos(n);
  for (int64_t i = 0; i < n; ++i) pos[i] = i;
  cache.append_slots(pos.data(), n);
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> k(n_kv * hd), v(n_kv * hd), q(n_heads * hd), key(hd);
  for (int64_t i = 0; i < n; ++i) {
    for (float& x : k) x = nd(rng);
    for (float& x : v) x = nd(rng);
    cache.write(0, i, k.data(), v.data());
  }
  for (float& x : q) x = 0.2f * nd(rng);
  const std::vector<double> got = TovaPolicy::head_mean_attention(cache, 0, q.data(), n_heads, n);
  std::vector<double> want(n, 0.0);
  for (int64_t h = 0; h < n_heads; ++h) {
    std::vector<double> s(n);
    for (int64_t j = 0; j < n; ++j) {
      cache.read_key(0, h / (n_heads / n_kv), j, key.data());
      double d = 0;
      for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(q[h * hd + i]) * key[i];
      s[j] = d;
    }
    const double m = *std::max_element(s.begin(), s.end());
    double z = 0;
    for (double x : s) z += std::exp(x - m);
    for (int64_t j = 0; j < n; ++j) want[j] += std::exp(s[j] - m) / z / n_heads;
  }
  for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(got[j], want[j], 1e-6) << "slot " << j;
}

class TovaEngine : public testing_support::TestModelEngine {
 protected:
  static std::vector<int32_t> prompt(int64_t n) { return TestModelEngine::prompt(n, 29); }
};

TEST_F(TovaEngine, ABudgetHoldingEverythingIsFullAttention) {
  Engine engine(*model_, *pool_, no_prefix_cache());
  const auto p = prompt(500);
  const RequestResult full = generate(engine, p, greedy("full", 16));
  const RequestResult tova = generate(engine, p, greedy("tova:budget=600", 16));
  EXPECT_EQ(tova.tokens, full.tokens);
  EXPECT_EQ(tova.policy_counters, (std::vector<std::pair<std::string, double>>{{"dropped_tokens", 0}}));
}

// Past the budget, every step drops one token per layer: the cache stays at
// the budget (one slot for the step's own token on top while it runs), and
// each decoded token reads the budget.
TEST_F(TovaEngine, TheCacheStaysAtTheBudget) {
  Engine engine(*model_, *pool_, no_prefix_cache());
  const auto p = prompt(700);
  const RequestResult r = generate(engine, p, greedy("tova:budget=200", 40));
  ASSERT_EQ(r.tokens.size(), 40u);
  // 500 dropped at the prompt's end, one per decoded token after the first
  // (the first comes from the prompt's logits).
  EXPECT_EQ(r.policy_counters[0].second, 500.0 + 39.0);
  const ModelConfig& c = model_->config();
  EXPECT_DOUBLE_EQ(r.attention_reads.slots_per_token(c.n_layers, c.n_kv_heads), 201.0);
  EXPECT_LE(r.kv_cache_bytes, KvCache::page_bytes([&] {
              KvCacheShape s{c.n_layers, c.n_kv_heads, c.head_dim, 64, KvType::F16};
              return s;
            }()) * 4);  // 200 slots: 4 pages of 64
  EXPECT_EQ(engine.metrics().kv_pages_used, 0);
  // ratio=0.75: the budget is a quarter of the prompt, set at its end.
  const RequestResult q = generate(engine, prompt(800), greedy("tova:ratio=0.75", 10));
  EXPECT_EQ(q.attn, "tova:ratio=0.75");
  EXPECT_EQ(q.policy_counters[0].second, 600.0 + 9.0);
  EXPECT_DOUBLE_EQ(q.attention_reads.slots_per_token(c.n_layers, c.n_kv_heads), 201.0);
}

// The token the query ignores scores lowest (the one a step drops): every
// key but one along the query's direction.
TEST(Tova, TheIgnoredTokenScoresLowest) {
  const int64_t hd = 64, n_heads = 2, n = 10;
  KvCache cache({1, 1, hd, 64, KvType::F32});
  std::vector<int64_t> pos(n);
  for (int64_t i = 0; i < n; ++i) pos[i] = i;
  cache.append_slots(pos.data(), n);
  std::vector<float> k(hd), v(hd, 0.0f), q(n_heads * hd, 0.1f);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t d = 0; d < hd; ++d) k[d] = i == 6 ? -1.0f : 1.0f;
    cache.write(0, i, k.data(), v.data());
  }
  const std::vector<double> a = TovaPolicy::head_mean_attention(cache, 0, q.data(), n_heads, n);
  EXPECT_EQ(std::min_element(a.begin(), a.end()) - a.begin(), 6);
}

}  // namespace
}  // namespace sieve
