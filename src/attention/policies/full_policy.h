#pragma once
#include <string>
#include <vector>

#include "attention/policy.h"

namespace sieve {

// Exact attention of the batch over every cached slot up to each query, with
// queries rotated at their true positions; `rotated` is the caller's scratch.
// Returns the slots read over all KV heads (for count_read). Policies that
// fall back to dense attention (prefill, dense layers, full steps) call this.
double attend_dense(const AttentionInput& in, std::vector<float>& rotated, float* out);

class FullPolicy : public AttentionPolicy {
 public:
  std::string spec() const override { return "full"; }
  void attend(const AttentionInput& in, float* out) override;
  void observe_prefill(const AttentionInput&) override {}  // keeps nothing but the cache
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<FullPolicy>(*this); }
  bool shares_prefix() const override { return true; }

 private:
  std::vector<float> rotated_;
};

}  // namespace sieve
