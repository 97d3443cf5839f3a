#include "attention/policies/eviction/snapkv_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attention/attention_kernel.h"
#include "attention/full_attention.h"
#include "attention/policies/eviction/attention_votes.h"
#include "attention/segmented_attention.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {

std::unique_ptr<AttentionPolicy> SnapKvPolicy::from_spec(Spec& spec, bool pyramid) {
  SnapKvOptions o;
  o.pyramid = pyramid;
  o.window = spec.take_int("window", 32, 1);
  o.budget = spec.take_int("budget", 2048, 2);
  o.ratio = spec.take_double("ratio", 0.0, 0.0, 0.999);
  o.kernel = spec.take_int("kernel", 5, 1);
  o.max_pool = spec.take_choice("pool", "avg", {"avg", "max"}) == "max";
  if (pyramid) o.beta = spec.take_int("beta", 20, 1);
  std::vector<std::string> valid = {"budget", "ratio", "window", "kernel", "pool"};
  if (pyramid) valid.push_back("beta");
  spec.finish(valid);
  const std::string name = pyramid ? "pyramidkv" : "snapkv";
  if (o.budget <= o.window)
    throw Error("attention policy '" + name + "': budget (" + std::to_string(o.budget) +
                ") must be greater than window (" + std::to_string(o.window) + "), which it includes");
  if (o.kernel % 2 == 0) throw Error("attention policy '" + name + "': kernel must be odd (a pooling centred on each token)");
  return std::make_unique<SnapKvPolicy>(o);
}

std::string SnapKvPolicy::spec() const {
  std::string s = o_.pyramid ? "pyramidkv:" : "snapkv:";
  if (o_.ratio > 0) {
    std::string r = std::to_string(o_.ratio);
    r.erase(r.find_last_not_of('0') + 1);
    s += "ratio=" + r;
  } else {
    s += "budget=" + std::to_string(o_.budget);
  }
  s += ",window=" + std::to_string(o_.window) + ",kernel=" + std::to_string(o_.kernel) +
       ",pool=" + (o_.max_pool ? "max" : "avg");
  if (o_.pyramid) s += ",beta=" + std::to_string(o_.beta);
  return s;
}

int64_t SnapKvPolicy::kept_tokens(int64_t layer, int64_t n_layers, int64_t n) const {
  const int64_t w = o_.window;
  // kvpress keeps int(n (1 - ratio)) of the prompt; the reference code keeps
  // max_capacity_prompt and leaves a shorter prompt whole.
  const int64_t cap =
      o_.ratio > 0 ? std::max(w + 1, static_cast<int64_t>(static_cast<double>(n) * (1.0 - o_.ratio))) : o_.budget;
  if (cap >= n) return n;
  if (!o_.pyramid) return cap;
  // PyramidKV: prompt tokens besides the window from max_num at the first
  // layer down by `steps` per layer, averaging cap - window.
  int64_t min_num = (cap - w) / o_.beta, max_num = (cap - w) * 2 - min_num;
  if (max_num >= n - w) {
    max_num = n - w;
    min_num = (cap - w) * 2 - max_num;
  }
  const int64_t steps = (max_num - min_num) / n_layers;
  return std::clamp<int64_t>(max_num - layer * steps, 0, n - w) + w;
}

std::vector<int64_t> SnapKvPolicy::select(const KvCache& cache, int64_t layer, int64_t kv_head, const float* q,
                                          int64_t group, int64_t n, int64_t keep) const {
  const int64_t w = o_.window, prefix = n - w, rows = w * group, keep_prefix = keep - w;
  std::vector<int64_t> kept;
  if (keep_prefix >= prefix) {
    for (int64_t j = 0; j < n; ++j) kept.push_back(j);
    return kept;
  }
  std::vector<float> scores(static_cast<size_t>(rows * n)), scratch(attention_scratch_floats(cache.shape(), rows));
  const SlotSpan all{0, n};
  score_spans(cache, layer, kv_head, &all, 1, q, rows, scores.data(), scratch.data());
  // Votes: each window query's softmax over what it sees (the prompt before
  // the window, and the window up to itself), summed over the window on the
  // tokens before it, averaged over the group's query heads.
  std::vector<double> votes(static_cast<size_t>(prefix), 0.0);
  for (int64_t t = 0; t < w; ++t)
    for (int64_t g = 0; g < group; ++g) {
      add_attention(scores.data() + (t * group + g) * n, prefix + t + 1, prefix, 1.0 / static_cast<double>(group),
                    votes.data());
    }
  // Pooled over `kernel` neighbours, padded as torch's pool1d pads (zeros
  // counted in the average; nothing for the max).
  const int64_t half = o_.kernel / 2;
  std::vector<double> pooled(static_cast<size_t>(prefix));
  for (int64_t j = 0; j < prefix; ++j) {
    double acc = o_.max_pool ? -std::numeric_limits<double>::infinity() : 0.0;
    for (int64_t k = std::max<int64_t>(0, j - half); k <= std::min(prefix - 1, j + half); ++k)
      acc = o_.max_pool ? std::max(acc, votes[k]) : acc + votes[k];
    pooled[j] = o_.max_pool ? acc : acc / static_cast<double>(o_.kernel);
  }
  std::vector<int64_t> order(static_cast<size_t>(prefix));
  for (int64_t j = 0; j < prefix; ++j) order[j] = j;
  std::nth_element(order.begin(), order.begin() + keep_prefix, order.end(), [&](int64_t a, int64_t b) {
    return pooled[a] > pooled[b] || (pooled[a] == pooled[b] && a < b);
  });
  kept.assign(order.begin(), order.begin() + keep_prefix);
  std::sort(kept.begin(), kept.end());
  for (int64_t j = prefix; j < n; ++j) kept.push_back(j);
  return kept;
}

void SnapKvPolicy::hold_window(const AttentionInput& in) {
  const int64_t hd = in.cache.shape().head_dim, row = in.n_heads * hd;
  if (static_cast<int64_t>(window_q_.size()) <= in.layer) {
    window_q_.resize(static_cast<size_t>(in.layer + 1));
    window_rows_.resize(static_cast<size_t>(in.layer + 1), 0);
  }
  rotated_.assign(in.q, in.q + in.n_q * row);
  for (int64_t i = 0; i < in.n_q; ++i)
    in.rope.rotate(rotated_.data() + i * row, in.n_heads, static_cast<double>(in.cache.positions()[in.first_slot + i]));
  // The observation window: this layer's last `window` queries, scaled as
  // the kernel takes them.
  std::vector<float>& held = window_q_[in.layer];
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t take = std::min(in.n_q, o_.window);
  for (int64_t i = in.n_q - take; i < in.n_q; ++i)
    for (int64_t d = 0; d < row; ++d) held.push_back(rotated_[i * row + d] * scale);
  const int64_t extra = static_cast<int64_t>(held.size()) / row - o_.window;
  if (extra > 0) held.erase(held.begin(), held.begin() + extra * row);
  window_rows_[in.layer] = static_cast<int64_t>(held.size()) / row;
}

void SnapKvPolicy::observe_prefill(const AttentionInput& in) {
  if (!compressed_) hold_window(in);
}

void SnapKvPolicy::attend(const AttentionInput& in, float* out) {
  const KvCacheShape& shape = in.cache.shape();
  if (!compressed_) {
    hold_window(in);
    attend_full(in.cache, in.layer, rotated_.data(), in.n_q, in.first_slot, in.n_heads, out, in.pool);
    count_read(in, static_cast<double>((in.first_slot + 1) * shape.n_kv_heads));
    return;
  }
  // After compression: the layer's kept prompt slots, then everything from
  // the first token after the prompt, at true positions.
  const int64_t kept = kept_[in.layer];
  auto plan = [&](int64_t, int64_t t0, int64_t t1, std::vector<Segment>& segments) {
    Segment seg;
    if (kept > 0) seg.spans.push_back({0, kept});
    seg.spans.push_back({tail_start_, in.first_slot + t1});
    for (int64_t t = t0; t < t1; ++t) {
      seg.q_position.push_back(static_cast<double>(in.cache.positions()[in.first_slot + t]));
      seg.begin.push_back(0);
      seg.limit.push_back(in.first_slot + t + 1);
    }
    segments.push_back(std::move(seg));
  };
  count_read(in, attend_segments(in, plan, out));
}

void SnapKvPolicy::end_prompt(KvCache& cache, ThreadPool& pool) {
  const KvCacheShape& shape = cache.shape();
  const int64_t n = cache.size(), n_layers = shape.n_layers, n_kv = shape.n_kv_heads, hd = shape.head_dim;
  // A prompt within the budget stays whole; a conversation's later prompts
  // keep what the first compression left.
  if (compressed_ || n <= o_.window || static_cast<int64_t>(window_q_.size()) < n_layers) return;
  for (int64_t l = 0; l < n_layers; ++l)
    if (window_rows_[l] < o_.window) return;
  const int64_t n_heads = static_cast<int64_t>(window_q_[0].size()) / (o_.window * hd), group = n_heads / n_kv;
  kept_.assign(static_cast<size_t>(n_layers), n);
  for (int64_t l = 0; l < n_layers; ++l) {
    const int64_t keep = kept_tokens(l, n_layers, n);
    kept_[l] = keep;
    if (keep >= n) continue;
    pool.parallel_for(n_kv, 1, [&](int, int64_t h0, int64_t h1) {
      std::vector<float> q(static_cast<size_t>(o_.window * group * hd));
      for (int64_t h = h0; h < h1; ++h) {
        // The group's rows of the window, token by token.
        for (int64_t t = 0; t < o_.window; ++t)
          std::copy_n(window_q_[l].data() + (t * n_heads + h * group) * hd, group * hd, q.data() + t * group * hd);
        const std::vector<int64_t> kept = select(cache, l, h, q.data(), group, n, keep);
        for (int64_t i = 0; i < keep; ++i) cache.copy_head_slot(l, h, kept[i], i);  // kept[i] >= i: sources not yet overwritten
      }
    });
  }
  tail_start_ = *std::max_element(kept_.begin(), kept_.end());
  cache.drop_compacted(tail_start_);
  compressed_ = true;
  prompt_tokens_ += static_cast<double>(n);
  for (int64_t k : kept_) evicted_tokens_ += static_cast<double>(n - k);
  for (auto& held : window_q_) std::vector<float>().swap(held);
}

std::vector<std::pair<std::string, double>> SnapKvPolicy::counters() const {
  const double layers = static_cast<double>(std::max<size_t>(1, kept_.size()));
  return {{"prompt_tokens", prompt_tokens_},
          {"evicted_fraction", prompt_tokens_ > 0 ? evicted_tokens_ / (prompt_tokens_ * layers) : 0.0}};
}

}  // namespace sieve
