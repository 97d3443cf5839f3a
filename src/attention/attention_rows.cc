// Compiled once per instruction set by Highway (foreach_target), chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/attention_rows.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "attention/attention_rows.h"

#include <algorithm>
#include <cmath>

#include "attention/exp_row.h"

HWY_BEFORE_NAMESPACE();
namespace sieve {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// out[b * 16 + i] = q . key (b, i) * scale, for blocks of 16 keys stored
// dimension-major: 16 independent sums per block, in vectors.
void BlockScores(const float* keys_t, const float* q, int64_t hd, int64_t blocks, float scale, float* out) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vscale = hn::Set(df, scale);
  for (int64_t b = 0; b < blocks; ++b) {
    const float* block = keys_t + b * 16 * hd;
    for (int64_t v = 0; v < 16; v += N) {
      auto acc = hn::Zero(df);
      for (int64_t d = 0; d < hd; ++d) acc = hn::MulAdd(hn::Set(df, q[d]), hn::LoadU(df, block + d * 16 + v), acc);
      hn::StoreU(hn::Mul(acc, vscale), df, out + b * 16 + v);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(BlockScores);

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
  const int64_t full = n / kBlock, rest = n - full * kBlock;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  HWY_DYNAMIC_DISPATCH(BlockScores)(keys_t_.data(), q, head_dim_, full, scale, probs);
  if (rest > 0) {  // the last, partial block through a scratch row (its unused keys are stale)
    float tail[kBlock];
    HWY_DYNAMIC_DISPATCH(BlockScores)(keys_t_.data() + full * kBlock * head_dim_, q, head_dim_, 1, scale, tail);
    std::copy_n(tail, rest, probs + full * kBlock);
  }
  const float top = row_max(probs, n);
  const float inv = static_cast<float>(1.0 / exp_shifted(probs, n, top));
  for (int64_t j = 0; j < n; ++j) probs[j] *= inv;
}

void HeadKv::weighted_values(const float* probs, int64_t n, float* out) const {
  std::fill(out, out + head_dim_, 0.0f);
  for (int64_t j = 0; j < n; ++j) add_scaled(values_.data() + j * head_dim_, head_dim_, probs[j], out);
}

}  // namespace sieve
#endif  // HWY_ONCE
