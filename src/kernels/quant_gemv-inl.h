// Decode (one token) for block-quantized weights on the 256-bit x86 targets:
// each block is expanded straight into registers and used at once, instead
// of going through the UnpackedRow scratch (which only pays off when several
// tokens reuse it). Same integer arithmetic as the tile kernels, so results
// match them (and llama.cpp's vec_dot) up to float summation order.

#if defined(SIEVE_KERNELS_QUANT_GEMV_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SIEVE_KERNELS_QUANT_GEMV_INL_H_
#undef SIEVE_KERNELS_QUANT_GEMV_INL_H_
#else
#define SIEVE_KERNELS_QUANT_GEMV_INL_H_
#endif

#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "kernels/quant.h"
#include "kernels/quant_dot-inl.h"
#include "kernels/prefetch.h"
#include "kernels/quant_layout.h"
#include "kernels/unroll.h"

HWY_BEFORE_NAMESPACE();
namespace sieve::kernels::HWY_NAMESPACE {
#if SIEVE_Q256

// 16 bytes of packed nibbles -> 32 levels 0..15, low nibbles first.
HWY_INLINE __m256i Nibbles32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

// Q5 fifth bits: byte j = 0x10 if bit j of the 32-bit qh is set. Every 32-bit
// lane holds qh; byte j picks qh byte j/8 and tests bit j%8.
HWY_INLINE __m256i Q5High(const uint8_t* qh4) {
  int32_t qh;
  std::memcpy(&qh, qh4, 4);
  const __m256i pick = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(qh), pick);
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit), _mm256_set1_epi8(0x10));
}

// The block's weights as unsigned levels (Q8_0 without VNNI: signed).
template <DType kT>
HWY_INLINE W32 LoadBlock32(const uint8_t* p) {
  if constexpr (kT == DType::Q4_0) {
    return W32{Nibbles32(p + 2), {}};
  } else if constexpr (kT == DType::Q4_1) {
    return W32{Nibbles32(p + 4), {}};
  } else if constexpr (kT == DType::Q5_0) {
    return W32{_mm256_or_si256(Nibbles32(p + 6), Q5High(p + 2)), {}};
  } else if constexpr (kT == DType::Q5_1) {
    return W32{_mm256_or_si256(Nibbles32(p + 8), Q5High(p + 4)), {}};
  } else {
#if SIEVE_VNNI
    return W32{_mm256_xor_si256(LoadU256(p + 2), _mm256_set1_epi8(static_cast<char>(0x80))), {}};  // q + 128
#else
    return SignedW32(LoadU256(p + 2));
#endif
  }
}

// Prefetches the `bytes` at p (a whole K super-block, or a 32-block).
HWY_INLINE void PrefetchSpan(const uint8_t* p, size_t bytes) {
  for (size_t o = 0; o < bytes; o += 64) prefetch_l2(p + o);
}

// out[r] = row r . token, for R consecutive rows of a 32-element format.
// As in the float row-dot kernel, the interleaved rows are prefetched as one
// sequential stream: per step, the bytes this step reads, `ahead` further.
template <DType kT, int R>
HWY_NOINLINE void Gemv32(const uint8_t* const* rows, const ActView& x, int64_t nb, float* out, size_t ahead) {
  constexpr bool kMin = kT == DType::Q4_1 || kT == DType::Q5_1;
  // Zero point z of the levels: weight = level - z.
  constexpr int32_t kZero = kT == DType::Q4_0 ? 8 : kT == DType::Q5_0 ? 16 : (kT == DType::Q8_0 && SIEVE_VNNI) ? 128 : 0;
  const int8_t* xq = x.qs;
  const float *xd = x.d, *xs = x.s;
  const size_t bytes = static_cast<size_t>(dtype_info(kT).block_bytes);
  const DQF df;
  VQF acc[R][2];  // even and odd blocks: two FMA chains per row
  float bias[R];
  SIEVE_UNROLL
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = hn::Zero(df), bias[r] = 0;
  auto step = [&](int64_t b, int parity) HWY_ATTR {
    PrefetchSpan(rows[0] + ahead + R * b * bytes, R * bytes);
    SIEVE_UNROLL
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = rows[r] + static_cast<size_t>(b) * bytes;
      const W32 w = LoadBlock32<kT>(p);
      const int8_t* xb = xq + b * kQK;
      const VQI i = kZero ? DotUnsignedAcc(Lane0(-kZero * x.bs[b]), w, xb) : kMin ? DotUnsigned(w, xb) : DotSigned(w, xb);
      uint16_t h[2];
      std::memcpy(h, p, 4);
      acc[r][parity] = hn::MulAdd(hn::ConvertTo(df, i), hn::Set(df, fp16_to_f32(h[0]) * xd[b]), acc[r][parity]);
      if constexpr (kMin) bias[r] += fp16_to_f32(h[1]) * xs[b];
    }
  };
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    step(b, 0);
    step(b + 1, 1);
  }
  if (b < nb) step(b, 0);
  SIEVE_UNROLL
  for (int r = 0; r < R; ++r)
    out[r] = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc[r][0], acc[r][1]))) + bias[r];
}

// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block, as bytes. With
// the 12 bytes as words w0 w1 w2: scales 0-3 are w0's low 6 bits, mins 0-3
// w1's; scales 4-7 are w2's low nibbles plus w0's top 2 bits, mins 4-7 w2's
// high nibbles plus w1's top 2 bits.
HWY_INLINE void ScalesMinsK4(const uint8_t* s12, uint8_t* sc8, uint8_t* m8) {
  uint32_t w[3];
  std::memcpy(w, s12, 12);
  const uint32_t sc[2] = {w[0] & 0x3F3F3F3Fu, (w[2] & 0x0F0F0F0Fu) | ((w[0] >> 2) & 0x30303030u)};
  const uint32_t mn[2] = {w[1] & 0x3F3F3F3Fu, ((w[2] >> 4) & 0x0F0F0F0Fu) | ((w[1] >> 2) & 0x30303030u)};
  std::memcpy(sc8, sc, 8);
  std::memcpy(m8, mn, 8);
}

// 16 int16 lanes all equal to scale j (< 8) of an 8-byte scale vector.
HWY_INLINE __m256i ScaleSplat(__m256i sc16x2, int j) {
  return _mm256_shuffle_epi8(sc16x2, _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * j)));
}

// Q4_K / Q5_K: out[r] = row r . token.
template <bool kQ5, int R>
HWY_NOINLINE void GemvK45(const uint8_t* const* rows, const int8_t* xq, const float* xd, const int16_t* bsums,
                          int64_t nsb, float* out, size_t ahead) {
  const DQF df;
  const size_t bytes = kQ5 ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K);
  VQF acc[R], mins[R];
  SIEVE_UNROLL
  for (int r = 0; r < R; ++r) acc[r] = mins[r] = hn::Zero(df);
  for (int64_t b = 0; b < nsb; ++b) {
    const int8_t* x = xq + b * kQKK;
    const __m256i bs = LoadU256(bsums + 16 * b);
    PrefetchSpan(rows[0] + ahead + R * b * bytes, R * bytes);
    SIEVE_UNROLL
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = rows[r] + static_cast<size_t>(b) * bytes;
      const uint8_t* qs = p + (kQ5 ? 48 : 16);
      uint8_t sc8[8], m8[8];
      ScalesMinsK4(p + 4, sc8, m8);
      int64_t m64;
      std::memcpy(&m64, m8, 8);
      const __m128i m16 = _mm_unpacklo_epi8(_mm_cvtsi64_si128(m64), _mm_cvtsi64_si128(m64));  // m0 m0 m1 m1 ...
      const VQI mi{_mm256_madd_epi16(_mm256_cvtepu8_epi16(m16), bs)};
      int64_t s64;
      std::memcpy(&s64, sc8, 8);
      const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(s64)));
      const __m256i qh = kQ5 ? LoadU256(p + 16) : __m256i();
      VQI isum{_mm256_setzero_si256()}, isum2 = isum;  // two dependency chains
      SIEVE_UNROLL
      for (int j = 0; j < 4; ++j) {
        const __m256i q = LoadU256(qs + 32 * j);
        __m256i lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0F));
        if constexpr (kQ5) {
          const __m256i one = _mm256_set1_epi8(1);
          lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one), 4));
          hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one), 4));
        }
        isum = DotScaledAcc(isum, WK{lo, ScaleSplat(sc, 2 * j)}, x + 64 * j);
        isum2 = DotScaledAcc(isum2, WK{hi, ScaleSplat(sc, 2 * j + 1)}, x + 64 * j + 32);
      }
      isum = hn::Add(isum, isum2);
      uint16_t h[2];
      std::memcpy(h, p, 4);
      acc[r] = hn::MulAdd(hn::ConvertTo(df, isum), hn::Set(df, fp16_to_f32(h[0]) * xd[b]), acc[r]);
      mins[r] = hn::MulAdd(hn::ConvertTo(df, mi), hn::Set(df, fp16_to_f32(h[1]) * xd[b]), mins[r]);
    }
  }
  SIEVE_UNROLL
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(df, hn::Sub(acc[r], mins[r])));
}

// Q6_K: 32 elements 128h + 32k + l take ql[64h + 32(k&1) + l] (high nibble
// for k >= 2) and bits 2k, 2k+1 of qh[32h + l]; their two groups of 16 have
// scales 8h + 2k and 8h + 2k + 1.
template <int R>
HWY_NOINLINE void GemvQ6K(const uint8_t* const* rows, const int8_t* xq, const float* xd, const int16_t* bsums,
                          int64_t nsb, float* out, size_t ahead) {
  const DQF df;
  VQF acc[R];
  SIEVE_UNROLL
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(df);
  for (int64_t b = 0; b < nsb; ++b) {
    const int8_t* x = xq + b * kQKK;
    const __m256i bs = LoadU256(bsums + 16 * b);
    PrefetchSpan(rows[0] + ahead + R * b * sizeof(BlockQ6_K), R * sizeof(BlockQ6_K));
    SIEVE_UNROLL
    for (int r = 0; r < R; ++r) {
      const auto* blk = reinterpret_cast<const BlockQ6_K*>(rows[r] + static_cast<size_t>(b) * sizeof(BlockQ6_K));
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->scales));
      const __m256i scb = _mm256_broadcastsi128_si256(sc8);
      // -32 * sum_g scale_g * bsum_g: the offset of the unsigned 6-bit levels.
      VQI isum{_mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(),
                                                  _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), bs)), 5)};
      VQI isum2{_mm256_setzero_si256()};  // second dependency chain
      SIEVE_UNROLL
      for (int h = 0; h < 2; ++h) {
        const __m256i qh = LoadU256(blk->qh + 32 * h);
        const __m256i ql0 = LoadU256(blk->ql + 64 * h), ql1 = LoadU256(blk->ql + 64 * h + 32);
        SIEVE_UNROLL
        for (int k = 0; k < 4; ++k) {
          const __m256i lb = (k & 1) ? ql1 : ql0;
          const __m256i lo = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(lb, 4) : lb, _mm256_set1_epi8(0x0F));
          const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), _mm256_set1_epi8(3));
          const __m256i w = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
          // int16 lanes 0-7 get scale g, 8-15 scale g+1 (sign-extended bytes).
          const int g = 8 * h + 2 * k;
          const __m256i pick = _mm256_set_epi64x(0x0101010101010101ll * (g + 1), 0x0101010101010101ll * (g + 1),
                                                 0x0101010101010101ll * g, 0x0101010101010101ll * g);
          const __m256i sc = _mm256_srai_epi16(_mm256_shuffle_epi8(scb, pick), 8);
          VQI& acc_k = (k & 1) ? isum2 : isum;
          acc_k = DotScaledAcc(acc_k, WK{w, sc}, x + 128 * h + 32 * k);
        }
      }
      isum = hn::Add(isum, isum2);
      uint16_t d;
      std::memcpy(&d, &blk->d, 2);
      acc[r] = hn::MulAdd(hn::ConvertTo(df, isum), hn::Set(df, fp16_to_f32(d) * xd[b]), acc[r]);
    }
  }
  SIEVE_UNROLL
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(df, acc[r]));
}

template <int R>
HWY_INLINE void GemvRows(DType t, const uint8_t* const* rows, const ActView& x, int64_t k, float* out,
                         size_t ahead) {
  const int64_t nb = k / kQK, nsb = k / kQKK;
  switch (t) {
    case DType::Q4_0: return Gemv32<DType::Q4_0, R>(rows, x, nb, out, ahead);
    case DType::Q4_1: return Gemv32<DType::Q4_1, R>(rows, x, nb, out, ahead);
    case DType::Q5_0: return Gemv32<DType::Q5_0, R>(rows, x, nb, out, ahead);
    case DType::Q5_1: return Gemv32<DType::Q5_1, R>(rows, x, nb, out, ahead);
    case DType::Q8_0: return Gemv32<DType::Q8_0, R>(rows, x, nb, out, ahead);
    case DType::Q4_K: return GemvK45<false, R>(rows, x.qs, x.d, x.bs, nsb, out, ahead);
    case DType::Q5_K: return GemvK45<true, R>(rows, x.qs, x.d, x.bs, nsb, out, ahead);
    default: return GemvQ6K<R>(rows, x.qs, x.d, x.bs, nsb, out, ahead);
  }
}

#endif  // SIEVE_Q256
}  // namespace sieve::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
