// ACT's head search: answers scored teacher-forced agree with greedy
// decoding, and the search tries every eligible head alone and keeps by its
// rule.
#include <gtest/gtest.h>

#include <algorithm>

#include "eval/act_search.h"
#include "support/engine_fixture.h"
#include "util/text_file.h"

namespace sieve::eval {
namespace {

using ActSearchTest = testing_support::TestModelEngine;

std::vector<Prompt> prompts(const Model& model, Task task, int64_t length, int64_t n) {
  const PromptBuilder builder(model.tokenizer(), read_text_file(source_dir() + "/data/haystack.txt"));
  std::vector<Prompt> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(builder.build(task, 7, length, kRandomDepth, i));
  return out;
}

// Greedy decoding of a few tokens, scored as the eval protocol scores it.
bool greedy_correct(Transformer& tf, const Prompt& p) {
  const int64_t vocab = tf.model().config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(vocab));
  KvCache cache(tf.cache_shape(KvType::F16));
  tf.forward(p.tokens.data(), static_cast<int64_t>(p.tokens.size()), cache, logits.data());
  std::vector<int32_t> generated;
  for (int i = 0; i < 8; ++i) {
    generated.push_back(static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
    tf.forward(&generated.back(), 1, cache, logits.data());
  }
  return answer_correct(tf.model().tokenizer().decode(generated), p.expected);
}

TEST_F(ActSearchTest, TeacherForcedScoresAgreeWithGreedyDecoding) {
  Transformer tf(*model_, *pool_);
  // niah-multikey at 1K: the model answers about half (a test that both kinds of answer agree).
  const std::vector<Prompt> ps = prompts(*model_, Task::NiahMultikey, 1024, 8);
  int64_t greedy = 0;
  for (const Prompt& p : ps) greedy += greedy_correct(tf, p);
  const AnswerScore s = score_answers(tf, KvType::F16, [&] { return make_policy("full", model_->config()); }, ps);
  EXPECT_EQ(s.prompts, 8);
  EXPECT_EQ(s.correct, greedy);
  EXPECT_GT(greedy, 0);
  EXPECT_LT(greedy, 8);
  EXPECT_GT(s.nll, 0.0);
}

TEST_F(ActSearchTest, EveryEligibleHeadAloneKeptByTheRule) {
  Transformer tf(*model_, *pool_);
  const ActSearch s = run_act_search(tf, KvType::F16, "full", 0.4, 0.1, prompts(*model_, Task::Passkey, 256, 1));
  ASSERT_EQ(s.heads.size(), 5u * 8u);  // layers 2 to 6 of 8
  for (const ActHeadResult& h : s.heads) {
    EXPECT_TRUE(h.layer >= 2 && h.layer <= 6) << h.layer;
    EXPECT_EQ(h.kept, h.score.correct >= s.baseline.correct && h.score.nll < s.baseline.nll);
    EXPECT_EQ(h.kept, s.kept.count({h.layer, h.head}) == 1);
  }
}

}  // namespace
}  // namespace sieve::eval
