#include "attention/policy.h"

#include "attention/full_policy.h"
#include "attention/infllm_policy.h"
#include "attention/longheads_policy.h"
#include "attention/policy_spec.h"
#include "attention/streaming_policy.h"
#include "attention/tokenselect_policy.h"
#include "model/config.h"
#include "util/error.h"

namespace sieve {

void AttentionPolicy::count_read(const AttentionInput& in, double slots_all_heads) {
  if (in.n_q != 1) return;
  if (in.layer == 0) ++stats_.decoded_tokens;
  stats_.slots_read += slots_all_heads;
  stats_.bytes_read += slots_all_heads * 2.0 * static_cast<double>(in.cache.row_bytes());
}

void AttentionPolicy::count_extra_bytes(const AttentionInput& in, double bytes) {
  if (in.n_q == 1) stats_.bytes_read += bytes;
}

std::string policy_help() {
  return "  full                                 exact attention over the whole cache\n"
         "  streaming:sink=4,window=2000         StreamingLLM: attention sinks + recent window, evicting the rest\n"
         "  infllm:init=128,local=4096,block=128,repr=4,topk=16,chunk=512,cache_blocks=32\n"
         "                                       InfLLM: initial tokens + local window + top-k memory blocks per chunk,\n"
         "                                       memory at distance `local`, blocks offloaded with an LRU of cache_blocks\n";
         "  tokenselect:k=2048,n_init=128,n_local=512,chunk=512,threshold=0.9,reuse=1  TokenSelect: top-k tokens by "
         "per-head softmax votes + initial + local, contiguous positions; reuse=1: Selection Cache\n"
         "  longheads:chunk=256,chunks=<trained length/chunk>  LongHeads: each query head reads chunk 0, its top "
         "chunks and the local chunks, chunks x chunk tokens at contiguous positions\n";
}

std::unique_ptr<AttentionPolicy> make_policy(const std::string& text, const ModelConfig& config) {
  PolicySpec spec(text);
  if (spec.name() == "full") {
    spec.finish({});
    return std::make_unique<FullPolicy>();
  }
  if (spec.name() == "streaming") return StreamingPolicy::from_spec(spec);
  if (spec.name() == "infllm") return InfLLMPolicy::from_spec(spec, config);
  throw Error("unknown attention policy '" + spec.name() +
              "' (valid policies: full, streaming:sink=4,window=2000, "
              "infllm:init=128,local=4096,block=128,repr=4,topk=16,chunk=512,cache_blocks=32; see --help)");
  if (spec.name() == "tokenselect") return TokenSelectPolicy::from_spec(spec);
  if (spec.name() == "longheads") return LongHeadsPolicy::from_spec(spec, config);
  throw Error("unknown attention policy '" + spec.name() +
              "' (valid policies: full, streaming:sink=4,window=2000, "
              "tokenselect:k=2048,n_init=128,n_local=512,chunk=512,threshold=0.9,reuse=1, "
              "longheads:chunk=256,chunks=<trained length/chunk>; see --help)");
}

}  // namespace sieve
