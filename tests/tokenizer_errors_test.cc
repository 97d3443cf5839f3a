// Bad tokenizer input is refused with sieve::Error and a message naming what
// is wrong; nothing crashes or reads out of bounds.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "format/gguf.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace sieve {
namespace {

// Writes a tokenizer-only GGUF (v3, no tensors) in memory.
class GgufBuilder {
 public:
  GgufBuilder& str(const std::string& key, const std::string& v) {
    this->key(key, 8);
    put_str(v);
    return *this;
  }
  GgufBuilder& u32(const std::string& key, uint32_t v) {
    this->key(key, 4);
    put(v);
    return *this;
  }
  GgufBuilder& strs(const std::string& key, const std::vector<std::string>& v) {
    array(key, 8, v.size());
    for (const auto& s : v) put_str(s);
    return *this;
  }
  GgufBuilder& f32s(const std::string& key, const std::vector<float>& v) {
    array(key, 6, v.size());
    for (float x : v) put(x);
    return *this;
  }
  GgufBuilder& i32s(const std::string& key, const std::vector<int32_t>& v) {
    array(key, 5, v.size());
    for (int32_t x : v) put(x);
    return *this;
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out;
    const auto add = [&](const void* p, size_t n) {
      out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    };
    add("GGUF", 4);
    const uint32_t version = 3;
    const uint64_t n_tensors = 0;
    add(&version, 4);
    add(&n_tensors, 8);
    add(&n_kv_, 8);
    out.insert(out.end(), body_.begin(), body_.end());
    return out;
  }

 private:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    body_.insert(body_.end(), p, p + sizeof v);
  }
  void put_str(const std::string& s) {
    put<uint64_t>(s.size());
    body_.insert(body_.end(), s.begin(), s.end());
  }
  void key(const std::string& k, uint32_t type) {
    ++n_kv_;
    put_str(k);
    put(type);
  }
  void array(const std::string& k, uint32_t elem, size_t n) {
    key(k, 9);
    put(elem);
    put<uint64_t>(n);
  }
  std::vector<uint8_t> body_;
  uint64_t n_kv_ = 0;
};

std::unique_ptr<Tokenizer> load(const GgufBuilder& b) {
  const auto bytes = b.bytes();
  GgufFile f(bytes.data(), bytes.size(), "test.gguf");
  return Tokenizer::from_gguf(f);
}

// Runs f and returns the sieve::Error message it throws ("" if none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

GgufBuilder tiny_spm() {
  GgufBuilder b;
  b.str("tokenizer.ggml.model", "llama")
      .strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab"})
      .f32s("tokenizer.ggml.scores", {0, 0, 0, -1, -2, -3, -4, -5})
      .i32s("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 1, 1});
  return b;
}

TEST(TokenizerErrors, TinyVocabularyWorks) {
  auto tok = load(tiny_spm());
  EXPECT_EQ(tok->encode("ab", false), (std::vector<int32_t>{6, 5}));  // "▁a" outranks "ab"
  EXPECT_EQ(tok->encode("ab"), (std::vector<int32_t>{1, 6, 5}));
  EXPECT_EQ(tok->decode({1, 6, 5}), "ab");
  // No byte tokens: an unknown character becomes <unk>.
  EXPECT_EQ(tok->encode("c", false), (std::vector<int32_t>{3, 0}));
}

TEST(TokenizerErrors, UnusedPiecesAreSplitBack) {
  // SentencePiece may form an unused piece while merging but then emits the
  // two pieces it was formed from.
  GgufBuilder b;
  b.str("tokenizer.ggml.model", "llama")
      .strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a",
                                      "\xE2\x96\x81" "ab"})
      .f32s("tokenizer.ggml.scores", {0, 0, 0, -1, -2, -3, -4, 0})
      .i32s("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 1, 5});
  auto tok = load(b);
  EXPECT_EQ(tok->encode("ab", false), (std::vector<int32_t>{6, 5}));
}

TEST(TokenizerErrors, MismatchedArrayLengths) {
  GgufBuilder b;
  b.str("tokenizer.ggml.model", "llama")
      .strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"})
      .f32s("tokenizer.ggml.scores", {0, 0, 0})
      .i32s("tokenizer.ggml.token_type", {2, 3, 3, 1});
  const std::string msg = error_of([&] { load(b); });
  EXPECT_NE(msg.find("scores"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test.gguf"), std::string::npos) << msg;

  GgufBuilder c;
  c.str("tokenizer.ggml.model", "llama")
      .strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"})
      .i32s("tokenizer.ggml.token_type", {2, 3, 3, 1, 1});
  EXPECT_NE(error_of([&] { load(c); }).find("token types"), std::string::npos);
}

TEST(TokenizerErrors, UnknownTokenizerModel) {
  GgufBuilder b;
  b.str("tokenizer.ggml.model", "wordpiece9").strs("tokenizer.ggml.tokens", {"a"});
  const std::string msg = error_of([&] { load(b); });
  EXPECT_NE(msg.find("wordpiece9"), std::string::npos) << msg;
}

TEST(TokenizerErrors, UnknownPreTokenizer) {
  GgufBuilder b;
  b.str("tokenizer.ggml.model", "gpt2")
      .str("tokenizer.ggml.pre", "martian-v7")
      .strs("tokenizer.ggml.tokens", {"a", "b", "ab"})
      .strs("tokenizer.ggml.merges", {"a b"});
  const std::string msg = error_of([&] { load(b); });
  EXPECT_NE(msg.find("martian-v7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("llama-bpe"), std::string::npos) << msg;
  EXPECT_NE(msg.find("qwen2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gpt-2"), std::string::npos) << msg;
}

TEST(TokenizerErrors, BadMetadata) {
  // Missing merges for byte-level BPE.
  GgufBuilder a;
  a.str("tokenizer.ggml.model", "gpt2").str("tokenizer.ggml.pre", "gpt-2").strs("tokenizer.ggml.tokens", {"a"});
  EXPECT_NE(error_of([&] { load(a); }).find("merges"), std::string::npos);
  // A merge rule without a separator.
  GgufBuilder m;
  m.str("tokenizer.ggml.model", "gpt2").strs("tokenizer.ggml.tokens", {"a"}).strs("tokenizer.ggml.merges", {"ab"});
  EXPECT_NE(error_of([&] { load(m); }).find("merge rule"), std::string::npos);
  // BOS id past the vocabulary.
  GgufBuilder b = tiny_spm();
  b.u32("tokenizer.ggml.bos_token_id", 99);
  EXPECT_NE(error_of([&] { load(b); }).find("BOS"), std::string::npos);
  // Token type outside the enum.
  GgufBuilder t;
  t.str("tokenizer.ggml.model", "llama").strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"})
      .i32s("tokenizer.ggml.token_type", {2, 3, 42});
  EXPECT_NE(error_of([&] { load(t); }).find("token type"), std::string::npos);
  // Duplicate token text.
  GgufBuilder d;
  d.str("tokenizer.ggml.model", "llama").strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "x", "x"});
  EXPECT_NE(error_of([&] { load(d); }).find("duplicate"), std::string::npos);
  // No tokenizer at all.
  GgufBuilder none;
  none.str("general.architecture", "llama");
  EXPECT_NE(error_of([&] { load(none); }).find("tokenizer"), std::string::npos);
}

TEST(TokenizerErrors, IdOutOfRangeInDecode) {
  auto tok = load(tiny_spm());
  EXPECT_THROW(tok->decode({1, 8}), Error);
  EXPECT_THROW(tok->decode({-1}), Error);
  EXPECT_THROW(tok->piece(1000), Error);
  StreamDecoder stream(*tok);
  EXPECT_THROW(stream.push(8), Error);
  const std::string msg = error_of([&] { tok->decode({12345}); });
  EXPECT_NE(msg.find("12345"), std::string::npos) << msg;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("sieve-tok-err-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
             std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path_ / name, std::ios::binary) << bytes;
  }

 private:
  std::filesystem::path path_;
};

TEST(TokenizerErrors, MalformedSentencePieceModel) {
  std::ifstream in(test_model_dir() + "/tokenizer.model", std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(good.size(), 1000u);
  for (size_t cut : {size_t{1}, size_t{7}, good.size() / 2, good.size() - 3}) {
    TempDir dir;
    dir.write("tokenizer.model", good.substr(0, cut));
    EXPECT_THROW(Tokenizer::from_hf_folder(dir.path()), Error) << "cut at " << cut;
  }
  {
    TempDir dir;
    dir.write("tokenizer.model", std::string("\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11));
    EXPECT_THROW(Tokenizer::from_hf_folder(dir.path()), Error);
  }
  {
    // A word model (trainer_spec.model_type = 3): one piece "a".
    TempDir dir;
    dir.write("tokenizer.model", std::string("\x0a\x03\x0a\x01" "a" "\x12\x02\x18\x03", 9));
    const std::string msg = error_of([&] { Tokenizer::from_hf_folder(dir.path()); });
    EXPECT_NE(msg.find("model type 3"), std::string::npos) << msg;
  }
}

TEST(TokenizerErrors, MalformedHfFiles) {
  {
    TempDir dir;
    EXPECT_NE(error_of([&] { Tokenizer::from_hf_folder(dir.path()); }).find("no tokenizer.json"), std::string::npos);
  }
  {
    TempDir dir;
    dir.write("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": ");
    EXPECT_NE(error_of([&] { Tokenizer::from_hf_folder(dir.path()); }).find("invalid JSON"), std::string::npos);
  }
  {
    TempDir dir;
    dir.write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})");
    EXPECT_NE(error_of([&] { Tokenizer::from_hf_folder(dir.path()); }).find("tokenizer.json"), std::string::npos);
  }
  {
    TempDir dir;
    dir.write("tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}})");
    EXPECT_NE(error_of([&] { Tokenizer::from_hf_folder(dir.path()); }).find("Unigram"), std::string::npos);
  }
  {
    TempDir dir;
    dir.write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 99999999999}, "merges": []}})");
    EXPECT_THROW(Tokenizer::from_hf_folder(dir.path()), Error);
  }
  {
    TempDir dir;
    dir.write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})");
    dir.write("tokenizer_config.json", R"({"bos_token": "<nope>"})");
    EXPECT_NE(error_of([&] { Tokenizer::from_hf_folder(dir.path()); }).find("<nope>"), std::string::npos);
  }
}

}  // namespace
}  // namespace sieve
