#pragma once
#include <string>
#include <vector>

#include "attention/policy.h"

namespace sieve {

class FullPolicy : public AttentionPolicy {
 public:
  std::string spec() const override { return "full"; }
  void attend(const AttentionInput& in, float* out) override;

 private:
  std::vector<float> rotated_;
};

}  // namespace sieve
