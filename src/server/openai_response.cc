#include "server/openai_response.h"

#include "tokenizer/tokenizer.h"

namespace sieve::server {
namespace {

json null_or(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

json error_json(const std::string& message, const std::string& type, const std::string& param, const std::string& code) {
  return {{"error", {{"message", message}, {"type", type}, {"param", null_or(param)}, {"code", null_or(code)}}}};
}

std::string error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string finish_reason(const std::string& stop_reason) {
  if (stop_reason == "eos" || stop_reason == "stop") return "stop";
  if (stop_reason == "length" || stop_reason == "context") return "length";
  return "";
}

json usage_json(const RequestResult& r) {
  const auto prompt = static_cast<int64_t>(r.prompt_tokens.size());
  const auto completion = static_cast<int64_t>(r.tokens.size());
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_prompt_tokens}}}};
}

json completion_logprobs(const Tokenizer& tokenizer, const std::vector<TokenLogprob>& logprobs,
                         const std::vector<int64_t>& offsets) {
  json tokens = json::array(), values = json::array(), tops = json::array(), text_offset = json::array();
  for (size_t i = 0; i < logprobs.size(); ++i) {
    const TokenLogprob& lp = logprobs[i];
    tokens.push_back(tokenizer.piece(lp.token));
    values.push_back(lp.logprob);
    json top = json::object();
    for (const auto& [id, v] : lp.top) top[tokenizer.piece(id)] = v;
    tops.push_back(std::move(top));
    text_offset.push_back(i < offsets.size() ? offsets[i] : 0);
  }
  return {{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", text_offset}};
}

std::vector<int64_t> text_offsets(const Tokenizer& tokenizer, const std::vector<TokenLogprob>& logprobs) {
  std::vector<int64_t> offsets;
  StreamDecoder decoder(tokenizer);
  int64_t at = 0;
  for (const TokenLogprob& lp : logprobs) {
    offsets.push_back(at);
    at += static_cast<int64_t>(decoder.push(lp.token).size());
  }
  return offsets;
}

json chat_logprobs(const Tokenizer& tokenizer, const std::vector<TokenLogprob>& logprobs) {
  json content = json::array();
  for (const TokenLogprob& lp : logprobs) {
    const std::string piece = tokenizer.piece(lp.token);
    json top = json::array();
    for (const auto& [id, v] : lp.top) {
      const std::string p = tokenizer.piece(id);
      top.push_back({{"token", p}, {"logprob", v}, {"bytes", bytes_of(p)}});
    }
    content.push_back({{"token", piece}, {"logprob", lp.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

json completion_json(const ResponseHeader& h, const RequestResult& r, const json& logprobs) {
  json choice = {{"index", 0}, {"logprobs", logprobs}, {"finish_reason", null_or(finish_reason(r.stop_reason))}};
  if (h.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", r.text}};
  } else {
    choice["text"] = r.text;
  }
  return {{"id", h.id},
          {"object", h.chat ? "chat.completion" : "text_completion"},
          {"created", h.created},
          {"model", h.model},
          {"choices", json::array({choice})},
          {"usage", usage_json(r)}};
}

json chunk_json(const ResponseHeader& h, const std::string& text, const json& logprobs, const std::string& finish,
                bool first, bool include_usage) {
  json choice = {{"index", 0}, {"logprobs", logprobs}, {"finish_reason", null_or(finish)}};
  if (h.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (first && finish.empty())) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  json j = {{"id", h.id},
            {"object", h.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", h.created},
            {"model", h.model},
            {"choices", json::array({choice})}};
  if (include_usage) j["usage"] = nullptr;
  return j;
}

json usage_chunk_json(const ResponseHeader& h, const RequestResult& r) {
  return {{"id", h.id},
          {"object", h.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", h.created},
          {"model", h.model},
          {"choices", json::array()},
          {"usage", usage_json(r)}};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse_event(const json& j) { return "data: " + dump(j) + "\n\n"; }

}  // namespace sieve::server
