#pragma once
// `quest` (Quest, Tang et al. 2024; reference code mit-han-lab/Quest):
// query-aware page selection for decoding.
//
// The cache is cut into pages of `page` slots (slot p*page .. p*page+page-1,
// independent of the cache's own 64-slot pages). For each page, layer and KV
// head the policy keeps the per-channel maximum and minimum of the page's
// keys (as cached: rotated at their true positions), folded in as tokens
// arrive. A decoded token's query head q (rotated at its true position)
// scores every page but the last by the upper bound of q.k over the page,
// sum_i max(q_i * max_i, q_i * min_i), and reads the top budget/page - 1
// pages plus the last (current) page, each query head its own pages, with
// exact attention at true positions over them. When the context holds no
// more than budget/page pages, every page is read.
//
// As the reference: the first `dense_layers` layers and prefill (any batch of
// more than one token) use full attention; the page budget includes the last
// page (quest/utils/controller.py); page 16 and budget 1024 tokens are the
// reference's defaults (evaluation/passkey/passkey.py, scripts/example_textgen.py).
//
// select=group (not in the reference, which targets models without GQA):
// one selection per KV head for its whole group of query heads, each page
// scored by the highest bound among the group's heads, so the group reads
// budget/page pages once instead of up to group times as many. With GQA this
// is what makes the budget the KV read.
//
// Cost, counted per decoded token: the summaries scanned (2 * head_dim
// elements per page and KV head, once for the GQA group) as extra bytes; the
// K/V slots each query head reads. Pages that every head of a group selects
// are read once for the group; the others once per head that selected them.
#include <memory>
#include <string>
#include <vector>

#include "attention/policy.h"

namespace sieve {

class Spec;

class QuestPolicy : public AttentionPolicy {
 public:
  static constexpr int64_t kDefaultPage = 16;
  static constexpr int64_t kDefaultBudget = 1024;
  static constexpr int64_t kDefaultDenseLayers = 2;

  // Throws sieve::Error when budget < page.
  QuestPolicy(int64_t page, int64_t budget, int64_t dense_layers, bool group_select = false);
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  void observe_prefill(const AttentionInput&) override {}  // summaries are folded from the cache when decoding
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<QuestPolicy>(*this); }
  // Page summaries are folded lazily from whatever the cache holds.
  bool shares_prefix() const override { return true; }

  int64_t page() const { return page_; }
  int64_t budget() const { return budget_; }
  int64_t dense_layers() const { return dense_layers_; }
  bool group_select() const { return group_select_; }
  // The pages (besides the last) that query head h read at the most recent
  // selecting decode step, ascending. For tests and inspection.
  const std::vector<int64_t>& selected_pages(int64_t head) const { return selected_[head]; }
  // Slots of a layer whose keys are folded into the page summaries.
  int64_t summarized_slots(int64_t layer) const {
    return layer < static_cast<int64_t>(summarized_.size()) ? summarized_[layer] : 0;
  }

 private:
  void update_summaries(const AttentionInput& in);
  void attend_dense(const AttentionInput& in, float* out);

  int64_t page_, budget_, dense_layers_;
  bool group_select_;
  // Page summaries as a small cache with one slot per page whose "key" is
  // [max; min] (2 * head_dim): score_spans then computes the bound with the
  // attention kernel's page scoring (row [max(q,0); min(q,0)]). Element type
  // f16/bf16 for caches of that type (min and max of cached values are exact
  // in it), f32 otherwise.
  KvCache summaries_{KvCacheShape{1, 1, 2, 64, KvType::F32}};
  std::vector<int64_t> summarized_;             // per layer: slots folded in
  std::vector<std::vector<int64_t>> selected_;  // per query head
  std::vector<float> rotated_;                  // dense path scratch
  std::vector<float> fold_key_, fold_row_, fold_zeros_;  // summary update scratch
};

}  // namespace sieve
