#pragma once
// A row-major bf16 copy of the cache's keys for HiP's scoring. The cache
// stores a page's keys dimension-major (kv_cache.h), so one key's head_dim
// values lie on head_dim different cache lines; HiP's tree search scores a
// few keys scattered over the whole prompt at every step, which there would
// cost about a page read per key. Here a key is head_dim contiguous bf16.
// Memory: head_dim x 2 bytes per slot, KV head and layer (half an f16
// cache's K and V).
#include <cstdint>
#include <vector>

#include "cache/kv_cache.h"

namespace sieve {

class KeyRows {
 public:
  // Brings one layer's copy up to slot `end` of the cache, re-reading every
  // slot from `first_new` on (a batch's own slots, which a rolled-back
  // sequence may hold new keys in) and any it never read (a prefix another
  // sequence filled).
  void sync(const KvCache& cache, int64_t layer, int64_t first_new, int64_t end);
  // Slot `slot`'s key of a KV head.
  const uint16_t* key(int64_t layer, int64_t kv_head, int64_t slot) const {
    return rows_[layer * n_kv_heads_ + kv_head][slot / kChunkSlots].data() + slot % kChunkSlots * head_dim_;
  }
  // Forgets every copied key (the cache's slots were rewritten).
  void clear();

 private:
  // Keys are kept in chunks of slots, so that growing by a token never
  // copies (or doubles) what is there.
  static constexpr int64_t kChunkSlots = 1024;

  int64_t n_kv_heads_ = 0, head_dim_ = 0;
  std::vector<std::vector<std::vector<uint16_t>>> rows_;  // per layer and KV head: chunks of kChunkSlots x head_dim
  std::vector<int64_t> synced_;              // per layer: slots copied
};

}  // namespace sieve
