// snapkv and pyramidkv (attention/policies/eviction/snapkv_policy.h): the
// kept set against a direct computation of SnapKV's votes, planted tokens
// kept, PyramidKV's budget schedule, and through the engine: a budget that
// covers the prompt is `full`, a small one frees the cache and reads only
// what it kept.
#include "attention/policies/eviction/snapkv_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "runtime/engine.h"
#include "runtime/generator.h"
#include "support/engine_fixture.h"
#include "util/spec.h"

namespace sieve {
namespace {

SnapKvOptions options(int64_t budget, int64_t window, int64_t kernel, bool max_pool = false) {
  SnapKvOptions o;
  o.budget = budget, o.window = window, o.kernel = kernel, o.max_pool = max_pool;
  return o;
}

// A one-layer, one-KV-head cache of n random keys and values.
KvCache random_cache(int64_t n, int64_t hd, KvType type, unsigned seed) {
  KvCache cache({1, 1, hd, 64, type});
  std::vector<int64_t> pos(n);
  for (int64_t i = 0; i < n; ++i) pos[i] = i;
  cache.append_slots(pos.data(), n);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> k(hd), v(hd);
  for (int64_t i = 0; i < n; ++i) {
    for (float& x : k) x = nd(rng);
    for (float& x : v) x = nd(rng);
    cache.write(0, i, k.data(), v.data());
  }
  return cache;
}

// SnapKV's selection computed here in double from the cache's keys: softmax
// of each window query over what it sees, summed over the window on the
// tokens before it, averaged over the group, pooled like torch's pool1d
// (padding kernel/2), top (keep - window) by score then position, plus the
// window.
std::vector<int64_t> reference_select(const KvCache& cache, const std::vector<float>& q, int64_t group, int64_t n,
                                      int64_t window, int64_t keep, int64_t kernel, bool max_pool) {
  const int64_t hd = cache.shape().head_dim, prefix = n - window;
  std::vector<double> votes(prefix, 0.0);
  std::vector<float> key(hd);
  for (int64_t t = 0; t < window; ++t)
    for (int64_t g = 0; g < group; ++g) {
      const int64_t seen = prefix + t + 1;
      std::vector<double> s(seen);
      for (int64_t j = 0; j < seen; ++j) {
        cache.read_key(0, 0, j, key.data());
        double d = 0;
        for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(q[(t * group + g) * hd + i]) * key[i];
        s[j] = d;
      }
      const double m = *std::max_element(s.begin(), s.end());
      double z = 0;
      for (double x : s) z += std::exp(x - m);
      for (int64_t j = 0; j < prefix; ++j) votes[j] += std::exp(s[j] - m) / z / static_cast<double>(group);
    }
  std::vector<std::pair<double, int64_t>> pooled;
  for (int64_t j = 0; j < prefix; ++j) {
    double acc = max_pool ? -1e300 : 0.0;
    for (int64_t k = j - kernel / 2; k <= j + kernel / 2; ++k)
      if (k >= 0 && k < prefix) acc = max_pool ? std::max(acc, votes[k]) : acc + votes[k];
    pooled.push_back({max_pool ? acc : acc / static_cast<double>(kernel), j});
  }
  std::sort(pooled.begin(), pooled.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < keep - window; ++i) kept.push_back(pooled[i].second);
  std::sort(kept.begin(), kept.end());
  for (int64_t j = prefix; j < n; ++j) kept.push_back(j);
  return kept;
}

TEST(SnapKv, SelectionEqualsTheDirectComputation) {
  const int64_t hd = 64, n = 300, window = 16, group = 4;
  for (KvType type : {KvType::F32, KvType::F16, KvType::Q8_0})
    for (bool max_pool : {false, true}) {
      const KvCache cache = random_cache(n, hd, type, 11);
      std::mt19937 rng(3);
      std::normal_distribution<float> nd(0.0f, 0.3f);
      std::vector<float> q(window * group * hd);
      for (float& x : q) x = nd(rng);
      const SnapKvPolicy policy(options(80, window, 5, max_pool));
      for (int64_t keep : {window + 1, int64_t{80}, int64_t{200}})
        EXPECT_EQ(policy.select(cache, 0, 0, q.data(), group, n, keep),
                  reference_select(cache, q, group, n, window, keep, 5, max_pool))
            << kv_type_name(type) << " keep " << keep << (max_pool ? " max" : " avg");
    }
}

// Two tokens the window attends to, and their pooled neighbourhoods, are
// what a budget of the window plus ten keeps.
TEST(SnapKv, KeepsThePlantedTokensAndTheirNeighbours) {
  const int64_t hd = 32, n = 200, window = 8;
  KvCache cache = random_cache(n, hd, KvType::F32, 5);
  std::vector<float> needle(hd), v(hd, 0.0f);
  for (int64_t i = 0; i < hd; ++i) needle[i] = i % 2 ? 1.0f : -1.0f;
  for (int64_t slot : {40, 130}) cache.write(0, slot, needle.data(), v.data());
  std::vector<float> q(window * hd);
  for (int64_t t = 0; t < window; ++t)
    for (int64_t i = 0; i < hd; ++i) q[t * hd + i] = needle[i];  // q . needle = 32, q . random ~ N(0, 32)
  const SnapKvPolicy policy(options(window + 10, window, 5));
  std::vector<int64_t> want = {38, 39, 40, 41, 42, 128, 129, 130, 131, 132};
  for (int64_t j = n - window; j < n; ++j) want.push_back(j);
  EXPECT_EQ(policy.select(cache, 0, 0, q.data(), 1, n, window + 10), want);
}

TEST(PyramidKv, BudgetShrinksLinearlyOverLayersAsTheReferenceComputesIt) {
  Spec spec("pyramidkv");
  const auto policy = SnapKvPolicy::from_spec(spec, true);
  const auto& p = dynamic_cast<const SnapKvPolicy&>(*policy);
  EXPECT_EQ(p.spec(), "pyramidkv:budget=2048,window=32,kernel=5,pool=avg,beta=20");
  // budget 2048, window 32, beta 20, 8 layers, 8192 prompt tokens: min
  // (2016 / 20) = 100, max 2 * 2016 - 100 = 3932, steps (3932 - 100) / 8 = 479.
  for (int64_t l = 0; l < 8; ++l) EXPECT_EQ(p.kept_tokens(l, 8, 8192), 3932 - 479 * l + 32) << "layer " << l;
  EXPECT_EQ(p.kept_tokens(3, 8, 2000), 2000);  // within the budget: the whole prompt
  // A short prompt caps the first layer at the prompt: max = n - window.
  EXPECT_EQ(p.kept_tokens(0, 8, 3000), 3000);
  Spec snap_spec("snapkv:ratio=0.75");
  const auto snap = SnapKvPolicy::from_spec(snap_spec, false);
  EXPECT_EQ(dynamic_cast<const SnapKvPolicy&>(*snap).kept_tokens(5, 8, 8000), 2000);
}

class SnapKvEngine : public testing_support::TestModelEngine {
 protected:
  static std::vector<int32_t> prompt(int64_t n) { return TestModelEngine::prompt(n, 53); }
};

TEST_F(SnapKvEngine, ABudgetCoveringThePromptIsFullAttention) {
  Engine engine(*model_, *pool_, no_prefix_cache());
  const auto p = prompt(600);
  const RequestResult full = generate(engine, p, greedy("full", 12));
  for (const char* spec : {"snapkv:budget=4096", "pyramidkv:budget=4096"}) {
    const RequestResult r = generate(engine, p, greedy(spec, 12));
    EXPECT_EQ(r.tokens, full.tokens) << spec;
    EXPECT_EQ(r.kv_cache_bytes, full.kv_cache_bytes) << spec;
  }
}

TEST_F(SnapKvEngine, ASmallBudgetFreesTheCacheAndReadsOnlyWhatItKept) {
  Engine engine(*model_, *pool_, no_prefix_cache());
  const auto p = prompt(1000);
  const RequestResult full = generate(engine, p, greedy("full", 12));
  const RequestResult snap = generate(engine, p, greedy("snapkv:budget=256", 12));
  ASSERT_EQ(snap.tokens.size(), 12u);
  EXPECT_EQ(snap.attn, "snapkv:budget=256,window=32,kernel=5,pool=avg");
  // 256 kept slots + 12 generated: 5 pages of 64 against 16.
  EXPECT_LT(snap.kv_cache_bytes * 3, full.kv_cache_bytes);
  // Decoding reads the 256 kept slots and the tokens after the prompt.
  const ModelConfig& c = model_->config();
  const double slots = snap.attention_reads.slots_per_token(c.n_layers, c.n_kv_heads);
  EXPECT_GT(slots, 256.0);
  EXPECT_LT(slots, 256.0 + 12.0);
  EXPECT_GT(full.attention_reads.slots_per_token(c.n_layers, c.n_kv_heads), 1000.0);
  // PyramidKV: the layers' budgets average about `budget` (256 + 12 at most read per layer on average).
  const RequestResult pyramid = generate(engine, p, greedy("pyramidkv:budget=256", 12));
  ASSERT_EQ(pyramid.tokens.size(), 12u);
  EXPECT_LT(pyramid.attention_reads.slots_per_token(c.n_layers, c.n_kv_heads), 1000.0 * 0.6);
  EXPECT_EQ(engine.metrics().kv_pages_used, 0);
}

// A conversation compressed by snapkv continues under snapkv from its
// compressed cache, but under another policy from scratch: `full` must not
// read a cache whose slots were moved.
TEST_F(SnapKvEngine, ACompressedConversationContinuesOnlyUnderItsOwnPolicy) {
  Engine engine(*model_, *pool_, no_prefix_cache());
  for (const char* next : {"snapkv:budget=256", "full"}) {
    RequestOptions first = greedy("snapkv:budget=256", 12);
    first.keep = true;
    RequestResult r1;
    RequestCallbacks cb;
    cb.on_finish = [&](const RequestResult& r) { r1 = r; };
    const uint64_t id = engine.submit(prompt(600), first, cb);
    engine.run_until_idle();
    std::vector<int32_t> turn2 = r1.prompt_tokens;
    turn2.insert(turn2.end(), r1.tokens.begin(), r1.tokens.end());
    for (int i = 0; i < 20; ++i) turn2.push_back(700 + i);
    RequestOptions second = greedy(next, 12);
    second.continue_from = id;
    const RequestResult r2 = generate(engine, turn2, second);
    EXPECT_EQ(r2.cached_prompt_tokens, std::string(next) == "full" ? 0 : 611) << next;
    EXPECT_EQ(r2.tokens.size(), 12u);
  }
}

}  // namespace
}  // namespace sieve
