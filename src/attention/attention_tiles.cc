#include "attention/attention_tiles.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/amx_tiles.h"
#include "kernels/matmul_internal.h"

namespace sieve::attention_tiles {

bool usable(KvType type, int64_t head_dim, int64_t page_size) {
#if SIEVE_HAVE_AMX
  static const bool wanted = [] {
    const char* e = std::getenv("SIEVE_AMX_ATTENTION");
    return e == nullptr || std::strcmp(e, "0") != 0;
  }();
  return wanted && type != KvType::F32 && head_dim % 32 == 0 && page_size % 32 == 0 &&
         kernels::detail::amx_enabled() && kernels::detail::amx_supported();
#else
  (void)type, (void)head_dim, (void)page_size;
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

// 16 consecutive f16 or bf16 at p as float32.
SIEVE_AMX_TARGET inline __m512 load_half(KvType type, const uint8_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if (type == KvType::F16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// 16 int8 at q times 16 f16 scales at scales, as float32.
SIEVE_AMX_TARGET inline __m512 load_q8(const uint8_t* q, const uint8_t* scales) {
  const __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))));
  return _mm512_mul_ps(x, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales))));
}

// Dimension d of the keys of window columns [col, col + 16) (one page's),
// from the transposed key block (kv_cache.h).
SIEVE_AMX_TARGET inline __m512 key_column(const Window& w, int64_t ps, int64_t d, int64_t col) {
  const uint8_t* keys = w.keys[col / ps];
  const int64_t slot = col % ps;
  if (w.type != KvType::Q8_0) return load_half(w.type, keys + (d * ps + slot) * 2);
  const int64_t b = d / 32;
  return load_q8(keys + q8_key_column(b, d % 32, ps) + slot, keys + q8_key_scales(b, ps) + 2 * slot);
}

// Dimensions [d, d + 16) of the value of window column col (rows of the
// value block).
SIEVE_AMX_TARGET inline __m512 value_row(const Window& w, int64_t ps, int64_t hd, int64_t col, int64_t d) {
  const uint8_t* values = w.values[col / ps];
  const int64_t slot = col % ps;
  if (w.type != KvType::Q8_0) return load_half(w.type, values + (slot * hd + d) * 2);
  const uint8_t* block = values + slot * (hd / 32 * kQ8BlockBytes) + d / 32 * kQ8BlockBytes;
  const __m512 x = _mm512_cvtepi32_ps(
      _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2 + d % 32))));
  uint16_t bits;
  std::memcpy(&bits, block, 2);
  return _mm512_mul_ps(x, _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(bits))));
}

// Lanes i of 16 columns from `first` with j0 <= first + i < j1.
inline __mmask16 columns(int64_t first, int64_t j0, int64_t j1) {
  const int64_t a = std::clamp<int64_t>(j0 - first, 0, 16), b = std::clamp<int64_t>(j1 - first, 0, 16);
  return static_cast<__mmask16>(a < b ? ((1u << b) - 1) & ~((1u << a) - 1) : 0);
}

// e^(x - m) for x <= m, lanes outside `keep` zero: 2^t with t = (x - m)
// log2 e as 2^n times a degree-4 polynomial of the fraction, minimax to
// 2.6e-6 relative (degree 3, 7.5e-5, moved a near tie of the test model's
// logits by 0.07). mlog2e = m log2 e. Far below m, scalef flushes to zero.
SIEVE_AMX_TARGET inline __m512 exp_below_max(__mmask16 keep, __m512 x, __m512 mlog2e) {
  const __m512 t = _mm512_fmsub_ps(x, _mm512_set1_ps(1.44269504f), mlog2e);
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);  // [-0.5, 0.5]
  __m512 poly = _mm512_set1_ps(0.00957010143f);
  poly = _mm512_fmadd_ps(poly, f, _mm512_set1_ps(0.0559178603f));
  poly = _mm512_fmadd_ps(poly, f, _mm512_set1_ps(0.240247448f));
  poly = _mm512_fmadd_ps(poly, f, _mm512_set1_ps(0.693121815f));
  poly = _mm512_fmadd_ps(poly, f, _mm512_set1_ps(0.999999261f));
  return _mm512_maskz_scalef_ps(keep, poly, n);
}

SIEVE_AMX_TARGET void round_queries_tiles(const float* q, int64_t n_rows, int64_t hd, uint16_t* qb) {
  for (int64_t r = 0; r < padded_rows(n_rows); ++r)
    for (int64_t d = 0; d < hd; d += 32) {
      const __m512i x = r < n_rows ? reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(q + r * hd + d + 16),
                                                                                   _mm512_loadu_ps(q + r * hd + d)))
                                   : _mm512_setzero_si512();
      _mm512_storeu_si512(qb + r * hd + d, x);
    }
}

// The keys of column tiles [c0, c1) (16 slots each) in the layout of a tile
// product's second operand: per column tile and chunk of 32 dimensions, 16
// rows of dimension pairs (2i, 2i + 1) x 16 slots. Slots past the rows'
// reach are read too (their scores are masked before the softmax).
SIEVE_AMX_TARGET inline void pack_key_tile(const Window& w, int64_t hd, int64_t ps, int64_t c, uint16_t* kb) {
  for (int64_t kc = 0; kc < hd / 32; ++kc)
    for (int64_t i = 0; i < 16; ++i) {
      const int64_t d = 32 * kc + 2 * i;
      _mm512_storeu_si512(kb + kc * kTileElems + 32 * i,
                          interleave_bf16(key_column(w, ps, d, 16 * c), key_column(w, ps, d + 1, 16 * c)));
    }
}

SIEVE_AMX_TARGET void pack_keys(const Window& w, int64_t hd, int64_t ps, int64_t c0, int64_t c1, uint16_t* kb) {
  for (int64_t c = c0; c < c1; ++c) pack_key_tile(w, hd, ps, c, kb + (c - c0) * (hd / 32) * kTileElems);
}

// The values of chunks [s0, s1) (32 slots each) in the same layout: per
// chunk and 16 dimensions, 16 rows of slot pairs x 16 dimensions. Slots
// outside [j0, j1) are zero: their memory may hold anything, and 0 * NaN is
// NaN.
SIEVE_AMX_TARGET inline void pack_value_chunk(const Window& w, int64_t ps, int64_t hd, int64_t s, int64_t j0,
                                              int64_t j1, uint16_t* vb) {
  const int64_t ndt = hd / 16;
  for (int64_t i = 0; i < 16; ++i) {
    const int64_t a = 32 * s + 2 * i, b = a + 1;
    const bool ina = a >= j0 && a < j1, inb = b >= j0 && b < j1;
    for (int64_t dt = 0; dt < ndt; ++dt) {
      const __m512 va = ina ? value_row(w, ps, hd, a, 16 * dt) : _mm512_setzero_ps();
      const __m512 vbv = inb ? value_row(w, ps, hd, b, 16 * dt) : _mm512_setzero_ps();
      _mm512_storeu_si512(vb + dt * kTileElems + 32 * i, interleave_bf16(va, vbv));
    }
  }
}

SIEVE_AMX_TARGET void pack_values(const Window& w, int64_t ps, int64_t hd, int64_t s0, int64_t s1, int64_t j0,
                                  int64_t j1, uint16_t* vb) {
  for (int64_t s = s0; s < s1; ++s) pack_value_chunk(w, ps, hd, s, j0, j1, vb + (s - s0) * (hd / 16) * kTileElems);
}

// Up to four column tiles' products for one row tile: tiles 0..n-1 hold
// the sums, 4 the queries' chunk, 6 and 7 the keys (alternating).
#define SIEVE_SCORE_TILE(T, B)                                    \
  if (n > (T)) {                                                  \
    _tile_loadd(B, kb + ((g + (T)) * nkc + kc) * kTileElems, 64); \
    _tile_dpbf16ps(T, 4, B);                                      \
  }
#define SIEVE_STORE_TILE(T) \
  if (n > (T)) _tile_stored(T, scores + (rt * nct + g + (T)) * 256, 64);

// The scores q_r . k_j of every padded row r and column tile [c0, c1) as
// 16 x 16 blocks, row tile after row tile: whole cache lines stored in a
// row, which is faster than rows of the window's width.
SIEVE_AMX_TARGET void score_tiles(const uint16_t* qb, int64_t rows, int64_t hd, const uint16_t* kb, int64_t c0,
                                  int64_t c1, float* scores) {
  const int64_t nkc = hd / 32, nct = c1 - c0;
  for (int64_t rt = 0; rt < rows / 16; ++rt)
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

// One row's online-softmax update over its visible columns [vb, ve) of the
// chunks [s0, s1): the probabilities as bf16 into pr (32 per chunk, zero
// outside [vb, ve)), acc rescaled when the max rises. sr: the row's 16
// scores of column tile 2 s0, the next tile's 256 floats further.
// kListed: packed position k holds chunk listed[k] (s0 = 0, s1 = their
// count); else chunks s0..s1 - 1 in order.
template <bool kListed>
SIEVE_AMX_TARGET void softmax_row(const float* sr, int64_t s0, int64_t s1, int64_t vb, int64_t ve, float& m,
                                  float& l, float* acc, int64_t hd, uint16_t* pr, const uint64_t* include,
                                  const int32_t* listed) {
  const auto at = [&](int64_t c) { return sr + (c / 16 - 2 * s0) * 256; };
  // Lanes of the 16 columns from c that are visible (and included); all of them inside.
  const auto visible = [&](int64_t c) {
    const __mmask16 in_range = c >= vb && c + 16 <= ve ? __mmask16(0xFFFF) : columns(c, vb, ve);
    return include ? static_cast<__mmask16>(in_range & (include[c / 64] >> (c % 64))) : in_range;
  };
  __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  if constexpr (kListed) {
    for (int64_t k = 0; k < s1 - s0; ++k)
      for (int64_t half = 0; half < 2; ++half) {
        const int64_t c = 32 * listed[k] + 16 * half;
        vmax = _mm512_mask_max_ps(vmax, visible(c), vmax, _mm512_loadu_ps(sr + (2 * k + half) * 256));
      }
  } else {
    for (int64_t c = vb / 16 * 16; c < ve; c += 16) vmax = _mm512_mask_max_ps(vmax, visible(c), vmax, _mm512_loadu_ps(at(c)));
  }
  const float new_m = std::max(m, _mm512_reduce_max_ps(vmax));
  const float correction = new_m == m ? 1.0f : std::exp(m - new_m);  // most pages do not raise the max
  const __m512 mlog2e = _mm512_set1_ps(new_m * 1.44269504f);
  __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();  // two chains of adds
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t c = 32 * (kListed ? listed[s - s0] : s);
    const float* sc = sr + 2 * (s - s0) * 256;
    const __mmask16 k0 = visible(c), k1 = visible(c + 16);
    const __m512 e0 = exp_below_max(k0, _mm512_maskz_loadu_ps(k0, sc), mlog2e);
    const __m512 e1 = exp_below_max(k1, _mm512_maskz_loadu_ps(k1, sc + 256), mlog2e);
    sum0 = _mm512_add_ps(sum0, e0);
    sum1 = _mm512_add_ps(sum1, e1);
    _mm512_storeu_si512(pr + 32 * (s - s0), reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(e1, e0)));
  }
  const float sum = _mm512_reduce_add_ps(_mm512_add_ps(sum0, sum1));
  l = l * correction + sum;
  m = new_m;
  if (correction != 1.0f) {
    const __m512 vc = _mm512_set1_ps(correction);
    for (int64_t d = 0; d < hd; d += 16) _mm512_storeu_ps(acc + d, _mm512_mul_ps(_mm512_loadu_ps(acc + d), vc));
  }
}

#define SIEVE_VALUE_TILE(T, B)                                         \
  if (n > (T)) {                                                       \
    _tile_loadd(B, vb + ((s - s0) * ndt + dg + (T)) * kTileElems, 64); \
    _tile_dpbf16ps(T, 4, B);                                           \
  }
#define SIEVE_STORE_SUMS(T) \
  if (n > (T)) _tile_stored(T, sums[T], 64);

// acc[r] += the probabilities pb (rows x (s1 - s0) chunks of 32) times the
// packed values vb, for r < n_rows.
SIEVE_AMX_TARGET void value_tiles(const uint16_t* pb, int64_t n_rows, int64_t s0, int64_t s1, const uint16_t* vb,
                                  int64_t hd, float* acc) {
  const int64_t nsc = s1 - s0, ndt = hd / 16;
  alignas(64) float sums[4][256];
  for (int64_t rt = 0; rt < padded_rows(n_rows) / 16; ++rt)
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

// Chunks [j0 / 32, ceil(j1 / 32)) of the window, or with `listed` the
// n_listed chunks it lists (ascending), packed side by side.
SIEVE_AMX_TARGET void attend_chunks(const uint16_t* qb, AttentionRows& rows, int64_t hd, int64_t ps, const Window& w,
                                    int64_t j0, int64_t j1, const uint64_t* include, const int32_t* listed = nullptr,
                                    int64_t n_listed = 0) {
  const int64_t n_rows = rows.n_rows, padded = padded_rows(n_rows);
  // Chunks of 32 columns, two column tiles each (the window's width is a
  // multiple of 32).
  const int64_t s0 = listed ? 0 : j0 / 32, s1 = listed ? n_listed : (j1 + 31) / 32, nsc = s1 - s0;
  const int64_t c0 = 2 * s0, c1 = 2 * s1;
  thread_local std::vector<uint16_t> packed_keys, packed_values, prob_rows;
  thread_local std::vector<float> score_rows;
  std::vector<uint16_t>& kbuf = packed_keys;
  std::vector<uint16_t>& vbuf = packed_values;
  std::vector<uint16_t>& pbuf = prob_rows;
  std::vector<float>& scores = score_rows;
  kbuf.resize(static_cast<size_t>((c1 - c0) * (hd / 32) * kTileElems));
  vbuf.resize(static_cast<size_t>(nsc * (hd / 16) * kTileElems));
  pbuf.resize(static_cast<size_t>(padded * nsc * 32));
  scores.resize(static_cast<size_t>(padded * 32 * nsc));
  if (listed) {
    for (int64_t k = 0; k < nsc; ++k) {
      for (int64_t t = 0; t < 2; ++t)
        pack_key_tile(w, hd, ps, 2 * listed[k] + t, kbuf.data() + (2 * k + t) * (hd / 32) * kTileElems);
      pack_value_chunk(w, ps, hd, listed[k], j0, j1, vbuf.data() + k * (hd / 16) * kTileElems);
    }
  } else {
    pack_keys(w, hd, ps, c0, c1, kbuf.data());
    pack_values(w, ps, hd, s0, s1, j0, j1, vbuf.data());
  }
  tile_memory_barrier();
  score_tiles(qb, padded, hd, kbuf.data(), c0, c1, scores.data());
  for (int64_t r = 0; r < padded; ++r) {
    uint16_t* pr = pbuf.data() + r * nsc * 32;
    const int64_t vb = r < n_rows && rows.begin ? std::max(j0, rows.begin[r] - w.base) : j0;
    const int64_t ve = r < n_rows ? std::min(j1, rows.limit[r] - w.base) : j0;
    // A row that sees nothing of this window adds nothing: zero probabilities.
    if (ve <= vb) std::fill(pr, pr + nsc * 32, uint16_t{0});
    else if (listed)
      softmax_row<true>(scores.data() + r / 16 * 32 * nsc * 16 + r % 16 * 16, s0, s1, vb, ve, rows.m[r], rows.l[r],
                        rows.acc + r * hd, hd, pr, include, listed);
    else
      softmax_row<false>(scores.data() + r / 16 * 32 * nsc * 16 + r % 16 * 16, s0, s1, vb, ve, rows.m[r], rows.l[r],
                         rows.acc + r * hd, hd, pr, include, nullptr);
  }
  tile_memory_barrier();
  value_tiles(pbuf.data(), n_rows, s0, s1, vbuf.data(), hd, rows.acc);
}

// Whether any of the 32 columns of chunk s is included.
inline bool chunk_included(const uint64_t* include, int64_t s) { return (include[s / 2] >> (32 * (s % 2))) & 0xFFFFFFFFu; }

SIEVE_AMX_TARGET void attend_window_tiles(const uint16_t* qb, AttentionRows& rows, int64_t hd, int64_t ps,
                                          const Window& w, int64_t j0, int64_t j1, const uint64_t* include) {
  use_tiles(TileShape::kBf16);
  if (!include) return attend_chunks(qb, rows, hd, ps, w, j0, j1, nullptr);
  // The chunks (32 columns) holding included columns, packed side by side
  // and read in one pass; the others are neither packed nor scored.
  thread_local std::vector<int32_t> listed;
  listed.clear();
  for (int64_t s = j0 / 32; s < (j1 + 31) / 32; ++s)
    if (chunk_included(include, s)) listed.push_back(static_cast<int32_t>(s));
  if (!listed.empty())
    attend_chunks(qb, rows, hd, ps, w, j0, j1, include, listed.data(), static_cast<int64_t>(listed.size()));
}

SIEVE_AMX_TARGET void score_window_tiles(const uint16_t* qb, int64_t n_rows, int64_t hd, int64_t ps, const Window& w,
                                         int64_t j0, int64_t j1, float* out, int64_t ld) {
  use_tiles(TileShape::kBf16);
  const int64_t padded = padded_rows(n_rows), s0 = j0 / 32, s1 = (j1 + 31) / 32, c0 = 2 * s0, c1 = 2 * s1;
  const int64_t nct = c1 - c0;
  thread_local std::vector<uint16_t> packed_keys;
  thread_local std::vector<float> score_blocks;
  std::vector<uint16_t>& kbuf = packed_keys;
  std::vector<float>& scores = score_blocks;
  kbuf.resize(static_cast<size_t>(nct * (hd / 32) * kTileElems));
  scores.resize(static_cast<size_t>(padded * 16 * nct));
  pack_keys(w, hd, ps, c0, c1, kbuf.data());
  tile_memory_barrier();
  score_tiles(qb, padded, hd, kbuf.data(), c0, c1, scores.data());
  tile_memory_barrier();
  // 16 x 16 blocks (row tile, column tile) into rows, 16 columns at a time.
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* block_row = scores.data() + (r / 16) * nct * 256 + (r % 16) * 16;
    for (int64_t ct = j0 / 16; ct * 16 < j1; ++ct) {
      const int64_t a = std::max(j0, ct * 16), b = std::min(j1, ct * 16 + 16);
      const __mmask16 lanes = static_cast<__mmask16>(((1u << (b - a)) - 1) << (a - ct * 16));
      const __m512 v = _mm512_maskz_loadu_ps(lanes, block_row + (ct - c0) * 256);
      _mm512_mask_storeu_ps(out + r * ld + ct * 16 - j0, lanes, v);
    }
  }
}

}  // namespace
#endif  // SIEVE_HAVE_AMX

void score_window(const uint16_t* qb, int64_t n_rows, int64_t hd, int64_t page_size, const Window& window, int64_t j0,
                  int64_t j1, float* scores, int64_t ld) {
#if SIEVE_HAVE_AMX
  score_window_tiles(qb, n_rows, hd, page_size, window, j0, j1, scores, ld);
#else
  (void)qb, (void)n_rows, (void)hd, (void)page_size, (void)window, (void)j0, (void)j1, (void)scores, (void)ld;
#endif
}

void round_queries(const float* q, int64_t n_rows, int64_t hd, uint16_t* qb) {
#if SIEVE_HAVE_AMX
  round_queries_tiles(q, n_rows, hd, qb);
#else
  (void)q, (void)n_rows, (void)hd, (void)qb;
#endif
}

void attend_window(const uint16_t* qb, AttentionRows& rows, int64_t hd, int64_t page_size, const Window& window,
                   int64_t j0, int64_t j1, const uint64_t* include) {
#if SIEVE_HAVE_AMX
  attend_window_tiles(qb, rows, hd, page_size, window, j0, j1, include);
#else
  (void)qb, (void)rows, (void)hd, (void)page_size, (void)window, (void)j0, (void)j1, (void)include;
#endif
}

}  // namespace sieve::attention_tiles
