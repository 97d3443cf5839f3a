#include "attention/attention_tiles.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/amx_tiles.h"
#include "kernels/matmul_internal.h"

namespace sieve::attention_tiles {

constexpr int64_t kMaxChunks = 64;  // chunks of 32 slots in a page

bool usable(int64_t head_dim, int64_t page_size) {
#if SIEVE_HAVE_AMX
  static const bool wanted = [] {
    const char* e = std::getenv("SIEVE_AMX_ATTENTION");
    return e == nullptr || std::strcmp(e, "0") != 0;
  }();
  return wanted && head_dim % 32 == 0 && page_size % 32 == 0 && page_size <= 32 * kMaxChunks &&
         kernels::detail::amx_enabled() && kernels::detail::amx_supported();
#else
  (void)head_dim, (void)page_size;
  return false;
#endif
}

#if SIEVE_HAVE_AMX
namespace {

using kernels::detail::TileShape;
using kernels::detail::tile_memory_barrier;
using kernels::detail::use_tiles;

constexpr int64_t kTileElems = 512;  // bf16 in one 16 x 64-byte tile

// 16 + 16 floats as 32 bf16, element i of a then element i of b: one row of
// a tile product's second operand (pairs along the summed dimension).
SIEVE_AMX_TARGET inline __m512i interleave_bf16(__m512 a, __m512 b) {
  const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(pairs, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a)));
}

// 32 floats (lanes outside the two masks zero) as 32 bf16 in order.
SIEVE_AMX_TARGET inline __m512i round_bf16(const float* x, __mmask16 lo, __mmask16 hi) {
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + 16), _mm512_maskz_loadu_ps(lo, x)));
}

// Lanes i of 16 columns from `first` with j0 <= first + i < j1.
inline __mmask16 columns(int64_t first, int64_t j0, int64_t j1) {
  const int64_t a = std::clamp<int64_t>(j0 - first, 0, 16), b = std::clamp<int64_t>(j1 - first, 0, 16);
  return static_cast<__mmask16>(a < b ? ((1u << b) - 1) & ~((1u << a) - 1) : 0);
}

SIEVE_AMX_TARGET void round_queries_tiles(const float* q, int64_t n_rows, int64_t hd, uint16_t* qb) {
  for (int64_t r = 0; r < padded_rows(n_rows); ++r)
    for (int64_t d = 0; d < hd; d += 32) {
      const __m512i x = r < n_rows ? round_bf16(q + r * hd + d, 0xFFFF, 0xFFFF) : _mm512_setzero_si512();
      _mm512_storeu_si512(qb + r * hd + d, x);
    }
}

// Up to four column tiles' products for one row tile: tiles 0..n-1 hold
// the sums, 4 the queries' chunk, 6 and 7 the keys (alternating).
#define SIEVE_SCORE_TILE(T, B)                                    \
  if (n > (T)) {                                                  \
    _tile_loadd(B, kb + ((g + (T)) * nkc + kc) * kTileElems, 64); \
    _tile_dpbf16ps(T, 4, B);                                      \
  }
#define SIEVE_STORE_TILE(T)                                                          \
  if (n > (T)) _tile_stored(T, scores + 16 * rt * ps + 16 * (c0 + g + (T)), ps * 4);

SIEVE_AMX_TARGET void score_page_tiles(const uint16_t* qb, int64_t n_rows, int64_t hd, const float* kt, int64_t ps,
                                       int64_t j0, int64_t j1, float* scores) {
  use_tiles(TileShape::kBf16);
  const int64_t c0 = j0 / 16, c1 = std::min(ps / 16, (j1 + 15) / 16), nkc = hd / 32;
  // The keys' tiles: per column tile and chunk of 32 dimensions, 16 rows of
  // dimension pairs (2i, 2i + 1) x 16 slots.
  thread_local std::vector<uint16_t> key_tiles;
  std::vector<uint16_t>& kbuf = key_tiles;
  kbuf.resize(static_cast<size_t>((c1 - c0) * nkc * kTileElems));
  uint16_t* kb = kbuf.data();
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t kc = 0; kc < nkc; ++kc)
      for (int64_t i = 0; i < 16; ++i) {
        const float* k = kt + (32 * kc + 2 * i) * ps + 16 * c;
        _mm512_storeu_si512(kb + ((c - c0) * nkc + kc) * kTileElems + 32 * i,
                            interleave_bf16(_mm512_loadu_ps(k), _mm512_loadu_ps(k + ps)));
      }
  tile_memory_barrier();
  for (int64_t rt = 0; rt < padded_rows(n_rows) / 16; ++rt)
    for (int64_t g = 0; g < c1 - c0; g += 4) {
      const int64_t n = std::min<int64_t>(4, c1 - c0 - g);
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t kc = 0; kc < nkc; ++kc) {
        _tile_loadd(4, qb + 16 * rt * hd + 32 * kc, hd * 2);
        SIEVE_SCORE_TILE(0, 6)
        SIEVE_SCORE_TILE(1, 7)
        SIEVE_SCORE_TILE(2, 6)
        SIEVE_SCORE_TILE(3, 7)
      }
      SIEVE_STORE_TILE(0)
      SIEVE_STORE_TILE(1)
      SIEVE_STORE_TILE(2)
      SIEVE_STORE_TILE(3)
    }
}
#undef SIEVE_SCORE_TILE
#undef SIEVE_STORE_TILE

#define SIEVE_VALUE_TILE(T, B)                                        \
  if (n > (T)) {                                                      \
    _tile_loadd(B, vb + ((s - s0) * ndt + dg + (T)) * kTileElems, 64); \
    _tile_dpbf16ps(T, 4, B);                                          \
  }
#define SIEVE_STORE_SUMS(T) \
  if (n > (T)) _tile_stored(T, sums[T], 64);

SIEVE_AMX_TARGET void accumulate_tiles(const float* p, int64_t n_rows, int64_t ps, int64_t j0, int64_t j1,
                                       const float* v, int64_t hd, float* acc) {
  use_tiles(TileShape::kBf16);
  const int64_t s0 = j0 / 32, s1 = (j1 + 31) / 32, nsc = s1 - s0, ndt = hd / 16, rows = padded_rows(n_rows);
  thread_local std::vector<uint16_t> value_tiles, prob_rows;
  std::vector<uint16_t>& vbuf = value_tiles;
  std::vector<uint16_t>& pbuf = prob_rows;
  vbuf.resize(static_cast<size_t>(nsc * ndt * kTileElems));
  pbuf.resize(static_cast<size_t>(rows * nsc * 32));
  uint16_t* vb = vbuf.data();
  uint16_t* pb = pbuf.data();
  // The values' tiles: per chunk of 32 slots and 16 dimensions, 16 rows of
  // slot pairs x 16 dimensions; slots outside [j0, j1) zero (their memory
  // may hold anything, and 0 * NaN is NaN).
  for (int64_t s = s0; s < s1; ++s)
    for (int64_t i = 0; i < 16; ++i) {
      const int64_t a = 32 * s + 2 * i, b = a + 1;
      const bool ina = a >= j0 && a < j1, inb = b >= j0 && b < j1;
      for (int64_t dt = 0; dt < ndt; ++dt) {
        const __m512 va = ina ? _mm512_loadu_ps(v + a * hd + 16 * dt) : _mm512_setzero_ps();
        const __m512 vbv = inb ? _mm512_loadu_ps(v + b * hd + 16 * dt) : _mm512_setzero_ps();
        _mm512_storeu_si512(vb + ((s - s0) * ndt + dt) * kTileElems + 32 * i, interleave_bf16(va, vbv));
      }
    }
  // The probabilities as bf16 rows of the chunks' columns, the same zeros.
  __mmask16 lo[kMaxChunks], hi[kMaxChunks];
  for (int64_t s = s0; s < s1; ++s) lo[s - s0] = columns(32 * s, j0, j1), hi[s - s0] = columns(32 * s + 16, j0, j1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t s = s0; s < s1; ++s) {
      const __m512i x = r < n_rows ? round_bf16(p + r * ps + 32 * s, lo[s - s0], hi[s - s0]) : _mm512_setzero_si512();
      _mm512_storeu_si512(pb + (r * nsc + (s - s0)) * 32, x);
    }
  tile_memory_barrier();
  alignas(64) float sums[4][256];
  for (int64_t rt = 0; rt < rows / 16; ++rt)
    for (int64_t dg = 0; dg < ndt; dg += 4) {
      const int64_t n = std::min<int64_t>(4, ndt - dg);
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t s = s0; s < s1; ++s) {
        _tile_loadd(4, pb + (16 * rt * nsc + (s - s0)) * 32, nsc * 64);
        SIEVE_VALUE_TILE(0, 6)
        SIEVE_VALUE_TILE(1, 7)
        SIEVE_VALUE_TILE(2, 6)
        SIEVE_VALUE_TILE(3, 7)
      }
      SIEVE_STORE_SUMS(0)
      SIEVE_STORE_SUMS(1)
      SIEVE_STORE_SUMS(2)
      SIEVE_STORE_SUMS(3)
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < 16 && 16 * rt + i < n_rows; ++i) {
          float* a = acc + (16 * rt + i) * hd + 16 * (dg + t);
          _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), _mm512_load_ps(sums[t] + 16 * i)));
        }
    }
}
#undef SIEVE_VALUE_TILE
#undef SIEVE_STORE_SUMS

}  // namespace
#endif  // SIEVE_HAVE_AMX

void round_queries(const float* q, int64_t n_rows, int64_t hd, uint16_t* qb) {
#if SIEVE_HAVE_AMX
  round_queries_tiles(q, n_rows, hd, qb);
#else
  (void)q, (void)n_rows, (void)hd, (void)qb;
#endif
}

void score_page(const uint16_t* qb, int64_t n_rows, int64_t hd, const float* kt, int64_t ps, int64_t j0, int64_t j1,
                float* scores) {
#if SIEVE_HAVE_AMX
  score_page_tiles(qb, n_rows, hd, kt, ps, j0, j1, scores);
#else
  (void)qb, (void)n_rows, (void)hd, (void)kt, (void)ps, (void)j0, (void)j1, (void)scores;
#endif
}

void accumulate_values(const float* p, int64_t n_rows, int64_t ps, int64_t j0, int64_t j1, const float* v,
                       int64_t hd, float* acc) {
#if SIEVE_HAVE_AMX
  accumulate_tiles(p, n_rows, ps, j0, j1, v, hd, acc);
#else
  (void)p, (void)n_rows, (void)ps, (void)j0, (void)j1, (void)v, (void)hd, (void)acc;
#endif
}

}  // namespace sieve::attention_tiles
