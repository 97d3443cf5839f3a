#pragma once
#include <string>
#include <vector>

#include "attention/policy.h"

namespace sieve {

class FullPolicy : public AttentionPolicy {
 public:
  std::string spec() const override { return "full"; }
  void attend(const AttentionInput& in, float* out) override;
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<FullPolicy>(*this); }

 private:
  std::vector<float> rotated_;
};

}  // namespace sieve
