#include "inspect/attention_probe.h"

#include <algorithm>
#include <cmath>

#include "kernels/matmul.h"
#include "util/error.h"

namespace sieve::inspect {

AttentionProbe::AttentionProbe(const Model& model, ProbeOptions options)
    : model_(model), options_(options), n_heads_(model.config().n_heads) {
  if (options_.prompt_length < 1) throw Error("internal: the probe needs the prompt's length");
  if (options_.block < 1) throw Error("--block must be at least 1");
  blocks_ = (options_.prompt_length + options_.block - 1) / options_.block;
  const int64_t layers = model.config().attention_layers();
  heads_.resize(static_cast<size_t>(layers * n_heads_));
  for (HeadProbe& h : heads_) {
    h.map.assign(static_cast<size_t>(blocks_ * blocks_), 0.0);
    h.map_rows.assign(static_cast<size_t>(blocks_), 0);
    h.mass.assign(static_cast<size_t>(options_.prompt_length), 0.0);
  }
  grams_.resize(heads_.size());
}

std::unique_ptr<AttentionPolicy> AttentionProbe::clone() const { throw Error("internal: the probe is not cloned"); }

void AttentionProbe::make_grams(int64_t layer) const {
  if (!grams_[layer * n_heads_].empty()) return;
  const ModelConfig& c = model_.config();
  int64_t model_layer = -1;  // the cache's layer `layer` is the layer-th whose attention is kept
  for (int64_t l = 0, kept = 0; l < c.n_layers && model_layer < 0; ++l)
    if (c.attention_kept(l) && kept++ == layer) model_layer = l;
  const Tensor& wo = *model_.weights().layers[model_layer].wo;  // hidden rows of n_heads * head_dim
  const int64_t hd = c.head_dim;
  for (int64_t h = 0; h < n_heads_; ++h) grams_[layer * n_heads_ + h].assign(static_cast<size_t>(hd * hd), 0.0);
  std::vector<float> row(static_cast<size_t>(wo.row_length()));
  for (int64_t r = 0; r < wo.rows(); ++r) {
    kernels::dequantize_row(wo.type, wo.row(r), row.data(), wo.row_length());
    for (int64_t h = 0; h < n_heads_; ++h) {
      double* g = grams_[layer * n_heads_ + h].data();
      const float* w = row.data() + h * hd;
      for (int64_t a = 0; a < hd; ++a)
        for (int64_t b = 0; b < hd; ++b) g[a * hd + b] += static_cast<double>(w[a]) * w[b];
    }
  }
}

double AttentionProbe::output_norm(int64_t layer, int64_t head, const float* x) const {
  const int64_t hd = model_.config().head_dim;
  const double* g = grams_[layer * n_heads_ + head].data();
  double sum = 0;
  for (int64_t a = 0; a < hd; ++a) {
    double row = 0;
    for (int64_t b = 0; b < hd; ++b) row += g[a * hd + b] * x[b];
    sum += x[a] * row;
  }
  return std::sqrt(std::max(sum, 0.0));  // rounding may leave a zero vector's square a hair below 0
}

void AttentionProbe::attend(const AttentionInput& in, float* out) {
  const int64_t hd = in.cache.shape().head_dim, n_kv = in.cache.shape().n_kv_heads;
  const int64_t group = in.n_heads / n_kv, n_q = in.n_q, end = in.first_slot + n_q;
  if (end > options_.prompt_length) throw Error("internal: the probe saw more tokens than its prompt");
  kv_.resize(static_cast<size_t>(n_kv));
  for (int64_t k = 0; k < n_kv; ++k) kv_[k].read(in.cache, in.layer, k, in.first_slot, end);
  make_grams(in.layer);
  rotated_.assign(in.q, in.q + n_q * in.n_heads * hd);
  for (int64_t i = 0; i < n_q; ++i)
    in.rope.rotate(rotated_.data() + i * in.n_heads * hd, in.n_heads,
                   static_cast<double>(in.cache.positions()[in.first_slot + i]));

  in.pool.parallel_for(in.n_heads, 1, [&](int, int64_t h_begin, int64_t h_end) {
    std::vector<float> probs(static_cast<size_t>(end));
    for (int64_t h = h_begin; h < h_end; ++h) {
      HeadProbe& hp = heads_[in.layer * n_heads_ + h];
      const HeadKv& kv = kv_[h / group];
      for (int64_t i = 0; i < n_q; ++i) {
        const int64_t own = in.first_slot + i, n = own + 1;
        float* o = out + (i * in.n_heads + h) * hd;
        kv.probabilities(rotated_.data() + (i * in.n_heads + h) * hd, n, probs.data());
        kv.weighted_values(probs.data(), n, o);
        const int64_t qb = own / options_.block;
        double* map_row = hp.map.data() + qb * blocks_;
        for (int64_t j = 0; j < n; ++j) {
          hp.mass[j] += probs[j];
          map_row[j / options_.block] += probs[j];
        }
        ++hp.map_rows[qb];
        hp.first_token += probs[0];
        for (int64_t j = 0; j < std::min(options_.first_tokens, n); ++j) hp.first_tokens += probs[j];
        hp.output_norm += output_norm(in.layer, h, o);
        ++hp.rows;
      }
    }
  });
  // MInference's search on the prompt's last batch, with the very queries and keys above.
  if (options_.search_patterns && n_q >= 2 && end == options_.prompt_length) {
    const std::vector<HeadSearchResult> found = search_head_patterns(in, options_.patterns);
    for (int64_t h = 0; h < in.n_heads; ++h) heads_[in.layer * n_heads_ + h].patterns = found[h].candidates;
  }
  if (end == options_.prompt_length)  // the pooled sums become row means
    for (int64_t h = 0; h < in.n_heads; ++h) {
      HeadProbe& hp = heads_[in.layer * n_heads_ + h];
      for (int64_t qb = 0; qb < blocks_; ++qb)
        if (hp.map_rows[qb] > 0)
          for (int64_t kb = 0; kb < blocks_; ++kb) hp.map[qb * blocks_ + kb] /= static_cast<double>(hp.map_rows[qb]);
    }
}

std::vector<double> AttentionProbe::value_norms(const KvCache& cache, int64_t layer, int64_t head) const {
  const int64_t hd = cache.shape().head_dim, group = n_heads_ / cache.shape().n_kv_heads;
  make_grams(layer);
  std::vector<double> norms(static_cast<size_t>(cache.size()));
  std::vector<float> v(static_cast<size_t>(hd));
  for (int64_t j = 0; j < cache.size(); ++j) {
    cache.read_value(layer, head / group, j, v.data());
    norms[j] = output_norm(layer, head, v.data());
  }
  return norms;
}

}  // namespace sieve::inspect
