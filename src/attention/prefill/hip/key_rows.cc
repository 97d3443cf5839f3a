#include "attention/prefill/hip/key_rows.h"

#include <algorithm>

#include "attention/prefill/hip/key_scores.h"
#include "util/error.h"
#include "util/half.h"

namespace sieve {

void KeyRows::sync(const KvCache& cache, int64_t layer, int64_t first_new, int64_t end) {
  const KvCacheShape& s = cache.shape();
  if (rows_.empty()) {
    if (s.head_dim > kMaxScoredDim)
      throw Error("HiP scores keys of at most " + std::to_string(kMaxScoredDim) + " dimensions, this model's have " +
                  std::to_string(s.head_dim));
    n_kv_heads_ = s.n_kv_heads;
    head_dim_ = s.head_dim;
    rows_.resize(static_cast<size_t>(s.n_layers * s.n_kv_heads));
    synced_.assign(static_cast<size_t>(s.n_layers), 0);
  }
  int64_t& done = synced_[layer];
  done = std::min(done, first_new);
  if (done >= end) return;
  std::vector<float> k(static_cast<size_t>(head_dim_));
  for (int64_t h = 0; h < n_kv_heads_; ++h) {
    std::vector<uint16_t>& rows = rows_[layer * n_kv_heads_ + h];
    rows.resize(static_cast<size_t>(end * head_dim_));
    for (int64_t slot = done; slot < end; ++slot) {
      cache.read_key(layer, h, slot, k.data());
      for (int64_t d = 0; d < head_dim_; ++d) rows[slot * head_dim_ + d] = f32_to_bf16(k[d]);
    }
  }
  done = end;
}

void KeyRows::clear() {
  rows_.clear();
  synced_.clear();
}

size_t KeyRows::bytes() const {
  size_t n = 0;
  for (const std::vector<uint16_t>& r : rows_) n += r.capacity() * sizeof(uint16_t);
  return n;
}

}  // namespace sieve
