#include "attention/full_attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "attention/attention_kernel.h"
#include "attention/attention_tiles.h"

namespace sieve {
namespace {

// Query tokens per work item: their rows share each page load. On the tile
// unit twice as many, which share the page's conversion into tiles too.
constexpr int64_t kQueryBlock = 16, kTileQueryBlock = 32;

// Per-thread buffers reused across calls (the decode path runs this per layer per token).
struct Scratch {
  std::vector<float> q, m, l, acc, kernel;
  std::vector<int64_t> limit;
};
Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

void attend_full(const KvCache& cache, int64_t layer, const float* q, int64_t n_q, int64_t first_slot,
                 int64_t n_heads, float* out, ThreadPool& pool) {
  const KvCacheShape& s = cache.shape();
  const int64_t q_block = n_q > 1 && attention_tiles::usable(s.type, s.head_dim, s.page_size) ? kTileQueryBlock : kQueryBlock;
  const int64_t hd = s.head_dim, n_kv = s.n_kv_heads, group = n_heads / n_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t n_qb = (n_q + q_block - 1) / q_block;
  const int64_t n_slots = first_slot + n_q;
  const int64_t n_pages = (n_slots + s.page_size - 1) / s.page_size;
  // Decoding has one query block per KV head; split the slots so every
  // thread has work (flash-decoding), and merge the parts afterwards. Into
  // about kItemsPerThread parts per thread, of at least kMinSplitPages
  // pages, which the threads claim one by one: a thread slowed by memory or
  // by a neighbour on its core takes fewer, instead of the others waiting
  // for it at the end of the layer.
  constexpr int64_t kItemsPerThread = 8, kMinSplitPages = 8;
  int64_t n_split = 1;
  if (n_qb * n_kv < kItemsPerThread * pool.size())
    n_split = std::clamp<int64_t>(kItemsPerThread * pool.size() / (n_qb * n_kv), 1, n_pages / kMinSplitPages + 1);
  const int64_t pages_per_split = (n_pages + n_split - 1) / n_split;
  n_split = (n_pages + pages_per_split - 1) / pages_per_split;

  const int64_t rows_per_item = q_block * group;
  std::vector<float> part_m, part_l, part_acc;  // only when split
  if (n_split > 1) {
    const int64_t rows = n_kv * n_qb * n_split * rows_per_item;
    part_m.assign(rows, -std::numeric_limits<float>::infinity());
    part_l.assign(rows, 0.0f);
    part_acc.assign(rows * hd, 0.0f);
  }

  const int64_t n_items = n_kv * n_qb * n_split;
  std::atomic<int64_t> next_item{0};
  pool.parallel_for(std::min<int64_t>(pool.size(), n_items), 1, [&](int, int64_t, int64_t) {
    Scratch& sc = thread_scratch();
    for (int64_t item; (item = next_item.fetch_add(1, std::memory_order_relaxed)) < n_items;) {
      const int64_t split = item % n_split, qb = (item / n_split) % n_qb, kvh = item / (n_split * n_qb);
      const int64_t t0 = qb * q_block, t1 = std::min(n_q, t0 + q_block);
      const int64_t n_rows = (t1 - t0) * group;
      sc.q.resize(n_rows * hd);
      sc.limit.resize(n_rows);
      sc.m.assign(n_rows, -std::numeric_limits<float>::infinity());
      sc.l.assign(n_rows, 0.0f);
      sc.acc.assign(n_rows * hd, 0.0f);
      sc.kernel.resize(attention_scratch_floats(s, n_rows));
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t g = 0; g < group; ++g) {
          const int64_t r = (t - t0) * group + g;
          const float* src = q + (t * n_heads + kvh * group + g) * hd;
          for (int64_t d = 0; d < hd; ++d) sc.q[r * hd + d] = src[d] * scale;
          sc.limit[r] = first_slot + t + 1;
        }
      SlotSpan span{split * pages_per_split * s.page_size, std::min(n_slots, (split + 1) * pages_per_split * s.page_size)};
      AttentionRows rows{sc.q.data(), n_rows, sc.limit.data(), nullptr, sc.m.data(), sc.l.data(), sc.acc.data()};
      attend_spans(cache, layer, kvh, &span, 1, rows, sc.kernel.data());
      for (int64_t r = 0; r < n_rows; ++r) {
        const int64_t t = t0 + r / group, h = kvh * group + r % group;
        if (n_split == 1) {
          finish_softmax_row(sc.l[r], sc.acc.data() + r * hd, hd, out + (t * n_heads + h) * hd);
        } else {
          const int64_t pr = item * rows_per_item + r;
          part_m[pr] = sc.m[r];
          part_l[pr] = sc.l[r];
          std::copy(sc.acc.begin() + r * hd, sc.acc.begin() + (r + 1) * hd, part_acc.begin() + pr * hd);
        }
      }
    }
  });
  if (n_split == 1) return;
  for (int64_t kvh = 0; kvh < n_kv; ++kvh)
    for (int64_t qb = 0; qb < n_qb; ++qb) {
      const int64_t t0 = qb * q_block, n_rows = (std::min(n_q, t0 + q_block) - t0) * group;
      const int64_t first_item = (kvh * n_qb + qb) * n_split;
      for (int64_t r = 0; r < n_rows; ++r) {
        const int64_t a = first_item * rows_per_item + r;
        for (int64_t split = 1; split < n_split; ++split) {
          const int64_t b = (first_item + split) * rows_per_item + r;
          merge_softmax_state(part_m[a], part_l[a], part_acc.data() + a * hd, part_m[b], part_l[b],
                              part_acc.data() + b * hd, hd);
        }
        const int64_t t = t0 + r / group, h = kvh * group + r % group;
        finish_softmax_row(part_l[a], part_acc.data() + a * hd, hd, out + (t * n_heads + h) * hd);
      }
    }
}

}  // namespace sieve
