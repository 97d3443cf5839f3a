#include "eval/act_search.h"

#include <algorithm>

#include "attention/modifiers/act.h"
#include "eval/perplexity.h"
#include "util/error.h"

namespace sieve::eval {

namespace {

// The answer's tokens as they follow the question's last word " is" (a
// lone " 71432" would tokenize with SentencePiece's dummy prefix instead).
std::vector<int32_t> answer_tokens(const Tokenizer& tok, const std::string& expected) {
  const std::vector<int32_t> base = tok.encode("is", false), with = tok.encode("is " + expected, false);
  if (with.size() <= base.size() || !std::equal(base.begin(), base.end(), with.begin()))
    throw Error("internal: the answer '" + expected + "' does not tokenize after 'is'");
  return {with.begin() + static_cast<std::ptrdiff_t>(base.size()), with.end()};
}

}  // namespace

AnswerScore score_answers(Transformer& tf, KvType kv_type, const PolicyMaker& make, const std::vector<Prompt>& prompts) {
  const Model& model = tf.model();
  const int64_t vocab = model.config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(vocab));
  AnswerScore s;
  for (const Prompt& p : prompts) {
    const std::vector<int32_t> answer = answer_tokens(model.tokenizer(), p.expected);
    const std::unique_ptr<AttentionPolicy> policy = make();
    KvCache cache(tf.cache_shape(kv_type));
    tf.forward(p.tokens.data(), static_cast<int64_t>(p.tokens.size()), cache, logits.data(), false, policy.get());
    policy->end_prompt(cache, tf.pool());
    bool all_greedy = true;
    double nll = 0;
    for (size_t i = 0; i < answer.size(); ++i) {
      if (i > 0) tf.forward(&answer[i - 1], 1, cache, logits.data(), false, policy.get());
      all_greedy = all_greedy && std::max_element(logits.begin(), logits.end()) - logits.begin() == answer[i];
      nll += token_nll(logits.data(), vocab, answer[i]);
    }
    ++s.prompts;
    s.correct += all_greedy;
    s.nll += nll;
  }
  if (s.prompts) s.nll /= static_cast<double>(s.prompts);
  return s;
}

ActSearch run_act_search(Transformer& tf, KvType kv_type, const std::string& base, double beta, double threshold,
                         const std::vector<Prompt>& prompts, const std::function<void(const ActHeadResult&)>& on_head) {
  const ModelConfig& c = tf.model().config();
  const int64_t layers = c.attention_layers();
  ActSearch r;
  r.baseline = score_answers(tf, kv_type, [&] { return make_policy(base, c); }, prompts);
  for (int64_t l = 0; l < layers; ++l) {
    if (!act_layer_eligible(l, layers)) continue;
    for (int64_t h = 0; h < c.n_heads; ++h) {
      ActHeadResult hr;
      hr.layer = l;
      hr.head = h;
      ActOptions o;  // one head alone, through the very modifier requests use
      o.beta = beta;
      o.threshold = threshold;
      o.heads = {{l, h}};
      hr.score = score_answers(
          tf, kv_type, [&] { return std::make_unique<ActPolicy>(make_policy(base, c), o); }, prompts);
      hr.kept = hr.score.correct >= r.baseline.correct && hr.score.nll < r.baseline.nll;
      if (hr.kept) r.kept.insert({l, h});
      r.heads.push_back(hr);
      if (on_head) on_head(hr);
    }
  }
  return r;
}

}  // namespace sieve::eval
