#pragma once
// One request inside the engine: its tokens (prompt, then generated), how
// many of them are in its KV cache, its attention policy instance, sampler,
// text output, and timings. Owned and touched by the engine thread only.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attention/policy.h"
#include "cache/kv_cache.h"
#include "model/rope.h"
#include "runtime/request.h"
#include "runtime/sampler.h"
#include "runtime/text_output.h"

namespace sieve {

using Clock = std::chrono::steady_clock;

struct Sequence {
  Sequence(uint64_t id, std::vector<int32_t> prompt, RequestOptions options, RequestCallbacks callbacks,
           std::unique_ptr<AttentionPolicy> policy, std::unique_ptr<Rope> rope, const Tokenizer& tokenizer);

  // Tokens not yet in the cache (the whole prompt at first, then the last
  // sampled token; everything again after a preemption).
  int64_t pending() const { return static_cast<int64_t>(tokens.size()) - n_computed; }
  int64_t generated() const { return static_cast<int64_t>(tokens.size()) - n_prompt; }

  uint64_t id;
  std::vector<int32_t> tokens;
  int64_t n_prompt;
  int64_t n_computed = 0;
  RequestOptions options;
  RequestCallbacks callbacks;
  std::string policy_spec;  // the policy's canonical spec, for re-creating it
  std::string policy_name;  // its name, for metrics
  std::unique_ptr<AttentionPolicy> policy;
  std::unique_ptr<Rope> rope;  // a context extension's RoPE; nullptr: the model's own
  std::string rope_spec;       // its canonical spec ("none")
  std::optional<KvCache> cache;  // while admitted
  Sampler sampler;
  TextOutput output;
  std::vector<int32_t> token_counts;  // per vocabulary id, generated tokens (presence/frequency penalties)
  bool prompt_done = false;
  bool policy_told_prompt_end = false;  // end_prompt called on this policy instance (again after a preemption)
  bool cancelled = false;

  // Prefix hashing of full pages: how many pages are hashed so far, and the
  // chain's last hash. The chain starts from a root of the RoPE used (keys
  // are cached rotated, so sequences share pages only under the same RoPE).
  int64_t hashed_pages = 0;
  uint64_t prefix_root = 0;
  uint64_t last_hash = 0;

  Clock::time_point submitted, first_scheduled, prompt_end, last_token;
  bool scheduled_once = false;
  RequestResult result;
};

}  // namespace sieve
