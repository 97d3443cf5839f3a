// StreamDecoder: text released token by token must be whole UTF-8 characters
// and must add up to decode() exactly.
#include <gtest/gtest.h>

#include <random>

#include "format/gguf.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace sieve {
namespace {

// True when s is well-formed UTF-8 (no partial character at either end).
bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

std::string random_text(std::mt19937& rng) {
  // ASCII, Latin-1, CJK, emoji (some not in the vocabulary, so they arrive as
  // byte-fallback tokens one byte at a time), combining marks, newlines.
  static const std::vector<std::string> parts = {
      "hello", " world", "  ", "\n", "\t", "caf\xC3\xA9", " na\xC3\xAFve", "\xE4\xBD\xA0\xE5\xA5\xBD",
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "\xF0\x9F\xA6\x99", "\xF0\x9F\x98\x80\xF0\x9F\x9A\x80",
      "\xF0\x9F\x8F\xB3\xEF\xB8\x8F\xE2\x80\x8D\xF0\x9F\x8C\x88", "e\xCC\x81", " 12345", "\xD0\xBF\xD1\x80\xD0\xB8",
      "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87", ".", "!?", " \xE2\x82\xAC" "5",
  };
  std::uniform_int_distribution<size_t> pick(0, parts.size() - 1), count(1, 40);
  std::string s;
  for (size_t n = count(rng); n > 0; --n) s += parts[pick(rng)];
  return s;
}

void check_stream(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  StreamDecoder stream(tok);
  std::string joined;
  for (int32_t id : ids) {
    const std::string chunk = stream.push(id);
    EXPECT_TRUE(valid_utf8(chunk)) << "partial character released";
    joined += chunk;
  }
  joined += stream.flush();
  EXPECT_TRUE(joined == tok.decode(ids));
}

void random_streams(const Tokenizer& tok, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int round = 0; round < 200; ++round) {
    const std::string text = random_text(rng);
    const auto ids = tok.encode(text, round % 2 == 0);
    check_stream(tok, ids);
    EXPECT_EQ(tok.decode(ids), text);
    // A stream cut at an arbitrary token, then continued by a fresh decoder
    // over the rest, still covers the same bytes once flushed.
    std::uniform_int_distribution<size_t> cut(0, ids.size());
    const size_t k = cut(rng);
    StreamDecoder first(tok);
    std::string a;
    for (size_t i = 0; i < k; ++i) a += first.push(ids[i]);
    a += first.flush();
    EXPECT_EQ(a, tok.decode({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k)}));
  }
}

TEST(TokenizerStream, SentencePieceByteFallback) {
  GgufFile f(test_model_dir() + "/model-bf16.gguf");
  auto tok = Tokenizer::from_gguf(f);
  // The llama emoji is not in the 8192-piece vocabulary: four byte tokens.
  const auto ids = tok->encode("\xF0\x9F\xA6\x99", false);
  ASSERT_GE(ids.size(), 4u);
  StreamDecoder stream(*tok);
  std::string got;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string chunk = stream.push(ids[i]);
    if (i + 1 < ids.size()) {
      EXPECT_TRUE(chunk.empty() || chunk == " ") << "released part of the emoji";
    }
    got += chunk;
  }
  EXPECT_EQ(got + stream.flush(), "\xF0\x9F\xA6\x99");
  random_streams(*tok, 1);
}

TEST(TokenizerStream, ByteLevelBpe) {
  GgufFile f(test_data_dir() + "/tokenizer-vectors/ggml-vocab-gpt-2.gguf");
  auto tok = Tokenizer::from_gguf(f);
  random_streams(*tok, 2);
}

TEST(TokenizerStream, InvalidBytesPassThroughOnFlush) {
  GgufFile f(test_model_dir() + "/model-bf16.gguf");
  auto tok = Tokenizer::from_gguf(f);
  // <0xE4> starts a 3-byte character that never completes; <0xFF> is never
  // valid. Both must come out, unchanged, by the end.
  const int32_t e4 = 3 + 0xE4, ff = 3 + 0xFF, a = tok->encode("a", false).back();
  EXPECT_EQ(tok->piece(e4), "\xE4");
  StreamDecoder stream(*tok);
  std::string out = stream.push(a);
  out += stream.push(e4);
  out += stream.push(ff);
  out += stream.flush();
  EXPECT_EQ(out, tok->decode({a, e4, ff}));
  EXPECT_EQ(stream.flush(), "");
}

TEST(TokenizerStream, ControlTokensKeepTheLeadingSpaceRule) {
  GgufFile f(test_model_dir() + "/model-bf16.gguf");
  auto tok = Tokenizer::from_gguf(f);
  // BOS renders nothing, so the first word still loses its dummy-prefix space.
  const auto ids = tok->encode("Hello there", true);
  ASSERT_EQ(ids.front(), 1);
  EXPECT_EQ(tok->decode(ids), "Hello there");
  check_stream(*tok, ids);
}

}  // namespace
}  // namespace sieve
