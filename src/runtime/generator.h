#pragma once
// Prompt in, tokens out: prefill, then decode with a sampler until EOS, a stop
// string, the token limit, or the end of the context.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/transformer.h"
#include "runtime/sampler.h"

namespace sieve {

struct GenerationOptions {
  int64_t max_tokens = 128;
  SamplerOptions sampling;
  std::vector<std::string> stop;  // generation ends before any of these strings
  int64_t context_size = 0;       // 0: the model's trained context
  std::string attn = "full";      // attention policy spec
  KvType kv_type = KvType::F16;
};

struct GenerationResult {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<float> prompt_logits;  // logits at the last prompt position
  std::string stop_reason;           // "eos", "stop", "length", "context"
  double prefill_seconds = 0;
  double decode_seconds = 0;
  std::string attn;                 // canonical spec of the policy used
  ReadStats attention_reads;        // what the policy read per decoded token
  size_t kv_cache_bytes = 0;        // cache memory at the end
};

// Runs one request on a fresh cache. on_text receives the text as it becomes
// final (complete UTF-8, and never part of a stop string).
GenerationResult generate(Transformer& transformer, const std::vector<int32_t>& prompt,
                          const GenerationOptions& options,
                          const std::function<void(std::string_view)>& on_text = nullptr);

}  // namespace sieve
