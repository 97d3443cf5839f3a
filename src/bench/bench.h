#pragma once
// Speed tests in the manner of llama.cpp's llama-bench, so the two can be run
// side by side on one GGUF file:
//   pp N @ dD: prefill N tokens after D tokens already in the cache;
//   tg N @ dD: decode N tokens one at a time after D tokens in the cache.
// Each test repeats; the cache is filled to depth D once and rolled back to D
// before each repetition, as llama-bench restores its saved copy. Each test
// starts with an untimed warm-up repetition, as llama-bench's does (unless
// warmup is off, as llama-bench's --no-warmup: long prompts). Tokens are
// random ids from a fixed seed, or a text's tokens in order (`text`: the fill
// is its start, the test tokens what follows, cyclically), for policies whose
// cost depends on what the tokens say (a selection reused between similar
// queries).
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/transformer.h"
#include "cache/kv_cache.h"

namespace sieve {

struct BenchOptions {
  std::vector<int64_t> prompt_sizes{512};
  std::vector<int64_t> gen_sizes{128};
  std::vector<int64_t> depths{0};
  int repetitions = 5;
  bool warmup = true;
  KvType kv_type = KvType::F16;
  std::string attn = "full";
  std::string rope;  // RoPE context extension (empty: the model's own)
  std::vector<int32_t> text;  // when not empty: the tokens, instead of random ones
};

struct BenchResult {
  std::string test;  // "pp512", "tg128"
  int64_t n_tokens = 0;
  int64_t depth = 0;
  bool decode = false;
  std::vector<double> tokens_per_s;  // one per repetition
  double mean = 0, stddev = 0;
  size_t weight_bytes_per_token = 0;  // weights read per decoded token (per prefilled token for pp: the same matrices)
  size_t kv_bytes_per_token = 0;      // KV bytes read per token, averaged over the test
  double flops_per_token = 0;         // matmul + attention FLOPs per token, averaged over the test
  size_t peak_rss_bytes = 0;
  std::vector<std::pair<std::string, double>> policy_counters;  // the last repetition's policy's
};

// Runs every (size, depth) test; calls progress(result) after each.
std::vector<BenchResult> run_bench(Transformer& transformer, const BenchOptions& options,
                                   void (*progress)(const BenchResult&) = nullptr);

size_t peak_rss_bytes();

}  // namespace sieve
