#pragma once
// `hip` as a prefill method: HiP's hierarchical pruning (hierarchical_topk.h)
// for every block of 64 prompt queries and every query head. The block's
// rows read
//   - the first `sink` slots and the selected key blocks, each row only the
//     slots before its own window (the reference's masks, so no slot is
//     counted twice), and
//   - the `window` slots ending at the row.
// The tree search scores with the block's queries q[1::2] (block_stride_q =
// 2) against a bf16 copy of the keys (key_rows.h). A block whose candidates
// hold no more than `k` keys reads every slot up to each row (exact).
// Defaults are the reference's HiPAttentionArgs: mask_k 512, block_size_q
// 64, block_stride_q 2, block_size_k 2, sink 16, sliding window 256, centre
// sampling, half branching. `dense_layers=N` keeps the first N layers dense
// (the paper's experiments keep the first 3 of 32).
//
// Not built: the reference's optional RoPE adjustments for going past the
// trained length (`using_extend`: streaming or self-extend positions for the
// selected keys, the follow-up InfiniteHiP's subject) and the paper's KV
// offloading; HiP here uses the model's RoPE at true positions, and composes
// with YaRN (docs/context-extension.md) unchanged.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attention/prefill/hip/hierarchical_topk.h"
#include "attention/prefill/hip/key_rows.h"
#include "attention/prefill/prefill_method.h"

namespace sieve {

struct HipOptions {
  HipShape shape;
  int64_t stride_q = 2;      // block_stride_q: the search uses every stride_q-th query of a block
  int64_t dense_layers = 0;  // the first layers read every key
};

// Parses and prints the parameters the prefill method and the decode
// policy share (k, block_k, sink, window, dense_layers, stride_q).
HipOptions hip_options_from_spec(Spec& spec);
std::string hip_options_spec(const HipOptions& o);

// HiP's search for a set of query rows of one head (rotated, n_rows x hd, at
// ascending cache slots `row_slots`; each row scores only the keys before
// its own window) over KV head kv_head's keys in `keys`: the prefill's rows
// are a block's q[1::2], the decode policy's the tokens since its last
// search. The candidates are those the last row sees.
HipSelection hip_search(const KeyRows& keys, const HipShape& s, int64_t layer, int64_t kv_head, const float* q,
                        const std::vector<int64_t>& row_slots, int64_t hd);

class HipMethod : public PrefillMethod {
 public:
  explicit HipMethod(HipOptions options) : options_(options) {}
  static std::unique_ptr<PrefillMethod> from_spec(Spec& spec, const ModelConfig& model);

  std::string spec() const override;
  std::unique_ptr<PrefillMethod> clone() const override { return std::make_unique<HipMethod>(*this); }
  void plan(const AttentionInput& in, PrefillPlan& plan) override;
  void cache_rewritten() override { keys_.clear(); }
  // hip_score_products: query-key products the tree search computed (rows
  // times keys scored); hip_search_share: those over dense causal
  // attention's products for the same prompt batches, to add to
  // prefill_attention_kept.
  std::vector<std::pair<std::string, double>> counters() const override;

  const HipOptions& options() const { return options_; }
  // The copy of the keys the search scores (the decode policy shares it).
  KeyRows& keys() { return keys_; }

  // The tree search for one block of queries of one head (rotated: the
  // batch's queries at their positions); n_rows: the query rows it scored with.
  HipSelection select_block(const AttentionInput& in, int64_t head, int64_t block, const float* rotated,
                            int64_t& n_rows) const;

 private:
  HipOptions options_;
  KeyRows keys_;
  double score_products_ = 0, dense_products_ = 0;
};

}  // namespace sieve
