#include "runtime/sequence.h"

#include <functional>

namespace sieve {

Sequence::Sequence(uint64_t id_, std::vector<int32_t> prompt, RequestOptions options_, RequestCallbacks callbacks_,
                   std::unique_ptr<AttentionPolicy> policy_, std::unique_ptr<Rope> rope_, const Tokenizer& tokenizer)
    : id(id_), tokens(std::move(prompt)), n_prompt(static_cast<int64_t>(tokens.size())), options(std::move(options_)),
      callbacks(std::move(callbacks_)), policy(std::move(policy_)), rope(std::move(rope_)), sampler(options.sampling),
      output(tokenizer, options.stop), submitted(Clock::now()) {
  policy_spec = policy->spec();
  policy_name = policy_spec.substr(0, policy_spec.find(':'));
  for (int32_t t : tokens) sampler.observe(t);
  result.prompt_tokens = tokens;
  result.attn = policy_spec;
  rope_spec = options.rope.empty() ? "none" : options.rope;  // canonical from the engine
  result.rope = rope_spec;
  if (rope) prefix_root = std::hash<std::string>{}("rope " + rope_spec) | 1;
  last_hash = prefix_root;
}

}  // namespace sieve
