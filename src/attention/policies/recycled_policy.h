#pragma once
// `recycled` (Recycled Attention, Xu, Goyal & Choi 2024, arXiv 2411.05787 v1;
// v2 of the paper renames it RefreshKV): decoding alternates full attention
// steps with steps that recycle the attention pattern of the last full step.
//
// A full step (and the end of prefill, which is full attention) attends over
// the whole cache and ranks every slot by the attention probability the step's
// token gave it: softmax per query head, maximum over the query heads of the
// KV head's group (GQA). The top `budget` (K) slots per layer and KV head form
// the recycled cache. A recycled step j tokens after the full step reads that
// cache as the paper keeps it: the token of each step since the full step is
// added and the lowest-ranked recycled slot dropped, so it reads the j most
// recent slots and the K - j best-ranked ones (the K most recent once j > K).
// The recycled cache is a copy of those K slots' keys and values per layer and
// KV head, in rank order, made once per full step (as the paper keeps a
// separate recycled KV cache), so recycled steps read it contiguously. Every
// slot is read at its true position (the copies are the cached, already
// rotated keys), the query at its own.
//
// When to do a full step, per layer: `stride` S steps after the last one
// (fixed schedule), or with dynamic=1 every S-th step after the last full step
// checks the cosine similarity of the step's query (mean over the layer's query
// heads, before RoPE) to the last full step's, and does a full step when it is
// below `threshold`.
//
// Defaults: K = 1/8 of the input as in the paper's RULER runs (4096 at 32K)
// and language-modelling runs (2048 at 16K), scaled to 1024 for an 8K
// context; S = 50 (RULER); dynamic: check stride 5, threshold 0.8 (the
// paper's dynamic schedule).
//
// Cost, counted per decoded token: the slots read (all of them on full
// steps), and as extra bytes on full steps the second pass over the keys
// that yields the attention probabilities (the paper recomputes them too, as
// flash attention does not return them) and the copy of the top K slots into
// the recycled cache.
#include <memory>
#include <string>
#include <vector>

#include "attention/policy.h"

namespace sieve {

class Spec;

class RecycledPolicy : public AttentionPolicy {
 public:
  static constexpr int64_t kDefaultBudget = 1024;
  static constexpr int64_t kDefaultStride = 50;
  static constexpr int64_t kDefaultCheckStride = 5;
  static constexpr double kDefaultThreshold = 0.8;

  RecycledPolicy(int64_t budget, int64_t stride, bool dynamic, double threshold);
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  // Seeds the recycled cache from the batch's last token, as its own prefill does.
  void observe_prefill(const AttentionInput& in) override;
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<RecycledPolicy>(*this); }

  int64_t budget() const { return budget_; }
  int64_t stride() const { return stride_; }
  bool dynamic() const { return dynamic_; }
  double threshold() const { return threshold_; }
  // Decoded layer steps done with full attention and with the recycled cache.
  int64_t full_steps() const { return full_steps_; }
  int64_t recycled_steps() const { return recycled_steps_; }
  std::vector<std::pair<std::string, double>> counters() const override {
    return {{"full_steps", static_cast<double>(full_steps_)}, {"recycled_steps", static_cast<double>(recycled_steps_)}};
  }
  // The slot of the query of a layer's last full step (-1: none yet).
  int64_t full_step_slot(int64_t layer) const {
    return layer < static_cast<int64_t>(layers_.size()) ? layers_[layer].full_slot : -1;
  }

 private:
  struct LayerState {
    int64_t full_slot = -1;
    std::vector<float> full_query;  // head-mean query (before RoPE) of that step
    // Per KV head: the top-K slots of that step, most attended first.
    std::vector<std::vector<int64_t>> ranked;
    bool copied = false;  // recycled_ holds them
  };
  void attend_full_cache(const AttentionInput& in, float* out);
  // The layer's state, sized, with a full step the cache no longer holds forgotten.
  LayerState& layer_state(const AttentionInput& in);
  // Ranks the slots token `slot` of the batch attends to and keeps the top K.
  void select(const AttentionInput& in, int64_t slot, LayerState& st);
  // Copies a layer's ranked slots into the recycled cache.
  void copy_ranked(const AttentionInput& in, LayerState& st);
  void mean_query(const AttentionInput& in, int64_t token, std::vector<float>& out) const;

  int64_t budget_, stride_;
  bool dynamic_;
  double threshold_;
  std::vector<LayerState> layers_;
  // The paper's recycled KV cache: slot i of KV head h in layer l holds the
  // key and value of h's i-th ranked slot at l's last full step (copied from
  // the cache, so at its true position), so a recycled step reads the best
  // K - j of them as one contiguous span. Same element type as the cache.
  KvCache recycled_{KvCacheShape{1, 1, 1, 64, KvType::F32}};
  int64_t full_steps_ = 0, recycled_steps_ = 0;
  std::vector<float> rotated_, query_;  // scratch
};

}  // namespace sieve
