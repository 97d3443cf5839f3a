// The pre-tokenizer of every tokenizer.ggml.pre value, checked on crafted
// strings against splits worked out by hand from each tokenizer's own
// definition (its regexes, applied in sequence, every match and every stretch
// between matches a word). The strings aim at what tells the types apart:
// digit grouping, contractions and their case, case changes inside words,
// CJK runs, whitespace runs, newlines and punctuation. Then the settings that
// go with a name (ignore_merges, BOS, optional merges) through tiny GGUF
// vocabularies.
#include <gtest/gtest.h>

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "tokenizer/text/pre_types.h"
#include "tokenizer/text/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace sieve {
namespace {

// The words of text under a pre-type, joined by '|'.
std::string split(const std::string& pre, const std::string& text) {
  std::vector<PreStep> steps;
  for (const std::string& re : pre_type(pre).regexes) steps.push_back(PreStep::regex(re));
  Pretokenizer p(steps);
  std::string out;
  for (const std::string& w : p.words(text)) out += (out.empty() ? "" : "|") + w;
  return out;
}

// Names that are documented to share a definition must share it exactly.
void expect_same(const std::string& a, const std::string& b) {
  EXPECT_EQ(pre_type(a).regexes, pre_type(b).regexes) << a << " vs " << b;
  EXPECT_EQ(pre_type(a).ignore_merges, pre_type(b).ignore_merges) << a << " vs " << b;
  EXPECT_EQ(pre_type(a).add_bos, pre_type(b).add_bos) << a << " vs " << b;
}

TEST(PreTypes, Gpt2Family) {
  // Contractions are lower-case only; one leading space joins a run of
  // letters, digits or symbols; a whitespace run leaves its last space to the
  // next word.
  EXPECT_EQ(split("gpt-2", "Hello World's 1234567 foo"), "Hello| World|'s| 1234567| foo");
  EXPECT_EQ(split("gpt-2", "I'M  ok\n\nyes"), "I|'|M| | ok|\n|\n|yes");
  for (const char* name : {"mpt", "olmo", "jais", "trillion", "phi-2", "a.x-4.0", "exaone4", "granite-docling",
                           "gigachat", "mellum", "roberta-bpe"})
    expect_same(name, "gpt-2");
}

TEST(PreTypes, DefaultAndFalcon) {
  // default: punctuation runs, then GPT-2, then digit runs in threes.
  EXPECT_EQ(split("default", "a+b=1234567, ok!"), "a|+|b|=|123|456|7|,| ok|!");
  EXPECT_EQ(split("gpt-2", "a+b=1234567, ok!"), "a|+|b|=|1234567|,| ok|!");
  // falcon: the backtick counts as punctuation; digits by three within GPT-2's
  // " 12345" keep the space apart.
  EXPECT_EQ(split("falcon", "`x` 12345 ab"), "`|x|`| |123|45| ab");
}

TEST(PreTypes, StarcoderFamilySplitsEveryDigit) {
  EXPECT_EQ(split("starcoder", "abc 2024 x1"), "abc| |2|0|2|4| x|1");
  for (const char* name : {"refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"})
    expect_same(name, "starcoder");
}

TEST(PreTypes, Llama3Family) {
  // Contractions in any case; digits by three; newline runs together.
  EXPECT_EQ(split("llama-bpe", "Hello World's 1234567 foo"), "Hello| World|'s| |123|456|7| foo");
  EXPECT_EQ(split("llama-bpe", "I'M  ok\n\nyes"), "I|'M| | ok|\n\n|yes");
  for (const char* name : {"llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"})
    expect_same(name, "llama-bpe");
  EXPECT_TRUE(pre_type("llama-bpe").ignore_merges);
  EXPECT_TRUE(pre_type("llama-bpe").add_bos);
  // dbrx, smaug and chatglm split like Llama 3 without its other settings.
  for (const char* name : {"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}) {
    EXPECT_EQ(pre_type(name).regexes, pre_type("llama-bpe").regexes) << name;
    EXPECT_FALSE(pre_type(name).ignore_merges) << name;
    EXPECT_FALSE(pre_type(name).add_bos) << name;
  }
  EXPECT_TRUE(pre_type("chatglm-bpe").no_bos);
  // jais-2 cuts whitespace runs into 512, 256, ..., 4, then 1-2 spaces.
  EXPECT_EQ(split("jais-2", "a      b"), "a|    | | b");
  EXPECT_EQ(split("llama-bpe", "a      b"), "a|     | b");
  // minicpm5 groups digits by three before its own pattern.
  EXPECT_EQ(split("minicpm5", "Hello World's 1234567 foo"), "Hello| World|'s| |123|456|7| foo");
  EXPECT_TRUE(pre_type("minicpm5").ignore_merges);
}

TEST(PreTypes, Qwen2Family) {
  EXPECT_EQ(split("qwen2", "Hello World's 1234567 foo"), "Hello| World|'s| |1|2|3|4|5|6|7| foo");
  for (const char* name : {"deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "solar-open", "grok-2", "kormo"})
    expect_same(name, "qwen2");
  // A combining mark is not a letter for Qwen2 (it leads the next letters),
  // but joins the word for Qwen3.5.
  EXPECT_EQ(split("qwen2", "cafe\xCC\x81s 12"), "cafe|\xCC\x81s| |1|2");
  EXPECT_EQ(split("qwen35", "cafe\xCC\x81s 12"), "cafe\xCC\x81s| |1|2");
  // laguna cuts at newlines first, so a space never joins them.
  EXPECT_EQ(split("laguna", "a \n b"), "a| |\n| b");
  EXPECT_EQ(split("qwen2", "a \n b"), "a| \n| b");
  // ufakzeka has no contraction rule: "'llo" stays one word.
  EXPECT_EQ(split("ufakzeka", "we'llo"), "we|'llo");
  EXPECT_EQ(split("qwen2", "we'llo"), "we|'ll|o");
  // seed-coder: a punctuation run never takes the newline after it.
  EXPECT_EQ(split("seed-coder", "x;\ny 12"), "x|;|\n|y| |1|2");
  EXPECT_EQ(split("llama-bpe", "x;\ny 12"), "x|;\n|y| |12");
  // bailingmoe (possessive quantifiers, as written) splits like Qwen2.
  EXPECT_EQ(split("bailingmoe", "I'M  ok\n\nyes 12"), "I|'M| | ok|\n\n|yes| |1|2");
  // exaone-moe: a word runs on across single spaces between letters.
  EXPECT_EQ(split("exaone-moe", "Hello big world 42"), "Hello big world| |4|2");
}

TEST(PreTypes, DeepSeekFamily) {
  // deepseek-llm: newlines, cased-script letter runs, ASCII punctuation runs,
  // trailing whitespace, CJK runs, digit runs.
  EXPECT_EQ(split("deepseek-llm", "Hello, \xE4\xB8\x96\xE7\x95\x8C! 123\n"),
            "Hello|,| |\xE4\xB8\x96\xE7\x95\x8C|!| |123|\n");
  // deepseek-coder: any letters (CJK too), punctuation runs, single digits.
  EXPECT_EQ(split("deepseek-coder", "Hello, \xE4\xB8\x96\xE7\x95\x8C! 123\n"),
            "Hello|,| |\xE4\xB8\x96\xE7\x95\x8C|!| |1|2|3|\n");
  // deepseek-v3: digits by three first, CJK runs, then one ASCII mark may
  // lead a Latin run ("(foo").
  EXPECT_EQ(split("deepseek-v3", "Hello, \xE4\xB8\x96\xE7\x95\x8C! 1234 x(foo)"),
            "Hello|,| |\xE4\xB8\x96\xE7\x95\x8C|!| |123|4| x|(foo|)");
  for (const char* name : {"hunyuan-dense", "joyai-llm", "hy_v4"}) expect_same(name, "deepseek-v3");
  // spark2_5: newlines one by one, punctuation without them, single digits.
  EXPECT_EQ(split("spark2_5", "Hi!\n\n12345"), "Hi|!|\n|\n|1|2|3|4|5");
  EXPECT_EQ(split("deepseek-v3", "Hi!\n\n12345"), "Hi|!\n\n|123|45");
  // afmoe: digit groups of three counted from the right; kana runs apart.
  EXPECT_EQ(split("afmoe", "ab1234567 \xE3\x82\xAB\xE3\x82\xBF"), "ab|1|234|567| |\xE3\x82\xAB\xE3\x82\xBF");
  // youtu: Hangul runs first; then GPT-4o-like words with single digits.
  EXPECT_EQ(split("youtu", "\xED\x95\x9C\xEA\xB5\xAD camelCase's 42"),
            "\xED\x95\x9C\xEA\xB5\xAD| camel|Case's| |4|2");
  EXPECT_TRUE(pre_type("youtu").ignore_merges);
}

TEST(PreTypes, Gpt4oFamily) {
  const std::string s = "camelCaseWord HTTPServer's I'M 12345/\n";
  // Words split where lower case turns upper; contractions (any case) stay on
  // their word; '/' and newlines follow a punctuation run.
  EXPECT_EQ(split("gpt-4o", s), "camel|Case|Word| HTTPServer's| I'M| |123|45|/\n");
  for (const char* name : {"llama4", "kanana2", "talkie", "minimax-m2"}) expect_same(name, "gpt-4o");
  // tekken: no contraction rule, single digits.
  EXPECT_EQ(split("tekken", s), "camel|Case|Word| HTTPServer|'s| I|'M| |1|2|3|4|5|/\n");
  EXPECT_TRUE(pre_type("tekken").ignore_merges);
  EXPECT_TRUE(pre_type("tekken").add_bos);
  // granite-embed-multi-97m: the same on ASCII, written with lookaheads.
  EXPECT_EQ(split("granite-embed-multi-97m", s), "camel|Case|Word| HTTPServer's| I'M| |123|45|/\n");
  // tiny_aya: digit groups aligned to the end of the number first.
  EXPECT_EQ(split("tiny_aya", s), "camel|Case|Word| HTTPServer's| I'M| |12|345|/\n");
  // Llama 3 keeps the camel-case word whole.
  EXPECT_EQ(split("llama-bpe", "camelCaseWord"), "camelCaseWord");
}

TEST(PreTypes, KimiK2KeepsHanApart) {
  const std::string s = "\xE4\xBD\xA0\xE5\xA5\xBDworld \xE4\xB8\xAD\xE6\x96\x87" "abc 12345";
  EXPECT_EQ(split("kimi-k2", s), "\xE4\xBD\xA0\xE5\xA5\xBD|world| |\xE4\xB8\xAD\xE6\x96\x87|abc| |123|45");
  // GPT-4o counts Han as letters of either case, so it joins them to Latin.
  EXPECT_EQ(split("gpt-4o", s), "\xE4\xBD\xA0\xE5\xA5\xBDworld| \xE4\xB8\xAD\xE6\x96\x87" "abc| |123|45");
  EXPECT_TRUE(pre_type("kimi-k2").merges_optional);
}

TEST(PreTypes, SuperBpeOnlyCutsNumbers) {
  // Words span spaces (superwords); numbers are isolated and cut into groups
  // of three from the right by a zero-width lookahead.
  EXPECT_EQ(split("superbpe", "hello world 1234567"), "hello world |1|234|567");
}

TEST(PreTypes, BloomFamily) {
  // Runs of anything but whitespace and . , ! ? ( ) | and a few non-Latin
  // sentence marks; what the pattern skips is kept as words too.
  EXPECT_EQ(split("bloom", "Hello, world! (x|y) 12"), "Hello|,| world|! (|x|||y|)| 12");
  for (const char* name : {"poro-chat", "gpt3-finnish"}) expect_same(name, "bloom");
  EXPECT_EQ(split("viking", "Hello, world! (x|y) 12"), "Hello|,| world|! (|x|||y|)| |1|2");
}

TEST(PreTypes, Chameleon) {
  // Sentinels and image tokens are cut out first, but later steps still split
  // them; tabs, newlines and double spaces, digits, punctuation, then GPT-2.
  EXPECT_EQ(split("chameleon", "a<sentinel:12>IMGIMGABZ  x\ty3!"), "a|<|sentinel|:|1|2|>|IMGIMGABZ|  |x|\t|y|3|!");
  EXPECT_TRUE(pre_type("chameleon").add_bos);
}

TEST(PreTypes, InvalidUtf8AndLongRunsSurvive) {
  const std::string bad("\xFF\xFE abc \xC3 12\xE4\xBD", 14);
  for (const std::string& name : known_pre_types()) {
    std::vector<PreStep> steps;
    for (const std::string& re : pre_type(name).regexes) steps.push_back(PreStep::regex(re));
    Pretokenizer p(steps);
    std::string joined;
    for (const std::string& w : p.words(bad)) joined += w;
    EXPECT_EQ(joined, bad) << name;
    const std::string spaces(20000, ' ');
    joined.clear();
    for (const std::string& w : p.words(spaces + "x")) joined += w;
    EXPECT_EQ(joined, spaces + "x") << name;
  }
}

TEST(PreTypes, UnknownNameListsTheKnownOnes) {
  try {
    pre_type("martian-v7");
    FAIL();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("martian-v7"), std::string::npos);
    EXPECT_NE(msg.find("deepseek-coder"), std::string::npos);
    EXPECT_NE(msg.find("tekken"), std::string::npos);
  }
}

// A byte-level vocabulary: the 256 byte characters, then extra tokens, with
// the given merges.
std::unique_ptr<Tokenizer> byte_vocab(const std::string& pre, const std::vector<std::string>& extra,
                                      const std::vector<std::string>& merges, bool with_merges = true,
                                      int bos = -1) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    static int next = 256;
    if (b == 0) next = 256;
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(next++);
    std::string s;
    if (cp < 0x80) s += static_cast<char>(cp);
    else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    tokens.push_back(s);
  }
  tokens.insert(tokens.end(), extra.begin(), extra.end());
  tokens.push_back("<s>");
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = 3;
  GgufWriter w;
  w.set("tokenizer.ggml.model", gguf_value::string("gpt2"));
  if (!pre.empty()) w.set("tokenizer.ggml.pre", gguf_value::string(pre));
  w.set("tokenizer.ggml.tokens", gguf_value::string_array(tokens));
  w.set("tokenizer.ggml.token_type", gguf_value::i32_array(types));
  if (with_merges) w.set("tokenizer.ggml.merges", gguf_value::string_array(merges));
  if (bos >= 0) w.set("tokenizer.ggml.bos_token_id", gguf_value::u32(static_cast<uint32_t>(bos)));
  const std::vector<uint8_t> bytes = w.bytes();
  GgufFile f(bytes.data(), bytes.size(), "test.gguf");
  return Tokenizer::from_gguf(f);
}

TEST(PreTypeSettings, IgnoreMergesTakesWholeWords) {
  // "abc" is a token that the merges cannot build ("a b" only): Llama 3's
  // ignore_merges emits it whole, dbrx (same regex, no ignore_merges) merges.
  const std::vector<std::string> extra = {"ab", "abc"};
  auto llama = byte_vocab("llama-bpe", extra, {"a b"}, true, 258);
  auto dbrx = byte_vocab("dbrx", extra, {"a b"}, true, 258);
  EXPECT_EQ(llama->encode("abc", false), (std::vector<int32_t>{257}));
  EXPECT_EQ(dbrx->encode("abc", false), (std::vector<int32_t>{256, 'c'}));
  // Llama 3 adds BOS by default, dbrx does not.
  EXPECT_EQ(llama->encode("abc", true).front(), 258);
  EXPECT_EQ(dbrx->encode("abc", true).size(), 2u);
}

TEST(PreTypeSettings, BosRules) {
  // chatglm has no BOS unless the file names one; tekken adds it by default,
  // so a file without one is refused.
  auto glm = byte_vocab("chatglm-bpe", {}, {});
  EXPECT_EQ(glm->bos_id(), -1);
  EXPECT_EQ(byte_vocab("chatglm-bpe", {}, {}, true, 256)->bos_id(), 256);
  EXPECT_THROW(byte_vocab("tekken", {}, {}), Error);
  EXPECT_EQ(byte_vocab("tekken", {}, {}, true, 256)->encode("x", true).front(), 256);
}

TEST(PreTypeSettings, MergesAreOptionalOnlyForKimi) {
  EXPECT_NO_THROW(byte_vocab("kimi-k2", {}, {}, false));
  try {
    byte_vocab("gpt-2", {}, {}, false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("merges"), std::string::npos) << e.what();
  }
}

TEST(PreTypeSettings, MissingPreIsLlamaCppsDefault) {
  // No tokenizer.ggml.pre: llama.cpp's default splitting (digits by three),
  // where a " 1" merge is never reached.
  auto none = byte_vocab("", {"\xC4\xA0" "1"}, {"\xC4\xA0 1"});
  auto gpt2 = byte_vocab("gpt-2", {"\xC4\xA0" "1"}, {"\xC4\xA0 1"});
  EXPECT_EQ(gpt2->encode(" 1234", false).front(), 256);
  EXPECT_NE(none->encode(" 1234", false).front(), 256);
  EXPECT_EQ(none->decode(none->encode(" 1234", false)), " 1234");
}

// Gemma 4 style BPE on raw UTF-8: spaces become U+2581, only lines and
// newline runs are cut, characters the vocabulary lacks become <0xNN>.
std::unique_ptr<Tokenizer> raw_vocab(const std::string& model, const std::string& pre, bool add_bos_key) {
  const std::string sp = "\xE2\x96\x81";
  std::vector<std::string> tokens = {"<bos>", sp, "a", "b", sp + "a", sp + "ab", "\n", "\n\n"};
  std::vector<int32_t> types(tokens.size(), 1);
  types[0] = 3;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    tokens.push_back(name);
    types.push_back(6);
  }
  GgufWriter w;
  w.set("tokenizer.ggml.model", gguf_value::string(model));
  if (!pre.empty()) w.set("tokenizer.ggml.pre", gguf_value::string(pre));
  w.set("tokenizer.ggml.tokens", gguf_value::string_array(tokens));
  w.set("tokenizer.ggml.token_type", gguf_value::i32_array(types));
  w.set("tokenizer.ggml.merges", gguf_value::string_array({sp + " a", sp + "a b"}));
  w.set("tokenizer.ggml.bos_token_id", gguf_value::u32(0));
  if (add_bos_key) w.set("tokenizer.ggml.add_bos_token", gguf_value::boolean(false));
  const std::vector<uint8_t> bytes = w.bytes();
  GgufFile f(bytes.data(), bytes.size(), "raw.gguf");
  return Tokenizer::from_gguf(f);
}

TEST(PreTypeSettings, RawUtf8BpeLikeGemma4) {
  auto gemma = raw_vocab("gemma4", "", true);
  // "ab ab" -> "ab▁ab", one word: a, b, then ▁ a -> ▁a, ▁a b -> ▁ab.
  EXPECT_EQ(gemma->encode("ab ab", false), (std::vector<int32_t>{2, 3, 5}));
  EXPECT_EQ(gemma->decode({2, 3, 5}), "ab ab");
  // A newline run that is a token is taken whole; sarvam-moe merges it like
  // any other word (and there is no merge for it).
  EXPECT_EQ(gemma->encode("a\n\nb", false), (std::vector<int32_t>{2, 7, 3}));
  auto sarvam = raw_vocab("gpt2", "sarvam-moe", true);
  EXPECT_EQ(sarvam->encode("a\n\nb", false), (std::vector<int32_t>{2, 6, 6, 3}));
  // A character the vocabulary lacks is spelled in byte tokens.
  EXPECT_EQ(gemma->encode("\xC3\xA9", false), (std::vector<int32_t>{8 + 0xC3, 8 + 0xA9}));
  EXPECT_EQ(gemma->decode(gemma->encode("x\xC3\xA9 a", false)), "x\xC3\xA9 a");
  // Gemma 4 always adds BOS, whatever add_bos_token says; sarvam follows it.
  EXPECT_EQ(gemma->encode("a", true).front(), 0);
  EXPECT_EQ(sarvam->encode("a", true).front(), 2);
  EXPECT_EQ(raw_vocab("gpt2", "granite-embed-multi-311m", true)->encode("a\n\n", true),
            (std::vector<int32_t>{0, 2, 7}));
}

}  // namespace
}  // namespace sieve
