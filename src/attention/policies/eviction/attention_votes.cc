// Compiled once per instruction set by Highway (foreach_target), chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/policies/eviction/attention_votes.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "attention/policies/eviction/attention_votes.h"

#include <algorithm>
#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace sieve {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void AddAttention(float* scores, int64_t seen, int64_t count, double weight, double* votes) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const float m = *std::max_element(scores, scores + seen);
  const auto vm = hn::Set(df, m);
  auto vz = hn::Zero(df);
  int64_t j = 0;
  for (; j + N <= seen; j += N) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, scores + j), vm));
    hn::StoreU(e, df, scores + j);
    vz = hn::Add(vz, e);
  }
  double z = static_cast<double>(hn::GetLane(hn::SumOfLanes(df, vz)));
  for (; j < seen; ++j) z += (scores[j] = std::exp(scores[j] - m));
  // Doubles and the floats they come from, lane for lane.
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dh;
  const int64_t M = static_cast<int64_t>(hn::Lanes(dd));
  const double w = weight / z;
  const auto vw = hn::Set(dd, w);
  j = 0;
  for (; j + M <= count; j += M)
    hn::StoreU(hn::MulAdd(hn::PromoteTo(dd, hn::LoadU(dh, scores + j)), vw, hn::LoadU(dd, votes + j)), dd, votes + j);
  for (; j < count; ++j) votes[j] += static_cast<double>(scores[j]) * w;
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(AddAttention);

void add_attention(float* scores, int64_t seen, int64_t count, double weight, double* votes) {
  HWY_DYNAMIC_DISPATCH(AddAttention)(scores, seen, count, weight, votes);
}

}  // namespace sieve
#endif
