// Integer dot-product primitives on 32 int8 activations, per Highway target.
// Weights arrive already unpacked (matmul_quant-inl.h) as unsigned bytes, so
// every product is u8 x s8 as in x86's pmaddubsw and VNNI's vpdpbusd:
//  * Q8_0 weights are split into |q| and q: |q| * (x with the sign of q) =
//    q * x (llama.cpp's trick), |q| <= 128, |x| <= 127, so pmaddubsw's pair
//    sums (<= 2*128*127) never saturate;
//  * Q4_0/Q5_0 keep their stored level l = q + z (z = 8, 16): the kernels
//    add -z * (sum of the block's x) to the integer sum of l * x;
//  * K-format weights are their unsigned levels (<= 63), scaled per 16
//    elements by int16 scales through pmaddwd / vpdpwssd.
// Results are int32 vectors whose lane sum is the exact dot product; callers
// convert to float once per block.
//
// x86 targets use intrinsics on 256-bit (AVX2, AVX3) or 128-bit (SSSE3,
// SSE4) vectors; AVX3_DL adds AVX-512 VNNI, emitted as explicit EVEX asm (see
// hwy_config.h). Other targets use a plain scalar version.

#if defined(SIEVE_KERNELS_QUANT_DOT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SIEVE_KERNELS_QUANT_DOT_INL_H_
#undef SIEVE_KERNELS_QUANT_DOT_INL_H_
#else
#define SIEVE_KERNELS_QUANT_DOT_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"

#undef SIEVE_Q256
#undef SIEVE_Q128
#undef SIEVE_VNNI
#if HWY_ARCH_X86 && (HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL)
#define SIEVE_Q256 1
#define SIEVE_Q128 0
#elif HWY_ARCH_X86 && (HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3)
#define SIEVE_Q256 0
#define SIEVE_Q128 1
#else
#define SIEVE_Q256 0
#define SIEVE_Q128 0
#endif
#if HWY_ARCH_X86 && HWY_TARGET == HWY_AVX3_DL
#define SIEVE_VNNI 1
#else
#define SIEVE_VNNI 0
#endif

#if SIEVE_Q256 || SIEVE_Q128
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace sieve::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Float accumulators of the quantized kernels: 8 lanes where the integer
// primitives are 256-bit, else up to 4.
#if SIEVE_Q256
using DQF = hn::Full256<float>;
#elif SIEVE_Q128
using DQF = hn::Full128<float>;
#else
using DQF = hn::CappedTag<float, 4>;
#endif
using DQI = hn::RebindToSigned<DQF>;
using VQF = hn::Vec<DQF>;
using VQI = hn::Vec<DQI>;

#if SIEVE_Q256

struct WK { __m256i w, sc; };  // unsigned levels and 16 int16 scales

HWY_INLINE __m256i LoadU256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
HWY_INLINE WK LoadWK(const uint8_t* w, const int16_t* sc) { return {LoadU256(w), LoadU256(sc)}; }

#if HWY_TARGET <= HWY_AVX3
// |q| (or unsigned q) and the lanes where q < 0. AVX-512 negates x there with
// an EVEX masked subtract: vpsignb has no EVEX form and would confine the
// kernels to 16 of the 32 vector registers.
struct W32 {
  __m256i w;
  __mmask32 neg;
};
HWY_INLINE W32 SignedW32(__m256i s) { return {_mm256_abs_epi8(s), _mm256_movepi8_mask(s)}; }
HWY_INLINE __m256i SignFrom(const W32& a, __m256i x) {
  return _mm256_mask_sub_epi8(x, a.neg, _mm256_setzero_si256(), x);
}
#else
struct W32 { __m256i w, s; };  // |q| (or unsigned q) and the signed q
HWY_INLINE W32 SignedW32(__m256i s) { return {_mm256_abs_epi8(s), s}; }
HWY_INLINE __m256i SignFrom(const W32& a, __m256i x) { return _mm256_sign_epi8(x, a.s); }
#endif

template <bool kSigned>
HWY_INLINE W32 LoadW32(const uint8_t* w, const int8_t* s) {
  if constexpr (kSigned) return SignedW32(LoadU256(s));
  return W32{LoadU256(w), {}};
}

#if SIEVE_VNNI
// acc += sum of 4 adjacent u8(a) * s8(b) products, per int32 lane.
HWY_INLINE __m256i Dpbusd(__m256i acc, __m256i a, __m256i b) {
  asm("%{evex%} vpdpbusd %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
  return acc;
}
// acc += sum of 2 adjacent s16(a) * s16(b) products, per int32 lane.
HWY_INLINE __m256i Dpwssd(__m256i acc, __m256i a, __m256i b) {
  asm("%{evex%} vpdpwssd %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
  return acc;
}
HWY_INLINE __m256i DotU8S8(__m256i u, __m256i s) { return Dpbusd(_mm256_setzero_si256(), u, s); }
#else
HWY_INLINE __m256i DotU8S8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
#endif

HWY_INLINE VQI DotSigned(const W32& a, const int8_t* x) { return VQI{DotU8S8(a.w, SignFrom(a, LoadU256(x)))}; }
HWY_INLINE VQI DotUnsigned(const W32& a, const int8_t* x) { return VQI{DotU8S8(a.w, LoadU256(x))}; }
// acc + the lanes of DotUnsigned (VNNI: one instruction).
HWY_INLINE VQI DotUnsignedAcc(VQI acc, const W32& a, const int8_t* x) {
#if SIEVE_VNNI
  return VQI{Dpbusd(acc.raw, a.w, LoadU256(x))};
#else
  return VQI{_mm256_add_epi32(acc.raw, DotU8S8(a.w, LoadU256(x)))};
#endif
}
// v in lane 0, zeros elsewhere.
HWY_INLINE VQI Lane0(int32_t v) { return VQI{_mm256_zextsi128_si256(_mm_cvtsi32_si128(v))}; }
HWY_INLINE VQI DotScaledAcc(VQI acc, const WK& a, const int8_t* x) {
  const __m256i p = _mm256_maddubs_epi16(a.w, LoadU256(x));
#if SIEVE_VNNI
  return VQI{Dpwssd(acc.raw, p, a.sc)};
#else
  return VQI{_mm256_add_epi32(acc.raw, _mm256_madd_epi16(p, a.sc))};
#endif
}
// Lane sum = sum of the 16 products a[i] * b[i] of int16 values.
HWY_INLINE VQI Dot16x16(const int16_t* a, const int16_t* b) {
  return VQI{_mm256_madd_epi16(LoadU256(a), LoadU256(b))};
}

#elif SIEVE_Q128

struct W32 { __m128i w0, w1, s0, s1; };
struct WK { __m128i w0, w1, sc0, sc1; };

HWY_INLINE __m128i LoadU128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
template <bool kSigned>
HWY_INLINE W32 LoadW32(const uint8_t* w, const int8_t* s) {
  return {LoadU128(w), LoadU128(w + 16), kSigned ? LoadU128(s) : __m128i(), kSigned ? LoadU128(s + 16) : __m128i()};
}
HWY_INLINE WK LoadWK(const uint8_t* w, const int16_t* sc) {
  return {LoadU128(w), LoadU128(w + 16), LoadU128(sc), LoadU128(sc + 8)};
}
HWY_INLINE __m128i DotU8S8(__m128i u, __m128i s) { return _mm_madd_epi16(_mm_maddubs_epi16(u, s), _mm_set1_epi16(1)); }
HWY_INLINE VQI DotSigned(const W32& a, const int8_t* x) {
  return VQI{_mm_add_epi32(DotU8S8(a.w0, _mm_sign_epi8(LoadU128(x), a.s0)),
                           DotU8S8(a.w1, _mm_sign_epi8(LoadU128(x + 16), a.s1)))};
}
HWY_INLINE VQI DotUnsigned(const W32& a, const int8_t* x) {
  return VQI{_mm_add_epi32(DotU8S8(a.w0, LoadU128(x)), DotU8S8(a.w1, LoadU128(x + 16)))};
}
HWY_INLINE VQI DotUnsignedAcc(VQI acc, const W32& a, const int8_t* x) {
  return VQI{_mm_add_epi32(acc.raw, DotUnsigned(a, x).raw)};
}
HWY_INLINE VQI Lane0(int32_t v) { return VQI{_mm_cvtsi32_si128(v)}; }
HWY_INLINE VQI DotScaledAcc(VQI acc, const WK& a, const int8_t* x) {
  const __m128i p0 = _mm_madd_epi16(_mm_maddubs_epi16(a.w0, LoadU128(x)), a.sc0);
  const __m128i p1 = _mm_madd_epi16(_mm_maddubs_epi16(a.w1, LoadU128(x + 16)), a.sc1);
  return VQI{_mm_add_epi32(acc.raw, _mm_add_epi32(p0, p1))};
}
HWY_INLINE VQI Dot16x16(const int16_t* a, const int16_t* b) {
  return VQI{_mm_add_epi32(_mm_madd_epi16(LoadU128(a), LoadU128(b)), _mm_madd_epi16(LoadU128(a + 8), LoadU128(b + 8)))};
}

#else  // portable scalar version: the lane sum is returned in lane 0

struct W32 { const uint8_t* w; const int8_t* s; };
struct WK { const uint8_t* w; const int16_t* sc; };

template <bool kSigned>
HWY_INLINE W32 LoadW32(const uint8_t* w, const int8_t* s) { return {w, s}; }
HWY_INLINE WK LoadWK(const uint8_t* w, const int16_t* sc) { return {w, sc}; }
HWY_INLINE VQI InLane0(int32_t v) {
  const DQI di;
  return hn::IfThenElseZero(hn::FirstN(di, 1), hn::Set(di, v));
}
HWY_INLINE VQI DotSigned(const W32& a, const int8_t* x) {
  int32_t sum = 0;
  for (int i = 0; i < 32; ++i) sum += a.s[i] * x[i];
  return InLane0(sum);
}
HWY_INLINE VQI DotUnsigned(const W32& a, const int8_t* x) {
  int32_t sum = 0;
  for (int i = 0; i < 32; ++i) sum += a.w[i] * x[i];
  return InLane0(sum);
}
HWY_INLINE VQI DotUnsignedAcc(VQI acc, const W32& a, const int8_t* x) { return hn::Add(acc, DotUnsigned(a, x)); }
HWY_INLINE VQI Lane0(int32_t v) { return InLane0(v); }
HWY_INLINE VQI DotScaledAcc(VQI acc, const WK& a, const int8_t* x) {
  int32_t sum = 0;
  for (int g = 0; g < 2; ++g) {
    int32_t part = 0;
    for (int i = 16 * g; i < 16 * g + 16; ++i) part += a.w[i] * x[i];
    sum += part * a.sc[8 * g];
  }
  return hn::Add(acc, InLane0(sum));
}
HWY_INLINE VQI Dot16x16(const int16_t* a, const int16_t* b) {
  int32_t sum = 0;
  for (int i = 0; i < 16; ++i) sum += a[i] * b[i];
  return InLane0(sum);
}

#endif

}  // namespace sieve::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
