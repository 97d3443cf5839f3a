#pragma once
// Chat templates of a model and the API frontends use to lay a conversation
// out as the model was trained on it.
//
// Where a model's templates come from:
//   GGUF             `tokenizer.chat_template` (the default) and
//                    `tokenizer.chat_template.NAME` (named ones, e.g. tool_use)
//   Hugging Face     `chat_template.jinja`, else `chat_template.json`'s
//   folder           "chat_template", else `tokenizer_config.json`'s
//                    "chat_template": a string, or a list of {"name", "template"}
//                    (names such as "default", "tool_use", "rag");
//                    plus additional_chat_templates/NAME.jinja
//   the user         --chat-template-file FILE (ChatOptions::template_override)
//
// Typical use (server or CLI):
//
//   chat::ChatOptions opt;
//   opt.add_generation_prompt = true;
//   opt.tools = request["tools"];                      // or null
//   std::string text = chat::render_chat(model.chat_templates(), messages, opt);
//   std::vector<int32_t> ids = chat::tokenize_chat(model.tokenizer(), text);
//
// render_chat gives the template the variables transformers'
// apply_chat_template gives it: messages, tools, documents,
// add_generation_prompt, bos_token, eos_token, and every member of
// ChatOptions::extra (e.g. enable_thinking). Errors are sieve::Error with a
// one-line message: no template (saying how to give one), a syntax error, a
// template that refuses the conversation (raise_exception), a limit passed.
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/template.h"

namespace sieve {
class GgufFile;
class Tokenizer;
}  // namespace sieve

namespace sieve::chat {

// One template, compiled, with the special-token text it is rendered with.
class ChatTemplate {
 public:
  ChatTemplate(const std::string& source, std::string bos_token, std::string eos_token, std::string origin);

  const std::string& bos_token() const { return bos_token_; }
  const std::string& eos_token() const { return eos_token_; }
  const std::string& origin() const { return origin_; }  // file or metadata key, for messages
  const Template& compiled() const { return template_; }

 private:
  Template template_;
  std::string bos_token_, eos_token_, origin_;
};

// The templates a model ships (sources, compiled on use).
struct ChatTemplates {
  std::string default_source;                  // empty when the model has no default template
  std::map<std::string, std::string> named;    // name -> source ("tool_use", "rag", ...)
  std::string bos_token, eos_token;            // the text of the model's BOS and EOS tokens
  std::string origin;                          // where the templates were found

  bool empty() const { return default_source.empty() && named.empty(); }

  // The template transformers would pick: `name` when given (an error lists
  // the names there are), else "tool_use" when tools are given and there is
  // one, else the default. Throws the no-template error for a model without.
  ChatTemplate select(const std::string& name = "", bool has_tools = false) const;

  static ChatTemplates from_gguf(const GgufFile& file);
  static ChatTemplates from_hf_folder(const std::string& dir);
  // The "chat_template" member of a tokenizer_config.json (string, list of
  // {name, template}, or absent) and its bos_token/eos_token.
  static ChatTemplates from_tokenizer_config(const nlohmann::ordered_json& config, const std::string& where);
};

struct ChatOptions {
  bool add_generation_prompt = true;
  nlohmann::ordered_json tools;      // a list of tool schemas, or null
  nlohmann::ordered_json documents;  // RAG documents, or null
  nlohmann::ordered_json extra;      // an object: more variables for the template, or null
  std::string template_name;         // a named template of the model; "" lets select() choose
  std::string template_override;     // a template's source used instead of the model's (--chat-template-file)
  RenderOptions render;              // limits, and the time strftime_now() formats
};

// Renders a conversation (a JSON list of {"role", "content", ...}) with a
// compiled template.
std::string render_chat(const ChatTemplate& tpl, const nlohmann::ordered_json& messages, const ChatOptions& options);
// Picks (or takes the override) and renders.
std::string render_chat(const ChatTemplates& templates, const nlohmann::ordered_json& messages,
                        const ChatOptions& options);

// Token ids of a rendering: special-token text (<|im_start|>, <s>, ...) is
// matched to its token, and BOS is added when the tokenizer adds it, unless
// the text already begins with it (never twice). No EOS is appended.
std::vector<int32_t> tokenize_chat(const Tokenizer& tokenizer, const std::string& rendered);

// The error for a model without a template.
std::string no_template_message(const std::string& origin);

}  // namespace sieve::chat
