// `recycled`: spec parsing, the recycled cache (top-K of the last full step's
// attention, max over the GQA group, shrinking as new tokens join it) and the
// fixed and dynamic schedules on a hand-built cache, equality with `full`
// when the budget covers the context, and clone().
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/policy.h"
#include "attention/policies/recycled_policy.h"
#include "runtime/transformer.h"
#include "support/policy_testing.h"
#include "test_paths.h"
#include "util/error.h"

namespace sieve {
namespace {

constexpr int64_t kHd = 64, kKv = 2, kHeads = 4, kGroup = kHeads / kKv;

ModelConfig small_config() { return testing::small_policy_config(kHd, kHeads, kKv); }

std::string spec_error(const std::string& spec) { return testing::policy_spec_error(spec, small_config()); }

TEST(RecycledSpec, DefaultsCanonicalSpecsAndErrors) {
  const ModelConfig c = small_config();
  EXPECT_EQ(make_policy("recycled", c)->spec(), "recycled:budget=1024,stride=50,dynamic=0,threshold=0.8");
  EXPECT_EQ(make_policy("recycled:dynamic=1", c)->spec(), "recycled:budget=1024,stride=5,dynamic=1,threshold=0.8");
  EXPECT_EQ(make_policy("recycled:budget=512,stride=10", c)->spec(),
            "recycled:budget=512,stride=10,dynamic=0,threshold=0.8");
  EXPECT_EQ(make_policy("recycled:dynamic=on,stride=8,threshold=0.95", c)->spec(),
            "recycled:budget=1024,stride=8,dynamic=1,threshold=0.95");
  auto spec = make_policy("recycled:budget=2048,stride=20,dynamic=1,threshold=0.9", c)->spec();
  EXPECT_EQ(make_policy(spec, c)->spec(), spec);
  EXPECT_NE(spec_error("recycled:budget=0").find("budget must be >= 1"), std::string::npos);
  EXPECT_NE(spec_error("recycled:stride=0").find("stride must be >= 1"), std::string::npos);
  EXPECT_NE(spec_error("recycled:threshold=2").find("threshold must be a number in"), std::string::npos);
  EXPECT_NE(spec_error("recycled:dynamic=maybe").find("dynamic must be on or off"), std::string::npos);
  EXPECT_NE(spec_error("recycled:k=3").find("no parameter 'k' (valid: budget, stride, dynamic, threshold)"),
            std::string::npos);
  EXPECT_NE(spec_error("nope").find("recycled:budget=1024,stride=50,dynamic=0,threshold=0.8"), std::string::npos);
  EXPECT_NE(policy_help().find("recycled:budget=1024,stride=50,dynamic=0,threshold=0.8"), std::string::npos);
}

// A one-layer cache, positions 2*slot+3, keys written as cached (already
// rotated). Slots 3, 7 and 11 carry keys (4,0), (3,3), (0,3.2) in dimensions
// 0-1, the other prompt slots zero keys, decoded slots tiny random keys.
// The crafted query (8*e0 for group head 0, 8*e1 for group head 1) gives, over
// the 30 prompt slots, the probabilities
//   head 0: slot 3 .532, slot 7 .196, others .0097
//   head 1: slot 11 .338, slot 7 .277, others .0138
// so the ranking by the group maximum is 3 (.532), 11 (.338), 7 (.277): with
// K = 3 one new token leaves {3, 11}, two leave {3}. (Summing over the group
// would rank 3, 7, 11 and keep {3, 7}.)
struct HandCache {
  ModelConfig config = small_config();
  Rope rope{config, {}};
  KvCache cache{KvCacheShape{1, kKv, kHd, 64, KvType::F32}};
  std::mt19937 rng{17};
  std::normal_distribution<float> nd{0.0f, 1.0f};

  static int64_t position(int64_t slot) { return 2 * slot + 3; }

  void append() {
    const int64_t slot = cache.size(), pos = position(slot);
    cache.append_slots(&pos, 1);
    std::vector<float> key(kKv * kHd, 0.0f), value(kKv * kHd);
    for (int64_t h = 0; h < kKv; ++h) {
      float* k = key.data() + h * kHd;
      if (slot == 3) k[0] = 4;
      if (slot == 7) k[0] = k[1] = 3;
      if (slot == 11) k[1] = 3.2f;
      if (slot >= 30)
        for (int64_t d = 0; d < kHd; ++d) k[d] = 0.01f * nd(rng);
    }
    for (float& x : value) x = nd(rng);
    cache.write(0, slot, key.data(), value.data());
  }
  // The crafted query of a token in `slot`, before RoPE.
  std::vector<float> crafted(int64_t slot) const {
    std::vector<float> q(kHeads * kHd, 0.0f);
    for (int64_t h = 0; h < kHeads; ++h) q[h * kHd + h % kGroup] = 8.0f;
    rope.rotate(q.data(), kHeads, -static_cast<double>(position(slot)));
    return q;
  }
  std::vector<float> random_query() {
    std::vector<float> q(kHeads * kHd);
    for (float& x : q) x = nd(rng);
    return q;
  }
  // Softmax attention of the query (before RoPE) of the token in `slot`, head h, over `slots`.
  std::vector<double> reference(const std::vector<float>& q_raw, int64_t slot, int64_t h,
                                const std::vector<int64_t>& slots) const {
    std::vector<float> q(q_raw.begin() + h * kHd, q_raw.begin() + (h + 1) * kHd), k(kHd), v(kHd);
    rope.rotate(q.data(), 1, static_cast<double>(position(slot)));
    std::vector<double> s;
    double m = -1e300;
    for (int64_t j : slots) {
      cache.read_key(0, h / kGroup, j, k.data());
      double d = 0;
      for (int64_t i = 0; i < kHd; ++i) d += static_cast<double>(q[i]) * k[i];
      s.push_back(d / 8.0);
      m = std::max(m, s.back());
    }
    double z = 0;
    for (double& x : s) z += (x = std::exp(x - m));
    std::vector<double> out(kHd, 0.0);
    for (size_t j = 0; j < slots.size(); ++j) {
      cache.read_value(0, h / kGroup, slots[j], v.data());
      for (int64_t i = 0; i < kHd; ++i) out[i] += s[j] / z * v[i];
    }
    return out;
  }
  // Prefills 30 slots (the last token with the crafted query).
  void prefill(AttentionPolicy& policy, ThreadPool& pool) {
    for (int64_t s = 0; s < 30; ++s) append();
    std::vector<float> q;
    for (int64_t t = 0; t < 29; ++t) {
      const std::vector<float> r = random_query();
      q.insert(q.end(), r.begin(), r.end());
    }
    const std::vector<float> last = crafted(29);
    q.insert(q.end(), last.begin(), last.end());
    std::vector<float> out(30 * kHeads * kHd);
    policy.attend({cache, 0, q.data(), 30, 0, kHeads, rope, pool}, out.data());
  }
  // Decodes one slot with query q_raw and checks the output against softmax over `want`.
  void decode_and_check(AttentionPolicy& policy, ThreadPool& pool, const std::vector<float>& q_raw,
                        const std::vector<int64_t>& want) {
    append();
    const int64_t slot = cache.size() - 1;
    std::vector<float> out(kHeads * kHd);
    policy.attend({cache, 0, q_raw.data(), 1, slot, kHeads, rope, pool}, out.data());
    for (int64_t h = 0; h < kHeads; ++h) {
      const std::vector<double> ref = reference(q_raw, slot, h, want);
      for (int64_t i = 0; i < kHd; ++i) ASSERT_NEAR(out[h * kHd + i], ref[i], 2e-5) << "slot " << slot << " head " << h;
    }
  }
};

std::vector<int64_t> all_slots(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// Fixed schedule, K = 3, S = 4: after the prefill (a full step at slot 29),
// slot 29+j reads the j newest slots and the 3-j best-ranked; slot 33 is a
// full step and reseeds the ranking.
TEST(RecycledPolicy, RecyclesTheTopSlotsOfTheLastFullStep) {
  HandCache hc;
  RecycledPolicy policy(3, 4, false, 0.8);
  ThreadPool pool(2);
  hc.prefill(policy, pool);
  EXPECT_EQ(policy.full_step_slot(0), 29);
  hc.decode_and_check(policy, pool, hc.random_query(), {3, 11, 30});
  hc.decode_and_check(policy, pool, hc.random_query(), {3, 30, 31});
  hc.decode_and_check(policy, pool, hc.random_query(), {30, 31, 32});
  hc.decode_and_check(policy, pool, hc.crafted(33), all_slots(34));
  EXPECT_EQ(policy.full_step_slot(0), 33);
  hc.decode_and_check(policy, pool, hc.random_query(), {3, 11, 34});
  EXPECT_EQ(policy.full_steps(), 1);
  EXPECT_EQ(policy.recycled_steps(), 4);
  // Slots read per decoded token and KV head: 3 + 3 + 3 + 34 + 3.
  EXPECT_NEAR(policy.stats().slots_per_token(1, kKv), (3 + 3 + 3 + 34 + 3) / 5.0, 1e-9);
}

// Dynamic schedule, K = 3, check every 2 steps, threshold 0.8: the checks at
// j = 2 (the same query as the full step: similarity 1) recycles, the one at
// j = 4 (the opposite query: similarity -1) does a full step; steps between
// checks recycle whatever their query.
TEST(RecycledPolicy, DynamicScheduleComparesQueriesEveryStrideSteps) {
  HandCache hc;
  RecycledPolicy policy(3, 2, true, 0.8);
  ThreadPool pool(2);
  hc.prefill(policy, pool);
  const std::vector<float> same = hc.crafted(29);
  std::vector<float> opposite = same;
  for (float& x : opposite) x = -x;
  hc.decode_and_check(policy, pool, opposite, {3, 11, 30});
  hc.decode_and_check(policy, pool, same, {3, 30, 31});
  hc.decode_and_check(policy, pool, opposite, {30, 31, 32});
  EXPECT_EQ(policy.full_steps(), 0);
  hc.decode_and_check(policy, pool, opposite, all_slots(34));
  EXPECT_EQ(policy.full_steps(), 1);
  EXPECT_EQ(policy.recycled_steps(), 3);
  EXPECT_EQ(policy.full_step_slot(0), 33);
}

class RecycledOnTestModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Model::load(test_model_dir() + "/model-bf16.gguf").release(); }
  static void TearDownTestSuite() { delete model_; }
  // Prefills `prompt_len` tokens (none: continue the cache), then greedily
  // decodes `steps` from `first` or the prefill's logits; returns every step's logits.
  static std::vector<std::vector<float>> run(Transformer& tf, KvCache& cache, AttentionPolicy* policy,
                                             int64_t prompt_len, int steps, int32_t first = 7) {
    return testing::run_greedy(tf, cache, policy, prompt_len, steps, first);
  }
  static Model* model_;
};
Model* RecycledOnTestModel::model_ = nullptr;

TEST_F(RecycledOnTestModel, EqualsFullWhenTheBudgetCoversTheContext) {
  ThreadPool pool(2);
  Transformer tf(*model_, pool);
  // An f32 cache: with f16 the two runs' last-bit differences flip the
  // rounding of later keys and grow step by step, hiding what is tested.
  KvCache a(tf.cache_shape(KvType::F32));
  auto full = make_policy("full", model_->config());
  const auto x = run(tf, a, full.get(), 200, 20);
  for (const char* spec : {"recycled:budget=4096,stride=8", "recycled:budget=4096,dynamic=1,stride=2,threshold=0.99"}) {
    KvCache b(tf.cache_shape(KvType::F32));
    auto recycled = make_policy(spec, model_->config());
    const auto y = run(tf, b, recycled.get(), 200, 20);
    // The recycled cache holds the slots in rank order: the same terms as full
    // attention, summed in another order.
    for (size_t s = 0; s < x.size(); ++s)
      for (size_t i = 0; i < x[s].size(); ++i) ASSERT_NEAR(x[s][i], y[s][i], 1e-4) << spec << " step " << s;
    EXPECT_GT(dynamic_cast<const RecycledPolicy&>(*recycled).recycled_steps(), 0) << spec;
  }
}

TEST_F(RecycledOnTestModel, SmallBudgetReadsLessAndDiffers) {
  ThreadPool pool(2);
  Transformer tf(*model_, pool);
  auto full = make_policy("full", model_->config());
  auto recycled = make_policy("recycled:budget=32,stride=8", model_->config());
  KvCache a(tf.cache_shape(KvType::F16)), b(tf.cache_shape(KvType::F16));
  const auto x = run(tf, a, full.get(), 600, 16), y = run(tf, b, recycled.get(), 600, 16);
  double diff = 0;
  for (size_t i = 0; i < x.back().size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(x.back()[i] - y.back()[i])));
  EXPECT_GT(diff, 1e-3);
  const auto& r = dynamic_cast<const RecycledPolicy&>(*recycled);
  const int64_t layers = model_->config().n_layers;
  EXPECT_EQ(r.full_steps(), 2 * layers);  // steps 8 and 16 of 16
  EXPECT_EQ(r.recycled_steps(), 14 * layers);
  EXPECT_LT(recycled->stats().bytes_per_token(), 0.5 * full->stats().bytes_per_token());
}

// A clone carries the recycled caches: it continues exactly as the original,
// while a policy without that state starts with a full step and differs.
TEST_F(RecycledOnTestModel, CloneKeepsState) {
  ThreadPool pool(2);
  Transformer tf(*model_, pool);
  auto recycled = make_policy("recycled:budget=32,stride=50", model_->config());
  KvCache cache(tf.cache_shape(KvType::F16));
  run(tf, cache, recycled.get(), 300, 3);
  auto copy = recycled->clone();
  auto fresh = make_policy(recycled->spec(), model_->config());
  const auto& r = dynamic_cast<const RecycledPolicy&>(*recycled);
  const auto& c = dynamic_cast<const RecycledPolicy&>(*copy);
  for (int64_t layer = 0; layer < model_->config().n_layers; ++layer) EXPECT_EQ(c.full_step_slot(layer), 299);
  EXPECT_EQ(c.recycled_steps(), r.recycled_steps());
  EXPECT_EQ(copy->stats().bytes_read, recycled->stats().bytes_read);
  KvCache cache2 = cache, cache3 = cache;
  const auto x = run(tf, cache, recycled.get(), 0, 3), y = run(tf, cache2, copy.get(), 0, 3);
  const auto z = run(tf, cache3, fresh.get(), 0, 3);
  for (size_t s = 0; s < x.size(); ++s) ASSERT_EQ(x[s], y[s]) << "step " << s;
  double diff = 0;
  for (size_t i = 0; i < x[0].size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(x[0][i] - z[0][i])));
  EXPECT_GT(diff, 1e-4);
}

}  // namespace
}  // namespace sieve
