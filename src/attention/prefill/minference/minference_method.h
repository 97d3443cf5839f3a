#pragma once
// `minference` (MInference 1.0, Jiang et al. 2024; reference code
// microsoft/MInference): sparse prefill with one pattern per query head
// (head_patterns.h), its indices estimated online for every prompt batch:
//   A-shape        per row: the first `init` slots and the `local` slots
//                  ending at the query (exact per-row masks).
//   Vertical-Slash the batch's last 64 queries' attention to every key
//                  (softmax per query) summed per key column and per
//                  diagonal; the top `vertical` columns and `slash`
//                  diagonals (the first 30 columns and the 100 nearest
//                  diagonals always); each block of 64 queries reads the
//                  union of its diagonals' key ranges and the columns
//                  outside them (vertical_slash.h).
//   Block-Sparse   per block of 64 queries, the `topk` key blocks of 64
//                  whose mean key best matches the block's mean query
//                  (causal at block level).
//   dense          every key.
// Heads come from `config=FILE` (written by `sieve minference-search`), or
// all share the pattern the spec names: by default the reference's
// Vertical-Slash 1000/6096, its pattern for heads a config does not list.
//
// Chunked prefill: the reference estimates once per prompt from its last 64
// queries; here each prompt batch (the engine's --batch-tokens chunks) is
// estimated from its own last 64 queries over every key before them, as
// chunked-prefill ports of MInference do. Decoded tokens are the decode
// policy's (composed_policy.h).
#include <memory>
#include <string>
#include <vector>

#include "attention/prefill/minference/head_patterns.h"
#include "attention/prefill/minference/vertical_slash.h"
#include "attention/prefill/prefill_method.h"

namespace sieve {

class MInferenceMethod : public PrefillMethod {
 public:
  // Every head `uniform`, or per head from `config` (when set).
  MInferenceMethod(HeadPatternChoice uniform, std::shared_ptr<const PatternConfig> config, std::string config_path);
  static std::unique_ptr<PrefillMethod> from_spec(Spec& spec, const ModelConfig& model);

  std::string spec() const override;
  std::unique_ptr<PrefillMethod> clone() const override { return std::make_unique<MInferenceMethod>(*this); }
  void plan(const AttentionInput& in, PrefillPlan& plan) override;

  HeadPatternChoice choice(int64_t layer, int64_t head) const;

  // The pieces of plan(), for the pattern search (which tries several
  // choices per head on one batch). Vertical-Slash's votes of the given
  // query heads (all of one KV head's group), in that order.
  static std::vector<VerticalSlashVotes> votes(const AttentionInput& in, const std::vector<int64_t>& heads);
  // Block-Sparse's pooled keys brought up to date for the batch (every KV head).
  void pool_keys(const AttentionInput& in);
  // One query head's reads under choice c; votes: the head's, for Vertical-Slash.
  void plan_head(const AttentionInput& in, int64_t head, const HeadPatternChoice& c, const VerticalSlashVotes* votes,
                 HeadReads& reads) const;

 private:
  void plan_vertical_slash(const AttentionInput& in, const HeadPatternChoice& c, const VerticalSlashVotes& votes,
                           HeadReads& reads) const;
  void plan_block_sparse(const AttentionInput& in, int64_t head, const HeadPatternChoice& c, HeadReads& reads) const;

  HeadPatternChoice uniform_;
  std::shared_ptr<const PatternConfig> config_;
  std::string config_path_;
  // Block-Sparse's key-block sums (kPrefillBlock slots each, head_dim floats)
  // per layer and KV head: complete blocks are summed once and kept.
  std::vector<std::vector<std::vector<float>>> pooled_;
};

}  // namespace sieve
