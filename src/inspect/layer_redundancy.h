#pragma once
// Layer redundancy as "What Matters in Transformers? Not All Attention is
// Needed" (He et al., 2024; reference code CASE-Lab-UMD/LLM-Drop,
// layer_drop.py) measures it: over a calibration set, the mean cosine
// similarity between each block's input X and output X + block(norm(X)),
// every token of every sample counted alike; a block's importance is one
// minus it. The paper drops, in one shot, the blocks of least importance:
// attention blocks alone (Attention Drop), or attention and MLP blocks from
// one ranking of both (Joint Layer Drop), both measured on the whole model.
#include <cstdint>
#include <vector>

#include "inspect/residual_probe.h"
#include "runtime/transformer.h"

namespace sieve::inspect {

struct Redundancy {
  std::vector<BlockSimilarity> layers;  // mean cosines per layer
  int64_t samples = 0, tokens = 0;
};

// A calibration set: `samples` windows of [BOS] + length - 1 tokens of
// `hay` (a tokenized text, no BOS), spread evenly over it.
std::vector<std::vector<int32_t>> haystack_windows(const std::vector<int32_t>& hay, int32_t bos, int64_t samples,
                                                   int64_t length);

// Runs each sample (token ids, BOS first) through the model with exact
// attention and averages the cosines over every token.
Redundancy measure_redundancy(Transformer& tf, const std::vector<std::vector<int32_t>>& samples,
                              KvType kv_type = KvType::F16);

// Blocks from least important (highest similarity) to most: attention
// blocks alone, or attention and MLP blocks in one ranking (joint).
struct RankedBlock {
  int64_t layer = 0;
  bool mlp = false;
  double similarity = 0;
};
std::vector<RankedBlock> drop_order(const Redundancy& r, bool joint);

struct DropChoice {
  std::vector<int64_t> attention, mlp;  // layers, ascending
};
// The n most redundant attention blocks (joint = false), or the n most
// redundant among attention and MLP blocks together (joint = true).
DropChoice choose_drop(const Redundancy& r, int64_t n, bool joint);

}  // namespace sieve::inspect
