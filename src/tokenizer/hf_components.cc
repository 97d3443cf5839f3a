#include "tokenizer/hf_components.h"

#include "tokenizer/text/pre_types.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace sieve {

namespace {

using json = nlohmann::json;

std::string type_of(const json& c, const std::string& source, const char* what) {
  if (!c.is_object() || !c.contains("type") || !c.at("type").is_string())
    throw Error(source + ": a " + what + " without a \"type\"");
  return c.at("type").get<std::string>();
}

// A Split/Replace pattern: {"String": s} (literal) or {"Regex": r}.
std::string pattern_of(const json& c, const std::string& source, const std::string& type) {
  if (!c.contains("pattern") || !c.at("pattern").is_object())
    throw Error(source + ": " + type + " has no pattern object");
  const json& p = c.at("pattern");
  if (p.contains("Regex")) return p.at("Regex").get<std::string>();
  if (p.contains("String")) return regex_quote(p.at("String").get<std::string>());
  throw Error(source + ": " + type + " pattern is neither a String nor a Regex");
}

SplitBehavior behavior_of(const json& c, const std::string& source, const char* fallback) {
  const std::string b = c.contains("behavior") ? c.at("behavior").get<std::string>() : fallback;
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  throw Error(source + ": split behavior '" + b + "' is not one of Removed, Isolated, MergedWithPrevious, "
              "MergedWithNext, Contiguous");
}

// Hugging Face's punctuation: ASCII punctuation or Unicode P*.
constexpr const char* kPunctuation = R"([\p{P}!-/:-@\[-`{-~])";

void add_normalizer(const json& c, const std::string& source, std::vector<NormStep>& out) {
  if (c.is_null()) return;
  const std::string t = type_of(c, source, "normalizer");
  NormStep s;
  if (t == "Sequence") {
    if (!c.contains("normalizers") || !c.at("normalizers").is_array())
      throw Error(source + ": Sequence normalizer without a \"normalizers\" list");
    for (const json& child : c.at("normalizers")) add_normalizer(child, source, out);
    return;
  } else if (t == "NFC") {
    s.kind = NormStep::Kind::NFC;
  } else if (t == "NFD") {
    s.kind = NormStep::Kind::NFD;
  } else if (t == "NFKC") {
    s.kind = NormStep::Kind::NFKC;
  } else if (t == "NFKD") {
    s.kind = NormStep::Kind::NFKD;
  } else if (t == "Lowercase") {
    s.kind = NormStep::Kind::Lowercase;
  } else if (t == "StripAccents") {
    s.kind = NormStep::Kind::StripAccents;
  } else if (t == "Prepend") {
    s.kind = NormStep::Kind::Prepend;
    s.text = c.at("prepend").get<std::string>();
  } else if (t == "Replace") {
    s.kind = NormStep::Kind::Replace;
    s.pattern = pattern_of(c, source, "Replace normalizer");
    s.text = c.at("content").get<std::string>();
  } else if (t == "Strip") {
    s.kind = NormStep::Kind::Strip;
    s.left = c.value("strip_left", true);
    s.right = c.value("strip_right", true);
  } else if (t == "Precompiled") {
    s.kind = NormStep::Kind::Precompiled;
    if (!c.contains("precompiled_charsmap") || c.at("precompiled_charsmap").is_null()) return;
    s.charsmap = decode_base64(c.at("precompiled_charsmap").get<std::string>(), source + ": Precompiled charsmap");
    if (s.charsmap.empty()) return;
  } else {
    throw Error(source + ": normalizer '" + t + "' is not supported (sieve reads Sequence, NFC, NFD, NFKC, NFKD, "
                "Lowercase, StripAccents, Prepend, Replace, Strip, Precompiled)");
  }
  out.push_back(std::move(s));
}

void add_pre_tokenizer(const json& c, const std::string& source, std::vector<PreStep>& out) {
  if (c.is_null()) return;
  const std::string t = type_of(c, source, "pre-tokenizer");
  if (t == "Sequence") {
    if (!c.contains("pretokenizers") || !c.at("pretokenizers").is_array())
      throw Error(source + ": Sequence pre-tokenizer without a \"pretokenizers\" list");
    for (const json& child : c.at("pretokenizers")) add_pre_tokenizer(child, source, out);
  } else if (t == "Split") {
    out.push_back(PreStep::regex(pattern_of(c, source, "Split pre-tokenizer"), behavior_of(c, source, "Isolated"),
                                 c.value("invert", false)));
  } else if (t == "ByteLevel") {
    if (c.value("add_prefix_space", true)) out.push_back(PreStep::prefix_space());
    if (c.value("use_regex", true)) out.push_back(PreStep::regex(pre_type("gpt-2").regexes.front()));
  } else if (t == "Digits") {
    out.push_back(PreStep::regex(R"(\p{N})", c.value("individual_digits", false) ? SplitBehavior::Isolated
                                                                                   : SplitBehavior::Contiguous));
  } else if (t == "Punctuation") {
    out.push_back(PreStep::regex(kPunctuation, behavior_of(c, source, "Isolated")));
  } else if (t == "Whitespace") {
    out.push_back(PreStep::regex(R"(\w+|[^\w\s]+)", SplitBehavior::Removed, true));
  } else if (t == "WhitespaceSplit") {
    out.push_back(PreStep::regex(R"(\s+)", SplitBehavior::Removed));
  } else if (t == "BertPreTokenizer") {
    out.push_back(PreStep::regex(R"(\s+)", SplitBehavior::Removed));
    out.push_back(PreStep::regex(kPunctuation, SplitBehavior::Isolated));
  } else if (t == "Metaspace") {
    const std::string replacement = c.value("replacement", std::string("\xE2\x96\x81"));
    if (replacement.empty() || utf8::char_length(replacement, 0) != replacement.size())
      throw Error(source + ": Metaspace replacement '" + replacement + "' is not one character");
    PreStep::Prepend prepend = PreStep::Prepend::Always;
    if (c.contains("prepend_scheme") && c.at("prepend_scheme").is_string()) {
      const std::string scheme = c.at("prepend_scheme").get<std::string>();
      if (scheme == "always") prepend = PreStep::Prepend::Always;
      else if (scheme == "first") prepend = PreStep::Prepend::First;
      else if (scheme == "never") prepend = PreStep::Prepend::Never;
      else throw Error(source + ": Metaspace prepend_scheme '" + scheme + "' is not always, first or never");
    } else if (c.contains("add_prefix_space")) {
      prepend = c.at("add_prefix_space").get<bool>() ? PreStep::Prepend::Always : PreStep::Prepend::Never;
    }
    out.push_back(PreStep::metaspace(replacement, prepend, c.value("split", true)));
  } else {
    throw Error(source + ": pre-tokenizer '" + t + "' is not supported (sieve reads Sequence, Split, ByteLevel, "
                "Digits, Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer, Metaspace)");
  }
}

}  // namespace

std::vector<NormStep> parse_hf_normalizer(const json& node, const std::string& source) {
  std::vector<NormStep> out;
  add_normalizer(node, source, out);
  return out;
}

std::vector<PreStep> parse_hf_pre_tokenizer(const json& node, const std::string& source) {
  std::vector<PreStep> out;
  add_pre_tokenizer(node, source, out);
  return out;
}

std::string decode_base64(const std::string& text, const std::string& what) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=') {
      ++pad;
      continue;
    } else if (c == '\n' || c == '\r') {
      continue;
    } else {
      throw Error(what + " is not base64");
    }
    if (pad) throw Error(what + " is not base64 (data after padding)");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (pad > 2) throw Error(what + " is not base64 (too much padding)");
  return out;
}

}  // namespace sieve
