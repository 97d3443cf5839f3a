#include "attention/prefill/hip/hip_method.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "attention/prefill/hip/key_scores.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {

HipOptions hip_options_from_spec(Spec& spec) {
  HipOptions o;
  o.shape.mask_k = spec.take_int("k", o.shape.mask_k, 1);
  o.shape.block_k = spec.take_int("block_k", o.shape.block_k, 1);
  o.shape.sink = spec.take_int("sink", o.shape.sink, 0);
  o.shape.window = spec.take_int("window", o.shape.window, 1);
  o.dense_layers = spec.take_int("dense_layers", o.dense_layers, 0);
  o.stride_q = spec.take_int("stride_q", o.stride_q, 1);
  if (o.stride_q > kPrefillBlock) throw Error("hip: stride_q must be at most " + std::to_string(kPrefillBlock));
  if (o.shape.mask_k % o.shape.block_k)
    throw Error("hip: k (" + std::to_string(o.shape.mask_k) + ") must be a multiple of block_k (" +
                std::to_string(o.shape.block_k) + ")");
  return o;
}

std::string hip_options_spec(const HipOptions& o) {
  return "k=" + std::to_string(o.shape.mask_k) + ",block_k=" + std::to_string(o.shape.block_k) +
         ",sink=" + std::to_string(o.shape.sink) + ",window=" + std::to_string(o.shape.window) +
         ",dense_layers=" + std::to_string(o.dense_layers) + ",stride_q=" + std::to_string(o.stride_q);
}

HipSelection hip_search(const KeyRows& keys, const HipShape& s, int64_t layer, int64_t kv_head, const float* q,
                        const std::vector<int64_t>& row_slots, int64_t hd) {
  const int64_t n_rows = static_cast<int64_t>(row_slots.size());
  const ScoreRows rows(q, n_rows, hd);
  std::vector<const uint16_t*> key_rows;
  std::vector<int64_t> first_row;
  std::vector<float> key_scores;
  auto score = [&](const std::vector<int64_t>& reps, float* out) {
    key_rows.clear();
    first_row.clear();
    for (int64_t rep : reps)
      for (int64_t e = 0; e < s.block_k; ++e) {
        const int64_t slot = rep * s.block_k + e;
        key_rows.push_back(keys.key(layer, kv_head, slot));
        // Rows that may read the slot: those whose window starts after it
        // (all of them for most slots).
        first_row.push_back(slot + s.window <= row_slots.front()
                                ? 0
                                : std::lower_bound(row_slots.begin(), row_slots.end(), slot + s.window) -
                                      row_slots.begin());
      }
    key_scores.resize(key_rows.size());
    rows.max_scores(key_rows.data(), first_row.data(), static_cast<int64_t>(key_rows.size()), key_scores.data());
    for (size_t i = 0; i < reps.size(); ++i)
      out[i] = *std::max_element(key_scores.begin() + static_cast<int64_t>(i) * s.block_k,
                                 key_scores.begin() + static_cast<int64_t>(i + 1) * s.block_k);
  };
  return hip_select(s, row_slots.back() + 1, score);
}

std::unique_ptr<PrefillMethod> HipMethod::from_spec(Spec& spec, const ModelConfig&) {
  const HipOptions o = hip_options_from_spec(spec);
  spec.finish({"k", "block_k", "sink", "window", "dense_layers", "stride_q"});
  return std::make_unique<HipMethod>(o);
}

std::string HipMethod::spec() const {
  return "hip:" + hip_options_spec(options_);
}

std::vector<std::pair<std::string, double>> HipMethod::counters() const {
  return {{"hip_score_products", score_products_},
          {"hip_search_share", dense_products_ > 0 ? score_products_ / dense_products_ : 0.0}};
}

HipSelection HipMethod::select_block(const AttentionInput& in, int64_t head, int64_t block, const float* rotated,
                                     int64_t& n_rows) const {
  const int64_t hd = in.cache.shape().head_dim, kvh = head / (in.n_heads / in.cache.shape().n_kv_heads);
  // The reference's rows: block start + i * stride + (stride - 1), within the batch.
  const int64_t t0 = block * kPrefillBlock, t1 = std::min(in.n_q, t0 + kPrefillBlock);
  const int64_t offset = std::min(in.n_q, options_.stride_q) - 1;
  std::vector<int64_t> row_slots;
  for (int64_t t = t0 + offset; t < t1; t += options_.stride_q) row_slots.push_back(in.first_slot + t);
  if (row_slots.empty()) row_slots.push_back(in.first_slot + t1 - 1);
  n_rows = static_cast<int64_t>(row_slots.size());
  std::vector<float> q(static_cast<size_t>(n_rows * hd));
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* src = rotated + ((row_slots[r] - in.first_slot) * in.n_heads + head) * hd;
    std::copy(src, src + hd, q.data() + r * hd);
  }
  return hip_search(keys_, options_.shape, in.layer, kvh, q.data(), row_slots, hd);
}

void HipMethod::plan(const AttentionInput& in, PrefillPlan& plan) {
  const HipShape& s = options_.shape;
  const int64_t hd = in.cache.shape().head_dim, n_blocks = prefill_blocks(in.n_q);
  plan.reset(in.n_heads, n_blocks);
  for (int64_t i = 0; i < in.n_q; ++i) dense_products_ += static_cast<double>((in.first_slot + i + 1) * in.n_heads);
  if (in.layer < options_.dense_layers) {
    for (HeadReads& h : plan.heads) h.dense = true;
    return;
  }
  keys_.sync(in.cache, in.layer, in.first_slot, in.first_slot + in.n_q);
  std::vector<float> rotated(in.q, in.q + in.n_q * in.n_heads * hd);
  for (int64_t i = 0; i < in.n_q; ++i)
    in.rope.rotate(rotated.data() + i * in.n_heads * hd, in.n_heads,
                   static_cast<double>(in.cache.positions()[in.first_slot + i]));
  const int64_t n_items = in.n_heads * n_blocks;
  std::atomic<int64_t> next{0};
  std::vector<double> products(static_cast<size_t>(n_items), 0.0);
  in.pool.parallel_for(std::min<int64_t>(in.pool.size(), n_items), 1, [&](int, int64_t, int64_t) {
    for (int64_t item; (item = next.fetch_add(1, std::memory_order_relaxed)) < n_items;) {
      const int64_t h = item / n_blocks, b = item % n_blocks;
      const int64_t t0 = b * kPrefillBlock, t1 = std::min(in.n_q, t0 + kPrefillBlock);
      const int64_t first = in.first_slot + t0, last = in.first_slot + t1 - 1;
      int64_t rows = 0;
      const HipSelection sel = select_block(in, h, b, rotated.data(), rows);
      products[item] = static_cast<double>(sel.scored * s.block_k * rows);
      BlockReads& reads = plan.heads[h].blocks[b];
      if (sel.all) {
        reads.parts.push_back({{{0, last + 1}}, ReadMask::kCausal, 0});
        continue;
      }
      if (s.sink > 0) reads.parts.push_back({{{0, s.sink}}, ReadMask::kBeforeWindow, s.window});
      ReadPart selected{{}, ReadMask::kBeforeWindow, s.window, true};
      for (int64_t blk : sel.blocks) {
        const int64_t a = blk * s.block_k, e = a + s.block_k;
        if (!selected.spans.empty() && selected.spans.back().end == a) selected.spans.back().end = e;
        else selected.spans.push_back({a, e});
      }
      ReadPart window{{{std::max<int64_t>(0, first - s.window + 1), last + 1}}, ReadMask::kWindow, s.window};
      reads.parts.push_back(std::move(selected));
      reads.parts.push_back(std::move(window));
    }
  });
  for (double p : products) score_products_ += p;
}

}  // namespace sieve
