#pragma once
// The residual-stream half of sieve inspect, as What Matters in
// Transformers measures redundancy: for each layer's attention block, MLP
// block and the whole layer, the cosine similarity between the residual
// stream going in (X) and coming out (X + block(norm(X))), per token,
// summed over every token the probe sees (a calibration set's). Optionally
// the norm of every token's residual state after each layer
// (Active-Dormant's residual peaks).
#include <cstdint>
#include <vector>

#include "runtime/block_observer.h"

namespace sieve::inspect {

struct BlockSimilarity {
  double attention = 0, mlp = 0, layer = 0;  // sums of per-token cosines
};

class ResidualProbe : public BlockObserver {
 public:
  ResidualProbe(int64_t n_layers, int64_t hidden, bool keep_norms);

  void block_input(int64_t layer, Block block, const float* x, int64_t n) override;
  void block_output(int64_t layer, Block block, const float* x, int64_t n) override;

  int64_t tokens() const { return tokens_; }
  // Mean cosine similarity over the tokens seen, per layer.
  BlockSimilarity similarity(int64_t layer) const;
  // ||x|| of each token seen, after layer `layer`'s MLP (keep_norms).
  const std::vector<double>& residual_norms(int64_t layer) const { return norms_[layer]; }

 private:
  int64_t hidden_;
  bool keep_norms_;
  int64_t tokens_ = 0;
  std::vector<BlockSimilarity> sums_;
  std::vector<std::vector<double>> norms_;
  std::vector<float> layer_in_, mlp_in_;  // the step's rows going into the layer (its attention) and its MLP
};

}  // namespace sieve::inspect
