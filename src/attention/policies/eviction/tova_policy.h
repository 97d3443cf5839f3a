#pragma once
// `tova`: Token Omission Via Attention (Oren et al. 2024, "Transformers are
// Multi-State RNNs"): the cache holds at most `budget` tokens per layer;
// whenever it would hold more, the token the current query attends to least,
// its attention averaged over all the layer's heads, is dropped, in every
// head of that layer alike. After the prompt the cache is cut to the budget
// by the last prompt token's attention (what the reference code does after
// its prefill step), then one token per decoded token. Each layer drops its
// own tokens: a dropped slot of a layer takes the newest token's key and
// value, and the cache stays `budget` slots long. `ratio=R` sets the budget
// at the prompt's end to (1 - R) of the prompt.
#include <memory>
#include <string>
#include <vector>

#include "attention/policy.h"

namespace sieve {

class Spec;

class TovaPolicy : public AttentionPolicy {
 public:
  // ratio > 0: the budget is set at the prompt's end to (1 - ratio) of it
  // (kvpress's compression ratio) instead of `budget`.
  TovaPolicy(int64_t budget, double ratio) : budget_(budget), ratio_(ratio) {}
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  // Keeps the batch's last query (what the prompt's end is judged by).
  void observe_prefill(const AttentionInput& in) override { hold_last_query(in, nullptr); }
  void end_prompt(KvCache& cache, ThreadPool& pool) override;
  void end_batch(KvCache& cache) override;
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<TovaPolicy>(*this); }
  bool rewrites_cache() const override { return true; }
  std::vector<std::pair<std::string, double>> counters() const override { return {{"dropped_tokens", dropped_}}; }

  // The layer's attention of the last query (rotated, scaled, n_heads x
  // head_dim) over slots [0, n), averaged over the heads. Exposed for tests.
  static std::vector<double> head_mean_attention(const KvCache& cache, int64_t layer, const float* q,
                                                 int64_t n_heads, int64_t n);

 private:
  // Keeps the batch's last query, rotated and scaled, as the layer's; no
  // victim yet. rotated: the batch's queries already rotated (nullptr: the
  // last is rotated here from in.q).
  void hold_last_query(const AttentionInput& in, const float* rotated);

  int64_t budget_;
  double ratio_;
  bool prompt_done_ = false;
  std::vector<std::vector<float>> last_q_;  // per layer: the last query seen (rotated, scaled)
  std::vector<int64_t> victim_;             // per layer: the slot to drop after this step, -1 none
  std::vector<float> rotated_;
  double dropped_ = 0;
};

}  // namespace sieve
