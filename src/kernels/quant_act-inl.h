// SIMD quantization of activations into the ActLayout rows the integer
// kernels read. Must equal llama.cpp's reference quantizers exactly (the
// tests compare with quantize_row_q8_*_ref bit for bit): the same float
// operations in the same order, only spread over lanes.

#if defined(SIEVE_KERNELS_QUANT_ACT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SIEVE_KERNELS_QUANT_ACT_INL_H_
#undef SIEVE_KERNELS_QUANT_ACT_INL_H_
#else
#define SIEVE_KERNELS_QUANT_ACT_INL_H_
#endif

#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "kernels/quant.h"
#include "kernels/quant_layout.h"

HWY_BEFORE_NAMESPACE();
namespace sieve::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 lanes so that a vector never straddles a 16-element group.
using DA = hn::CappedTag<float, 16>;
using VA = hn::Vec<DA>;

// roundf: half away from zero. v - trunc(v) is exact, so the tie test is too.
HWY_INLINE VA RoundHalfAway(DA d, VA v) {
  const VA t = hn::Trunc(v);
  const VA up = hn::Add(t, hn::CopySign(hn::Set(d, 1.0f), v));
  return hn::IfThenElse(hn::Abs(hn::Sub(v, t)) >= hn::Set(d, 0.5f), up, t);
}

// Blocks of 32: Q8_1 (s_out: d * sum, half-rounded) or Q8_0 (sums: exact).
HWY_INLINE void QuantizeRow32(const float* x, int64_t k, int8_t* qs, float* d_out, float* s_out, int16_t* sums) {
  const DA df;
  const hn::RebindToSigned<DA> di;
  const hn::Rebind<int8_t, DA> d8;
  const size_t N = hn::Lanes(df);
  for (int64_t b = 0; b < k / kQK; ++b) {
    const float* xb = x + b * kQK;
    VA amax = hn::Zero(df);
    for (size_t i = 0; i < kQK; i += N) amax = hn::Max(amax, hn::Abs(hn::LoadU(df, xb + i)));
    const float d = hn::GetLane(hn::MaxOfLanes(df, amax)) / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    auto sum = hn::Zero(di);
    for (size_t i = 0; i < kQK; i += N) {
      const auto q = hn::ConvertTo(di, RoundHalfAway(df, hn::Mul(hn::LoadU(df, xb + i), hn::Set(df, id))));
      sum = hn::Add(sum, q);
      hn::StoreU(hn::DemoteTo(d8, q), d8, qs + b * kQK + i);
    }
    d_out[b] = fp16_to_f32(f32_to_fp16(d));
    const int32_t isum = hn::GetLane(hn::SumOfLanes(di, sum));
    if (s_out) s_out[b] = fp16_to_f32(f32_to_fp16(static_cast<float>(isum) * d));
    if (sums) sums[b] = static_cast<int16_t>(isum);
  }
}

// Q8_K super-blocks of 256: scale -127/max with max the first value of
// largest magnitude, round half to even, plus sums of 16.
HWY_INLINE void QuantizeRowK(const float* x, int64_t k, int8_t* qs, float* d_out, int16_t* bsums) {
  const DA df;
  const hn::RebindToSigned<DA> di;
  const hn::Rebind<int8_t, DA> d8;
  const size_t N = hn::Lanes(df);
  for (int64_t b = 0; b < k / kQKK; ++b) {
    const float* xb = x + b * kQKK;
    int8_t* qb = qs + b * kQKK;
    VA amax = hn::Zero(df);
    for (size_t i = 0; i < kQKK; i += N) amax = hn::Max(amax, hn::Abs(hn::LoadU(df, xb + i)));
    const float am = hn::GetLane(hn::MaxOfLanes(df, amax));
    if (am == 0) {
      d_out[b] = 0;
      std::memset(qb, 0, kQKK);
      std::memset(bsums + b * 16, 0, 32);
      continue;
    }
    float max = 0;
    for (size_t i = 0; i < kQKK; i += N) {
      const auto hit = hn::Abs(hn::LoadU(df, xb + i)) == hn::Set(df, am);
      if (!hn::AllFalse(df, hit)) {
        max = xb[i + static_cast<size_t>(hn::FindFirstTrue(df, hit))];
        break;
      }
    }
    const float iscale = -127.f / max;
    for (size_t g = 0; g < kQKK; g += 16) {
      auto sum = hn::Zero(di);
      for (size_t i = g; i < g + 16; i += N) {
        auto q = hn::ConvertTo(di, hn::Round(hn::Mul(hn::Set(df, iscale), hn::LoadU(df, xb + i))));
        q = hn::Min(q, hn::Set(di, 127));
        sum = hn::Add(sum, q);
        hn::StoreU(hn::DemoteTo(d8, q), d8, qb + i);
      }
      bsums[b * 16 + g / 16] = static_cast<int16_t>(hn::GetLane(hn::SumOfLanes(di, sum)));
    }
    d_out[b] = 1 / iscale;
  }
}

// Quantizes tokens [t0, t1) of x (rows of l.k floats) into rows of `out`.
inline void QuantizeActs(const ActLayout& l, const float* x, int64_t t0, int64_t t1, uint8_t* out) {
  for (int64_t t = t0; t < t1; ++t) {
    uint8_t* row = out + static_cast<size_t>(t) * l.stride;
    auto* qs = reinterpret_cast<int8_t*>(row);
    auto* d = reinterpret_cast<float*>(row + l.d_off);
    if (l.type == DType::Q8_K) {
      QuantizeRowK(x + t * l.k, l.k, qs, d, reinterpret_cast<int16_t*>(row + l.bs_off));
    } else {
      const bool q81 = l.type == DType::Q8_1;
      QuantizeRow32(x + t * l.k, l.k, qs, d, q81 ? reinterpret_cast<float*>(row + l.s_off) : nullptr,
                    q81 ? nullptr : reinterpret_cast<int16_t*>(row + l.bs_off));
    }
  }
}

}  // namespace sieve::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
