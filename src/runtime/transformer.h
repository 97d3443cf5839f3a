#pragma once
// The forward pass of the Llama family: one implementation driven by
// ModelConfig. Each layer: RMSNorm -> Q,K,V (+bias) -> [QK-norm] -> RoPE ->
// append K,V to the cache -> attention -> output projection -> residual ->
// RMSNorm -> SwiGLU MLP -> residual.
//
// A forward step runs a batch of several sequences at once: their tokens are
// stacked so every weight matrix is read once for all of them (one GEMM per
// matrix), while each sequence's attention runs through its own policy over
// its own cache.
#include <cstdint>
#include <memory>
#include <vector>

#include "attention/policy.h"
#include "cache/kv_cache.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "model/rope.h"
#include "runtime/block_observer.h"

namespace sieve {

// One sequence's part of a forward step: n tokens at positions first_position,
// first_position + 1, ...; their keys and values are appended to `cache`.
struct SequenceChunk {
  KvCache* cache = nullptr;
  AttentionPolicy* policy = nullptr;  // nullptr: full attention
  const Rope* rope = nullptr;         // the sequence's RoPE (a context extension); nullptr: the model's
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  int64_t first_position = -1;  // < 0: right after the cache's last position (0 when empty)
  // Logits out: nullptr for none; else of the last token (vocab floats), or
  // of every token (n x vocab) when all_logits is set.
  float* logits = nullptr;
  bool all_logits = false;
};

class Transformer {
 public:
  // max_batch_tokens: most tokens in one step, over every sequence.
  // batch_invariant: every row of a step is computed exactly as it would be
  // in a step of its own sequence alone (see step()).
  Transformer(const Model& model, ThreadPool& pool, int64_t max_batch_tokens = kMaxBatch,
              bool batch_invariant = false);

  const Model& model() const { return model_; }
  ThreadPool& pool() const { return pool_; }
  // The KV cache's shape: one cache layer per layer whose attention is kept
  // (ModelConfig::attention_layers); policies see those layers numbered 0, 1, ...
  KvCacheShape cache_shape(KvType type = KvType::F32) const;
  int64_t max_batch_tokens() const { return max_batch_; }

  // One step over several sequences (at most max_batch_tokens tokens in all).
  // By default each weight matrix multiplies all rows of the step at once.
  // The matmul kernels' arithmetic depends on the number of rows (a GEMV for
  // one, tiles for a few, panels or bf16 dot products for many), so a row's
  // result can differ in the last bits between a step alone and a step with
  // others. With batch_invariant, rows are multiplied in groups whose size
  // does not depend on the other sequences: the one-token chunks (decode)
  // together, in the tile kernels (a lone row is paired with a copy of
  // itself, since the one-row kernels round differently), and each longer
  // chunk on its own; the scheduler then cuts prompts at fixed boundaries.
  void step(const SequenceChunk* chunks, int64_t n_chunks);

  // One sequence: n tokens after the cache's last position, run in steps of
  // max_batch_tokens. Writes the logits of the last token to `logits`
  // (vocab_size floats), or of every token (n x vocab_size) when all_logits
  // is set. rope: a context extension's RoPE (nullptr: the model's).
  void forward(const int32_t* tokens, int64_t n, KvCache& cache, float* logits, bool all_logits = false,
               AttentionPolicy* policy = nullptr, const Rope* rope = nullptr);

  // Shows the residual stream around every block to `observer` (nullptr: none).
  void set_observer(BlockObserver* observer) { observer_ = observer; }

  static constexpr int64_t kMaxBatch = 512;

 private:
  void attention_block(int64_t layer, const SequenceChunk* chunks, int64_t n_chunks, int64_t n);
  void mlp_block(int64_t layer, int64_t n);
  // y = x W^T over the step's rows, one product or by row groups.
  void matmul(const Tensor& w, const float* x, int64_t n, float* y);
  void set_row_groups(const SequenceChunk* chunks, int64_t n_chunks, bool logits_rows);

  const Model& model_;
  const ModelConfig& config_;
  ThreadPool& pool_;
  int64_t max_batch_;
  bool batch_invariant_;
  Rope rope_;  // the model's own
  std::vector<int64_t> cache_layer_;  // per model layer: its layer in the KV cache, -1 when its attention is dropped
  BlockObserver* observer_ = nullptr;
  std::unique_ptr<AttentionPolicy> full_;  // for chunks without a policy
  // Scratch, sized for max_batch_ tokens.
  std::vector<float> x_, norm_, q_, k_, v_, attn_, proj_, gate_, up_, logits_;
  std::vector<int64_t> first_slot_;  // per chunk of the current step
  std::vector<int64_t> positions_;   // of one chunk's tokens
  struct RowGroup {
    int64_t first, n;
    bool single;  // one-row chunks (decode), which share a group
  };
  std::vector<RowGroup> groups_;          // batch_invariant: the current product's row groups
  std::vector<float> pair_x_, pair_y_;    // a lone row and its copy
};

}  // namespace sieve
