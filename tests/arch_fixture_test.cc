// Architectures sieve runs but ships no model for, checked on tiny random
// models (tests/support/fixture_models.h) generated into a temporary folder:
//  (a) sieve's logits match the float64 reference for the GGUF and the HF form;
//  (b) the GGUF and HF forms agree with each other, which checks llama.cpp's
//      Q/K permutation, the name mapping and rope_freqs.weight versus
//      rope_scaling independently of the reference (which shares the binding);
//  (c) sieve matches llama.cpp's logits on the same GGUF bytes
//      (tests/data/fixtures/llamacpp-<name>.json, tools/fixtures/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "runtime/transformer.h"
#include "support/fixture_models.h"
#include "support/reference_forward.h"
#include "test_paths.h"

namespace sieve {
namespace {
namespace fs = std::filesystem;
using fixtures::FixturePaths;
using fixtures::FixtureSpec;

// One temporary folder per test process, removed at exit; each fixture is
// written on first use (a few MB, tens of milliseconds).
class FixtureDir {
 public:
  FixtureDir() : dir_(fs::temp_directory_path() / ("sieve-arch-fixtures-" + std::to_string(getpid()))) {
    fs::create_directories(dir_);
  }
  ~FixtureDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const FixturePaths& get(const std::string& name) {
    auto it = paths_.find(name);
    if (it == paths_.end())
      it = paths_.emplace(name, fixtures::write_fixture(fixtures::fixture(name), test_model_dir(), dir_.string())).first;
    return it->second;
  }
  std::string path(const std::string& file) const { return (dir_ / file).string(); }

 private:
  fs::path dir_;
  std::map<std::string, FixturePaths> paths_;
};

FixtureDir& fixture_dir() {
  static FixtureDir d;
  return d;
}

// Logits of every position (n x vocab), one batch.
std::vector<float> sieve_logits(const Model& model, const std::vector<int32_t>& tokens) {
  ThreadPool pool(2);
  Transformer tf(model, pool);
  KvCache cache(tf.cache_shape());
  std::vector<float> logits(tokens.size() * model.config().vocab_size);
  tf.forward(tokens.data(), static_cast<int64_t>(tokens.size()), cache, logits.data(), /*all_logits=*/true);
  return logits;
}

struct Diff {
  double max_abs = 0;  // largest |a - b|
  double max_rel = 0;  // largest |a - b| / max(1, |b|)
};

template <typename A, typename B>
Diff compare(const A& a, const B& b) {
  Diff d;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    d.max_abs = std::max(d.max_abs, e);
    d.max_rel = std::max(d.max_rel, e / std::max(1.0, std::fabs(static_cast<double>(b[i]))));
  }
  return d;
}

std::vector<double> flatten(const std::vector<std::vector<double>>& rows) {
  std::vector<double> v;
  for (const auto& r : rows) v.insert(v.end(), r.begin(), r.end());
  return v;
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const FixtureSpec& s : fixtures::all_fixtures()) names.push_back(s.name);
  return names;
}

class ArchFixture : public ::testing::TestWithParam<std::string> {};

// The fixture really is the architecture it claims: the loader sees the
// features each one exists to exercise.
TEST_P(ArchFixture, LoadsWithItsFeatures) {
  const FixtureSpec& s = fixtures::fixture(GetParam());
  const FixturePaths& p = fixture_dir().get(GetParam());
  for (const std::string& path : {p.gguf, p.hf_dir}) {
    auto m = Model::load(path);
    const ModelConfig& c = m->config();
    EXPECT_EQ(c.hidden, s.hidden) << path;
    EXPECT_EQ(c.n_heads, s.n_heads) << path;
    EXPECT_EQ(c.n_kv_heads, s.n_kv_heads) << path;
    EXPECT_EQ(c.head_dim, s.head_dim) << path;
    EXPECT_EQ(c.ffn_hidden, s.ffn_hidden) << path;
    EXPECT_EQ(c.vocab_size, s.vocab) << path;
    EXPECT_EQ(c.qkv_bias, s.qkv_bias) << path;
    EXPECT_EQ(c.qk_norm, s.qk_norm) << path;
    EXPECT_EQ(c.tied_embeddings, s.tied) << path;
    EXPECT_EQ(m->weights().output == m->weights().token_embd, s.tied) << path;
    EXPECT_EQ(!m->weights().rope_freq_divisors.empty(), s.llama3_rope) << path;
    EXPECT_EQ(m->tokenizer().vocab_size(), s.vocab) << path;
  }
}

// (a) Both forms against the float64 reference, every logit of every position.
TEST_P(ArchFixture, MatchesFloat64Reference) {
  const FixturePaths& p = fixture_dir().get(GetParam());
  const std::vector<int32_t>& tokens = fixtures::fixture_tokens();
  for (const std::string& path : {p.gguf, p.hf_dir}) {
    auto model = Model::load(path);
    const Diff d = compare(sieve_logits(*model, tokens), flatten(testing::reference_forward(*model, tokens)));
    std::printf("[  arch   ] %s %s: max |sieve - float64| = %.3g (relative %.3g)\n", GetParam().c_str(),
                path == p.gguf ? "gguf" : "hf", d.max_abs, d.max_rel);
    EXPECT_LT(d.max_rel, 1e-4) << path;
  }
}

// (b) GGUF (llama.cpp layout, F32) and HF (rotate-half layout, BF16/F16/F32)
// forms hold the same weights, so they must give the same logits.
TEST_P(ArchFixture, GgufAndHfFormsAgree) {
  const FixturePaths& p = fixture_dir().get(GetParam());
  auto gguf = Model::load(p.gguf);
  auto hf = Model::load(p.hf_dir);
  // llama3 scaling: rope_freqs.weight (converter, float32) and rope_scaling
  // (sieve's own formula, double) give the same divisors.
  const auto& dg = gguf->weights().rope_freq_divisors;
  const auto& dh = hf->weights().rope_freq_divisors;
  ASSERT_EQ(dg.size(), dh.size());
  for (size_t i = 0; i < dg.size(); ++i) EXPECT_NEAR(dg[i], dh[i], 1e-6 * dh[i]) << "rope divisor " << i;
  const std::vector<int32_t>& tokens = fixtures::fixture_tokens();
  const Diff d = compare(sieve_logits(*gguf, tokens), sieve_logits(*hf, tokens));
  std::printf("[  arch   ] %s: max |gguf - hf| = %.3g\n", GetParam().c_str(), d.max_abs);
  EXPECT_LT(d.max_rel, 1e-5);
}

// Prompt processing in one batch and token-by-token decoding agree (the KV
// cache and attention with this GQA ratio and head size).
TEST_P(ArchFixture, BatchedAndIncrementalAgree) {
  auto model = Model::load(fixture_dir().get(GetParam()).gguf);
  const std::vector<int32_t>& tokens = fixtures::fixture_tokens();
  const std::vector<float> all = sieve_logits(*model, tokens);
  ThreadPool pool(2);
  Transformer tf(*model, pool);
  KvCache cache(tf.cache_shape());
  const int64_t V = model->config().vocab_size;
  std::vector<float> one(V);
  for (size_t t = 0; t < tokens.size(); ++t) {
    tf.forward(&tokens[t], 1, cache, one.data());
    const std::vector<float> batched(all.begin() + static_cast<int64_t>(t) * V, all.begin() + static_cast<int64_t>(t + 1) * V);
    EXPECT_LT(compare(one, batched).max_rel, 1e-5) << "position " << t;
  }
}

// (c) llama.cpp's logits on the identical GGUF: the top 20 of every position.
TEST_P(ArchFixture, MatchesLlamaCpp) {
  const FixturePaths& p = fixture_dir().get(GetParam());
  std::ifstream in(test_data_dir() + "/fixtures/llamacpp-" + GetParam() + ".json");
  ASSERT_TRUE(in) << "missing tests/data/fixtures/llamacpp-" << GetParam() << ".json";
  const nlohmann::json ref = nlohmann::json::parse(in);
  ASSERT_EQ(ref["gguf_fnv1a64"].get<std::string>(), fixtures::fnv1a64_file(p.gguf))
      << "the generated GGUF differs from the one llama.cpp ran on; if the change is intended, rerun "
         "tools/fixtures/llamacpp-reference.sh";
  const std::vector<int32_t>& tokens = fixtures::fixture_tokens();
  ASSERT_EQ(ref["tokens"].get<std::vector<int32_t>>(), tokens);
  auto model = Model::load(p.gguf);
  const std::vector<float> logits = sieve_logits(*model, tokens);
  const int64_t V = model->config().vocab_size;
  double max_abs = 0, max_rel = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const auto ids = ref["positions"][t]["ids"].get<std::vector<int32_t>>();
    const auto want = ref["positions"][t]["logits"].get<std::vector<double>>();
    ASSERT_EQ(ids.size(), want.size());
    const float* row = logits.data() + static_cast<int64_t>(t) * V;
    for (size_t k = 0; k < ids.size(); ++k) {
      const double e = std::fabs(row[ids[k]] - want[k]);
      max_abs = std::max(max_abs, e);
      max_rel = std::max(max_rel, e / std::max(1.0, std::fabs(want[k])));
    }
    // Same winner, unless llama.cpp's top two are closer than the tolerance.
    const int32_t best = static_cast<int32_t>(std::max_element(row, row + V) - row);
    if (want[0] - want[1] > 1e-3) {
      EXPECT_EQ(best, ids[0]) << "position " << t;
    }
  }
  std::printf("[  arch   ] %s: max |sieve - llama.cpp| over the top-20 = %.3g (relative %.3g)\n",
              GetParam().c_str(), max_abs, max_rel);
  EXPECT_LT(max_rel, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ArchFixture, ::testing::ValuesIn(fixture_names()),
                         [](const auto& info) { return info.param; });

// (b) has teeth: a llama-layout GGUF written without llama.cpp's Q/K
// permutation, or a llama3 GGUF without rope_freqs.weight, no longer agrees
// with its HF form by far more than the tolerance above.
TEST(ArchFixtureSensitivity, MissingPermutationOrRopeFreqsIsCaught) {
  const std::vector<int32_t>& tokens = fixtures::fixture_tokens();
  struct Case {
    const char* name;
    bool permute, rope_freqs;
  };
  for (Case c : {Case{"mistral", false, true}, Case{"llama3", false, true}, Case{"llama3", true, false}}) {
    FixtureSpec s = fixtures::fixture(c.name);
    s.permute_qk = c.permute;
    s.write_rope_freqs = c.rope_freqs;
    const std::string path = fixture_dir().path(std::string(c.name) + "-broken.gguf");
    fixtures::write_gguf(s, test_model_dir(), path);
    auto broken = Model::load(path);
    auto hf = Model::load(fixture_dir().get(c.name).hf_dir);
    const Diff d = compare(sieve_logits(*broken, tokens), sieve_logits(*hf, tokens));
    std::printf("[  arch   ] %s permute=%d rope_freqs=%d: max |broken gguf - hf| = %.3g\n", c.name, c.permute,
                c.rope_freqs, d.max_abs);
    EXPECT_GT(d.max_abs, 0.05) << c.name << " permute=" << c.permute << " rope_freqs=" << c.rope_freqs;
  }
}

// The committed llama.cpp numbers stay valid only while generation is
// byte-identical: writing the same fixture twice gives the same bytes.
TEST(ArchFixtureSensitivity, GenerationIsDeterministic) {
  const FixtureSpec& s = fixtures::fixture("qwen3");
  const std::string a = fixture_dir().path("det-a"), b = fixture_dir().path("det-b");
  const FixturePaths pa = fixtures::write_fixture(s, test_model_dir(), a);
  const FixturePaths pb = fixtures::write_fixture(s, test_model_dir(), b);
  EXPECT_EQ(fixtures::fnv1a64_file(pa.gguf), fixtures::fnv1a64_file(pb.gguf));
  EXPECT_EQ(fixtures::fnv1a64_file(pa.hf_dir + "/model.safetensors"),
            fixtures::fnv1a64_file(pb.hf_dir + "/model.safetensors"));
  EXPECT_EQ(fixtures::fnv1a64_file(pa.hf_dir + "/config.json"), fixtures::fnv1a64_file(pb.hf_dir + "/config.json"));
}

}  // namespace
}  // namespace sieve
