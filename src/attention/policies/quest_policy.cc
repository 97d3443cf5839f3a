#include "attention/policies/quest_policy.h"

#include <algorithm>
#include <limits>

#include "attention/policies/full_policy.h"
#include "util/spec.h"
#include "attention/segmented_attention.h"
#include "util/error.h"

namespace sieve {
namespace {

// Per-thread buffers of the planner (one KV head per call, in parallel).
struct Scratch {
  std::vector<float> q, rows, scores, kernel;
  std::vector<int64_t> order;
  std::vector<uint64_t> heads;  // per page: the heads of the group that selected it
};
Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

KvType summary_type(KvType cache_type) {
  return cache_type == KvType::F16 || cache_type == KvType::BF16 ? cache_type : KvType::F32;
}

bool same_shape(const KvCacheShape& a, const KvCacheShape& b) {
  return a.n_layers == b.n_layers && a.n_kv_heads == b.n_kv_heads && a.head_dim == b.head_dim &&
         a.page_size == b.page_size && a.type == b.type;
}

// Appends slots [begin, end) to a segment, extending its last span when they touch.
void add_span(Segment& seg, int64_t begin, int64_t end) {
  if (!seg.spans.empty() && seg.spans.back().end == begin) seg.spans.back().end = end;
  else seg.spans.push_back({begin, end});
}

}  // namespace

QuestPolicy::QuestPolicy(int64_t page, int64_t budget, int64_t dense_layers, bool group_select)
    : page_(page), budget_(budget), dense_layers_(dense_layers), group_select_(group_select) {
  if (page_ < 1 || budget_ < page_ || dense_layers_ < 0)
    throw Error("attention policy 'quest': budget must be >= page (got budget=" + std::to_string(budget_) +
                ", page=" + std::to_string(page_) + ")");
}

std::unique_ptr<AttentionPolicy> QuestPolicy::from_spec(Spec& spec) {
  const int64_t page = spec.take_int("page", kDefaultPage, 1);
  const int64_t budget = spec.take_int("budget", kDefaultBudget, 1);
  const int64_t dense_layers = spec.take_int("dense_layers", kDefaultDenseLayers, 0);
  const bool group = spec.take_choice("select", "head", {"head", "group"}) == "group";
  spec.finish({"page", "budget", "dense_layers", "select"});
  return std::make_unique<QuestPolicy>(page, budget, dense_layers, group);
}

std::string QuestPolicy::spec() const {
  return "quest:page=" + std::to_string(page_) + ",budget=" + std::to_string(budget_) +
         ",dense_layers=" + std::to_string(dense_layers_) + ",select=" + (group_select_ ? "group" : "head");
}

// Folds the keys of slots not yet summarised into their pages' max/min. Slots
// from first_slot on were just written (possibly over a truncated tail), so a
// summary that covered them is rebuilt from its page's first slot.
void QuestPolicy::update_summaries(const AttentionInput& in) {
  const KvCacheShape& cs = in.cache.shape();
  const KvCacheShape want{cs.n_layers, cs.n_kv_heads, 2 * cs.head_dim, 64, summary_type(cs.type)};
  if (!same_shape(summaries_.shape(), want)) {
    summaries_ = KvCache(want);
    summarized_.clear();
  }
  summarized_.resize(cs.n_layers, 0);
  const int64_t hd = cs.head_dim, n_kv = cs.n_kv_heads, n = in.cache.size();
  int64_t& done = summarized_[in.layer];
  const int64_t valid = std::min({done, in.first_slot, n});
  if (valid < done) done = valid / page_ * page_;
  if (done >= n) return;
  const int64_t n_pages = (n + page_ - 1) / page_;
  if (summaries_.size() < n_pages) {
    const std::vector<int64_t> unused(n_pages - summaries_.size(), 0);
    summaries_.append_slots(unused.data(), static_cast<int64_t>(unused.size()));
  }
  std::vector<float>& key = fold_key_;
  std::vector<float>& row = fold_row_;
  key.resize(hd);
  row.resize(n_kv * 2 * hd);
  fold_zeros_.assign(n_kv * 2 * hd, 0.0f);
  double read = 0;
  for (int64_t p = done / page_; p < n_pages; ++p) {
    const int64_t s0 = p * page_, s1 = std::min(n, s0 + page_), from = std::max(done, s0);
    for (int64_t kvh = 0; kvh < n_kv; ++kvh) {
      float* mx = row.data() + kvh * 2 * hd;
      float* mn = mx + hd;
      if (from > s0) {
        summaries_.read_key(in.layer, kvh, p, mx);  // the page's summary so far
        read += static_cast<double>(summaries_.row_bytes());
      } else {
        std::fill(mx, mx + hd, -std::numeric_limits<float>::infinity());
        std::fill(mn, mn + hd, std::numeric_limits<float>::infinity());
      }
      for (int64_t slot = from; slot < s1; ++slot) {
        in.cache.read_key(in.layer, kvh, slot, key.data());
        for (int64_t d = 0; d < hd; ++d) {
          mx[d] = std::max(mx[d], key[d]);
          mn[d] = std::min(mn[d], key[d]);
        }
      }
    }
    summaries_.write(in.layer, p, row.data(), fold_zeros_.data());
  }
  done = n;
  count_extra_bytes(in, read);
}

void QuestPolicy::attend_dense(const AttentionInput& in, float* out) {
  count_read(in, sieve::attend_dense(in, rotated_, out));
}

void QuestPolicy::attend(const AttentionInput& in, float* out) {
  const KvCacheShape& shape = in.cache.shape();
  if (static_cast<int64_t>(selected_.size()) != in.n_heads) selected_.assign(in.n_heads, {});
  if (in.layer < dense_layers_) return attend_dense(in, out);
  update_summaries(in);
  // Decoding only (the reference runs prefill dense); the query's own page is
  // always read, so the budget leaves budget/page - 1 pages to select.
  const int64_t s = in.first_slot, last = s / page_, page_budget = budget_ / page_;
  if (in.n_q != 1 || last + 1 <= page_budget) return attend_dense(in, out);
  const int64_t hd = shape.head_dim, n_kv = shape.n_kv_heads, group = in.n_heads / n_kv;
  const int64_t k = page_budget - 1;
  const double q_position = static_cast<double>(in.cache.positions()[s]);

  auto plan = [&](int64_t kvh, int64_t, int64_t, std::vector<Segment>& segments) {
    Scratch& sc = thread_scratch();
    // The group's query heads at the query's true position; bound rows [max(q,0); min(q,0)].
    sc.q.assign(in.q + kvh * group * hd, in.q + (kvh + 1) * group * hd);
    in.rope.rotate(sc.q.data(), group, q_position);
    sc.rows.resize(group * 2 * hd);
    for (int64_t g = 0; g < group; ++g)
      for (int64_t d = 0; d < hd; ++d) {
        const float x = sc.q[g * hd + d];
        sc.rows[g * 2 * hd + d] = std::max(x, 0.0f);
        sc.rows[g * 2 * hd + hd + d] = std::min(x, 0.0f);
      }
    sc.scores.resize(group * last);
    sc.kernel.resize(attention_scratch_floats(summaries_.shape(), group));
    const SlotSpan candidates{0, last};
    score_spans(summaries_, in.layer, kvh, &candidates, 1, sc.rows.data(), group, sc.scores.data(),
                sc.kernel.data());
    // select=group: every head scores a page by the group's highest bound.
    if (group_select_)
      for (int64_t g = 1; g < group; ++g)
        for (int64_t p = 0; p < last; ++p) sc.scores[p] = std::max(sc.scores[p], sc.scores[g * last + p]);
    // Top k pages per query head (ties to the earlier page).
    for (int64_t g = 0; g < group; ++g) {
      const float* score = sc.scores.data() + (group_select_ ? 0 : g * last);
      sc.order.resize(last);
      for (int64_t p = 0; p < last; ++p) sc.order[p] = p;
      std::nth_element(sc.order.begin(), sc.order.begin() + k, sc.order.end(), [&](int64_t a, int64_t b) {
        return score[a] > score[b] || (score[a] == score[b] && a < b);
      });
      std::vector<int64_t>& sel = selected_[kvh * group + g];
      sel.assign(sc.order.begin(), sc.order.begin() + k);
      std::sort(sel.begin(), sel.end());
    }
    // Each selected page is read once, by the heads that selected it: one
    // segment per set of heads (the last page by all of them). All at true
    // positions.
    sc.heads.assign(last, 0);
    for (int64_t g = 0; g < group; ++g)
      for (int64_t p : selected_[kvh * group + g]) sc.heads[p] |= Segment::only(g);
    const size_t first = segments.size();
    auto segment_for = [&](uint64_t heads) -> Segment& {
      for (size_t i = first; i < segments.size(); ++i)
        if (segments[i].heads == heads) return segments[i];
      Segment seg;
      seg.heads = heads;
      seg.q_position.assign(1, q_position);
      seg.begin.assign(1, 0);
      seg.limit.assign(1, s + 1);
      segments.push_back(std::move(seg));
      return segments.back();
    };
    for (int64_t p = 0; p < last; ++p)
      if (sc.heads[p]) add_span(segment_for(sc.heads[p]), p * page_, (p + 1) * page_);
    add_span(segment_for(Segment::all(group)), last * page_, s + 1);
  };
  const double read = attend_segments(in, plan, out);
  count_read(in, read);
  count_extra_bytes(in, static_cast<double>(n_kv * last) * static_cast<double>(summaries_.row_bytes()));
}

}  // namespace sieve
