#include "support/reference_forward.h"

#include <cmath>

#include "kernels/matmul.h"

namespace sieve::testing {
namespace {

using Vec = std::vector<double>;

Vec row_of(const Tensor& t, int64_t r) {
  std::vector<float> f(t.row_length());
  kernels::dequantize_row(t.type, t.row(r), f.data(), t.row_length());
  return Vec(f.begin(), f.end());
}

// y = W x for a weight of shape {in, out}.
Vec linear(const Tensor& w, const Vec& x) {
  Vec y(w.rows());
  for (int64_t r = 0; r < w.rows(); ++r) {
    Vec row = row_of(w, r);
    double s = 0;
    for (size_t c = 0; c < x.size(); ++c) s += row[c] * x[c];
    y[r] = s;
  }
  return y;
}

Vec rms_norm(const Vec& x, const std::vector<float>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
  return y;
}

// RoPE on one head in the layout the weights are stored in.
void rope(double* h, int64_t d, int64_t pos, const ModelConfig& c, const std::vector<float>& divisors) {
  for (int64_t i = 0; i < d / 2; ++i) {
    double inv_freq = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(d));
    if (!divisors.empty()) inv_freq /= divisors[i];
    const double a = static_cast<double>(pos) * inv_freq;
    const int64_t i0 = c.rope_interleaved ? 2 * i : i;
    const int64_t i1 = c.rope_interleaved ? 2 * i + 1 : i + d / 2;
    const double x0 = h[i0], x1 = h[i1];
    h[i0] = x0 * std::cos(a) - x1 * std::sin(a);
    h[i1] = x0 * std::sin(a) + x1 * std::cos(a);
  }
}

}  // namespace

std::vector<std::vector<double>> reference_forward(const Model& model, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  const int64_t n = static_cast<int64_t>(tokens.size()), hd = c.head_dim;
  std::vector<Vec> x(n);
  for (int64_t t = 0; t < n; ++t) x[t] = row_of(*w.token_embd, tokens[t]);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[l];
    std::vector<Vec> q(n), k(n), v(n);
    for (int64_t t = 0; t < n; ++t) {
      Vec h = rms_norm(x[t], L.attn_norm, c.rms_eps);
      q[t] = linear(*L.wq, h);
      k[t] = linear(*L.wk, h);
      v[t] = linear(*L.wv, h);
      if (c.qkv_bias)
        for (size_t i = 0; i < q[t].size(); ++i) q[t][i] += L.q_bias[i];
      if (c.qkv_bias)
        for (size_t i = 0; i < k[t].size(); ++i) k[t][i] += L.k_bias[i], v[t][i] += L.v_bias[i];
      for (int64_t hh = 0; hh < c.n_heads; ++hh) {
        if (c.qk_norm) {
          Vec head(q[t].begin() + hh * hd, q[t].begin() + (hh + 1) * hd);
          head = rms_norm(head, L.q_norm, c.rms_eps);
          std::copy(head.begin(), head.end(), q[t].begin() + hh * hd);
        }
        rope(q[t].data() + hh * hd, hd, t, c, w.rope_freq_divisors);
      }
      for (int64_t hh = 0; hh < c.n_kv_heads; ++hh) {
        if (c.qk_norm) {
          Vec head(k[t].begin() + hh * hd, k[t].begin() + (hh + 1) * hd);
          head = rms_norm(head, L.k_norm, c.rms_eps);
          std::copy(head.begin(), head.end(), k[t].begin() + hh * hd);
        }
        rope(k[t].data() + hh * hd, hd, t, c, w.rope_freq_divisors);
      }
    }
    const int64_t group = c.n_heads / c.n_kv_heads;
    for (int64_t t = 0; t < n; ++t) {
      Vec attn(c.n_heads * hd, 0.0);
      for (int64_t hh = 0; hh < c.n_heads; ++hh) {
        const int64_t kvh = hh / group;
        Vec s(t + 1);
        double m = -1e300;
        for (int64_t j = 0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += q[t][hh * hd + i] * k[j][kvh * hd + i];
          s[j] = d / std::sqrt(static_cast<double>(hd));
          m = std::max(m, s[j]);
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - m));
        for (int64_t j = 0; j <= t; ++j)
          for (int64_t i = 0; i < hd; ++i) attn[hh * hd + i] += s[j] / z * v[j][kvh * hd + i];
      }
      Vec o = linear(*L.wo, attn);
      for (int64_t i = 0; i < c.hidden; ++i) x[t][i] += o[i];
      Vec h = rms_norm(x[t], L.ffn_norm, c.rms_eps);
      Vec g = linear(*L.w_gate, h), u = linear(*L.w_up, h);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      Vec d = linear(*L.w_down, g);
      for (int64_t i = 0; i < c.hidden; ++i) x[t][i] += d[i];
    }
  }
  std::vector<Vec> logits(n);
  for (int64_t t = 0; t < n; ++t) logits[t] = linear(*w.output, rms_norm(x[t], w.output_norm, c.rms_eps));
  return logits;
}

}  // namespace sieve::testing
