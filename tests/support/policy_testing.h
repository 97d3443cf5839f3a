#pragma once
// Shared helpers of the attention-policy tests.
#include <algorithm>
#include <string>
#include <vector>

#include "attention/policy.h"
#include "model/config.h"
#include "runtime/transformer.h"
#include "util/error.h"

namespace sieve::testing {

// A model config with just what policies read: head shapes and plain RoPE.
inline ModelConfig small_policy_config(int64_t head_dim = 64, int64_t n_heads = 4, int64_t n_kv_heads = 2,
                                       double rope_theta = 10000.0) {
  ModelConfig c;
  c.head_dim = c.rope_dim = head_dim;
  c.rope_theta = rope_theta;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  return c;
}

// The message make_policy throws for a spec, or "no error".
inline std::string policy_spec_error(const std::string& spec, const ModelConfig& config = small_policy_config()) {
  try {
    make_policy(spec, config);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// A synthetic prompt: BOS, then a fixed pattern of ordinary tokens.
inline std::vector<int32_t> synthetic_prompt(int64_t n) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = i == 0 ? 1 : static_cast<int32_t>(100 + (i * 37) % 7000);
  return p;
}

// Prefills synthetic_prompt(prompt_len) through `policy` (none when 0: the
// cache is continued from token `first`), then decodes `steps` greedy tokens;
// returns the logits of every step.
inline std::vector<std::vector<float>> run_greedy(Transformer& tf, KvCache& cache, AttentionPolicy* policy,
                                                  int64_t prompt_len, int steps, int32_t first = 7) {
  std::vector<float> logits(static_cast<size_t>(tf.model().config().vocab_size));
  std::vector<std::vector<float>> all;
  if (prompt_len > 0) {
    const std::vector<int32_t> p = synthetic_prompt(prompt_len);
    tf.forward(p.data(), prompt_len, cache, logits.data(), false, policy);
    all.push_back(logits);
  }
  for (int s = 0; s < steps; ++s) {
    const int32_t next = all.empty() ? first
                                     : static_cast<int32_t>(std::max_element(all.back().begin(), all.back().end()) -
                                                            all.back().begin());
    tf.forward(&next, 1, cache, logits.data(), false, policy);
    all.push_back(logits);
  }
  return all;
}

}  // namespace sieve::testing
