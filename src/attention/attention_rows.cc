#include "attention/attention_rows.h"

#include <algorithm>
#include <cmath>

namespace sieve {

void HeadKv::read(const KvCache& cache, int64_t layer, int64_t kv_head, int64_t first_new, int64_t n) {
  const int64_t hd = cache.shape().head_dim;
  if (&cache != cache_ || layer != layer_ || kv_head != kv_head_ || hd != head_dim_) n_ = 0;
  n_ = std::min({n_, first_new, n});
  cache_ = &cache;
  layer_ = layer;
  kv_head_ = kv_head;
  head_dim_ = hd;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  keys_t_.resize(static_cast<size_t>(blocks * kBlock * hd));
  values_.resize(static_cast<size_t>(n * hd));
  std::vector<float> key(static_cast<size_t>(hd));
  for (int64_t s = n_; s < n; ++s) {
    cache.read_key(layer, kv_head, s, key.data());
    float* block = keys_t_.data() + (s / kBlock) * kBlock * hd;
    for (int64_t d = 0; d < hd; ++d) block[d * kBlock + s % kBlock] = key[d];
    cache.read_value(layer, kv_head, s, values_.data() + s * hd);
  }
  n_ = n;
}

void HeadKv::probabilities(const float* q, int64_t n, float* probs) const {
  const int64_t hd = head_dim_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  float max_score = -INFINITY;
  for (int64_t b = 0; b * kBlock < n; ++b) {
    float acc[kBlock] = {};
    const float* block = keys_t_.data() + b * kBlock * hd;
    for (int64_t d = 0; d < hd; ++d)
      for (int64_t i = 0; i < kBlock; ++i) acc[i] += q[d] * block[d * kBlock + i];
    const int64_t m = std::min(kBlock, n - b * kBlock);
    for (int64_t i = 0; i < m; ++i) {
      probs[b * kBlock + i] = acc[i] * scale;
      max_score = std::max(max_score, acc[i] * scale);
    }
  }
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += probs[j] = std::exp(probs[j] - max_score);
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j) probs[j] *= inv;
}

void HeadKv::weighted_values(const float* probs, int64_t n, float* out) const {
  const int64_t hd = head_dim_;
  std::fill(out, out + hd, 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    const float p = probs[j];
    const float* v = values_.data() + j * hd;
    for (int64_t d = 0; d < hd; ++d) out[d] += p * v[d];
  }
}

}  // namespace sieve
