#pragma once
// The body of an OpenAI /v1/completions or /v1/chat/completions request,
// parsed and validated into what the engine takes. Every field sieve does not
// know, or knows but cannot honour, is refused with a RequestError naming it
// (OpenAI's error.param); fields that do not change the generation (`user`,
// `metadata`, ...) are accepted and ignored.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/request.h"

namespace sieve::server {

struct ChatMessage {
  std::string role;     // system, developer, user, assistant, tool
  std::string content;  // text parts joined
  std::string name;     // optional
};

// Bounds on what a request may ask for, so that no body can make the server
// allocate or scan more than it is worth.
struct RequestLimits {
  int32_t vocab_size = 0;             // token ids must be below it (0: unchecked)
  int64_t max_tokens = 1 << 24;       // max_tokens above this is refused outright
  size_t max_stop = 16;               // stop strings
  size_t max_stop_bytes = 256;        // bytes per stop string
  size_t max_prompt_items = 1 << 20;  // token ids in a prompt array
  size_t max_messages = 4096;
  size_t max_attn_bytes = 1024;  // and of 'rope'
  // Files an "attn" may name with config= (minference's pattern files): the
  // server's --pattern-file ones; a request may not make the server read
  // any other file.
  std::vector<std::string> pattern_files;
  int max_depth = 64;                 // JSON nesting
};

struct CompletionRequest {
  bool chat = false;
  std::string model;  // empty when not given
  // /v1/completions: text, or token ids when prompt_is_tokens.
  std::string prompt;
  std::vector<int32_t> prompt_tokens;
  bool prompt_is_tokens = false;
  std::vector<ChatMessage> messages;  // /v1/chat/completions
  std::string template_kwargs;        // chat_template_kwargs: a JSON object's text (empty: none)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;       // completions: logprobs given; chat: logprobs true
  bool max_tokens_given = false;
  bool seed_given = false;
  RequestOptions options;  // max_tokens, sampling, stop, attn, logprobs, penalties, ignore_eos
};

// Sampling defaults are OpenAI's: temperature 1, top_p 1, no top-k or min-p;
// completions generate at most 16 tokens unless max_tokens says otherwise
// (chat: up to the context; the server fills that in).
// Throws RequestError (param, code) on anything it refuses.
CompletionRequest parse_completion_request(std::string_view body, bool chat, const RequestLimits& limits = {});

// Bodies of /tokenize and /detokenize.
struct TokenizeRequest {
  std::string content;
  bool add_special = true;
  bool parse_special = false;
};
TokenizeRequest parse_tokenize_request(std::string_view body);
std::vector<int32_t> parse_detokenize_request(std::string_view body, int32_t vocab_size);

}  // namespace sieve::server
