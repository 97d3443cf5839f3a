#include "runtime/transformer.h"

#include <algorithm>
#include <cstring>

#include "attention/policies/full_policy.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "util/error.h"

namespace sieve {

Transformer::Transformer(const Model& model, ThreadPool& pool, int64_t max_batch_tokens, bool batch_invariant)
    : model_(model), config_(model.config()), pool_(pool), max_batch_(max_batch_tokens),
      batch_invariant_(batch_invariant), rope_(model.config(), model.weights().rope_freq_divisors) {
  if (max_batch_ < 1) throw Error("the batch must hold at least one token");
  const ModelConfig& c = config_;
  const int64_t B = max_batch_;
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
  for (int64_t l = 0, kept = 0; l < c.n_layers; ++l) cache_layer_.push_back(c.attention_kept(l) ? kept++ : -1);
  // Weight layouts a kernel keeps (the AMX tiles') made at load, not in the first request.
  const ModelWeights& w = model.weights();
  for (const LayerWeights& l : w.layers)
    for (const Tensor* t : {l.wq, l.wk, l.wv, l.wo, l.w_gate, l.w_up, l.w_down})
      if (t) kernels::prepare_weights(*t, pool_);
  kernels::prepare_weights(*w.output, pool_);
  if (batch_invariant_) {
    const int64_t widest_in = std::max({c.hidden, c.ffn_hidden, c.n_heads * c.head_dim});
    const int64_t widest_out = std::max({c.hidden, c.ffn_hidden, c.n_heads * c.head_dim, c.vocab_size});
    pair_x_.resize(2 * widest_in);
    pair_y_.resize(2 * widest_out);
  }
}

// Decode rows share products of at most this many rows, all through the one
// kernel that gives a row the same bits in any such batch.
constexpr int64_t kMaxDecodeGroup = kernels::kMaxInvariantTokens;

void Transformer::set_row_groups(const SequenceChunk* chunks, int64_t n_chunks, bool logits_rows) {
  groups_.clear();
  int64_t row = 0;
  for (int64_t s = 0; s < n_chunks; ++s) {
    const SequenceChunk& ch = chunks[s];
    const int64_t n = logits_rows ? (ch.logits ? (ch.all_logits ? ch.n : 1) : 0) : ch.n;
    if (n == 0) continue;
    const bool single = logits_rows ? !ch.all_logits : ch.n == 1;
    if (single && !groups_.empty() && groups_.back().single && groups_.back().n < kMaxDecodeGroup) {
      ++groups_.back().n;
    } else {
      groups_.push_back({row, n, single});
    }
    row += n;
  }
}

void Transformer::matmul(const Tensor& w, const float* x, int64_t n, float* y) {
  if (!batch_invariant_) return kernels::matmul(w, x, n, y, pool_);
  const int64_t k = w.row_length(), rows = w.rows();
  for (const RowGroup& g : groups_) {
    if (!g.single) {  // a prompt chunk alone: its length decides the kernel, the same each time
      kernels::matmul(w, x + g.first * k, g.n, y + g.first * rows, pool_);
    } else if (g.n > 1) {
      kernels::matmul_batch_invariant(w, x + g.first * k, g.n, y + g.first * rows, pool_);
    } else {
      std::copy(x + g.first * k, x + (g.first + 1) * k, pair_x_.begin());
      std::copy(x + g.first * k, x + (g.first + 1) * k, pair_x_.begin() + k);
      kernels::matmul_batch_invariant(w, pair_x_.data(), 2, pair_y_.data(), pool_);
      std::copy(pair_y_.begin(), pair_y_.begin() + rows, y + g.first * rows);
    }
  }
}

KvCacheShape Transformer::cache_shape(KvType type) const {
  KvCacheShape s;
  s.type = type;
  s.n_layers = config_.attention_layers();
  s.n_kv_heads = config_.n_kv_heads;
  s.head_dim = config_.head_dim;
  return s;
}

void Transformer::forward(const int32_t* tokens, int64_t n, KvCache& cache, float* logits, bool all_logits,
                          AttentionPolicy* policy, const Rope* rope) {
  for (int64_t done = 0; done < n;) {
    const int64_t chunk = std::min(max_batch_, n - done);
    const bool last = done + chunk == n;
    SequenceChunk c;
    c.cache = &cache;
    c.policy = policy;
    c.rope = rope;
    c.tokens = tokens + done;
    c.n = chunk;
    c.logits = all_logits ? logits + done * config_.vocab_size : (last ? logits : nullptr);
    c.all_logits = all_logits;
    step(&c, 1);
    done += chunk;
  }
}

void Transformer::step(const SequenceChunk* chunks, int64_t n_chunks) {
  const ModelConfig& c = config_;
  const ModelWeights& w = model_.weights();
  int64_t n = 0;
  for (int64_t s = 0; s < n_chunks; ++s) {
    const SequenceChunk& ch = chunks[s];
    if (ch.n <= 0 || !ch.cache) throw Error("internal: empty chunk in a forward step");
    for (int64_t i = 0; i < ch.n; ++i)
      if (ch.tokens[i] < 0 || ch.tokens[i] >= c.vocab_size)
        throw Error("token id " + std::to_string(ch.tokens[i]) + " is out of range (vocabulary has " +
                    std::to_string(c.vocab_size) + " tokens)");
    n += ch.n;
  }
  if (n > max_batch_) throw Error("internal: forward step of " + std::to_string(n) + " tokens exceeds the batch");

  // Slots and embeddings, sequence after sequence.
  first_slot_.resize(n_chunks);
  std::vector<int64_t>& positions = positions_;
  for (int64_t s = 0, row = 0; s < n_chunks; ++s) {
    const SequenceChunk& ch = chunks[s];
    KvCache& cache = *ch.cache;
    first_slot_[s] = cache.size();
    const int64_t first_pos =
        ch.first_position >= 0 ? ch.first_position : cache.next_position();
    positions.resize(ch.n);
    for (int64_t i = 0; i < ch.n; ++i) positions[i] = first_pos + i;
    cache.append_slots(positions.data(), ch.n);
    for (int64_t i = 0; i < ch.n; ++i, ++row)
      kernels::dequantize_row(w.token_embd->type, w.token_embd->row(ch.tokens[i]), x_.data() + row * c.hidden,
                              c.hidden);
  }

  if (batch_invariant_) set_row_groups(chunks, n_chunks, false);
  for (int64_t layer = 0; layer < c.n_layers; ++layer) {
    if (observer_) observer_->block_input(layer, Block::Attention, x_.data(), n);
    if (cache_layer_[layer] >= 0) attention_block(layer, chunks, n_chunks, n);
    if (observer_) observer_->block_output(layer, Block::Attention, x_.data(), n);
    if (observer_) observer_->block_input(layer, Block::Mlp, x_.data(), n);
    if (c.mlp_kept(layer)) mlp_block(layer, n);
    if (observer_) observer_->block_output(layer, Block::Mlp, x_.data(), n);
  }
  for (int64_t s = 0; s < n_chunks; ++s) (chunks[s].policy ? *chunks[s].policy : *full_).end_batch(*chunks[s].cache);

  // Logits of the rows asked for, in one product.
  int64_t n_out = 0;
  for (int64_t s = 0, row = 0; s < n_chunks; row += chunks[s].n, ++s) {
    const SequenceChunk& ch = chunks[s];
    if (!ch.logits) continue;
    for (int64_t i = ch.all_logits ? 0 : ch.n - 1; i < ch.n; ++i, ++n_out)
      kernels::rms_norm(x_.data() + (row + i) * c.hidden, w.output_norm.data(), c.hidden,
                        static_cast<float>(c.rms_eps), norm_.data() + n_out * c.hidden);
  }
  if (n_out == 0) return;
  if (batch_invariant_) set_row_groups(chunks, n_chunks, true);
  int64_t wanting = 0;
  const SequenceChunk* only = nullptr;
  for (int64_t s = 0; s < n_chunks; ++s)
    if (chunks[s].logits) ++wanting, only = &chunks[s];
  if (wanting == 1) return matmul(*w.output, norm_.data(), n_out, only->logits);  // straight to its rows
  logits_.resize(static_cast<size_t>(n_out * c.vocab_size));
  matmul(*w.output, norm_.data(), n_out, logits_.data());
  const float* src = logits_.data();
  for (int64_t s = 0; s < n_chunks; ++s) {
    const SequenceChunk& ch = chunks[s];
    if (!ch.logits) continue;
    const int64_t rows = ch.all_logits ? ch.n : 1;
    std::memcpy(ch.logits, src, static_cast<size_t>(rows * c.vocab_size) * sizeof(float));
    src += rows * c.vocab_size;
  }
}

void Transformer::attention_block(int64_t layer, const SequenceChunk* chunks, int64_t n_chunks, int64_t n) {
  const ModelConfig& c = config_;
  const LayerWeights& L = model_.weights().layers[layer];
  const float eps = static_cast<float>(c.rms_eps);
  const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  for (int64_t i = 0; i < n; ++i)
    kernels::rms_norm(x_.data() + i * c.hidden, L.attn_norm.data(), c.hidden, eps, norm_.data() + i * c.hidden);
  matmul(*L.wq, norm_.data(), n, q_.data());
  matmul(*L.wk, norm_.data(), n, k_.data());
  matmul(*L.wv, norm_.data(), n, v_.data());
  for (int64_t s = 0, row0 = 0; s < n_chunks; row0 += chunks[s].n, ++s) {
    const SequenceChunk& ch = chunks[s];
    KvCache& cache = *ch.cache;
    const Rope& rope = ch.rope ? *ch.rope : rope_;
    for (int64_t i = 0; i < ch.n; ++i) {
      const int64_t row = row0 + i;
      float* q = q_.data() + row * q_dim;
      float* k = k_.data() + row * kv_dim;
      float* v = v_.data() + row * kv_dim;
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
      // by the policy, which decides where each query sits. A context
      // extension's logit scale goes on the query, by its true position.
      const int64_t position = cache.positions()[first_slot_[s] + i];
      rope.rotate(k, c.n_kv_heads, static_cast<double>(position));
      cache.write(cache_layer_[layer], first_slot_[s] + i, k, v);
      if (const float scale = rope.logit_scale(layer, position); scale != 1.0f)
        for (int64_t j = 0; j < q_dim; ++j) q[j] *= scale;
    }
    AttentionPolicy& policy = ch.policy ? *ch.policy : *full_;
    policy.attend({cache, cache_layer_[layer], q_.data() + row0 * q_dim, ch.n, first_slot_[s], c.n_heads, rope, pool_},
                  attn_.data() + row0 * q_dim);
  }
  matmul(*L.wo, attn_.data(), n, proj_.data());
  kernels::add_inplace(x_.data(), proj_.data(), n * c.hidden);
}

void Transformer::mlp_block(int64_t layer, int64_t n) {
  const ModelConfig& c = config_;
  const LayerWeights& L = model_.weights().layers[layer];
  for (int64_t i = 0; i < n; ++i)
    kernels::rms_norm(x_.data() + i * c.hidden, L.ffn_norm.data(), c.hidden, static_cast<float>(c.rms_eps),
                      norm_.data() + i * c.hidden);
  matmul(*L.w_gate, norm_.data(), n, gate_.data());
  matmul(*L.w_up, norm_.data(), n, up_.data());
  kernels::silu_mul(gate_.data(), up_.data(), n * c.ffn_hidden);
  matmul(*L.w_down, gate_.data(), n, proj_.data());
  kernels::add_inplace(x_.data(), proj_.data(), n * c.hidden);
}

}  // namespace sieve
