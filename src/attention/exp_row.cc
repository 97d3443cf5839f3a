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

// e^(x - m) for x <= m as 2^t, t = (x - m) log2 e: 2^round(t) from the
// exponent bits times a degree-4 polynomial of the fraction (minimax, 2.6e-6
// relative, as the tile kernel's); t below -126 gives 0.
double FastExpShifted(float* x, int64_t n, float m) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto log2e = hn::Set(df, 1.44269504f), mlog2e = hn::Set(df, m * 1.44269504f);
  const auto c4 = hn::Set(df, 0.00957010143f), c3 = hn::Set(df, 0.0559178603f), c2 = hn::Set(df, 0.240247448f),
             c1 = hn::Set(df, 0.693121815f), c0 = hn::Set(df, 0.999999261f), floor_t = hn::Set(df, -126.0f);
  auto vsum = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto t = hn::MulSub(hn::LoadU(df, x + i), log2e, mlog2e);
    const auto r = hn::Round(t);
    const auto f = hn::Sub(t, r);
    auto p = hn::MulAdd(c4, f, c3);
    p = hn::MulAdd(p, f, c2);
    p = hn::MulAdd(p, f, c1);
    p = hn::MulAdd(p, f, c0);
    const auto scale = hn::BitCast(df, hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, r), hn::Set(di, 127))));
    const auto e = hn::IfThenElseZero(hn::Ge(t, floor_t), hn::Mul(p, scale));
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
HWY_EXPORT(FastExpShifted);
HWY_EXPORT(AddScaled);

double exp_shifted(float* x, int64_t n, float m) { return HWY_DYNAMIC_DISPATCH(ExpShifted)(x, n, m); }
float row_max(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(RowMax)(x, n); }
double fast_exp_shifted(float* x, int64_t n, float m) { return HWY_DYNAMIC_DISPATCH(FastExpShifted)(x, n, m); }
void add_scaled(const float* x, int64_t n, float scale, float* a) { HWY_DYNAMIC_DISPATCH(AddScaled)(x, n, scale, a); }

}  // namespace sieve
#endif
