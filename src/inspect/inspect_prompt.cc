#include "inspect/inspect_prompt.h"

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "util/error.h"

namespace sieve::inspect {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

std::vector<PatternRecall> best_per_pattern(const std::vector<PatternCandidate>& candidates) {
  std::vector<PatternRecall> best;
  for (const PatternCandidate& c : candidates) {
    const std::string name = head_pattern_name(c.choice.pattern);
    auto it = std::find_if(best.begin(), best.end(), [&](const PatternRecall& r) { return r.pattern == name; });
    if (it == best.end()) it = best.insert(best.end(), PatternRecall{name, -1, ""});
    if (c.choice.recall > it->recall) {
      it->recall = c.choice.recall;
      it->candidate = c.choice.describe();
    }
  }
  return best;
}

}  // namespace

InspectReport inspect_prompt(Transformer& tf, const std::vector<int32_t>& tokens, const InspectOptions& options) {
  const Model& model = tf.model();
  const ModelConfig& c = model.config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (c.attention_layers() != c.n_layers) throw Error("sieve inspect reads a model with every block in place");
  if (n < 2) throw Error("the prompt to inspect needs at least 2 tokens");
  if (n % tf.max_batch_tokens() == 1)
    throw Error("the prompt's last batch would hold a single token; use another length");

  ProbeOptions po;
  po.prompt_length = n;
  po.block = options.block;
  po.first_tokens = options.first_tokens;
  po.search_patterns = options.patterns;
  po.patterns.budget = options.pattern_budget;
  AttentionProbe probe(model, po);
  ResidualProbe residual(c.n_layers, c.hidden, true);
  KvCache cache(tf.cache_shape(options.kv_type));
  tf.set_observer(&residual);
  try {
    tf.forward(tokens.data(), n, cache, nullptr, false, &probe);
  } catch (...) {
    tf.set_observer(nullptr);
    throw;
  }
  tf.set_observer(nullptr);

  InspectReport r;
  r.tokens = tokens;
  r.options = options;
  r.blocks = probe.map_blocks();
  r.n_heads = c.n_heads;
  const Tokenizer& tok = model.tokenizer();
  for (int64_t l = 0; l < c.n_layers; ++l) {
    double layer_output = 0;
    for (int64_t h = 0; h < c.n_heads; ++h) layer_output += probe.head(l, h).output_norm / static_cast<double>(n);
    layer_output /= static_cast<double>(c.n_heads);
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const HeadProbe& hp = probe.head(l, h);
      HeadReport hr;
      hr.layer = l;
      hr.head = h;
      const double rows = static_cast<double>(hp.rows);
      hr.first_token = hp.first_token / rows;
      hr.first_tokens = hp.first_tokens / rows;
      hr.output_norm = hp.output_norm / rows;
      hr.output_ratio = layer_output > 0 ? hr.output_norm / layer_output : 0;
      hr.dormant = hr.first_tokens >= options.dormant_mass && hr.output_ratio <= options.dormant_output;
      for (int64_t j = 0; j < n; ++j) {
        const int64_t seeing = n - j;
        if (seeing < std::min(options.sink_min_rows, n)) break;
        const double mean = hp.mass[j] / static_cast<double>(seeing);
        if (mean > options.sink_threshold) hr.sinks.push_back({j, tokens[j], tok.decode({tokens[j]}), mean});
      }
      const std::vector<double> values = probe.value_norms(cache, l, h);
      hr.value_norm_first = values[0];
      hr.value_norm_median = median({values.begin() + 1, values.end()});
      hr.patterns = best_per_pattern(hp.patterns);
      r.heads.push_back(std::move(hr));
      r.maps.push_back(hp.map);
    }
    LayerReport lr;
    lr.similarity = residual.similarity(l);
    const std::vector<double>& norms = residual.residual_norms(l);
    lr.residual_first = norms[0];
    lr.residual_max_other = *std::max_element(norms.begin() + 1, norms.end());
    lr.residual_median_other = median({norms.begin() + 1, norms.end()});
    r.layers.push_back(lr);
  }
  r.layer_similarity.assign(static_cast<size_t>(c.n_layers), std::vector<double>(static_cast<size_t>(c.n_layers)));
  for (int64_t a = 0; a < c.n_layers; ++a)
    for (int64_t b = 0; b < c.n_layers; ++b) {
      double sum = 0;
      for (int64_t h = 0; h < c.n_heads; ++h) {
        const std::vector<double>& ma = r.maps[a * c.n_heads + h];
        sum += kernels::cosine_similarity(ma.data(), r.maps[b * c.n_heads + h].data(), static_cast<int64_t>(ma.size()));
      }
      r.layer_similarity[a][b] = sum / static_cast<double>(c.n_heads);
    }
  return r;
}

}  // namespace sieve::inspect
