#pragma once
// The attention policy: what a request's attention reads from the KV cache.
// Every method of the field answers the same questions, and this interface
// asks them:
//   1. what to keep about the cache as tokens are appended (end_batch may
//      evict, end_prompt may compress the prompt; policies may keep their
//      own per-page summaries),
//   2. which cache slots each query reads (attend builds spans of slots),
//   3. at which position each query is rotated for each group of slots
//      (keys are cached rotated at their true positions, so a policy that
//      moves a span of keys to new positions rotates the query instead;
//      docs/attention.md explains why this is exact).
// One kernel (attention_kernel.h) does the reading for all of them.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/rope.h"
#include "cache/kv_cache.h"

namespace sieve {

struct ModelConfig;

struct AttentionInput {
  const KvCache& cache;
  int64_t layer;
  const float* q;      // n_q tokens x n_heads x head_dim, not yet rotated
  int64_t n_q;
  int64_t first_slot;  // token i's own key/value is at slot first_slot + i
  int64_t n_heads;
  const Rope& rope;
  ThreadPool& pool;
};

// What a policy read, for reporting: KV cache slots and bytes per decoded
// token (prefill is not counted), summed over layers and KV heads.
struct ReadStats {
  int64_t decoded_tokens = 0;
  double slots_read = 0;  // per layer and KV head, summed over decoded tokens
  double bytes_read = 0;  // K and V bytes (and the summaries a policy reads to select them), all layers
                          // and heads, summed over decoded tokens

  double slots_per_token(int64_t n_layers, int64_t n_kv_heads) const {
    return decoded_tokens ? slots_read / static_cast<double>(decoded_tokens * n_layers * n_kv_heads) : 0;
  }
  double bytes_per_token() const { return decoded_tokens ? bytes_read / static_cast<double>(decoded_tokens) : 0; }
};

class AttentionPolicy {
 public:
  virtual ~AttentionPolicy() = default;

  // The canonical spec string, with every parameter spelled out.
  virtual std::string spec() const = 0;
  // Writes n_q x n_heads x head_dim attention outputs.
  virtual void attend(const AttentionInput& in, float* out) = 0;
  // A copy with the same per-sequence state (summaries, selections, stats),
  // to go with a copy of the cache: a snapshot of a sequence.
  virtual std::unique_ptr<AttentionPolicy> clone() const = 0;
  // Called instead of attend for a prompt batch whose attention another
  // method computed (the prefill method of a composed spec,
  // "minference+quest"): keep what the policy keeps about the batch's
  // tokens. The default runs the policy's own attend and drops its output,
  // right for any policy but at the cost of its own prefill; policies whose
  // prompt state is cheap to keep override it.
  virtual void observe_prefill(const AttentionInput& in);
  // Called after a forward batch has run every layer: the place to evict.
  virtual void end_batch(KvCache& cache) {}
  // Called once a request's prompt is all in the cache, before its first
  // token is generated: the place to compress the prompt (SnapKV).
  virtual void end_prompt(KvCache& cache, ThreadPool& pool) {}
  // Whether the policy bounds the cache by evicting; such a policy can run
  // past the context size (the context then bounds only what it keeps).
  virtual bool evicts() const { return false; }
  // Whether the policy drops or moves the cache's slots (evicting, or
  // compressing the prompt), so that no other policy may take the cache over
  // (a conversation switching policy recomputes instead).
  virtual bool rewrites_cache() const { return evicts(); }
  // Whether the cached keys and values of a sequence's tokens are exactly
  // what the forward pass wrote, and the policy keeps no state of its own
  // about them: then a sequence may start from pages another sequence
  // filled with the same prefix (the engine's prefix cache) without the
  // policy seeing those tokens. Policies that evict, rewrite or summarise
  // the cache as it fills keep the default.
  virtual bool shares_prefix() const { return false; }

  // The policy's own counters for reports, as (name, value) pairs: what it
  // did besides reading (selections reused, blocks loaded, full steps, ...).
  virtual std::vector<std::pair<std::string, double>> counters() const { return {}; }

  const ReadStats& stats() const { return stats_; }
  virtual void reset_stats() { stats_ = {}; }

 protected:
  // Records what one layer's attention read for a decoded token (prefill
  // batches are not counted): slots summed over the KV heads.
  void count_read(const AttentionInput& in, double slots_all_heads);
  // Records other bytes a decoded token's attention read besides K/V slots:
  // page summaries, representative keys, scoring passes.
  void count_extra_bytes(const AttentionInput& in, double bytes);

  ReadStats stats_;
};

// Builds a policy from its spec, e.g. "full", "streaming:sink=4,window=1020",
// "minference+quest", "full+act:config=heads.json" (a modifier, last, wraps
// what comes before it).
// Unknown names or parameters throw sieve::Error listing the valid ones.
std::unique_ptr<AttentionPolicy> make_policy(const std::string& spec, const ModelConfig& config);
// One line per policy: its name, parameters and defaults.
std::string policy_help();

// The parts of a canonical spec, for reports: the prefill method's spec and
// the decode policy's ("minference:...+quest:..."); a policy that prefills
// itself is both ("quest:..." and "quest:..."); modifiers that act on both
// come last ("act:...", empty for none).
struct PolicyParts {
  std::string prefill, decode, modifiers;
};
PolicyParts policy_parts(const std::string& canonical_spec);

}  // namespace sieve
