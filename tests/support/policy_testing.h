#pragma once
// Shared helpers of the attention-policy tests.
#include <string>

#include "attention/policy.h"
#include "model/config.h"
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

}  // namespace sieve::testing
