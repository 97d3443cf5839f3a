// Prefill GEMM for BF16 weights on the AMX tile unit (Sapphire Rapids and
// later). The numbers are those of the AVX512_BF16 path (matmul_bf16_dot.cc):
// activations rounded to bf16 once per call, products of bf16 pairs summed in
// float32; only the order of the float32 sums differs. One tile product
// (tdpbf16ps) does 16 tokens x 16 rows x 32 elements, 8192 multiply-adds,
// where one vdpbf16ps does 32. With SIEVE_AMX_QUANT=bf16 the block-quantized
// formats of matmul_amx_int8.cc come here too, each panel dequantized and
// rounded to bf16 first. f16 and f32 weights come here with the same
// rounded activations, each weight split into two bf16 halves (hi + lo: 16
// significant bits, f16 exactly), so a block takes two tile products.
//
// Work is split by panels of 32 weight rows. A thread packs all its panels
// into the layout of the product's second operand (per 32-element block: 16
// rows of 16 bf16 pairs, pair p of each weight row in row p of the tile, a
// 16x16 transposition of 32-bit pairs), then takes 32 tokens at a time past
// them: two activation tiles, two weight tiles and four float32 accumulator
// tiles, the eight tile registers.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/amx_tiles.h"
#include "kernels/matmul_internal.h"
#include "util/error.h"

namespace sieve::kernels::detail {
namespace {

// Whether w's rows are split into two bf16 halves (f16, f32 weights).
bool split_type(DType t) { return t == DType::F16 || t == DType::F32; }

#if SIEVE_HAVE_AMX

constexpr int64_t kRows = 32;    // weight rows per panel: two tiles
constexpr int64_t kTokens = 32;  // tokens per step: two tiles
constexpr int64_t kTileDwords = 256;

// x[0, k) rounded to bf16 (nearest even) into out[0, kp), zeros past k.
SIEVE_AMX_TARGET void round_row(const float* x, int64_t k, int64_t kp, uint16_t* out) {
  for (int64_t c = 0; c < kp; c += 32) {
    const int64_t n = k - c;  // >= 1, as kp < k + 32
    const __mmask16 lo = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
    const __mmask16 hi = n >= 32 ? 0xFFFF : n <= 16 ? 0 : static_cast<__mmask16>((1u << (n - 16)) - 1);
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + c + 16), _mm512_maskz_loadu_ps(lo, x + c));
    _mm512_storeu_si512(out + c, reinterpret_cast<const __m512i&>(v));
  }
}

// nr rows of k bf16 (row_bytes apart) into panel: the tile of block kb and
// row half j at panel + (2 kb + j) * 256 dwords. Rows past nr and elements
// past k are zero.
SIEVE_AMX_TARGET void pack_panel(const uint8_t* base, size_t row_bytes, int64_t nr, int64_t k, int64_t nkb,
                                 uint32_t* panel) {
  for (int64_t kb = 0; kb < nkb; ++kb) {
    const int64_t n = std::min<int64_t>(32, k - 32 * kb);
    const __mmask32 m = n >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << n) - 1);
    for (int j = 0; j < 2; ++j) {
      __m512i v[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t r = 16 * j + i;
        v[i] = r < nr ? _mm512_maskz_loadu_epi16(m, base + r * row_bytes + 64 * kb) : _mm512_setzero_si512();
      }
      transpose16x16_dwords(v);
      uint32_t* dst = panel + (2 * kb + j) * kTileDwords;
      for (int i = 0; i < 16; ++i) _mm512_storeu_si512(dst + 16 * i, v[i]);
    }
  }
}

// Scratch for the rows of a block-quantized panel dequantized to bf16.
struct DequantScratch {
  std::vector<int8_t> lv;
  std::vector<float> ws, wm;
  std::vector<uint16_t> rows, lo;
};

// Rows [r0, r0 + nr) of block-quantized w: levels and block scales
// (amx_unpack_row), then each weight ws * level + wm in float32, rounded to
// bf16 (nearest even), into s.rows (k bf16 a row).
SIEVE_AMX_TARGET void dequant_rows(const Tensor& w, int64_t r0, int64_t nr, DequantScratch& s) {
  const int64_t k = w.row_length(), nb = k / 32;
  s.lv.resize(static_cast<size_t>(k));
  s.ws.resize(static_cast<size_t>(32 * nb));
  s.wm.resize(static_cast<size_t>(32 * nb));
  s.rows.resize(static_cast<size_t>(kRows * k));
  for (int64_t r = 0; r < nr; ++r) {
    amx_unpack_row(w.type, w.row(r0 + r), k, s.lv.data(), s.ws.data(), s.wm.data());
    uint16_t* out = s.rows.data() + r * k;
    for (int64_t b = 0; b < nb; ++b) {
      const __m512 sc = _mm512_set1_ps(s.ws[32 * b]), mn = _mm512_set1_ps(s.wm[32 * b]);
      const __m128i* l = reinterpret_cast<const __m128i*>(s.lv.data() + 32 * b);
      const __m512 f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(l))), sc, mn);
      const __m512 f1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(l + 1))), sc, mn);
      const __m512bh v = _mm512_cvtne2ps_pbh(f1, f0);
      _mm512_storeu_si512(out + 32 * b, reinterpret_cast<const __m512i&>(v));
    }
  }
}

// Rows [r0, r0 + nr) of f16 or f32 w as two bf16 rows each, hi = the weight
// rounded and lo = the rest rounded (hi + lo holds 16 significant bits: f16
// exactly, f32 to 2^-17), into s.rows (k bf16 a row, hi) and s.lo.
SIEVE_AMX_TARGET void split_rows(const Tensor& w, int64_t r0, int64_t nr, DequantScratch& s) {
  const int64_t k = w.row_length();
  s.rows.resize(static_cast<size_t>(kRows * k));
  s.lo.resize(static_cast<size_t>(kRows * k));
  for (int64_t r = 0; r < nr; ++r) {
    const uint8_t* src = w.row(r0 + r);
    for (int64_t c = 0; c < k; c += 16) {
      const int64_t n = std::min<int64_t>(16, k - c);
      const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
      const __m512 f = w.type == DType::F16
                           ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + 2 * c))
                           : _mm512_maskz_loadu_ps(m, src + 4 * c);
      const __m256i hi = reinterpret_cast<const __m256i&>(static_cast<const __m256bh&>(_mm512_cvtneps_pbh(f)));
      const __m512 hi_f = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
      const __m256bh lo = _mm512_cvtneps_pbh(_mm512_sub_ps(f, hi_f));
      _mm256_mask_storeu_epi16(s.rows.data() + r * k + c, m, hi);
      _mm256_mask_storeu_epi16(s.lo.data() + r * k + c, m, reinterpret_cast<const __m256i&>(lo));
    }
  }
}

// Stores the four accumulator tiles (tokens t0.., rows r0..) into y, or the
// part of them inside n_tokens x rows.
SIEVE_AMX_TARGET inline void store_tiles(float* y, int64_t rows, int64_t n_tokens, int64_t t0, int64_t r0) {
  float* yt = y + t0 * rows + r0;
  if (t0 + kTokens <= n_tokens && r0 + kRows <= rows) {
    const long ystride = static_cast<long>(rows * 4);
    _tile_stored(0, yt, ystride);
    _tile_stored(1, yt + 16, ystride);
    _tile_stored(2, yt + 16 * rows, ystride);
    _tile_stored(3, yt + 16 * rows + 16, ystride);
    return;
  }
  alignas(64) float tmp[4][256];
  _tile_stored(0, tmp[0], 64);
  _tile_stored(1, tmp[1], 64);
  _tile_stored(2, tmp[2], 64);
  _tile_stored(3, tmp[3], 64);
  for (int q = 0; q < 4; ++q) {
    const int64_t cols = std::min<int64_t>(16, rows - r0 - 16 * (q & 1));
    if (cols <= 0) continue;
    const __mmask16 m = static_cast<__mmask16>((1u << cols) - 1);
    for (int64_t i = 0; i < 16; ++i) {
      const int64_t t = t0 + 16 * (q >> 1) + i;
      if (t < n_tokens) _mm512_mask_storeu_ps(y + t * rows + r0 + 16 * (q & 1), m, _mm512_load_ps(tmp[q] + 16 * i));
    }
  }
}

// Accumulator tiles 0-3 += activation tiles 4-5 times block kb of panel
// (its two weight tiles into 6-7).
SIEVE_AMX_TARGET inline void block_products(const uint32_t* panel, int64_t kb) {
  _tile_loadd(6, panel + 2 * kb * kTileDwords, 64);
  _tile_loadd(7, panel + (2 * kb + 1) * kTileDwords, 64);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

// Panels [p0, p1) of w times every token. The thread packs all its panels
// first (at most half the matrix with two threads: 0.7 MB for 1408 x 512,
// within L2), then takes 32 tokens at a time past all of them, so those
// tokens' activation tiles (2 KB per 32 elements) stay in L1 while the
// weight tiles stream from L2.
SIEVE_AMX_TARGET void panels(const Tensor& w, const uint16_t* xb, int64_t nkb, int64_t n_tokens, int64_t n_pad,
                             float* y, int64_t p0, int64_t p1) {
  use_tiles(TileShape::kBf16);
  const bool split = split_type(w.type);
  const int64_t rows = w.rows(), panel_dwords = nkb * 2 * kTileDwords * (split ? 2 : 1);
  thread_local std::vector<uint32_t> packed;
  packed.resize(static_cast<size_t>((p1 - p0) * panel_dwords));
  thread_local DequantScratch scratch;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t r0 = p * kRows, nr = std::min(kRows, rows - r0);
    uint32_t* panel = packed.data() + (p - p0) * panel_dwords;
    if (w.type == DType::BF16) {
      pack_panel(w.row(r0), w.row_bytes(), nr, w.row_length(), nkb, panel);
    } else if (split) {  // the hi panel, then the lo panel
      split_rows(w, r0, nr, scratch);
      const size_t row_bytes = static_cast<size_t>(w.row_length()) * 2;
      pack_panel(reinterpret_cast<const uint8_t*>(scratch.rows.data()), row_bytes, nr, w.row_length(), nkb, panel);
      pack_panel(reinterpret_cast<const uint8_t*>(scratch.lo.data()), row_bytes, nr, w.row_length(), nkb,
                 panel + panel_dwords / 2);
    } else {
      dequant_rows(w, r0, nr, scratch);
      pack_panel(reinterpret_cast<const uint8_t*>(scratch.rows.data()), static_cast<size_t>(w.row_length()) * 2, nr,
                 w.row_length(), nkb, panel);
    }
  }
  tile_memory_barrier();
  for (int64_t t0 = 0; t0 < n_pad; t0 += kTokens) {
    const uint16_t* a0 = xb + (t0 / 16) * nkb * 512;
    const uint16_t* a1 = a0 + nkb * 512;
    for (int64_t p = p0; p < p1; ++p) {
      const uint32_t* b = packed.data() + (p - p0) * panel_dwords;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t kb = 0; kb < nkb; ++kb) {
        _tile_loadd(4, a0 + 512 * kb, 64);
        _tile_loadd(5, a1 + 512 * kb, 64);
        block_products(b, kb);
        if (split) block_products(b + panel_dwords / 2, kb);  // the same activations times the lo halves
      }
      store_tiles(y, rows, n_tokens, t0, p * kRows);
    }
  }
}

// Tokens [t0, t1) rounded into the activation tiles: xb holds, per 16 tokens
// and 32-element block kb, the tile of 16 rows x 32 bf16 (1 KB) at
// xb + ((t / 16) * nkb + kb) * 512.
SIEVE_AMX_TARGET void round_rows(const float* x, int64_t k, int64_t nkb, uint16_t* xb, int64_t t0, int64_t t1) {
  alignas(64) uint16_t row[32 * 64];
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t c0 = 0; c0 < nkb; c0 += 64) {  // 64 blocks at a time
      const int64_t nc = std::min<int64_t>(64, nkb - c0);
      round_row(x + t * k + 32 * c0, k - 32 * c0, 32 * nc, row);
      for (int64_t kb = 0; kb < nc; ++kb)
        _mm512_storeu_si512(xb + ((t / 16) * nkb + c0 + kb) * 512 + (t % 16) * 32, _mm512_load_si512(row + 32 * kb));
    }
  }
}

#endif  // SIEVE_HAVE_AMX

}  // namespace

void matmul_amx_bf16(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if ((w.type != DType::BF16 && !split_type(w.type) && !amx_int8_handles(w.type)) || !amx_supported())
    throw Error("internal: matmul_amx_bf16 needs bf16, f16, f32 or handled block-quantized weights, and AMX");
#if SIEVE_HAVE_AMX
  const int64_t k = w.row_length(), nkb = (k + 31) / 32, n_pad = (n_tokens + kTokens - 1) / kTokens * kTokens;
  // The caller's buffer, named through a plain reference: inside the lambdas
  // (run on worker threads) a thread_local would name the worker's own copy.
  thread_local std::vector<uint16_t> rounded;
  std::vector<uint16_t>& xb = rounded;
  xb.resize(static_cast<size_t>(n_pad * nkb * 32));
  // The pad tokens' rows: zero (they start in the tile of token n_tokens).
  for (int64_t t = n_tokens; t < n_pad; ++t)
    for (int64_t kb = 0; kb < nkb; ++kb) std::fill_n(xb.data() + ((t / 16) * nkb + kb) * 512 + (t % 16) * 32, 32, 0);
  pool.parallel_for(n_tokens, 16, [&](int, int64_t t0, int64_t t1) { round_rows(x, k, nkb, xb.data(), t0, t1); });
  tile_memory_barrier();
  pool.parallel_for((w.rows() + kRows - 1) / kRows, 1, [&](int, int64_t p0, int64_t p1) {
    panels(w, xb.data(), nkb, n_tokens, n_pad, y, p0, p1);
  });
#else
  (void)x, (void)n_tokens, (void)y, (void)pool;
#endif
}

}  // namespace sieve::kernels::detail
