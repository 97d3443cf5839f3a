#include "bench/bench.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "util/error.h"

namespace sieve {
namespace {

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));
  return t;
}

// n tokens of a text from token `first` on, starting over at its end.
std::vector<int32_t> text_tokens(const std::vector<int32_t>& text, int64_t first, int64_t n) {
  std::vector<int32_t> t(n);
  const auto size = static_cast<int64_t>(text.size());
  for (int64_t i = 0; i < n; ++i) t[i] = text[(first + i) % size];
  return t;
}

// Average number of cache slots each token of the test attends to.
double mean_context(int64_t depth, int64_t n) { return static_cast<double>(depth) + (static_cast<double>(n) + 1) / 2; }

void summarise(BenchResult& r) {
  const double n = static_cast<double>(r.tokens_per_s.size());
  r.mean = std::accumulate(r.tokens_per_s.begin(), r.tokens_per_s.end(), 0.0) / n;
  double var = 0;
  for (double x : r.tokens_per_s) var += (x - r.mean) * (x - r.mean);
  r.stddev = n > 1 ? std::sqrt(var / (n - 1)) : 0.0;
}

}  // namespace

size_t peak_rss_bytes() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<size_t>(u.ru_maxrss) * 1024;
}

std::vector<BenchResult> run_bench(Transformer& tf, const BenchOptions& o, void (*progress)(const BenchResult&)) {
  if (o.repetitions < 1) throw Error("-r must be at least 1");
  const Model& model = tf.model();
  const ModelConfig& c = model.config();
  // Dropped blocks (--drop-attn-layers, --drop-layers) cost nothing.
  int64_t mlp_layers = 0;
  for (int64_t l = 0; l < c.n_layers; ++l) mlp_layers += c.mlp_kept(l);
  const int64_t attn_layers = c.attention_layers();
  const double matmul_flops = 2.0 * static_cast<double>(
      attn_layers * (c.hidden * (c.n_heads + 2 * c.n_kv_heads) * c.head_dim + c.n_heads * c.head_dim * c.hidden) +
      mlp_layers * 3 * c.hidden * c.ffn_hidden + c.hidden * c.vocab_size);
  // QK^T and PV: 2 FLOPs per multiply-add, head_dim each, per head and layer.
  const double attn_flops_per_slot = 4.0 * static_cast<double>(attn_layers * c.n_heads * c.head_dim);

  std::vector<BenchResult> results;
  for (int64_t depth : o.depths) {
    if (depth < 0) throw Error("-d depths must be >= 0");
    KvCache cache(tf.cache_shape(o.kv_type));
    std::vector<float> logits(c.vocab_size);
    std::unique_ptr<AttentionPolicy> fill_policy = make_policy(o.attn, c);
    int64_t longest_test = 0;
    for (int64_t n : o.prompt_sizes) longest_test = std::max(longest_test, n);
    for (int64_t n : o.gen_sizes) longest_test = std::max(longest_test, n);
    const auto rope = make_rope(o.rope, c, model.weights().rope_freq_divisors, depth + longest_test);
    if (depth > 0) {
      // The fill is the prompt: a policy that compresses prompts does so here.
      std::vector<int32_t> fill =
          o.text.empty() ? random_tokens(depth, c.vocab_size, 1234) : text_tokens(o.text, 0, depth);
      tf.forward(fill.data(), depth, cache, logits.data(), false, fill_policy.get(), rope.get());
      fill_policy->end_prompt(cache, tf.pool());
    }
    // Each repetition starts from the filled cache and the policy's state
    // after the fill (a clone): the cache rolled back by truncation, or, for
    // policies that rewrite it (and so change what the fill left), copied.
    const int64_t filled = cache.size();
    fill_policy->reset_stats();
    std::unique_ptr<KvCache> snapshot;
    if (fill_policy->rewrites_cache()) snapshot = std::make_unique<KvCache>(cache);
    struct Test {
      int64_t n;
      bool decode;
    };
    std::vector<Test> tests;
    for (int64_t n : o.prompt_sizes) tests.push_back({n, false});
    for (int64_t n : o.gen_sizes) tests.push_back({n, true});
    int64_t tests_left = 0;
    for (const Test& t : tests) tests_left += t.n > 0;
    for (const Test& t : tests) {
      if (t.n <= 0) continue;
      --tests_left;
      BenchResult r;
      r.test = (t.decode ? "tg" : "pp") + std::to_string(t.n);
      r.n_tokens = t.n;
      r.depth = depth;
      r.decode = t.decode;
      std::vector<int32_t> tokens =
          o.text.empty() ? random_tokens(t.n, c.vocab_size, 42 + t.n) : text_tokens(o.text, depth, t.n);
      std::unique_ptr<AttentionPolicy> policy;
      // Repetition -1 is an untimed warm-up (caches, page faults, thread
      // wake-up), as llama-bench runs one.
      for (int rep = o.warmup ? -1 : 0; rep < o.repetitions; ++rep) {
        if (snapshot) cache = *snapshot;
        else cache.truncate(filled);
        policy.reset();  // before the next clone: peak RSS then holds one copy besides the fill's
        // The depth's last run takes the filled policy itself: with one
        // repetition and no warm-up, peak RSS is that of a single copy.
        if (tests_left == 0 && rep == o.repetitions - 1)
          policy = std::move(fill_policy);
        else
          policy = fill_policy->clone();
        auto t0 = std::chrono::steady_clock::now();
        if (t.decode) {
          for (int64_t i = 0; i < t.n; ++i) tf.forward(&tokens[i], 1, cache, logits.data(), false, policy.get(), rope.get());
        } else {
          tf.forward(tokens.data(), t.n, cache, logits.data(), false, policy.get(), rope.get());
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (rep >= 0) r.tokens_per_s.push_back(static_cast<double>(t.n) / s);
      }
      if (snapshot) cache = *snapshot;
      else cache.truncate(filled);
      summarise(r);
      const double ctx = mean_context(depth, t.n);
      // Prefill reads every matrix once per batch of tokens, decode once per token.
      const int64_t batches = t.decode ? t.n : (t.n + tf.max_batch_tokens() - 1) / tf.max_batch_tokens();
      r.weight_bytes_per_token = model.weight_bytes_per_token() * static_cast<size_t>(batches) / static_cast<size_t>(t.n);
      // What the policy actually read per decoded token; for prefill, what full attention reads.
      r.kv_bytes_per_token = t.decode && policy->stats().decoded_tokens > 0
                                 ? static_cast<size_t>(policy->stats().bytes_per_token())
                                 : static_cast<size_t>(ctx * static_cast<double>(cache.bytes_per_token()));
      r.flops_per_token = matmul_flops + attn_flops_per_slot * ctx;
      r.peak_rss_bytes = peak_rss_bytes();
      r.policy_counters = policy->counters();
      if (progress) progress(r);
      results.push_back(r);
    }
  }
  return results;
}

}  // namespace sieve
