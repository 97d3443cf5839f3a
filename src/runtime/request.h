#pragma once
// One generation request as the engine takes it, and what it reports back.
// Frontends (the CLI, the HTTP server, bench, eval) build a Request, hand it
// to the Engine, and receive tokens and the final result through callbacks.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "attention/policy.h"
#include "runtime/sampler.h"
#include "util/error.h"

namespace sieve {

struct RequestOptions {
  int64_t max_tokens = 128;       // generated tokens at most (0: prefill only)
  SamplerOptions sampling;
  std::vector<std::string> stop;  // generation ends before any of these strings
  std::string attn;               // attention policy spec; empty: the engine's default
  std::string rope;               // RoPE context extension (model/rope.h); empty: the model's own RoPE
  int top_logprobs = -1;          // -1: no logprobs; 0..20: the sampled token's logprob and this many alternatives
  bool ignore_eos = false;        // keep generating past end-of-generation tokens
  bool prompt_logits = false;     // keep the logits of every prompt position (perplexity)
  // Conversations: `keep` parks the sequence when it finishes (its cache and
  // policy state stay, until Engine::release or memory runs short), and a
  // later request with `continue_from` = its id whose prompt extends the
  // parked tokens (prompt and generated) prefills only the new tokens.
  bool keep = false;
  uint64_t continue_from = 0;
  // OpenAI's presence/frequency penalties over the generated tokens (0: off).
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
};

// Log-probabilities of one generated token (OpenAI's shape).
struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely alternatives, best first
};

// One generated token as it is produced. `text` is the part of the output
// that became final with it (complete UTF-8, never part of a stop string);
// it may be empty, and a later event may carry text of earlier tokens.
struct TokenEvent {
  int32_t token = 0;
  std::string text;
  TokenLogprob logprob;  // set when the request asked for logprobs
};

struct RequestResult {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;       // generated (a stop string's tokens included)
  std::string text;                  // generated text, cut before a stop string
  std::string stop_reason;           // "eos", "stop", "length", "context", "cancelled", "error"
  std::string error;                 // with stop_reason "error"
  std::string attn;                  // canonical spec of the policy used
  std::string rope;                  // canonical spec of the RoPE used ("none": the model's own)
  int64_t cached_prompt_tokens = 0;  // prompt tokens whose KV came from the prefix cache or a parked sequence
  int64_t preemptions = 0;           // times the sequence was preempted and recomputed
  std::vector<float> last_prompt_logits;  // logits at the last prompt position
  std::vector<float> prompt_logits;       // RequestOptions::prompt_logits: every prompt position, n x vocab
  std::vector<TokenLogprob> logprobs;     // per generated token, when asked for
  // Timings in seconds from submission.
  double queue_seconds = 0;        // until the first step that ran it
  double first_token_seconds = 0;  // until the first generated token
  double total_seconds = 0;
  double prefill_seconds = 0;      // first step to the end of the prompt
  double decode_seconds = 0;       // end of the prompt to the end
  ReadStats attention_reads;       // what the policy read per decoded token
  std::vector<std::pair<std::string, double>> policy_counters;
  size_t kv_cache_bytes = 0;       // the sequence's cache memory at the end
};

struct RequestCallbacks {
  std::function<void(const TokenEvent&)> on_token;     // optional
  std::function<void(const RequestResult&)> on_finish;  // always called once
};

// A request the engine refuses: the message names what is wrong; `param`
// names the offending request field (OpenAI's error.param), `code` is
// OpenAI's error code ("context_length_exceeded", "invalid_value", ...).
class RequestError : public Error {
 public:
  RequestError(const std::string& message, std::string param, std::string code = "invalid_value")
      : Error(message), param_(std::move(param)), code_(std::move(code)) {}
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }

 private:
  std::string param_, code_;
};

}  // namespace sieve
