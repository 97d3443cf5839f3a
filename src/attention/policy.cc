#include "attention/policy.h"

#include "attention/full_policy.h"
#include "attention/policy_spec.h"
#include "attention/quest_policy.h"
#include "attention/recycled_policy.h"
#include "attention/streaming_policy.h"
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
         "  quest:page=16,budget=1024,dense_layers=2  Quest: per query head, the pages of highest key min/max bound within the token budget\n"
         "  recycled:budget=1024,stride=50,dynamic=0,threshold=0.8  Recycled Attention: full attention every `stride` steps, else the top `budget` slots of the last full one (dynamic=1: stride 5, full when query similarity < threshold)\n";
}

std::unique_ptr<AttentionPolicy> make_policy(const std::string& text, const ModelConfig& config) {
  PolicySpec spec(text);
  if (spec.name() == "full") {
    spec.finish({});
    return std::make_unique<FullPolicy>();
  }
  if (spec.name() == "streaming") return StreamingPolicy::from_spec(spec);
  if (spec.name() == "quest") return QuestPolicy::from_spec(spec);
  if (spec.name() == "recycled") return RecycledPolicy::from_spec(spec);
  throw Error("unknown attention policy '" + spec.name() +
              "' (valid policies: full, streaming:sink=4,window=2000, quest:page=16,budget=1024,dense_layers=2, "
              "recycled:budget=1024,stride=50,dynamic=0,threshold=0.8; see --help)");
}

}  // namespace sieve
