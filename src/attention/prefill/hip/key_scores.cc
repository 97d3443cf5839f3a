// Compiled once per instruction set by Highway (foreach_target), chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/prefill/hip/key_scores.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "attention/prefill/hip/key_scores.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "util/half.h"

HWY_BEFORE_NAMESPACE();
namespace sieve {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// hd bf16 into float32 (a bf16 is the top half of a float32).
void WidenKey(const uint16_t* k, int64_t hd, float* out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::Rebind<uint16_t, decltype(df)> d16;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t d = 0;
  for (; d + N <= hd; d += N) hn::StoreU(hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, k + d)))), df, out + d);
  for (; d < hd; ++d) {
    const uint32_t u = uint32_t{k[d]} << 16;
    std::memcpy(out + d, &u, 4);
  }
}

void MaxRowScores(const float* qt, int64_t padded, int64_t hd, const uint16_t* const* keys, const int64_t* first_row,
                  int64_t n_keys, float* out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  HWY_ALIGN float k[kMaxScoredDim];
  for (int64_t i = 0; i < n_keys; ++i) {
    WidenKey(keys[i], hd, k);
    auto best = hn::Set(df, -INFINITY);
    for (int64_t r0 = first_row[i] / N * N; r0 < padded; r0 += N) {
      // Two chains of sums: the FMA's latency, not its throughput, bounds one.
      auto a0 = hn::Zero(df), a1 = hn::Zero(df);
      for (int64_t d = 0; d + 1 < hd; d += 2) {
        a0 = hn::MulAdd(hn::Load(df, qt + d * padded + r0), hn::Set(df, k[d]), a0);
        a1 = hn::MulAdd(hn::Load(df, qt + (d + 1) * padded + r0), hn::Set(df, k[d + 1]), a1);
      }
      if (hd % 2) a0 = hn::MulAdd(hn::Load(df, qt + (hd - 1) * padded + r0), hn::Set(df, k[hd - 1]), a0);
      const auto rows = hn::Add(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(r0)));
      const auto seen = hn::RebindMask(df, hn::Gt(rows, hn::Set(di, static_cast<int32_t>(first_row[i] - 1))));
      best = hn::Max(best, hn::IfThenElse(seen, hn::Add(a0, a1), hn::Set(df, -INFINITY)));
    }
    out[i] = hn::GetLane(hn::MaxOfLanes(df, best));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(MaxRowScores);

ScoreRows::ScoreRows(const float* q, int64_t n_rows, int64_t hd)
    : n_rows_(n_rows), hd_(hd), padded_((n_rows + 15) / 16 * 16), tiles_(key_score_tiles_usable(hd)) {
  // Padding rows repeat the last row: a maximum over rows is unchanged.
  auto row = [&](int64_t r) { return q + std::min(r, n_rows - 1) * hd; };
  if (tiles_) {
    qb_.resize(static_cast<size_t>(padded_ * hd));
    for (int64_t r = 0; r < padded_; ++r)
      for (int64_t d = 0; d < hd; ++d) qb_[r * hd + d] = f32_to_bf16(row(r)[d]);
  } else {
    qt_.resize(static_cast<size_t>(padded_ * hd));
    for (int64_t r = 0; r < padded_; ++r)
      for (int64_t d = 0; d < hd; ++d) qt_[d * padded_ + r] = row(r)[d];
  }
}

void ScoreRows::max_scores(const uint16_t* const* keys, const int64_t* first_row, int64_t n_keys, float* out) const {
  if (tiles_) max_scores_tiles(qb_.data(), padded_, hd_, keys, first_row, n_keys, out);
  else HWY_DYNAMIC_DISPATCH(MaxRowScores)(qt_.data(), padded_, hd_, keys, first_row, n_keys, out);
  // Keys no real row may read (first_row past them) score -inf, padding rows included.
  for (int64_t i = 0; i < n_keys; ++i)
    if (first_row[i] >= n_rows_) out[i] = -std::numeric_limits<float>::infinity();
}

}  // namespace sieve
#endif
