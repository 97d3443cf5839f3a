#pragma once
// `hip` as a decode policy (HiP, Lee et al.; reference DeepAuto-AI/hip-attention):
// each query head of a decoded token reads the first `sink` slots, the
// `window` slots ending at it and the k keys HiP's hierarchical top-k
// (hierarchical_topk.h) selects. As in the reference's decoding (its
// offload runner), the selection is refreshed every `refresh` steps (its
// mask refresh interval, 8) and reused between: the window moves with each
// token, the selected blocks stay; a refresh searches with the queries of
// the tokens decoded since the last one and its own (the reference's prefix
// query), each row over the keys before its own window. Prompt batches are
// prefilled with the `hip` prefill method (hip_method.h), so `hip` alone is
// HiP end to end; `hip+full` prefills with HiP and decodes exactly.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attention/attention_kernel.h"
#include "attention/policy.h"
#include "attention/prefill/hip/hip_method.h"

namespace sieve {

class Spec;

class HipPolicy : public AttentionPolicy {
 public:
  static constexpr int64_t kDefaultRefresh = 8;

  HipPolicy(HipOptions options, int64_t refresh) : prefill_(options), refresh_(refresh) {}
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  // The key copy is synced from the cache at the next decoded token; the
  // selections are redone there.
  void observe_prefill(const AttentionInput& in) override { stale(in.layer); }
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<HipPolicy>(*this); }
  // Keeps no state the cache does not hold: the key copy re-reads slots it has not seen.
  bool shares_prefix() const override { return true; }
  // hip_refreshes (selections made, per layer and head), hip_score_products
  // (query-key products of the searches, prompt and decode), the prompt's
  // hip_search_share and prefill_attention_kept (hip_method.h).
  std::vector<std::pair<std::string, double>> counters() const override;
  void reset_stats() override;

  // The slots query head `head` of layer `layer` read at the last decoded
  // token (for tests).
  const std::vector<SlotSpan>& last_read(int64_t layer, int64_t head) const { return last_read_[layer][head]; }

 private:
  void stale(int64_t layer);
  void decode(const AttentionInput& in, float* out);

  HipMethod prefill_;
  int64_t refresh_;
  PrefillPlan plan_;
  PrefillWork work_;
  // Per layer: decode steps since the selections were made (-1: none valid),
  // and per query head the selected key blocks as slot spans.
  std::vector<int64_t> age_;
  std::vector<std::vector<std::vector<SlotSpan>>> selected_, last_read_;
  // Per layer: the rotated queries (all heads) of the tokens decoded since
  // the last selection, and their slots.
  struct RecentQueries {
    std::vector<int64_t> slots;
    std::vector<float> q;
  };
  std::vector<RecentQueries> recent_;
  double refreshes_ = 0, decode_products_ = 0;
};

}  // namespace sieve
