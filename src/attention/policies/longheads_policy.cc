#include "attention/policies/longheads_policy.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "attention/attention_kernel.h"
#include "util/spec.h"
#include "attention/segmented_attention.h"
#include "kernels/ops.h"
#include "model/config.h"
#include "util/error.h"

namespace sieve {
namespace {

struct SummaryScratch {
  std::vector<float> q, m, l, acc, kernel, cos, sin, mean, scores, key, summary;
  std::vector<int64_t> begin, limit;
};

struct PlanScratch {
  std::vector<float> scores;
  std::vector<int64_t> order, segment_of;
  std::vector<std::pair<int64_t, size_t>> by_chunk;  // (chunk's first slot, segment index)
};

SummaryScratch& summary_scratch() {
  thread_local SummaryScratch s;
  return s;
}

PlanScratch& plan_scratch() {
  thread_local PlanScratch s;
  return s;
}

// A chunk that every query head of the group reads at the same positions
// (for every token of the block) is read once for the group instead of once
// per head: with 4 query heads per KV head and overlapping selections, most
// chunks are. Per-head segments [from, end) hold one chunk each.
void merge_shared_chunks(std::vector<Segment>& segments, size_t from, int64_t group, PlanScratch& ps) {
  ps.by_chunk.clear();
  for (size_t k = from; k < segments.size(); ++k) ps.by_chunk.push_back({segments[k].spans[0].begin, k});
  std::sort(ps.by_chunk.begin(), ps.by_chunk.end());
  bool merged = false;
  for (size_t a = 0; a < ps.by_chunk.size();) {
    size_t b = a;
    while (b < ps.by_chunk.size() && ps.by_chunk[b].first == ps.by_chunk[a].first) ++b;
    if (static_cast<int64_t>(b - a) == group) {
      const Segment& s0 = segments[ps.by_chunk[a].second];
      bool same = true;
      for (size_t k = a + 1; k < b && same; ++k) {
        const Segment& sk = segments[ps.by_chunk[k].second];
        same = sk.q_position == s0.q_position && sk.begin == s0.begin && sk.limit == s0.limit;
      }
      if (same) {
        segments[ps.by_chunk[a].second].heads = Segment::kAllHeads;
        for (size_t k = a + 1; k < b; ++k) segments[ps.by_chunk[k].second].spans.clear();
        merged = true;
      }
    }
    a = b;
  }
  if (merged)
    segments.erase(std::remove_if(segments.begin() + static_cast<std::ptrdiff_t>(from), segments.end(),
                                  [](const Segment& seg) { return seg.spans.empty(); }),
                   segments.end());
}

}  // namespace

int64_t LongHeadsPolicy::default_chunks(const ModelConfig& config, int64_t chunk) {
  const int64_t window = config.max_context >= 3 * chunk ? config.max_context : kReferenceWindow;
  return std::max<int64_t>(3, window / chunk);
}

LongHeadsPolicy::LongHeadsPolicy(int64_t chunk, int64_t chunks) : chunk_(chunk), chunks_(chunks) {
  if (chunk < 1 || chunks < 3) throw Error("internal: bad longheads options");
}

std::unique_ptr<AttentionPolicy> LongHeadsPolicy::from_spec(Spec& spec, const ModelConfig& config) {
  const int64_t chunk = spec.take_int("chunk", kDefaultChunk, 1);
  // Chunk 0, the previous chunk and the query's own chunk are always read.
  const int64_t chunks = spec.take_int("chunks", default_chunks(config, chunk), 3);
  spec.finish({"chunk", "chunks"});
  return std::make_unique<LongHeadsPolicy>(chunk, chunks);
}

std::string LongHeadsPolicy::spec() const {
  return "longheads:chunk=" + std::to_string(chunk_) + ",chunks=" + std::to_string(chunks_);
}

const std::vector<float>& LongHeadsPolicy::summaries(int64_t layer) const {
  static const std::vector<float> none;
  return layer < static_cast<int64_t>(layers_.size()) ? layers_[layer].summary : none;
}

const std::vector<int64_t>& LongHeadsPolicy::last_chunks(int64_t layer, int64_t head) const {
  static const std::vector<int64_t> none;
  if (layer >= static_cast<int64_t>(layers_.size())) return none;
  const auto& last = layers_[layer].last;
  return head < static_cast<int64_t>(last.size()) ? last[head] : none;
}

// State follows the cache: slots from first_slot on were just (re)written.
void LongHeadsPolicy::prepare(const AttentionInput& in) {
  const KvCacheShape& s = in.cache.shape();
  if (static_cast<int64_t>(layers_.size()) != s.n_layers) layers_.assign(s.n_layers, LayerState{});
  LayerState& L = layers_[in.layer];
  const int64_t row = in.n_heads * s.head_dim;
  const int64_t complete = in.first_slot / chunk_;
  if (L.summarized > complete) {
    L.summarized = complete;
    L.summary.resize(complete * row);
  }
  if (L.pending_begin + L.pending_count > in.first_slot)
    L.pending_count = std::max<int64_t>(0, in.first_slot - L.pending_begin);
  L.last.resize(in.n_heads);
}

// Summary keys of the chunks this batch completes (and of any earlier chunk
// not summarised yet), then keeps the queries of the unfinished chunk.
void LongHeadsPolicy::summarize(const AttentionInput& in) {
  LayerState& L = layers_[in.layer];
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_kv = s.n_kv_heads, nh = in.n_heads, group = nh / n_kv, w = chunk_;
  const int64_t row = nh * hd, end = in.first_slot + in.n_q, first = L.summarized, done = end / w;
  const auto& positions = in.cache.positions();
  auto query_of = [&](int64_t slot) -> const float* {
    if (slot >= in.first_slot) return in.q + (slot - in.first_slot) * row;
    if (slot >= L.pending_begin && slot < L.pending_begin + L.pending_count)
      return L.pending.data() + (slot - L.pending_begin) * row;
    return nullptr;
  };
  if (done > first) {
    L.summary.resize(done * row);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    in.pool.parallel_for((done - first) * n_kv, 1, [&](int, int64_t ib, int64_t ie) {
      SummaryScratch& sc = summary_scratch();
      for (int64_t item = ib; item < ie; ++item) {
        const int64_t c = first + item / n_kv, kvh = item % n_kv, c0 = c * w, n_rows = group * w;
        const SlotSpan span{c0, c0 + w};
        bool have_queries = true;
        for (int64_t j = 0; j < w && have_queries; ++j) have_queries = query_of(c0 + j) != nullptr;
        sc.q.resize(n_rows * hd);
        sc.begin.assign(n_rows, c0);
        sc.limit.assign(n_rows, c0 + w);  // not causal: every query sees the whole chunk
        sc.m.assign(n_rows, -std::numeric_limits<float>::infinity());
        sc.l.assign(n_rows, 0.0f);
        sc.acc.assign(n_rows * hd, 0.0f);
        sc.kernel.resize(attention_scratch_floats(s, n_rows));
        sc.cos.resize(hd / 2);
        sc.sin.resize(hd / 2);
        sc.key.resize(hd);
        // In-chunk positions: relative distances are all that matter, so the
        // cached keys (at true positions) serve with queries at true positions.
        for (int64_t j = 0; j < w; ++j) {
          const int64_t slot = c0 + j;
          if (have_queries)
            in.rope.angles(static_cast<double>(positions[slot]), sc.cos.data(), sc.sin.data());
          else
            in.cache.read_key(in.layer, kvh, slot, sc.key.data());  // no queries seen: the keys stand in
          for (int64_t g = 0; g < group; ++g) {
            float* qr = sc.q.data() + (g * w + j) * hd;
            if (have_queries) {
              const float* src = query_of(slot) + (kvh * group + g) * hd;
              std::copy(src, src + hd, qr);
              kernels::rope_apply(qr, sc.cos.data(), sc.sin.data(), hd, in.rope.interleaved());
            } else {
              std::copy(sc.key.begin(), sc.key.end(), qr);
            }
            for (int64_t d = 0; d < hd; ++d) qr[d] *= scale;
          }
        }
        AttentionRows rows{sc.q.data(), n_rows,      sc.limit.data(), sc.begin.data(),
                           sc.m.data(), sc.l.data(), sc.acc.data()};
        attend_spans(in.cache, in.layer, kvh, &span, 1, rows, sc.kernel.data());
        // The mean attention output of each head, rotated to the chunk's first
        // position (it queries the keys in the chunk's own frame), scaled.
        sc.mean.assign(group * hd, 0.0f);
        for (int64_t g = 0; g < group; ++g) {
          float* mean = sc.mean.data() + g * hd;
          for (int64_t j = 0; j < w; ++j) {
            const int64_t r = g * w + j;
            const float inv = sc.l[r] > 0 ? 1.0f / sc.l[r] : 0.0f;
            for (int64_t d = 0; d < hd; ++d) mean[d] += sc.acc[r * hd + d] * inv;
          }
          for (int64_t d = 0; d < hd; ++d) mean[d] *= scale / static_cast<float>(w);
        }
        const double origin = static_cast<double>(positions[c0]);
        in.rope.angles(origin, sc.cos.data(), sc.sin.data());
        for (int64_t g = 0; g < group; ++g)
          kernels::rope_apply(sc.mean.data() + g * hd, sc.cos.data(), sc.sin.data(), hd, in.rope.interleaved());
        sc.scores.resize(group * w);
        score_spans(in.cache, in.layer, kvh, &span, 1, sc.mean.data(), group, sc.scores.data(), sc.kernel.data());
        for (int64_t g = 0; g < group; ++g) kernels::softmax(sc.scores.data() + g * w, w);
        // The summary: the attention-weighted mean of the keys, rotated back to the chunk's frame.
        sc.summary.assign(group * hd, 0.0f);
        for (int64_t j = 0; j < w; ++j) {
          in.cache.read_key(in.layer, kvh, c0 + j, sc.key.data());
          for (int64_t g = 0; g < group; ++g) {
            const float a = sc.scores[g * w + j];
            for (int64_t d = 0; d < hd; ++d) sc.summary[g * hd + d] += a * sc.key[d];
          }
        }
        in.rope.angles(-origin, sc.cos.data(), sc.sin.data());
        for (int64_t g = 0; g < group; ++g) {
          float* dst = L.summary.data() + (c * nh + kvh * group + g) * hd;
          std::copy(sc.summary.begin() + g * hd, sc.summary.begin() + (g + 1) * hd, dst);
          kernels::rope_apply(dst, sc.cos.data(), sc.sin.data(), hd, in.rope.interleaved());
        }
      }
    });
    // A decoded token that completes a chunk reads its keys and values, its keys again, and its queries.
    count_extra_bytes(in,
                      static_cast<double>((done - first) * w) *
                          (3.0 * static_cast<double>(n_kv * in.cache.row_bytes()) + 4.0 * static_cast<double>(row)));
    L.summarized = done;
  }
  // Keep the queries of the unfinished chunk (slots [done * w, end)).
  std::vector<float> kept;
  int64_t kept_begin = end, kept_count = 0;
  for (int64_t slot = done * w; slot < end; ++slot) {
    const float* q = query_of(slot);
    if (!q) {  // a gap: only later slots can be kept
      kept.clear();
      kept_count = 0;
      continue;
    }
    if (kept_count == 0) kept_begin = slot;
    kept.insert(kept.end(), q, q + row);
    ++kept_count;
  }
  L.pending = std::move(kept);
  L.pending_begin = kept_count > 0 ? kept_begin : end;
  L.pending_count = kept_count;
}

void LongHeadsPolicy::attend(const AttentionInput& in, float* out) {
  prepare(in);
  summarize(in);
  LayerState& L = layers_[in.layer];
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_kv = s.n_kv_heads, nh = in.n_heads, group = nh / n_kv;
  const int64_t w = chunk_, n = chunks_, pick = chunks_ - 3;
  const auto& positions = in.cache.positions();
  const bool record = in.n_q == 1;

  auto plan = [&](int64_t kvh, int64_t t0, int64_t t1, std::vector<Segment>& segments) {
    PlanScratch& ps = plan_scratch();
    const int64_t nt = t1 - t0;
    Segment first, local;
    first.q_position.assign(nt, 0.0);
    first.begin.assign(nt, 0);
    first.limit.assign(nt, 0);
    bool any_selective = false;
    int64_t lo = INT64_MAX, hi = 0;
    const size_t per_head_start = 2;  // segments[0], [1]: chunk 0 and the local chunks
    segments.resize(per_head_start);
    // Per-head segments by (head, chunk); the map is all -1 between calls.
    const int64_t stride = (in.first_slot + t1 - 1) / w + 1;
    if (ps.segment_of.size() < static_cast<size_t>(group * stride)) ps.segment_of.resize(group * stride, -1);
    for (int64_t i = 0; i < nt; ++i) {
      const int64_t t = in.first_slot + t0 + i, C = t / w;
      const double true_position = static_cast<double>(positions[t]);
      local.q_position.push_back(true_position);
      local.limit.push_back(t + 1);
      if (C < n) {  // within the window: full attention at true positions
        local.begin.push_back(0);
        lo = 0;
        hi = std::max(hi, t + 1);
        if (record)
          for (int64_t g = 0; g < group; ++g) {
            auto& last = L.last[kvh * group + g];
            last.resize(C + 1);
            std::iota(last.begin(), last.end(), int64_t{0});
          }
        continue;
      }
      any_selective = true;
      // List order: chunk 0, the picked chunks, chunk C-1, chunk C; the query
      // sits at its own key's place, Q. Chunk C-1 and C keep their true
      // distances to the query; chunk 0 and a picked chunk at list place m
      // are read with the query rotated to Q - m * w from their first position.
      const int64_t Q = (n - 1) * w + (t - C * w);
      local.begin.push_back((C - 1) * w);
      lo = std::min(lo, (C - 1) * w);
      hi = std::max(hi, t + 1);
      first.q_position[i] = static_cast<double>(Q) + static_cast<double>(positions[0]);
      first.limit[i] = w;
      const int64_t n_cand = C - 2;  // chunks 1..C-2
      for (int64_t g = 0; g < group; ++g) {
        const int64_t h = kvh * group + g;
        const float* q = in.q + ((t0 + i) * nh + h) * hd;
        ps.scores.resize(n_cand);
        for (int64_t c = 1; c <= n_cand; ++c) {
          const float* key = L.summary.data() + (c * nh + h) * hd;
          float dot = 0.0f;
          for (int64_t d = 0; d < hd; ++d) dot += q[d] * key[d];
          ps.scores[c - 1] = dot;
        }
        ps.order.resize(n_cand);
        std::iota(ps.order.begin(), ps.order.end(), int64_t{1});
        std::partial_sort(ps.order.begin(), ps.order.begin() + pick, ps.order.end(), [&](int64_t a, int64_t b) {
          return ps.scores[a - 1] > ps.scores[b - 1] || (ps.scores[a - 1] == ps.scores[b - 1] && a < b);
        });
        std::sort(ps.order.begin(), ps.order.begin() + pick);
        for (int64_t m = 1; m <= pick; ++m) {
          const int64_t c = ps.order[m - 1];
          int64_t& idx = ps.segment_of[g * stride + c];
          if (idx < 0) {
            idx = static_cast<int64_t>(segments.size());
            Segment seg;
            seg.heads = Segment::only(g);
            seg.spans.push_back({c * w, (c + 1) * w});
            seg.q_position.assign(nt, 0.0);
            seg.begin.assign(nt, c * w);
            seg.limit.assign(nt, c * w);
            segments.push_back(std::move(seg));
          }
          Segment& seg = segments[idx];
          seg.q_position[i] = static_cast<double>(Q - m * w) + static_cast<double>(positions[c * w]);
          seg.limit[i] = (c + 1) * w;
        }
        if (record) {
          auto& last = L.last[h];
          last.assign(1, 0);
          last.insert(last.end(), ps.order.begin(), ps.order.begin() + pick);
          last.push_back(C - 1);
          last.push_back(C);
        }
      }
    }
    // Reset the chunk-to-segment map for the next call.
    for (size_t k = per_head_start; k < segments.size(); ++k)
      ps.segment_of[std::countr_zero(segments[k].heads) * stride + segments[k].spans[0].begin / w] = -1;
    merge_shared_chunks(segments, per_head_start, group, ps);
    local.spans.push_back({lo, hi});
    segments[1] = std::move(local);
    if (any_selective) {
      first.spans.push_back({0, w});
      segments[0] = std::move(first);
    } else {
      segments.erase(segments.begin());
    }
  };
  const double read = attend_segments(in, plan, out);
  count_read(in, read);
  // Scoring read every candidate chunk's summary for every head.
  if (in.n_q == 1) {
    const int64_t C = (in.first_slot) / w;
    if (C >= n) count_extra_bytes(in, static_cast<double>((C - 2) * nh * hd) * 4.0);
  }
}

}  // namespace sieve
