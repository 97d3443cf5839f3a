#pragma once
// HiP's hierarchical top-k (Lee et al., "A Training-Free Sub-quadratic Cost
// Transformer Model Serving Framework With Hierarchically Pruned
// Attention"; reference code DeepAuto-AI/hip-attention, v1_1
// attention2_draft_prefetch.py): which key blocks a block of queries reads
// besides its sink tokens and its sliding window, in O(k log T) scores
// instead of T.
//
// Keys are grouped in blocks of block_k slots (block b: slots
// [b * block_k, (b + 1) * block_k)). The candidates are the blocks after the
// sinks and before the window of the query block's last query. They are
// split into k / block_k groups of about equal size (the reference's
// initialisation, sizes aligned to a power of two); then, while a group
// holds more than one block, every group is split into halves, each half is
// represented by its centre block, that block is scored (the largest q . k
// over the query rows and its slots each row may read), and the k / block_k
// best halves are kept. What is left is k / block_k single blocks: k keys.
// When the candidates hold no more than k keys, all of them are read.
#include <cstdint>
#include <functional>
#include <vector>

namespace sieve {

struct HipShape {
  int64_t mask_k = 512;   // keys selected per query block (the reference's mask_k)
  int64_t block_k = 2;    // slots per key block (block_size_k)
  int64_t sink = 16;      // first slots always read (sink_token_size)
  int64_t window = 256;   // slots ending at each query always read (sliding_window_size)
};

// Scores of representative key blocks: out[i] for block reps[i]; -inf when
// no query row may read any of its slots.
using BlockScorer = std::function<void(const std::vector<int64_t>& reps, float* out)>;

struct HipSelection {
  bool all = false;             // the candidates hold <= mask_k keys: every one is read
  std::vector<int64_t> blocks;  // else the selected key blocks, ascending
  int64_t stages = 0;           // rounds of splitting and scoring
  int64_t scored = 0;           // representative blocks scored
};

// The candidates' end: slots before it (and from `sink` on) may be
// selected, for a query block whose last query sees `visible` slots.
inline int64_t hip_candidates_end(const HipShape& s, int64_t visible) { return visible - s.window; }

// Whether those candidates hold no more than mask_k keys: then every slot is read.
inline bool hip_reads_all(const HipShape& s, int64_t visible) {
  return hip_candidates_end(s, visible) - s.sink <= s.mask_k;
}

HipSelection hip_select(const HipShape& s, int64_t visible, const BlockScorer& score);

}  // namespace sieve
