#pragma once
// Vertical-Slash and Block-Sparse index estimation, as MInference's
// reference does it (minference_forward.py, vertical_slash_index.cu,
// block_sparse_flash_attention.py), for one query head and a batch of
// prompt queries whose keys are slots [0, n_keys).
#include <cstdint>
#include <vector>

#include "attention/attention_kernel.h"
#include "cache/kv_cache.h"

namespace sieve {

// The reference's estimation constants: the last 64 queries vote; the
// first 30 key columns and the 100 diagonals nearest the query are always
// kept; at least 30 columns and 50 diagonals are read.
inline constexpr int64_t kLastQueries = 64;
inline constexpr int64_t kAlwaysVertical = 30, kAlwaysSlash = 100;
inline constexpr int64_t kMinVertical = 30, kMinSlash = 50;

struct VerticalSlashIndex {
  std::vector<int64_t> verticals;  // sorted key slots
  std::vector<int64_t> slashes;    // sorted distances (query slot - key slot)
};

// One query head's votes: the softmax of each of its last queries over the
// keys it sees, summed per key column and per diagonal (distance).
struct VerticalSlashVotes {
  std::vector<float> column;    // n_keys
  std::vector<float> diagonal;  // n_keys, by distance
};

// The votes of `n_heads` query heads of one KV head: q holds their last
// queries head after head (n_last rows each, rotated and scaled by
// 1/sqrt(head_dim)), row i of a head being the query at slot
// n_keys - n_last + i. Scores come from the tile unit where it is usable
// (score_spans_estimate), a window of keys at a time, twice: once for each
// row's max and sum, once for the probabilities; no n_last x n_keys matrix
// is kept.
std::vector<VerticalSlashVotes> vertical_slash_votes(const KvCache& cache, int64_t layer, int64_t kv_head,
                                                     const float* q, int64_t n_heads, int64_t n_last, int64_t n_keys);

// The forced columns and diagonals, then the top `vertical` columns and
// `slash` diagonals by vote (sizes clamped as the reference does).
VerticalSlashIndex select_vertical_slash(const VerticalSlashVotes& votes, int64_t vertical, int64_t slash);

// What the queries at slots [row_begin, row_end) read: the union of the
// diagonals' key ranges (distance d: keys [row_begin - d, row_end - d),
// clipped at 0), merged into sorted spans, and the vertical lines before
// row_end that no span holds, as runs of indices into idx.verticals.
void vertical_slash_block(const VerticalSlashIndex& idx, int64_t row_begin, int64_t row_end,
                          std::vector<SlotSpan>& spans, std::vector<SlotSpan>& column_runs);

// Block-Sparse: the key blocks of kPrefillBlock slots that the query block
// ending at row_end (exclusive) reads: of the blocks starting before
// row_end, the top `topk` by pooled score (scores[j]: the block's mean
// query times block j's mean key), as sorted merged spans of slots < n_keys.
void top_key_blocks(const float* scores, int64_t n_blocks, int64_t row_end, int64_t n_keys, int64_t topk,
                    std::vector<SlotSpan>& spans);

}  // namespace sieve
