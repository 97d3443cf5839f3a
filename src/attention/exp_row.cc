// Compiled once per instruction set by Highway (foreach_target), chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/exp_row.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "attention/exp_row.h"

#include <algorithm>
#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace sieve {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

double ExpShifted(float* x, int64_t n, float m) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vm = hn::Set(df, m);
  auto vsum = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vm));
    hn::StoreU(e, df, x + i);
    vsum = hn::Add(vsum, e);
  }
  double sum = static_cast<double>(hn::GetLane(hn::SumOfLanes(df, vsum)));
  for (; i < n; ++i) sum += (x[i] = std::exp(x[i] - m));
  return sum;
}

float RowMax(const float* x, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto vmax = hn::Set(df, -INFINITY);
  int64_t i = 0;
  for (; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(df, x + i));
  float m = hn::GetLane(hn::MaxOfLanes(df, vmax));
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

void AddScaled(const float* x, int64_t n, float scale, float* a) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto vs = hn::Set(df, scale);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::MulAdd(hn::LoadU(df, x + i), vs, hn::LoadU(df, a + i)), df, a + i);
  for (; i < n; ++i) a[i] += x[i] * scale;
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(ExpShifted);
HWY_EXPORT(RowMax);
HWY_EXPORT(AddScaled);

double exp_shifted(float* x, int64_t n, float m) { return HWY_DYNAMIC_DISPATCH(ExpShifted)(x, n, m); }
float row_max(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(RowMax)(x, n); }
void add_scaled(const float* x, int64_t n, float scale, float* a) { HWY_DYNAMIC_DISPATCH(AddScaled)(x, n, scale, a); }

}  // namespace sieve
#endif
