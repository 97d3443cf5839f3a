// Tokenizer::from_hf_folder: a Hugging Face model folder. tokenizer.json (the
// fast tokenizer) is preferred; without it tokenizer.model (SentencePiece) is
// read. tokenizer_config.json, config.json and generation_config.json then
// supply BOS/EOS and the add-BOS/EOS flags, as transformers does.
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "tokenizer/hf_components.h"
#include "tokenizer/sentencepiece_model.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

namespace sieve {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kMaxVocab = 1 << 22;  // refuses absurd ids before allocating
constexpr std::string_view kSpace = kSentencePieceSpace;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json read_json(const fs::path& path) {
  try {
    return json::parse(read_bytes(path));
  } catch (const json::exception& e) {
    throw Error(path.string() + ": invalid JSON: " + e.what());
  }
}

std::optional<json> read_json_opt(const fs::path& path) {
  if (!fs::exists(path)) return std::nullopt;
  return read_json(path);
}

// Runs f, turning a JSON field of the wrong type into a sieve::Error that
// names the file.
template <typename F>
auto in_file(const std::string& where, F&& f) {
  try {
    return f();
  } catch (const json::exception& e) {
    throw Error(where + ": unexpected content: " + e.what());
  }
}

// Visits a component and, for "Sequence" components, the ones inside it.
template <typename F>
void for_each_component(const json& node, const char* list_key, F&& f) {
  if (!node.is_object()) return;
  if (node.value("type", "") == "Sequence" && node.contains(list_key)) {
    for (const json& child : node.at(list_key)) for_each_component(child, list_key, f);
    return;
  }
  f(node);
}

struct AddedToken {
  int64_t id;
  std::string content;
  bool special, lstrip, rstrip;
};

void add_tokens(VocabSpec& spec, const std::vector<AddedToken>& added) {
  const size_t n = spec.tokens.size();
  if (spec.types.empty()) spec.types.assign(n, TokenType::Normal);
  if (spec.lstrip.empty()) spec.lstrip.assign(n, 0);
  if (spec.rstrip.empty()) spec.rstrip.assign(n, 0);
  // Added tokens extend the vocabulary, sometimes past a small gap; a bound
  // proportional to what the files list keeps a tiny file from asking for a
  // huge table.
  const int64_t bound = std::min<int64_t>(kMaxVocab, static_cast<int64_t>(n + added.size()) + 1024);
  for (const AddedToken& a : added) {
    if (a.id < 0 || a.id >= bound) throw Error(spec.source + ": added token id " + std::to_string(a.id) + " is out of range");
    const auto i = static_cast<size_t>(a.id);
    if (i >= spec.tokens.size()) {
      // Ids past the model vocabulary; any gap is filled with invisible
      // placeholders so ids stay positional.
      spec.tokens.resize(i + 1);
      if (!spec.scores.empty()) spec.scores.resize(i + 1, -std::numeric_limits<float>::infinity());
      spec.types.resize(i + 1, TokenType::Unused);
      spec.lstrip.resize(i + 1, 0);
      spec.rstrip.resize(i + 1, 0);
    }
    spec.tokens[i] = a.content;
    if (spec.types[i] != TokenType::Unknown) spec.types[i] = a.special ? TokenType::Control : TokenType::UserDefined;
    spec.lstrip[i] = a.lstrip;
    spec.rstrip[i] = a.rstrip;
  }
}

AddedToken parse_added(const json& t, int64_t id) {
  return {id, t.at("content").get<std::string>(), t.value("special", false), t.value("lstrip", false),
          t.value("rstrip", false)};
}

// The id of a token named in a config: a string or {"content": ...}.
int32_t named_token(const VocabSpec& spec, const json& v, const char* what) {
  const std::string text = v.is_object() ? v.at("content").get<std::string>() : v.get<std::string>();
  for (size_t i = 0; i < spec.tokens.size(); ++i)
    if (spec.tokens[i] == text) return static_cast<int32_t>(i);
  throw Error(spec.source + ": " + what + " '" + text + "' is not in the vocabulary");
}

void apply_template(const json& j, VocabSpec& spec) {
  // BOS/EOS come from the post-processor's template ("<s> $A").
  const json null_json;
  const json& post = j.contains("post_processor") ? j.at("post_processor") : null_json;
  for_each_component(post, "processors", [&](const json& c) {
    if (c.value("type", "") != "TemplateProcessing" || !c.contains("single")) return;
    const json& single = c.at("single");
    if (!single.is_array() || single.empty()) return;
    if (single.front().contains("SpecialToken")) {
      spec.add_bos = true;
      spec.bos = named_token(spec, single.front().at("SpecialToken").at("id"), "template BOS");
    }
    if (single.size() > 1 && single.back().contains("SpecialToken")) {
      spec.add_eos = true;
      spec.eos = named_token(spec, single.back().at("SpecialToken").at("id"), "template EOS");
    }
  });
}

void add_json_added_tokens(const json& j, VocabSpec& spec) {
  if (!j.contains("added_tokens")) return;
  std::vector<AddedToken> added;
  for (const json& t : j.at("added_tokens")) {
    if (!t.is_object() || !t.contains("id") || !t.at("id").is_number_integer())
      throw Error(spec.source + ": an added token has no integer id");
    added.push_back(parse_added(t, t.at("id").get<int64_t>()));
  }
  add_tokens(spec, added);
}

// model.type == "Unigram": "vocab" is a list of [piece, score] pairs in id
// order; the normalizer and pre-tokenizer (usually Precompiled and Metaspace)
// do all the text handling.
VocabSpec from_unigram_json(const json& j, const std::string& source) {
  VocabSpec spec;
  spec.source = source;
  spec.kind = VocabKind::Unigram;
  spec.hf_text_steps = true;
  const json& model = j.at("model");
  const json& vocab = model.at("vocab");
  if (!vocab.is_array()) throw Error(source + ": Unigram vocab is not a list of [piece, score] pairs");
  if (vocab.empty()) throw Error(source + ": Unigram vocab is empty");
  if (static_cast<int64_t>(vocab.size()) > kMaxVocab) throw Error(source + ": Unigram vocab is too large");
  for (const json& e : vocab) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
      throw Error(source + ": Unigram vocab entry " + std::to_string(spec.tokens.size()) + " is not [piece, score]");
    spec.tokens.push_back(e[0].get<std::string>());
    const double score = e[1].get<double>();
    if (!std::isfinite(score)) throw Error(source + ": Unigram piece '" + spec.tokens.back() + "' has a score that is not finite");
    spec.scores.push_back(static_cast<float>(score));
    spec.exact_scores.push_back(score);
  }
  const size_t n = spec.tokens.size();
  spec.types.assign(n, TokenType::Normal);
  spec.lstrip.assign(n, 0);
  spec.rstrip.assign(n, 0);
  spec.byte_fallback = model.value("byte_fallback", false);
  if (spec.byte_fallback)
    for (size_t i = 0; i < n; ++i)
      if (byte_piece_value(spec.tokens[i]) >= 0) spec.types[i] = TokenType::Byte;
  if (model.contains("unk_id") && model.at("unk_id").is_number_integer()) {
    const auto unk = model.at("unk_id").get<int64_t>();
    if (unk < 0 || unk >= static_cast<int64_t>(n)) throw Error(source + ": Unigram unk_id " + std::to_string(unk) + " is out of range");
    spec.unk = static_cast<int32_t>(unk);
    spec.types[static_cast<size_t>(unk)] = TokenType::Unknown;
  }
  const json null_json;
  spec.normalizers = parse_hf_normalizer(j.contains("normalizer") ? j.at("normalizer") : null_json, source);
  spec.pre_steps = parse_hf_pre_tokenizer(j.contains("pre_tokenizer") ? j.at("pre_tokenizer") : null_json, source);
  // Decoding drops the space a Metaspace prepend put in front of the text.
  spec.add_space_prefix = false;
  for (const PreStep& st : spec.pre_steps)
    if (st.kind == PreStep::Kind::Metaspace) spec.add_space_prefix = st.prepend != PreStep::Prepend::Never;
  add_json_added_tokens(j, spec);
  apply_template(j, spec);
  return spec;
}

VocabSpec from_tokenizer_json(const json& j, const std::string& source) {
  VocabSpec spec;
  spec.source = source;
  const json& model = j.at("model");
  const std::string type = model.value("type", "BPE");
  if (type == "Unigram") return from_unigram_json(j, source);
  if (type != "BPE")
    throw Error(source + ": tokenizer model type '" + type + "' is not supported (sieve reads BPE and Unigram)");

  const json& vocab = model.at("vocab");
  // Ids must be integers below the number of entries (plus room for added
  // tokens), so a tiny hostile file cannot ask for a huge table.
  const int64_t id_bound = std::min<int64_t>(kMaxVocab, static_cast<int64_t>(vocab.size()) +
                                             (j.contains("added_tokens") ? static_cast<int64_t>(j.at("added_tokens").size()) : 0));
  for (const auto& [text, idv] : vocab.items()) {
    if (!idv.is_number_integer()) throw Error(source + ": token '" + text + "' has an id that is not an integer");
    const auto id = idv.get<int64_t>();
    if (id < 0 || id >= id_bound) throw Error(source + ": token '" + text + "' has out-of-range id " + std::to_string(id));
    if (static_cast<size_t>(id) >= spec.tokens.size()) spec.tokens.resize(static_cast<size_t>(id) + 1);
    if (!spec.tokens[static_cast<size_t>(id)].empty()) throw Error(source + ": two tokens have id " + std::to_string(id));
    spec.tokens[static_cast<size_t>(id)] = text;
  }
  const size_t n = spec.tokens.size();
  spec.types.assign(n, TokenType::Normal);
  for (size_t i = 0; i < n; ++i)
    if (spec.tokens[i].empty()) spec.types[i] = TokenType::Unused;
  spec.lstrip.assign(n, 0);
  spec.rstrip.assign(n, 0);

  std::vector<std::pair<std::string, std::string>> merges;
  if (model.contains("merges")) {
    for (const json& m : model.at("merges")) {
      if (m.is_array() && m.size() == 2) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        continue;
      }
      const auto s = m.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) throw Error(source + ": merge rule '" + s + "' is not two tokens separated by a space");
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    }
  }

  const json null_json;
  const json& pre = j.contains("pre_tokenizer") ? j.at("pre_tokenizer") : null_json;
  const json& decoder = j.contains("decoder") ? j.at("decoder") : null_json;
  const json& norm = j.contains("normalizer") ? j.at("normalizer") : null_json;
  bool byte_level = false;
  for_each_component(pre, "pretokenizers", [&](const json& c) { byte_level |= c.value("type", "") == "ByteLevel"; });
  for_each_component(decoder, "decoders", [&](const json& c) { byte_level |= c.value("type", "") == "ByteLevel"; });

  if (byte_level) {
    spec.kind = VocabKind::ByteLevelBpe;
    spec.merges = std::move(merges);
    spec.ignore_merges = model.value("ignore_merges", false);
    spec.normalizers = parse_hf_normalizer(norm, source);
    spec.pre_steps = parse_hf_pre_tokenizer(pre, source);
  } else {
    // SentencePiece-style BPE written out as merges: the merge that forms a
    // piece earliest gives it the highest score; a piece no merge forms gets
    // -inf so it is never built from smaller ones.
    spec.kind = VocabKind::SentencePiece;
    spec.scores.assign(n, -std::numeric_limits<float>::infinity());
    std::unordered_map<std::string_view, size_t> ids;
    for (size_t i = 0; i < n; ++i) ids.emplace(spec.tokens[i], i);
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto it = ids.find(merges[rank].first + merges[rank].second);
      if (it != ids.end() && std::isinf(spec.scores[it->second]))
        spec.scores[it->second] = -static_cast<float>(rank);
    }
    spec.byte_fallback = model.value("byte_fallback", false);
    if (spec.byte_fallback)
      for (size_t i = 0; i < n; ++i)
        if (byte_piece_value(spec.tokens[i]) >= 0) spec.types[i] = TokenType::Byte;
    // The escaping SentencePiece BPE does itself (a U+2581 prefix, spaces
    // replaced by U+2581) is recognised and left to it; other normalizers
    // run first.
    bool prefix = false;
    for (NormStep& st : parse_hf_normalizer(norm, source)) {
      if (st.kind == NormStep::Kind::Prepend && st.text == kSpace) {
        prefix = true;
        continue;
      }
      if (st.kind == NormStep::Kind::Replace && st.pattern == regex_quote(" ") && st.text == kSpace) continue;
      spec.normalizers.push_back(std::move(st));
    }
    for (const PreStep& st : parse_hf_pre_tokenizer(pre, source))
      if (st.kind == PreStep::Kind::Metaspace) prefix |= st.prepend != PreStep::Prepend::Never;
    spec.add_space_prefix = prefix;
  }
  if (model.contains("unk_token") && model.at("unk_token").is_string()) {
    spec.unk = named_token(spec, model.at("unk_token"), "unk_token");
    spec.types[static_cast<size_t>(spec.unk)] = TokenType::Unknown;
  }

  add_json_added_tokens(j, spec);

  apply_template(j, spec);
  return spec;
}

VocabSpec from_sentencepiece_file(const fs::path& path) {
  const std::string source = path.string();
  const SentencePieceModel m = parse_sentencepiece_model(read_bytes(path), source);
  if (m.model_type != 1 && m.model_type != 2)
    throw Error(source + ": SentencePiece model type " + std::to_string(m.model_type) +
                " is not supported (sieve reads Unigram, type 1, and BPE, type 2)");
  VocabSpec spec;
  spec.source = source;
  if (m.model_type == 1) {
    spec.kind = VocabKind::Unigram;
    spec.precompiled_charsmap = m.precompiled_charsmap;
    spec.escape_whitespaces = m.escape_whitespaces;
    spec.treat_whitespace_as_suffix = m.treat_whitespace_as_suffix;
  } else {
    if (m.treat_whitespace_as_suffix || !m.escape_whitespaces)
      throw Error(source + ": SentencePiece whitespace options other than the defaults are not supported for BPE");
    spec.kind = VocabKind::SentencePiece;
  }
  for (const auto& p : m.pieces) {
    spec.tokens.push_back(p.text);
    spec.scores.push_back(p.score);
    spec.types.push_back(static_cast<TokenType>(p.type));
  }
  // BPE models apply no character map (Llama's is the identity); Unigram
  // models apply theirs.
  spec.add_space_prefix = m.add_dummy_prefix;
  spec.remove_extra_whitespaces = m.remove_extra_whitespaces;
  spec.byte_fallback = m.byte_fallback;
  const auto n = static_cast<int32_t>(spec.tokens.size());
  const auto in_range = [&](int32_t id) { return id >= 0 && id < n ? id : -1; };
  spec.unk = in_range(m.unk_id);
  spec.bos = in_range(m.bos_id);
  spec.eos = in_range(m.eos_id);
  // LlamaTokenizer's defaults.
  spec.add_bos = spec.bos >= 0;
  spec.add_eos = false;
  return spec;
}

std::vector<int32_t> id_list(const json& v) {
  std::vector<int32_t> ids;
  if (v.is_number_integer()) ids.push_back(v.get<int32_t>());
  else if (v.is_array())
    for (const json& x : v) ids.push_back(x.get<int32_t>());
  return ids;
}

void apply_configs(VocabSpec& spec, const fs::path& dir) {
  bool bos_named = false, eos_named = false;
  if (auto cfg = read_json_opt(dir / "tokenizer_config.json")) in_file((dir / "tokenizer_config.json").string(), [&] {
    const std::string where = (dir / "tokenizer_config.json").string();
    spec.source = where;
    if (cfg->contains("added_tokens_decoder")) {
      std::vector<AddedToken> added;
      for (const auto& [key, t] : cfg->at("added_tokens_decoder").items()) {
        int64_t id = -1;
        const auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
        if (ec != std::errc() || ptr != key.data() + key.size()) throw Error(where + ": added token id '" + key + "' is not a number");
        added.push_back(parse_added(t, id));
      }
      add_tokens(spec, added);
    }
    if (cfg->contains("add_bos_token") && cfg->at("add_bos_token").is_boolean()) spec.add_bos = cfg->at("add_bos_token").get<bool>();
    if (cfg->contains("add_eos_token") && cfg->at("add_eos_token").is_boolean()) spec.add_eos = cfg->at("add_eos_token").get<bool>();
    if (cfg->contains("bos_token") && !cfg->at("bos_token").is_null()) {
      spec.bos = named_token(spec, cfg->at("bos_token"), "bos_token");
      bos_named = true;
    }
    if (cfg->contains("eos_token") && !cfg->at("eos_token").is_null()) {
      spec.eos = named_token(spec, cfg->at("eos_token"), "eos_token");
      eos_named = true;
    }
  });
  if (auto cfg = read_json_opt(dir / "config.json")) in_file((dir / "config.json").string(), [&] {
    spec.source = (dir / "config.json").string();
    if (!bos_named && cfg->contains("bos_token_id") && cfg->at("bos_token_id").is_number_integer())
      spec.bos = cfg->at("bos_token_id").get<int32_t>();
    if (cfg->contains("eos_token_id")) {
      const auto ids = id_list(cfg->at("eos_token_id"));
      if (!eos_named && !ids.empty()) spec.eos = ids.front();
      spec.extra_eog.insert(spec.extra_eog.end(), ids.begin(), ids.end());
    }
  });
  if (auto cfg = read_json_opt(dir / "generation_config.json")) in_file((dir / "generation_config.json").string(), [&] {
    spec.source = (dir / "generation_config.json").string();
    if (cfg->contains("eos_token_id")) {
      const auto ids = id_list(cfg->at("eos_token_id"));
      spec.extra_eog.insert(spec.extra_eog.end(), ids.begin(), ids.end());
    }
  });
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_hf_folder(const std::string& dir_name) {
  const fs::path dir(dir_name);
  const fs::path tj = dir / "tokenizer.json", tm = dir / "tokenizer.model";
  VocabSpec spec;
  if (fs::exists(tj)) {
    const json j = read_json(tj);
    spec = in_file(tj.string(), [&] { return from_tokenizer_json(j, tj.string()); });
  } else if (fs::exists(tm)) {
    spec = from_sentencepiece_file(tm);
  } else {
    throw Error(dir_name + ": no tokenizer.json or tokenizer.model");
  }
  apply_configs(spec, dir);
  spec.source = dir_name;
  return build_tokenizer(std::move(spec));
}

}  // namespace sieve
