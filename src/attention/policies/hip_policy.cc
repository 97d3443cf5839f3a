#include "attention/policies/hip_policy.h"

#include <algorithm>
#include <cmath>

#include "attention/segmented_attention.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {
namespace {

// Appends [begin, end) to sorted spans, merging with the last when they touch.
void append_span(std::vector<SlotSpan>& spans, int64_t begin, int64_t end) {
  if (end <= begin) return;
  if (!spans.empty() && spans.back().end >= begin) spans.back().end = std::max(spans.back().end, end);
  else spans.push_back({begin, end});
}

}  // namespace

std::unique_ptr<AttentionPolicy> HipPolicy::from_spec(Spec& spec) {
  const HipOptions o = hip_options_from_spec(spec);
  const int64_t refresh = spec.take_int("refresh", kDefaultRefresh, 1);
  spec.finish({"k", "block_k", "sink", "window", "dense_layers", "stride_q", "refresh"});
  return std::make_unique<HipPolicy>(o, refresh);
}

std::string HipPolicy::spec() const {
  return "hip:" + hip_options_spec(prefill_.options()) + ",refresh=" + std::to_string(refresh_);
}

std::vector<std::pair<std::string, double>> HipPolicy::counters() const {
  double prefill_products = 0, search_share = 0;
  for (const auto& [name, value] : prefill_.counters()) {
    if (name == "hip_score_products") prefill_products = value;
    if (name == "hip_search_share") search_share = value;
  }
  std::vector<std::pair<std::string, double>> c = {{"hip_refreshes", refreshes_},
                                                   {"hip_score_products", prefill_products + decode_products_},
                                                   {"hip_search_share", search_share}};
  if (work_.pairs_dense > 0) c.emplace_back("prefill_attention_kept", work_.pairs_read / work_.pairs_dense);
  return c;
}

void HipPolicy::reset_stats() {
  stats_ = {};
  work_ = {};
  refreshes_ = decode_products_ = 0;
}

void HipPolicy::stale(int64_t layer) {
  if (static_cast<int64_t>(age_.size()) <= layer) age_.resize(static_cast<size_t>(layer + 1), -1);
  if (static_cast<int64_t>(recent_.size()) <= layer) recent_.resize(static_cast<size_t>(layer + 1));
  age_[layer] = -1;
  recent_[layer] = {};
}

void HipPolicy::attend(const AttentionInput& in, float* out) {
  if (in.n_q == 1) return decode(in, out);
  stale(in.layer);
  prefill_.plan(in, plan_);
  const PrefillWork w = attend_planned(in, plan_, out);
  work_.pairs_read += w.pairs_read;
  work_.pairs_dense += w.pairs_dense;
}

void HipPolicy::decode(const AttentionInput& in, float* out) {
  const HipOptions& o = prefill_.options();
  const HipShape& s = o.shape;
  const KvCacheShape& cs = in.cache.shape();
  const int64_t hd = cs.head_dim, group = in.n_heads / cs.n_kv_heads, t = in.first_slot, layer = in.layer;
  const size_t n_layers = static_cast<size_t>(cs.n_layers);
  if (selected_.size() != n_layers) {
    selected_.assign(n_layers, std::vector<std::vector<SlotSpan>>(static_cast<size_t>(in.n_heads)));
    last_read_ = selected_;
    age_.resize(n_layers, -1);
    recent_.resize(n_layers);
  }
  // Short contexts and dense layers read every slot, as the prefill does.
  const bool dense = layer < o.dense_layers || hip_reads_all(s, t + 1);
  RecentQueries& recent = recent_[layer];
  std::vector<float> q;
  if (!dense) {  // a search's row, now or at the next refresh
    q.assign(in.q, in.q + in.n_heads * hd);
    in.rope.rotate(q.data(), in.n_heads, static_cast<double>(in.cache.positions()[t]));
  }
  if (!dense && (age_[layer] < 0 || age_[layer] >= refresh_)) {
    // The search's rows: the queries decoded since the last selection and
    // this one (the reference's prefix query), so the selection serves the
    // tokens around it, not this token alone.
    recent.slots.push_back(t);
    recent.q.insert(recent.q.end(), q.begin(), q.end());
    const int64_t n_rows = static_cast<int64_t>(recent.slots.size());
    prefill_.keys().sync(in.cache, layer, t, t + 1);
    std::vector<int64_t> scored(static_cast<size_t>(in.n_heads), 0);
    in.pool.parallel_for(in.n_heads, 1, [&](int, int64_t h0, int64_t h1) {
      std::vector<float> rows_q(static_cast<size_t>(n_rows * hd));
      for (int64_t h = h0; h < h1; ++h) {
        for (int64_t r = 0; r < n_rows; ++r)
          std::copy_n(recent.q.begin() + (r * in.n_heads + h) * hd, hd, rows_q.begin() + r * hd);
        const HipSelection sel = hip_search(prefill_.keys(), s, layer, h / group, rows_q.data(), recent.slots, hd);
        scored[h] = sel.scored * s.block_k * n_rows;
        std::vector<SlotSpan>& spans = selected_[layer][h];
        spans.clear();
        for (int64_t b : sel.blocks) append_span(spans, b * s.block_k, (b + 1) * s.block_k);
      }
    });
    double products = 0;
    for (int64_t n : scored) products += static_cast<double>(n);
    decode_products_ += products;
    refreshes_ += static_cast<double>(in.n_heads);
    count_extra_bytes(in, products / static_cast<double>(n_rows) * static_cast<double>(hd) * 2.0);  // the key copy's rows
    age_[layer] = 0;
    recent.slots.clear();
    recent.q.clear();
  } else if (!dense) {
    recent.slots.push_back(t);
    recent.q.insert(recent.q.end(), q.begin(), q.end());
  }
  if (!dense) ++age_[layer];
  // Per query head: sinks, its selected blocks (all before the window: they
  // were chosen at an earlier or this token), its window.
  const double position = static_cast<double>(in.cache.positions()[t]);
  auto planner = [&](int64_t kvh, int64_t, int64_t, std::vector<Segment>& segments) {
    for (int64_t g = 0; g < group; ++g) {
      const int64_t h = kvh * group + g;
      Segment seg;
      seg.heads = Segment::only(g);
      seg.q_position = {position};
      seg.begin = {0};
      seg.limit = {t + 1};
      if (dense) {
        seg.spans = {{0, t + 1}};
      } else {
        const int64_t window_begin = std::max<int64_t>(0, t + 1 - s.window);
        append_span(seg.spans, 0, std::min(s.sink, window_begin));
        for (const SlotSpan& span : selected_[layer][h])
          append_span(seg.spans, span.begin, std::min(span.end, window_begin));
        append_span(seg.spans, window_begin, t + 1);
      }
      last_read_[layer][h] = seg.spans;
      segments.push_back(std::move(seg));
    }
  };
  count_read(in, attend_segments(in, planner, out));
}

}  // namespace sieve
