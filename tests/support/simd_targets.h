#pragma once
// Runs a test body once per SIMD target that this build compiled and this CPU
// supports, with Highway's dynamic dispatch forced to that target.
#include <gtest/gtest.h>

#include "hwy/targets.h"

namespace sieve::testing {

template <class F>
void for_each_simd_target(F body) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t t : targets) {
    hwy::SetSupportedTargetsForTest(t);
    hwy::GetChosenTarget().Update(hwy::SupportedTargets());
    SCOPED_TRACE(hwy::TargetName(t));
    body(t);
  }
  hwy::SetSupportedTargetsForTest(0);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}

}  // namespace sieve::testing
