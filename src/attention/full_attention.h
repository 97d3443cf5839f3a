#pragma once
// Exact causal attention over the KV cache: the reference every attention
// policy is compared with. Online softmax over the cache's pages (flash
// style), float32 accumulation; each key/value row is read once per KV head
// for all the query heads of its group (GQA).
#include <cstdint>

#include "kernels/thread_pool.h"
#include "cache/kv_cache.h"

namespace sieve {

// q: n_q tokens x n_heads x head_dim, already rotated; token i is the query
// of cache slot first_slot + i and sees slots [0, first_slot + i].
// out: same layout as q.
void attend_full(const KvCache& cache, int64_t layer, const float* q, int64_t n_q, int64_t first_slot,
                 int64_t n_heads, float* out, ThreadPool& pool);

}  // namespace sieve
