#include "attention/policy.h"

#include <functional>

#include "attention/policies/eviction/h2o_policy.h"
#include "attention/modifiers/act.h"
#include "attention/prefill/composed_policy.h"
#include "attention/policies/eviction/snapkv_policy.h"
#include "attention/policies/eviction/tova_policy.h"
#include "attention/policies/full_policy.h"
#include "attention/policies/hip_policy.h"
#include "attention/policies/infllm/infllm_policy.h"
#include "attention/policies/longheads_policy.h"
#include "util/spec.h"
#include "attention/policies/quest_policy.h"
#include "attention/policies/recycled_policy.h"
#include "attention/policies/streaming_policy.h"
#include "attention/policies/tokenselect_policy.h"
#include "model/config.h"
#include "util/error.h"

namespace sieve {
namespace {

struct PolicyEntry {
  const char* name;
  const char* defaults;  // the spec with every default spelled out
  const char* summary;
  std::function<std::unique_ptr<AttentionPolicy>(Spec&, const ModelConfig&)> make;
};

const std::vector<PolicyEntry>& registry() {
  static const std::vector<PolicyEntry> entries = {
      {"full", "full", "exact attention over the whole cache",
       [](Spec& spec, const ModelConfig&) -> std::unique_ptr<AttentionPolicy> {
         spec.finish({});
         return std::make_unique<FullPolicy>();
       }},
      {"streaming", "streaming:sink=4,window=2000",
       "StreamingLLM: attention sinks + recent window, evicting the rest",
       [](Spec& spec, const ModelConfig&) { return StreamingPolicy::from_spec(spec); }},
      {"infllm", "infllm:init=128,local=4096,block=128,repr=4,topk=16,chunk=512,cache_blocks=32,store=memory",
       "InfLLM: initial tokens + local window + the top-k memory blocks per chunk, memory at distance `local`, "
       "blocks offloaded with an LRU of cache_blocks; store=file: the block store in a temporary file",
       [](Spec& spec, const ModelConfig& c) { return InfLLMPolicy::from_spec(spec, c); }},
      {"quest", "quest:page=16,budget=1024,dense_layers=2,select=head",
       "Quest: per query head, the pages of highest key min/max bound within the token budget; "
       "select=group: one selection per KV head for its query heads",
       [](Spec& spec, const ModelConfig&) { return QuestPolicy::from_spec(spec); }},
      {"tokenselect", "tokenselect:k=2048,n_init=128,n_local=512,chunk=512,threshold=0.9,reuse=1,score=int8,keys=exact",
       "TokenSelect: the top-k tokens by per-head softmax votes + initial + local, at contiguous positions; "
       "reuse=1: the Selection Cache; score=int8|int4: votes from an int8 or int4 copy of the keys (exact: "
       "from keys as precise as the cache's); keys=int8: the selected keys read from the int8 copy",
       [](Spec& spec, const ModelConfig&) { return TokenSelectPolicy::from_spec(spec); }},
      {"longheads", "longheads:chunk=256,chunks=<trained length/chunk>",
       "LongHeads: each query head reads chunk 0, its top chunks and the local chunks, at contiguous positions",
       [](Spec& spec, const ModelConfig& c) { return LongHeadsPolicy::from_spec(spec, c); }},
      {"snapkv", "snapkv:budget=2048,window=32,kernel=5,pool=avg",
       "SnapKV: once the prompt is in, each KV head keeps the prompt tokens the last `window` queries attend to "
       "most (pooled over `kernel` tokens) within `budget`, plus the window; ratio=R keeps (1 - R) of the prompt",
       [](Spec& spec, const ModelConfig&) { return SnapKvPolicy::from_spec(spec, false); }},
      {"pyramidkv", "pyramidkv:budget=2048,window=32,kernel=5,pool=avg,beta=20",
       "PyramidKV: SnapKV's votes with a budget shrinking from the first layer to the last (mean `budget`)",
       [](Spec& spec, const ModelConfig&) { return SnapKvPolicy::from_spec(spec, true); }},
      {"h2o", "h2o:budget=1024,recent=0.5",
       "H2O: per KV head, the `recent` share of `budget` newest tokens and the heavy hitters, the highest "
       "attention accumulated over every query so far; past the budget the lowest outside the window is dropped",
       [](Spec& spec, const ModelConfig&) { return H2oPolicy::from_spec(spec); }},
      {"tova", "tova:budget=1024",
       "TOVA: at most `budget` tokens per layer; past it, the token the current query attends to least "
       "(averaged over the layer's heads) is dropped",
       [](Spec& spec, const ModelConfig&) { return TovaPolicy::from_spec(spec); }},
      {"recycled", "recycled:budget=1024,stride=50,dynamic=0,threshold=0.8",
       "Recycled Attention: full attention every `stride` steps, else the top `budget` slots of the last full "
       "step (dynamic=1: stride 5, full when query similarity < threshold)",
       [](Spec& spec, const ModelConfig&) { return RecycledPolicy::from_spec(spec); }},
      {"hip", "hip:k=512,block_k=2,sink=16,window=256,dense_layers=0,stride_q=2,refresh=8",
       "HiP: per query head, sink + window + k keys by hierarchical top-k pruning, re-selected every `refresh` "
       "tokens; prefills with the hip prefill method (hip+full: HiP prefill, exact decode)",
       [](Spec& spec, const ModelConfig&) { return HipPolicy::from_spec(spec); }},
  };
  return entries;
}

}  // namespace

void AttentionPolicy::observe_prefill(const AttentionInput& in) {
  std::vector<float> discarded(static_cast<size_t>(in.n_q * in.n_heads * in.cache.shape().head_dim));
  attend(in, discarded.data());
}

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
  std::string text;
  for (const PolicyEntry& e : registry()) text += "  " + std::string(e.defaults) + "\n      " + e.summary + "\n";
  text += "prefill methods, alone (decoding with full; hip: the policy above) or as PREFILL+DECODE, e.g. "
          "minference+quest:budget=1024:\n";
  text += prefill_method_help();
  text += "modifiers, after any policy (POLICY+act):\n";
  text += "  act:beta=0.4,threshold=0.1,heads=all | config=FILE\n"
          "      ACT: on the calibrated heads (every head of layers 2 to L-2, or a file from sieve act-search),\n"
          "      keys whose mean attention exceeds `threshold` (but the first) keep `beta` of it; the rest goes to the\n"
          "      other keys\n";
  return text;
}

namespace {

// Modifiers act on whatever policy comes before them in a spec.
bool is_modifier(const std::string& name) { return name == "act"; }

// Splits trailing modifiers off a spec: {policy, "act:..."}.
std::pair<std::string, std::string> split_modifiers(const std::string& text) {
  std::string base = text, modifiers;
  for (size_t plus; (plus = base.rfind('+')) != std::string::npos;) {
    const std::string last = base.substr(plus + 1);
    if (!is_modifier(Spec(last).name())) break;
    modifiers = last + (modifiers.empty() ? "" : "+" + modifiers);
    base.resize(plus);
  }
  return {base, modifiers};
}

}  // namespace

PolicyParts policy_parts(const std::string& canonical_spec) {
  const auto [base, modifiers] = split_modifiers(canonical_spec);
  const size_t plus = base.find('+');
  if (plus == std::string::npos) return {base, base, modifiers};
  return {base.substr(0, plus), base.substr(plus + 1), modifiers};
}

namespace {

bool is_decode_policy(const std::string& name) {
  for (const PolicyEntry& e : registry())
    if (name == e.name) return true;
  return false;
}

std::unique_ptr<AttentionPolicy> make_decode_policy(const std::string& text, const ModelConfig& config) {
  Spec spec(text);
  std::string names;
  for (const PolicyEntry& e : registry()) {
    if (spec.name() == e.name) return e.make(spec, config);
    names += (names.empty() ? "" : "; ") + std::string(e.defaults);
  }
  throw Error("unknown attention policy '" + spec.name() + "' (valid policies, with their defaults: " + names +
              "; prefill methods: " + prefill_method_names() + ")");
}

}  // namespace

std::unique_ptr<AttentionPolicy> make_policy(const std::string& text, const ModelConfig& config) {
  if (const size_t plus = text.rfind('+'); plus != std::string::npos && is_modifier(Spec(text.substr(plus + 1)).name())) {
    Spec modifier(text.substr(plus + 1));
    return ActPolicy::from_spec(modifier, config, make_policy(text.substr(0, plus), config));
  }
  if (is_modifier(Spec(text.substr(0, text.find('+'))).name()))
    throw Error("attention policy '" + text + "': '" + Spec(text.substr(0, text.find('+'))).name() +
                "' is a modifier; it follows the policy it acts on, e.g. full+act");
  const size_t plus = text.find('+');
  if (plus == std::string::npos) {
    // A name that is both (hip) is the decode policy, which prefills with its own method.
    if (is_prefill_method(Spec(text).name()) && !is_decode_policy(Spec(text).name()))
      return std::make_unique<ComposedPolicy>(make_prefill_method(text, config), std::make_unique<FullPolicy>());
    return make_decode_policy(text, config);
  }
  const std::string prefill = text.substr(0, plus), decode = text.substr(plus + 1);
  if (decode.find('+') != std::string::npos)
    throw Error("attention policy '" + text + "': one prefill method and one decode policy, PREFILL+DECODE");
  if (!is_prefill_method(Spec(prefill).name()))
    throw Error("attention policy '" + text + "': '" + Spec(prefill).name() +
                "' is not a prefill method; PREFILL+DECODE starts with one of: " + prefill_method_names());
  if (is_prefill_method(Spec(decode).name()) && !is_decode_policy(Spec(decode).name()))
    throw Error("attention policy '" + text + "': '" + Spec(decode).name() +
                "' is a prefill method; after '+' comes the decode policy");
  return std::make_unique<ComposedPolicy>(make_prefill_method(prefill, config), make_decode_policy(decode, config));
}

}  // namespace sieve
