// h2o (attention/policies/eviction/h2o_policy.h): the accumulated attention
// against a direct computation, the prompt cut to the recent window plus the
// heaviest tokens (their keys moved with them), and through the engine: a
// budget that holds everything is `full`, a small one holds the cache there.
#include "attention/policies/eviction/h2o_policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "model/config.h"
#include "model/rope.h"
#include "runtime/engine.h"
#include "runtime/generator.h"
#include "support/engine_fixture.h"

namespace sieve {
namespace {

struct Small {
  static constexpr int64_t hd = 32, n_heads = 2, n = 40;
  ModelConfig config;
  KvCache cache{KvCacheShape{1, 1, hd, 16, KvType::F32}};
  std::vector<float> q, keys;
  Small() {
    config.head_dim = hd;
    config.rope_theta = 10000;
    std::vector<int64_t> pos(n);
    std::iota(pos.begin(), pos.end(), 0);
    cache.append_slots(pos.data(), n);
    std::mt19937 rng(4);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    keys.resize(n * hd);
    std::vector<float> v(hd);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t d = 0; d < hd; ++d) keys[i * hd + d] = nd(rng);
      for (float& x : v) x = nd(rng);
      cache.write(0, i, keys.data() + i * hd, v.data());
    }
    q.resize(n * n_heads * hd);
    for (float& x : q) x = nd(rng);
  }
};

TEST(H2o, AccumulatesEveryQuerysAttentionAndKeepsRecentPlusHeaviest) {
  Small s;
  const Rope rope(s.config, {});
  ThreadPool pool(2);
  H2oPolicy policy(10, 0.5, 0.0);
  std::vector<float> out(s.q.size());
  policy.attend({s.cache, 0, s.q.data(), Small::n, 0, Small::n_heads, rope, pool}, out.data());
  // Direct: each query rotated to its position, softmax over slots [0, t], averaged over the 2 heads.
  std::vector<double> want(Small::n, 0.0);
  for (int64_t t = 0; t < Small::n; ++t) {
    std::vector<float> qt(s.q.begin() + t * Small::n_heads * Small::hd, s.q.begin() + (t + 1) * Small::n_heads * Small::hd);
    rope.rotate(qt.data(), Small::n_heads, static_cast<double>(t));
    for (int64_t g = 0; g < Small::n_heads; ++g) {
      std::vector<double> sc(t + 1);
      for (int64_t j = 0; j <= t; ++j) {
        double d = 0;
        for (int64_t i = 0; i < Small::hd; ++i) d += static_cast<double>(qt[g * Small::hd + i]) * s.keys[j * Small::hd + i];
        sc[j] = d / std::sqrt(static_cast<double>(Small::hd));
      }
      const double m = *std::max_element(sc.begin(), sc.end());
      double z = 0;
      for (double x : sc) z += std::exp(x - m);
      for (int64_t j = 0; j <= t; ++j) want[j] += std::exp(sc[j] - m) / z / Small::n_heads;
    }
  }
  const std::vector<double>& got = policy.scores(0, 0);
  ASSERT_EQ(got.size(), want.size());
  for (int64_t j = 0; j < Small::n; ++j) EXPECT_NEAR(got[j], want[j], 1e-5) << "slot " << j;
  // The prompt's end: the 5 newest slots and the 5 heaviest of the rest, in slot order, keys moved with them.
  std::vector<int64_t> older(Small::n - 5);
  std::iota(older.begin(), older.end(), 0);
  std::sort(older.begin(), older.end(), [&](int64_t a, int64_t b) { return want[a] > want[b]; });
  std::vector<int64_t> kept(older.begin(), older.begin() + 5);
  std::sort(kept.begin(), kept.end());
  for (int64_t j = Small::n - 5; j < Small::n; ++j) kept.push_back(j);
  policy.end_prompt(s.cache, pool);
  ASSERT_EQ(s.cache.size(), 10);
  std::vector<float> key(Small::hd);
  for (int64_t i = 0; i < 10; ++i) {
    s.cache.read_key(0, 0, i, key.data());
    EXPECT_EQ(std::vector<float>(key), std::vector<float>(s.keys.begin() + kept[i] * Small::hd,
                                                          s.keys.begin() + (kept[i] + 1) * Small::hd))
        << "slot " << i << " should hold token " << kept[i];
    EXPECT_NEAR(policy.scores(0, 0)[i], want[kept[i]], 1e-5);
  }
}

class H2oEngine : public testing_support::TestModelEngine {
 protected:
  static std::vector<int32_t> prompt(int64_t n) { return TestModelEngine::prompt(n, 41); }
};

TEST_F(H2oEngine, ABudgetHoldingEverythingIsFullAndASmallOneHoldsTheCacheThere) {
  Engine engine(*model_, *pool_, no_prefix_cache());
  const auto p = prompt(500);
  const RequestResult full = generate(engine, p, greedy("full", 16));
  const RequestResult all = generate(engine, p, greedy("h2o:budget=600", 16));
  EXPECT_EQ(all.tokens, full.tokens);
  EXPECT_EQ(all.attn, "h2o:budget=600,recent=0.5");
  const RequestResult r = generate(engine, p, greedy("h2o:budget=128", 24));
  ASSERT_EQ(r.tokens.size(), 24u);
  EXPECT_EQ(r.policy_counters[0].second, 500.0 - 128.0 + 23.0);
  const ModelConfig& c = model_->config();
  EXPECT_DOUBLE_EQ(r.attention_reads.slots_per_token(c.n_layers, c.n_kv_heads), 129.0);
  const RequestResult q = generate(engine, p, greedy("h2o:ratio=0.75", 10));  // 125 of the 500
  EXPECT_EQ(q.attn, "h2o:ratio=0.75,recent=0.5");
  EXPECT_EQ(q.policy_counters[0].second, 375.0 + 9.0);
  EXPECT_EQ(engine.metrics().kv_pages_used, 0);
}

}  // namespace
}  // namespace sieve
