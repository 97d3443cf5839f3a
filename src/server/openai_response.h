#pragma once
// The JSON shapes of OpenAI's API that the server writes: completions and
// chat completions (whole and as stream chunks), usage, logprobs, errors.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/request.h"

namespace sieve {
class Tokenizer;
}

namespace sieve::server {

using nlohmann::json;

// What every response and chunk of one request shares.
struct ResponseHeader {
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;
  std::string model;
  bool chat = false;
};

// {"error": {"message", "type", "param", "code"}}; empty param or code -> null.
json error_json(const std::string& message, const std::string& type, const std::string& param = "",
                const std::string& code = "");
// The error type OpenAI gives an HTTP status.
std::string error_type(int status);

// "stop" (end of generation or a stop string) or "length" (max_tokens or the
// context); empty for anything else (cancelled, error).
std::string finish_reason(const std::string& stop_reason);

json usage_json(const RequestResult& result);

// Completions: {tokens, token_logprobs, top_logprobs, text_offset}; offsets[i]
// is where token i's text starts in the generated text, in bytes.
json completion_logprobs(const Tokenizer& tokenizer, const std::vector<TokenLogprob>& logprobs,
                         const std::vector<int64_t>& offsets);
// The offsets of each token's text in the text the tokens decode to.
std::vector<int64_t> text_offsets(const Tokenizer& tokenizer, const std::vector<TokenLogprob>& logprobs);
// Chat: {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
json chat_logprobs(const Tokenizer& tokenizer, const std::vector<TokenLogprob>& logprobs);

// The whole response of a request that did not stream.
json completion_json(const ResponseHeader& h, const RequestResult& result, const json& logprobs);

// One stream chunk carrying `text` (chat: as delta.content; `first` adds the
// assistant role), optional logprobs and a finish_reason (empty: null).
json chunk_json(const ResponseHeader& h, const std::string& text, const json& logprobs, const std::string& finish,
                bool first, bool include_usage);
// The last chunk with include_usage: no choices, the usage.
json usage_chunk_json(const ResponseHeader& h, const RequestResult& result);

// "data: <json>\n\n"
std::string sse_event(const json& j);
// Serializes any JSON the server writes; invalid UTF-8 (a token that is part
// of a character) becomes U+FFFD instead of an exception.
std::string dump(const json& j);

}  // namespace sieve::server
