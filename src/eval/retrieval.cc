#include "eval/retrieval.h"

#include <algorithm>

namespace sieve::eval {

std::vector<int32_t> greedy_answer(Transformer& tf, KvCache& cache, AttentionPolicy& policy,
                                   const std::vector<int32_t>& prompt, int max_new) {
  const Tokenizer& tok = tf.model().tokenizer();
  std::vector<float> logits(static_cast<size_t>(tf.model().config().vocab_size));
  tf.forward(prompt.data(), static_cast<int64_t>(prompt.size()), cache, logits.data(), false, &policy);
  std::vector<int32_t> out;
  for (int i = 0; i < max_new; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (tok.is_end_of_generation(next)) break;
    out.push_back(next);
    if (i + 1 < max_new) tf.forward(&next, 1, cache, logits.data(), false, &policy);
  }
  return out;
}

std::vector<RetrievalCell> run_retrieval(Transformer& tf, const PromptBuilder& prompts, const RetrievalOptions& o,
                                         Progress* progress) {
  const ModelConfig& config = tf.model().config();
  const size_t n_len = o.lengths.size(), n_depth = o.depths.size();
  std::vector<RetrievalCell> cells(o.policies.size() * n_len * n_depth);
  for (size_t p = 0; p < o.policies.size(); ++p) {
    const std::string attn = make_policy(o.policies[p], config)->spec();
    for (size_t l = 0; l < n_len; ++l)
      for (size_t d = 0; d < n_depth; ++d) {
        RetrievalCell& c = cells[(p * n_len + l) * n_depth + d];
        c.attn = attn;
        c.length = o.lengths[l];
        c.depth = o.depths[d];
      }
  }
  KvCache cache(tf.cache_shape(o.kv_type));
  for (size_t l = 0; l < n_len; ++l)
    for (size_t d = 0; d < n_depth; ++d)
      for (int64_t s = 0; s < o.samples[l]; ++s) {
        const Prompt prompt = prompts.build(o.task, o.seed, o.lengths[l], o.depths[d], s);
        for (size_t p = 0; p < o.policies.size(); ++p) {
          // A fresh policy per prompt: policies may keep per-sequence state.
          auto policy = make_policy(o.policies[p], config);
          cache.clear();
          const std::vector<int32_t> answer = greedy_answer(tf, cache, *policy, prompt.tokens, o.max_new_tokens);
          const std::string text = tf.model().tokenizer().decode(answer);
          RetrievalCell& c = cells[(p * n_len + l) * n_depth + d];
          ++c.samples;
          c.correct += answer_correct(text, prompt.expected) ? 1 : 0;
          c.decoded_tokens += policy->stats().decoded_tokens;
          c.kv_bytes_read += policy->stats().bytes_read;
          c.kv_slots_read += policy->stats().slots_read;
          const auto counters = policy->counters();
          if (c.counters.empty()) c.counters = counters;
          else
            for (size_t i = 0; i < counters.size() && i < c.counters.size(); ++i) c.counters[i].second += counters[i].second;
          c.expected.push_back(prompt.expected);
          c.outputs.push_back(text);
          if (progress) progress->advance(1, static_cast<double>(o.lengths[l]));
        }
      }
  return cells;
}

}  // namespace sieve::eval
