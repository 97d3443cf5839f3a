#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace sieve::eval {

double token_nll(const float* logits, int64_t vocab, int32_t target) {
  // Double throughout: a float sum of 8K-150K exponentials loses the digits
  // that distinguish policies whose perplexities differ in the third place.
  double max = logits[0];
  for (int64_t i = 1; i < vocab; ++i) max = std::max(max, static_cast<double>(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  return max + std::log(sum) - static_cast<double>(logits[target]);
}

double PplSegment::ppl() const { return predicted ? std::exp(nll_sum / static_cast<double>(predicted)) : NAN; }

double overall_ppl(const std::vector<PplSegment>& segments) {
  double nll = 0;
  int64_t n = 0;
  for (const PplSegment& s : segments) {
    nll += s.nll_sum;
    n += s.predicted;
  }
  return n ? std::exp(nll / static_cast<double>(n)) : NAN;
}

PplSegment window_nll(Transformer& tf, KvCache& cache, AttentionPolicy& policy, const std::vector<int32_t>& tokens,
                      const Rope* rope) {
  const int64_t vocab = tf.model().config().vocab_size;
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<float> logits(static_cast<size_t>(std::min(n, Transformer::kMaxBatch) * vocab));
  PplSegment seg;
  seg.end = n;
  for (int64_t done = 0; done < n - 1;) {  // the last token predicts nothing
    const int64_t chunk = std::min(Transformer::kMaxBatch, n - 1 - done);
    tf.forward(tokens.data() + done, chunk, cache, logits.data(), true, &policy, rope);
    for (int64_t i = 0; i < chunk; ++i)
      seg.nll_sum += token_nll(logits.data() + i * vocab, vocab, tokens[done + i + 1]);
    seg.predicted += chunk;
    done += chunk;
  }
  seg.kv_cache_bytes = cache.bytes_allocated();
  return seg;
}

PplSegment continuation_nll(Transformer& tf, KvCache& cache, AttentionPolicy& policy, const std::vector<int32_t>& tokens,
                            int64_t continuation, const Rope* rope) {
  const int64_t vocab = tf.model().config().vocab_size;
  const int64_t n = static_cast<int64_t>(tokens.size()), prompt = n - continuation;
  if (continuation < 1 || prompt < 1)
    throw Error("a continuation of " + std::to_string(continuation) + " tokens does not fit a window of " +
                std::to_string(n) + " (it needs at least one prompt token before it)");
  std::vector<float> logits(static_cast<size_t>(vocab));
  for (int64_t done = 0; done < prompt;) {
    const int64_t chunk = std::min(Transformer::kMaxBatch, prompt - done);
    tf.forward(tokens.data() + done, chunk, cache, logits.data(), false, &policy, rope);
    done += chunk;
  }
  // The prompt's last logits predate the compression, as a request's first
  // sampled token does.
  policy.end_prompt(cache, tf.pool());
  PplSegment seg;
  seg.end = n;
  for (int64_t i = prompt;; ++i) {
    seg.nll_sum += token_nll(logits.data(), vocab, tokens[i]);
    ++seg.predicted;
    if (i + 1 == n) break;
    tf.forward(tokens.data() + i, 1, cache, logits.data(), false, &policy, rope);
  }
  seg.kv_cache_bytes = cache.bytes_allocated();
  return seg;
}

int64_t windowed_ppl_tokens(int64_t hay_tokens, int64_t length, int64_t max_tokens) {
  const int64_t usable = max_tokens > 0 ? std::min(max_tokens, hay_tokens) : hay_tokens;
  return usable / (length - 1) * length;
}

std::vector<PplSegment> windowed_ppl(Transformer& tf, KvType kv_type, const std::string& policy_spec,
                                     const std::vector<int32_t>& hay, int64_t length, int64_t max_tokens,
                                     int64_t continuation, const TokenCallback& on_tokens, const Rope* rope) {
  if (length < 2) throw Error("ppl needs windows of at least 2 tokens");
  const int32_t bos = tf.model().tokenizer().bos_id();
  const int64_t per_window = bos >= 0 ? length - 1 : length;
  const int64_t usable = max_tokens > 0 ? std::min<int64_t>(max_tokens, static_cast<int64_t>(hay.size()))
                                        : static_cast<int64_t>(hay.size());
  const int64_t windows = usable / per_window;
  if (windows == 0)
    throw Error("the haystack (" + std::to_string(usable) + " tokens used) is shorter than one window of " +
                std::to_string(length));
  KvCache cache(tf.cache_shape(kv_type));
  std::vector<PplSegment> out;
  std::vector<int32_t> window;
  for (int64_t w = 0; w < windows; ++w) {
    window.clear();
    if (bos >= 0) window.push_back(bos);
    window.insert(window.end(), hay.begin() + w * per_window, hay.begin() + (w + 1) * per_window);
    auto policy = make_policy(policy_spec, tf.model().config());
    cache.clear();
    PplSegment s = continuation > 0 ? continuation_nll(tf, cache, *policy, window, continuation, rope)
                                    : window_nll(tf, cache, *policy, window, rope);
    s.start = w * per_window;
    s.end = (w + 1) * per_window;
    out.push_back(s);
    if (on_tokens) on_tokens(length);
  }
  return out;
}

std::vector<PplSegment> stream_ppl(Transformer& tf, KvType kv_type, AttentionPolicy& policy,
                                   const std::vector<int32_t>& hay, int64_t n_tokens, int64_t segment_size,
                                   const TokenCallback& on_tokens, const Rope* rope) {
  if (n_tokens < 2) throw Error("ppl-stream needs at least 2 tokens");
  if (segment_size < 1) throw Error("the segment size must be positive");
  if (hay.empty()) throw Error("the haystack is empty");
  const int64_t vocab = tf.model().config().vocab_size;
  const int32_t bos = tf.model().tokenizer().bos_id();
  const int64_t hay_n = static_cast<int64_t>(hay.size());
  // Stream position i holds BOS at 0 (when the model has one), then the hay, cycled.
  auto token_at = [&](int64_t i) { return bos >= 0 ? (i == 0 ? bos : hay[(i - 1) % hay_n]) : hay[i % hay_n]; };
  KvCache cache(tf.cache_shape(kv_type));
  std::vector<float> logits(static_cast<size_t>(vocab));
  std::vector<PplSegment> out;
  for (int64_t i = 0; i + 1 < n_tokens; ++i) {
    const int32_t tok = token_at(i);
    tf.forward(&tok, 1, cache, logits.data(), false, &policy, rope);
    const int64_t target_pos = i + 1;
    const int64_t seg = target_pos / segment_size;
    if (static_cast<int64_t>(out.size()) <= seg) {
      PplSegment s;
      s.start = seg * segment_size;
      s.end = std::min(n_tokens, s.start + segment_size);
      out.push_back(s);
    }
    out.back().nll_sum += token_nll(logits.data(), vocab, token_at(target_pos));
    ++out.back().predicted;
    out.back().kv_cache_bytes = cache.bytes_allocated();
    if (on_tokens) on_tokens(1);
  }
  return out;
}

}  // namespace sieve::eval
