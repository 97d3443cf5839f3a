#pragma once
// The products HiP's tree search ranks key blocks by (hierarchical_topk.h):
// a block's query rows against a few keys scattered over the whole prompt,
// read from a row-major bf16 copy of the keys (key_rows.h). On the AMX tile
// unit when the CPU and OS allow it (bf16 queries and keys, float32 sums, as
// the reference's tl.dot); else float32 queries on vector FMAs.
#include <cstdint>
#include <vector>

namespace sieve {

inline constexpr int64_t kMaxScoredDim = 512;  // head_dim the kernels take

// A block's query rows, prepared once and scored against many sets of keys.
class ScoreRows {
 public:
  // q: n_rows x hd floats (rotated queries), n_rows >= 1.
  ScoreRows(const float* q, int64_t n_rows, int64_t hd);

  // For each key i: the largest q_r . keys[i] over rows r >= first_row[i]
  // (-inf when first_row[i] >= n_rows). keys[i]: hd bf16.
  void max_scores(const uint16_t* const* keys, const int64_t* first_row, int64_t n_keys, float* out) const;

  int64_t n_rows() const { return n_rows_; }

 private:
  int64_t n_rows_, hd_, padded_;  // padded: rows rounded up to 16, padded with copies of the last row
  bool tiles_;
  std::vector<float> qt_;     // vector path: hd x padded (qt[d * padded + r])
  std::vector<uint16_t> qb_;  // tile path: padded x hd bf16
};

// The tile path (key_scores_amx.cc): whether it runs here for a head_dim,
// and the scores of ScoreRows::max_scores from its bf16 rows.
bool key_score_tiles_usable(int64_t hd);
void max_scores_tiles(const uint16_t* qb, int64_t padded, int64_t hd, const uint16_t* const* keys,
                      const int64_t* first_row, int64_t n_keys, float* out);

}  // namespace sieve
