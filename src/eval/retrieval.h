#pragma once
// Retrieval accuracy (passkey, niah, niah-multikey): every prompt of every
// (length, depth, sample) is built once and run under each attention policy,
// so policies are compared on identical prompts.
#include <cstdint>
#include <string>
#include <vector>

#include "eval/progress.h"
#include "eval/prompts.h"
#include "runtime/engine.h"

namespace sieve::eval {

struct RetrievalOptions {
  Task task = Task::Passkey;
  uint64_t seed = 0;
  std::vector<int64_t> lengths;
  std::vector<int64_t> depths;  // 0..100, or one kRandomDepth
  std::vector<int64_t> samples;  // prompts per (length, depth) cell, one entry per length
  std::vector<std::string> policies;  // specs
  std::string rope;                   // RoPE context extension for every prompt (empty: the model's own)
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

// Greedy decoding as the protocol scores it, each prompt a request through
// the engine (its KV cache type and context are the engine's): up to
// max_new_tokens, stopping at end of generation. Cells in the order policy,
// length, depth. progress may be null.
std::vector<RetrievalCell> run_retrieval(Engine& engine, const PromptBuilder& prompts, const RetrievalOptions& options,
                                         Progress* progress);

}  // namespace sieve::eval
