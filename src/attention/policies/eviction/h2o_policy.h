#pragma once
// `h2o`: Heavy-Hitter Oracle (Zhang et al. 2023). Each KV head keeps at most
// `budget` tokens: the most recent `recent` fraction of the budget, and the
// heavy hitters, the tokens with the highest attention accumulated over
// every query so far (prompt and generated). The prompt's attention is
// accumulated as it is prefilled; at the prompt's end each head is cut to
// the budget; then each decoded token adds its attention and, past the
// budget, drops the head's lowest-scoring token outside the recent window.
// The paper gives heavy hitters and the recent window 10% of the sequence
// each; here a token budget split by `recent` (0.5: equal halves), or with
// `ratio=R` (1 - R) of the prompt, set at the prompt's end. Under GQA
// a KV head's score is its query heads' attention averaged (as kvpress
// averages its scores).
#include <memory>
#include <string>
#include <vector>

#include "attention/policy.h"

namespace sieve {

class Spec;

class H2oPolicy : public AttentionPolicy {
 public:
  // ratio > 0: the budget is set at the prompt's end to (1 - ratio) of it
  // (kvpress's compression ratio) instead of `budget`.
  H2oPolicy(int64_t budget, double recent, double ratio) : budget_(budget), recent_(recent), ratio_(ratio) {}
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  // Accumulates the batch's attention (its own scoring pass over the keys).
  void observe_prefill(const AttentionInput& in) override { accumulate_batch(in, nullptr); }
  void end_prompt(KvCache& cache, ThreadPool& pool) override;
  void end_batch(KvCache& cache) override;
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<H2oPolicy>(*this); }
  bool rewrites_cache() const override { return true; }
  std::vector<std::pair<std::string, double>> counters() const override { return {{"dropped_tokens", dropped_}}; }

  int64_t recent_tokens() const { return static_cast<int64_t>(static_cast<double>(budget_) * recent_); }
  // Per layer and KV head, per slot: the accumulated attention (tests).
  const std::vector<double>& scores(int64_t layer, int64_t kv_head) const { return heads_[layer][kv_head].score; }

 private:
  struct Head {
    std::vector<double> score;     // per slot: attention accumulated over the queries so far
    std::vector<int64_t> position;  // per slot: the token's position
    int64_t victim = -1;           // the slot to drop after this step
  };
  // Adds rows' attention over slots [0, first_slot + t + 1) (query token t)
  // to one head's scores.
  void accumulate(const AttentionInput& in, int64_t kv_head, const float* q, Head& head);
  // Gives the batch's new slots a place and adds every query's attention;
  // rotated: the batch's queries already rotated at their positions (nullptr:
  // rotated here from in.q).
  void accumulate_batch(const AttentionInput& in, const float* rotated);
  void move(KvCache& cache, int64_t layer, int64_t kv_head, int64_t from, int64_t to);

  int64_t budget_;
  double recent_, ratio_;
  bool prompt_done_ = false;
  std::vector<std::vector<Head>> heads_;  // [layer][kv head]
  std::vector<float> rotated_;
  double dropped_ = 0;
};

}  // namespace sieve
