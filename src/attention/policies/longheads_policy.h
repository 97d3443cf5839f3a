#pragma once
// `longheads` (LongHeads, Lu et al. 2024, arXiv 2402.10685): every query head
// picks its own chunks of the context, so that each head attends within the
// trained length while the heads together cover all of it.
//
// As the reference implementation (LuLuLuyi/LongHeads, modeling_longheads/modeling_llama.py):
//   - the sequence is cut into chunks of `chunk` tokens; a completed chunk
//     gets one summary key per query head: the chunk's queries attend (not
//     causally, with in-chunk positions) over the chunk's keys, the mean of
//     those outputs attends over the chunk's keys once more, and that
//     attention's weighted mean of the keys is the summary;
//   - a query token in chunk C >= `chunks` reads, per query head, chunk 0, the
//     chunks - 3 chunks among 1..C-2 whose summaries score highest against its
//     un-rotated query, chunk C-1 and its own chunk up to itself: chunks x chunk
//     tokens at most, placed at contiguous positions in chunk order, the query
//     at its own key's position; earlier tokens attend fully at true positions;
//   - prefill selects the same way, token by token.
// Each chunk is contiguous, so moving it is a query rotation: no key is gathered.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention/policy.h"

namespace sieve {

class Spec;

class LongHeadsPolicy : public AttentionPolicy {
 public:
  // The reference's example settings: window_size 256; atten_length (= begin_selective_length)
  // 4096, the trained length of Llama-2: 16 chunks. By default the window is the model's own
  // trained length (chunks = trained length / chunk).
  static constexpr int64_t kDefaultChunk = 256;
  static constexpr int64_t kReferenceWindow = 4096;
  static int64_t default_chunks(const ModelConfig& config, int64_t chunk);

  LongHeadsPolicy(int64_t chunk, int64_t chunks);
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec, const ModelConfig& config);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<LongHeadsPolicy>(*this); }

  int64_t chunk() const { return chunk_; }
  int64_t chunks() const { return chunks_; }
  // Summary keys of a layer's completed chunks: n_chunks x n_heads x head_dim,
  // in the chunk's own frame (its first key at position 0).
  const std::vector<float>& summaries(int64_t layer) const;
  // The chunks the last decoded token of a layer read through query head h, in order.
  const std::vector<int64_t>& last_chunks(int64_t layer, int64_t head) const;

 private:
  struct LayerState {
    int64_t summarized = 0;      // chunks [0, summarized) have summaries
    std::vector<float> summary;  // summarized x n_heads x head_dim
    int64_t pending_begin = 0;   // un-rotated queries kept for slots [pending_begin, +pending_count)
    int64_t pending_count = 0;
    std::vector<float> pending;
    std::vector<std::vector<int64_t>> last;  // per query head
  };

  void prepare(const AttentionInput& in);
  void summarize(const AttentionInput& in);

  int64_t chunk_, chunks_;
  std::vector<LayerState> layers_;
};

}  // namespace sieve
