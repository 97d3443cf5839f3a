#include "runtime/generator.h"

#include <algorithm>
#include <chrono>

#include "util/error.h"

namespace sieve {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Length of the longest suffix of text that is a proper prefix of a stop
// string: that much must be held back while streaming.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops)
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  return hold;
}

}  // namespace

GenerationResult generate(Transformer& tf, const std::vector<int32_t>& prompt, const GenerationOptions& options,
                          const std::function<void(std::string_view)>& on_text) {
  const Model& model = tf.model();
  const Tokenizer& tok = model.tokenizer();
  const int64_t n_vocab = model.config().vocab_size;
  const int64_t context = options.context_size > 0 ? options.context_size : model.config().max_context;
  if (prompt.empty()) throw Error("the prompt is empty");
  std::unique_ptr<AttentionPolicy> policy = make_policy(options.attn, model.config());
  if (!policy->evicts() && static_cast<int64_t>(prompt.size()) > context)
    throw Error("the prompt is " + std::to_string(prompt.size()) + " tokens, longer than the context of " +
                std::to_string(context) + " tokens (raise --ctx, or use an attention policy that evicts, e.g. streaming)");
  if (options.max_tokens < 0) throw Error("the token limit must be >= 0");
  for (const std::string& s : options.stop)
    if (s.empty()) throw Error("a stop string must not be empty");

  GenerationResult r;
  r.prompt_tokens = prompt;
  Sampler sampler(options.sampling);
  for (int32_t t : prompt) sampler.observe(t);
  KvCache cache(tf.cache_shape(options.kv_type));
  std::vector<float> logits(n_vocab);

  auto t0 = std::chrono::steady_clock::now();
  tf.forward(prompt.data(), static_cast<int64_t>(prompt.size()), cache, logits.data(), false, policy.get());
  r.prefill_seconds = seconds_since(t0);
  r.prompt_logits = logits;

  StreamDecoder decoder(tok);
  std::string pending;  // decoded text not yet handed to on_text
  auto t1 = std::chrono::steady_clock::now();
  r.stop_reason = "length";
  for (int64_t i = 0; i < options.max_tokens; ++i) {
    const int32_t next = sampler.sample(logits.data(), n_vocab);
    if (tok.is_end_of_generation(next)) {
      r.stop_reason = "eos";
      break;
    }
    r.tokens.push_back(next);
    sampler.observe(next);
    pending += decoder.push(next);
    bool stopped = false;
    for (const std::string& s : options.stop) {
      size_t at = pending.find(s);
      if (at != std::string::npos) {
        pending.resize(at);
        stopped = true;
      }
    }
    if (stopped) {
      r.stop_reason = "stop";
      break;
    }
    const size_t hold = held_back(pending, options.stop);
    const std::string ready = pending.substr(0, pending.size() - hold);
    r.text += ready;
    if (on_text && !ready.empty()) on_text(ready);
    pending.erase(0, ready.size());
    if (!policy->evicts() && cache.size() >= context) {
      r.stop_reason = "context";
      break;
    }
    if (i + 1 < options.max_tokens) tf.forward(&next, 1, cache, logits.data(), false, policy.get());
  }
  if (r.stop_reason != "stop") pending += decoder.flush();
  r.text += pending;
  if (on_text && !pending.empty()) on_text(pending);
  r.decode_seconds = seconds_since(t1);
  r.attn = policy->spec();
  r.attention_reads = policy->stats();
  r.kv_cache_bytes = cache.bytes_allocated();
  return r;
}

}  // namespace sieve
