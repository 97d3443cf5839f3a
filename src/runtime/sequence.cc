#include "runtime/sequence.h"

namespace sieve {

Sequence::Sequence(uint64_t id_, std::vector<int32_t> prompt, RequestOptions options_, RequestCallbacks callbacks_,
                   std::unique_ptr<AttentionPolicy> policy_, const Tokenizer& tokenizer)
    : id(id_), tokens(std::move(prompt)), n_prompt(static_cast<int64_t>(tokens.size())), options(std::move(options_)),
      callbacks(std::move(callbacks_)), policy(std::move(policy_)), sampler(options.sampling),
      output(tokenizer, options.stop), submitted(Clock::now()) {
  policy_spec = policy->spec();
  policy_name = policy_spec.substr(0, policy_spec.find(':'));
  for (int32_t t : tokens) sampler.observe(t);
  result.prompt_tokens = tokens;
  result.attn = policy_spec;
}

}  // namespace sieve
