#include "inspect/residual_probe.h"

#include <cmath>

namespace sieve::inspect {

double cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

ResidualProbe::ResidualProbe(int64_t n_layers, int64_t hidden, bool keep_norms)
    : hidden_(hidden), keep_norms_(keep_norms), sums_(static_cast<size_t>(n_layers)),
      norms_(static_cast<size_t>(n_layers)) {}

void ResidualProbe::block_input(int64_t layer, Block block, const float* x, int64_t n) {
  std::vector<float>& keep = block == Block::Attention ? layer_in_ : block_in_;
  keep.assign(x, x + n * hidden_);
  if (block == Block::Attention) block_in_ = layer_in_;
}

void ResidualProbe::block_output(int64_t layer, Block block, const float* x, int64_t n) {
  BlockSimilarity& s = sums_[layer];
  for (int64_t i = 0; i < n; ++i) {
    const float* out = x + i * hidden_;
    const double c = cosine(block_in_.data() + i * hidden_, out, hidden_);
    if (block == Block::Attention) {
      s.attention += c;
      continue;
    }
    s.mlp += c;
    s.layer += cosine(layer_in_.data() + i * hidden_, out, hidden_);
    if (keep_norms_) {
      double sq = 0;
      for (int64_t d = 0; d < hidden_; ++d) sq += static_cast<double>(out[d]) * out[d];
      norms_[layer].push_back(std::sqrt(sq));
    }
  }
  if (block == Block::Mlp && layer + 1 == static_cast<int64_t>(sums_.size())) tokens_ += n;
}

BlockSimilarity ResidualProbe::similarity(int64_t layer) const {
  const double n = tokens_ ? static_cast<double>(tokens_) : 1.0;
  const BlockSimilarity& s = sums_[layer];
  return {s.attention / n, s.mlp / n, s.layer / n};
}

}  // namespace sieve::inspect

