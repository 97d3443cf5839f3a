#pragma once
// A prefill method: decides which keys each block of prompt queries reads
// (the hook), so that a long prompt's attention costs what it reads instead
// of the square of its length. One kernel (prefill_plan.h) reads what every
// method plans. A method is paired with a decode policy in a composed spec,
// "PREFILL+DECODE" (composed_policy.h): the method computes the attention of
// prompt batches, the decode policy that of generated tokens and keeps its
// own state about the prompt.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attention/prefill/prefill_plan.h"

namespace sieve {

class Spec;
struct ModelConfig;

class PrefillMethod {
 public:
  virtual ~PrefillMethod() = default;

  // The canonical spec, every parameter spelled out.
  virtual std::string spec() const = 0;
  virtual std::unique_ptr<PrefillMethod> clone() const = 0;
  // Fills `plan` for a batch of in.n_q > 1 prompt queries: for each query
  // head and block of kPrefillBlock of them, the slots it reads.
  virtual void plan(const AttentionInput& in, PrefillPlan& plan) = 0;
  // Called when the decode policy it is composed with rewrote the cache's
  // slots (evicted or compressed them): forget what was kept about them.
  virtual void cache_rewritten() {}
  // The method's own counters for reports, as (name, value) pairs.
  virtual std::vector<std::pair<std::string, double>> counters() const { return {}; }
};

// Whether a spec names a prefill method (its name before ':').
bool is_prefill_method(const std::string& name);
// Builds a prefill method from its spec, e.g. "minference:config=FILE";
// throws sieve::Error on unknown names or parameters.
std::unique_ptr<PrefillMethod> make_prefill_method(const std::string& spec, const ModelConfig& config);
// The prefill methods' names, comma-separated (for errors).
std::string prefill_method_names();
// One line per prefill method: its name, parameters and defaults.
std::string prefill_method_help();

}  // namespace sieve
