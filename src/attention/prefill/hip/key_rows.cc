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
  const int64_t n_chunks = (end + kChunkSlots - 1) / kChunkSlots;
  for (int64_t h = 0; h < n_kv_heads_; ++h) {
    std::vector<std::vector<uint16_t>>& chunks = rows_[layer * n_kv_heads_ + h];
    if (static_cast<int64_t>(chunks.size()) > n_chunks) chunks.resize(static_cast<size_t>(n_chunks));
    while (static_cast<int64_t>(chunks.size()) < n_chunks) chunks.emplace_back(static_cast<size_t>(kChunkSlots * head_dim_));
    for (int64_t slot = done; slot < end; ++slot) {
      cache.read_key(layer, h, slot, k.data());
      uint16_t* row = chunks[slot / kChunkSlots].data() + slot % kChunkSlots * head_dim_;
      for (int64_t d = 0; d < head_dim_; ++d) row[d] = f32_to_bf16(k[d]);
    }
  }
  done = end;
}

void KeyRows::clear() {
  rows_.clear();
  synced_.clear();
}

}  // namespace sieve
