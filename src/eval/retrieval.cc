#include "eval/retrieval.h"

#include <algorithm>

#include "runtime/generator.h"

namespace sieve::eval {

std::vector<RetrievalCell> run_retrieval(Engine& engine, const PromptBuilder& prompts, const RetrievalOptions& o,
                                         Progress* progress) {
  const ModelConfig& config = engine.model().config();
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
  for (size_t l = 0; l < n_len; ++l)
    for (size_t d = 0; d < n_depth; ++d)
      for (int64_t s = 0; s < o.samples[l]; ++s) {
        const Prompt prompt = prompts.build(o.task, o.seed, o.lengths[l], o.depths[d], s);
        for (size_t p = 0; p < o.policies.size(); ++p) {
          // Each prompt is a request of its own (a fresh policy instance).
          RequestOptions ro;
          ro.attn = o.policies[p];
          ro.rope = o.rope;
          ro.max_tokens = o.max_new_tokens;
          ro.sampling.temperature = 0;
          const RequestResult r = generate(engine, prompt.tokens, ro);
          const std::string text = engine.model().tokenizer().decode(r.tokens);
          RetrievalCell& c = cells[(p * n_len + l) * n_depth + d];
          ++c.samples;
          c.correct += answer_correct(text, prompt.expected) ? 1 : 0;
          c.decoded_tokens += r.attention_reads.decoded_tokens;
          c.kv_bytes_read += r.attention_reads.bytes_read;
          c.kv_slots_read += r.attention_reads.slots_read;
          const auto& counters = r.policy_counters;
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
