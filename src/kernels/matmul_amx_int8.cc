// Prefill GEMM for block-quantized weights on the AMX tile unit, with int8
// tile products (tdpbssd). The activations are quantized exactly as for the
// integer kernels (Q8_0, Q8_1 or Q8_K rows, quant_act-inl.h), so the results
// are the same numbers: an exact int32 dot product per 32-element block, its
// scales applied in float32.
//
// The scales are why a block is one tile product: a tile's rows accumulate
// over its whole depth, and both sides change scale every 32 elements (the
// weight's block or sub-block scale, the activation's block scale). So the
// tiles are configured 32 elements deep (16 tokens x 32 int8 times 8 quads x
// 16 rows), each product goes to fresh int32 tiles, and AVX-512 adds them to
// float32 accumulators:
//     acc[t][r] += float(C[t][r]) * ws[r] * ax[t]  (+ wm[r] * as[t])
// with, per block:
//   Q8_0, Q4_0, Q5_0  levels q, q - 8, q - 16 (signed); ws = d; no min term
//   Q4_1, Q5_1        levels 0..31; ws = d, wm = m; as = Q8_1's s (d * sum q)
//   Q4_K, Q5_K        levels 0..31 of sub-block j; ws = d * scale_j,
//                     wm = -dmin * min_j; ax = Q8_K's d, as = d * sum of q
// Q6_K (a scale per 16 elements) keeps the integer kernels.
//
// A panel of 32 weight rows is unpacked into int8 levels and per-block float
// scales, the levels packed into the tile layout (per block and 16 rows: 8
// rows of 64 bytes, the 4 levels k..k+3 of each weight row side by side, a
// 16x16 transposition of 32-bit quads); then every 32 tokens run past it.
// The whole tensor is packed so once and kept with it (repacked()), or, past
// the budget, each call packs the panels it uses.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include <unistd.h>

#include "kernels/amx_tiles.h"
#include "kernels/matmul_internal.h"
#include "kernels/quant.h"
#include "util/error.h"

namespace sieve::kernels::detail {

bool amx_int8_handles(DType type) {
  switch (type) {
    case DType::Q8_0: case DType::Q4_0: case DType::Q5_0: case DType::Q4_1:
    case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: return true;
    default: return false;
  }
}

namespace {

#if SIEVE_HAVE_AMX

constexpr int64_t kRows = 32;    // weight rows per panel: two tiles
constexpr int64_t kTokens = 32;  // tokens per step: two tiles (the last 16 alone)
constexpr int64_t kTileBytes = 512;

// One packed panel of 32 rows: the tiles (block b, row half j at
// (2 b + j) * 512 bytes), the scales ws[32 b + r] and min terms wm[32 b + r].
struct Panel {
  const int8_t* tiles;
  const float* ws;
  const float* wm;
};

// What repacked weights may still take (see repacked()).
std::atomic<int64_t> g_repack_budget{[] {
  const char* e = std::getenv("SIEVE_AMX_REPACK");
  if (e != nullptr && std::strcmp(e, "0") == 0) return int64_t{0};
  return static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / 4;
}()};

// Packed panels, one after another: a thread's for one call, or a whole
// tensor's kept with it (charged to the budget until freed); lv is the
// scratch of one panel's levels (32 rows of kpad = k rounded up to 64, zero
// pad).
struct Packed {
  Packed() = default;
  explicit Packed(int64_t charged) : charged(charged) {}
  ~Packed() { g_repack_budget.fetch_add(charged); }
  Packed(const Packed&) = delete;
  Packed& operator=(const Packed&) = delete;
  int64_t charged = 0;  // bytes taken from g_repack_budget
  std::vector<int8_t> lv, tiles;
  std::vector<float> ws, wm;
  Panel panel(int64_t i, int64_t nb) const {
    return {tiles.data() + i * 2 * nb * kTileBytes, ws.data() + i * 32 * nb, wm.data() + i * 32 * nb};
  }
};

// Rows [r0, r0 + nr) of w into tiles / ws / wm (one panel's share of them).
// Rows past nr are zero.
SIEVE_AMX_TARGET void pack_panel(const Tensor& w, int64_t r0, int64_t nr, int64_t nb, int64_t kpad, int8_t* lvs,
                                 int8_t* tiles, float* ws, float* wm) {
  const int64_t k = w.row_length();
  for (int64_t r = 0; r < kRows; ++r) {
    int8_t* lv = lvs + r * kpad;
    if (r < nr) {
      amx_unpack_row(w.type, w.row(r0 + r), k, lv, ws + r, wm + r);
      std::memset(lv + k, 0, static_cast<size_t>(kpad - k));
    } else {
      std::memset(lv, 0, static_cast<size_t>(kpad));
      for (int64_t b = 0; b < nb; ++b) ws[32 * b + r] = wm[32 * b + r] = 0;
    }
  }
  for (int64_t c = 0; c < kpad / 64; ++c) {
    for (int j = 0; j < 2; ++j) {
      __m512i v[16];
      for (int i = 0; i < 16; ++i) v[i] = _mm512_loadu_si512(lvs + (16 * j + i) * kpad + 64 * c);
      transpose16x16_dwords(v);
      for (int q = 0; q < 16; ++q) {
        const int64_t b = 2 * c + q / 8;
        if (b < nb) _mm512_storeu_si512(tiles + (2 * b + j) * kTileBytes + (q % 8) * 64, v[q]);
      }
    }
  }
}

// The quantized activations rearranged for the tiles: per 16 tokens and
// block b, the tile of 16 rows x 32 int8 at qs + ((t / 16) * nb + b) * 512;
// per block b and token t, ax[b * n_pad + t] multiplies the block's int32
// sums and as[b * n_pad + t] the min term.
struct Acts {
  const int8_t* qs;
  const float* ax;
  const float* as;
  int64_t n_pad;
};

// acc (2 x kTT tiles of 16 x 16 float32: token tile q >> 1, row half q & 1)
// for tokens t0.., rows r0.. into y.
template <int kTT>
SIEVE_AMX_TARGET inline void store_acc(const float (*acc)[256], float* y, int64_t rows, int64_t n_tokens, int64_t t0,
                                       int64_t r0) {
  for (int q = 0; q < 2 * kTT; ++q) {
    const int64_t cols = std::min<int64_t>(16, rows - r0 - 16 * (q & 1));
    if (cols <= 0) continue;
    const __mmask16 m = static_cast<__mmask16>((1u << cols) - 1);
    for (int64_t i = 0; i < 16; ++i) {
      const int64_t t = t0 + 16 * (q >> 1) + i;
      if (t < n_tokens) _mm512_mask_storeu_ps(y + t * rows + r0 + 16 * (q & 1), m, _mm512_load_ps(acc[q] + 16 * i));
    }
  }
}

// acc += the int32 sums c of block b, scaled (see the top of the file).
template <bool kMin, int kTT>
SIEVE_AMX_TARGET inline void scale_block(const int32_t (*c)[256], const float* ws, const float* wm, const Acts& a,
                                         int64_t b, int64_t t0, float (*acc)[256]) {
  const float* ax = a.ax + b * a.n_pad + t0;
  const float* as = a.as + b * a.n_pad + t0;
  for (int q = 0; q < 2 * kTT; ++q) {
    const __m512 wsv = _mm512_loadu_ps(ws + 32 * b + 16 * (q & 1));
    const __m512 wmv = kMin ? _mm512_loadu_ps(wm + 32 * b + 16 * (q & 1)) : _mm512_setzero_ps();
    const int ti = 16 * (q >> 1);
    float* accq = acc[q];
    const int32_t* cq = c[q];
    for (int i = 0; i < 16; ++i) {
      __m512 s = _mm512_load_ps(accq + 16 * i);
      s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cq + 16 * i)),
                          _mm512_mul_ps(wsv, _mm512_set1_ps(ax[ti + i])), s);
      if constexpr (kMin) s = _mm512_fmadd_ps(wmv, _mm512_set1_ps(as[ti + i]), s);
      _mm512_store_ps(accq + 16 * i, s);
    }
  }
}

// 16 x kTT tokens from t0 times one packed panel, into acc. Software-
// pipelined: the AVX-512 scaling of block b - 1 is issued between the tile
// products of block b and their store, so it runs while the tile unit works.
// A token's result does not depend on kTT or on the other tokens.
template <bool kMin, int kTT>
SIEVE_AMX_TARGET void panel_product(const Panel& pn, int64_t nb, const Acts& a, int64_t t0, float (*acc)[256]) {
  alignas(64) int32_t ib[2][4][256];
  std::memset(acc, 0, 2 * kTT * 256 * sizeof(float));
  const int8_t* x0 = a.qs + (t0 / 16) * nb * 512;
  const int8_t* x1 = x0 + nb * 512;
  for (int64_t b = 0; b < nb; ++b) {
    _tile_zero(0);
    _tile_zero(1);
    if constexpr (kTT == 2) {
      _tile_zero(2);
      _tile_zero(3);
    }
    _tile_loadd(4, x0 + 512 * b, 32);
    if constexpr (kTT == 2) _tile_loadd(5, x1 + 512 * b, 32);
    _tile_loadd(6, pn.tiles + 2 * b * kTileBytes, 64);
    _tile_loadd(7, pn.tiles + (2 * b + 1) * kTileBytes, 64);
    _tile_dpbssd(0, 4, 6);
    _tile_dpbssd(1, 4, 7);
    if constexpr (kTT == 2) {
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
    if (b > 0) scale_block<kMin, kTT>(ib[(b - 1) & 1], pn.ws, pn.wm, a, b - 1, t0, acc);
    int32_t(*c)[256] = ib[b & 1];
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
    if constexpr (kTT == 2) {
      _tile_stored(2, c[2], 64);
      _tile_stored(3, c[3], 64);
    }
  }
  scale_block<kMin, kTT>(ib[(nb - 1) & 1], pn.ws, pn.wm, a, nb - 1, t0, acc);
}

// Tokens past panels [p0, p1), panel p at pk.panel(p - first): 32 at a time
// past all of them (their activation tiles stay in L1; see
// matmul_amx_bf16.cc), the last 16 alone.
SIEVE_AMX_TARGET void run_panels(const Tensor& w, const Acts& a, int64_t n_tokens, float* y, int64_t p0, int64_t p1,
                                 const Packed& pk, int64_t first) {
  use_tiles(TileShape::kInt8);
  const int64_t nb = w.row_length() / kQK, rows = w.rows();
  const bool min = amx_has_min(w.type);
  alignas(64) float acc[4][256];
  for (int64_t t0 = 0; t0 < a.n_pad; t0 += kTokens) {
    const bool two = a.n_pad - t0 >= 32;
    for (int64_t p = p0; p < p1; ++p) {
      const Panel pn = pk.panel(p - first, nb);
      if (two) {
        if (min) panel_product<true, 2>(pn, nb, a, t0, acc);
        else panel_product<false, 2>(pn, nb, a, t0, acc);
        store_acc<2>(acc, y, rows, n_tokens, t0, p * kRows);
      } else {
        if (min) panel_product<true, 1>(pn, nb, a, t0, acc);
        else panel_product<false, 1>(pn, nb, a, t0, acc);
        store_acc<1>(acc, y, rows, n_tokens, t0, p * kRows);
      }
    }
  }
}

// Panels [p0, p1) packed by this thread for this call, then every token.
SIEVE_AMX_TARGET void panels(const Tensor& w, const Acts& a, int64_t n_tokens, float* y, int64_t p0, int64_t p1) {
  const int64_t k = w.row_length(), nb = k / kQK, kpad = (k + 63) / 64 * 64, rows = w.rows(), np = p1 - p0;
  thread_local Packed packed;
  Packed& pk = packed;
  pk.lv.resize(static_cast<size_t>(kRows * kpad));
  pk.tiles.resize(static_cast<size_t>(np * 2 * nb * kTileBytes));
  pk.ws.resize(static_cast<size_t>(np * 32 * nb));
  pk.wm.resize(static_cast<size_t>(np * 32 * nb));
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t i = p - p0;
    pack_panel(w, p * kRows, std::min(kRows, rows - p * kRows), nb, kpad, pk.lv.data(),
               pk.tiles.data() + i * 2 * nb * kTileBytes, pk.ws.data() + i * 32 * nb, pk.wm.data() + i * 32 * nb);
  }
  tile_memory_barrier();
  run_panels(w, a, n_tokens, y, p0, p1, pk, p0);
}

// The weights packed once (Tensor::repacked), while the budget lasts: a
// quarter of the machine's memory for all tensors together (SIEVE_AMX_REPACK=0:
// never). Without them every call packs the panels it uses, which costs
// more than the tile products below ~100 tokens.
const Packed* repacked(const Tensor& w, ThreadPool& pool) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (w.repacked) return static_cast<const Packed*>(w.repacked.get());
  const int64_t k = w.row_length(), nb = k / kQK, kpad = (k + 63) / 64 * 64;
  const int64_t n_panels = (w.rows() + kRows - 1) / kRows;
  const int64_t bytes = n_panels * (2 * nb * kTileBytes + 2 * 32 * nb * static_cast<int64_t>(sizeof(float)));
  if (bytes > g_repack_budget.load()) return nullptr;
  g_repack_budget.fetch_sub(bytes);
  auto pk = std::make_shared<Packed>(bytes);
  pk->tiles.resize(static_cast<size_t>(n_panels * 2 * nb * kTileBytes));
  pk->ws.resize(static_cast<size_t>(n_panels * 32 * nb));
  pk->wm.resize(static_cast<size_t>(n_panels * 32 * nb));
  pool.parallel_for(n_panels, 1, [&](int, int64_t p0, int64_t p1) {
    std::vector<int8_t> lv(static_cast<size_t>(kRows * kpad));
    for (int64_t p = p0; p < p1; ++p)
      pack_panel(w, p * kRows, std::min(kRows, w.rows() - p * kRows), nb, kpad, lv.data(),
                 pk->tiles.data() + p * 2 * nb * kTileBytes, pk->ws.data() + p * 32 * nb, pk->wm.data() + p * 32 * nb);
  });
  w.repacked = pk;
  return pk.get();
}

// Tokens [t0, t1) of the quantized rows into the tile layout and scales
// (the pad tokens, t >= n_tokens, get zeros).
SIEVE_AMX_TARGET void arrange_acts(const ActLayout& l, const uint8_t* acts, int64_t n_tokens, int64_t nb,
                                   int64_t n_pad, int8_t* qs, float* ax, float* as, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; ++t) {
    int8_t* dst = qs + (t / 16) * nb * 512 + (t % 16) * 32;
    if (t >= n_tokens) {
      for (int64_t b = 0; b < nb; ++b) {
        std::memset(dst + 512 * b, 0, 32);
        ax[b * n_pad + t] = as[b * n_pad + t] = 0;
      }
      continue;
    }
    const ActView v = MakeActView(l, acts, t);
    for (int64_t b = 0; b < nb; ++b) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 512 * b),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v.qs + 32 * b)));
      float d, s = 0;
      if (l.type == DType::Q8_K) {
        d = v.d[b / 8];
        s = d * static_cast<float>(v.bs[2 * b] + v.bs[2 * b + 1]);
      } else {
        d = v.d[b];
        if (l.type == DType::Q8_1) s = v.s[b];
      }
      ax[b * n_pad + t] = d;
      as[b * n_pad + t] = s;
    }
  }
}

#endif  // SIEVE_HAVE_AMX

}  // namespace

void matmul_amx_int8(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (!amx_int8_handles(w.type) || !amx_supported()) throw Error("internal: matmul_amx_int8 needs a handled type and AMX");
#if SIEVE_HAVE_AMX
  const int64_t k = w.row_length(), nb = k / kQK, n_pad = (n_tokens + 15) / 16 * 16;
  const ActLayout l = act_layout(activation_type(w.type), k);
  // The caller's buffers, named through plain references (see matmul_amx_bf16.cc).
  thread_local std::vector<uint8_t> acts_buf;
  thread_local std::vector<int8_t> tiles_buf;
  thread_local std::vector<float> scale_buf;
  std::vector<uint8_t>& acts = acts_buf;
  std::vector<int8_t>& qs = tiles_buf;
  std::vector<float>& scales = scale_buf;
  acts.resize(static_cast<size_t>(n_tokens) * l.stride);
  qs.resize(static_cast<size_t>(n_pad * nb * 32));
  scales.resize(static_cast<size_t>(2 * nb * n_pad));
  quantize_activations(l, x, n_tokens, acts.data(), pool);
  float* ax = scales.data();
  float* as = ax + nb * n_pad;
  pool.parallel_for(n_pad, 16, [&](int, int64_t t0, int64_t t1) {
    arrange_acts(l, acts.data(), n_tokens, nb, n_pad, qs.data(), ax, as, t0, t1);
  });
  tile_memory_barrier();
  const Acts a{qs.data(), ax, as, n_pad};
  const int64_t n_panels = (w.rows() + kRows - 1) / kRows;
  if (const Packed* pk = repacked(w, pool)) {
    pool.parallel_for(n_panels, 1, [&](int, int64_t p0, int64_t p1) { run_panels(w, a, n_tokens, y, p0, p1, *pk, 0); });
    return;
  }
  pool.parallel_for(n_panels, 1, [&](int, int64_t p0, int64_t p1) { panels(w, a, n_tokens, y, p0, p1); });
#else
  (void)x, (void)n_tokens, (void)y, (void)pool;
#endif
}

bool amx_ready(const Tensor& w, int64_t n_tokens, ThreadPool& pool) {
  if (!amx_int8_handles(w.type) || amx_quant_as_bf16() || n_tokens >= kAmxPackPerCallMinTokens) return true;
#if SIEVE_HAVE_AMX
  return repacked(w, pool) != nullptr;
#else
  return false;
#endif
}

}  // namespace sieve::kernels::detail
