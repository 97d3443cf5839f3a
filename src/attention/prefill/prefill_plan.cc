#include "attention/prefill/prefill_plan.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>

#include "util/error.h"

namespace sieve {
namespace {

struct Scratch {
  std::vector<float> q, m, l, acc, kernel;
  std::vector<int64_t> begin, limit;
  std::vector<int64_t> slots;
  std::unique_ptr<KvCache> gathered;  // a `gather` part's slots
};

Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

// Slots of spans inside [begin, limit).
int64_t visible(const std::vector<SlotSpan>& spans, int64_t begin, int64_t limit) {
  int64_t n = 0;
  for (const SlotSpan& s : spans) n += std::max<int64_t>(0, std::min(s.end, limit) - std::max(s.begin, begin));
  return n;
}

// Spans of one KV head's slots copied out of the cache (bytes as stored)
// into `into`, a one-layer one-head cache of the same format, in order.
void gather_spans(const AttentionInput& in, int64_t kv_head, const std::vector<SlotSpan>& spans,
                  std::unique_ptr<KvCache>& into) {
  const KvCacheShape& s = in.cache.shape();
  const KvCacheShape shape{1, 1, s.head_dim, s.page_size, s.type};
  if (!into || into->shape().head_dim != shape.head_dim || into->shape().page_size != shape.page_size ||
      into->shape().type != shape.type)
    into = std::make_unique<KvCache>(shape);  // a thread's scratch is reused across caches
  into->clear();
  std::vector<int64_t> positions;
  for (const SlotSpan& span : spans)
    for (int64_t j = span.begin; j < span.end; ++j) positions.push_back(in.cache.positions()[j]);
  into->append_slots(positions.data(), static_cast<int64_t>(positions.size()));
  int64_t to = 0;
  for (const SlotSpan& span : spans) {
    into->copy_head_slots_from(in.cache, in.layer, kv_head, span.begin, 0, 0, to, span.end - span.begin);
    to += span.end - span.begin;
  }
}

// Sorted columns as spans of consecutive slots.
std::vector<SlotSpan> column_spans(const std::vector<int64_t>& columns) {
  std::vector<SlotSpan> spans;
  for (int64_t c : columns) {
    if (!spans.empty() && spans.back().end == c) ++spans.back().end;
    else spans.push_back({c, c + 1});
  }
  return spans;
}

}  // namespace

void PrefillPlan::reset(int64_t n_heads, int64_t n_blocks) {
  heads.assign(static_cast<size_t>(n_heads), HeadReads{});
  for (HeadReads& h : heads) h.blocks.assign(static_cast<size_t>(n_blocks), BlockReads{});
}

void part_row_window(const ReadPart& part, int64_t t, int64_t& begin, int64_t& limit) {
  begin = 0;
  limit = t + 1;
  if (part.mask == ReadMask::kWindow) begin = std::max<int64_t>(0, t - part.window + 1);
  if (part.mask == ReadMask::kBeforeWindow) limit = std::max<int64_t>(0, t - part.window + 1);
}

void for_each_row_read(const HeadReads& head, int64_t b, int64_t first_slot, int64_t n_q,
                       const std::function<void(int64_t t, const std::vector<SlotSpan>& slots)>& visit) {
  const int64_t t0 = b * kPrefillBlock, t1 = std::min(n_q, t0 + kPrefillBlock);
  std::vector<SlotSpan> slots;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t slot = first_slot + t;
    slots.clear();
    if (head.dense) {
      slots.push_back({0, slot + 1});
    } else {
      const BlockReads& block = head.blocks[b];
      for (const ReadPart& part : block.parts) {
        int64_t begin, limit;
        part_row_window(part, slot, begin, limit);
        for (const SlotSpan& s : part.spans)
          if (std::max(s.begin, begin) < std::min(s.end, limit))
            slots.push_back({std::max(s.begin, begin), std::min(s.end, limit)});
      }
      for (const SlotSpan& run : block.column_runs)
        for (int64_t i = run.begin; i < run.end; ++i)
          if (head.columns[i] <= slot) slots.push_back({head.columns[i], head.columns[i] + 1});
      std::sort(slots.begin(), slots.end(), [](const SlotSpan& a, const SlotSpan& c) { return a.begin < c.begin; });
    }
    visit(t, slots);
  }
}

PrefillWork attend_planned(const AttentionInput& in, const PrefillPlan& plan, float* out) {
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, group = in.n_heads / s.n_kv_heads, n_blocks = prefill_blocks(in.n_q);
  if (static_cast<int64_t>(plan.heads.size()) != in.n_heads)
    throw Error("internal: a prefill plan needs one entry per query head");
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> rotated(in.q, in.q + in.n_q * in.n_heads * hd);
  for (int64_t i = 0; i < in.n_q; ++i)
    in.rope.rotate(rotated.data() + i * in.n_heads * hd, in.n_heads,
                   static_cast<double>(in.cache.positions()[in.first_slot + i]));

  std::vector<std::unique_ptr<KvCache>> gathered(static_cast<size_t>(in.n_heads));
  in.pool.parallel_for(in.n_heads, 1, [&](int, int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h)
      if (!plan.heads[h].skip && !plan.heads[h].dense && !plan.heads[h].columns.empty())
        gather_spans(in, h / group, column_spans(plan.heads[h].columns), gathered[h]);
  });

  const int64_t n_items = in.n_heads * n_blocks;
  std::atomic<int64_t> next_item{0};
  std::vector<double> read_per_item(static_cast<size_t>(n_items), 0.0);
  in.pool.parallel_for(std::min<int64_t>(in.pool.size(), n_items), 1, [&](int, int64_t, int64_t) {
    Scratch& sc = thread_scratch();
    for (int64_t item; (item = next_item.fetch_add(1, std::memory_order_relaxed)) < n_items;) {
      const int64_t h = item / n_blocks, b = item % n_blocks, kvh = h / group;
      const int64_t t0 = b * kPrefillBlock, t1 = std::min(in.n_q, t0 + kPrefillBlock), n_rows = t1 - t0;
      const HeadReads& head = plan.heads[h];
      if (head.skip) continue;
      sc.q.resize(n_rows * hd);
      sc.begin.resize(n_rows);
      sc.limit.resize(n_rows);
      sc.m.assign(n_rows, -std::numeric_limits<float>::infinity());
      sc.l.assign(n_rows, 0.0f);
      sc.acc.assign(n_rows * hd, 0.0f);
      sc.kernel.resize(attention_scratch_floats(s, n_rows));
      for (int64_t r = 0; r < n_rows; ++r) {
        const float* src = rotated.data() + ((t0 + r) * in.n_heads + h) * hd;
        for (int64_t d = 0; d < hd; ++d) sc.q[r * hd + d] = src[d] * scale;
      }
      AttentionRows rows{sc.q.data(), n_rows, sc.limit.data(), sc.begin.data(), sc.m.data(), sc.l.data(), sc.acc.data()};
      double read = 0;
      if (head.dense) {
        for (int64_t r = 0; r < n_rows; ++r) {
          sc.begin[r] = 0;
          sc.limit[r] = in.first_slot + t0 + r + 1;
          read += static_cast<double>(sc.limit[r]);
        }
        const SlotSpan all{0, in.first_slot + t1};
        attend_spans(in.cache, in.layer, kvh, &all, 1, rows, sc.kernel.data());
      } else {
        const BlockReads& block = head.blocks[b];
        for (const ReadPart& part : block.parts) {
          if (part.spans.empty()) continue;
          for (int64_t r = 0; r < n_rows; ++r) {
            part_row_window(part, in.first_slot + t0 + r, sc.begin[r], sc.limit[r]);
            read += static_cast<double>(visible(part.spans, sc.begin[r], sc.limit[r]));
          }
          if (part.gather) {
            // Row windows of cache slots become index ranges of the copy.
            sc.slots.clear();
            for (const SlotSpan& span : part.spans)
              for (int64_t j = span.begin; j < span.end; ++j) sc.slots.push_back(j);
            gather_spans(in, kvh, part.spans, sc.gathered);
            for (int64_t r = 0; r < n_rows; ++r) {
              sc.begin[r] = std::lower_bound(sc.slots.begin(), sc.slots.end(), sc.begin[r]) - sc.slots.begin();
              sc.limit[r] = std::lower_bound(sc.slots.begin(), sc.slots.end(), sc.limit[r]) - sc.slots.begin();
            }
            const SlotSpan all{0, static_cast<int64_t>(sc.slots.size())};
            attend_spans(*sc.gathered, 0, 0, &all, 1, rows, sc.kernel.data());
          } else {
            attend_spans(in.cache, in.layer, kvh, part.spans.data(), static_cast<int64_t>(part.spans.size()), rows,
                         sc.kernel.data());
          }
        }
        if (!block.column_runs.empty()) {
          for (int64_t r = 0; r < n_rows; ++r) {
            const int64_t t = in.first_slot + t0 + r;
            sc.begin[r] = 0;
            sc.limit[r] = std::upper_bound(head.columns.begin(), head.columns.end(), t) - head.columns.begin();
            read += static_cast<double>(visible(block.column_runs, 0, sc.limit[r]));
          }
          attend_spans(*gathered[h], 0, 0, block.column_runs.data(), static_cast<int64_t>(block.column_runs.size()),
                       rows, sc.kernel.data());
        }
      }
      for (int64_t r = 0; r < n_rows; ++r)
        finish_softmax_row(sc.l[r], sc.acc.data() + r * hd, hd, out + ((t0 + r) * in.n_heads + h) * hd);
      read_per_item[item] = read;
    }
  });
  PrefillWork work;
  for (double r : read_per_item) work.pairs_read += r;
  int64_t computed = 0;
  for (const HeadReads& h : plan.heads) computed += h.skip ? 0 : 1;
  for (int64_t i = 0; i < in.n_q; ++i) work.pairs_dense += static_cast<double>((in.first_slot + i + 1) * computed);
  return work;
}

}  // namespace sieve
