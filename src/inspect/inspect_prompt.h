#pragma once
// sieve inspect on one prompt: exact attention through the probe
// (attention_probe.h) and the residual stream through the observer
// (residual_probe.h), turned into findings per head and per layer.
#include <cstdint>
#include <string>
#include <vector>

#include "inspect/attention_probe.h"
#include "inspect/residual_probe.h"
#include "runtime/transformer.h"

namespace sieve::inspect {

struct InspectOptions {
  int64_t block = 32;           // tokens per map pixel
  int64_t first_tokens = 4;     // StreamingLLM's sinks
  double sink_threshold = 0.1;  // a key's mean attention above which it is a sink (ACT's threshold)
  int64_t sink_min_rows = 64;   // keys seen by fewer queries are not judged (their mean rests on a few)
  double dormant_mass = 0.9;    // dormant: at least this mean attention on the first tokens ...
  double dormant_output = 0.5;  // ... and an output norm at most this share of the layer's mean head
  bool patterns = true;
  int64_t pattern_budget = 1024;  // keys per query of MInference's candidates
  KvType kv_type = KvType::F32;
};

struct SinkToken {
  int64_t position = 0;
  int32_t token = 0;
  std::string text;
  double mean_attention = 0;  // over the queries that see it
};

struct PatternRecall {
  std::string pattern;  // a_shape, vertical_slash, block_sparse
  double recall = 0;    // the best candidate's share of the head's attention
  std::string candidate;  // its parameters
};

struct HeadReport {
  int64_t layer = 0, head = 0;
  double first_token = 0;    // mean attention on token 0
  double first_tokens = 0;   // mean attention on the first `first_tokens` tokens
  double output_norm = 0;    // mean ||W_O^h o_h||
  double output_ratio = 0;   // output_norm / the mean over the layer's heads
  bool dormant = false;
  std::vector<SinkToken> sinks;  // every key above the threshold, token 0 included
  double value_norm_first = 0;   // ||W_O^h v_0||
  double value_norm_median = 0;  // median over tokens 1..
  std::vector<PatternRecall> patterns;
};

struct LayerReport {
  BlockSimilarity similarity;  // on this prompt
  double residual_first = 0;   // ||x_0|| after the layer
  double residual_max_other = 0, residual_median_other = 0;
};

struct InspectReport {
  std::vector<int32_t> tokens;
  InspectOptions options;
  int64_t blocks = 0;  // map side, in pixels
  std::vector<HeadReport> heads;    // [layer * n_heads + head]
  std::vector<LayerReport> layers;  // per layer with attention
  std::vector<std::vector<double>> maps;  // per head, blocks x blocks, row means
  std::vector<std::vector<double>> layer_similarity;  // [l][l']: cosine of the maps, mean over heads
  int64_t n_heads = 0;
};

InspectReport inspect_prompt(Transformer& tf, const std::vector<int32_t>& tokens, const InspectOptions& options);

}  // namespace sieve::inspect
