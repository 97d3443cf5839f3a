// The inspection probe computes exact attention (the forward pass goes on
// with its outputs, so they must be the model's) and pools it into maps whose
// rows each sum to one.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/policies/full_policy.h"
#include "inspect/attention_probe.h"
#include "runtime/transformer.h"
#include "support/engine_fixture.h"

namespace sieve::inspect {
namespace {

using AttentionProbeTest = testing_support::TestModelEngine;  // the q8_0 test model and two threads

TEST_F(AttentionProbeTest, OutputsAreFullAttentions) {
  // A cache shaped as the model's, random in layer 3, two batches of queries.
  const ModelConfig& c = model_->config();
  KvCache cache(KvCacheShape{c.n_layers, c.n_kv_heads, c.head_dim, 64, KvType::F32});
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t n = 300, first_batch = 200;
  std::vector<int64_t> positions(n);
  for (int64_t i = 0; i < n; ++i) positions[i] = i;
  cache.append_slots(positions.data(), n);
  std::vector<float> k(c.n_kv_heads * c.head_dim), v(k.size());
  for (int64_t i = 0; i < n; ++i) {
    for (float& x : k) x = 2.0f * nd(rng);
    for (float& x : v) x = nd(rng);
    cache.write(3, i, k.data(), v.data());
  }
  std::vector<float> q(n * c.n_heads * c.head_dim);
  for (float& x : q) x = nd(rng);
  ProbeOptions o;
  o.prompt_length = n;
  o.block = 16;
  o.search_patterns = false;
  AttentionProbe probe(*model_, o);
  FullPolicy full;
  const Rope rope(c, model_->weights().rope_freq_divisors);
  const int64_t row = c.n_heads * c.head_dim;
  for (const auto& [first, count] : {std::pair<int64_t, int64_t>{0, first_batch}, {first_batch, n - first_batch}}) {
    std::vector<float> want(count * row), got(count * row);
    full.attend({cache, 3, q.data() + first * row, count, first, c.n_heads, rope, *pool_}, want.data());
    probe.attend({cache, 3, q.data() + first * row, count, first, c.n_heads, rope, *pool_}, got.data());
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-3) << "batch at " << first << ", " << i;
  }
  const HeadProbe& h = probe.head(3, 6);
  EXPECT_EQ(h.rows, n);
  double mass = 0;
  for (double m : h.mass) mass += m;
  EXPECT_NEAR(mass, static_cast<double>(n), 1e-3);  // each query gives away exactly one unit
  EXPECT_GT(h.output_norm, 0.0);
}

TEST_F(AttentionProbeTest, MapRowsSumToOne) {
  const std::vector<int32_t> tokens = prompt(700);  // two batches: the probe keeps statistics across them
  Transformer tf(*model_, *pool_);
  ProbeOptions o;
  o.prompt_length = 700;
  o.block = 50;
  o.search_patterns = false;
  AttentionProbe probe(*model_, o);
  KvCache cache(tf.cache_shape(KvType::F32));
  tf.forward(tokens.data(), 700, cache, nullptr, false, &probe);
  // Pooled rows sum to one; every query was seen once per head.
  const HeadProbe& h = probe.head(3, 5);
  ASSERT_EQ(probe.map_blocks(), 14);
  for (int64_t qb = 0; qb < 14; ++qb) {
    double sum = 0;
    for (int64_t kb = 0; kb < 14; ++kb) sum += h.map[qb * 14 + kb];
    EXPECT_NEAR(sum, 1.0, 1e-5) << "query block " << qb;
    for (int64_t kb = qb + 1; kb < 14; ++kb) EXPECT_EQ(h.map[qb * 14 + kb], 0.0) << "no attention past the diagonal";
  }
  EXPECT_EQ(h.rows, 700);
}

}  // namespace
}  // namespace sieve::inspect
