#include "inspect/layer_redundancy.h"

#include <algorithm>

#include "util/error.h"

namespace sieve::inspect {

std::vector<std::vector<int32_t>> haystack_windows(const std::vector<int32_t>& hay, int32_t bos, int64_t samples,
                                                   int64_t length) {
  if (samples < 1 || length < 2) throw Error("the calibration set needs at least one window of 2 tokens");
  const int64_t n = static_cast<int64_t>(hay.size());
  if (n < length) throw Error("the haystack holds " + std::to_string(n) + " tokens, fewer than one calibration window");
  std::vector<std::vector<int32_t>> windows;
  for (int64_t s = 0; s < samples; ++s) {
    const int64_t start = samples == 1 ? 0 : s * (n - length) / (samples - 1);
    std::vector<int32_t> w = {bos};
    w.insert(w.end(), hay.begin() + start, hay.begin() + start + length - 1);
    windows.push_back(std::move(w));
  }
  return windows;
}

Redundancy measure_redundancy(Transformer& tf, const std::vector<std::vector<int32_t>>& samples, KvType kv_type) {
  const ModelConfig& c = tf.model().config();
  if (c.attention_layers() != c.n_layers || samples.empty())
    throw Error("internal: redundancy is measured on the whole model, over at least one sample");
  ResidualProbe probe(c.n_layers, c.hidden, false);
  tf.set_observer(&probe);
  try {
    for (const std::vector<int32_t>& s : samples) {
      KvCache cache(tf.cache_shape(kv_type));
      tf.forward(s.data(), static_cast<int64_t>(s.size()), cache, nullptr);
    }
  } catch (...) {
    tf.set_observer(nullptr);
    throw;
  }
  tf.set_observer(nullptr);
  Redundancy r;
  for (int64_t l = 0; l < c.n_layers; ++l) r.layers.push_back(probe.similarity(l));
  r.samples = static_cast<int64_t>(samples.size());
  r.tokens = probe.tokens();
  return r;
}

std::vector<RankedBlock> drop_order(const Redundancy& r, bool joint) {
  std::vector<RankedBlock> all;
  for (int64_t l = 0; l < static_cast<int64_t>(r.layers.size()); ++l) {
    all.push_back({l, false, r.layers[l].attention});
    if (joint) all.push_back({l, true, r.layers[l].mlp});
  }
  // Ties go to the later layer, then to attention.
  std::stable_sort(all.begin(), all.end(), [](const RankedBlock& a, const RankedBlock& b) {
    if (a.similarity != b.similarity) return a.similarity > b.similarity;
    return a.layer > b.layer;
  });
  return all;
}

DropChoice choose_drop(const Redundancy& r, int64_t n, bool joint) {
  const std::vector<RankedBlock> order = drop_order(r, joint);
  if (n < 0 || n > static_cast<int64_t>(order.size()))
    throw Error("cannot drop " + std::to_string(n) + " blocks: the model has " + std::to_string(order.size()) +
                (joint ? " attention and MLP blocks" : " attention blocks"));
  DropChoice d;
  for (int64_t i = 0; i < n; ++i) (order[i].mlp ? d.mlp : d.attention).push_back(order[i].layer);
  std::sort(d.attention.begin(), d.attention.end());
  std::sort(d.mlp.begin(), d.mlp.end());
  return d;
}

}  // namespace sieve::inspect
