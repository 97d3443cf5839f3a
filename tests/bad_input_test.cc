// Broken and hostile model files, made at test time from the real test model
// by cutting or patching bytes: each must be refused with a sieve::Error whose
// one-line message names the problem, never a crash, an overread or a hang.
// (The same cases through the CLI, with exit codes, are in cli_test.cc.)
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <vector>

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "format/safetensors.h"
#include "model/config.h"
#include "model/model.h"
#include "test_paths.h"
#include "util/error.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using json = nlohmann::json;

Bytes read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Little-endian fields of a file image; at() keeps a wrong layout from
// writing past the image.
template <typename T>
T get(const Bytes& b, size_t at) {
  (void)b.at(at + sizeof(T) - 1);
  T v;
  std::memcpy(&v, b.data() + at, sizeof(T));
  return v;
}
template <typename T>
void put(Bytes& b, size_t at, T v) {
  (void)b.at(at + sizeof(T) - 1);
  std::memcpy(b.data() + at, &v, sizeof(T));
}

// Expects f to throw sieve::Error with a one-line message containing every
// word. Any other exception escapes and fails the test, as it should: the CLI
// would print it without naming the problem.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& words) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << words.at(0) << "'";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const std::string& w : words) EXPECT_NE(m.find(w), std::string::npos) << "'" << w << "' not in: " << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << "not one line: " << m;
  }
}

// Where the parts of a GGUF file are, found by walking it as the format lays
// it out, so a test can cut or patch at a named place.
struct GgufLayout {
  size_t kv_begin = 24, tensors_begin = 0, tensors_end = 0;
  std::map<std::string, size_t> value_at;  // key -> its value (after the type)
  struct Entry {
    size_t name, dims, type, offset;  // where each field of the entry is
    uint32_t n_dims;
  };
  std::map<std::string, Entry> tensor;
};

size_t skip_value(const Bytes& b, size_t pos, uint32_t type) {
  static const size_t kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  if (type == 8) return pos + 8 + get<uint64_t>(b, pos);
  if (type != 9) return pos + kSize[type];
  const uint32_t elem = get<uint32_t>(b, pos);
  const uint64_t n = get<uint64_t>(b, pos + 4);
  pos += 12;
  for (uint64_t i = 0; i < n; ++i) pos = skip_value(b, pos, elem);
  return pos;
}

std::string read_name(const Bytes& b, size_t& pos) {
  const uint64_t n = get<uint64_t>(b, pos);
  std::string s(reinterpret_cast<const char*>(&b.at(pos + 8)), n);
  pos += 8 + n;
  return s;
}

GgufLayout layout_of(const Bytes& b) {
  GgufLayout l;
  size_t pos = l.kv_begin;
  for (uint64_t i = 0, n = get<uint64_t>(b, 16); i < n; ++i) {
    const std::string key = read_name(b, pos);
    l.value_at[key] = pos + 4;
    pos = skip_value(b, pos + 4, get<uint32_t>(b, pos));
  }
  l.tensors_begin = pos;
  for (uint64_t i = 0, n = get<uint64_t>(b, 8); i < n; ++i) {
    GgufLayout::Entry e;
    e.name = pos;
    const std::string name = read_name(b, pos);
    e.n_dims = get<uint32_t>(b, pos);
    e.dims = pos + 4;
    e.type = e.dims + 8 * e.n_dims;
    e.offset = e.type + 4;
    pos = e.offset + 8;
    l.tensor[name] = e;
  }
  l.tensors_end = pos;
  return l;
}

// The real Q4_K_M file (18 MB: the smallest), read once.
class BadGguf : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    real_ = new Bytes(read_bytes(test_model_dir() + "/model-q4_k_m.gguf"));
    layout_ = new GgufLayout(layout_of(*real_));
  }
  static void TearDownTestSuite() {
    delete real_;
    delete layout_;
  }
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sieve-bad-gguf-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void parse(const Bytes& b, size_t size) { GgufFile(b.data(), size, "bad.gguf"); }
  static void parse(const Bytes& b) { parse(b, b.size()); }
  static void config(const Bytes& b) {
    GgufFile f(b.data(), b.size(), "bad.gguf");
    config_from_gguf(f);
  }
  void load(const Bytes& b) {
    write_bytes(dir_ / "bad.gguf", b);
    Model::load((dir_ / "bad.gguf").string());
  }
  static const GgufLayout::Entry& tensor(const std::string& name) { return layout_->tensor.at(name); }

  static Bytes* real_;
  static GgufLayout* layout_;
  fs::path dir_;
};
Bytes* BadGguf::real_ = nullptr;
GgufLayout* BadGguf::layout_ = nullptr;

TEST_F(BadGguf, RealFileParses) {
  parse(*real_);
  config(*real_);
}

TEST_F(BadGguf, TruncatedInEveryPart) {
  const Bytes& b = *real_;
  const GgufLayout& l = *layout_;
  const struct {
    size_t cut;
    std::string says;
  } cuts[] = {
      {0, "truncated while reading magic"},
      {6, "truncated while reading version"},
      {20, "truncated while reading metadata count"},
      {l.kv_begin + 4, "metadata count 23 does not fit in the file"},  // the counts promise more than is left
      {l.value_at.at("tokenizer.ggml.tokens") + 3000, "array of 8192 elements does not fit in the file"},
      {l.value_at.at("tokenizer.ggml.scores") - 40, "string value"},  // inside the last token
      {l.value_at.at("tokenizer.ggml.bos_token_id") + 2, "truncated while reading u32 value"},
      {l.value_at.at("general.quantization_version") - 10, "metadata key of 28 bytes runs past the end"},
      {l.tensors_begin + 30, "truncated while reading tensor"},
      {l.tensors_end - 3, "truncated while reading tensor offset"},
      {l.tensors_end + 1, "past the end of the file"},
      {b.size() / 2, "runs past the end of the file"},
      {b.size() - 1, "runs past the end of the file"},
  };
  for (const auto& c : cuts) {
    SCOPED_TRACE("cut at byte " + std::to_string(c.cut));
    expect_error([&] { parse(b, c.cut); }, {"bad.gguf", c.says});
  }
}

TEST_F(BadGguf, WrongMagicAndVersion) {
  Bytes b = *real_;
  b[0] = 'X';
  expect_error([&] { parse(b); }, {"not a GGUF file (wrong magic)"});
  b = *real_;
  put<uint32_t>(b, 4, 1);
  expect_error([&] { parse(b); }, {"unsupported GGUF version 1"});
}

TEST_F(BadGguf, TensorOffsetOrSizePastTheEnd) {
  Bytes b = *real_;
  put<uint64_t>(b, tensor("blk.7.ffn_up.weight").offset, uint64_t{1} << 40);
  expect_error([&] { parse(b); }, {"tensor 'blk.7.ffn_up.weight'", "at offset 1099511627776", "runs past the end"});
  b = *real_;
  put<uint64_t>(b, tensor("blk.7.ffn_up.weight").offset, get<uint64_t>(b, tensor("blk.7.ffn_up.weight").offset) + 1);
  expect_error([&] { parse(b); }, {"tensor 'blk.7.ffn_up.weight' offset is not aligned"});
  // The last tensor in the data section, made twice as long.
  b = *real_;
  put<uint64_t>(b, tensor("blk.7.ffn_up.weight").dims + 8, 2 * 1408);
  expect_error([&] { parse(b); }, {"tensor 'blk.7.ffn_up.weight'", "runs past the end"});
}

TEST_F(BadGguf, AbsurdShapesAndTypes) {
  const GgufLayout::Entry& e = tensor("token_embd.weight");
  Bytes b = *real_;
  put<uint64_t>(b, e.dims, uint64_t{1} << 41);
  expect_error([&] { parse(b); }, {"tensor 'token_embd.weight' has an absurd dimension 2199023255552"});
  b = *real_;  // each dimension plausible, the product not (2^60 elements)
  put<uint64_t>(b, e.dims, uint64_t{1} << 30);
  put<uint64_t>(b, e.dims + 8, uint64_t{1} << 30);
  expect_error([&] { parse(b); }, {"tensor 'token_embd.weight' has an absurd dimension"});
  b = *real_;
  put<uint64_t>(b, e.dims, 0);
  expect_error([&] { parse(b); }, {"absurd dimension 0"});
  b = *real_;
  put<uint32_t>(b, e.dims - 4, 9);
  expect_error([&] { parse(b); }, {"tensor 'token_embd.weight' has 9 dimensions (1 to 4 allowed)"});
  b = *real_;
  put<uint32_t>(b, e.type, 99);
  expect_error([&] { parse(b); }, {"tensor 'token_embd.weight' has unsupported type 99"});
  b = *real_;  // q6_K rows are 256 elements; 500 is not a whole number of blocks
  put<uint64_t>(b, e.dims, 500);
  expect_error([&] { parse(b); }, {"row length 500 is not a multiple of the q6_K block size 256"});
}

TEST_F(BadGguf, HugeLengthsAndCounts) {
  const GgufLayout& l = *layout_;
  Bytes b = *real_;
  put<uint64_t>(b, l.value_at.at("tokenizer.ggml.tokens") + 4, uint64_t{1} << 62);
  expect_error([&] { parse(b); }, {"array of 4611686018427387904 elements does not fit in the file"});
  b = *real_;
  put<uint64_t>(b, l.value_at.at("general.architecture"), uint64_t{1} << 62);
  expect_error([&] { parse(b); }, {"string value of 4611686018427387904 bytes runs past the end"});
  b = *real_;
  put<uint64_t>(b, l.kv_begin, uint64_t{1} << 62);
  expect_error([&] { parse(b); }, {"metadata key is 4611686018427387904 bytes long"});
  b = *real_;
  put<uint64_t>(b, 16, uint64_t{1} << 60);
  expect_error([&] { parse(b); }, {"metadata count 1152921504606846976 does not fit"});
  b = *real_;
  put<uint64_t>(b, 8, ~uint64_t{0});
  expect_error([&] { parse(b); }, {"tensor count 18446744073709551615 does not fit"});
}

TEST_F(BadGguf, BadMetadataValues) {
  const GgufLayout& l = *layout_;
  Bytes b = *real_;
  put<uint32_t>(b, l.value_at.at("general.architecture") - 4, 77);
  expect_error([&] { parse(b); }, {"metadata 'general.architecture' has unknown type 77"});
  b = *real_;
  put<uint32_t>(b, l.value_at.at("tokenizer.ggml.tokens"), 99);
  expect_error([&] { parse(b); }, {"unknown array element type 99"});
  b = *real_;
  put<uint8_t>(b, l.value_at.at("tokenizer.ggml.add_bos_token"), 7);
  expect_error([&] { parse(b); }, {"bool value 7 is neither 0 nor 1"});
  b = *real_;  // same size, wrong kind: u32 -> f32
  put<uint32_t>(b, l.value_at.at("llama.block_count") - 4, 6);
  expect_error([&] { config(b); }, {"metadata 'llama.block_count' should be an integer but is f32"});
  b = *real_;
  put<uint32_t>(b, l.value_at.at("llama.block_count"), 0);
  expect_error([&] { config(b); }, {"bad.gguf", "layer count 0 is out of range"});
  b = *real_;
  put<uint32_t>(b, l.value_at.at("llama.attention.head_count_kv"), 3);
  expect_error([&] { config(b); }, {"key/value head count 3 does not divide head count 8"});
  b = *real_;
  put<float>(b, l.value_at.at("llama.attention.layer_norm_rms_epsilon"), -1.0f);
  expect_error([&] { config(b); }, {"rms_norm_eps must be in (0, 1)"});
}

TEST_F(BadGguf, UnknownArchitecture) {
  Bytes b = *real_;
  b.at(layout_->value_at.at("general.architecture") + 8 + 4) = 'b';  // "llama" -> "llamb"
  expect_error([&] { config(b); }, {"unknown architecture 'llamb' (sieve runs llama,"});
  expect_error([&] { load(b); }, {"bad.gguf", "unknown architecture 'llamb'"});
}

TEST_F(BadGguf, MissingOrMisshapenTensor) {
  Bytes b = *real_;
  b.at(tensor("blk.3.ffn_up.weight").name + 8 + 11) = 'X';  // blk.3.ffn_uX.weight
  expect_error([&] { load(b); }, {"bad.gguf", "missing tensor 'blk.3.ffn_up.weight'"});
  b = *real_;
  put<uint64_t>(b, tensor("blk.0.attn_norm.weight").dims, 256);
  expect_error([&] { load(b); }, {"tensor 'blk.0.attn_norm.weight' has shape", "expected"});
}

TEST_F(BadGguf, TokenListOfTheWrongType) {
  // A file written from scratch: the token list is a number, not an array.
  GgufWriter w;
  w.set("general.architecture", gguf_value::string("llama"));
  for (const char* k : {"llama.embedding_length", "llama.block_count", "llama.attention.head_count",
                        "llama.feed_forward_length", "llama.context_length"})
    w.set(k, gguf_value::u32(64));
  w.set("llama.attention.layer_norm_rms_epsilon", gguf_value::f32(1e-5f));
  w.set("tokenizer.ggml.model", gguf_value::string("llama"));
  w.set("tokenizer.ggml.tokens", gguf_value::u32(5));
  const Bytes b = w.bytes();
  expect_error([&] { config(b); }, {"'tokenizer.ggml.tokens' should be an array"});
  expect_error([&] { Tokenizer::from_gguf(GgufFile(b.data(), b.size(), "bad.gguf")); },
               {"'tokenizer.ggml.tokens' should be an array"});
}

TEST(BadInput, MissingModelPath) {
  expect_error([] { Model::load("/nonexistent/model.gguf"); }, {"model '/nonexistent/model.gguf' not found"});
}

// The real model.safetensors with its JSON header rewritten.
class BadSafetensors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Bytes b = read_bytes(test_model_dir() + "/model.safetensors");
    const uint64_t n = get<uint64_t>(b, 0);
    header_ = new json(json::parse(b.begin() + 8, b.begin() + 8 + static_cast<ptrdiff_t>(n)));
    data_ = new Bytes(b.begin() + 8 + static_cast<ptrdiff_t>(n), b.end());
  }
  static void TearDownTestSuite() {
    delete header_;
    delete data_;
  }
  static Bytes with_header(const std::string& h) {
    Bytes b(8 + h.size() + data_->size());
    put<uint64_t>(b, 0, h.size());
    std::copy(h.begin(), h.end(), b.begin() + 8);
    std::copy(data_->begin(), data_->end(), b.begin() + 8 + static_cast<ptrdiff_t>(h.size()));
    return b;
  }
  static void parse(const Bytes& b) { SafetensorsFile(b.data(), b.size(), "bad.safetensors"); }
  static void parse(const json& h) { parse(with_header(h.dump())); }

  static json* header_;
  static Bytes* data_;
};
json* BadSafetensors::header_ = nullptr;
Bytes* BadSafetensors::data_ = nullptr;

TEST_F(BadSafetensors, RealHeaderParses) { parse(*header_); }

TEST_F(BadSafetensors, HeaderLengthLies) {
  expect_error([] { parse(Bytes{1, 2, 3}); }, {"bad.safetensors", "shorter than its 8-byte header length"});
  Bytes b = with_header(header_->dump());
  put<uint64_t>(b, 0, b.size());
  expect_error([&] { parse(b); }, {"header length", "runs past the end of the file"});
  put<uint64_t>(b, 0, ~uint64_t{0});
  expect_error([&] { parse(b); }, {"header length 18446744073709551615 runs past the end of the file"});
}

TEST_F(BadSafetensors, HeaderIsNotAJsonObject) {
  expect_error([] { parse(with_header("{\"a\": [1, 2")); }, {"header is not a JSON object"});
  expect_error([] { parse(with_header("[1, 2]")); }, {"header is not a JSON object"});
  expect_error([] { parse(with_header("\xff\xfe")); }, {"header is not a JSON object"});
}

TEST_F(BadSafetensors, OffsetsPastTheEndOrDisagreeingWithTheShape) {
  const std::string t = "model.norm.weight";  // BF16 [512]: 1024 bytes
  json h = *header_;
  h[t]["data_offsets"][1] = data_->size() + 2;
  expect_error([&] { parse(h); }, {"tensor 'model.norm.weight' data [", "runs past the end of the file"});
  h = *header_;
  h[t]["data_offsets"] = {100, 50};
  expect_error([&] { parse(h); }, {"tensor 'model.norm.weight' data [100, 50)"});
  h = *header_;
  h[t]["shape"] = {511};
  expect_error([&] { parse(h); }, {"tensor 'model.norm.weight' has 1024 bytes but its shape needs 1022"});
  h = *header_;
  h[t]["dtype"] = "F32";
  expect_error([&] { parse(h); }, {"has 1024 bytes but its shape needs 2048"});
  h = *header_;
  h[t]["data_offsets"] = {-8, 1016};
  expect_error([&] { parse(h); }, {"tensor 'model.norm.weight' has data_offsets [-8,1016], not two integers >= 0"});
}

TEST_F(BadSafetensors, OverlappingTensors) {
  json h = *header_;
  const std::string a = "model.layers.0.input_layernorm.weight", b = "model.layers.0.post_attention_layernorm.weight";
  h[b]["data_offsets"] = h[a]["data_offsets"];
  expect_error([&] { parse(h); }, {"overlap", "model.layers.0."});
}

TEST_F(BadSafetensors, BadEntries) {
  const std::string t = "model.norm.weight";
  json h = *header_;
  h[t]["dtype"] = "I64";
  expect_error([&] { parse(h); }, {"tensor 'model.norm.weight' has dtype I64 (sieve reads F32, F16, BF16)"});
  h = *header_;
  h[t].erase("data_offsets");
  expect_error([&] { parse(h); }, {"entry 'model.norm.weight' needs dtype, shape and data_offsets"});
  h = *header_;
  h[t] = 5;
  expect_error([&] { parse(h); }, {"entry 'model.norm.weight' is not an object"});
  h = *header_;
  h[t]["shape"] = {-512};
  expect_error([&] { parse(h); }, {"tensor 'model.norm.weight' has dimension -512, not an integer >= 0"});
  h = *header_;
  h[t]["shape"] = {uint64_t{1} << 45};
  expect_error([&] { parse(h); }, {"tensor 'model.norm.weight' has an absurd dimension 35184372088832"});
  h = *header_;
  h[t]["shape"] = {1, 1, 1, 1, 512};
  expect_error([&] { parse(h); }, {"tensor 'model.norm.weight' has more than 4 dimensions"});
}

// A Hugging Face folder made from the test model: its weights and tokenizer
// linked, config.json and the shard index written per case.
class BadHfFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sieve-bad-hf-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const char* f : {"model.safetensors", "tokenizer.model", "tokenizer_config.json", "generation_config.json"})
      fs::create_symlink(fs::path(test_model_dir()) / f, dir_ / f);
    std::ifstream in(test_model_dir() + "/config.json");
    config_ = json::parse(in);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  // Loads the folder with config.json changed by `edit`.
  void load_with(const std::function<void(json&)>& edit) {
    json c = config_;
    edit(c);
    write("config.json", c.dump());
    Model::load(dir_.string());
  }
  void load() { Model::load(dir_.string()); }

  fs::path dir_;
  json config_;
};

TEST_F(BadHfFolder, BrokenConfigJson) {
  fs::remove(dir_ / "config.json");
  expect_error([&] { load(); }, {"cannot read", "config.json"});
  write("config.json", "{\"vocab_size\": 8192,");
  expect_error([&] { load(); }, {"config.json is not a JSON object"});
  expect_error([&] { load_with([](json& c) { c.erase("hidden_size"); }); }, {"config.json lacks 'hidden_size'"});
  expect_error([&] { load_with([](json& c) { c["num_hidden_layers"] = nullptr; }); },
               {"config.json lacks 'num_hidden_layers'"});
}

TEST_F(BadHfFolder, ConfigValuesOfTheWrongType) {
  const struct {
    const char* key;
    json value;
    const char* says;
  } cases[] = {
      {"hidden_size", "512", "'hidden_size' is not an integer"},
      {"vocab_size", 8192.5, "'vocab_size' is not an integer"},
      {"model_type", 5, "'model_type' is not a string"},
      {"tie_word_embeddings", "yes", "'tie_word_embeddings' is not true or false"},
      {"attention_bias", 1, "'attention_bias' is not true or false"},
      {"rms_norm_eps", "1e-5", "'rms_norm_eps' is not a number"},
      {"rope_scaling", "linear", "rope_scaling is not an object"},
      {"rope_scaling", json{{"type", 3}}, "'rope_scaling.type' is not a string"},
      {"rope_scaling", json{{"type", "linear"}, {"factor", "2"}}, "'rope_scaling.factor' is not a number"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    expect_error([&] { load_with([&](json& j) { j[c.key] = c.value; }); }, {"config.json", c.says});
  }
}

TEST_F(BadHfFolder, UnknownArchitectureOrAbsurdValues) {
  expect_error([&] { load_with([](json& c) {
                 c["architectures"] = {"GPTNeoXForCausalLM"};
                 c["model_type"] = "gpt_neox";
               }); },
               {"unknown architecture 'GPTNeoXForCausalLM' (sieve runs LlamaForCausalLM"});
  expect_error([&] { load_with([](json& c) { c["num_key_value_heads"] = 3; }); },
               {"key/value head count 3 does not divide head count 8"});
  expect_error([&] { load_with([](json& c) { c["hidden_size"] = -512; }); }, {"hidden size -512 is out of range"});
  expect_error([&] { load_with([](json& c) { c["num_hidden_layers"] = int64_t{1} << 40; }); },
               {"layer count 1099511627776 is out of range"});
  expect_error([&] { load_with([](json& c) { c["rope_scaling"] = {{"rope_type", "yarn"}}; }); },
               {"rope_scaling type 'yarn' is not supported"});
  expect_error([&] { load_with([](json& c) {
                 c["rope_scaling"] = {{"rope_type", "llama3"}, {"low_freq_factor", 4}, {"high_freq_factor", 4}};
               }); },
               {"llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor"});
  expect_error([&] { load_with([](json& c) {
                 c["rope_scaling"] = {{"rope_type", "llama3"}, {"original_max_position_embeddings", 1e300}};
               }); },
               {"original_max_position_embeddings is out of range"});
  // Parses, but the weights do not have the shapes the config promises.
  expect_error([&] { load_with([](json& c) { c["intermediate_size"] = 1024; }); },
               {"tensor 'model.layers.0.mlp.gate_proj.weight' has shape", "expected"});
}

TEST_F(BadHfFolder, ShardIndexPointingAtMissingOrOutsideFiles) {
  write("config.json", config_.dump());
  auto index = [&](const std::string& file) {
    write("model.safetensors.index.json", json{{"weight_map", {{"model.norm.weight", file}}}}.dump());
  };
  index("model-00002-of-00002.safetensors");
  expect_error([&] { load(); }, {"cannot open", "model-00002-of-00002.safetensors", "No such file"});
  index("../model.safetensors");
  expect_error([&] { load(); }, {"shard name '../model.safetensors' must be a plain file name"});
  index("/etc/passwd");
  expect_error([&] { load(); }, {"shard name '/etc/passwd' must be a plain file name"});
  index("..");
  expect_error([&] { load(); }, {"must be a plain file name"});
  write("model.safetensors.index.json", "{\"weight_map\": [1, 2]}");
  expect_error([&] { load(); }, {"model.safetensors.index.json", "no weight_map object"});
  write("model.safetensors.index.json", "not json");
  expect_error([&] { load(); }, {"model.safetensors.index.json", "no weight_map object"});
  write("model.safetensors.index.json", R"({"weight_map": {"a": 7}})");
  expect_error([&] { load(); }, {"weight_map entry 'a' is not a file name"});
  // Two shards that hold the same tensors.
  fs::create_symlink(fs::path(test_model_dir()) / "model.safetensors", dir_ / "copy.safetensors");
  write("model.safetensors.index.json",
        json{{"weight_map", {{"a", "model.safetensors"}, {"b", "copy.safetensors"}}}}.dump());
  expect_error([&] { load(); }, {"appears in two shards"});
}

TEST_F(BadHfFolder, NoWeights) {
  write("config.json", config_.dump());
  fs::remove(dir_ / "model.safetensors");
  expect_error([&] { load(); }, {"no model.safetensors or model.safetensors.index.json"});
}

}  // namespace
}  // namespace sieve
