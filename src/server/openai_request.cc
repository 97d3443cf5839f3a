#include "server/openai_request.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "util/json_depth.h"

namespace sieve::server {
namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& message, const std::string& param, const std::string& code = "invalid_value") {
  throw RequestError(message, param, code);
}

json parse_object(std::string_view body, int max_depth) {
  // Deep nesting costs the parser memory per level; nothing here needs more
  // than a few levels, so refuse it before parsing.
  if (json_nesting(body) > max_depth)
    refuse("the JSON body nests deeper than " + std::to_string(max_depth) + " levels", "", "invalid_json");
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {
    // nlohmann's message names the position and the problem (ill-formed
    // UTF-8 inside strings, numbers past double's range).
    refuse(std::string("the body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) refuse("the body must be a JSON object", "", "invalid_json");
  return j;
}

// A field's value, or nullptr when it is absent or null (OpenAI treats null
// as "not given").
const json* field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

int64_t as_int(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) refuse("'" + name + "' must be an integer", name, "invalid_type");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    refuse("'" + name + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi), name);
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) refuse("'" + name + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi), name);
  return x;
}

double as_number(const json& v, const std::string& name, double lo, double hi, bool lo_open = false) {
  if (!v.is_number()) refuse("'" + name + "' must be a number", name, "invalid_type");
  const double x = v.get<double>();
  auto fmt = [](double d) {
    std::string s = std::to_string(d);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
  };
  if (!std::isfinite(x) || (lo_open ? x <= lo : x < lo) || x > hi)
    refuse("'" + name + "' must be in " + (lo_open ? "(" : "[") + fmt(lo) + ", " + fmt(hi) + "]", name);
  return x;
}

bool as_bool(const json& v, const std::string& name) {
  if (!v.is_boolean()) refuse("'" + name + "' must be true or false", name, "invalid_type");
  return v.get<bool>();
}

const std::string& as_string(const json& v, const std::string& name) {
  if (!v.is_string()) refuse("'" + name + "' must be a string", name, "invalid_type");
  return v.get_ref<const std::string&>();
}

std::vector<int32_t> as_token_ids(const json& v, const std::string& name, const RequestLimits& limits) {
  if (v.size() > limits.max_prompt_items) refuse("'" + name + "' has more than " + std::to_string(limits.max_prompt_items) + " tokens", name);
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  const int64_t hi = limits.vocab_size > 0 ? limits.vocab_size - 1 : std::numeric_limits<int32_t>::max();
  for (const json& t : v) {
    if (!t.is_number_integer()) refuse("'" + name + "' must be a string or an array of token ids", name, "invalid_type");
    ids.push_back(static_cast<int32_t>(as_int(t, name, 0, hi)));
  }
  return ids;
}

void parse_prompt(const json& v, CompletionRequest& r, const RequestLimits& limits) {
  if (v.is_string()) {
    r.prompt = v.get<std::string>();
    return;
  }
  if (!v.is_array()) refuse("'prompt' must be a string or an array of token ids", "prompt", "invalid_type");
  if (v.empty()) refuse("'prompt' is empty", "prompt");
  // A batch of one (["text"] or [[ids]]) is the same as its element.
  if (v[0].is_string() || v[0].is_array()) {
    if (v.size() > 1) refuse("'prompt' holds " + std::to_string(v.size()) + " prompts; sieve takes one prompt per request", "prompt");
    if (v[0].is_string()) {
      r.prompt = v[0].get<std::string>();
      return;
    }
    if (v[0].empty()) refuse("'prompt' is empty", "prompt");
    r.prompt_tokens = as_token_ids(v[0], "prompt", limits);
  } else {
    r.prompt_tokens = as_token_ids(v, "prompt", limits);
  }
  r.prompt_is_tokens = true;
}

std::string message_content(const json& v, size_t i) {
  const std::string name = "messages[" + std::to_string(i) + "].content";
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) refuse("'" + name + "' must be a string or an array of text parts", name, "invalid_type");
  std::string text;
  for (const json& part : v) {
    if (!part.is_object()) refuse("'" + name + "' must be a string or an array of text parts", name, "invalid_type");
    const json* type = field(part, "type");
    if (!type || !type->is_string() || *type != "text")
      refuse("'" + name + "': only parts of type \"text\" are supported", name);
    const json* t = field(part, "text");
    if (!t) refuse("'" + name + "': a text part has no 'text'", name);
    text += as_string(*t, name + ".text");
  }
  return text;
}

void parse_messages(const json& v, CompletionRequest& r, const RequestLimits& limits) {
  if (!v.is_array()) refuse("'messages' must be an array of messages", "messages", "invalid_type");
  if (v.empty()) refuse("'messages' is empty", "messages");
  if (v.size() > limits.max_messages) refuse("'messages' holds more than " + std::to_string(limits.max_messages) + " messages", "messages");
  static const std::set<std::string> kRoles = {"system", "developer", "user", "assistant", "tool"};
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string name = "messages[" + std::to_string(i) + "]";
    const json& m = v[i];
    if (!m.is_object()) refuse("'" + name + "' must be an object with 'role' and 'content'", name, "invalid_type");
    for (const auto& [key, value] : m.items()) {
      if (key != "role" && key != "content" && key != "name")
        refuse("'" + name + "." + key + "' is not supported", name + "." + key);
    }
    const json* role = field(m, "role");
    if (!role) refuse("'" + name + ".role' is missing", name + ".role");
    ChatMessage msg;
    msg.role = as_string(*role, name + ".role");
    if (!kRoles.count(msg.role)) refuse("'" + name + ".role' must be system, developer, user, assistant or tool", name + ".role");
    if (const json* c = field(m, "content")) msg.content = message_content(*c, i);
    if (const json* n = field(m, "name")) msg.name = as_string(*n, name + ".name");
    r.messages.push_back(std::move(msg));
  }
}

void parse_stop(const json& v, RequestOptions& o, const RequestLimits& limits) {
  auto add = [&](const json& s) {
    const std::string& text = as_string(s, "stop");
    if (text.empty()) refuse("'stop' strings must not be empty", "stop");
    if (text.size() > limits.max_stop_bytes)
      refuse("a 'stop' string is longer than " + std::to_string(limits.max_stop_bytes) + " bytes", "stop");
    o.stop.push_back(text);
  };
  if (v.is_string()) return add(v);
  if (!v.is_array()) refuse("'stop' must be a string or an array of strings", "stop", "invalid_type");
  if (v.size() > limits.max_stop) refuse("'stop' holds more than " + std::to_string(limits.max_stop) + " strings", "stop");
  for (const json& s : v) add(s);
}

const json& value_or_null(const json& body, const char* key) {
  static const json null_value;
  auto it = body.find(key);
  return it == body.end() ? null_value : *it;
}

// Fields that are accepted only with the value that means "off".
void require_default(const json& body, const char* key, bool ok, const std::string& what) {
  if (field(body, key) && !ok) refuse("'" + std::string(key) + "' " + what, key, "unsupported_value");
}

const std::set<std::string> kCommon = {
    "model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "top_k", "min_p",
    "repeat_penalty", "seed", "stop", "presence_penalty", "frequency_penalty", "n", "user", "attn", "rope",
    "ignore_eos", "logit_bias", "logprobs"};
const std::set<std::string> kCompletions = {"prompt", "echo", "best_of", "suffix"};
const std::set<std::string> kChat = {"messages", "max_completion_tokens", "top_logprobs", "response_format", "tools",
                                     "tool_choice", "parallel_tool_calls", "functions", "function_call", "metadata",
                                     "store", "service_tier", "modalities", "chat_template_kwargs"};

}  // namespace

// Every config=FILE in an attn spec must be one of the server's pattern files.
void check_attn_files(const std::string& attn, const RequestLimits& limits) {
  for (size_t at = attn.find("config="); at != std::string::npos; at = attn.find("config=", at + 1)) {
    if (at > 0 && attn[at - 1] != ':' && attn[at - 1] != ',') continue;  // part of a longer key
    const size_t begin = at + 7, end = attn.find_first_of(",+", begin);
    const std::string file = attn.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (std::find(limits.pattern_files.begin(), limits.pattern_files.end(), file) != limits.pattern_files.end()) continue;
    std::string allowed;
    for (const std::string& f : limits.pattern_files) allowed += (allowed.empty() ? "" : ", ") + f;
    refuse("'attn' may name only the pattern files the server was started with (--pattern-file): " +
               (allowed.empty() ? std::string("none") : allowed) + "; not '" + file + "'",
           "attn");
  }
}

CompletionRequest parse_completion_request(std::string_view body, bool chat, const RequestLimits& limits) {
  const json j = parse_object(body, limits.max_depth);
  CompletionRequest r;
  r.chat = chat;
  RequestOptions& o = r.options;
  o.max_tokens = 16;
  o.sampling.temperature = 1.0f;
  o.sampling.top_p = 1.0f;
  o.sampling.top_k = 0;
  o.sampling.min_p = 0.0f;
  o.sampling.repeat_penalty = 1.0f;

  for (const auto& [key, value] : j.items()) {
    if (kCommon.count(key) || (chat ? kChat : kCompletions).count(key)) continue;
    refuse("unknown parameter '" + key + "'" + (chat ? " for /v1/chat/completions" : " for /v1/completions"), key,
           "unknown_parameter");
  }

  if (const json* v = field(j, "model")) r.model = as_string(*v, "model");
  if (chat) {
    const json* m = field(j, "messages");
    if (!m) refuse("'messages' is required", "messages", "missing_required_parameter");
    parse_messages(*m, r, limits);
  } else {
    const json* p = field(j, "prompt");
    if (!p) refuse("'prompt' is required", "prompt", "missing_required_parameter");
    parse_prompt(*p, r, limits);
  }
  if (const json* v = field(j, "stream")) r.stream = as_bool(*v, "stream");
  if (const json* v = field(j, "stream_options")) {
    if (!v->is_object()) refuse("'stream_options' must be an object", "stream_options", "invalid_type");
    for (const auto& [key, value] : v->items()) {
      if (key != "include_usage") refuse("'stream_options." + key + "' is not supported", "stream_options." + key);
    }
    if (const json* u = field(*v, "include_usage")) r.include_usage = as_bool(*u, "stream_options.include_usage");
  }

  const char* max_key = chat && field(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (chat && field(j, "max_completion_tokens") && field(j, "max_tokens"))
    refuse("give 'max_tokens' or 'max_completion_tokens', not both", "max_tokens");
  if (const json* v = field(j, max_key)) {
    o.max_tokens = as_int(*v, max_key, 1, limits.max_tokens);
    r.max_tokens_given = true;
  }
  if (const json* v = field(j, "temperature")) o.sampling.temperature = static_cast<float>(as_number(*v, "temperature", 0, 2));
  if (const json* v = field(j, "top_p")) o.sampling.top_p = static_cast<float>(as_number(*v, "top_p", 0, 1, true));
  if (const json* v = field(j, "top_k")) {
    const int64_t hi = limits.vocab_size > 0 ? limits.vocab_size : std::numeric_limits<int32_t>::max();
    o.sampling.top_k = static_cast<int>(as_int(*v, "top_k", 0, hi));
  }
  if (const json* v = field(j, "min_p")) {
    o.sampling.min_p = static_cast<float>(as_number(*v, "min_p", 0, 1));
    if (o.sampling.min_p >= 1) refuse("'min_p' must be in [0, 1)", "min_p");
  }
  if (const json* v = field(j, "repeat_penalty")) o.sampling.repeat_penalty = static_cast<float>(as_number(*v, "repeat_penalty", 0, 10, true));
  if (const json* v = field(j, "seed")) {
    o.sampling.seed = static_cast<uint64_t>(as_int(*v, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
    r.seed_given = true;
  }
  if (const json* v = field(j, "stop")) parse_stop(*v, o, limits);
  if (const json* v = field(j, "presence_penalty")) o.presence_penalty = static_cast<float>(as_number(*v, "presence_penalty", -2, 2));
  if (const json* v = field(j, "frequency_penalty")) o.frequency_penalty = static_cast<float>(as_number(*v, "frequency_penalty", -2, 2));
  if (const json* v = field(j, "n")) {
    if (as_int(*v, "n", 1, 128) != 1) refuse("'n' must be 1: sieve returns one choice per request", "n", "unsupported_value");
  }
  if (const json* v = field(j, "user")) as_string(*v, "user");
  if (const json* v = field(j, "attn")) {
    o.attn = as_string(*v, "attn");
    if (o.attn.size() > limits.max_attn_bytes) refuse("'attn' is longer than " + std::to_string(limits.max_attn_bytes) + " bytes", "attn");
    check_attn_files(o.attn, limits);
  }
  if (const json* v = field(j, "rope")) {
    o.rope = as_string(*v, "rope");
    if (o.rope.size() > limits.max_attn_bytes) refuse("'rope' is longer than " + std::to_string(limits.max_attn_bytes) + " bytes", "rope");
  }
  if (const json* v = field(j, "ignore_eos")) o.ignore_eos = as_bool(*v, "ignore_eos");
  if (const json* v = field(j, "logit_bias")) {
    if (!v->is_object()) refuse("'logit_bias' must be an object", "logit_bias", "invalid_type");
    if (!v->empty()) refuse("'logit_bias' is not supported", "logit_bias", "unsupported_parameter");
  }

  if (chat) {
    if (const json* v = field(j, "logprobs")) r.logprobs = as_bool(*v, "logprobs");
    if (const json* v = field(j, "top_logprobs")) {
      const int64_t n = as_int(*v, "top_logprobs", 0, 20);
      if (!r.logprobs) refuse("'top_logprobs' needs 'logprobs': true", "top_logprobs");
      o.top_logprobs = static_cast<int>(n);
    } else if (r.logprobs) {
      o.top_logprobs = 0;
    }
    if (const json* v = field(j, "response_format")) {
      if (!v->is_object()) refuse("'response_format' must be an object", "response_format", "invalid_type");
      const json* t = field(*v, "type");
      require_default(j, "response_format", t && t->is_string() && *t == "text" && v->size() == 1,
                      "supports only {\"type\": \"text\"}");
    }
    require_default(j, "tools", value_or_null(j, "tools").is_array() && value_or_null(j, "tools").empty(), "is not supported");
    require_default(j, "functions", value_or_null(j, "functions").is_array() && value_or_null(j, "functions").empty(), "is not supported");
    require_default(j, "tool_choice", value_or_null(j, "tool_choice") == "none", "is not supported (only \"none\")");
    require_default(j, "function_call", value_or_null(j, "function_call") == "none", "is not supported (only \"none\")");
    require_default(j, "modalities", value_or_null(j, "modalities") == json::array({"text"}), "supports only [\"text\"]");
    if (const json* v = field(j, "parallel_tool_calls")) as_bool(*v, "parallel_tool_calls");
    if (const json* v = field(j, "store")) as_bool(*v, "store");
    if (const json* v = field(j, "metadata")) {
      if (!v->is_object()) refuse("'metadata' must be an object", "metadata", "invalid_type");
    }
    if (const json* v = field(j, "service_tier")) as_string(*v, "service_tier");
    if (const json* v = field(j, "chat_template_kwargs")) {
      if (!v->is_object()) refuse("'chat_template_kwargs' must be an object", "chat_template_kwargs", "invalid_type");
      if (!v->empty()) r.template_kwargs = v->dump();
    }
  } else {
    if (const json* v = field(j, "logprobs")) {
      o.top_logprobs = static_cast<int>(as_int(*v, "logprobs", 0, 20));
      r.logprobs = true;
    }
    require_default(j, "echo", value_or_null(j, "echo") == false, "is not supported (only false)");
    require_default(j, "best_of", value_or_null(j, "best_of") == 1, "must be 1");
    require_default(j, "suffix", value_or_null(j, "suffix") == "", "is not supported");
  }
  return r;
}

TokenizeRequest parse_tokenize_request(std::string_view body) {
  const json j = parse_object(body, 8);
  TokenizeRequest r;
  for (const auto& [key, value] : j.items()) {
    if (key != "content" && key != "prompt" && key != "add_special" && key != "parse_special" && key != "model")
      refuse("unknown parameter '" + key + "' for /tokenize", key, "unknown_parameter");
  }
  const json* c = field(j, "content");
  const json* p = field(j, "prompt");
  if (c && p) refuse("give 'content' or 'prompt', not both", "content");
  if (!c && !p) refuse("'content' is required", "content", "missing_required_parameter");
  r.content = as_string(c ? *c : *p, c ? "content" : "prompt");
  if (const json* v = field(j, "add_special")) r.add_special = as_bool(*v, "add_special");
  if (const json* v = field(j, "parse_special")) r.parse_special = as_bool(*v, "parse_special");
  return r;
}

std::vector<int32_t> parse_detokenize_request(std::string_view body, int32_t vocab_size) {
  const json j = parse_object(body, 8);
  for (const auto& [key, value] : j.items()) {
    if (key != "tokens" && key != "model") refuse("unknown parameter '" + key + "' for /detokenize", key, "unknown_parameter");
  }
  const json* t = field(j, "tokens");
  if (!t) refuse("'tokens' is required", "tokens", "missing_required_parameter");
  if (!t->is_array()) refuse("'tokens' must be an array of token ids", "tokens", "invalid_type");
  RequestLimits limits;
  limits.vocab_size = vocab_size;
  return as_token_ids(*t, "tokens", limits);
}

}  // namespace sieve::server
