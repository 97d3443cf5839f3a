// `quest`: spec parsing, the page bound and per-head top-k selection on a
// hand-built cache, summaries rebuilt after truncation, equality with `full`
// when the budget covers the context, and clone().
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/policy.h"
#include "attention/policies/quest_policy.h"
#include "runtime/transformer.h"
#include "support/policy_testing.h"
#include "test_paths.h"
#include "util/error.h"

namespace sieve {
namespace {

constexpr int64_t kHd = 64, kKv = 2, kHeads = 4, kGroup = kHeads / kKv;

ModelConfig small_config() { return testing::small_policy_config(kHd, kHeads, kKv); }

std::string spec_error(const std::string& spec) { return testing::policy_spec_error(spec, small_config()); }

TEST(QuestSpec, DefaultsCanonicalSpecsAndErrors) {
  const ModelConfig c = small_config();
  EXPECT_EQ(make_policy("quest", c)->spec(), "quest:page=16,budget=1024,dense_layers=2,select=head");
  EXPECT_EQ(make_policy("quest:budget=512,dense_layers=0", c)->spec(),
            "quest:page=16,budget=512,dense_layers=0,select=head");
  EXPECT_EQ(make_policy("quest:page=32,budget=2048,select=group", c)->spec(),
            "quest:page=32,budget=2048,dense_layers=2,select=group");
  EXPECT_NE(spec_error("quest:select=kv").find("select must be one of head, group"), std::string::npos);
  EXPECT_NE(spec_error("quest:budget=8").find("budget must be >= page"), std::string::npos);
  EXPECT_NE(spec_error("quest:page=0").find("page must be >= 1"), std::string::npos);
  EXPECT_NE(spec_error("quest:dense_layers=-1").find("dense_layers must be >= 0"), std::string::npos);
  EXPECT_NE(spec_error("quest:pages=4").find("no parameter 'pages' (valid: page, budget, dense_layers, select)"),
            std::string::npos);
  EXPECT_NE(spec_error("nope").find("quest:page=16,budget=1024,dense_layers=2,select=head"), std::string::npos);
  EXPECT_NE(policy_help().find("quest:page=16,budget=1024,dense_layers=2,select=head"), std::string::npos);
}

// A one-layer cache of 24 slots (pages of 4: page 5 holds the query) whose
// keys are written as cached, i.e. already rotated; positions are 2*slot+3.
// The query heads are given so that, rotated at the query's true position,
// they are q0 = (1, 1, -1, 0, ...) (group head 0) and q1 = (0.5, 0, 0, 1, ...)
// (group head 1), for both KV heads.
struct HandCache {
  ModelConfig config = small_config();
  Rope rope{config, {}};
  KvCache cache;
  std::vector<float> q_raw;  // the last query, before RoPE
  std::vector<std::vector<float>> q_rotated;  // per query head, what the policy should see

  static int64_t position(int64_t slot) { return 2 * slot + 3; }

  explicit HandCache(KvType type) : cache({1, kKv, kHd, 64, type}) {}

  // Appends a slot whose keys (both KV heads) are `k` in dimensions 0..3.
  void append(std::mt19937& rng, const std::vector<float>& k) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int64_t slot = cache.size(), pos = position(slot);
    cache.append_slots(&pos, 1);
    std::vector<float> key(kKv * kHd, 0.0f), value(kKv * kHd);
    for (int64_t h = 0; h < kKv; ++h)
      for (size_t d = 0; d < k.size(); ++d) key[h * kHd + d] = k[d];
    for (float& x : value) x = nd(rng);
    cache.write(0, slot, key.data(), value.data());
  }

  // The crafted query for the last slot.
  void make_query() {
    const std::vector<float> q0 = {1, 1, -1, 0}, q1 = {0.5f, 0, 0, 1};
    q_raw.assign(kHeads * kHd, 0.0f);
    q_rotated.assign(kHeads, std::vector<float>(kHd, 0.0f));
    for (int64_t h = 0; h < kHeads; ++h) {
      const std::vector<float>& src = h % kGroup == 0 ? q0 : q1;
      std::copy(src.begin(), src.end(), q_rotated[h].begin());
      std::copy(src.begin(), src.end(), q_raw.begin() + h * kHd);
    }
    rope.rotate(q_raw.data(), kHeads, -static_cast<double>(position(cache.size() - 1)));
  }

  // Softmax attention of query head h over the given slots, from the cache's own keys and values.
  std::vector<double> reference(int64_t h, const std::vector<int64_t>& slots) const {
    const int64_t kvh = h / kGroup;
    std::vector<float> k(kHd), v(kHd);
    std::vector<double> s;
    double m = -1e300;
    for (int64_t slot : slots) {
      cache.read_key(0, kvh, slot, k.data());
      double d = 0;
      for (int64_t i = 0; i < kHd; ++i) d += static_cast<double>(q_rotated[h][i]) * k[i];
      s.push_back(d / 8.0);
      m = std::max(m, s.back());
    }
    double z = 0;
    for (double& x : s) z += (x = std::exp(x - m));
    std::vector<double> out(kHd, 0.0);
    for (size_t j = 0; j < slots.size(); ++j) {
      cache.read_value(0, kvh, slots[j], v.data());
      for (int64_t i = 0; i < kHd; ++i) out[i] += s[j] / z * v[i];
    }
    return out;
  }
};

// The keys of slot s in dimensions 0..3 (zero elsewhere and for other slots).
std::vector<float> hand_key(int64_t s) {
  switch (s) {
    case 0: return {3, 0, 0, 0};
    case 1: return {0, 3, 0, 0};
    case 5: return {2, 2, 0, 0};
    case 9: return {0, 0, -2.5f, 0};
    case 13: return {0, 0, 0, 5};
    case 16: return {0, 0, 0, -1};
    case 17: return {1, 0, 0, 2};
    default: return {0, 0, 0, 0};
  }
}

std::vector<int64_t> slots_of(const std::vector<int64_t>& pages, int64_t page, int64_t last_slot) {
  std::vector<int64_t> slots;
  for (int64_t p : pages)
    for (int64_t s = p * page; s < (p + 1) * page; ++s) slots.push_back(s);
  for (int64_t s = last_slot / page * page; s <= last_slot; ++s) slots.push_back(s);
  return slots;
}

// Decodes the last slot of `hc` through the policy and checks which pages each
// query head read and its output against softmax over exactly those slots.
void expect_selection(QuestPolicy& policy, HandCache& hc, const std::vector<std::vector<int64_t>>& want_by_group_head,
                      double tol) {
  ThreadPool pool(2);
  hc.make_query();
  std::vector<float> out(kHeads * kHd);
  const int64_t last = hc.cache.size() - 1;
  policy.attend({hc.cache, 0, hc.q_raw.data(), 1, last, kHeads, hc.rope, pool}, out.data());
  for (int64_t h = 0; h < kHeads; ++h) {
    const std::vector<int64_t>& want = want_by_group_head[h % kGroup];
    EXPECT_EQ(policy.selected_pages(h), want) << "head " << h;
    const std::vector<double> ref = hc.reference(h, slots_of(want, policy.page(), last));
    for (int64_t i = 0; i < kHd; ++i) ASSERT_NEAR(out[h * kHd + i], ref[i], tol) << "head " << h << " dim " << i;
  }
}

// The bound of page p for q0 is 6, 4, 2.5, 0, 1 (pages 0..4) although the best
// actual score in page 0 is 3 < 4 (page 1): Quest ranks by the bound. For q1
// the bounds are 1.5, 1, 0, 5, 2.5.
TEST(QuestPolicy, SelectsTopPagesPerHeadByTheKeyBound) {
  for (KvType type : {KvType::F32, KvType::F16}) {
    for (int64_t budget : {8, 16}) {
      HandCache hc(type);
      QuestPolicy policy(4, budget, 0);
      std::mt19937 rng(3);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      ThreadPool pool(2);
      // Decode slot by slot so the summaries are built incrementally (partial pages).
      std::vector<float> q(kHeads * kHd), out(kHeads * kHd);
      for (int64_t s = 0; s < 23; ++s) {
        hc.append(rng, hand_key(s));
        for (float& x : q) x = nd(rng);
        policy.attend({hc.cache, 0, q.data(), 1, s, kHeads, hc.rope, pool}, out.data());
      }
      hc.append(rng, hand_key(23));
      if (budget == 8) expect_selection(policy, hc, {{0}, {3}}, 2e-5);
      else expect_selection(policy, hc, {{0, 1, 2}, {0, 3, 4}}, 2e-5);
      EXPECT_EQ(policy.summarized_slots(0), 24);
      EXPECT_EQ(policy.stats().decoded_tokens, 24);
    }
  }
}

// select=group: both heads of a group share one selection, pages ranked by
// the higher of the two heads' bounds (6, 4, 2.5, 5, 2.5 for pages 0..4).
TEST(QuestPolicy, GroupSelectionRanksPagesByTheGroupsHighestBound) {
  for (int64_t budget : {8, 16}) {
    HandCache hc(KvType::F32);
    QuestPolicy policy(4, budget, 0, /*group_select=*/true);
    std::mt19937 rng(4);
    for (int64_t s = 0; s < 24; ++s) hc.append(rng, hand_key(s));
    if (budget == 8) expect_selection(policy, hc, {{0}, {0}}, 2e-5);
    else expect_selection(policy, hc, {{0, 1, 3}, {0, 1, 3}}, 2e-5);
    // One read of (budget/page - 1) pages plus the last page's 4 slots per KV head.
    EXPECT_NEAR(policy.stats().slots_read, static_cast<double>(kKv * (budget - 4 + 4)), 1e-9);
  }
}

// A truncated cache rewritten with other keys: the summary of the page that
// straddles the cut is rebuilt (slot 17's key no longer lifts page 4 for q1).
TEST(QuestPolicy, RebuildsSummariesOfRewrittenSlots) {
  HandCache hc(KvType::F32);
  QuestPolicy policy(4, 16, 0);
  std::mt19937 rng(5);
  ThreadPool pool(2);
  for (int64_t s = 0; s < 24; ++s) hc.append(rng, hand_key(s));
  expect_selection(policy, hc, {{0, 1, 2}, {0, 3, 4}}, 2e-5);
  // Roll back to 17 slots and decode new ones, as a sequence would after truncation.
  hc.cache.truncate(17);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> q(kHeads * kHd), out(kHeads * kHd);
  for (int64_t s = 17; s < 23; ++s) {
    hc.append(rng, {0, 0, 0, 0});
    for (float& x : q) x = nd(rng);
    policy.attend({hc.cache, 0, q.data(), 1, s, kHeads, hc.rope, pool}, out.data());
  }
  hc.append(rng, {0, 0, 0, 0});
  // Page 4 now bounds q1 by 0: q1's bounds are 1.5, 1, 0, 5, 0 -> pages 3, 0, 1.
  expect_selection(policy, hc, {{0, 1, 2}, {0, 1, 3}}, 2e-5);
}

class QuestOnTestModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Model::load(test_model_dir() + "/model-bf16.gguf").release(); }
  static void TearDownTestSuite() { delete model_; }
  static std::vector<int32_t> prompt(int64_t n) { return testing::synthetic_prompt(n); }
  // Prefills `prompt_len` tokens, then greedily decodes `steps`; returns the logits of every step.
  static std::vector<std::vector<float>> run(Transformer& tf, KvCache& cache, AttentionPolicy* policy,
                                             int64_t prompt_len, int steps) {
    return testing::run_greedy(tf, cache, policy, prompt_len, steps);
  }
  static Model* model_;
};
Model* QuestOnTestModel::model_ = nullptr;

TEST_F(QuestOnTestModel, EqualsFullWhenTheBudgetCoversTheContext) {
  ThreadPool pool(2);
  Transformer tf(*model_, pool);
  auto full = make_policy("full", model_->config());
  auto quest = make_policy("quest:budget=4096", model_->config());
  KvCache a(tf.cache_shape(KvType::F16)), b(tf.cache_shape(KvType::F16));
  const auto x = run(tf, a, full.get(), 200, 20), y = run(tf, b, quest.get(), 200, 20);
  for (size_t s = 0; s < x.size(); ++s)
    for (size_t i = 0; i < x[s].size(); ++i) ASSERT_NEAR(x[s][i], y[s][i], 1e-4) << "step " << s;
}

TEST_F(QuestOnTestModel, SmallBudgetReadsLessAndDiffers) {
  ThreadPool pool(2);
  Transformer tf(*model_, pool);
  auto full = make_policy("full", model_->config());
  auto quest = make_policy("quest:budget=64", model_->config());
  KvCache a(tf.cache_shape(KvType::F16)), b(tf.cache_shape(KvType::F16));
  const auto x = run(tf, a, full.get(), 600, 4), y = run(tf, b, quest.get(), 600, 4);
  double diff = 0;
  for (size_t i = 0; i < x.back().size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(x.back()[i] - y.back()[i])));
  EXPECT_GT(diff, 1e-3);
  EXPECT_EQ(quest->stats().decoded_tokens, 4);
  EXPECT_LT(quest->stats().bytes_per_token(), 0.5 * full->stats().bytes_per_token());
}

// A clone carries the summaries and stats, and continues exactly as the original.
TEST_F(QuestOnTestModel, CloneKeepsState) {
  ThreadPool pool(2);
  Transformer tf(*model_, pool);
  auto quest = make_policy("quest:budget=128", model_->config());
  KvCache cache(tf.cache_shape(KvType::F16));
  run(tf, cache, quest.get(), 400, 3);
  auto copy = quest->clone();
  const auto& q = dynamic_cast<const QuestPolicy&>(*quest);
  const auto& c = dynamic_cast<const QuestPolicy&>(*copy);
  EXPECT_EQ(copy->spec(), quest->spec());
  for (int64_t layer = 2; layer < model_->config().n_layers; ++layer)
    EXPECT_EQ(c.summarized_slots(layer), q.summarized_slots(layer));
  EXPECT_EQ(c.summarized_slots(2), 403);
  EXPECT_EQ(copy->stats().decoded_tokens, quest->stats().decoded_tokens);
  EXPECT_EQ(copy->stats().bytes_read, quest->stats().bytes_read);
  KvCache cache2 = cache;
  const auto x = run(tf, cache, quest.get(), 0, 3), y = run(tf, cache2, copy.get(), 0, 3);
  for (size_t s = 0; s < x.size(); ++s) ASSERT_EQ(x[s], y[s]) << "step " << s;
  for (int64_t h = 0; h < model_->config().n_heads; ++h) EXPECT_EQ(c.selected_pages(h), q.selected_pages(h));
}

}  // namespace
}  // namespace sieve
