#include "attention/policies/recycled_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "attention/attention_kernel.h"
#include "attention/policies/full_policy.h"
#include "util/spec.h"
#include "util/error.h"

namespace sieve {
namespace {

struct Scratch {
  std::vector<float> q, scores, kernel, weight, m, l, acc, key, value;
  std::vector<int64_t> order, limit;
};
Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

bool same_shape(const KvCacheShape& a, const KvCacheShape& b) {
  return a.n_layers == b.n_layers && a.n_kv_heads == b.n_kv_heads && a.head_dim == b.head_dim &&
         a.page_size == b.page_size && a.type == b.type;
}

}  // namespace

RecycledPolicy::RecycledPolicy(int64_t budget, int64_t stride, bool dynamic, double threshold)
    : budget_(budget), stride_(stride), dynamic_(dynamic), threshold_(threshold) {
  if (budget_ < 1 || stride_ < 1) throw Error("attention policy 'recycled': budget and stride must be >= 1");
}

std::unique_ptr<AttentionPolicy> RecycledPolicy::from_spec(Spec& spec) {
  const int64_t budget = spec.take_int("budget", kDefaultBudget, 1);
  const bool dynamic = spec.take_bool("dynamic", false);
  // The paper's S: the full-step period, or with the dynamic schedule the check period.
  const int64_t stride = spec.take_int("stride", dynamic ? kDefaultCheckStride : kDefaultStride, 1);
  const double threshold = spec.take_double("threshold", kDefaultThreshold, -1.0, 1.0);
  spec.finish({"budget", "stride", "dynamic", "threshold"});
  return std::make_unique<RecycledPolicy>(budget, stride, dynamic, threshold);
}

std::string RecycledPolicy::spec() const {
  std::ostringstream s;
  s << "recycled:budget=" << budget_ << ",stride=" << stride_ << ",dynamic=" << (dynamic_ ? 1 : 0)
    << ",threshold=" << threshold_;
  return s.str();
}

void RecycledPolicy::attend_full_cache(const AttentionInput& in, float* out) {
  count_read(in, attend_dense(in, rotated_, out));
}

void RecycledPolicy::mean_query(const AttentionInput& in, int64_t token, std::vector<float>& out) const {
  const int64_t hd = in.cache.shape().head_dim;
  out.assign(hd, 0.0f);
  const float* q = in.q + token * in.n_heads * hd;
  for (int64_t h = 0; h < in.n_heads; ++h)
    for (int64_t d = 0; d < hd; ++d) out[d] += q[h * hd + d];
  for (float& x : out) x /= static_cast<float>(in.n_heads);
}

// The attention probabilities of the query in `slot` over slots [0, slot]:
// a scoring pass over the keys (score_spans), softmax per query head, maximum
// over the group's heads; the top K per KV head are kept with their ranks.
void RecycledPolicy::select(const AttentionInput& in, int64_t slot, LayerState& st) {
  const KvCacheShape& shape = in.cache.shape();
  const int64_t hd = shape.head_dim, n_kv = shape.n_kv_heads, group = in.n_heads / n_kv;
  const int64_t n = slot + 1, token = slot - in.first_slot, keep = std::min(budget_, n);
  const double position = static_cast<double>(in.cache.positions()[slot]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  st.full_slot = slot;
  mean_query(in, token, st.full_query);
  st.ranked.resize(n_kv);
  in.pool.parallel_for(n_kv, 1, [&](int, int64_t begin, int64_t end) {
    Scratch& sc = thread_scratch();
    for (int64_t kvh = begin; kvh < end; ++kvh) {
      const float* q = in.q + (token * in.n_heads + kvh * group) * hd;
      sc.q.assign(q, q + group * hd);
      in.rope.rotate(sc.q.data(), group, position);
      for (float& x : sc.q) x *= scale;
      sc.scores.resize(group * n);
      sc.kernel.resize(attention_scratch_floats(shape, group));
      const SlotSpan all{0, n};
      score_spans(in.cache, in.layer, kvh, &all, 1, sc.q.data(), group, sc.scores.data(), sc.kernel.data());
      sc.weight.assign(n, 0.0f);
      for (int64_t g = 0; g < group; ++g) {
        float* row = sc.scores.data() + g * n;
        const float m = *std::max_element(row, row + n);
        double sum = 0;
        for (int64_t j = 0; j < n; ++j) sum += (row[j] = std::exp(row[j] - m));
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t j = 0; j < n; ++j) sc.weight[j] = std::max(sc.weight[j], row[j] * inv);
      }
      // Rank: most attended first, ties to the earlier slot.
      const float* w = sc.weight.data();
      auto better = [w](int64_t a, int64_t b) { return w[a] > w[b] || (w[a] == w[b] && a < b); };
      sc.order.resize(n);
      for (int64_t j = 0; j < n; ++j) sc.order[j] = j;
      if (keep < n) std::nth_element(sc.order.begin(), sc.order.begin() + keep, sc.order.end(), better);
      std::sort(sc.order.begin(), sc.order.begin() + keep, better);
      st.ranked[kvh].assign(sc.order.begin(), sc.order.begin() + keep);
    }
  });
  st.copied = false;
  count_extra_bytes(in, static_cast<double>(n * n_kv) * static_cast<double>(in.cache.row_bytes()));
}

RecycledPolicy::LayerState& RecycledPolicy::layer_state(const AttentionInput& in) {
  if (static_cast<int64_t>(layers_.size()) < in.cache.shape().n_layers) layers_.resize(in.cache.shape().n_layers);
  LayerState& st = layers_[in.layer];
  // A full step whose token has been rewritten (the cache was truncated) is gone.
  if (st.full_slot >= in.first_slot) st.full_slot = -1;
  return st;
}

void RecycledPolicy::observe_prefill(const AttentionInput& in) {
  select(in, in.first_slot + in.n_q - 1, layer_state(in));
}

void RecycledPolicy::attend(const AttentionInput& in, float* out) {
  const KvCacheShape& shape = in.cache.shape();
  LayerState& st = layer_state(in);
  const int64_t s = in.first_slot + in.n_q - 1;
  if (in.n_q != 1) {  // prefill: full attention; its last token's pattern seeds the recycled cache
    attend_full_cache(in, out);
    select(in, s, st);
    return;
  }
  const int64_t j = s - st.full_slot;
  bool full = st.full_slot < 0;
  if (!full && !dynamic_) full = j >= stride_;
  if (!full && dynamic_ && j % stride_ == 0) {
    mean_query(in, 0, query_);
    double dot = 0, a = 0, b = 0;
    for (size_t d = 0; d < query_.size(); ++d) {
      dot += static_cast<double>(query_[d]) * st.full_query[d];
      a += static_cast<double>(query_[d]) * query_[d];
      b += static_cast<double>(st.full_query[d]) * st.full_query[d];
    }
    const double similarity = a > 0 && b > 0 ? dot / std::sqrt(a * b) : 0.0;
    full = similarity < threshold_;
  }
  if (full) {
    ++full_steps_;
    attend_full_cache(in, out);
    select(in, s, st);
    return;
  }
  ++recycled_steps_;
  if (!st.copied) copy_ranked(in, st);
  // The K - j best-ranked slots of the last full step (a prefix of the
  // recycled cache) and the j slots since it, all at true positions.
  const int64_t hd = shape.head_dim, n_kv = shape.n_kv_heads, group = in.n_heads / n_kv;
  const int64_t keep = std::min<int64_t>(static_cast<int64_t>(st.ranked[0].size()), std::max<int64_t>(0, budget_ - j));
  const int64_t recent = j <= budget_ ? st.full_slot + 1 : s + 1 - budget_;
  const double position = static_cast<double>(in.cache.positions()[s]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  in.pool.parallel_for(n_kv, 1, [&](int, int64_t begin, int64_t end) {
    Scratch& sc = thread_scratch();
    for (int64_t kvh = begin; kvh < end; ++kvh) {
      sc.q.assign(in.q + kvh * group * hd, in.q + (kvh + 1) * group * hd);
      in.rope.rotate(sc.q.data(), group, position);
      for (float& x : sc.q) x *= scale;
      sc.m.assign(group, -std::numeric_limits<float>::infinity());
      sc.l.assign(group, 0.0f);
      sc.acc.assign(group * hd, 0.0f);
      sc.limit.assign(group, keep);
      sc.kernel.resize(attention_scratch_floats(shape, group));
      AttentionRows rows{sc.q.data(), group, sc.limit.data(), nullptr, sc.m.data(), sc.l.data(), sc.acc.data()};
      const SlotSpan recycled{0, keep}, since{recent, s + 1};
      if (keep > 0) attend_spans(recycled_, in.layer, kvh, &recycled, 1, rows, sc.kernel.data());
      sc.limit.assign(group, s + 1);
      rows.limit = sc.limit.data();
      attend_spans(in.cache, in.layer, kvh, &since, 1, rows, sc.kernel.data());
      for (int64_t g = 0; g < group; ++g)
        finish_softmax_row(sc.l[g], sc.acc.data() + g * hd, hd, out + (kvh * group + g) * hd);
    }
  });
  count_read(in, static_cast<double>(n_kv * (keep + s + 1 - recent)));
}

// Reads each KV head's ranked slots from the cache and writes them, in rank
// order, to the layer's recycled cache (parallel over slots: write() of
// distinct slots touches disjoint bytes).
void RecycledPolicy::copy_ranked(const AttentionInput& in, LayerState& st) {
  const KvCacheShape& cs = in.cache.shape();
  if (!same_shape(recycled_.shape(), cs)) {
    recycled_ = KvCache(cs);
    for (LayerState& other : layers_) other.copied = false;
  }
  const int64_t hd = cs.head_dim, n_kv = cs.n_kv_heads, n = static_cast<int64_t>(st.ranked[0].size());
  if (recycled_.size() < n) {
    const std::vector<int64_t> unused(n - recycled_.size(), 0);
    recycled_.append_slots(unused.data(), static_cast<int64_t>(unused.size()));
  }
  in.pool.parallel_for(n, 64, [&](int, int64_t begin, int64_t end) {
    Scratch& sc = thread_scratch();
    sc.key.resize(n_kv * hd);
    sc.value.resize(n_kv * hd);
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t h = 0; h < n_kv; ++h) {
        in.cache.read_key(in.layer, h, st.ranked[h][i], sc.key.data() + h * hd);
        in.cache.read_value(in.layer, h, st.ranked[h][i], sc.value.data() + h * hd);
      }
      recycled_.write(in.layer, i, sc.key.data(), sc.value.data());
    }
  });
  st.copied = true;
  count_extra_bytes(in, static_cast<double>(2 * n * n_kv) * static_cast<double>(in.cache.row_bytes()));
}

}  // namespace sieve
