#include "chat/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::chat {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

ojson read_json(const fs::path& p) {
  ojson j = ojson::parse(read_text_file(p.string()), nullptr, false);
  if (j.is_discarded()) throw Error(p.string() + ": not valid JSON");
  return j;
}

// tokenizer_config.json writes special tokens as "<s>" or {"content": "<s>", ...}.
std::string token_text(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

std::string gguf_token_text(const GgufFile& f, const char* id_key) {
  const GgufValue* id = f.find(id_key);
  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  if (!id || !id->is_integer() || !tokens || !tokens->is_array()) return "";
  const GgufArray& items = tokens->as_array();
  const int64_t k = id->as_int();
  if (k < 0 || static_cast<uint64_t>(k) >= items.items.size() || !items.items[static_cast<size_t>(k)].is_string())
    return "";
  return items.items[static_cast<size_t>(k)].as_string();
}

}  // namespace

std::string no_template_message(const std::string& origin) {
  return (origin.empty() ? std::string("the model") : origin) +
         " has no chat template (no tokenizer.chat_template in the GGUF metadata, no chat_template in "
         "tokenizer_config.json, no chat_template.jinja); give one with --chat-template-file FILE.jinja";
}

ChatTemplate::ChatTemplate(const std::string& source, std::string bos_token, std::string eos_token, std::string origin)
    : template_([&] {
        try {
          return Template(source);
        } catch (const Error& e) {
          throw Error((origin.empty() ? std::string("chat template") : origin) + ": " + e.what());
        }
      }()),
      bos_token_(std::move(bos_token)),
      eos_token_(std::move(eos_token)),
      origin_(std::move(origin)) {}

ChatTemplate ChatTemplates::select(const std::string& name, bool has_tools) const {
  if (empty()) throw Error(no_template_message(origin));
  if (!name.empty()) {
    if (name == "default" && !default_source.empty()) return ChatTemplate(default_source, bos_token, eos_token, origin);
    auto it = named.find(name);
    if (it == named.end()) {
      std::string names = default_source.empty() ? "" : "default";
      for (const auto& [n, src] : named) names += (names.empty() ? "" : ", ") + n;
      throw Error(origin + ": no chat template named '" + name + "' (there are: " + names + ")");
    }
    return ChatTemplate(it->second, bos_token, eos_token, origin + " (" + name + ")");
  }
  if (has_tools) {
    auto it = named.find("tool_use");
    if (it != named.end()) return ChatTemplate(it->second, bos_token, eos_token, origin + " (tool_use)");
  }
  if (default_source.empty())
    throw Error(origin + ": the model has several chat templates and no default; choose one by name");
  return ChatTemplate(default_source, bos_token, eos_token, origin);
}

ChatTemplates ChatTemplates::from_gguf(const GgufFile& file) {
  ChatTemplates t;
  t.origin = file.label();
  for (const auto& [key, value] : file.metadata()) {
    if (!value.is_string()) continue;
    if (key == "tokenizer.chat_template") t.default_source = value.as_string();
    else if (key.rfind("tokenizer.chat_template.", 0) == 0 && key.size() > 24) t.named[key.substr(24)] = value.as_string();
  }
  auto def = t.named.find("default");
  if (t.default_source.empty() && def != t.named.end()) t.default_source = def->second;
  t.bos_token = gguf_token_text(file, "tokenizer.ggml.bos_token_id");
  t.eos_token = gguf_token_text(file, "tokenizer.ggml.eos_token_id");
  return t;
}

ChatTemplates ChatTemplates::from_tokenizer_config(const ojson& config, const std::string& where) {
  ChatTemplates t;
  t.origin = where;
  if (!config.is_object()) throw Error(where + ": not a JSON object");
  if (config.contains("bos_token")) t.bos_token = token_text(config["bos_token"]);
  if (config.contains("eos_token")) t.eos_token = token_text(config["eos_token"]);
  if (!config.contains("chat_template") || config["chat_template"].is_null()) return t;
  const ojson& ct = config["chat_template"];
  if (ct.is_string()) {
    t.default_source = ct.get<std::string>();
  } else if (ct.is_array()) {
    for (const ojson& entry : ct) {
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("template") ||
          !entry["template"].is_string())
        throw Error(where + ": chat_template list entries must be {\"name\": string, \"template\": string}");
      const std::string name = entry["name"].get<std::string>();
      if (name == "default") t.default_source = entry["template"].get<std::string>();
      else t.named[name] = entry["template"].get<std::string>();
    }
  } else {
    throw Error(where + ": chat_template must be a string or a list of {name, template}");
  }
  return t;
}

ChatTemplates ChatTemplates::from_hf_folder(const std::string& dir) {
  const fs::path d(dir);
  ChatTemplates t;
  std::error_code ec;
  if (fs::exists(d / "tokenizer_config.json", ec))
    t = from_tokenizer_config(read_json(d / "tokenizer_config.json"), (d / "tokenizer_config.json").string());
  t.origin = dir;
  // Newer exports keep the template in its own file, which takes precedence.
  if (fs::exists(d / "chat_template.jinja", ec)) {
    t.default_source = read_text_file((d / "chat_template.jinja").string());
    t.origin = (d / "chat_template.jinja").string();
  } else if (fs::exists(d / "chat_template.json", ec)) {
    const ojson j = read_json(d / "chat_template.json");
    if (j.is_object() && j.contains("chat_template") && j["chat_template"].is_string()) {
      t.default_source = j["chat_template"].get<std::string>();
      t.origin = (d / "chat_template.json").string();
    }
  }
  const fs::path extra = d / "additional_chat_templates";
  if (fs::is_directory(extra, ec))
    for (const auto& entry : fs::directory_iterator(extra, ec))
      if (entry.path().extension() == ".jinja") t.named[entry.path().stem().string()] = read_text_file(entry.path().string());
  return t;
}

std::string render_chat(const ChatTemplate& tpl, const ojson& messages, const ChatOptions& options) {
  if (!messages.is_array()) throw Error("messages must be a JSON list of {\"role\", \"content\"} objects");
  if (!options.extra.is_null() && !options.extra.is_object()) throw Error("chat template variables must be a JSON object");
  ojson context = ojson::object();
  context["messages"] = messages;
  context["tools"] = options.tools;
  context["documents"] = options.documents;
  context["add_generation_prompt"] = options.add_generation_prompt;
  context["bos_token"] = tpl.bos_token();
  context["eos_token"] = tpl.eos_token();
  if (options.extra.is_object())
    for (auto it = options.extra.begin(); it != options.extra.end(); ++it) context[it.key()] = it.value();
  try {
    return tpl.compiled().render(context, options.render);
  } catch (const Error& e) {
    throw Error((tpl.origin().empty() ? std::string("chat template") : tpl.origin()) + ": " + e.what());
  }
}

std::string render_chat(const ChatTemplates& templates, const ojson& messages, const ChatOptions& options) {
  if (!options.template_override.empty())
    return render_chat(ChatTemplate(options.template_override, templates.bos_token, templates.eos_token,
                                    "--chat-template-file"),
                       messages, options);
  const bool has_tools = !options.tools.is_null() && !(options.tools.is_array() && options.tools.empty());
  return render_chat(templates.select(options.template_name, has_tools), messages, options);
}

std::vector<int32_t> tokenize_chat(const Tokenizer& tokenizer, const std::string& rendered) {
  std::vector<int32_t> ids = tokenizer.encode(rendered, /*add_special=*/false, /*parse_special=*/true);
  // Whether the tokenizer adds BOS: what it puts around an empty text.
  const int32_t bos = tokenizer.bos_id();
  const std::vector<int32_t> specials = tokenizer.encode("", true, false);
  const bool adds_bos = bos >= 0 && !specials.empty() && specials.front() == bos;
  if (adds_bos && (ids.empty() || ids.front() != bos)) ids.insert(ids.begin(), bos);
  return ids;
}

}  // namespace sieve::chat
