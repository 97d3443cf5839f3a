// The test model's tokenizer, read three ways (GGUF metadata, tokenizer.model,
// the HF folder), checked against each other and against SentencePiece's own
// spm_encode output (tests/data/tokenizer/haystack-spm-ids.txt, made by
// tools/make-spm-reference.sh).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "format/gguf.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace sieve {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

class TokenizerTestModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gguf_file_ = new GgufFile(test_model_dir() + "/model-bf16.gguf");
    gguf_ = Tokenizer::from_gguf(*gguf_file_).release();
    hf_ = Tokenizer::from_hf_folder(test_model_dir()).release();
    haystack_ = new std::string(slurp(source_dir() + "/data/haystack.txt"));
  }
  static void TearDownTestSuite() {
    delete gguf_;
    delete hf_;
    delete gguf_file_;
    delete haystack_;
  }
  static GgufFile* gguf_file_;
  static Tokenizer* gguf_;
  static Tokenizer* hf_;
  static std::string* haystack_;
};
GgufFile* TokenizerTestModel::gguf_file_ = nullptr;
Tokenizer* TokenizerTestModel::gguf_ = nullptr;
Tokenizer* TokenizerTestModel::hf_ = nullptr;
std::string* TokenizerTestModel::haystack_ = nullptr;

TEST_F(TokenizerTestModel, SpecialIdsAndFlags) {
  for (const Tokenizer* t : {gguf_, hf_}) {
    EXPECT_EQ(t->vocab_size(), 8192);
    EXPECT_EQ(t->bos_id(), 1);
    EXPECT_EQ(t->eos_id(), 2);
    EXPECT_TRUE(t->is_end_of_generation(2));
    EXPECT_FALSE(t->is_end_of_generation(1));
    EXPECT_FALSE(t->is_end_of_generation(13));
    const auto ids = t->encode("Hello world");
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), 1);  // add BOS, no EOS
    EXPECT_NE(ids.back(), 2);
    EXPECT_EQ(t->encode("", true), std::vector<int32_t>{1});
    EXPECT_TRUE(t->encode("", false).empty());
    EXPECT_EQ(t->piece(13), "\n");  // <0x0A>
    EXPECT_EQ(t->piece(1), "");     // control tokens are invisible
  }
}

TEST_F(TokenizerTestModel, GgufAndTokenizerModelAgreeOnWholeHaystack) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto a = gguf_->encode(*haystack_, true);
  const auto t1 = std::chrono::steady_clock::now();
  const auto b = hf_->encode(*haystack_, true);
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  std::cout << "[ timing ] encoded " << haystack_->size() << " bytes into " << a.size() << " tokens in " << secs
            << " s\n";
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b);
  EXPECT_GT(a.size(), 200000u);
  // The text has no special-token text, so decoding gives it back exactly.
  EXPECT_TRUE(gguf_->decode(a) == *haystack_);
  // Generous: catches an accidentally quadratic encoder, not a slow machine.
  EXPECT_LT(secs, 5.0);
}

TEST_F(TokenizerTestModel, MatchesSentencePieceReferencePerLine) {
  const auto lines = split_lines(*haystack_);
  const auto ref = split_lines(slurp(test_data_dir() + "/tokenizer/haystack-spm-ids.txt"));
  ASSERT_GT(ref.size(), 3000u);
  int failures = 0;
  for (const std::string& row : ref) {
    const size_t tab = row.find('\t');
    ASSERT_NE(tab, std::string::npos) << row;
    const size_t line_no = std::stoul(row.substr(0, tab));
    ASSERT_GE(line_no, 1u);
    ASSERT_LE(line_no, lines.size());
    const std::string& text = lines[line_no - 1];
    const std::string want = row.substr(tab + 1);
    for (const Tokenizer* t : {gguf_, hf_}) {
      const std::string got = ids_to_string(t->encode(text, false));
      if (got != want && ++failures <= 5)
        ADD_FAILURE() << "line " << line_no << ": '" << text << "'\n got: " << got << "\nwant: " << want;
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST_F(TokenizerTestModel, ReferencePromptsDecodeAndReencode) {
  const auto ref = nlohmann::json::parse(slurp(test_model_dir() + "/reference.json"));
  const auto prompts = ref.at("prompts").get<std::vector<std::vector<int32_t>>>();
  ASSERT_EQ(prompts.size(), 3u);
  for (size_t p = 0; p < prompts.size(); ++p) {
    const std::vector<int32_t>& ids = prompts[p];
    const std::string text = gguf_->decode(ids);
    EXPECT_EQ(hf_->decode(ids), text);
    // The prompts are slices of tokenized documents (prompt 0 is BOS plus a
    // slice starting at ","), so re-encoding can differ at the start, where
    // the encoder adds its word-start marker; after that it must agree.
    const bool bos = ids.front() == gguf_->bos_id();
    const auto again = gguf_->encode(text, bos);
    EXPECT_EQ(gguf_->decode(again), text) << "prompt " << p;
    size_t common = 0;
    while (common < std::min(ids.size(), again.size()) && ids[ids.size() - 1 - common] == again[again.size() - 1 - common])
      ++common;
    EXPECT_GE(common + 3, ids.size()) << "prompt " << p << " re-encodes differently past its start";
  }
}

TEST_F(TokenizerTestModel, DecodeDropsOnlyTheDummyPrefixSpace) {
  for (const Tokenizer* t : {gguf_, hf_}) {
    for (const std::string s : {"Hello", " Hello", "  two spaces", "tab\there", "line\nbreak", "x"}) {
      EXPECT_EQ(t->decode(t->encode(s, true)), s);
      EXPECT_EQ(t->decode(t->encode(s, false)), s);
    }
  }
}

}  // namespace
}  // namespace sieve
