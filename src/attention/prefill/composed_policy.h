#pragma once
// "PREFILL+DECODE": a prefill method (minference, ...) computes the
// attention of prompt batches, a decode policy that of generated tokens.
// The decode policy sees every prompt batch through observe_prefill, so
// whatever it keeps about the prompt (summaries, votes, copies) is kept as
// when it prefills itself; what it does to the cache (evicting, compressing
// at the prompt's end) it still does.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attention/policy.h"
#include "attention/prefill/prefill_method.h"

namespace sieve {

class ComposedPolicy : public AttentionPolicy {
 public:
  ComposedPolicy(std::unique_ptr<PrefillMethod> prefill, std::unique_ptr<AttentionPolicy> decode);

  std::string spec() const override { return prefill_->spec() + "+" + decode_->spec(); }
  void attend(const AttentionInput& in, float* out) override;
  void observe_prefill(const AttentionInput& in) override { decode_->observe_prefill(in); }
  void reset_stats() override {
    decode_->reset_stats();
    stats_ = {};
    work_ = {};
  }
  std::unique_ptr<AttentionPolicy> clone() const override;
  void end_batch(KvCache& cache) override {
    decode_->end_batch(cache);
    if (decode_->rewrites_cache()) prefill_->cache_rewritten();
  }
  void end_prompt(KvCache& cache, ThreadPool& pool) override {
    decode_->end_prompt(cache, pool);
    if (decode_->rewrites_cache()) prefill_->cache_rewritten();
  }
  bool evicts() const override { return decode_->evicts(); }
  bool rewrites_cache() const override { return decode_->rewrites_cache(); }
  // Prefill methods keep nothing about the cache between batches that they
  // do not re-read from it (HiP's key copy reads the slots it has not seen).
  bool shares_prefix() const override { return decode_->shares_prefix(); }
  // The decode policy's, then the prefill method's and the attention FLOPs
  // its prompt batches kept (prefill_attention_kept: read / dense).
  std::vector<std::pair<std::string, double>> counters() const override;

  const PrefillMethod& prefill() const { return *prefill_; }
  const AttentionPolicy& decode() const { return *decode_; }
  const PrefillWork& prefill_work() const { return work_; }

 private:
  std::unique_ptr<PrefillMethod> prefill_;
  std::unique_ptr<AttentionPolicy> decode_;
  PrefillPlan plan_;
  PrefillWork work_;
};

}  // namespace sieve
