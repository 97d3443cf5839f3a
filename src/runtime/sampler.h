#pragma once
// Picks the next token from logits. The chain runs in llama.cpp's order:
// repetition penalty -> top-k -> top-p -> min-p -> temperature -> draw.
// Temperature 0 means greedy (argmax after the penalty). The same seed gives
// the same tokens.
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace sieve {

struct SamplerOptions {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 40;            // 0: off
  float top_p = 0.95f;       // 1: off
  float min_p = 0.05f;       // 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;
  uint64_t seed = 0;

  void validate() const;  // throws sieve::Error naming a bad value
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options);
  // Records tokens (prompt and generated) for the repetition penalty.
  void observe(int32_t token);
  int32_t sample(const float* logits, int64_t n_vocab);

 private:
  double uniform();

  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace sieve
