// The attention-policy layer: spec parsing, `full` and `streaming` through
// the policy interface, StreamingLLM's position assignment and eviction.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/policy.h"
#include "attention/policies/streaming_policy.h"
#include "kernels/matmul_internal.h"
#include "runtime/transformer.h"
#include "support/policy_testing.h"
#include "test_paths.h"
#include "util/error.h"

namespace sieve {
namespace {

ModelConfig small_config() { return testing::small_policy_config(64, 4, 2); }

TEST(PolicySpecs, BuildsPoliciesWithDefaultsAndCanonicalSpecs) {
  ModelConfig c = small_config();
  EXPECT_EQ(make_policy("full", c)->spec(), "full");
  EXPECT_EQ(make_policy("streaming", c)->spec(), "streaming:sink=4,window=2000");
  EXPECT_EQ(make_policy("streaming:window=1020", c)->spec(), "streaming:sink=4,window=1020");
  EXPECT_EQ(make_policy("streaming:sink=0,window=64", c)->spec(), "streaming:sink=0,window=64");
}

TEST(PolicySpecs, RejectsBadSpecsNamingTheProblem) {
  ModelConfig c = small_config();
  auto message = [&](const std::string& spec) { return testing::policy_spec_error(spec, c); };
  EXPECT_NE(message("nope").find("valid policies"), std::string::npos);
  EXPECT_EQ(message("nope").find('\n'), std::string::npos);
  EXPECT_NE(message("nope").find("streaming"), std::string::npos);
  EXPECT_NE(message("streaming:windw=4").find("no parameter 'windw' (valid: sink, window)"), std::string::npos);
  EXPECT_NE(message("streaming:window=0").find("window must be >= 1"), std::string::npos);
  EXPECT_NE(message("streaming:window=abc").find("integer"), std::string::npos);
  EXPECT_NE(message("streaming:window").find("key=value"), std::string::npos);
  EXPECT_NE(message("full:x=1").find("no parameter 'x'"), std::string::npos);
}

// StreamingLLM's positions, checked on a hand-built cache: keys are cached
// rotated at their true positions; after eviction the policy's output must
// equal plain softmax attention over [sinks, window] with the sinks at
// positions 0..sink-1, the window right after them, and the query next.
TEST(StreamingPolicy, AssignsPositionsInsideTheCache) {
  const ModelConfig c = small_config();
  const Rope rope(c, {});
  const int64_t hd = 64, n_kv = 2, n_heads = 4, sink = 4, window = 100, n_tokens = 300;
  KvCache cache({1, n_kv, hd, 64, KvType::F32});
  StreamingPolicy policy(sink, window);
  ThreadPool pool(2);
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<std::vector<float>> raw_k(n_tokens), raw_v(n_tokens);
  std::vector<float> q(n_heads * hd), out(n_heads * hd);
  for (int64_t p = 0; p < n_tokens; ++p) {
    raw_k[p].resize(n_kv * hd);
    raw_v[p].resize(n_kv * hd);
    for (float& x : raw_k[p]) x = nd(rng);
    for (float& x : raw_v[p]) x = nd(rng);
    std::vector<float> k = raw_k[p];
    rope.rotate(k.data(), n_kv, static_cast<double>(p));
    cache.append_slots(&p, 1);
    cache.write(0, cache.size() - 1, k.data(), raw_v[p].data());
    for (float& x : q) x = nd(rng);
    policy.attend({cache, 0, q.data(), 1, cache.size() - 1, n_heads, rope, pool}, out.data());
    policy.end_batch(cache);
  }
  // The last query: it saw tokens 0..3 and the `window` most recent tokens (including itself).
  std::vector<int64_t> kept;
  for (int64_t p = 0; p < sink; ++p) kept.push_back(p);
  for (int64_t p = n_tokens - window; p < n_tokens; ++p) kept.push_back(p);
  for (int64_t h = 0; h < n_heads; ++h) {
    std::vector<float> qh(q.begin() + h * hd, q.begin() + (h + 1) * hd);
    rope.rotate(qh.data(), 1, static_cast<double>(kept.size() - 1));  // the query's position in the cache
    std::vector<double> s(kept.size());
    double mx = -1e300;
    for (size_t j = 0; j < kept.size(); ++j) {
      std::vector<float> k(raw_k[kept[j]].begin() + (h / 2) * hd, raw_k[kept[j]].begin() + (h / 2 + 1) * hd);
      rope.rotate(k.data(), 1, static_cast<double>(j));  // position j inside the cache
      double d = 0;
      for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(qh[i]) * k[i];
      s[j] = d / 8.0;
      mx = std::max(mx, s[j]);
    }
    double z = 0;
    for (double& x : s) z += (x = std::exp(x - mx));
    for (int64_t i = 0; i < hd; ++i) {
      double want = 0;
      for (size_t j = 0; j < kept.size(); ++j) want += s[j] / z * raw_v[kept[j]][(h / 2) * hd + i];
      ASSERT_NEAR(out[h * hd + i], want, 2e-4) << "head " << h << " dim " << i;
    }
  }
  // Evicted whole pages: the cache holds the sink page and at most two pages beyond the window.
  EXPECT_LE(cache.size(), 64 + window + 64);
  EXPECT_EQ(cache.positions().front(), 0);
  EXPECT_EQ(cache.positions().back(), n_tokens - 1);
  EXPECT_EQ(policy.stats().decoded_tokens, n_tokens);
}

class PolicyOnTestModel : public ::testing::Test {
 protected:
  // Float32 activations in every matmul: streaming prefills in smaller
  // batches than full, and batches from gemm_min_tokens on would otherwise
  // round activations to bf16 (matmul_bf16_dot.cc), which these comparisons
  // of attention would see.
  static void SetUpTestSuite() {
    model_ = Model::load(test_model_dir() + "/model-bf16.gguf").release();
    kernels::detail::set_bf16_dot_enabled(false);
  }
  static void TearDownTestSuite() {
    delete model_;
    kernels::detail::set_bf16_dot_enabled(true);
  }
  // Greedy continuation of a 200-token haystack prompt; returns the logits of every step.
  std::vector<std::vector<float>> run(AttentionPolicy* policy, int64_t prompt_len, int steps,
                                      std::vector<int64_t>* positions_left = nullptr) {
    ThreadPool pool(2);
    Transformer tf(*model_, pool);
    KvCache cache(tf.cache_shape(KvType::F32));
    auto all = testing::run_greedy(tf, cache, policy, prompt_len, steps);
    if (positions_left) *positions_left = cache.positions();
    return all;
  }
  static Model* model_;
};
Model* PolicyOnTestModel::model_ = nullptr;

TEST_F(PolicyOnTestModel, StreamingWithAWindowCoveringTheSequenceEqualsFull) {
  auto full = make_policy("full", model_->config());
  auto streaming = make_policy("streaming:sink=4,window=1000", model_->config());
  auto a = run(full.get(), 200, 20), b = run(streaming.get(), 200, 20);
  for (size_t s = 0; s < a.size(); ++s)
    for (size_t i = 0; i < a[s].size(); ++i) ASSERT_NEAR(a[s][i], b[s][i], 1e-4) << "step " << s;
}

TEST_F(PolicyOnTestModel, StreamingDiffersFromFullOnceTokensAreEvicted) {
  auto full = make_policy("full", model_->config());
  auto streaming = make_policy("streaming:sink=4,window=64", model_->config());
  auto a = run(full.get(), 300, 2), b = run(streaming.get(), 300, 2);
  double diff = 0;
  for (size_t i = 0; i < a.back().size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(a.back()[i] - b.back()[i])));
  EXPECT_GT(diff, 1e-2);
}

TEST_F(PolicyOnTestModel, StreamingKeepsTheCacheBounded) {
  auto streaming = make_policy("streaming:sink=4,window=128", model_->config());
  std::vector<int64_t> positions;
  run(streaming.get(), 600, 200, &positions);
  EXPECT_LE(positions.size(), 64u + 128 + 64);
  EXPECT_EQ(positions.back(), 799);
  EXPECT_GT(streaming->stats().bytes_per_token(), 0);
  EXPECT_NEAR(streaming->stats().slots_per_token(8, 2), 4 + 128, 1e-9);
}

}  // namespace
}  // namespace sieve
