#pragma once
// A test suite over the shipped q8_0 test model and a two-thread pool,
// loaded once per suite, with greedy request options and prompts of
// distinct text for engine-level policy tests.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/engine.h"
#include "test_paths.h"

namespace sieve::testing_support {

class TestModelEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = Model::load(test_model_dir() + "/model-q8_0.gguf").release();
    pool_ = new ThreadPool(2);
  }
  static void TearDownTestSuite() {
    delete pool_;
    delete model_;
    pool_ = nullptr;
    model_ = nullptr;
  }
  static RequestOptions greedy(const std::string& attn, int64_t max_tokens) {
    RequestOptions o;
    o.sampling.temperature = 0;
    o.max_tokens = max_tokens;
    o.ignore_eos = true;
    o.attn = attn;
    return o;
  }
  // BOS, then n - 1 tokens from a fixed stream (`stride` tells streams apart).
  static std::vector<int32_t> prompt(int64_t n, int64_t stride = 37) {
    std::vector<int32_t> p = {model_->tokenizer().bos_id()};
    for (int64_t i = 1; i < n; ++i) p.push_back(static_cast<int32_t>(300 + (i * stride) % 4000));
    return p;
  }
  // An engine without the prefix cache, so every request computes its own pages.
  static EngineOptions no_prefix_cache() {
    EngineOptions eo;
    eo.prefix_cache = false;
    return eo;
  }

  inline static Model* model_ = nullptr;
  inline static ThreadPool* pool_ = nullptr;
};

}  // namespace sieve::testing_support
