#pragma once
// Perplexity over the haystack, two ways (EVALUATION.md):
//  - windowed (`ppl`): non-overlapping windows of L tokens, BOS first; the
//    NLL of every token after the first, averaged; perplexity = exp(mean).
//    With a continuation of C tokens, only the last C of each window are
//    scored, one per step after the rest went in as a prompt (which a
//    compressing policy compresses first, as it would a request's prompt).
//  - streaming (`ppl-stream`): one cache, one token per forward call, the way
//    StreamingLLM evaluates, for N tokens (the haystack cycles), reported per
//    segment so a curve over millions of tokens can be drawn.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/transformer.h"

namespace sieve::eval {

// -log softmax(logits)[target], computed in double.
double token_nll(const float* logits, int64_t vocab, int32_t target);

struct PplSegment {
  int64_t start = 0, end = 0;  // positions [start, end) of the stream or of the haystack
  double nll_sum = 0;
  int64_t predicted = 0;       // tokens whose NLL is in nll_sum
  size_t kv_cache_bytes = 0;   // cache.bytes_allocated() at the segment's end

  double ppl() const;
};

double overall_ppl(const std::vector<PplSegment>& segments);  // token-weighted

// on_tokens(n): n more tokens went through the model (for progress).
using TokenCallback = std::function<void(int64_t)>;

// NLL of tokens[1..] given the prefix, through `policy`, on an empty cache.
// Runs in chunks of Transformer::kMaxBatch so logits never exceed one chunk.
PplSegment window_nll(Transformer& tf, KvCache& cache, AttentionPolicy& policy, const std::vector<int32_t>& tokens,
                      const Rope* rope = nullptr);

// NLL of the last `continuation` tokens (1 <= continuation < tokens.size()):
// the tokens before them go in as a prompt, the policy's end_prompt runs (an
// eviction policy compresses the prompt there), then one token per forward
// call, as a request decodes.
PplSegment continuation_nll(Transformer& tf, KvCache& cache, AttentionPolicy& policy, const std::vector<int32_t>& tokens,
                            int64_t continuation, const Rope* rope = nullptr);

// Windows of `length` tokens ([BOS] + length-1 haystack tokens) over the
// first max_tokens haystack tokens (0: all of them); one segment per window,
// start/end in haystack tokens. A fresh policy per window. continuation > 0:
// only the last `continuation` tokens of each window are scored
// (continuation_nll). rope: a context extension's RoPE (nullptr: the model's).
std::vector<PplSegment> windowed_ppl(Transformer& tf, KvType kv_type, const std::string& policy_spec,
                                     const std::vector<int32_t>& hay, int64_t length, int64_t max_tokens,
                                     int64_t continuation, const TokenCallback& on_tokens = nullptr,
                                     const Rope* rope = nullptr);
// Tokens windowed_ppl will run (for progress), assuming a BOS in each window.
int64_t windowed_ppl_tokens(int64_t hay_tokens, int64_t length, int64_t max_tokens);

// [BOS] + the haystack, cycled, for n_tokens tokens through one cache; the
// NLL of the token at position i lands in segment i / segment_size.
std::vector<PplSegment> stream_ppl(Transformer& tf, KvType kv_type, AttentionPolicy& policy,
                                   const std::vector<int32_t>& hay, int64_t n_tokens, int64_t segment_size,
                                   const TokenCallback& on_tokens = nullptr, const Rope* rope = nullptr);

}  // namespace sieve::eval
