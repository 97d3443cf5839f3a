#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "format/gguf.h"
#include "test_paths.h"

namespace sieve {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// llama.cpp's test-tokenizer-0 format: inputs separated by
// "\n__ggml_vocab_test__\n", one line of expected ids per input.
void check_vectors_at(const std::string& base, const std::string& name);

void check_vectors(const std::string& name) {
  check_vectors_at(test_data_dir() + "/tokenizer-vectors/ggml-vocab-" + name + ".gguf", name);
}

void check_vectors_at(const std::string& base, const std::string& name) {
  GgufFile f(base);
  auto tok = Tokenizer::from_gguf(f);
  const std::string raw = read_file(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::istringstream outs(read_file(base + ".out"));
  std::vector<std::vector<int32_t>> expected;
  for (std::string line; std::getline(outs, line);) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    expected.push_back(ids);
  }
  ASSERT_EQ(inputs.size(), expected.size());
  int failures = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    // test-tokenizer-0 calls common_tokenize(ctx, text, add_special=false, parse_special=false).
    const auto got = tok->encode(inputs[i], false, false);
    if (got != expected[i]) {
      ++failures;
      std::string g, e;
      for (auto id : got) g += std::to_string(id) + " ";
      for (auto id : expected[i]) e += std::to_string(id) + " ";
      ADD_FAILURE() << name << " input " << i << " '" << inputs[i] << "'\n got: " << g << "\nwant: " << e;
    }
  }
  EXPECT_EQ(failures, 0);

  // decode() inverts encode() on ordinary text (SentencePiece's dummy-prefix
  // space is added by encode and dropped by decode).
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(tok->decode(tok->encode(inputs[i], false, false)), inputs[i]) << name << " input " << i;
    EXPECT_EQ(tok->decode(tok->encode(inputs[i], true, false)), inputs[i]) << name << " input " << i;
  }
}

std::unique_ptr<Tokenizer> vocab(const std::string& name) {
  GgufFile f(test_data_dir() + "/tokenizer-vectors/ggml-vocab-" + name + ".gguf");
  return Tokenizer::from_gguf(f);
}

// Invalid UTF-8 reaches the tokenizer from users; every byte must survive
// (byte fallback in SentencePiece, the byte alphabet in byte-level BPE).
TEST(TokenizerRobustness, InvalidUtf8RoundTrips) {
  const std::vector<std::string> texts = {
      std::string("\xFF\xFE abc \xC3", 9), "truncated \xE4\xBD", "\x80\x80\x80 lone continuations",
      std::string("nul \0 inside", 13), "overlong \xC0\xAF and \xED\xA0\x80 surrogate", "\xF0\x9F\xA6",
  };
  for (const char* name : {"llama-spm", "gpt-2", "llama-bpe", "qwen2"}) {
    auto tok = vocab(name);
    for (const std::string& t : texts) EXPECT_EQ(tok->decode(tok->encode(t, false)), t) << name;
  }
}

// Long runs of one character class stress the regex engine's backtracking
// (\s+(?!\S) over a huge run of spaces) and the merge queue.
TEST(TokenizerRobustness, LongRunsRoundTrip) {
  std::string text;
  for (const char* unit : {" ", "a", "7", "!", "\n", "\xE4\xBD\xA0", " a"}) {
    std::string run;
    while (run.size() < 100000) run += unit;
    text += run + "\n";
  }
  for (const char* name : {"llama-spm", "llama-bpe", "qwen2", "gpt-2"}) {
    auto tok = vocab(name);
    const auto ids = tok->encode(text, false);
    EXPECT_TRUE(tok->decode(ids) == text) << name;
  }
}

TEST(TokenizerVectors, LlamaSpm) { check_vectors("llama-spm"); }
TEST(TokenizerVectors, Phi3) { check_vectors("phi-3"); }
TEST(TokenizerVectors, LlamaBpe) { check_vectors("llama-bpe"); }
TEST(TokenizerVectors, Qwen2) { check_vectors("qwen2"); }
TEST(TokenizerVectors, Gpt2) { check_vectors("gpt-2"); }

// More of llama.cpp's vocabulary vectors, where a checkout is at hand:
// SIEVE_VOCAB_VECTORS=<llama.cpp>/models runs every ggml-vocab-*.gguf there
// that has .inp/.out files and a tokenizer sieve reads (not WordPiece).
TEST(TokenizerVectors, ExternalDirectory) {
  const char* dir = std::getenv("SIEVE_VOCAB_VECTORS");
  if (!dir) GTEST_SKIP() << "SIEVE_VOCAB_VECTORS is not set";
  int checked = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string path = e.path().string(), file = e.path().filename().string();
    if (!file.starts_with("ggml-vocab-") || !file.ends_with(".gguf") || !std::filesystem::exists(path + ".out")) continue;
    if (file.find("bert") != std::string::npos) continue;
    check_vectors_at(path, file);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace sieve
