#include "model/transformer.h"

#include <algorithm>

#include "attention/full_policy.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "util/error.h"

namespace sieve {

Transformer::Transformer(const Model& model, ThreadPool& pool)
    : model_(model), config_(model.config()), pool_(pool), rope_(model.config(), model.weights().rope_freq_divisors) {
  const ModelConfig& c = config_;
  const int64_t B = kMaxBatch;
  x_.resize(B * c.hidden);
  norm_.resize(B * c.hidden);
  q_.resize(B * c.n_heads * c.head_dim);
  k_.resize(B * c.n_kv_heads * c.head_dim);
  v_.resize(B * c.n_kv_heads * c.head_dim);
  attn_.resize(B * c.n_heads * c.head_dim);
  proj_.resize(B * c.hidden);
  gate_.resize(B * c.ffn_hidden);
  up_.resize(B * c.ffn_hidden);
  full_ = std::make_unique<FullPolicy>();
}

KvCacheShape Transformer::cache_shape(KvType type) const {
  KvCacheShape s;
  s.type = type;
  s.n_layers = config_.n_layers;
  s.n_kv_heads = config_.n_kv_heads;
  s.head_dim = config_.head_dim;
  return s;
}

void Transformer::forward(const int32_t* tokens, int64_t n, KvCache& cache, float* logits, bool all_logits,
                          AttentionPolicy* policy) {
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size)
      throw Error("token id " + std::to_string(tokens[i]) + " is out of range (vocabulary has " +
                  std::to_string(config_.vocab_size) + " tokens)");
  for (int64_t done = 0; done < n;) {
    const int64_t chunk = std::min(kMaxBatch, n - done);
    const bool last = done + chunk == n;
    float* out = all_logits ? logits + done * config_.vocab_size : (last ? logits : nullptr);
    forward_batch(tokens + done, chunk, cache, out, all_logits, policy ? *policy : *full_);
    done += chunk;
  }
}

void Transformer::forward_batch(const int32_t* tokens, int64_t n, KvCache& cache, float* logits, bool all_logits,
                                AttentionPolicy& policy) {
  const ModelConfig& c = config_;
  const ModelWeights& w = model_.weights();
  const int64_t first_slot = cache.size();
  std::vector<int64_t> positions(n);
  const int64_t first_pos = cache.positions().empty() ? 0 : cache.positions().back() + 1;
  for (int64_t i = 0; i < n; ++i) positions[i] = first_pos + i;
  cache.append_slots(positions.data(), n);

  for (int64_t i = 0; i < n; ++i)
    kernels::dequantize_row(w.token_embd->type, w.token_embd->row(tokens[i]), x_.data() + i * c.hidden, c.hidden);

  for (int64_t layer = 0; layer < c.n_layers; ++layer) {
    attention_block(layer, n, first_slot, cache, policy);
    mlp_block(layer, n);
  }
  policy.end_batch(cache);

  if (!logits) return;
  const int64_t first_out = all_logits ? 0 : n - 1;
  const int64_t n_out = n - first_out;
  for (int64_t i = 0; i < n_out; ++i)
    kernels::rms_norm(x_.data() + (first_out + i) * c.hidden, w.output_norm.data(), c.hidden,
                      static_cast<float>(c.rms_eps), norm_.data() + i * c.hidden);
  kernels::matmul(*w.output, norm_.data(), n_out, logits, pool_);
}

void Transformer::attention_block(int64_t layer, int64_t n, int64_t first_slot, KvCache& cache,
                                  AttentionPolicy& policy) {
  const ModelConfig& c = config_;
  const LayerWeights& L = model_.weights().layers[layer];
  const float eps = static_cast<float>(c.rms_eps);
  const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  for (int64_t i = 0; i < n; ++i)
    kernels::rms_norm(x_.data() + i * c.hidden, L.attn_norm.data(), c.hidden, eps, norm_.data() + i * c.hidden);
  kernels::matmul(*L.wq, norm_.data(), n, q_.data(), pool_);
  kernels::matmul(*L.wk, norm_.data(), n, k_.data(), pool_);
  kernels::matmul(*L.wv, norm_.data(), n, v_.data(), pool_);
  for (int64_t i = 0; i < n; ++i) {
    float* q = q_.data() + i * q_dim;
    float* k = k_.data() + i * kv_dim;
    float* v = v_.data() + i * kv_dim;
    if (c.qkv_bias) {
      kernels::add_inplace(q, L.q_bias.data(), q_dim);
      kernels::add_inplace(k, L.k_bias.data(), kv_dim);
      kernels::add_inplace(v, L.v_bias.data(), kv_dim);
    }
    if (c.qk_norm) {
      for (int64_t h = 0; h < c.n_heads; ++h)
        kernels::rms_norm(q + h * c.head_dim, L.q_norm.data(), c.head_dim, eps, q + h * c.head_dim);
      for (int64_t h = 0; h < c.n_kv_heads; ++h)
        kernels::rms_norm(k + h * c.head_dim, L.k_norm.data(), c.head_dim, eps, k + h * c.head_dim);
    }
    // Keys are cached rotated to their true position; queries are rotated
    // by the policy, which decides where each query sits.
    rope_.rotate(k, c.n_kv_heads, static_cast<double>(cache.positions()[first_slot + i]));
    cache.write(layer, first_slot + i, k, v);
  }
  policy.attend({cache, layer, q_.data(), n, first_slot, c.n_heads, rope_, pool_}, attn_.data());
  kernels::matmul(*L.wo, attn_.data(), n, proj_.data(), pool_);
  kernels::add_inplace(x_.data(), proj_.data(), n * c.hidden);
}

void Transformer::mlp_block(int64_t layer, int64_t n) {
  const ModelConfig& c = config_;
  const LayerWeights& L = model_.weights().layers[layer];
  for (int64_t i = 0; i < n; ++i)
    kernels::rms_norm(x_.data() + i * c.hidden, L.ffn_norm.data(), c.hidden, static_cast<float>(c.rms_eps),
                      norm_.data() + i * c.hidden);
  kernels::matmul(*L.w_gate, norm_.data(), n, gate_.data(), pool_);
  kernels::matmul(*L.w_up, norm_.data(), n, up_.data(), pool_);
  kernels::silu_mul(gate_.data(), up_.data(), n * c.ffn_hidden);
  kernels::matmul(*L.w_down, gate_.data(), n, proj_.data(), pool_);
  kernels::add_inplace(x_.data(), proj_.data(), n * c.hidden);
}

}  // namespace sieve
