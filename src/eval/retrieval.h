#pragma once
// Retrieval accuracy (passkey, niah, niah-multikey): every prompt of every
// (length, depth, sample) is built once and run under each attention policy,
// so policies are compared on identical prompts.
#include <cstdint>
#include <string>
#include <vector>

#include "eval/progress.h"
#include "eval/prompts.h"
#include "runtime/transformer.h"

namespace sieve::eval {

// Greedy decoding as the protocol scores it: prefill `prompt` into the
// (empty) cache through `policy`, then take the argmax token up to
// max_new times, through the same policy, stopping at end of generation.
// Returns the generated tokens (the end-of-generation token excluded).
std::vector<int32_t> greedy_answer(Transformer& tf, KvCache& cache, AttentionPolicy& policy,
                                   const std::vector<int32_t>& prompt, int max_new);

struct RetrievalOptions {
  Task task = Task::Passkey;
  uint64_t seed = 0;
  std::vector<int64_t> lengths;
  std::vector<int64_t> depths;  // 0..100, or one kRandomDepth
  std::vector<int64_t> samples;  // prompts per (length, depth) cell, one entry per length
  std::vector<std::string> policies;  // specs
  KvType kv_type = KvType::F16;
  int max_new_tokens = 12;
};

struct RetrievalCell {
  std::string attn;  // canonical policy spec
  int64_t length = 0;
  int64_t depth = 0;  // kRandomDepth for random
  int64_t samples = 0, correct = 0;
  int64_t decoded_tokens = 0;
  double kv_bytes_read = 0, kv_slots_read = 0;  // summed over decoded tokens (policy stats)
  std::vector<std::pair<std::string, double>> counters;  // the policy's counters, summed over samples
  std::vector<std::string> expected, outputs;   // per sample

  double accuracy() const { return samples ? static_cast<double>(correct) / static_cast<double>(samples) : 0; }
  double kv_bytes_per_token() const { return decoded_tokens ? kv_bytes_read / static_cast<double>(decoded_tokens) : 0; }
};

// Cells in the order policy, length, depth. progress may be null.
std::vector<RetrievalCell> run_retrieval(Transformer& tf, const PromptBuilder& prompts, const RetrievalOptions& options,
                                         Progress* progress);

}  // namespace sieve::eval
