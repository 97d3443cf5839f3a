// Compiled once per instruction set by Highway (foreach_target), chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/policies/eviction/attention_votes.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "attention/policies/eviction/attention_votes.h"

#include <algorithm>

#include "attention/exp_row.h"

HWY_BEFORE_NAMESPACE();
namespace sieve {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void AddVotes(const float* p, int64_t count, double w, double* votes) {
  // Doubles and the floats they come from, lane for lane.
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dh;
  const int64_t M = static_cast<int64_t>(hn::Lanes(dd));
  const auto vw = hn::Set(dd, w);
  int64_t j = 0;
  for (; j + M <= count; j += M)
    hn::StoreU(hn::MulAdd(hn::PromoteTo(dd, hn::LoadU(dh, p + j)), vw, hn::LoadU(dd, votes + j)), dd, votes + j);
  for (; j < count; ++j) votes[j] += static_cast<double>(p[j]) * w;
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(AddVotes);

void add_attention(float* scores, int64_t seen, int64_t count, double weight, double* votes) {
  const double z = exp_shifted(scores, seen, *std::max_element(scores, scores + seen));
  HWY_DYNAMIC_DISPATCH(AddVotes)(scores, count, weight / z, votes);
}

}  // namespace sieve
#endif
