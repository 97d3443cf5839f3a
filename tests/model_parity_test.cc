// Parity of the forward pass with the shipped reference outputs:
// reference.json (PyTorch float32 from the bf16 weights) and llama.cpp's
// greedy continuations of the quantized files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "kernels/matmul_internal.h"
#include "runtime/transformer.h"
#include "support/reference_forward.h"
#include "test_paths.h"

namespace sieve {
namespace {

nlohmann::json load_json(const std::string& name) {
  std::ifstream in(test_model_dir() + "/" + name);
  return nlohmann::json::parse(in);
}

const nlohmann::json& reference() {
  static const nlohmann::json ref = load_json("reference.json");
  return ref;
}

struct GreedyRun {
  std::vector<float> last_logits;
  std::vector<int32_t> greedy;
};

GreedyRun run_greedy(const Model& model, const std::vector<int32_t>& prompt, int n, KvType kv = KvType::F32) {
  ThreadPool pool(2);
  Transformer tf(model, pool);
  KvCache cache(tf.cache_shape(kv));
  GreedyRun r;
  std::vector<float> logits(model.config().vocab_size);
  tf.forward(prompt.data(), static_cast<int64_t>(prompt.size()), cache, logits.data());
  r.last_logits = logits;
  for (int i = 0; i < n; ++i) {
    int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    r.greedy.push_back(next);
    tf.forward(&next, 1, cache, logits.data());
  }
  return r;
}

int common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  int n = 0;
  while (n < static_cast<int>(std::min(a.size(), b.size())) && a[n] == b[n]) ++n;
  return n;
}

int agreeing(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  int n = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) n += a[i] == b[i];
  return n;
}

class Float32Parity : public ::testing::TestWithParam<std::string> {};

// The reference logits were computed on a GPU; a float64 evaluation of the
// same model differs from them by up to ~7.5e-3 (Hugging Face transformers
// differs by up to 9.5e-3), so 1e-3 against them would test the GPU's
// rounding, not sieve. The tight bound is checked against sieve's own
// float64 reference (below); here the bound is the reference's own noise.
TEST_P(Float32Parity, GreedyAndLogitsMatchReference) {
  auto model = Model::load(test_model_dir() + "/" + GetParam());
  const auto& ref = reference();
  for (int p = 0; p < 3; ++p) {
    auto prompt = ref["prompts"][p].get<std::vector<int32_t>>();
    auto want = ref["greedy"][p].get<std::vector<int32_t>>();
    auto want_logits = ref["last_logits"][p].get<std::vector<float>>();
    GreedyRun r = run_greedy(*model, prompt, 32);
    EXPECT_EQ(r.greedy, want) << "prompt " << p;
    float max_diff = 0;
    for (size_t i = 0; i < want_logits.size(); ++i) max_diff = std::max(max_diff, std::fabs(r.last_logits[i] - want_logits[i]));
    EXPECT_LT(max_diff, 1e-2) << "prompt " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(TestModel, Float32Parity, ::testing::Values("", "model-bf16.gguf"),
                         [](const auto& info) { return info.param.empty() ? std::string("HuggingFace") : std::string("GgufBf16"); });

// sieve's float32 path against an independent float64 forward pass: every
// logit of the first 8 positions within 1e-3 (seen: ~1.5e-5).
TEST(Float32Parity, MatchesFloat64ReferenceWithin1e3) {
  for (std::string file : {"", "model-bf16.gguf"}) {
    auto model = Model::load(test_model_dir() + "/" + file);
    auto prompt = reference()["prompts"][0].get<std::vector<int32_t>>();
    prompt.resize(8);
    auto want = testing::reference_forward(*model, prompt);
    ThreadPool pool(2);
    Transformer tf(*model, pool);
    KvCache cache(tf.cache_shape());
    std::vector<float> logits(prompt.size() * model->config().vocab_size);
    tf.forward(prompt.data(), static_cast<int64_t>(prompt.size()), cache, logits.data(), /*all_logits=*/true);
    double max_diff = 0;
    for (size_t t = 0; t < prompt.size(); ++t)
      for (int64_t i = 0; i < model->config().vocab_size; ++i)
        max_diff = std::max(max_diff, std::fabs(logits[t * model->config().vocab_size + i] - want[t][i]));
    EXPECT_LT(max_diff, 1e-3) << file;
  }
}

// Prefill in one batch and token-by-token decode fill the same cache.
TEST(Float32Parity, BatchedAndIncrementalAgree) {
  auto model = Model::load(test_model_dir() + "/model-bf16.gguf");
  auto prompt = reference()["prompts"][1].get<std::vector<int32_t>>();
  ThreadPool pool(2);
  Transformer tf(*model, pool);
  const int64_t V = model->config().vocab_size;
  KvCache a(tf.cache_shape()), b(tf.cache_shape());
  std::vector<float> la(V), lb(V);
  tf.forward(prompt.data(), static_cast<int64_t>(prompt.size()), a, la.data());
  for (int32_t t : prompt) tf.forward(&t, 1, b, lb.data());
  for (int64_t i = 0; i < V; ++i) ASSERT_NEAR(la[i], lb[i], 1e-4) << i;
}

// A prefill long enough for the GEMM path of bf16 weights: with AVX512_BF16
// it rounds activations to bf16 (as llama.cpp does there). Greedy tokens
// must not change, and the last logits stay within 0.05 of the float32
// activations' (seen: 0.023).
TEST(Bf16DotPrefill, AgreesWithFloat32Activations) {
  if (!kernels::detail::bf16_dot_supported()) GTEST_SKIP() << "this CPU has no AVX512_BF16";
  auto model = Model::load(test_model_dir() + "/model-bf16.gguf");
  std::vector<int32_t> prompt;
  for (int p = 0; p < 3; ++p)
    for (int32_t t : reference()["prompts"][p].get<std::vector<int32_t>>()) prompt.push_back(t);
  while (prompt.size() < 2u * kernels::detail::gemm_min_tokens()) prompt.insert(prompt.end(), prompt.begin(), prompt.end());
  const GreedyRun with_dot = run_greedy(*model, prompt, 16);
  kernels::detail::set_bf16_dot_enabled(false);
  const GreedyRun plain = run_greedy(*model, prompt, 16);
  kernels::detail::set_bf16_dot_enabled(true);
  EXPECT_EQ(with_dot.greedy, plain.greedy);
  float max_diff = 0;
  for (size_t i = 0; i < plain.last_logits.size(); ++i)
    max_diff = std::max(max_diff, std::fabs(with_dot.last_logits[i] - plain.last_logits[i]));
  EXPECT_GT(max_diff, 0.0f) << "the bf16-dot path was not taken";
  EXPECT_LT(max_diff, 0.05f);
  std::cout << "bf16-dot prefill: max |logit difference| " << max_diff << " over " << prompt.size() << " tokens\n";
}

struct QuantCase {
  const char* file;
  const char* reference;
};

class QuantizedParity : public ::testing::TestWithParam<QuantCase> {};

// llama.cpp quantizes activations to 8 bits for these formats, as sieve
// does, and its kernels agree with sieve's to ~1e-7; the references were made
// with its default f16 KV cache, so sieve runs with one too.
//
// Free-running greedy continuations must agree on at least 30 of 32 tokens,
// except where the two engines split on a near tie: q4_k_m prompt 2 diverges
// at token 5, where sieve's top two logits differ by 0.07 (llama.cpp's own
// q4_k_m and bf16 runs of that prompt part at token 10). So every step is
// also checked teacher-forced: llama.cpp's token must be sieve's argmax or
// within 0.1 of its top logit, and the free-running check is waived only for
// a prompt whose first divergence is such a near tie.
TEST_P(QuantizedParity, GreedyAgreesWithLlamaCpp) {
  auto model = Model::load(test_model_dir() + "/" + GetParam().file);
  auto ref = load_json(GetParam().reference);
  const int64_t V = model->config().vocab_size;
  for (int p = 0; p < 3; ++p) {
    auto prompt = ref["prompts"][p].get<std::vector<int32_t>>();
    auto want = ref["greedy"][p].get<std::vector<int32_t>>();
    ThreadPool pool(2);
    Transformer tf(*model, pool);
    KvCache cache(tf.cache_shape(KvType::F16));
    std::vector<float> logits(V);
    tf.forward(prompt.data(), static_cast<int64_t>(prompt.size()), cache, logits.data());
    float first_divergence_gap = -1;
    for (size_t i = 0; i < want.size(); ++i) {
      const float top = *std::max_element(logits.begin(), logits.end());
      const float gap = top - logits[want[i]];
      EXPECT_LT(gap, 0.1f) << GetParam().file << " prompt " << p << " step " << i;
      if (gap > 0 && first_divergence_gap < 0) first_divergence_gap = gap;
      tf.forward(&want[i], 1, cache, logits.data());
    }
    GreedyRun r = run_greedy(*model, prompt, 32, KvType::F16);
    if (agreeing(r.greedy, want) < 30) {
      EXPECT_GE(first_divergence_gap, 0.0f) << "prompt " << p;
      EXPECT_LT(first_divergence_gap, 0.1f) << GetParam().file << " prompt " << p << ": common prefix "
                                            << common_prefix(r.greedy, want);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TestModel, QuantizedParity,
                         ::testing::Values(QuantCase{"model-q8_0.gguf", "reference-llamacpp-q8_0.json"},
                                           QuantCase{"model-q4_k_m.gguf", "reference-llamacpp-q4_k_m.json"}),
                         [](const auto& info) { return std::string(info.param.file).substr(6, 4) == "q8_0" ? std::string("Q8_0") : std::string("Q4_K_M"); });

}  // namespace
}  // namespace sieve
