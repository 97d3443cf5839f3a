// One request through the engine (a batch of one): streaming, stop strings,
// limits, and the context check.
#include "runtime/generator.h"

#include <gtest/gtest.h>

#include "test_paths.h"
#include "util/error.h"

namespace sieve {
namespace {

class GeneratorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = Model::load(test_model_dir() + "/model-bf16.gguf").release();
    pool_ = new ThreadPool(2);
  }
  static void TearDownTestSuite() {
    delete pool_;
    delete model_;
  }
  static Model* model_;
  static ThreadPool* pool_;
};
Model* GeneratorTest::model_ = nullptr;
ThreadPool* GeneratorTest::pool_ = nullptr;

TEST_F(GeneratorTest, StreamsExactlyTheFinalTextAndStopsAtAStopString) {
  EngineOptions eo;
  Engine engine(*model_, *pool_, eo);
  RequestOptions o;
  o.sampling.temperature = 0;
  o.max_tokens = 40;
  auto prompt = model_->tokenizer().encode("The kernel");
  RequestResult free_run = generate(engine, prompt, o);
  ASSERT_GT(free_run.text.size(), 10u);
  // Stop at a piece of the text seen in the free run: the output ends right before it.
  const std::string stop = free_run.text.substr(6, 4);
  o.stop = {stop};
  std::string streamed;
  RequestResult r = generate(engine, prompt, o, [&](std::string_view s) { streamed += s; });
  EXPECT_EQ(r.stop_reason, "stop");
  EXPECT_EQ(r.text, free_run.text.substr(0, free_run.text.find(stop)));
  EXPECT_EQ(streamed, r.text);
}

TEST_F(GeneratorTest, RefusesAPromptLongerThanTheContextUnlessThePolicyEvicts) {
  EngineOptions eo;
  eo.context = 16;
  Engine engine(*model_, *pool_, eo);
  RequestOptions o;
  o.max_tokens = 2;
  std::vector<int32_t> prompt(40, 100);
  try {
    generate(engine, prompt, o);
    FAIL() << "no error";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.code(), "context_length_exceeded");
    EXPECT_NE(std::string(e.what()).find("longer than the context of 16 tokens"), std::string::npos) << e.what();
  }
  o.attn = "streaming:sink=4,window=8";
  EXPECT_EQ(generate(engine, prompt, o).tokens.size(), 2u);
}

TEST_F(GeneratorTest, StopsAtTheTokenLimitAndAtTheContext) {
  EngineOptions eo;
  eo.context = 8;
  Engine engine(*model_, *pool_, eo);
  RequestOptions o;
  o.sampling.temperature = 0;
  o.max_tokens = 5;
  RequestResult r = generate(engine, {1, 450}, o);
  EXPECT_EQ(r.tokens.size(), 5u);
  EXPECT_EQ(r.stop_reason, "length");
  o.max_tokens = 50;
  o.ignore_eos = true;
  r = generate(engine, {1, 450}, o);
  EXPECT_EQ(r.stop_reason, "context");
  EXPECT_EQ(r.tokens.size(), 7u);  // 2 prompt tokens + 7 generated: the last one never enters the cache
}

}  // namespace
}  // namespace sieve
