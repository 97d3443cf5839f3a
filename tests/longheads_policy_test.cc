// `longheads`: spec parsing and the trained-length default; equality with
// `full` while the window covers the sequence; chunk summaries, per-head chunk
// selection and contiguous positions against a float64 computation on a
// hand-built cache (prefill token by token, decoding across a chunk boundary,
// and a policy handed a filled cache); clone().
#include "attention/policies/longheads_policy.h"

#include <gtest/gtest.h>

#include <map>

#include <algorithm>
#include <cmath>
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
constexpr int64_t kW = 16, kN = 5;  // chunk, chunks: a window of 80 tokens, 2 picked chunks

ModelConfig small_config() { return testing::small_policy_config(kHd, kHeads, kKv); }

std::string error_of(const std::string& spec) { return testing::policy_spec_error(spec, small_config()); }

TEST(LongHeadsPolicy, SpecDefaultsAndErrors) {
  ModelConfig c = small_config();
  // Without a trained length: the reference's 4096-token window.
  EXPECT_EQ(make_policy("longheads", c)->spec(), "longheads:chunk=256,chunks=16");
  c.max_context = 8192;
  EXPECT_EQ(make_policy("longheads", c)->spec(), "longheads:chunk=256,chunks=32");
  EXPECT_EQ(make_policy("longheads:chunk=128", c)->spec(), "longheads:chunk=128,chunks=64");
  EXPECT_EQ(make_policy("longheads:chunk=64,chunks=8", c)->spec(), "longheads:chunk=64,chunks=8");
  EXPECT_NE(error_of("longheads:chunks=2").find("chunks must be >= 3"), std::string::npos);
  EXPECT_NE(error_of("longheads:chunk=0").find("chunk must be >= 1"), std::string::npos);
  EXPECT_NE(error_of("longheads:window=3").find("no parameter 'window' (valid: chunk, chunks)"), std::string::npos);
  EXPECT_NE(error_of("nope").find("longheads:chunk=256"), std::string::npos);
}

struct HandCache {
  ModelConfig config = small_config();
  Rope rope{config, {}};
  KvCache cache{KvCacheShape{1, kKv, kHd, 64, KvType::F32}};
  std::vector<std::vector<float>> raw_k, raw_v;  // [slot] kKv x kHd, before RoPE
  std::vector<float> q;                          // [slot] kHeads x kHd, before RoPE
  std::mt19937 rng{9};
  std::normal_distribution<float> nd{0.0f, 1.0f};

  void append(int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = cache.size();
      raw_k.emplace_back(kKv * kHd);
      raw_v.emplace_back(kKv * kHd);
      for (float& x : raw_k.back()) x = nd(rng);
      for (float& x : raw_v.back()) x = nd(rng);
      for (int64_t j = 0; j < kHeads * kHd; ++j) q.push_back(nd(rng));
      std::vector<float> k = raw_k.back();
      rope.rotate(k.data(), kKv, static_cast<double>(p));
      cache.append_slots(&p, 1);
      cache.write(0, p, k.data(), raw_v.back().data());
    }
  }
  std::vector<double> rot(const float* x, double pos) const {
    std::vector<float> v(x, x + kHd);
    rope.rotate(v.data(), 1, pos);
    return {v.begin(), v.end()};
  }
  const float* key(int64_t slot, int64_t head) const { return raw_k[slot].data() + (head / kGroup) * kHd; }
  const float* value(int64_t slot, int64_t head) const { return raw_v[slot].data() + (head / kGroup) * kHd; }
  const float* query(int64_t slot, int64_t head) const { return q.data() + (slot * kHeads + head) * kHd; }
};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<double> softmax_average(const std::vector<double>& scores, const std::vector<std::vector<double>>& rows) {
  const double m = *std::max_element(scores.begin(), scores.end());
  double z = 0;
  std::vector<double> e(scores.size());
  for (size_t j = 0; j < scores.size(); ++j) z += (e[j] = std::exp(scores[j] - m));
  std::vector<double> out(rows[0].size(), 0.0);
  for (size_t j = 0; j < rows.size(); ++j)
    for (size_t d = 0; d < out.size(); ++d) out[d] += e[j] / z * rows[j][d];
  return out;
}

// The summary key of chunk c for a head, in the chunk's frame: its queries
// (or, when none were seen, its keys) attend over its keys at in-chunk
// positions, not causally; the mean output attends over the keys again, and
// the attention-weighted mean of the keys is the summary.
std::vector<double> expected_summary(const HandCache& h, int64_t c, int64_t head, bool queries_seen) {
  std::vector<std::vector<double>> keys, values;
  for (int64_t j = 0; j < kW; ++j) {
    keys.push_back(h.rot(h.key(c * kW + j, head), static_cast<double>(j)));
    const float* v = h.value(c * kW + j, head);
    values.emplace_back(v, v + kHd);
  }
  std::vector<double> mean(kHd, 0.0);
  for (int64_t i = 0; i < kW; ++i) {
    const std::vector<double> qi = queries_seen ? h.rot(h.query(c * kW + i, head), static_cast<double>(i)) : keys[i];
    std::vector<double> s;
    for (const auto& k : keys) s.push_back(dot(qi, k) / 8.0);
    const auto o = softmax_average(s, values);
    for (int64_t d = 0; d < kHd; ++d) mean[d] += o[d] / kW;
  }
  std::vector<double> s;
  for (const auto& k : keys) s.push_back(dot(mean, k) / 8.0);
  return softmax_average(s, keys);
}

// The chunks token `slot` reads through a head, and its attention output.
std::vector<int64_t> expected_chunks(const HandCache& h, int64_t slot, int64_t head,
                                     const std::vector<std::vector<std::vector<double>>>& summary) {
  const int64_t C = slot / kW;
  std::vector<int64_t> chunks;
  if (C < kN) {
    for (int64_t c = 0; c <= C; ++c) chunks.push_back(c);
    return chunks;
  }
  const float* q = h.query(slot, head);
  const std::vector<double> qd(q, q + kHd);
  std::vector<int64_t> cand(C - 2);
  std::iota(cand.begin(), cand.end(), int64_t{1});
  std::stable_sort(cand.begin(), cand.end(),
                   [&](int64_t a, int64_t b) { return dot(qd, summary[a][head]) > dot(qd, summary[b][head]); });
  cand.resize(kN - 3);
  std::sort(cand.begin(), cand.end());
  chunks.push_back(0);
  chunks.insert(chunks.end(), cand.begin(), cand.end());
  chunks.push_back(C - 1);
  chunks.push_back(C);
  return chunks;
}

std::vector<double> expected_output(const HandCache& h, int64_t slot, int64_t head,
                                    const std::vector<int64_t>& chunks) {
  std::vector<int64_t> list;
  for (int64_t c : chunks)
    for (int64_t j = c * kW; j < std::min((c + 1) * kW, slot + 1); ++j) list.push_back(j);
  // Below the window the list is every slot at its true position; above it
  // the positions are the places in the list: either way, 0, 1, 2, ...
  const auto qr = h.rot(h.query(slot, head), static_cast<double>(list.size() - 1));
  std::vector<double> s;
  std::vector<std::vector<double>> values;
  for (size_t j = 0; j < list.size(); ++j) {
    s.push_back(dot(qr, h.rot(h.key(list[j], head), static_cast<double>(j))) / 8.0);
    const float* v = h.value(list[j], head);
    values.emplace_back(v, v + kHd);
  }
  return softmax_average(s, values);
}

using Summaries = std::vector<std::vector<std::vector<double>>>;  // [chunk][head] -> head_dim

Summaries all_summaries(const HandCache& h, int64_t n_chunks, bool queries_seen) {
  Summaries s(n_chunks);
  for (int64_t c = 0; c < n_chunks; ++c)
    for (int64_t head = 0; head < kHeads; ++head) s[c].push_back(expected_summary(h, c, head, queries_seen));
  return s;
}

double summary_error(const LongHeadsPolicy& p, const Summaries& want) {
  const std::vector<float>& got = p.summaries(0);
  EXPECT_EQ(got.size(), want.size() * kHeads * kHd);
  double err = 0;
  for (size_t c = 0; c < want.size(); ++c)
    for (int64_t head = 0; head < kHeads; ++head)
      for (int64_t d = 0; d < kHd; ++d)
        err = std::max(err, std::fabs(got[(c * kHeads + head) * kHd + d] - want[c][head][d]));
  return err;
}

double output_error(const HandCache& h, const std::vector<float>& out, int64_t first_slot, int64_t n_q,
                    const Summaries& summary) {
  double err = 0;
  for (int64_t t = 0; t < n_q; ++t)
    for (int64_t head = 0; head < kHeads; ++head) {
      const int64_t slot = first_slot + t;
      const auto want = expected_output(h, slot, head, expected_chunks(h, slot, head, summary));
      for (int64_t d = 0; d < kHd; ++d) err = std::max(err, std::fabs(out[(t * kHeads + head) * kHd + d] - want[d]));
    }
  return err;
}

// Prefill of 200 tokens in one batch (tokens 80.. select per head), then 8
// decoded tokens: the last completes chunk 12, whose summary uses queries
// kept from prefill and from decoding.
TEST(LongHeadsPolicy, SelectsChunksPerHeadAtContiguousPositions) {
  HandCache h;
  ThreadPool pool(2);
  LongHeadsPolicy policy(kW, kN);
  h.append(200);
  std::vector<float> out(200 * kHeads * kHd);
  policy.attend({h.cache, 0, h.q.data(), 200, 0, kHeads, h.rope, pool}, out.data());
  Summaries want = all_summaries(h, 12, true);
  EXPECT_LT(summary_error(policy, want), 1e-4);
  EXPECT_LT(output_error(h, out, 0, 200, want), 2e-4);
  for (int64_t slot = 200; slot < 208; ++slot) {
    h.append(1);
    policy.attend({h.cache, 0, h.query(slot, 0), 1, slot, kHeads, h.rope, pool}, out.data());
    EXPECT_LT(output_error(h, out, slot, 1, want), 2e-4) << slot;
  }
  for (int64_t head = 0; head < kHeads; ++head)
    EXPECT_EQ(policy.last_chunks(0, head), expected_chunks(h, 207, head, want)) << head;
  want = all_summaries(h, 13, true);
  EXPECT_LT(summary_error(policy, want), 1e-4);
  // Per KV head and decoded token: chunk 0, chunk 11 and the token's part of
  // chunk 12, read once for the group; a picked chunk once for the group when
  // every head of the group picks it at the same list place (so at the same
  // position), else once per head that picks it.
  double expected_slots = 0;
  for (int64_t slot = 200; slot < 208; ++slot)
    for (int64_t kvh = 0; kvh < kKv; ++kvh) {
      expected_slots += static_cast<double>(kW + kW + (slot - 12 * kW + 1));
      std::map<std::pair<int64_t, size_t>, int64_t> heads_at;  // (chunk, list place) -> heads
      for (int64_t g = 0; g < kGroup; ++g) {
        const auto chunks = expected_chunks(h, slot, kvh * kGroup + g, want);
        for (size_t m = 1; m + 2 < chunks.size(); ++m) ++heads_at[{chunks[m], m}];
      }
      for (const auto& [chunk_place, heads] : heads_at)
        expected_slots += static_cast<double>(heads == kGroup ? kW : heads * kW);
    }
  EXPECT_DOUBLE_EQ(policy.stats().slots_read, expected_slots);
  EXPECT_EQ(policy.stats().decoded_tokens, 8);
}

// A fresh policy handed a filled cache: no queries of the old chunks were
// seen, so their summaries take the chunk's keys as its queries.
TEST(LongHeadsPolicy, BuildsSummariesLazilyForAFilledCache) {
  HandCache h;
  ThreadPool pool(2);
  h.append(209);
  LongHeadsPolicy policy(kW, kN);
  std::vector<float> out(kHeads * kHd);
  policy.attend({h.cache, 0, h.query(208, 0), 1, 208, kHeads, h.rope, pool}, out.data());
  const Summaries want = all_summaries(h, 13, false);
  EXPECT_LT(summary_error(policy, want), 1e-4);
  EXPECT_LT(output_error(h, out, 208, 1, want), 2e-4);
}

TEST(LongHeadsPolicy, CloneKeepsSummariesAndPendingQueries) {
  HandCache h;
  ThreadPool pool(2);
  LongHeadsPolicy policy(kW, kN);
  h.append(200);
  std::vector<float> out(200 * kHeads * kHd), a(kHeads * kHd), b(kHeads * kHd);
  policy.attend({h.cache, 0, h.q.data(), 200, 0, kHeads, h.rope, pool}, out.data());
  std::unique_ptr<AttentionPolicy> copy = policy.clone();
  auto& lh = dynamic_cast<LongHeadsPolicy&>(*copy);
  EXPECT_EQ(lh.summaries(0), policy.summaries(0));
  EXPECT_EQ(lh.spec(), policy.spec());
  h.append(8);
  KvCache cache_a = h.cache, cache_b = h.cache;
  for (int64_t slot = 200; slot < 208; ++slot) {
    policy.attend({cache_a, 0, h.query(slot, 0), 1, slot, kHeads, h.rope, pool}, a.data());
    lh.attend({cache_b, 0, h.query(slot, 0), 1, slot, kHeads, h.rope, pool}, b.data());
    EXPECT_EQ(a, b);
  }
  // Chunk 12 was summarised from the queries kept before the clone.
  EXPECT_EQ(lh.summaries(0), policy.summaries(0));
  EXPECT_LT(summary_error(lh, all_summaries(h, 13, true)), 1e-4);
}

class LongHeadsOnTestModel : public ::testing::Test {
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
Model* LongHeadsOnTestModel::model_ = nullptr;

TEST_F(LongHeadsOnTestModel, DefaultsToTheTrainedLengthAndEqualsFullWithinIt) {
  EXPECT_EQ(make_policy("longheads", model_->config())->spec(), "longheads:chunk=256,chunks=32");
  auto full = make_policy("full", model_->config());
  auto lh = make_policy("longheads:chunk=64,chunks=8", model_->config());
  auto a = run(full.get(), 240, 20), b = run(lh.get(), 240, 20);
  for (size_t s = 0; s < a.size(); ++s)
    for (size_t i = 0; i < a[s].size(); ++i) ASSERT_NEAR(a[s][i], b[s][i], 1e-4) << "step " << s;
}

TEST_F(LongHeadsOnTestModel, SelectsPastTheWindow) {
  auto full = make_policy("full", model_->config());
  auto lh = make_policy("longheads:chunk=32,chunks=4", model_->config());
  auto a = run(full.get(), 300, 4), b = run(lh.get(), 300, 4);
  double diff = 0;
  for (size_t i = 0; i < a.back().size(); ++i)
    diff = std::max(diff, static_cast<double>(std::fabs(a.back()[i] - b.back()[i])));
  EXPECT_GT(diff, 1e-3);
  for (float x : b.back()) ASSERT_TRUE(std::isfinite(x));
  // Tokens 300..303 (chunk 9, offsets 12..15): chunk 0, chunks 8 and 9 up to
  // the token, one picked chunk per query head: read once for the group when
  // all 4 heads pick the same one, up to 4 times when they differ.
  EXPECT_GE(lh->stats().slots_per_token(8, 2), 32 + 32 + 14.5 + 32);
  EXPECT_LE(lh->stats().slots_per_token(8, 2), 32 + 32 + 14.5 + 4 * 32);
}

}  // namespace
}  // namespace sieve
