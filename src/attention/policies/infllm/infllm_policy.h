#pragma once
// `infllm` (InfLLM, Xiao et al. 2024; reference code thunlp/InfLLM).
//
// Each query attends to three parts of the sequence, merged in one softmax:
//   - its local window: the `local` most recent tokens (itself included), at
//     their true relative positions;
//   - the initial tokens: the first `init` tokens, once they have left the
//     local window;
//   - the memory: every other token older than the local window, grouped in
//     blocks of `block` tokens as they leave the window. Each block is
//     represented, per query head, by the mean key of its `repr` tokens that
//     received the most attention from local-window queries (the local
//     softmax probabilities, summed over every query whose window held the
//     token). Each chunk of queries (`chunk` tokens of a prefill batch; one
//     token when decoding) scores the blocks with its mean query (the sum
//     over query heads of mean query . representative) and reads the `topk`
//     best; tokens that have left the window but do not fill a block yet are
//     always read.
// Positions follow the reference: every token outside the local window
// (initial tokens included) sits at one distance, `local`, from the query.
// Those keys are stored un-rotated and the query is rotated to position
// `local`, so no key is rotated per step.
//
// Offloading: once a token leaves the local window its pages leave the
// KvCache (evicts() is true). The policy keeps, per layer, a near buffer (the
// initial tokens and the not-yet-full block), a store of every block (the
// slow tier: the reference's CPU memory), and `cache_blocks` frames holding
// the most recently used blocks (the fast tier: the reference's GPU block
// cache, least recently used evicted first). Attention reads only the KvCache,
// the near buffer and the frames; a selected block not in a frame is first
// copied from the store (a load). All three use the KvCache's element type.
// With `store=file` the store is an anonymous temporary file
// (attention/policies/infllm/block_store.h): of what the policy holds, only the
// representative keys then grow in process memory with the sequence.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention_kernel.h"
#include "attention/policies/infllm/block_store.h"
#include "attention/policy.h"

namespace sieve {

class Spec;
struct ModelConfig;

class InfLLMPolicy : public AttentionPolicy {
 public:
  // Defaults: the reference's configuration for Llama-3-8B-Instruct, an
  // 8K-context model like the test model (config/llama-3-inf-llm.yaml; the
  // Mistral-7B configuration uses the same values): 128 initial tokens, a
  // 4096-token local window, 128-token blocks, 4 representative tokens, the
  // top 16 blocks per 512-token chunk, 32 blocks in the fast tier; the
  // store in memory.
  struct Options {
    int64_t init = 128;
    int64_t local = 4096;
    int64_t block = 128;
    int64_t repr = 4;
    int64_t topk = 16;
    int64_t chunk = 512;
    int64_t cache_blocks = 32;
    BlockStore::Kind store = BlockStore::Kind::Memory;
  };
  // Block lookups of the fast tier, summed over layers. `decode_*` count
  // decoded tokens only (ReadStats::decoded_tokens tokens).
  struct OffloadStats {
    int64_t lookups = 0, hits = 0, loads = 0;
    int64_t decode_lookups = 0, decode_hits = 0, decode_loads = 0;
    int64_t blocks_formed = 0;
  };

  explicit InfLLMPolicy(const Options& options);
  // Throws sieve::Error on inconsistent options.
  static void validate(const Options& options);
  // Throws sieve::Error when `local` reaches the model's trained context.
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec, const ModelConfig& config);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  void end_batch(KvCache& cache) override;
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<InfLLMPolicy>(*this); }
  bool evicts() const override { return true; }

  const Options& options() const { return opt_; }
  const OffloadStats& offload_stats() const { return offload_; }
  std::vector<std::pair<std::string, double>> counters() const override;

  // Inspection, per layer (empty or 0 before the layer's first attend).
  int64_t n_blocks(int64_t layer) const;
  // The blocks the last chunk read, ascending.
  std::vector<int64_t> selected_blocks(int64_t layer) const;
  // The blocks held in frames, ascending.
  std::vector<int64_t> resident_blocks(int64_t layer) const;
  // The tokens (positions) whose keys represent a block for a query head, ascending.
  std::vector<int64_t> representative_tokens(int64_t layer, int64_t block, int64_t head) const;
  // Bytes the policy holds outside the KvCache: the fast tier (near buffers,
  // frames, representative keys, attention scores of unformed tokens) and
  // the slow tier (the block store; for a file store, the bytes written for
  // this policy's blocks), and how much of the store is in process memory
  // (all of it in memory; with store=file, at most a staging block per layer).
  size_t fast_tier_bytes() const;
  size_t store_bytes() const;
  size_t store_resident_bytes() const;

 private:
  struct Layer {
    bool ready = false;
    int64_t n_heads = 0;
    int64_t seen = 0;      // tokens whose queries have been processed (or skipped)
    int64_t copied = 0;    // tokens [0, copied) have left the local window: in init, blocks or near
    int64_t n_blocks = 0;  // blocks cover tokens [init, init + n_blocks * block)
    // Un-rotated keys (and values) of tokens outside the local window: near
    // holds the initial tokens then the tokens of the block being filled;
    // store holds every block; frames hold cache_blocks blocks.
    KvCache near{KvCacheShape{1, 1, 1, 64, KvType::F32}};
    BlockStore store{BlockStore::Kind::Memory, KvCacheShape{1, 1, 1, 64, KvType::F32}, 1};
    KvCache frames{KvCacheShape{1, 1, 1, 64, KvType::F32}};
    std::vector<float> repr;              // n_blocks x n_heads x head_dim
    std::vector<int64_t> repr_tokens;     // n_blocks x n_heads x repr
    std::vector<std::vector<float>> score;  // per query head, tokens [rest(), ...): attention received
    std::vector<int64_t> block_frame;     // per block: its frame or -1
    std::vector<int64_t> frame_block;     // per frame: its block
    std::vector<uint64_t> frame_used;     // per frame: the chunk that last read it
    uint64_t clock = 0;
    std::vector<int64_t> selected;        // the last chunk's blocks
  };

  // The first token that is neither an initial token nor in a block.
  int64_t rest(const Layer& L) const { return opt_.init + L.n_blocks * opt_.block; }
  int64_t init_held(const Layer& L) const { return std::min(L.copied, opt_.init); }

  void setup(Layer& L, const KvCache& cache, int64_t n_heads) const;
  void grow_scores(Layer& L, int64_t upto) const;
  void sync(Layer& L, const AttentionInput& in, int64_t base);
  void copy_out(Layer& L, const AttentionInput& in, int64_t base, int64_t upto);
  void form_blocks(Layer& L, const AttentionInput& in);
  void select(Layer& L, const AttentionInput& in, int64_t c0, int64_t c1);
  void process_chunk(Layer& L, const AttentionInput& in, int64_t base, int64_t c0, int64_t c1, float* out);

  Options opt_;
  std::vector<Layer> layers_;
  OffloadStats offload_;
  // Per-call scratch (the chunk's rotated queries and softmax states).
  std::vector<float> q_local_, q_memory_, row_m_, row_l_, mean_q_, block_score_;
  std::vector<SlotSpan> frame_spans_;
  std::vector<int64_t> order_;
};

}  // namespace sieve
