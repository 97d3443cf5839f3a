// Tokenizer::from_hf_folder on tokenizer.json files written (in the layout of
// real Hugging Face files) from the conformance GGUF vocabularies, so the
// JSON path must reproduce the same reference ids as the GGUF path; plus
// tokenizer_config.json / config.json handling on the test model.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

#include "format/gguf.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace sieve {
namespace {

using json = nlohmann::json;

const char* const kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = std::filesystem::temp_directory_path() / ("sieve-tok-hf-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }
  void copy(const std::string& from, const std::string& name) const {
    std::filesystem::copy_file(from, path_ / name, std::filesystem::copy_options::overwrite_existing);
  }

 private:
  std::filesystem::path path_;
};

json added_token(int64_t id, const std::string& text, bool special) {
  return {{"id", id}, {"content", text}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", !special}, {"special", special}};
}

// A byte-level tokenizer.json: normal tokens in model.vocab, the others as
// added_tokens (as in Llama 3's and Qwen2's files).
json byte_level_json(const GgufFile& f, const std::string& regex, bool llama3) {
  const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  const auto types = f.get_int_array("tokenizer.ggml.token_type");
  json vocab = json::object(), added = json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == 1) vocab[tokens[i]] = i;
    else added.push_back(added_token(static_cast<int64_t>(i), tokens[i], types[i] == 3));
  }
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  if (regex.empty()) {
    j["pre_tokenizer"] = byte_level;
  } else {
    json split = {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
    byte_level["use_regex"] = false;
    j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}};
  }
  if (llama3) {
    json tmpl = {{"type", "TemplateProcessing"},
                 {"single", {{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}};
    j["post_processor"] = {{"type", "Sequence"}, {"processors", {byte_level, tmpl}}};
  }
  j["decoder"] = byte_level;
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false}, {"ignore_merges", llama3}, {"vocab", vocab},
                {"merges", f.get_string_array("tokenizer.ggml.merges")}};
  return j;
}

std::vector<std::pair<std::string, std::vector<int32_t>>> vectors(const std::string& base) {
  const std::string raw = slurp(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    inputs.push_back(raw.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
    if (next == std::string::npos) break;
    pos = next + sep.size();
  }
  std::istringstream outs(slurp(base + ".out"));
  std::vector<std::pair<std::string, std::vector<int32_t>>> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string line;
    std::getline(outs, line);
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    out.emplace_back(inputs[i], ids);
  }
  return out;
}

void check_byte_level(const std::string& name, const std::string& regex, bool llama3, const TempDir& dir) {
  const std::string base = test_data_dir() + "/tokenizer-vectors/ggml-vocab-" + name + ".gguf";
  GgufFile f(base);
  dir.write("tokenizer.json", byte_level_json(f, regex, llama3).dump());
  auto tok = Tokenizer::from_hf_folder(dir.path());
  for (const auto& [text, ids] : vectors(base)) {
    EXPECT_EQ(tok->encode(text, false, false), ids) << name << ": '" << text << "'";
    EXPECT_EQ(tok->decode(ids), text) << name;
  }
}

TEST(TokenizerHf, Gpt2TokenizerJson) {
  TempDir dir("gpt2");
  dir.write("tokenizer_config.json", R"({"add_bos_token": false, "eos_token": "<|endoftext|>"})");
  check_byte_level("gpt-2", "", false, dir);
  auto tok = Tokenizer::from_hf_folder(dir.path());
  EXPECT_EQ(tok->eos_id(), 50256);
  EXPECT_TRUE(tok->is_end_of_generation(50256));
  EXPECT_EQ(tok->encode("Hello", true), tok->encode("Hello", false));  // GPT-2 adds no BOS
}

TEST(TokenizerHf, Llama3TokenizerJson) {
  TempDir dir("llama3");
  dir.write("config.json", R"({"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]})");
  check_byte_level("llama-bpe", kLlama3Regex, true, dir);
  auto tok = Tokenizer::from_hf_folder(dir.path());
  EXPECT_EQ(tok->vocab_size(), 128256);
  EXPECT_EQ(tok->bos_id(), 128000);
  EXPECT_EQ(tok->eos_id(), 128001);
  for (int32_t id : {128001, 128008, 128009}) EXPECT_TRUE(tok->is_end_of_generation(id)) << id;
  EXPECT_FALSE(tok->is_end_of_generation(128006));
  const auto ids = tok->encode("<|start_header_id|>user<|end_header_id|>", true, true);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[0], 128000);
  EXPECT_EQ(ids[1], 128006);
  EXPECT_EQ(ids[3], 128007);
}

TEST(TokenizerHf, Qwen2TokenizerJson) {
  TempDir dir("qwen2");
  check_byte_level("qwen2", kQwen2Regex, false, dir);
  auto tok = Tokenizer::from_hf_folder(dir.path());
  EXPECT_TRUE(tok->is_end_of_generation(151645));  // <|im_end|>
  EXPECT_EQ(tok->encode("a<|im_end|>", false, true).back(), 151645);
  EXPECT_NE(tok->encode("a<|im_end|>", false, false).back(), 151645);
}

// SentencePiece-style tokenizer.json as transformers writes it for Llama 2:
// merges extracted from the pieces (best piece first), byte fallback, and a
// normalizer that prepends U+2581 and replaces spaces.
json spm_json(const GgufFile& f) {
  const auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  const auto scores = f.get_float_array("tokenizer.ggml.scores");
  const auto types = f.get_int_array("tokenizer.ggml.token_type");
  json vocab = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  std::vector<size_t> order(tokens.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  json merges = json::array();
  for (size_t i : order) {
    if (types[i] != 1) continue;
    const std::string& p = tokens[i];
    for (size_t k = 1; k < p.size(); ++k) {
      if ((static_cast<uint8_t>(p[k]) & 0xC0) == 0x80) continue;  // not a character boundary
      if (vocab.contains(p.substr(0, k)) && vocab.contains(p.substr(k))) merges.push_back(p.substr(0, k) + " " + p.substr(k));
    }
  }
  json j;
  j["added_tokens"] = {added_token(0, "<unk>", true), added_token(1, "<s>", true), added_token(2, "</s>", true)};
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers",
                      {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}};
  j["pre_tokenizer"] = nullptr;
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                     {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                {{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}};
  j["model"] = {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true},
                {"vocab", vocab}, {"merges", merges}};
  return j;
}

TEST(TokenizerHf, SentencePieceTokenizerJsonMatchesGguf) {
  GgufFile f(test_model_dir() + "/model-bf16.gguf");
  auto gguf = Tokenizer::from_gguf(f);
  TempDir dir("spm");
  dir.write("tokenizer.json", spm_json(f).dump());
  auto tok = Tokenizer::from_hf_folder(dir.path());
  EXPECT_EQ(tok->bos_id(), 1);
  const std::string haystack = slurp(source_dir() + "/data/haystack.txt").substr(0, 200000);
  const auto a = gguf->encode(haystack), b = tok->encode(haystack);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b);
  EXPECT_TRUE(tok->decode(b) == haystack);

  // The llama-spm conformance vectors through the same route.
  const std::string base = test_data_dir() + "/tokenizer-vectors/ggml-vocab-llama-spm.gguf";
  GgufFile lf(base);
  dir.write("tokenizer.json", spm_json(lf).dump());
  auto llama = Tokenizer::from_hf_folder(dir.path());
  for (const auto& [text, ids] : vectors(base)) EXPECT_EQ(llama->encode(text, false, false), ids) << "'" << text << "'";
}

TEST(TokenizerHf, TokenizerModelWithAddedTokensDecoder) {
  TempDir dir("added");
  dir.copy(test_model_dir() + "/tokenizer.model", "tokenizer.model");
  dir.write("tokenizer_config.json", R"({
    "add_bos_token": true, "add_eos_token": true, "bos_token": {"content": "<s>"}, "eos_token": "</s>",
    "added_tokens_decoder": {"8192": {"content": "<|im_end|>", "special": true, "lstrip": false, "rstrip": false},
                             "8193": {"content": "<tool>", "special": false}}})");
  auto tok = Tokenizer::from_hf_folder(dir.path());
  EXPECT_EQ(tok->vocab_size(), 8194);
  EXPECT_TRUE(tok->is_end_of_generation(8192));
  EXPECT_TRUE(tok->is_end_of_generation(2));
  const auto special = tok->encode("hi<|im_end|>", true, true);
  EXPECT_EQ(special.front(), 1);
  EXPECT_EQ(special.back(), 2);  // add_eos_token
  EXPECT_EQ(special[special.size() - 2], 8192);
  const auto plain = tok->encode("hi<|im_end|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 8192), 0);
  // User-defined tokens are matched even without parse_special, and render
  // as text. Like llama.cpp (and HF's Prepend normalizer, which runs per
  // segment), the text after a special token gets its own space prefix.
  const auto tool = tok->encode("a<tool>b", false, false);
  EXPECT_EQ(std::count(tool.begin(), tool.end(), 8193), 1);
  EXPECT_EQ(tok->decode(tool), "a<tool> b");
  EXPECT_EQ(tok->decode(special), "hi");
}

}  // namespace
}  // namespace sieve
