#include "attention/prefill/prefill_method.h"

#include <functional>

#include "attention/prefill/hip/hip_method.h"
#include "attention/prefill/minference/minference_method.h"
#include "model/config.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {
namespace {

struct MethodEntry {
  const char* name;
  const char* defaults;
  const char* summary;
  std::function<std::unique_ptr<PrefillMethod>(Spec&, const ModelConfig&)> make;
};

const std::vector<MethodEntry>& registry() {
  static const std::vector<MethodEntry> entries = {
      {"minference", "minference:pattern=vertical_slash,vertical=1000,slash=6096",
       "MInference: per-head A-shape (pattern=a_shape,init=128,local=3968), Vertical-Slash or Block-Sparse "
       "(pattern=block_sparse,topk=100) prefill, indices estimated per prompt batch; config=FILE: each head's "
       "pattern from `sieve minference-search`",
       [](Spec& spec, const ModelConfig& c) { return MInferenceMethod::from_spec(spec, c); }},
      {"hip", "hip:k=512,block_k=2,sink=16,window=256,dense_layers=0,stride_q=2",
       "HiP: per block of 64 queries and per head, k keys found by hierarchical top-k pruning (halving groups of "
       "key blocks of block_k, scored by their centre block with every stride_q-th query), plus sink and window",
       [](Spec& spec, const ModelConfig& c) { return HipMethod::from_spec(spec, c); }},
  };
  return entries;
}

}  // namespace

bool is_prefill_method(const std::string& name) {
  for (const MethodEntry& e : registry())
    if (name == e.name) return true;
  return false;
}

std::unique_ptr<PrefillMethod> make_prefill_method(const std::string& text, const ModelConfig& config) {
  Spec spec(text, "prefill method");
  for (const MethodEntry& e : registry())
    if (spec.name() == e.name) return e.make(spec, config);
  throw Error("unknown prefill method '" + spec.name() + "' (valid: " + prefill_method_names() + ")");
}

std::string prefill_method_names() {
  std::string names;
  for (const MethodEntry& e : registry()) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return names;
}

std::string prefill_method_help() {
  std::string text;
  for (const MethodEntry& e : registry()) text += "  " + std::string(e.defaults) + "\n      " + e.summary + "\n";
  return text;
}

}  // namespace sieve
