#include "attention/prefill/minference/head_patterns.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "util/error.h"
#include "util/json_depth.h"
#include "util/text_file.h"

namespace sieve {

std::string HeadPatternChoice::describe() const {
  char buf[96];
  switch (pattern) {
    case HeadPattern::kDense: return "dense";
    case HeadPattern::kAShape: std::snprintf(buf, sizeof buf, "A(%lld,%lld)", (long long)vertical, (long long)slash); break;
    case HeadPattern::kVerticalSlash:
      std::snprintf(buf, sizeof buf, "VS(%lld,%lld)", (long long)vertical, (long long)slash);
      break;
    case HeadPattern::kBlockSparse: std::snprintf(buf, sizeof buf, "BS(%lld)", (long long)topk); break;
  }
  return buf;
}
namespace {

using nlohmann::json;

// The reference kernel's Block-Sparse top-k (block_sparse_kernel: topk = 100).
constexpr int64_t kReferenceBlockTopK = 100;

struct Where {
  const std::string& file;
  int64_t layer, head;
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("MInference pattern file '" + file + "', layer " + std::to_string(layer) + " head " +
                std::to_string(head) + ": " + what);
  }
};

int64_t size_field(const json& head, const char* key, int64_t min, const Where& w) {
  if (!head.contains(key)) w.fail(std::string("missing \"") + key + "\"");
  const json& v = head.at(key);
  if (!v.is_number_integer()) w.fail(std::string("\"") + key + "\" must be an integer");
  const int64_t n = v.get<int64_t>();
  if (n < min) w.fail(std::string("\"") + key + "\" must be >= " + std::to_string(min));
  return n;
}

double optional_number(const json& head, const char* key) {
  return head.contains(key) && head.at(key).is_number() ? head.at(key).get<double>()
                                                         : std::numeric_limits<double>::quiet_NaN();
}

HeadPatternChoice parse_head(const json& head, const Where& w) {
  if (!head.is_object()) w.fail("expected an object {\"pattern\": ..., sizes}");
  if (!head.contains("pattern") || !head.at("pattern").is_string()) w.fail("missing \"pattern\"");
  const std::string name = head.at("pattern").get<std::string>();
  HeadPatternChoice c;
  if (name == "dense") {
    c.pattern = HeadPattern::kDense;
  } else if (name == "a_shape") {
    c.pattern = HeadPattern::kAShape;
    c.vertical = size_field(head, "init", 0, w);
    c.slash = size_field(head, "local", 1, w);
  } else if (name == "vertical_slash") {
    c.pattern = HeadPattern::kVerticalSlash;
    c.vertical = size_field(head, "vertical", 0, w);
    c.slash = size_field(head, "slash", 1, w);
  } else if (name == "block_sparse") {
    c.pattern = HeadPattern::kBlockSparse;
    c.topk = size_field(head, "topk", 1, w);
  } else {
    w.fail("unknown pattern '" + name + "' (valid: dense, a_shape, vertical_slash, block_sparse)");
  }
  c.recall = optional_number(head, "recall");
  c.error = optional_number(head, "error");
  return c;
}

// The reference's entry: [type, vertical_size, slash_size, score].
HeadPatternChoice parse_reference_head(const json& e, const Where& w) {
  if (!e.is_array() || e.size() < 3 || !e[0].is_string() || !e[1].is_number_integer() || !e[2].is_number_integer())
    w.fail("expected [type, vertical_size, slash_size, score]");
  const std::string type = e[0].get<std::string>();
  HeadPatternChoice c;
  const int64_t v = e[1].get<int64_t>(), s = e[2].get<int64_t>();
  if (v < 0 || s < 0) w.fail("sizes must be >= 0");
  if (type == "vertical_and_slash") {
    c.pattern = HeadPattern::kVerticalSlash;
    c.vertical = v;
    c.slash = std::max<int64_t>(s, 1);
  } else if (type == "stream_llm") {
    c.pattern = HeadPattern::kAShape;
    c.vertical = v;
    c.slash = std::max<int64_t>(s, 1);
  } else if (type == "block_sparse") {
    c.pattern = HeadPattern::kBlockSparse;
    c.topk = kReferenceBlockTopK;
  } else {
    w.fail("unknown type '" + type + "' (valid: vertical_and_slash, stream_llm, block_sparse)");
  }
  return c;
}

}  // namespace

const char* head_pattern_name(HeadPattern p) {
  switch (p) {
    case HeadPattern::kDense: return "dense";
    case HeadPattern::kAShape: return "a_shape";
    case HeadPattern::kVerticalSlash: return "vertical_slash";
    case HeadPattern::kBlockSparse: return "block_sparse";
  }
  return "?";
}

HeadPatternChoice default_vertical_slash() {
  HeadPatternChoice c;
  c.pattern = HeadPattern::kVerticalSlash;
  c.vertical = 1000;  // minference_forward.py: best_pattern.get(head, ("vertical_and_slash", 1000, 6096, 1))
  c.slash = 6096;
  return c;
}

namespace {

// The parsed document as a config; throws sieve::Error naming the layer and
// head, or json::exception on a field of the wrong type.
PatternConfig interpret(const json& doc, const std::string& name, const ModelConfig& model) {
  PatternConfig cfg;
  cfg.n_layers = model.attention_layers();
  cfg.n_heads = model.n_heads;
  const bool reference = doc.is_array();
  const json* layers = &doc;
  if (!reference) {
    if (!doc.is_object() || doc.value("format", "") != "sieve-minference-patterns")
      throw Error("MInference pattern file '" + name +
                  "': expected {\"format\": \"sieve-minference-patterns\", ...} or the reference's list of layers");
    if (doc.value("version", 0) != 1)
      throw Error("MInference pattern file '" + name + "': unsupported version (this build reads version 1)");
    if (!doc.contains("layers") || !doc.at("layers").is_array())
      throw Error("MInference pattern file '" + name + "': missing \"layers\"");
    layers = &doc.at("layers");
    if (doc.contains("search")) cfg.search_json = doc.at("search").dump();
  }
  if (static_cast<int64_t>(layers->size()) != model.attention_layers())
    throw Error("MInference pattern file '" + name + "' has " + std::to_string(layers->size()) +
                " layers; the model has " + std::to_string(model.attention_layers()));
  for (int64_t l = 0; l < model.attention_layers(); ++l) {
    const json& layer = (*layers)[static_cast<size_t>(l)];
    std::vector<HeadPatternChoice> heads;
    for (int64_t h = 0; h < model.n_heads; ++h) {
      const Where w{name, l, h};
      if (reference) {
        if (!layer.is_object()) w.fail("expected an object of heads");
        const std::string key = std::to_string(h);
        heads.push_back(layer.contains(key) ? parse_reference_head(layer.at(key), w) : default_vertical_slash());
      } else {
        if (!layer.is_array() || static_cast<int64_t>(layer.size()) != model.n_heads)
          w.fail("expected a list of " + std::to_string(model.n_heads) + " heads (the model's query heads)");
        heads.push_back(parse_head(layer[static_cast<size_t>(h)], w));
      }
    }
    cfg.layers.push_back(std::move(heads));
  }
  return cfg;
}

}  // namespace

PatternConfig PatternConfig::parse(const std::string& text, const std::string& name, const ModelConfig& model) {
  if (json_nesting(text) > kMaxFileJsonDepth)  // the "search" object is kept as dump(), which recurses
    throw Error("MInference pattern file '" + name + "': nests deeper than " + std::to_string(kMaxFileJsonDepth) +
                " levels");
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {  // parse errors, and numbers past double's range (out_of_range)
    throw Error("MInference pattern file '" + name + "': not JSON (" + e.what() + ")");
  }
  try {
    return interpret(doc, name, model);
  } catch (const json::exception& e) {  // a field of the wrong type where the checks below do not look
    throw Error("MInference pattern file '" + name + "': " + e.what());
  }
}

PatternConfig PatternConfig::load(const std::string& path, const ModelConfig& model) {
  return parse(read_text_file(path), path, model);
}

std::string PatternConfig::to_json() const {
  json doc = {{"format", "sieve-minference-patterns"}, {"version", 1},
              {"model", {{"layers", n_layers}, {"heads", n_heads}}}};
  json all = json::array();
  for (const auto& layer : layers) {
    json heads = json::array();
    for (const HeadPatternChoice& c : layer) {
      json h = {{"pattern", head_pattern_name(c.pattern)}};
      if (c.pattern == HeadPattern::kAShape) h["init"] = c.vertical, h["local"] = c.slash;
      if (c.pattern == HeadPattern::kVerticalSlash) h["vertical"] = c.vertical, h["slash"] = c.slash;
      if (c.pattern == HeadPattern::kBlockSparse) h["topk"] = c.topk;
      if (std::isfinite(c.recall)) h["recall"] = std::round(c.recall * 1e4) / 1e4;
      if (std::isfinite(c.error)) h["error"] = std::round(c.error * 1e4) / 1e4;
      heads.push_back(h);
    }
    all.push_back(heads);
  }
  doc["layers"] = all;
  if (!search_json.empty()) doc["search"] = json::parse(search_json);
  return doc.dump(1) + "\n";
}

void PatternConfig::save(const std::string& path) const {
  std::ofstream f(path);
  f << to_json();
  if (!f) throw Error("cannot write '" + path + "'");
}

}  // namespace sieve
