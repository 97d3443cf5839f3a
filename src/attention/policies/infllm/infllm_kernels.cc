// SIMD code of the `infllm` policy, compiled once per instruction set by
// Highway (foreach_target) and chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/policies/infllm/infllm_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "attention/policies/infllm/infllm_kernels.h"

#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace sieve {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void AddProbabilities(const float* scores, int64_t n, float m, float inv_l, float* dst) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vm = hn::Set(df, m), vi = hn::Set(df, inv_l);
  int64_t j = 0;
  for (; j + N <= n; j += N) {
    const auto p = hn::Exp(df, hn::Sub(hn::LoadU(df, scores + j), vm));
    hn::StoreU(hn::MulAdd(p, vi, hn::LoadU(df, dst + j)), df, dst + j);
  }
  for (; j < n; ++j) dst[j] += std::exp(scores[j] - m) * inv_l;
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(AddProbabilities);

void add_probabilities(const float* scores, int64_t n, float m, float inv_l, float* dst) {
  HWY_DYNAMIC_DISPATCH(AddProbabilities)(scores, n, m, inv_l, dst);
}

}  // namespace sieve
#endif
