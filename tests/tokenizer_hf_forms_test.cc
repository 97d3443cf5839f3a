// tokenizer.json's pre-tokenizer and normalizer forms, each checked against
// what Hugging Face tokenizers defines it to do: Split with every behaviour
// (and invert), ByteLevel's prefix space, Digits, Punctuation, Whitespace,
// WhitespaceSplit, Metaspace's prepend schemes; NFC/NFD/NFKC/NFKD,
// Lowercase, Prepend, Replace, Strip, StripAccents. Then a whole
// tokenizer.json that chains them, and the errors for forms sieve lacks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "tokenizer/hf_components.h"
#include "tokenizer/text/normalizer.h"
#include "tokenizer/text/pretokenizer.h"
#include "tokenizer/text/unicode_normalize.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace sieve {
namespace {

using json = nlohmann::json;

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : "|") + w;
  return out;
}

std::string pre(const json& j, const std::string& text, bool at_start = true) {
  Pretokenizer p(parse_hf_pre_tokenizer(j, "t.json"));
  std::vector<std::string> words;
  p.split(text, at_start, words);
  return join(words);
}

std::string norm(const json& j, const std::string& text) {
  Normalizer n(parse_hf_normalizer(j, "t.json"), "t.json");
  return n.apply(text);
}

json split_json(const std::string& behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
}

TEST(HfPreTokenizers, SplitBehaviours) {
  // "a-b--c": pieces a, -, b, -, -, c (the dashes are matches).
  EXPECT_EQ(pre(split_json("Isolated"), "a-b--c"), "a|-|b|-|-|c");
  EXPECT_EQ(pre(split_json("Removed"), "a-b--c"), "a|b|c");
  // A match joins the piece before it unless that piece was a match too.
  EXPECT_EQ(pre(split_json("MergedWithPrevious"), "a-b--c"), "a-|b-|-|c");
  // ... or the piece after it, unless that one was a match.
  EXPECT_EQ(pre(split_json("MergedWithNext"), "a-b--c"), "a|-b|-|-c");
  // Runs of matches become one piece.
  EXPECT_EQ(pre(split_json("Contiguous"), "a-b--c"), "a|-|b|--|c");
  // invert: the text between the dashes is what matched.
  EXPECT_EQ(pre(split_json("Removed", true), "a-b--c"), "-|-|-");
  EXPECT_EQ(pre(split_json("MergedWithPrevious", true), "a-b--c"), "a|-b|-|-c");
  // A String pattern is literal, a Regex pattern is not.
  EXPECT_EQ(pre({{"type", "Split"}, {"pattern", {{"String", "."}}}, {"behavior", "Removed"}}, "a.b.c"), "a|b|c");
  EXPECT_EQ(pre({{"type", "Split"}, {"pattern", {{"Regex", "[0-9]+"}}}, {"behavior", "Isolated"}}, "ab12cd3"),
            "ab|12|cd|3");
  // A zero-width match cuts the text.
  EXPECT_EQ(pre({{"type", "Split"}, {"pattern", {{"Regex", "(?=[A-Z])"}}}, {"behavior", "Isolated"}}, "oneTwoThree"),
            "one|Two|Three");
}

TEST(HfPreTokenizers, ByteLevel) {
  const json with_prefix = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  EXPECT_EQ(pre(with_prefix, "hello world"), " hello| world");
  EXPECT_EQ(pre(with_prefix, " hello"), " hello");
  const json plain = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  EXPECT_EQ(pre(plain, "hello world's 12"), "hello| world|'s| 12");
  // Without the regex the whole text is one word; the prefix goes on every
  // word an earlier step produced.
  const json seq = {{"type", "Sequence"},
                    {"pretokenizers",
                     {split_json("Removed"), {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", false}}}}};
  EXPECT_EQ(pre(seq, "a b-c"), " a b| c");
}

TEST(HfPreTokenizers, DigitsPunctuationWhitespace) {
  EXPECT_EQ(pre({{"type", "Digits"}, {"individual_digits", true}}, "a123b4"), "a|1|2|3|b|4");
  EXPECT_EQ(pre({{"type", "Digits"}, {"individual_digits", false}}, "a123b4"), "a|123|b|4");
  // Punctuation: each mark alone (ASCII and Unicode P*), or per behaviour.
  EXPECT_EQ(pre({{"type", "Punctuation"}}, "hi!? \xE2\x80\x9Cyes\xE2\x80\x9D"),
            "hi|!|?| |\xE2\x80\x9C|yes|\xE2\x80\x9D");
  EXPECT_EQ(pre({{"type", "Punctuation"}, {"behavior", "Contiguous"}}, "hi!?"), "hi|!?");
  // Whitespace: word characters and other non-space runs, spaces dropped.
  EXPECT_EQ(pre({{"type", "Whitespace"}}, "Hey  you!! caf\xC3\xA9\n1"), "Hey|you|!!|caf\xC3\xA9|1");
  EXPECT_EQ(pre({{"type", "WhitespaceSplit"}}, "Hey  you!!\tx"), "Hey|you!!|x");
  EXPECT_EQ(pre({{"type", "BertPreTokenizer"}}, "Hey  you!!"), "Hey|you|!|!");
}

TEST(HfPreTokenizers, Metaspace) {
  const std::string sp = "\xE2\x96\x81";
  json m = {{"type", "Metaspace"}, {"replacement", sp}, {"prepend_scheme", "always"}, {"split", true}};
  // Spaces become U+2581, which starts each word.
  EXPECT_EQ(pre(m, "Hello  world"), sp + "Hello|" + sp + "|" + sp + "world");
  EXPECT_EQ(pre(m, "Hello", false), sp + "Hello");
  // "first": only the text at the start of the input gets the prefix.
  m["prepend_scheme"] = "first";
  EXPECT_EQ(pre(m, "Hello", true), sp + "Hello");
  EXPECT_EQ(pre(m, "Hello", false), "Hello");
  // ... which is the text's own first character: after WhitespaceSplit drops
  // leading spaces, no word begins the input.
  const json ws_first = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "WhitespaceSplit"}}, m}}};
  EXPECT_EQ(pre(ws_first, "a b"), sp + "a|b");
  EXPECT_EQ(pre(ws_first, " a b"), "a|b");
  m["prepend_scheme"] = "never";
  EXPECT_EQ(pre(m, "Hello world"), "Hello|" + sp + "world");
  // No split: one word.
  m["split"] = false;
  m["prepend_scheme"] = "always";
  EXPECT_EQ(pre(m, "a b"), sp + "a" + sp + "b");
  // The legacy add_prefix_space flag means "always".
  EXPECT_EQ(pre({{"type", "Metaspace"}, {"replacement", sp}, {"add_prefix_space", true}}, "a b"), sp + "a|" + sp + "b");
}

TEST(HfNormalizers, UnicodeForms) {
  // Canonical ordering puts the dot below (220) before the acute (230); NFC
  // then composes a + dot below, and the acute stays apart.
  EXPECT_EQ(norm({{"type", "NFD"}}, "a\xCC\x81\xCC\xA3"), "a\xCC\xA3\xCC\x81");
  EXPECT_EQ(norm({{"type", "NFC"}}, "a\xCC\x81\xCC\xA3"), "\xE1\xBA\xA1\xCC\x81");
  EXPECT_EQ(norm({{"type", "NFC"}}, "e\xCC\x81"), "\xC3\xA9");
  // Compatibility forms: ligature, circled digit, fullwidth letter; Hangul
  // jamo compose arithmetically.
  EXPECT_EQ(norm({{"type", "NFKC"}}, "\xEF\xAC\x81\xE2\x91\xA0\xEF\xBC\xA8\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"),
            "fi1H\xED\x95\x9C");
  EXPECT_EQ(norm({{"type", "NFKD"}}, "\xEF\xAC\x81\xC3\xA9\xED\x95\x9C"),
            "fie\xCC\x81\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB");
  // Invalid bytes pass through.
  EXPECT_EQ(norm({{"type", "NFC"}}, std::string("a\xFF" "e\xCC\x81", 5)), std::string("a\xFF\xC3\xA9", 4));
}

TEST(HfNormalizers, LowercaseWithFinalSigma) {
  EXPECT_EQ(norm({{"type", "Lowercase"}}, "\xC3\x80\xC3\x89 \xC4\xB0 \xCE\xA3\xCE\x91\xCE\xA3 \xCE\xA3 \xCE\x91\xCE\xA3."),
            "\xC3\xA0\xC3\xA9 i\xCC\x87 \xCF\x83\xCE\xB1\xCF\x82 \xCF\x83 \xCE\xB1\xCF\x82.");
  EXPECT_EQ(norm({{"type", "Lowercase"}}, "ABC def"), "abc def");
}

TEST(HfNormalizers, PrependReplaceStripAccents) {
  const std::string sp = "\xE2\x96\x81";
  EXPECT_EQ(norm({{"type", "Prepend"}, {"prepend", sp}}, "ab"), sp + "ab");
  EXPECT_EQ(norm({{"type", "Prepend"}, {"prepend", sp}}, ""), "");
  EXPECT_EQ(norm({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}}, "a b  c"),
            "a" + sp + "b" + sp + sp + "c");
  EXPECT_EQ(norm({{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}, "a  b   c"), "a b c");
  EXPECT_EQ(norm({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, " \t a b \n"), "a b \n");
  EXPECT_EQ(norm({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, " \t a b \n"), "a b");
  const json seq = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFD"}}, {{"type", "StripAccents"}}, {{"type", "Lowercase"}}}}};
  EXPECT_EQ(norm(seq, "Caf\xC3\xA9"), "cafe");
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("sieve-hf-forms-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }

 private:
  std::filesystem::path path_;
};

// GPT-2's byte alphabet: the character standing for byte b.
std::string byte_char(int b) {
  static std::vector<std::string> chars = [] {
    std::vector<std::string> c(256);
    int next = 256;
    for (int i = 0; i < 256; ++i) {
      const bool printable = (i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE;
      const int cp = printable ? i : next++;
      if (cp < 0x80) c[static_cast<size_t>(i)] = std::string(1, static_cast<char>(cp));
      else c[static_cast<size_t>(i)] = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    return c;
  }();
  return chars[static_cast<size_t>(b)];
}

TEST(HfTokenizerJson, ChainedFormsDriveByteLevelBpe) {
  // NFKC + Lowercase, then single digits, then ByteLevel with its prefix
  // space on every word: "ＨＩ 12" -> "hi 12" -> "hi ", "1", "2" ->
  // " hi ", " 1", " 2" -> " hi", " ", " 1", " 2".
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const std::string g = byte_char(' ');
  vocab[g + "h"] = 256;
  vocab[g + "hi"] = 257;
  json j;
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFKC"}}, {{"type", "Lowercase"}}}}};
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Digits"}, {"individual_digits", true}},
                          {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}}}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", {g + " h", g + "h i"}}};
  TempDir dir;
  dir.write("tokenizer.json", j.dump());
  auto tok = Tokenizer::from_hf_folder(dir.path());
  const int32_t sp = ' ';
  EXPECT_EQ(tok->encode("\xEF\xBC\xA8\xEF\xBC\xA9 12", false), (std::vector<int32_t>{257, sp, sp, '1', sp, '2'}));
}

TEST(HfTokenizerJson, UnsupportedFormsAreNamed) {
  const auto error_for = [](const json& normalizer, const json& pre_tokenizer) {
    json vocab = {{"a", 0}};
    json j = {{"normalizer", normalizer}, {"pre_tokenizer", pre_tokenizer}, {"decoder", {{"type", "ByteLevel"}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}};
    TempDir dir;
    dir.write("tokenizer.json", j.dump());
    try {
      Tokenizer::from_hf_folder(dir.path());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_for({{"type", "BertNormalizer"}}, nullptr).find("'BertNormalizer'"), std::string::npos);
  EXPECT_NE(error_for(nullptr, {{"type", "UnicodeScripts"}}).find("'UnicodeScripts'"), std::string::npos);
  EXPECT_NE(error_for(nullptr, split_json("Sideways")).find("'Sideways'"), std::string::npos);
  EXPECT_NE(error_for(nullptr, {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}}).find("(unclosed"),
            std::string::npos);
  EXPECT_NE(error_for(nullptr, {{"type", "Metaspace"}, {"prepend_scheme", "sometimes"}}).find("sometimes"),
            std::string::npos);
  EXPECT_NE(error_for(nullptr, {{"pretokenizers", json::array()}}).find("type"), std::string::npos);
}

}  // namespace
}  // namespace sieve
