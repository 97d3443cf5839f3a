// `tokenselect`: spec parsing; equality with `full` while the budget covers
// the sequence; the selection rule (per-head softmax of q.k at a fixed
// distance, summed over heads, top-k) and the contiguous positions, against a
// float64 computation on a hand-built cache, for decoding and for chunked
// prefill; the Selection Cache; clone().
#include "attention/policies/tokenselect_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numeric>
#include <random>

#include "attention/policy.h"
#include "runtime/transformer.h"
#include "support/policy_testing.h"
#include "test_paths.h"
#include "util/error.h"

namespace sieve {
namespace {

constexpr int64_t kHd = 64, kKv = 2, kHeads = 4, kGroup = kHeads / kKv;

ModelConfig small_config() { return testing::small_policy_config(kHd, kHeads, kKv); }

std::string error_of(const std::string& spec) { return testing::policy_spec_error(spec, small_config()); }

TEST(TokenSelectPolicy, SpecDefaultsAndErrors) {
  const ModelConfig c = small_config();
  EXPECT_EQ(make_policy("tokenselect", c)->spec(),
            "tokenselect:k=2048,n_init=128,n_local=512,chunk=512,threshold=0.9,reuse=1,score=int8,keys=exact");
  EXPECT_EQ(make_policy("tokenselect:k=64,n_init=4,n_local=32,chunk=16,threshold=0.75,reuse=0,score=exact", c)->spec(),
            "tokenselect:k=64,n_init=4,n_local=32,chunk=16,threshold=0.75,reuse=0,score=exact,keys=exact");
  EXPECT_EQ(make_policy("tokenselect:keys=int8", c)->spec(),
            "tokenselect:k=2048,n_init=128,n_local=512,chunk=512,threshold=0.9,reuse=1,score=int8,keys=int8");
  EXPECT_NE(error_of("tokenselect:keys=fp8").find("keys must be exact or int8 (got 'fp8')"), std::string::npos);
  EXPECT_NE(error_of("tokenselect:score=exact,keys=int8").find("only score=int8 keeps"), std::string::npos);
  EXPECT_EQ(make_policy("tokenselect:reuse=off", c)->spec(),
            "tokenselect:k=2048,n_init=128,n_local=512,chunk=512,threshold=0.9,reuse=0,score=int8,keys=exact");
  EXPECT_NE(error_of("tokenselect:topk=3")
                .find("no parameter 'topk' (valid: k, n_init, n_local, chunk, threshold, reuse, score, keys)"),
            std::string::npos);
  EXPECT_NE(error_of("tokenselect:score=int2").find("score must be int8, int4 or exact (got 'int2')"),
            std::string::npos);
  EXPECT_EQ(make_policy("tokenselect:score=int4", c)->spec(),
            "tokenselect:k=2048,n_init=128,n_local=512,chunk=512,threshold=0.9,reuse=1,score=int4,keys=exact");
  EXPECT_NE(error_of("tokenselect:score=int4,keys=int8").find("only score=int8 keeps"), std::string::npos);
  EXPECT_NE(error_of("tokenselect:k=0").find("k must be >= 1"), std::string::npos);
  EXPECT_NE(error_of("tokenselect:n_local=0").find("n_local must be >= 1"), std::string::npos);
  EXPECT_NE(error_of("tokenselect:n_init=-1").find("n_init must be >= 0"), std::string::npos);
  EXPECT_NE(error_of("tokenselect:threshold=2").find("threshold must be a number"), std::string::npos);
  EXPECT_NE(error_of("tokenselect:reuse=maybe").find("reuse must be on or off"), std::string::npos);
  EXPECT_NE(error_of("tokenselect:chunk=600").find("chunk must be <= n_local"), std::string::npos);
  EXPECT_NE(error_of("nope").find("tokenselect:k=2048"), std::string::npos);
}

// A one-layer cache at positions 0.. with known un-rotated keys.
struct HandCache {
  ModelConfig config;
  Rope rope;
  KvCache cache;
  std::vector<std::vector<float>> raw_k, raw_v;  // [slot] kKv x kHd
  std::mt19937 rng{5};
  std::normal_distribution<float> nd{0.0f, 1.0f};

  explicit HandCache(KvType type = KvType::F32, bool interleaved = false)
      : config(with_layout(interleaved)), rope(config, {}), cache(KvCacheShape{1, kKv, kHd, 64, type}) {}
  static ModelConfig with_layout(bool interleaved) {
    ModelConfig c = small_config();
    c.rope_interleaved = interleaved;
    return c;
  }

  // zero_keys: every key 0 (rotation keeps it exactly 0), so every
  // candidate gets exactly the same vote.
  void append(int64_t n, bool zero_keys = false) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = cache.size();
      raw_k.emplace_back(kKv * kHd);
      raw_v.emplace_back(kKv * kHd);
      for (float& x : raw_k.back()) x = zero_keys ? 0.0f : nd(rng);
      for (float& x : raw_v.back()) x = nd(rng);
      std::vector<float> k = raw_k.back();
      rope.rotate(k.data(), kKv, static_cast<double>(p));
      cache.append_slots(&p, 1);
      cache.write(0, p, k.data(), raw_v.back().data());
    }
  }
  std::vector<float> queries(int64_t n) {
    std::vector<float> q(n * kHeads * kHd);
    for (float& x : q) x = nd(rng);
    return q;
  }
  std::vector<double> rotated(const float* x, double pos) const {
    std::vector<float> v(x, x + kHd);
    rope.rotate(v.data(), 1, pos);
    return {v.begin(), v.end()};
  }
};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// The rule, in float64: the k candidate slots in [n_init, n - n_local) with
// the most summed per-head softmax votes for the chunk's queries q (c tokens).
std::vector<int64_t> expected_selection(const HandCache& h, const std::vector<float>& q, int64_t c, int64_t n,
                                        const TokenSelectPolicy::Options& o) {
  const int64_t lo = o.n_init, hi = n - o.n_local;
  std::vector<double> votes(hi - lo, 0.0);
  for (int64_t head = 0; head < kHeads; ++head) {
    std::vector<double> fp(kHd, 0.0);
    for (int64_t i = 0; i < c; ++i) {
      const auto r = h.rotated(q.data() + (i * kHeads + head) * kHd, static_cast<double>(o.n_local + i));
      for (int64_t d = 0; d < kHd; ++d) fp[d] += r[d] / static_cast<double>(c);
    }
    std::vector<double> s(hi - lo);
    double m = -1e300;
    for (int64_t j = lo; j < hi; ++j) {
      const float* k = h.raw_k[j].data() + (head / kGroup) * kHd;
      s[j - lo] = dot(fp, std::vector<double>(k, k + kHd));  // the key at position 0, no 1/sqrt(d)
      m = std::max(m, s[j - lo]);
    }
    double z = 0;
    for (double& x : s) z += (x = std::exp(x - m));
    for (size_t j = 0; j < s.size(); ++j) votes[j] += s[j] / z;
  }
  std::vector<int64_t> order(hi - lo);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return votes[a] > votes[b]; });
  order.resize(o.k);
  std::sort(order.begin(), order.end());
  for (int64_t& x : order) x += lo;
  return order;
}

// Attention output of query token `slot` (its query q_t, n_heads x hd) over
// the list [0, n_init) + selected + [n - n_local, slot], keys at 0, 1, ... in
// list order and the query at its own key's place.
std::vector<double> expected_output(const HandCache& h, const float* q_t, int64_t slot,
                                    const std::vector<int64_t>& selected, int64_t n, int64_t head,
                                    const TokenSelectPolicy::Options& o) {
  std::vector<int64_t> list;
  for (int64_t j = 0; j < o.n_init; ++j) list.push_back(j);
  list.insert(list.end(), selected.begin(), selected.end());
  for (int64_t j = n - o.n_local; j <= slot; ++j) list.push_back(j);
  const auto qr = h.rotated(q_t + head * kHd, static_cast<double>(list.size() - 1));
  const int64_t kvh = head / kGroup;
  std::vector<double> s(list.size());
  double m = -1e300;
  for (size_t j = 0; j < list.size(); ++j) {
    s[j] = dot(qr, h.rotated(h.raw_k[list[j]].data() + kvh * kHd, static_cast<double>(j))) / 8.0;
    m = std::max(m, s[j]);
  }
  double z = 0;
  for (double& x : s) z += (x = std::exp(x - m));
  std::vector<double> out(kHd, 0.0);
  for (size_t j = 0; j < list.size(); ++j)
    for (int64_t d = 0; d < kHd; ++d) out[d] += s[j] / z * h.raw_v[list[j]][kvh * kHd + d];
  return out;
}

// Scores as exact as the cache (score=exact): the selections are the float64
// rule's exactly.
TokenSelectPolicy::Options small_options(bool reuse) {
  TokenSelectPolicy::Options o;
  o.scores = TokenSelectPolicy::Scores::Exact;
  o.k = 24;
  o.n_init = 4;
  o.n_local = 32;
  o.chunk = 16;
  o.reuse = reuse;
  return o;
}

// A decoded token (slot 299) after 299 random slots: its queries, the
// policy's output and the selection it made.
struct Decoded {
  std::vector<float> q, out;
  std::vector<int64_t> selected;
};
Decoded decode_after_300(HandCache& h, TokenSelectPolicy& policy, ThreadPool& pool) {
  h.append(300);
  Decoded d{h.queries(1), std::vector<float>(kHeads * kHd), {}};
  policy.attend({h.cache, 0, d.q.data(), 1, 299, kHeads, h.rope, pool}, d.out.data());
  d.selected = policy.selected(0);
  return d;
}


double max_error(const std::vector<float>& out, int64_t t, int64_t head, const std::vector<double>& want) {
  double err = 0;
  for (int64_t d = 0; d < kHd; ++d) err = std::max(err, std::fabs(out[(t * kHeads + head) * kHd + d] - want[d]));
  return err;
}

// A decoded token's selection shares all but at most 2 slots with the
// float64 rule's, and its output is the attention over its own selection
// within `tol`.
void expect_near_the_rule(const HandCache& h, const Decoded& d, const TokenSelectPolicy::Options& o, double tol,
                          const std::string& label) {
  const std::vector<int64_t> want = expected_selection(h, d.q, 1, 300, o);
  std::vector<int64_t> common;
  std::set_intersection(want.begin(), want.end(), d.selected.begin(), d.selected.end(), std::back_inserter(common));
  EXPECT_GE(common.size(), want.size() - 2) << label;
  for (int64_t head = 0; head < kHeads; ++head)
    EXPECT_LT(max_error(d.out, 0, head, expected_output(h, d.q.data(), 299, d.selected, 300, head, o)), tol)
        << label << " head " << head;
}

// A decoded token on a filled cache the policy has not seen (its state is
// built lazily), then chunked prefill: two chunks of 16, each with its own
// selection (the Selection Cache off), causal within the chunk; both RoPE
// pair layouts.
TEST(TokenSelectPolicy, SelectsByHeadSoftVotesAndPlacesTokensContiguously) {
  for (bool interleaved : {false, true}) {
    const TokenSelectPolicy::Options o = small_options(false);
    HandCache h(KvType::F32, interleaved);
    ThreadPool pool(2);
    TokenSelectPolicy policy(o);
    h.append(300);
    std::vector<float> q = h.queries(1), out(kHeads * kHd);
    policy.attend({h.cache, 0, q.data(), 1, 299, kHeads, h.rope, pool}, out.data());
    std::vector<int64_t> want = expected_selection(h, q, 1, 300, o);
    EXPECT_EQ(policy.selected(0), want);
    for (int64_t head = 0; head < kHeads; ++head)
      EXPECT_LT(max_error(out, 0, head, expected_output(h, q.data(), 299, want, 300, head, o)), 2e-4) << head;
    // Reads n_init + k + n_local slots per KV head.
    EXPECT_EQ(policy.stats().decoded_tokens, 1);
    EXPECT_DOUBLE_EQ(policy.stats().slots_read, static_cast<double>(kKv * (o.n_init + o.k + o.n_local)));

    h.append(32);
    q = h.queries(32);
    out.resize(32 * kHeads * kHd);
    policy.attend({h.cache, 0, q.data(), 32, 300, kHeads, h.rope, pool}, out.data());
    for (int64_t chunk = 0; chunk < 2; ++chunk) {
      const int64_t n = 300 + 16 * (chunk + 1);
      std::vector<float> qc(q.begin() + chunk * 16 * kHeads * kHd, q.begin() + (chunk + 1) * 16 * kHeads * kHd);
      want = expected_selection(h, qc, 16, n, o);
      if (chunk == 1) {
        EXPECT_EQ(policy.selected(0), want);
      }
      for (int64_t i = 0; i < 16; ++i) {
        const int64_t t = chunk * 16 + i;
        for (int64_t head = 0; head < kHeads; ++head)
          EXPECT_LT(max_error(out, t, head, expected_output(h, q.data() + t * kHeads * kHd, 300 + t, want, n, head, o)),
                    2e-4)
              << "token " << t << " head " << head;
      }
    }
    EXPECT_EQ(policy.reuse_stats().selections, 3);
    EXPECT_EQ(policy.reuse_stats().reused, 0);
  }
}

// Equal votes go to the earlier slots: with every key 0 all candidates tie,
// and the selection is the first k of them.
TEST(TokenSelectPolicy, EqualVotesGoToTheEarliestSlots) {
  const TokenSelectPolicy::Options o = small_options(false);
  HandCache h;
  ThreadPool pool(1);
  TokenSelectPolicy policy(o);
  h.append(300, /*zero_keys=*/true);
  std::vector<float> q = h.queries(1), out(kHeads * kHd);
  policy.attend({h.cache, 0, q.data(), 1, 299, kHeads, h.rope, pool}, out.data());
  std::vector<int64_t> want(o.k);
  std::iota(want.begin(), want.end(), o.n_init);
  EXPECT_EQ(policy.selected(0), want);
}

// The Selection Cache: a query similar enough to the one the selection was
// made for reuses it (the local window still moves on); a dissimilar one
// selects again; reuse=0 always selects.
// The same with 16-bit caches: the selection may differ from the float64
// one where votes are close, so the output is checked for the policy's own
// selection (the gathered keys and values read from 16-bit pages).
TEST(TokenSelectPolicy, ReadsSixteenBitCaches) {
  const TokenSelectPolicy::Options o = small_options(false);
  for (KvType type : {KvType::F16, KvType::BF16}) {
    HandCache h(type);
    ThreadPool pool(2);
    TokenSelectPolicy policy(o);
    const Decoded d = decode_after_300(h, policy, pool);
    expect_near_the_rule(h, d, o, type == KvType::F16 ? 5e-3 : 3e-2, kv_type_name(type));
  }
}

TEST(TokenSelectPolicy, SelectionCacheReusesForSimilarQueries) {
  HandCache h;
  ThreadPool pool(2);
  h.append(300);
  const std::vector<float> q = h.queries(1);
  std::vector<float> similar = q, opposite = q, out(kHeads * kHd);
  for (size_t i = 0; i < similar.size(); ++i) similar[i] += 0.1f * h.nd(h.rng);
  for (float& x : opposite) x = -x;
  for (bool reuse : {true, false}) {
    const TokenSelectPolicy::Options o = small_options(reuse);
    TokenSelectPolicy policy(o);
    KvCache cache = h.cache;
    policy.attend({cache, 0, q.data(), 1, 299, kHeads, h.rope, pool}, out.data());
    const std::vector<int64_t> first = policy.selected(0);
    h.append(1);
    cache = h.cache;
    policy.attend({cache, 0, similar.data(), 1, 300, kHeads, h.rope, pool}, out.data());
    EXPECT_EQ(policy.reuse_stats().reused, reuse ? 1 : 0);
    if (reuse) {
      EXPECT_EQ(policy.selected(0), first);
      for (int64_t head = 0; head < kHeads; ++head)
        EXPECT_LT(max_error(out, 0, head, expected_output(h, similar.data(), 300, first, 301, head, o)), 2e-4);
    } else {
      EXPECT_EQ(policy.selected(0), expected_selection(h, similar, 1, 301, o));
    }
    h.append(1);
    cache = h.cache;
    policy.attend({cache, 0, opposite.data(), 1, 301, kHeads, h.rope, pool}, out.data());
    EXPECT_EQ(policy.reuse_stats().selections, 3);
    EXPECT_EQ(policy.reuse_stats().reused, reuse ? 1 : 0);
    EXPECT_EQ(policy.selected(0), expected_selection(h, opposite, 1, 302, o));
    h.raw_k.resize(300);
    h.raw_v.resize(300);
    h.cache.truncate(300);
  }
}

// score=int8: the selection is the float64 rule's but for candidates whose
// votes are within the int8 rounding of the k-th (a few at most), and the
// output is the exact attention over what it selected.
TEST(TokenSelectPolicy, Int8ScoresSelectAlmostTheSameTokens) {
  TokenSelectPolicy::Options o = small_options(false);
  o.scores = TokenSelectPolicy::Scores::Int8;
  for (KvType type : {KvType::F32, KvType::F16}) {
    HandCache h(type);
    ThreadPool pool(2);
    TokenSelectPolicy policy(o);
    const Decoded d = decode_after_300(h, policy, pool);
    expect_near_the_rule(h, d, o, type == KvType::F32 ? 2e-4 : 5e-3, kv_type_name(type));
    const auto& [q, out, got] = d;
    // The scoring pass read 68 bytes per candidate and KV head (64 levels and a scale).
    const double slots = kKv * (o.n_init + o.k + o.n_local);
    EXPECT_GE(policy.stats().bytes_read, slots * 2 * h.cache.row_bytes() + kKv * (300 - o.n_init - o.n_local) * 68.0);

    // keys=int8: the same selection, attended with the int8 keys (the local
    // window still from the cache): within the keys' rounding of the exact output.
    TokenSelectPolicy::Options oi = o;
    oi.keys = TokenSelectPolicy::Keys::Int8;
    TokenSelectPolicy int8_keys(oi);
    std::vector<float> out8(kHeads * kHd);
    int8_keys.attend({h.cache, 0, q.data(), 1, 299, kHeads, h.rope, pool}, out8.data());
    EXPECT_EQ(int8_keys.selected(0), got);
    double diff = 0;
    for (int64_t head = 0; head < kHeads; ++head) {
      const double err = max_error(out8, 0, head, expected_output(h, q.data(), 299, got, 300, head, o));
      EXPECT_LT(err, 2e-2) << kv_type_name(type);
      diff = std::max(diff, err);
    }
    EXPECT_GT(diff, 1e-6);  // it did read the int8 keys
  }
}

// A planted key (along the decoded token's queries, every head) is selected
// among thousands of random ones with int8 or int4 scores, wherever it sits;
// with int8 the whole top 8 is the float64 rule's.
TEST(TokenSelectPolicy, CompactScoresFindAPlantedKey) {
  TokenSelectPolicy::Options o = small_options(false);
  o.k = 8;
  for (const auto scores : {TokenSelectPolicy::Scores::Int8, TokenSelectPolicy::Scores::Int4}) {
    for (const int64_t planted : {int64_t{5}, int64_t{1234}, int64_t{3000}}) {
      o.scores = scores;
      HandCache h(KvType::F16);
      ThreadPool pool(2);
      h.append(4096);
      std::vector<float> q = h.queries(1);
      // The planted key, un-rotated, is the head-mean of its group's queries
      // rotated to n_local (what the fingerprint scores), scaled to |k| ~ 8.
      for (int64_t kvh = 0; kvh < kKv; ++kvh) {
        std::vector<double> dir(kHd, 0.0);
        for (int64_t g = 0; g < kGroup; ++g) {
          const auto r = h.rotated(q.data() + (kvh * kGroup + g) * kHd, static_cast<double>(o.n_local));
          for (int64_t d = 0; d < kHd; ++d) dir[d] += r[d];
        }
        const double norm = std::sqrt(dot(dir, dir));
        for (int64_t d = 0; d < kHd; ++d) h.raw_k[planted][kvh * kHd + d] = static_cast<float>(dir[d] / norm * 8.0);
      }
      std::vector<float> k = h.raw_k[planted];
      h.rope.rotate(k.data(), kKv, static_cast<double>(planted));
      h.cache.write(0, planted, k.data(), h.raw_v[planted].data());
      TokenSelectPolicy policy(o);
      std::vector<float> out(kHeads * kHd);
      policy.attend({h.cache, 0, q.data(), 1, 4095, kHeads, h.rope, pool}, out.data());
      const auto& sel = policy.selected(0);
      EXPECT_NE(std::find(sel.begin(), sel.end(), planted), sel.end()) << planted;
      if (scores == TokenSelectPolicy::Scores::Int8) {
        EXPECT_EQ(expected_selection(h, q, 1, 4096, o), sel);
      }
    }
  }
}

TEST(TokenSelectPolicy, CloneKeepsSelectionAndState) {
  HandCache h;
  ThreadPool pool(2);
  h.append(300);
  TokenSelectPolicy policy(small_options(true));
  std::vector<float> q = h.queries(1), a(kHeads * kHd), b(kHeads * kHd);
  policy.attend({h.cache, 0, q.data(), 1, 299, kHeads, h.rope, pool}, a.data());
  std::unique_ptr<AttentionPolicy> copy = policy.clone();
  auto& ts = dynamic_cast<TokenSelectPolicy&>(*copy);
  EXPECT_EQ(ts.selected(0), policy.selected(0));
  EXPECT_EQ(ts.spec(), policy.spec());
  EXPECT_EQ(ts.stats().decoded_tokens, 1);
  h.append(1);
  KvCache cache_a = h.cache, cache_b = h.cache;
  policy.attend({cache_a, 0, q.data(), 1, 300, kHeads, h.rope, pool}, a.data());
  ts.attend({cache_b, 0, q.data(), 1, 300, kHeads, h.rope, pool}, b.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(ts.reuse_stats().reused, 1);  // the clone kept the selection and its query
  EXPECT_EQ(ts.reuse_stats().selections, policy.reuse_stats().selections);
}

class TokenSelectOnTestModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Model::load(test_model_dir() + "/model-bf16.gguf").release(); }
  static void TearDownTestSuite() { delete model_; }
  std::vector<std::vector<float>> run(AttentionPolicy* policy, int64_t prompt_len, int steps) {
    ThreadPool pool(2);
    Transformer tf(*model_, pool);
    KvCache cache(tf.cache_shape(KvType::F32));
    return testing::run_greedy(tf, cache, policy, prompt_len, steps);
  }
  static Model* model_;
};
Model* TokenSelectOnTestModel::model_ = nullptr;

TEST_F(TokenSelectOnTestModel, EqualsFullWhileTheBudgetCoversTheSequence) {
  auto full = make_policy("full", model_->config());
  auto ts = make_policy("tokenselect:k=200,n_init=4,n_local=64,chunk=64", model_->config());
  auto a = run(full.get(), 240, 20), b = run(ts.get(), 240, 20);
  for (size_t s = 0; s < a.size(); ++s)
    for (size_t i = 0; i < a[s].size(); ++i) ASSERT_NEAR(a[s][i], b[s][i], 1e-4) << "step " << s;
}

TEST_F(TokenSelectOnTestModel, SelectsOnceTheSequenceOutgrowsTheBudget) {
  auto full = make_policy("full", model_->config());
  auto policy = make_policy("tokenselect:k=32,n_init=4,n_local=64,chunk=64", model_->config());
  auto a = run(full.get(), 300, 8), b = run(policy.get(), 300, 8);
  double diff = 0;
  for (size_t i = 0; i < a.back().size(); ++i)
    diff = std::max(diff, static_cast<double>(std::fabs(a.back()[i] - b.back()[i])));
  EXPECT_GT(diff, 1e-3);
  for (float x : b.back()) ASSERT_TRUE(std::isfinite(x));
  const auto& ts = dynamic_cast<const TokenSelectPolicy&>(*policy);
  EXPECT_EQ(ts.reuse_stats().selections,
            8 * (4 + 8));  // 8 layers x (4 prefill chunks past the budget + 8 decoded tokens)
  EXPECT_NEAR(policy->stats().slots_per_token(8, 2), 4 + 32 + 64, 1e-9);
  // K and V of those slots, plus a scoring pass over the candidates' keys when not reused.
  EXPECT_GE(policy->stats().bytes_per_token(), 100.0 * 2 * 8 * 2 * 64 * 4);
}

}  // namespace
}  // namespace sieve
