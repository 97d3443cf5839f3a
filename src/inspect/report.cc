#include "inspect/report.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <map>

namespace sieve::inspect {

using json = nlohmann::json;

namespace {

std::string printf_string(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string printf_string(const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

// Printable token text: newlines and quotes escaped, as JSON writes them.
std::string shown(const std::string& text) { return json(text).dump(); }

}  // namespace

json report_json(const InspectReport& r, const Redundancy* redundancy, bool with_maps) {
  const InspectOptions& o = r.options;
  json j = {{"tokens", r.tokens.size()},
            {"options",
             {{"block", o.block},
              {"first_tokens", o.first_tokens},
              {"sink_threshold", o.sink_threshold},
              {"sink_min_rows", o.sink_min_rows},
              {"dormant_mass", o.dormant_mass},
              {"dormant_output", o.dormant_output},
              {"pattern_budget", o.patterns ? json(o.pattern_budget) : json(nullptr)}}},
            {"heads", json::array()},
            {"layers", json::array()},
            {"layer_similarity", r.layer_similarity}};
  for (size_t i = 0; i < r.heads.size(); ++i) {
    const HeadReport& h = r.heads[i];
    json sinks = json::array();
    for (const SinkToken& s : h.sinks)
      sinks.push_back({{"position", s.position}, {"token", s.token}, {"text", s.text}, {"mean_attention", s.mean_attention}});
    json patterns = json::object();
    for (const PatternRecall& p : h.patterns) patterns[p.pattern] = {{"recall", p.recall}, {"candidate", p.candidate}};
    json head = {{"layer", h.layer},
                 {"head", h.head},
                 {"first_token", h.first_token},
                 {"first_tokens", h.first_tokens},
                 {"output_norm", h.output_norm},
                 {"output_ratio", h.output_ratio},
                 {"dormant", h.dormant},
                 {"sinks", sinks},
                 {"value_norm_first", h.value_norm_first},
                 {"value_norm_median", h.value_norm_median},
                 {"patterns", patterns}};
    if (with_maps) head["map"] = r.maps[i];
    j["heads"].push_back(head);
  }
  for (size_t l = 0; l < r.layers.size(); ++l) {
    const LayerReport& lr = r.layers[l];
    json layer = {{"layer", l},
                  {"prompt_similarity",
                   {{"attention", lr.similarity.attention}, {"mlp", lr.similarity.mlp}, {"layer", lr.similarity.layer}}},
                  {"residual_first", lr.residual_first},
                  {"residual_max_other", lr.residual_max_other},
                  {"residual_median_other", lr.residual_median_other}};
    if (redundancy) {
      const BlockSimilarity& s = redundancy->layers[l];
      layer["calibration_similarity"] = {{"attention", s.attention}, {"mlp", s.mlp}, {"layer", s.layer}};
    }
    j["layers"].push_back(layer);
  }
  if (redundancy) {
    j["calibration"] = {{"samples", redundancy->samples}, {"tokens", redundancy->tokens}};
    json attention = json::array(), joint = json::array();
    for (const RankedBlock& b : drop_order(*redundancy, false)) attention.push_back(b.layer);
    for (const RankedBlock& b : drop_order(*redundancy, true))
      joint.push_back({{"layer", b.layer}, {"block", b.mlp ? "mlp" : "attention"}});
    j["drop_order"] = {{"attention", attention}, {"joint", joint}};
  }
  return j;
}

std::string report_summary(const InspectReport& r, const Redundancy* redundancy) {
  std::string s;
  const int64_t n_layers = static_cast<int64_t>(r.layers.size());
  const double heads = static_cast<double>(r.heads.size());
  double first = 0;
  const HeadReport* strongest = &r.heads[0];
  for (const HeadReport& h : r.heads) {
    first += h.first_token;
    if (h.first_token > strongest->first_token) strongest = &h;
  }
  s += printf_string("%zu tokens, %lld layers x %lld heads\n", r.tokens.size(), (long long)n_layers, (long long)r.n_heads);
  s += printf_string("sinks: the first token draws %.1f%% of the attention on average over heads and queries; most in "
                     "L%lldH%lld (%.1f%%)\n",
                     100 * first / heads, (long long)strongest->layer, (long long)strongest->head,
                     100 * strongest->first_token);
  // Later sinks: each token with the heads where it is one.
  std::map<int64_t, std::pair<std::string, std::vector<std::string>>> later;
  for (const HeadReport& h : r.heads)
    for (const SinkToken& t : h.sinks)
      if (t.position > 0)
        later[t.position].first = t.text,
        later[t.position].second.push_back(printf_string("L%lldH%lld %.2f", (long long)h.layer, (long long)h.head,
                                                         t.mean_attention));
  if (later.empty()) {
    s += printf_string("  no later token draws a mean attention above %g in any head\n", r.options.sink_threshold);
  } else {
    for (const auto& [position, found] : later) {
      s += printf_string("  token %lld %s: a sink in %zu heads (", (long long)position, shown(found.first).c_str(),
                         found.second.size());
      for (size_t i = 0; i < found.second.size() && i < 4; ++i) s += (i ? ", " : "") + found.second[i];
      s += found.second.size() > 4 ? ", ...)\n" : ")\n";
    }
  }
  std::string dormant;
  int64_t n_dormant = 0;
  for (const HeadReport& h : r.heads)
    if (h.dormant) {
      ++n_dormant;
      dormant += printf_string(" L%lldH%lld", (long long)h.layer, (long long)h.head);
    }
  s += printf_string("dormant heads: %lld of %zu%s%s\n", (long long)n_dormant, r.heads.size(), n_dormant ? ":" : "",
                     dormant.c_str());
  double drain = 0;
  for (const HeadReport& h : r.heads) drain += h.value_norm_median > 0 ? h.value_norm_first / h.value_norm_median : 0;
  s += printf_string("value drains: the first token's value norm is %.2fx the median token's (mean over heads)\n",
                     drain / heads);
  int64_t peak_layer = 0;
  for (int64_t l = 0; l < n_layers; ++l)
    if (r.layers[l].residual_first / r.layers[l].residual_median_other >
        r.layers[peak_layer].residual_first / r.layers[peak_layer].residual_median_other)
      peak_layer = l;
  s += printf_string("residual peaks: the first token's residual norm reaches %.1fx the median token's (after layer %lld)\n",
                     r.layers[peak_layer].residual_first / r.layers[peak_layer].residual_median_other,
                     (long long)peak_layer);
  if (!r.heads.empty() && !r.heads[0].patterns.empty()) {
    std::map<std::string, int64_t> best;
    double recall = 0;
    for (const HeadReport& h : r.heads) {
      const auto top = std::max_element(h.patterns.begin(), h.patterns.end(),
                                        [](const PatternRecall& a, const PatternRecall& b) { return a.recall < b.recall; });
      ++best[top->pattern];
      recall += top->recall;
    }
    s += printf_string("head patterns at %lld keys per query (highest recall):", (long long)r.options.pattern_budget);
    for (const auto& [name, count] : best) s += printf_string(" %s %lld", name.c_str(), (long long)count);
    s += printf_string("; mean best recall %.3f\n", recall / heads);
  }
  if (redundancy) {
    s += printf_string("redundancy (cosine of block input and output, %lld calibration tokens):\n",
                       (long long)redundancy->tokens);
    for (int64_t l = 0; l < n_layers; ++l) {
      const BlockSimilarity& b = redundancy->layers[l];
      s += printf_string("  layer %lld: attention %.4f  mlp %.4f  layer %.4f\n", (long long)l, b.attention, b.mlp, b.layer);
    }
    s += "  drop order (--drop-attn-layers N drops the first N):";
    for (const RankedBlock& b : drop_order(*redundancy, false)) s += printf_string(" %lld", (long long)b.layer);
    s += "\n  joint drop order (--drop-layers N):";
    for (const RankedBlock& b : drop_order(*redundancy, true))
      s += printf_string(" %s%lld", b.mlp ? "mlp" : "attn", (long long)b.layer);
    s += "\n";
  }
  int64_t a = 0, b = 1;
  for (int64_t i = 0; i + 1 < n_layers; ++i)
    if (r.layer_similarity[i][i + 1] > r.layer_similarity[a][b]) a = i, b = i + 1;
  if (n_layers > 1)
    s += printf_string("most similar adjacent attention maps: layers %lld and %lld (cosine %.3f)\n", (long long)a,
                       (long long)b, r.layer_similarity[a][b]);
  return s;
}

}  // namespace sieve::inspect
