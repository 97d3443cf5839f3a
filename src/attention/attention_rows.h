#pragma once
// Exact attention one query row at a time, with the probabilities in hand:
// for the methods that read or rewrite a head's attention distribution
// (ACT's calibration) and for sieve inspect's maps. The fast kernels never
// materialise probabilities; these do, in float32, for one KV head's slots
// copied out of the cache once per batch.
#include <cstdint>
#include <vector>

#include "cache/kv_cache.h"

namespace sieve {

// One KV head's keys and values of slots [0, n) as floats. Keys are kept in
// blocks of 16 slots transposed (dimension-major), so one query's scores
// against 16 keys are 16 independent sums in vector lanes.
class HeadKv {
 public:
  // Holds slots [0, n) of (layer, kv_head) after the call. Slots read
  // before and below first_new are kept (a growing cache reads only its new
  // slots); slots from first_new on are read again (they were just written,
  // maybe over a rolled-back sequence's).
  void read(const KvCache& cache, int64_t layer, int64_t kv_head, int64_t first_new, int64_t n);
  int64_t size() const { return n_; }
  int64_t head_dim() const { return head_dim_; }
  const float* value(int64_t slot) const { return values_.data() + slot * head_dim_; }
  void clear() { n_ = 0; }

  // probs[j] = softmax_j(q . k_j / sqrt(head_dim)) over slots [0, n);
  // q is rotated. Returns nothing else: the row sums to one.
  void probabilities(const float* q, int64_t n, float* probs) const;
  // out = sum_j probs[j] v_j over slots [0, n).
  void weighted_values(const float* probs, int64_t n, float* out) const;

 private:
  static constexpr int64_t kBlock = 16;
  int64_t n_ = 0, head_dim_ = 0, layer_ = -1, kv_head_ = -1;
  const KvCache* cache_ = nullptr;
  std::vector<float> keys_t_;  // [block][dim][16]
  std::vector<float> values_;  // [slot][dim]
};

}  // namespace sieve
