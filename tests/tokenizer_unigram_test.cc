// SentencePiece Unigram: a hand-made model whose Viterbi answers are worked
// out below from the piece scores, read as tokenizer.model, as a GGUF "t5"
// vocabulary and as a tokenizer.json Unigram model; plus the precompiled
// character map, the whitespace options, unknown runs, unused pieces and
// byte fallback.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "test_paths.h"
#include "tokenizer/sentencepiece_model.h"
#include "tokenizer/text/charsmap.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace sieve {
namespace {

using json = nlohmann::json;
const std::string kSp = "\xE2\x96\x81";

struct Piece {
  std::string text;
  float score;
  int type;  // 1 normal, 2 unknown, 3 control, 5 unused, 6 byte
};

// Scores chosen so that every answer below has one best path (or a tie
// whose winner SentencePiece's order decides).
std::vector<Piece> pieces() {
  return {
      {"<unk>", 0, 2},   {"<s>", 0, 3},     {"</s>", 0, 3},     {kSp, -2.0f, 1},     {"a", -2.5f, 1},
      {"b", -3.0f, 1},   {"ab", -2.0f, 1},  {kSp + "a", -1.5f, 1}, {kSp + "ab", -5.0f, 1}, {"x", -1.0f, 1},
      {"y", -1.0f, 1},   {"xy", -2.0f, 1},  {"c", -4.0f, 1},    {kSp + "c", -4.5f, 5}, {"k", -1.0f, 1},
      {"kk", -1.5f, 1},
  };
}

// A darts-clone double array for a few rules, each node's children in a block
// of 256 units of its own (so a child's index is its parent's base plus its
// byte), followed by the NUL-terminated replacements.
std::string build_charsmap(const std::vector<std::pair<std::string, std::string>>& rules) {
  struct Node {
    std::map<uint8_t, size_t> kids;
    int64_t value = -1;
  };
  std::vector<Node> nodes(1);
  std::string pool;
  for (const auto& [key, repl] : rules) {
    size_t n = 0;
    for (char ch : key) {
      const auto c = static_cast<uint8_t>(ch);
      if (!nodes[n].kids.count(c)) {
        nodes.push_back({});
        nodes[n].kids[c] = nodes.size() - 1;
      }
      n = nodes[n].kids[c];
    }
    nodes[n].value = static_cast<int64_t>(pool.size());
    pool += repl;
    pool += '\0';
  }
  const auto base = [](size_t n) { return static_cast<uint32_t>(256 * (n + 1)); };
  std::vector<uint32_t> units(256 * (nodes.size() + 1), 0);
  units[0] = base(0) << 10;
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (const auto& [c, child] : nodes[n].kids) {
      const uint32_t idx = base(n) + c;
      units[idx] = ((idx ^ base(child)) << 10) | (nodes[child].value >= 0 ? 1u << 8 : 0u) | c;
      if (nodes[child].value >= 0) units[base(child)] = static_cast<uint32_t>(nodes[child].value) | (1u << 31);
    }
  }
  std::string blob;
  const auto put32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) blob += static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  put32(static_cast<uint32_t>(units.size() * 4));
  for (uint32_t u : units) put32(u);
  return blob + pool;
}

// Fullwidth A -> "a"; fullwidth A B -> "kk" (the longer rule wins).
const std::string kFullA = "\xEF\xBC\xA1", kFullB = "\xEF\xBC\xA2";
std::string charsmap() { return build_charsmap({{kFullA, "a"}, {kFullA + kFullB, "kk"}}); }

// Protobuf wire format, just enough to write a ModelProto.
std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
std::string field_bytes(int field, const std::string& data) {
  return varint(static_cast<uint64_t>(field) << 3 | 2) + varint(data.size()) + data;
}
std::string field_varint(int field, uint64_t v) { return varint(static_cast<uint64_t>(field) << 3) + varint(v); }
std::string field_float(int field, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  std::string out = varint(static_cast<uint64_t>(field) << 3 | 5);
  for (int i = 0; i < 4; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xFF);
  return out;
}

struct ModelOptions {
  bool dummy_prefix = true;
  bool squeeze = false;
  bool byte_fallback = false;
  bool with_charsmap = true;
};

std::string model_proto(const ModelOptions& o) {
  std::string m;
  std::vector<Piece> ps = pieces();
  if (o.byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      ps.push_back({name, 0, 6});
    }
  }
  for (const Piece& p : ps)
    m += field_bytes(1, field_bytes(1, p.text) + field_float(2, p.score) + field_varint(3, static_cast<uint64_t>(p.type)));
  m += field_bytes(2, field_varint(3, 1) + field_varint(35, o.byte_fallback) + field_varint(40, 0) + field_varint(41, 1) +
                          field_varint(42, 2));
  std::string norm = field_bytes(1, "nmt_nfkc") + field_varint(3, o.dummy_prefix) + field_varint(4, o.squeeze) +
                     field_varint(5, 1);
  if (o.with_charsmap) norm = field_bytes(2, charsmap()) + norm;
  m += field_bytes(3, norm);
  return m;
}

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = std::filesystem::temp_directory_path() / ("sieve-unigram-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<Tokenizer> from_model(const ModelOptions& o, const std::string& tag) {
  TempDir dir(tag);
  dir.write("tokenizer.model", model_proto(o));
  return Tokenizer::from_hf_folder(dir.path());
}

using Ids = std::vector<int32_t>;

TEST(Unigram, ViterbiPicksTheBestScoringPath) {
  auto tok = from_model({}, "viterbi");
  // "ab" -> "▁ab": ▁ + ab = -4 beats ▁a + b = -4.5, ▁ab = -5, ▁ + a + b = -7.5.
  EXPECT_EQ(tok->encode("ab", false), (Ids{3, 6}));
  // "▁abab": ▁ + ab + ab = -6 beats ▁a + b + ab = -6.5.
  EXPECT_EQ(tok->encode("abab", false), (Ids{3, 6, 6}));
  // "▁xy": ▁ + xy and ▁ + x + y both score -4; the first path found to the
  // end (xy, from the earlier start) is kept.
  EXPECT_EQ(tok->encode("xy", false), (Ids{3, 11}));
  // Unused pieces are never used: "▁c" (-4.5) is unused, so ▁ + c (-6).
  EXPECT_EQ(tok->encode("c", false), (Ids{3, 12}));
  // Spaces: "a b" -> "▁a▁b" = ▁a + ▁ + b.
  EXPECT_EQ(tok->encode("a b", false), (Ids{7, 3, 5}));
  EXPECT_EQ(tok->decode(tok->encode("a b", false)), "a b");
  EXPECT_EQ(tok->decode({3, 6}), "ab");  // the dummy-prefix space is dropped
}

TEST(Unigram, UnknownRunsAreOneToken) {
  auto tok = from_model({}, "unk");
  // q has no piece: unknown at (lowest normal score - 10) = -15; two of them
  // in a row give one <unk>.
  EXPECT_EQ(tok->encode("aqqb", false), (Ids{7, 0, 5}));
  EXPECT_EQ(tok->encode("aqbq", false), (Ids{7, 0, 5, 0}));
  // A byte that is not UTF-8 becomes U+FFFD, also unknown.
  EXPECT_EQ(tok->encode(std::string("a\xFF", 2), false), (Ids{7, 0}));
}

TEST(Unigram, ByteFallbackSpellsUnknownCharacters) {
  ModelOptions o;
  o.byte_fallback = true;
  auto tok = from_model(o, "bytes");
  const int32_t byte0 = static_cast<int32_t>(pieces().size());
  EXPECT_EQ(tok->encode("a\xC3\xA9", false), (Ids{7, byte0 + 0xC3, byte0 + 0xA9}));
  EXPECT_EQ(tok->decode(tok->encode("a\xC3\xA9 b", false)), "a\xC3\xA9 b");
}

TEST(Unigram, CharsmapAndWhitespaceOptions) {
  auto tok = from_model({}, "charsmap");
  // Fullwidth A B -> "kk" (longest rule), A -> "a": "▁kka" = ▁ + kk + a (-6)
  // beats ▁ + k + k + a (-6.5).
  EXPECT_EQ(tok->encode(kFullA + kFullB + kFullA, false), (Ids{3, 15, 4}));
  // Without remove_extra_whitespaces every space is kept.
  EXPECT_EQ(tok->encode("a  b", false), (Ids{7, 3, 3, 5}));
  ModelOptions squeeze;
  squeeze.squeeze = true;
  auto sq = from_model(squeeze, "squeeze");
  EXPECT_EQ(sq->encode("  a   b  ", false), (Ids{7, 3, 5}));
  EXPECT_TRUE(sq->encode("   ", false).empty());
  ModelOptions bare;
  bare.dummy_prefix = false;
  auto np = from_model(bare, "noprefix");
  EXPECT_EQ(np->encode("xy", false), (Ids{11}));
  EXPECT_EQ(np->encode("ab", false), (Ids{6}));
}

TEST(Unigram, CharsmapLookups) {
  PrecompiledCharsmap m(charsmap(), "t");
  std::string_view repl;
  EXPECT_EQ(m.match(kFullA + kFullB, 0, repl), 6u);
  EXPECT_EQ(repl, "kk");
  EXPECT_EQ(m.match(kFullA + "x", 0, repl), 3u);
  EXPECT_EQ(repl, "a");
  EXPECT_EQ(m.match("x", 0, repl), 0u);
  EXPECT_EQ(m.normalize("x" + kFullA + kFullB + "y"), "xkky");
  EXPECT_THROW(PrecompiledCharsmap(std::string("\x10\x00\x00\x00", 4), "t"), Error);  // trie larger than the blob
  EXPECT_THROW(PrecompiledCharsmap(std::string("\x03\x00\x00\x00" "abcd", 8), "t"), Error);  // not whole units
  // A replacement offset past the pool is refused when reached.
  std::string bad = charsmap();
  bad.resize(bad.size() - 5);
  PrecompiledCharsmap truncated(bad, "t");
  EXPECT_THROW(truncated.normalize(kFullA + kFullB), Error);
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    for (int k = 3; k >= 0; --k) out += t[(v >> (6 * k)) & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

TEST(Unigram, TokenizerJsonUnigramModel) {
  json vocab = json::array();
  for (const Piece& p : pieces()) vocab.push_back({p.text, p.score});
  json j;
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers",
                      {{{"type", "Precompiled"}, {"precompiled_charsmap", base64(charsmap())}},
                       {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}}}};
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kSp}, {"prepend_scheme", "always"}, {"split", true}};
  j["added_tokens"] = {{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                       {{"id", 2}, {"content", "</s>"}, {"special", true}}};
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                     {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}}};
  j["model"] = {{"type", "Unigram"}, {"unk_id", 0}, {"vocab", vocab}, {"byte_fallback", false}};
  TempDir dir("json");
  dir.write("tokenizer.json", j.dump());
  auto tok = Tokenizer::from_hf_folder(dir.path());
  EXPECT_EQ(tok->encode("ab", false), (Ids{3, 6}));
  EXPECT_EQ(tok->encode(kFullA + kFullB + kFullA, false), (Ids{3, 15, 4}));
  // Metaspace splits the words: "a  b" -> "a b" (Replace) -> "▁a", "▁b".
  EXPECT_EQ(tok->encode("a  b", false), (Ids{7, 3, 5}));
  // tokenizer.json has no unused pieces: "▁c" is an ordinary piece here.
  EXPECT_EQ(tok->encode("c", false), (Ids{13}));
  EXPECT_EQ(tok->encode("ab", true), (Ids{3, 6, 2}));  // the template's </s>
  EXPECT_EQ(tok->decode({7, 3, 5}), "a b");
}

TEST(Unigram, GgufT5Vocabulary) {
  GgufWriter w;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const Piece& p : pieces()) {
    tokens.push_back(p.text);
    scores.push_back(p.score);
    types.push_back(p.type);
  }
  std::vector<GgufValue> map_bytes;
  for (char c : charsmap()) map_bytes.push_back(gguf_value::u8(static_cast<uint8_t>(c)));
  w.set("tokenizer.ggml.model", gguf_value::string("t5"));
  w.set("tokenizer.ggml.tokens", gguf_value::string_array(tokens));
  w.set("tokenizer.ggml.scores", gguf_value::f32_array(scores));
  w.set("tokenizer.ggml.token_type", gguf_value::i32_array(types));
  w.set("tokenizer.ggml.unknown_token_id", gguf_value::u32(0));
  w.set("tokenizer.ggml.eos_token_id", gguf_value::u32(2));
  w.set("tokenizer.ggml.precompiled_charsmap", gguf_value::array(GgufType::U8, map_bytes));
  const std::vector<uint8_t> bytes = w.bytes();
  GgufFile f(bytes.data(), bytes.size(), "t5.gguf");
  auto tok = Tokenizer::from_gguf(f);
  // The same answers as tokenizer.model; T5 appends EOS, adds no BOS.
  EXPECT_EQ(tok->encode("ab", false), (Ids{3, 6}));
  EXPECT_EQ(tok->encode("aqqb", false), (Ids{7, 0, 5}));
  EXPECT_EQ(tok->encode(kFullA + kFullB + kFullA, false), (Ids{3, 15, 4}));
  EXPECT_EQ(tok->encode("ab", true), (Ids{3, 6, 2}));
  // Special tokens in the text, when parsed, split it; each stretch gets its
  // own dummy prefix (as llama.cpp does).
  EXPECT_EQ(tok->encode("ab</s>ab", false, true), (Ids{3, 6, 2, 3, 6}));
}

// A model trained by spm_train (real nmt_nfkc character map, default
// whitespace rules) and spm_encode's ids for 1500 haystack lines and crafted
// ones (tools/make-unigram-reference.sh): sieve must agree on every line,
// ties included.
TEST(Unigram, MatchesSpmEncode) {
  const std::string dir = test_data_dir() + "/tokenizer/unigram-spm";
  auto tok = Tokenizer::from_hf_folder(dir);
  std::ifstream inputs(dir + "/inputs.txt", std::ios::binary), ids(dir + "/ids.txt");
  ASSERT_TRUE(inputs && ids);
  int lines = 0, failures = 0;
  for (std::string text, want; std::getline(inputs, text) && std::getline(ids, want); ++lines) {
    std::istringstream in(want);
    Ids expected;
    for (int32_t id; in >> id;) expected.push_back(id);
    const Ids got = tok->encode(text, false);
    if (got != expected && ++failures <= 5) ADD_FAILURE() << "line " << lines + 1 << ": '" << text << "'";
  }
  EXPECT_EQ(lines, 1523);
  EXPECT_EQ(failures, 0);
}

TEST(Unigram, BadModelsAreRefused) {
  // A Unigram model needs an unknown piece.
  json j = {{"model", {{"type", "Unigram"}, {"vocab", json::array({json::array({"a", -1.0})})}}}};
  TempDir dir("bad");
  dir.write("tokenizer.json", j.dump());
  try {
    Tokenizer::from_hf_folder(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown token"), std::string::npos) << e.what();
  }
  j["model"]["vocab"] = json::array({json::array({"a", "high"})});
  dir.write("tokenizer.json", j.dump());
  EXPECT_THROW(Tokenizer::from_hf_folder(dir.path()), Error);
  j["model"]["vocab"] = json::array({json::array({"<unk>", 0.0})});
  j["model"]["unk_id"] = 7;
  dir.write("tokenizer.json", j.dump());
  EXPECT_THROW(Tokenizer::from_hf_folder(dir.path()), Error);
  // A charsmap whose header is wrong.
  ModelOptions o;
  o.with_charsmap = false;
  std::string proto = model_proto(o);
  proto += field_bytes(3, field_bytes(2, std::string("\xFF\xFF\x00\x00xx", 6)));
  TempDir d2("badmap");
  d2.write("tokenizer.model", proto);
  EXPECT_THROW(Tokenizer::from_hf_folder(d2.path()), Error);
}

}  // namespace
}  // namespace sieve
