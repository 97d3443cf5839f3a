#pragma once
// `snapkv` and `pyramidkv`: prompt compression once the prompt is in the
// cache. SnapKV (Li et al. 2024): the last `window` prompt queries (the
// observation window) vote for the earlier prompt tokens with their
// attention; the votes, summed over the window and smoothed by a 1-D pooling
// of `kernel` tokens, pick the tokens each KV head keeps, plus the window
// itself; the rest are evicted for good and their pages go back to the pool.
// PyramidKV (Cai et al. 2024): the same votes, with a budget that shrinks
// linearly from the first layer to the last (beta sets the smallest).
//
// Defaults are the reference code's: window 32, budget (max_capacity_prompt,
// window included) 2048, kernel 5, average pooling; PyramidKV's beta 20.
// `ratio=R` (kvpress's compression ratio) keeps (1 - R) of the prompt instead
// of a fixed budget. Under GQA the votes of a KV head's query heads are
// averaged (kvpress's handling; the reference code repeats the KV heads,
// which a per-KV-head cache cannot hold). Decoding reads the kept slots and
// the tokens after the prompt, exactly, at their true positions.
#include <memory>
#include <string>
#include <vector>

#include "attention/policy.h"

namespace sieve {

class Spec;

struct SnapKvOptions {
  bool pyramid = false;
  int64_t budget = 2048;  // kept prompt tokens per KV head and layer, window included (pyramid: the mean)
  double ratio = 0;       // > 0: keep (1 - ratio) of the prompt instead of `budget`
  int64_t window = 32;
  int64_t kernel = 5;
  bool max_pool = false;
  int64_t beta = 20;  // pyramid: the last layer keeps (budget - window) / beta prompt tokens besides the window
};

class SnapKvPolicy : public AttentionPolicy {
 public:
  explicit SnapKvPolicy(const SnapKvOptions& o) : o_(o) {}
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec, bool pyramid);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  // Holds the batch's observation-window queries (nothing after compression).
  void observe_prefill(const AttentionInput& in) override;
  void end_prompt(KvCache& cache, ThreadPool& pool) override;
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<SnapKvPolicy>(*this); }
  bool rewrites_cache() const override { return true; }
  std::vector<std::pair<std::string, double>> counters() const override;

  // Prompt tokens a layer keeps (window included) from a prompt of n tokens
  // in a model of n_layers; n itself when the prompt is within the budget.
  int64_t kept_tokens(int64_t layer, int64_t n_layers, int64_t n) const;

  // The slots one KV head of one layer keeps, ascending, from the votes of
  // the observation window: q holds the window's queries (window rows x
  // group heads x head_dim, rotated and scaled by 1/sqrt(head_dim)), the
  // keys are slots [0, n) of the cache, the window's own tokens the last
  // `window` of them. Exposed for tests.
  std::vector<int64_t> select(const KvCache& cache, int64_t layer, int64_t kv_head, const float* q, int64_t group,
                              int64_t n, int64_t keep) const;

 private:
  // Rotates the batch's queries into rotated_ and holds the last `window` of them.
  void hold_window(const AttentionInput& in);

  SnapKvOptions o_;
  // Per layer: the last `window` queries seen (rotated, scaled), n_heads x
  // head_dim each, oldest first; and after compression the slots it keeps.
  std::vector<std::vector<float>> window_q_;
  std::vector<int64_t> window_rows_;  // per layer, queries held
  std::vector<int64_t> kept_;         // per layer: slots [0, kept) hold its kept prompt tokens
  int64_t tail_start_ = 0;            // tokens after the compressed prompt start at this slot
  bool compressed_ = false;
  double prompt_tokens_ = 0, evicted_tokens_ = 0;
  std::vector<float> rotated_;
};

}  // namespace sieve
