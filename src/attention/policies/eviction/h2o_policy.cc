#include "attention/policies/eviction/h2o_policy.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attention/attention_kernel.h"
#include "attention/full_attention.h"
#include "attention/policies/eviction/attention_votes.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {

std::unique_ptr<AttentionPolicy> H2oPolicy::from_spec(Spec& spec) {
  const int64_t budget = spec.take_int("budget", 1024, 2);
  const double recent = spec.take_double("recent", 0.5, 0.0, 1.0);
  const double ratio = spec.take_double("ratio", 0.0, 0.0, 0.999);
  spec.finish({"budget", "recent", "ratio"});
  return std::make_unique<H2oPolicy>(budget, recent, ratio);
}

std::string H2oPolicy::spec() const {
  auto num = [](double v) {
    std::string t = std::to_string(v);
    t.erase(t.find_last_not_of('0') + 1);
    if (t.back() == '.') t.pop_back();
    return t;
  };
  return "h2o:" + (ratio_ > 0 ? "ratio=" + num(ratio_) : "budget=" + std::to_string(budget_)) + ",recent=" + num(recent_);
}

void H2oPolicy::accumulate(const AttentionInput& in, int64_t kv_head, const float* q, Head& head) {
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, group = in.n_heads / s.n_kv_heads;
  constexpr int64_t kTokensPerBlock = 16;  // rows x n scores at a time
  std::vector<float> rows, scores, scratch;
  for (int64_t t0 = 0; t0 < in.n_q; t0 += kTokensPerBlock) {
    const int64_t t1 = std::min(in.n_q, t0 + kTokensPerBlock), n_rows = (t1 - t0) * group;
    const int64_t seen = in.first_slot + t1;  // the block's last token sees this many slots
    rows.resize(static_cast<size_t>(n_rows * hd));
    for (int64_t t = t0; t < t1; ++t)
      std::copy_n(q + (t * in.n_heads + kv_head * group) * hd, group * hd, rows.data() + (t - t0) * group * hd);
    scores.resize(static_cast<size_t>(n_rows * seen));
    scratch.resize(static_cast<size_t>(attention_scratch_floats(s, n_rows)));
    const SlotSpan span{0, seen};
    score_spans(in.cache, in.layer, kv_head, &span, 1, rows.data(), n_rows, scores.data(), scratch.data());
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t g = 0; g < group; ++g) {
        const int64_t visible = in.first_slot + t + 1;
        add_attention(scores.data() + ((t - t0) * group + g) * seen, visible, visible, 1.0 / static_cast<double>(group),
                      head.score.data());
      }
  }
}

void H2oPolicy::accumulate_batch(const AttentionInput& in, const float* rotated) {
  const KvCacheShape& shape = in.cache.shape();
  const int64_t hd = shape.head_dim, row = in.n_heads * hd, n_kv = shape.n_kv_heads;
  if (static_cast<int64_t>(heads_.size()) <= in.layer) heads_.resize(static_cast<size_t>(in.layer + 1));
  std::vector<Head>& heads = heads_[in.layer];
  heads.resize(static_cast<size_t>(n_kv));
  // The batch's attention, accumulated per slot (its new slots first get a place).
  const int64_t n = in.first_slot + in.n_q;
  std::vector<float> q(rotated ? rotated : in.q, (rotated ? rotated : in.q) + in.n_q * row);
  if (!rotated)
    for (int64_t i = 0; i < in.n_q; ++i)
      in.rope.rotate(q.data() + i * row, in.n_heads, static_cast<double>(in.cache.positions()[in.first_slot + i]));
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (float& x : q) x *= scale;
  for (Head& h : heads) {
    h.score.resize(static_cast<size_t>(n), 0.0);
    h.position.resize(static_cast<size_t>(n));
    for (int64_t j = in.first_slot; j < n; ++j) h.position[j] = in.cache.positions()[j];
    h.victim = -1;
  }
  in.pool.parallel_for(n_kv, 1, [&](int, int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) accumulate(in, h, q.data(), heads[h]);
  });
}

void H2oPolicy::attend(const AttentionInput& in, float* out) {
  const KvCacheShape& shape = in.cache.shape();
  const int64_t row = in.n_heads * shape.head_dim, n_kv = shape.n_kv_heads;
  rotated_.assign(in.q, in.q + in.n_q * row);
  for (int64_t i = 0; i < in.n_q; ++i)
    in.rope.rotate(rotated_.data() + i * row, in.n_heads, static_cast<double>(in.cache.positions()[in.first_slot + i]));
  attend_full(in.cache, in.layer, rotated_.data(), in.n_q, in.first_slot, in.n_heads, out, in.pool);
  count_read(in, static_cast<double>((in.first_slot + 1) * n_kv));
  accumulate_batch(in, rotated_.data());
  const int64_t n = in.first_slot + in.n_q;
  std::vector<Head>& heads = heads_[in.layer];
  if (in.n_q == 1) count_extra_bytes(in, static_cast<double>(n * n_kv) * static_cast<double>(in.cache.row_bytes()));
  // Decoding past the budget: each head's lowest score outside the recent
  // window goes (several tokens in one batch are cut at the prompt's end).
  if (!prompt_done_ || in.n_q != 1 || n <= budget_) return;
  const int64_t newest_position = in.cache.positions()[n - 1], recent = recent_tokens();
  for (Head& h : heads) {
    double best = INFINITY;
    for (int64_t j = 0; j < n; ++j)
      if (h.position[j] <= newest_position - recent && h.score[j] < best) best = h.score[j], h.victim = j;
    if (h.victim < 0) h.victim = n - 1;  // nothing outside the window (budget under one token of it): the newest goes
  }
}

void H2oPolicy::move(KvCache& cache, int64_t layer, int64_t kv_head, int64_t from, int64_t to) {
  Head& h = heads_[layer][kv_head];
  cache.copy_head_slot(layer, kv_head, from, to);
  h.score[to] = h.score[from];
  h.position[to] = h.position[from];
}

void H2oPolicy::end_batch(KvCache& cache) {
  if (!prompt_done_ || cache.size() <= budget_) return;
  for (const auto& layer : heads_)
    for (const Head& h : layer)
      if (h.victim < 0) return;
  const int64_t newest = cache.size() - 1;
  for (size_t l = 0; l < heads_.size(); ++l)
    for (size_t k = 0; k < heads_[l].size(); ++k) {
      Head& h = heads_[l][k];
      if (h.victim != newest) move(cache, static_cast<int64_t>(l), static_cast<int64_t>(k), newest, h.victim);
      h.score.resize(static_cast<size_t>(newest));
      h.position.resize(static_cast<size_t>(newest));
    }
  cache.drop_compacted(newest);
  ++dropped_;
}

void H2oPolicy::end_prompt(KvCache& cache, ThreadPool& pool) {
  const int64_t n = cache.size(), n_layers = cache.shape().n_layers, n_kv = cache.shape().n_kv_heads;
  if (ratio_ > 0 && !prompt_done_) budget_ = std::max<int64_t>(2, static_cast<int64_t>(static_cast<double>(n) * (1.0 - ratio_)));
  prompt_done_ = true;
  if (n <= budget_ || static_cast<int64_t>(heads_.size()) < n_layers) return;
  const int64_t recent = std::min(recent_tokens(), budget_);
  pool.parallel_for(n_layers * n_kv, 1, [&](int, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t l = i / n_kv, k = i % n_kv;
      Head& h = heads_[l][k];
      // The `recent` newest tokens, then the heaviest of the rest.
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return h.position[a] > h.position[b]; });
      std::nth_element(order.begin() + recent, order.begin() + budget_, order.end(), [&](int64_t a, int64_t b) {
        return h.score[a] > h.score[b] || (h.score[a] == h.score[b] && a < b);
      });
      std::sort(order.begin(), order.begin() + budget_);
      for (int64_t j = 0; j < budget_; ++j) move(cache, l, k, order[j], j);  // order[j] >= j: sources intact
      h.score.resize(static_cast<size_t>(budget_));
      h.position.resize(static_cast<size_t>(budget_));
    }
  });
  cache.drop_compacted(budget_);
  dropped_ += static_cast<double>(n - budget_);
}

}  // namespace sieve
