// Tokenizer::from_gguf: the tokenizer.ggml.* metadata of a GGUF file, read
// with llama.cpp's defaults so a file tokenizes as llama.cpp would.
#include <algorithm>
#include <cctype>
#include <climits>
#include <optional>

#include "format/gguf.h"
#include "tokenizer/text/pre_types.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

namespace sieve {

namespace {

std::optional<int32_t> get_id(const GgufFile& f, const std::string& key) {
  const auto v = f.get_int_opt(key);
  if (!v) return std::nullopt;
  if (*v < 0 || *v > INT32_MAX) throw Error(f.label() + ": metadata '" + key + "' = " + std::to_string(*v) + " is not a token id");
  return static_cast<int32_t>(*v);
}

// The pre-tokenizer of a BPE vocabulary: tokenizer.ggml.pre, llama.cpp's
// "default" when absent, always "gemma4" for Gemma 4's model name.
const PreType& pre_type_of(const GgufFile& f, const std::string& model) {
  return pre_type(model == "gemma4" ? "gemma4" : f.get_string_opt("tokenizer.ggml.pre").value_or("default"));
}

// tokenizer.ggml.precompiled_charsmap: an array of int8 or uint8.
std::string charsmap_bytes(const GgufFile& f) {
  const GgufValue* v = f.find("tokenizer.ggml.precompiled_charsmap");
  if (!v) return {};
  if (!v->is_array() || (v->as_array().elem_type != GgufType::U8 && v->as_array().elem_type != GgufType::I8))
    throw Error(f.label() + ": metadata 'tokenizer.ggml.precompiled_charsmap' is not an array of bytes");
  std::string out;
  out.reserve(v->as_array().items.size());
  for (const GgufValue& b : v->as_array().items) out += static_cast<char>(static_cast<uint8_t>(b.as_int()));
  return out;
}

// Phi-3's GGUF files lack the rstrip flags its tokenizer.json gives the chat
// tokens ("<|end|>\n" swallows the newline); llama.cpp restores them by model
// name, and so do we.
void apply_phi3_rstrip(const GgufFile& f, VocabSpec& spec) {
  std::string name = f.get_string_opt("general.name").value_or("");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos) return;
  spec.rstrip.assign(spec.tokens.size(), 0);
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    const TokenType t = i < spec.types.size() ? spec.types[i] : TokenType::Normal;
    const std::string& text = spec.tokens[i];
    const bool special = t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
    if ((special || text == "</s>") && text != "<unk>" && text != "<s>" && text != "<|endoftext|>")
      spec.rstrip[i] = 1;
  }
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& f) {
  VocabSpec spec;
  spec.source = f.label();
  const auto model = f.get_string_opt("tokenizer.ggml.model");
  if (!model) throw Error(f.label() + ": no tokenizer in the file (missing 'tokenizer.ggml.model')");

  spec.tokens = f.get_string_array("tokenizer.ggml.tokens");
  const auto n = static_cast<int64_t>(spec.tokens.size());
  if (f.find("tokenizer.ggml.scores")) spec.scores = f.get_float_array("tokenizer.ggml.scores");
  if (f.find("tokenizer.ggml.token_type")) {
    for (int32_t t : f.get_int_array("tokenizer.ggml.token_type")) spec.types.push_back(static_cast<TokenType>(t));
  }

  if (*model == "llama") {
    spec.kind = VocabKind::SentencePiece;
    // llama.cpp's defaults for SentencePiece vocabularies.
    spec.unk = n > 0 ? 0 : -1;
    spec.bos = n > 1 ? 1 : -1;
    spec.eos = n > 2 ? 2 : -1;
    spec.add_bos = spec.bos >= 0;
    spec.add_space_prefix = f.get_bool_opt("tokenizer.ggml.add_space_prefix").value_or(true);
    spec.remove_extra_whitespaces = f.get_bool_opt("tokenizer.ggml.remove_extra_whitespaces").value_or(false);
  } else if (*model == "gpt2" || *model == "gemma4") {
    spec.kind = VocabKind::ByteLevelBpe;
    const PreType& type = pre_type_of(f, *model);
    if (!type.merges_optional || f.find("tokenizer.ggml.merges")) {
      for (const std::string& m : f.get_string_array("tokenizer.ggml.merges")) {
        // The first character may itself be a space in other alphabets, so the
        // separator is searched from the second byte on (as llama.cpp does).
        const size_t sp = m.find(' ', 1);
        if (sp == std::string::npos) throw Error(f.label() + ": merge rule '" + m + "' is not two tokens separated by a space");
        spec.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
      }
    }
    for (const std::string& re : type.regexes) spec.pre_steps.push_back(PreStep::regex(re));
    spec.ignore_merges = type.ignore_merges;
    spec.add_bos = type.add_bos;
    spec.byte_encode = type.byte_encode;
    spec.escape_spaces = type.escape_spaces;
    spec.whole_newline_runs = type.whole_newline_runs;
  } else if (*model == "t5") {
    // SentencePiece Unigram (T5, UMT5, ...), with llama.cpp's defaults.
    spec.kind = VocabKind::Unigram;
    spec.eos = n > 1 ? 1 : -1;
    spec.unk = n > 2 ? 2 : -1;
    spec.add_bos = false;
    spec.add_eos = spec.eos >= 0;
    spec.byte_fallback = false;
    spec.add_space_prefix = f.get_bool_opt("tokenizer.ggml.add_space_prefix").value_or(true);
    spec.remove_extra_whitespaces = f.get_bool_opt("tokenizer.ggml.remove_extra_whitespaces").value_or(false);
    spec.precompiled_charsmap = charsmap_bytes(f);
  } else {
    throw Error(f.label() + ": unknown tokenizer model '" + *model +
                "' (tokenizer.ggml.model); sieve reads 'llama' (SentencePiece BPE), 'gpt2' and 'gemma4' (BPE) and 't5' (SentencePiece Unigram)");
  }

  if (spec.kind == VocabKind::ByteLevelBpe && pre_type_of(f, *model).no_bos) spec.bos = -1;
  if (auto id = get_id(f, "tokenizer.ggml.bos_token_id")) spec.bos = *id;
  if (auto id = get_id(f, "tokenizer.ggml.eos_token_id")) spec.eos = *id;
  if (auto id = get_id(f, "tokenizer.ggml.unknown_token_id")) spec.unk = *id;
  if (auto id = get_id(f, "tokenizer.ggml.eot_token_id")) spec.eot = *id;
  if (auto id = get_id(f, "tokenizer.ggml.eom_token_id")) spec.eom = *id;
  if (auto b = f.get_bool_opt("tokenizer.ggml.add_bos_token")) spec.add_bos = *b;
  if (auto b = f.get_bool_opt("tokenizer.ggml.add_eos_token")) spec.add_eos = *b;
  if (spec.kind == VocabKind::ByteLevelBpe && pre_type_of(f, *model).force_bos) spec.add_bos = true;

  apply_phi3_rstrip(f, spec);
  return build_tokenizer(std::move(spec));
}

}  // namespace sieve
