#include "attention/policies/eviction/tova_policy.h"

#include <algorithm>
#include <cmath>

#include "attention/attention_kernel.h"
#include "attention/full_attention.h"
#include "attention/policies/eviction/attention_votes.h"
#include "util/spec.h"

namespace sieve {

std::unique_ptr<AttentionPolicy> TovaPolicy::from_spec(Spec& spec) {
  const int64_t budget = spec.take_int("budget", 1024, 2);
  const double ratio = spec.take_double("ratio", 0.0, 0.0, 0.999);
  spec.finish({"budget", "ratio"});
  return std::make_unique<TovaPolicy>(budget, ratio);
}

std::string TovaPolicy::spec() const {
  if (ratio_ <= 0) return "tova:budget=" + std::to_string(budget_);
  std::string r = std::to_string(ratio_);
  r.erase(r.find_last_not_of('0') + 1);
  return "tova:ratio=" + r;
}

std::vector<double> TovaPolicy::head_mean_attention(const KvCache& cache, int64_t layer, const float* q,
                                                    int64_t n_heads, int64_t n) {
  const KvCacheShape& s = cache.shape();
  const int64_t hd = s.head_dim, group = n_heads / s.n_kv_heads;
  std::vector<double> mean(static_cast<size_t>(n), 0.0);
  std::vector<float> scores(static_cast<size_t>(group * n)), scratch(attention_scratch_floats(s, group));
  const SlotSpan all{0, n};
  for (int64_t h = 0; h < s.n_kv_heads; ++h) {
    score_spans(cache, layer, h, &all, 1, q + h * group * hd, group, scores.data(), scratch.data());
    for (int64_t g = 0; g < group; ++g)
      add_attention(scores.data() + g * n, n, n, 1.0 / static_cast<double>(n_heads), mean.data());
  }
  return mean;
}

void TovaPolicy::hold_last_query(const AttentionInput& in, const float* rotated) {
  const int64_t hd = in.cache.shape().head_dim, row = in.n_heads * hd;
  if (static_cast<int64_t>(last_q_.size()) <= in.layer) {
    last_q_.resize(static_cast<size_t>(in.layer + 1));
    victim_.resize(static_cast<size_t>(in.layer + 1), -1);
  }
  // The last query, scaled as the kernel takes it, for the eviction.
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float>& q = last_q_[in.layer];
  const float* last = (rotated ? rotated : in.q) + (in.n_q - 1) * row;
  q.assign(last, last + row);
  if (!rotated)
    in.rope.rotate(q.data(), in.n_heads, static_cast<double>(in.cache.positions()[in.first_slot + in.n_q - 1]));
  for (float& x : q) x *= scale;
  victim_[in.layer] = -1;
}

void TovaPolicy::attend(const AttentionInput& in, float* out) {
  const KvCacheShape& shape = in.cache.shape();
  const int64_t row = in.n_heads * shape.head_dim;
  rotated_.assign(in.q, in.q + in.n_q * row);
  for (int64_t i = 0; i < in.n_q; ++i)
    in.rope.rotate(rotated_.data() + i * row, in.n_heads, static_cast<double>(in.cache.positions()[in.first_slot + i]));
  attend_full(in.cache, in.layer, rotated_.data(), in.n_q, in.first_slot, in.n_heads, out, in.pool);
  count_read(in, static_cast<double>((in.first_slot + 1) * shape.n_kv_heads));
  hold_last_query(in, rotated_.data());
  const std::vector<float>& q = last_q_[in.layer];
  const int64_t n = in.first_slot + in.n_q;
  if (!prompt_done_ || n <= budget_) return;
  // Decoding past the budget: the slot this query attends to least goes.
  // Several tokens in one batch (a continued conversation) are cut at the
  // prompt's end instead.
  if (in.n_q != 1) return;
  const std::vector<double> attention = head_mean_attention(in.cache, in.layer, q.data(), in.n_heads, n);
  victim_[in.layer] = std::min_element(attention.begin(), attention.end()) - attention.begin();
  count_extra_bytes(in, static_cast<double>(n * shape.n_kv_heads) * static_cast<double>(in.cache.row_bytes()));
}

void TovaPolicy::end_batch(KvCache& cache) {
  if (!prompt_done_ || cache.size() <= budget_) return;
  // A batch that chose nothing (several tokens, a continued conversation)
  // is cut to the budget at its prompt's end instead.
  if (std::any_of(victim_.begin(), victim_.end(), [](int64_t v) { return v < 0; })) return;
  const int64_t newest = cache.size() - 1;
  for (size_t l = 0; l < victim_.size(); ++l)
    if (victim_[l] != newest)  // else the newest token itself goes
      for (int64_t h = 0; h < cache.shape().n_kv_heads; ++h)
        cache.copy_head_slot(static_cast<int64_t>(l), h, newest, victim_[l]);
  cache.drop_compacted(newest);
  ++dropped_;
}

void TovaPolicy::end_prompt(KvCache& cache, ThreadPool& pool) {
  const int64_t n = cache.size(), n_layers = cache.shape().n_layers;
  if (ratio_ > 0 && !prompt_done_) budget_ = std::max<int64_t>(2, static_cast<int64_t>(static_cast<double>(n) * (1.0 - ratio_)));
  prompt_done_ = true;
  if (n <= budget_ || static_cast<int64_t>(last_q_.size()) < n_layers) return;
  const int64_t n_heads = static_cast<int64_t>(last_q_[0].size()) / cache.shape().head_dim;
  pool.parallel_for(n_layers, 1, [&](int, int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      // The last prompt token's attention, averaged over heads: the budget's
      // best slots (the last token's own among them), in slot order.
      const std::vector<double> attention = head_mean_attention(cache, l, last_q_[l].data(), n_heads, n);
      std::vector<int64_t> order(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) order[j] = j;
      std::nth_element(order.begin(), order.begin() + budget_, order.end(), [&](int64_t a, int64_t b) {
        return attention[a] > attention[b] || (attention[a] == attention[b] && a > b);
      });
      std::sort(order.begin(), order.begin() + budget_);
      for (int64_t i = 0; i < budget_; ++i)
        for (int64_t h = 0; h < cache.shape().n_kv_heads; ++h) cache.copy_head_slot(l, h, order[i], i);
    }
  });
  // The positions of the kept slots no longer matter (keys are rotated);
  // the tokens after the prompt append at `budget` with their own.
  cache.drop_compacted(budget_);
  dropped_ += static_cast<double>(n - budget_);
}

}  // namespace sieve
