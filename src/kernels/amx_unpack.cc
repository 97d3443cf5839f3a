// Unpacking of block-quantized weight rows for the AMX kernels: int8 levels
// in element order and, per 32-element block, the scale and min term that
// turn a level l into the weight ws * l + wm (amx_tiles.h).
#include <cstring>

#include "kernels/amx_tiles.h"
#include "kernels/quant.h"

namespace sieve::kernels::detail {

bool amx_has_min(DType t) { return t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q4_K || t == DType::Q5_K; }

#if SIEVE_HAVE_AMX
namespace {

// 32 levels of a 32-element block from 16 bytes of nibbles (low nibbles are
// elements 0-15) and the fifth bits (bit e of qh5 for element e), minus z.
SIEVE_AMX_TARGET inline void nibbles32(const uint8_t* qs, uint32_t qh5, int z, int8_t* out) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)), m = _mm_set1_epi8(0x0F);
  __m128i lo = _mm_and_si128(q, m), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m);
  lo = _mm_or_si128(lo, _mm_maskz_set1_epi8(static_cast<__mmask16>(qh5 & 0xFFFF), 16));
  hi = _mm_or_si128(hi, _mm_maskz_set1_epi8(static_cast<__mmask16>(qh5 >> 16), 16));
  const __m128i zv = _mm_set1_epi8(static_cast<char>(z));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_sub_epi8(lo, zv));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_sub_epi8(hi, zv));
}

// One weight row: levels into lv[0, k), block b's scale into ws[32 b] and
// min term into wm[32 b] (the panel keeps 32 rows side by side per block).
template <class Block, int kBits, int kZero, bool kMin>
SIEVE_AMX_TARGET void unpack32(const uint8_t* row, int64_t nb, int8_t* lv, float* ws, float* wm) {
  const Block* blk = reinterpret_cast<const Block*>(row);
  for (int64_t b = 0; b < nb; ++b) {
    uint32_t qh = 0;
    if constexpr (kBits == 5) std::memcpy(&qh, blk[b].qh, 4);
    nibbles32(blk[b].qs, qh, kZero, lv + 32 * b);
    ws[32 * b] = fp16_to_f32(blk[b].d);
    if constexpr (kMin) wm[32 * b] = fp16_to_f32(blk[b].m);
  }
}

SIEVE_AMX_TARGET void unpack_q8_0(const uint8_t* row, int64_t nb, int8_t* lv, float* ws) {
  const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row);
  for (int64_t b = 0; b < nb; ++b) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lv + 32 * b),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[b].qs)));
    ws[32 * b] = fp16_to_f32(blk[b].d);
  }
}

// Q4_K / Q5_K: per 64 elements, 32 bytes of qs with sub-block 2p in the low
// nibbles and 2p + 1 in the high ones; Q5_K's fifth bit of element l of
// sub-block j is bit j of qh[l].
template <class Block, bool kQ5>
SIEVE_AMX_TARGET void unpack_k(const uint8_t* row, int64_t nsb, int8_t* lv, float* ws, float* wm) {
  const Block* blk = reinterpret_cast<const Block*>(row);
  const __m256i m = _mm256_set1_epi8(0x0F), five = _mm256_set1_epi8(16);
  for (int64_t i = 0; i < nsb; ++i) {
    const float d = fp16_to_f32(blk[i].d), dmin = fp16_to_f32(blk[i].dmin);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kQ5) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[i].qh));
    for (int p = 0; p < 4; ++p) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[i].qs + 32 * p));
      __m256i lo = _mm256_and_si256(q, m), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m);
      if constexpr (kQ5) {
        lo = _mm256_or_si256(lo, _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(qh, _mm256_set1_epi8(static_cast<char>(1 << (2 * p)))), five));
        hi = _mm256_or_si256(hi, _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(qh, _mm256_set1_epi8(static_cast<char>(2 << (2 * p)))), five));
      }
      int8_t* out = lv + kQKK * i + 64 * p;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), lo);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32), hi);
    }
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, mn;
      scale_min_k4(j, blk[i].scales, &sc, &mn);
      ws[32 * (8 * i + j)] = d * sc;
      wm[32 * (8 * i + j)] = -dmin * mn;
    }
  }
}

}  // namespace

SIEVE_AMX_TARGET void amx_unpack_row(DType t, const uint8_t* row, int64_t k, int8_t* lv, float* ws, float* wm) {
  const int64_t nb = k / kQK;
  if (!amx_has_min(t))
    for (int64_t b = 0; b < nb; ++b) wm[32 * b] = 0;
  switch (t) {
    case DType::Q8_0: return unpack_q8_0(row, nb, lv, ws);
    case DType::Q4_0: return unpack32<BlockQ4_0, 4, 8, false>(row, nb, lv, ws, wm);
    case DType::Q5_0: return unpack32<BlockQ5_0, 5, 16, false>(row, nb, lv, ws, wm);
    case DType::Q4_1: return unpack32<BlockQ4_1, 4, 0, true>(row, nb, lv, ws, wm);
    case DType::Q5_1: return unpack32<BlockQ5_1, 5, 0, true>(row, nb, lv, ws, wm);
    case DType::Q4_K: return unpack_k<BlockQ4_K, false>(row, k / kQKK, lv, ws, wm);
    default: return unpack_k<BlockQ5_K, true>(row, k / kQKK, lv, ws, wm);
  }
}

#endif  // SIEVE_HAVE_AMX

}  // namespace sieve::kernels::detail
