#pragma once
// The forward pass of the Llama family: one implementation driven by
// ModelConfig. Each layer: RMSNorm -> Q,K,V (+bias) -> [QK-norm] -> RoPE ->
// append K,V to the cache -> attention -> output projection -> residual ->
// RMSNorm -> SwiGLU MLP -> residual.
#include <cstdint>
#include <vector>

#include "attention/policy.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "model/rope.h"
#include "runtime/kv_cache.h"

namespace sieve {

class Transformer {
 public:
  Transformer(const Model& model, ThreadPool& pool);

  const Model& model() const { return model_; }
  KvCacheShape cache_shape(KvType type = KvType::F32) const;

  // Runs n tokens at the positions following the cache's last one, appending
  // their keys and values to the cache; attention reads the cache through
  // `policy` (nullptr: full attention). Writes the logits of the last token
  // to `logits` (vocab_size floats), or of every token (n x vocab_size) when
  // all_logits is set. Prompts longer than the batch size run in chunks.
  void forward(const int32_t* tokens, int64_t n, KvCache& cache, float* logits, bool all_logits = false,
               AttentionPolicy* policy = nullptr);

  static constexpr int64_t kMaxBatch = 512;

 private:
  void forward_batch(const int32_t* tokens, int64_t n, KvCache& cache, float* logits, bool all_logits,
                     AttentionPolicy& policy);
  void attention_block(int64_t layer, int64_t n, int64_t first_slot, KvCache& cache, AttentionPolicy& policy);
  void mlp_block(int64_t layer, int64_t n);

  const Model& model_;
  const ModelConfig& config_;
  ThreadPool& pool_;
  Rope rope_;
  std::unique_ptr<AttentionPolicy> full_;  // used when a caller passes no policy
  // Scratch, sized for kMaxBatch tokens.
  std::vector<float> x_, norm_, q_, k_, v_, attn_, proj_, gate_, up_;
};

}  // namespace sieve
