#pragma once
// `tokenselect` (TokenSelect, Wu et al. 2024, arXiv 2411.02886): dynamic
// token-level KV cache selection. Each query chunk of a layer (a decoded
// token, or `chunk` prefill tokens) scores every cached token with q.k per
// query head, normalises the scores of each head with a softmax and sums them
// over all heads of the layer (soft voting); the `k` tokens with the most
// votes, the first `n_init` tokens and the last `n_local` tokens are read.
//
// As the reference implementation (pzs19/TokenSelect, patcher/token_retrieval.py):
//   - the query that scores is the mean of the chunk's queries, each rotated
//     to position n_local + i, against keys at position 0 (un-rotated): every
//     candidate is scored at the same distance, whatever its true position;
//     this policy keeps an un-rotated copy of the keys for that (the cache
//     holds them rotated): int8 with a scale per key by default
//     (`score=int8`, attention/selection/compact_keys.h: 68 bytes per key of
//     64 dimensions, against 128 for an f16 copy), int4 (`score=int4`, 36
//     bytes), or in the cache's own type (`score=exact`, the reference's
//     scores);
//   - scores are raw q.k (no 1/sqrt(d)) before the per-head softmax;
//   - the read tokens sit at contiguous positions, in slot order: the initial
//     tokens at 0..n_init-1, the selected ones next, the local window after
//     them, the query at its own key's position;
//   - while n_init + k + n_local covers the sequence, attention is full.
// The selected keys are read from the cache and rotated from their true
// positions to their places in the list (no full-precision copy of the keys
// but with score=exact), or with keys=int8 read from the int8 copy (a row per
// key instead of a cache line per dimension; the values stay exact).
// The Selection Cache: a chunk whose query fingerprint (the mean rotated
// query of all heads) has cosine similarity >= `threshold` with the one the
// current selection was made for reuses that selection (`reuse=1`).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attention/policy.h"
#include "attention/selection/compact_keys.h"

namespace sieve {

class Spec;

class TokenSelectPolicy : public AttentionPolicy {
 public:
  // The reference's configs (config/llama-token-retrieval.yaml, for Llama-3-8B
  // with an 8K trained context): 128 initial, 512 local, top 2048; prefill
  // chunks of 512 (PREFILL_CHUNK_SIZE); the Selection Cache threshold 0.9.
  static constexpr int64_t kDefaultK = 2048;
  static constexpr int64_t kDefaultInit = 128;
  static constexpr int64_t kDefaultLocal = 512;
  static constexpr int64_t kDefaultChunk = 512;
  static constexpr double kDefaultThreshold = 0.9;
  static constexpr bool kDefaultReuse = true;
  // What the scoring pass reads: the int8 or int4 copy, or keys as exact as the cache's.
  enum class Scores { Int8, Int4, Exact };
  static constexpr Scores kDefaultScores = Scores::Int8;
  // Where the attention reads the selected keys from: the cache (exact), or
  // the int8 copy (keys=int8: one row per key where the cache's
  // dimension-major blocks cost a cache line per dimension; the keys are then
  // as precise as a q8 cache's).
  enum class Keys { Exact, Int8 };

  struct Options {
    int64_t k = kDefaultK, n_init = kDefaultInit, n_local = kDefaultLocal, chunk = kDefaultChunk;
    double threshold = kDefaultThreshold;
    bool reuse = kDefaultReuse;
    Scores scores = kDefaultScores;
    Keys keys = Keys::Exact;
  };
  // How often the Selection Cache answered: chunks (decode steps or prefill
  // chunks, per layer) that needed a selection, and how many reused one.
  struct ReuseStats {
    int64_t selections = 0;
    int64_t reused = 0;
  };

  explicit TokenSelectPolicy(const Options& o);
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  // Un-rotates the batch's keys into the scoring copy; the next selection is made afresh.
  void observe_prefill(const AttentionInput& in) override;
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<TokenSelectPolicy>(*this); }

  const Options& options() const { return o_; }
  const ReuseStats& reuse_stats() const { return reuse_; }
  std::vector<std::pair<std::string, double>> counters() const override {
    return {{"selections", static_cast<double>(reuse_.selections)},
            {"selections_reused", static_cast<double>(reuse_.reused)}};
  }
  // The slots the layer's current selection holds (sorted, the initial and
  // local tokens not included); empty before any selection.
  const std::vector<int64_t>& selected(int64_t layer) const;

 private:
  struct LayerState {
    int64_t unrotated = 0;  // slots [0, unrotated) of the scoring copy are valid
    bool has_selection = false;
    int64_t selected_at = 0;         // sequence length the selection was made at
    std::vector<int64_t> selected;   // sorted slots
    std::vector<float> fingerprint;  // n_heads x head_dim: the query the selection was made for
    std::vector<KvCache> gathered;   // per KV head: initial + selected keys (re-rotated) and values
    bool gathered_valid = false;
  };

  void prepare(const AttentionInput& in);
  void extend_unrotations(const AttentionInput& in);
  void unrotate_new_keys(const AttentionInput& in);
  // Raw scores of the candidates [lo, hi) of one KV head's query heads: head g's at scores + g * stride.
  void score(const AttentionInput& in, int64_t kv_head, int64_t lo, int64_t hi, float* scores, int64_t stride);
  // Chooses (or reuses) the selection of query tokens [c0, c1); the sequence is num_tokens long.
  void select(const AttentionInput& in, int64_t c0, int64_t c1, int64_t num_tokens);
  void gather(const AttentionInput& in);
  // gather() of one KV head's list from the int8 copy (scratch: the thread's).
  void gather_int8(const AttentionInput& in, int64_t kv_head, KvCache& gathered, void* scratch);
  void attend_selected(const AttentionInput& in, int64_t c0, int64_t c1, int64_t num_tokens, float* out);
  void attend_all(const AttentionInput& in, int64_t c0, int64_t c1, float* out);

  Options o_;
  ReuseStats reuse_;
  std::vector<LayerState> layers_;
  // The scoring copy of the keys, at position 0: int8, or (score=exact) a
  // cache of the cache's type whose key blocks hold them.
  std::optional<CompactKeys> compact_;
  std::optional<KvCache> unrotated_;
  // Per slot, the rotation back from its position (head_dim / 2 cosines,
  // then sines): slots [0, unrotations_valid_) are current. Kept with
  // keys=exact, shared by the layers: un-rotating a key for scoring and
  // re-rotating a selected one (keys=int8 computes them per new slot).
  std::vector<float> unrotations_;
  int64_t unrotations_valid_ = 0;
  // Rotations to positions 0..n_init+k-1 (2 x head_dim floats each), for the gathered keys.
  std::shared_ptr<const std::vector<float>> table_;
  // Selection scratch.
  std::vector<float> fingerprint_, scores_, votes_, head_sum_, kth_, piece_max_;
  std::vector<double> piece_sum_;
};

}  // namespace sieve
