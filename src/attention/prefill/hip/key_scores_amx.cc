// ScoreRows' tile path: 16 keys at a time, their bf16 rows transposed into
// the layout of a tile product's second operand (dimension pairs x keys),
// times the block's query rows; the maximum over the rows each key may be
// read by, per key.
#include <algorithm>
#include <cmath>

#include "attention/prefill/hip/key_scores.h"
#include "kernels/amx_tiles.h"
#include "kernels/matmul_internal.h"

namespace sieve {

using kernels::detail::tile_memory_barrier;

bool key_score_tiles_usable(int64_t hd) {
#if SIEVE_HAVE_AMX
  return hd % 32 == 0 && hd <= kMaxScoredDim && kernels::detail::amx_enabled() && kernels::detail::amx_supported();
#else
  (void)hd;
  return false;
#endif
}

#if SIEVE_HAVE_AMX
namespace {

SIEVE_AMX_TARGET void max_scores_amx(const uint16_t* qb, int64_t padded, int64_t hd, const uint16_t* const* keys,
                                     const int64_t* first_row, int64_t n_keys, float* out) {
  kernels::detail::use_tiles(kernels::detail::TileShape::kBf16);
  const int64_t n_chunks = hd / 32;
  alignas(64) uint16_t kb[kMaxScoredDim / 32][16 * 32];  // per chunk of 32 dimensions: 16 pairs x 16 keys x 2
  alignas(64) float c[16 * 16];
  for (int64_t k0 = 0; k0 < n_keys; k0 += 16) {
    const int64_t nk = std::min<int64_t>(16, n_keys - k0);
    // The next 16 keys lie anywhere in the prompt's copy: ask for them now.
    for (int64_t n = k0 + 16; n < std::min(n_keys, k0 + 32); ++n)
      for (int64_t line = 0; line < hd * 2; line += 64)
        _mm_prefetch(reinterpret_cast<const char*>(keys[n]) + line, _MM_HINT_T0);
    for (int64_t kc = 0; kc < n_chunks; ++kc) {
      __m512i r[16];
      for (int64_t n = 0; n < 16; ++n)
        r[n] = n < nk ? _mm512_loadu_si512(keys[k0 + n] + 32 * kc) : _mm512_setzero_si512();
      kernels::detail::transpose16x16_dwords(r);  // r[i] lane n: dimensions (2i, 2i + 1) of key n
      for (int64_t i = 0; i < 16; ++i) _mm512_store_si512(kb[kc] + 32 * i, r[i]);
    }
    tile_memory_barrier();
    alignas(64) int32_t fr[16];
    for (int64_t n = 0; n < 16; ++n) fr[n] = static_cast<int32_t>(n < nk ? first_row[k0 + n] : padded);
    const __m512i first = _mm512_load_si512(fr);
    __m512 best = _mm512_set1_ps(-INFINITY);
    for (int64_t rt = 0; rt < padded / 16; ++rt) {
      _tile_zero(0);
      for (int64_t kc = 0; kc < n_chunks; ++kc) {
        _tile_loadd(4, qb + rt * 16 * hd + 32 * kc, static_cast<int>(hd * 2));
        _tile_loadd(6, kb[kc], 64);
        _tile_dpbf16ps(0, 4, 6);
      }
      _tile_stored(0, c, 64);
      tile_memory_barrier();
      for (int64_t r = 0; r < 16; ++r) {
        const __mmask16 seen = _mm512_cmple_epi32_mask(first, _mm512_set1_epi32(static_cast<int32_t>(rt * 16 + r)));
        best = _mm512_mask_max_ps(best, seen, best, _mm512_load_ps(c + 16 * r));
      }
    }
    _mm512_mask_storeu_ps(out + k0, static_cast<__mmask16>((1u << nk) - 1), best);
  }
}

}  // namespace
#endif

void max_scores_tiles(const uint16_t* qb, int64_t padded, int64_t hd, const uint16_t* const* keys,
                      const int64_t* first_row, int64_t n_keys, float* out) {
#if SIEVE_HAVE_AMX
  max_scores_amx(qb, padded, hd, keys, first_row, n_keys, out);
#else
  (void)qb, (void)padded, (void)hd, (void)keys, (void)first_row, (void)n_keys, (void)out;
#endif
}

}  // namespace sieve
