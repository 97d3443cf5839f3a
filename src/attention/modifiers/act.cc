#include "attention/modifiers/act.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "util/error.h"
#include "util/json_depth.h"
#include "util/spec.h"

namespace sieve {

using json = nlohmann::json;

bool act_layer_eligible(int64_t layer, int64_t n_layers) { return layer >= 2 && layer < n_layers - 1; }

std::set<std::pair<int64_t, int64_t>> parse_act_heads(const std::string& text, const std::string& path,
                                                      const ModelConfig& config) {
  if (json_nesting(text) > kMaxFileJsonDepth)
    throw Error("ACT head file '" + path + "': nests deeper than " + std::to_string(kMaxFileJsonDepth) + " levels");
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("ACT head file '" + path + "': " + e.what());
  }
  const json* version = doc.is_object() && doc.contains("version") ? &doc.at("version") : nullptr;
  if (!version || !version->is_number_integer() || version->get<int64_t>() != 1 || !doc.contains("heads") ||
      !doc.at("heads").is_array())
    throw Error("ACT head file '" + path + "': expected {\"version\": 1, \"heads\": [[layer, head], ...]}");
  std::set<std::pair<int64_t, int64_t>> heads;
  const json& list = doc.at("heads");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& h = list[i];
    // Named by its index: dumping an arbitrary value could recurse as deep as the file nests.
    if (!h.is_array() || h.size() != 2 || !h[0].is_number_integer() || !h[1].is_number_integer())
      throw Error("ACT head file '" + path + "': heads[" + std::to_string(i) + "] is not [layer, head]");
    const int64_t layer = h[0].get<int64_t>(), head = h[1].get<int64_t>();
    if (layer < 0 || layer >= config.attention_layers() || head < 0 || head >= config.n_heads)
      throw Error("ACT head file '" + path + "': head " + h.dump() + " is outside the model (" +
                  std::to_string(config.attention_layers()) + " attention layers, " + std::to_string(config.n_heads) +
                  " heads)");
    heads.insert({layer, head});
  }
  return heads;
}

std::set<std::pair<int64_t, int64_t>> load_act_heads(const std::string& path, const ModelConfig& config) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("ACT head file '" + path + "': cannot open");
  std::ostringstream text;
  text << f.rdbuf();
  return parse_act_heads(text.str(), path, config);
}

void save_act_heads(const std::string& path, const std::set<std::pair<int64_t, int64_t>>& heads,
                    const std::string& search_json) {
  json doc = {{"version", 1}, {"heads", json::array()}};
  for (const auto& [layer, head] : heads) doc["heads"].push_back({layer, head});
  if (!search_json.empty()) doc["search"] = json::parse(search_json);
  std::ofstream f(path);
  f << doc.dump(1) << "\n";
  if (!f) throw Error("cannot write '" + path + "'");
}

std::vector<int64_t> act_sinks(const std::vector<double>& mass, const std::vector<int64_t>& seeing, int64_t n,
                               double threshold) {
  std::vector<int64_t> sinks;
  for (int64_t j = 0; j < n; ++j)
    if (seeing[j] > 0 && mass[j] / static_cast<double>(seeing[j]) > threshold) sinks.push_back(j);
  if (!sinks.empty()) sinks.erase(sinks.begin());  // the reference's indices[1:]: the first sink stays
  return sinks;
}

void act_calibrate_row(float* probs, int64_t n, const std::vector<int64_t>& sinks, double beta) {
  double on_sinks = 0;
  for (int64_t s : sinks) {
    if (s >= n) break;
    on_sinks += probs[s];
  }
  const double rest = 1.0 - on_sinks;
  // A row with nothing outside its sinks has nowhere to move attention (the
  // reference divides by zero there); it stays as it is.
  if (on_sinks <= 0 || rest <= 1e-12) return;
  const float keep = static_cast<float>(beta);
  const float grow = static_cast<float>(1.0 + (1.0 - beta) * on_sinks / rest);
  size_t next = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (next < sinks.size() && sinks[next] == j) {
      probs[j] *= keep;
      ++next;
    } else {
      probs[j] *= grow;
    }
  }
}

ActPolicy::ActPolicy(std::unique_ptr<AttentionPolicy> inner, ActOptions options)
    : inner_(std::move(inner)), options_(std::move(options)) {
  if (inner_->rewrites_cache())
    throw Error("attention policy '" + inner_->spec() +
                "+act': ACT keeps per-slot attention statistics, which a policy that evicts or compacts the "
                "cache would scramble; use it with a policy that keeps every slot");
  for (const auto& [layer, head] : options_.heads) {
    HeadState st;
    st.layer = layer;
    st.head = head;
    heads_.push_back(std::move(st));
  }
}

std::unique_ptr<AttentionPolicy> ActPolicy::from_spec(Spec& spec, const ModelConfig& config,
                                                      std::unique_ptr<AttentionPolicy> inner) {
  ActOptions o;
  o.beta = spec.take_double("beta", o.beta, 0, 1);
  o.threshold = spec.take_double("threshold", o.threshold, 0, 1);
  const std::string config_path = spec.take_string("config", "");
  const std::string heads = spec.take_string("heads", config_path.empty() ? "all" : "");
  spec.finish({"beta", "threshold", "config", "heads"});
  if (!config_path.empty() && !heads.empty())
    throw Error("attention modifier 'act': give config=FILE or heads=all, not both");
  if (!config_path.empty()) {
    o.heads = load_act_heads(config_path, config);
    o.source = "config=" + config_path;
  } else if (heads == "all") {
    for (int64_t l = 0; l < config.attention_layers(); ++l)
      if (act_layer_eligible(l, config.attention_layers()))
        for (int64_t h = 0; h < config.n_heads; ++h) o.heads.insert({l, h});
    o.source = "heads=all";
  } else {
    throw Error("attention modifier 'act': heads=" + heads +
                " is not understood (heads=all, or config=FILE from sieve act-search)");
  }
  return std::make_unique<ActPolicy>(std::move(inner), std::move(o));
}

std::string ActPolicy::spec() const {
  char params[64];
  std::snprintf(params, sizeof params, "beta=%g,threshold=%g,", options_.beta, options_.threshold);
  return inner_->spec() + "+act:" + params + options_.source;
}

std::unique_ptr<AttentionPolicy> ActPolicy::clone() const {
  auto copy = std::make_unique<ActPolicy>(inner_->clone(), options_);
  copy->heads_ = heads_;
  copy->kv_ = kv_;
  copy->stats_ = stats_;
  copy->own_bytes_ = own_bytes_;
  copy->own_slots_ = own_slots_;
  return copy;
}

std::vector<int64_t> ActPolicy::sinks(int64_t layer, int64_t head) const {
  for (const HeadState& st : heads_)
    if (st.layer == layer && st.head == head) return st.sinks;
  return {};
}

std::vector<std::pair<std::string, double>> ActPolicy::counters() const {
  auto all = inner_->counters();
  double sinks = 0;
  for (const HeadState& st : heads_) sinks += static_cast<double>(st.sinks.size());
  all.push_back({"act_heads", static_cast<double>(heads_.size())});
  all.push_back({"act_sinks_per_head", heads_.empty() ? 0 : sinks / static_cast<double>(heads_.size())});
  return all;
}

void ActPolicy::attend(const AttentionInput& in, float* out) {
  inner_->attend(in, out);
  for (HeadState& st : heads_)
    if (st.layer == in.layer) calibrate_head(in, st, out);
  stats_ = inner_->stats();
  stats_.slots_read += own_slots_;
  stats_.bytes_read += own_bytes_;
}

void ActPolicy::calibrate_head(const AttentionInput& in, HeadState& st, float* out) {
  const int64_t hd = in.cache.shape().head_dim, group = in.n_heads / in.cache.shape().n_kv_heads;
  const int64_t n_q = in.n_q, end = in.first_slot + n_q;
  // Rows of a rolled-back sequence are gone; their statistics go with them.
  if (static_cast<int64_t>(st.mass.size()) > in.first_slot) {
    st.mass.assign(static_cast<size_t>(in.first_slot), 0.0);
    st.rows_at.assign(static_cast<size_t>(in.first_slot), 0);
  }
  st.mass.resize(static_cast<size_t>(end), 0.0);
  st.rows_at.resize(static_cast<size_t>(end), 0);
  HeadKv& kv = kv_[{in.layer, st.head / group}];
  kv.read(in.cache, in.layer, st.head / group, in.first_slot, end);

  // The batch's rows of this head, rotated at their true positions; then
  // their exact distributions.
  rotated_.resize(static_cast<size_t>(n_q * hd));
  for (int64_t i = 0; i < n_q; ++i) {
    float* q = rotated_.data() + i * hd;
    std::copy_n(in.q + (i * in.n_heads + st.head) * hd, hd, q);
    in.rope.rotate(q, 1, static_cast<double>(in.cache.positions()[in.first_slot + i]));
  }
  probs_.resize(static_cast<size_t>(n_q * end));
  in.pool.parallel_for(n_q, 4, [&](int, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) kv.probabilities(rotated_.data() + i * hd, in.first_slot + i + 1, probs_.data() + i * end);
  });
  // Column statistics, this batch's rows included, then the sinks.
  in.pool.parallel_for(end, 256, [&](int, int64_t b, int64_t e) {
    for (int64_t i = 0; i < n_q; ++i) {
      const int64_t seen = std::min(e, in.first_slot + i + 1);
      const float* p = probs_.data() + i * end;
      for (int64_t j = b; j < seen; ++j) st.mass[j] += p[j];
    }
  });
  for (int64_t i = 0; i < n_q; ++i) ++st.rows_at[in.first_slot + i];
  std::vector<int64_t> seeing(static_cast<size_t>(end));
  for (int64_t j = end - 1, rows = 0; j >= 0; --j) seeing[j] = rows += st.rows_at[j];
  st.sinks = act_sinks(st.mass, seeing, end, options_.threshold);

  in.pool.parallel_for(n_q, 4, [&](int, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float* p = probs_.data() + i * end;
      act_calibrate_row(p, in.first_slot + i + 1, st.sinks, options_.beta);
      kv.weighted_values(p, in.first_slot + i + 1, out + (i * in.n_heads + st.head) * hd);
    }
  });
  if (n_q == 1) {
    own_slots_ += static_cast<double>(end);
    own_bytes_ += static_cast<double>(end) * 2.0 * static_cast<double>(in.cache.row_bytes());
  }
}

}  // namespace sieve
