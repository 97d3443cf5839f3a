#include "inspect/residual_probe.h"

#include <cmath>

#include "kernels/ops.h"

namespace sieve::inspect {

ResidualProbe::ResidualProbe(int64_t n_layers, int64_t hidden, bool keep_norms)
    : hidden_(hidden), keep_norms_(keep_norms), sums_(static_cast<size_t>(n_layers)),
      norms_(static_cast<size_t>(n_layers)) {}

void ResidualProbe::block_input(int64_t layer, Block block, const float* x, int64_t n) {
  (block == Block::Attention ? layer_in_ : mlp_in_).assign(x, x + n * hidden_);
}

void ResidualProbe::block_output(int64_t layer, Block block, const float* x, int64_t n) {
  BlockSimilarity& s = sums_[layer];
  for (int64_t i = 0; i < n; ++i) {
    const float* out = x + i * hidden_;
    const double from_layer_input = kernels::cosine_similarity(layer_in_.data() + i * hidden_, out, hidden_);
    if (block == Block::Attention) {
      s.attention += from_layer_input;
      continue;
    }
    s.mlp += kernels::cosine_similarity(mlp_in_.data() + i * hidden_, out, hidden_);
    s.layer += from_layer_input;
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

