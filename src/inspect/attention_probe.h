#pragma once
// The attention half of sieve inspect: a policy that computes exact
// attention with every probability in hand (attention/attention_rows.h) and
// keeps, per layer and query head, what the findings are made of:
//   - the map: attention pooled into blocks of `block` queries x `block`
//     keys, each pooled query row the mean of its queries' rows (so it sums
//     to one);
//   - the attention each key receives, summed over the queries that see it
//     (sinks: StreamingLLM's first tokens, ACT's later ones);
//   - the head's output through its slice of the output projection,
//     ||W_O^h o_h|| per query (Active-Dormant's measure of what a head adds);
//   - on the prompt's last batch, MInference's pattern search
//     (attention/prefill/minference/pattern_search.h): how much of the
//     head's attention A-shape, Vertical-Slash and Block-Sparse recover.
// The forward pass goes on with the probe's exact outputs. The cache must
// hold every token (use f32 for maps that match the model's arithmetic).
#include <cstdint>
#include <vector>

#include "attention/attention_rows.h"
#include "attention/policy.h"
#include "attention/prefill/minference/pattern_search.h"
#include "model/model.h"

namespace sieve::inspect {

struct ProbeOptions {
  int64_t prompt_length = 0;  // tokens the probe will see (the maps' size)
  int64_t block = 32;         // tokens per map pixel
  int64_t first_tokens = 4;   // StreamingLLM's attention sinks: the first tokens
  bool search_patterns = true;
  PatternSearchOptions patterns;  // budget per query of MInference's candidates
};

struct HeadProbe {
  std::vector<double> map;   // pooled map, [query block][key block], row means
  std::vector<int64_t> map_rows;  // queries pooled into each query block
  std::vector<double> mass;  // per key: attention received, summed over queries
  double first_token = 0;    // summed over queries: attention on token 0
  double first_tokens = 0;   // summed over queries: attention on the first `first_tokens` tokens
  double output_norm = 0;    // summed over queries: ||W_O^h o_h||
  int64_t rows = 0;          // queries seen
  std::vector<PatternCandidate> patterns;  // every candidate of the search, on the last batch
};

class AttentionProbe : public AttentionPolicy {
 public:
  AttentionProbe(const Model& model, ProbeOptions options);

  std::string spec() const override { return "inspect"; }
  void attend(const AttentionInput& in, float* out) override;
  std::unique_ptr<AttentionPolicy> clone() const override;

  const ProbeOptions& options() const { return options_; }
  int64_t map_blocks() const { return blocks_; }
  const HeadProbe& head(int64_t layer, int64_t head) const { return heads_[layer * n_heads_ + head]; }
  // ||W_O^h v_j|| for every cached token j of a layer's query head (the
  // value state as the head would write it; Active-Dormant's value drains).
  std::vector<double> value_norms(const KvCache& cache, int64_t layer, int64_t head) const;

 private:
  // ||W_O^h x|| through the Gram matrix G_h = W_O^h^T W_O^h (head_dim x
  // head_dim per head, a layer's made at once on first use): sqrt(x^T G_h x),
  // without the hidden-sized product, and small enough to keep for every head.
  void make_grams(int64_t layer) const;
  double output_norm(int64_t layer, int64_t head, const float* x) const;

  const Model& model_;
  ProbeOptions options_;
  int64_t n_heads_, blocks_;
  std::vector<HeadProbe> heads_;
  mutable std::vector<std::vector<double>> grams_;  // [layer * n_heads + head]
  std::vector<HeadKv> kv_;  // per KV head of the current layer
  std::vector<float> rotated_;
};

}  // namespace sieve::inspect
