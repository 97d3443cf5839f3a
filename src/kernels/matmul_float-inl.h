// SIMD kernels for F32/F16/BF16 weights times float32 activations, compiled
// once per Highway target by matmul_float.cc. Weights are widened to float32
// exactly (bf16/f16 -> f32 is lossless) and all products and sums are float32,
// so results match a float32 reference up to summation order.
//
// Two kernels:
//  * DotTile (decode and batches under gemm_min_tokens): R rows x T tokens of
//    dot products along the row; each weight vector is loaded once and used
//    for T tokens. Decode (1-3 tokens) goes one row at a time, a single
//    sequential stream prefetched into L2 (prefetch.h), as it is memory-bound.
//  * Panel GEMM (prefill): NR rows are widened once into a float panel laid
//    out column-major ([k][NR]), then an outer-product micro-kernel keeps a
//    kMR tokens x NR rows block of accumulators in registers: per column it
//    loads kRV weight vectors and broadcasts kMR activations, so each loaded
//    weight feeds kMR FMAs and no horizontal sums are needed. Large batches of
//    block-quantized weights use it too, on panels dequantized to float32
//    (MatmulDequantPanels).

#if defined(SIEVE_KERNELS_MATMUL_FLOAT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SIEVE_KERNELS_MATMUL_FLOAT_INL_H_
#undef SIEVE_KERNELS_MATMUL_FLOAT_INL_H_
#else
#define SIEVE_KERNELS_MATMUL_FLOAT_INL_H_
#endif

#include <algorithm>
#include <cstring>
#include <vector>

#include "format/tensor.h"
#include "hwy/highway.h"
#include "kernels/prefetch.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"
#include "kernels/unroll.h"

HWY_BEFORE_NAMESPACE();
namespace sieve::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Lanes(df) weights of a row from column c, widened to float.
template <DType kT>
HWY_INLINE VF LoadWeights(DF df, const uint8_t* HWY_RESTRICT row, int64_t c) {
  if constexpr (kT == DType::F32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(row) + c);
  } else if constexpr (kT == DType::BF16) {
    const hn::Rebind<hwy::bfloat16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::bfloat16_t*>(row) + c));
  } else {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + c));
  }
}

template <DType kT>
HWY_INLINE float WeightAt(const uint8_t* row, int64_t c) {
  if constexpr (kT == DType::F32) {
    float f;
    std::memcpy(&f, row + 4 * c, 4);
    return f;
  } else {
    uint16_t h;
    std::memcpy(&h, row + 2 * c, 2);
    return kT == DType::BF16 ? bf16_to_f32(h) : fp16_to_f32(h);
  }
}

// y[t * ldy + r] = rows[r] . xs[t] for r < R, t < T (R consecutive rows).
// Each step also prefetches, in address order, the bytes it reads at
// `ahead` (prefetch.h), so the prefetch stream is sequential even when R > 1
// rows are read interleaved (a pattern the hardware prefetchers follow badly
// from DRAM: 9 GB/s on one Zen 4 core vs 25 for a plain stream).
template <DType kT, int R, int T>
HWY_NOINLINE void DotTile(const uint8_t* const* rows, const float* const* xs, int64_t k, float* y,
                          int64_t ldy, const uint8_t* ahead) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  constexpr int64_t kBytes = kT == DType::F32 ? 4 : 2;  // per weight
  // A single row and token gets U independent sums (FMA latency; decode
  // measured ~15% faster than with one).
  constexpr int U = R * T == 1 ? 4 : 1;
  VF acc[R][T][U];
  SIEVE_UNROLL
  for (int r = 0; r < R; ++r)
    SIEVE_UNROLL
    for (int t = 0; t < T; ++t)
      SIEVE_UNROLL
      for (int u = 0; u < U; ++u) acc[r][t][u] = hn::Zero(df);
  int64_t c = 0;
  for (; c + U * N <= k; c += U * N) {
    for (int64_t o = 0; o < R * U * N * kBytes; o += 64) prefetch_l2(ahead + R * c * kBytes + o);
    SIEVE_UNROLL
    for (int u = 0; u < U; ++u) {
      VF xv[T];
      SIEVE_UNROLL
      for (int t = 0; t < T; ++t) xv[t] = hn::LoadU(df, xs[t] + c + u * N);
      SIEVE_UNROLL
      for (int r = 0; r < R; ++r) {
        const VF wv = LoadWeights<kT>(df, rows[r], c + u * N);
        SIEVE_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t][u] = hn::MulAdd(wv, xv[t], acc[r][t][u]);
      }
    }
  }
  for (; c + N <= k; c += N) {
    SIEVE_UNROLL
    for (int r = 0; r < R; ++r) {
      const VF wv = LoadWeights<kT>(df, rows[r], c);
      SIEVE_UNROLL
      for (int t = 0; t < T; ++t) acc[r][t][0] = hn::MulAdd(wv, hn::LoadU(df, xs[t] + c), acc[r][t][0]);
    }
  }
  SIEVE_UNROLL
  for (int r = 0; r < R; ++r) {
    SIEVE_UNROLL
    for (int t = 0; t < T; ++t) {
      VF sum = acc[r][t][0];
      SIEVE_UNROLL
      for (int u = 1; u < U; ++u) sum = hn::Add(sum, acc[r][t][u]);
      float s = hn::GetLane(hn::SumOfLanes(df, sum));
      for (int64_t cc = c; cc < k; ++cc) s += WeightAt<kT>(rows[r], cc) * xs[t][cc];
      y[t * ldy + r] = s;
    }
  }
}

template <DType kT, int R>
void DotRows(int T, const uint8_t* const* rows, const float* const* xs, int64_t k, float* y, int64_t ldy,
             const uint8_t* ahead) {
  switch (T) {
    case 1: return DotTile<kT, R, 1>(rows, xs, k, y, ldy, ahead);
    case 2: return DotTile<kT, R, 2>(rows, xs, k, y, ldy, ahead);
    case 3: return DotTile<kT, R, 3>(rows, xs, k, y, ldy, ahead);
    default: return DotTile<kT, R, 4>(rows, xs, k, y, ldy, ahead);
  }
}

// Rows [g0*4, g1*4) of the row-dot path; each group of 4 rows stays in L1
// while all tokens pass over it, 4 tokens at a time. Up to 3 tokens (decode:
// memory-bound) go row by row instead: one purely sequential stream per
// thread measured 30% faster on a real decode step than 4 interleaved rows.
template <DType kT>
void DotPath(const Tensor& w, const float* x, int64_t n_tokens, float* y, int64_t g0, int64_t g1) {
  const int64_t k = w.row_length(), rows = w.rows();
  for (int64_t g = g0; g < g1; ++g) {
    const int64_t r0 = g * 4, nr = std::min<int64_t>(4, rows - r0);
    // ~16 KiB on (measured best on Zen 4); past the tensor at the end, but
    // prefetches never fault.
    const uint8_t* ahead = w.data + static_cast<size_t>(r0) * w.row_bytes() + prefetch_distance(w.row_bytes(), 4);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += 4) {
      const int T = static_cast<int>(std::min<int64_t>(4, n_tokens - t0));
      const float* xs[4];
      SIEVE_UNROLL
      for (int t = 0; t < T; ++t) xs[t] = x + (t0 + t) * k;
      float* yt = y + t0 * rows + r0;
      if (nr == 4 && n_tokens > 3) {
        const uint8_t* rp[4] = {w.row(r0), w.row(r0 + 1), w.row(r0 + 2), w.row(r0 + 3)};
        DotRows<kT, 4>(T, rp, xs, k, yt, rows, ahead);
      } else {
        for (int64_t r = 0; r < nr; ++r) {
          const uint8_t* rp[1] = {w.row(r0 + r)};
          DotRows<kT, 1>(T, rp, xs, k, yt + r, rows, ahead + static_cast<size_t>(r) * w.row_bytes());
        }
      }
    }
  }
}

// Register blocking of the panel GEMM: kMR tokens x kRV vectors of rows.
// AVX-512 has 32 registers: 6x4 accumulators + 4 weights + 1 broadcast.
// With 16 registers: 6x2 + 2 + 1.
constexpr int kMR = 6;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr int kRV = 4;
#else
constexpr int kRV = 2;
#endif

// Widens rows [0, nrows) of the panel into panel[c * NR + r]; rows nrows..NR
// are zero so the micro-kernel never needs a row tail. Four rows at a time:
// StoreInterleaved4 turns their vectors into [c][4] runs, each copied to its
// column of the panel (a transpose without per-element scalar work).
template <DType kT>
void PackPanel(const uint8_t* w0, size_t row_bytes, int64_t nrows, int64_t k, int64_t NR, float* panel) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto weight = [&](int64_t r, int64_t c) {
    return r < nrows ? WeightAt<kT>(w0 + static_cast<size_t>(r) * row_bytes, c) : 0.0f;
  };
  if (NR % 4 != 0) {  // HWY_SCALAR
    for (int64_t c = 0; c < k; ++c)
      for (int64_t r = 0; r < NR; ++r) panel[c * NR + r] = weight(r, c);
    return;
  }
  HWY_ALIGN float tmp[4 * hn::MaxLanes(DF())];
  const int64_t kv = k - k % N;
  for (int64_t r = 0; r < NR; r += 4) {
    const uint8_t* rp[4];
    for (int i = 0; i < 4; ++i) rp[i] = w0 + static_cast<size_t>(std::min(r + i, nrows - 1)) * row_bytes;
    for (int64_t c = 0; c < kv; c += N) {
      VF v[4];
      for (int i = 0; i < 4; ++i) v[i] = r + i < nrows ? LoadWeights<kT>(df, rp[i], c) : hn::Zero(df);
      hn::StoreInterleaved4(v[0], v[1], v[2], v[3], df, tmp);
      for (int64_t j = 0; j < N; ++j) std::memcpy(panel + (c + j) * NR + r, tmp + 4 * j, 16);
    }
    for (int64_t c = kv; c < k; ++c)
      for (int64_t i = 0; i < 4; ++i) panel[c * NR + r + i] = weight(r + i, c);
  }
}

// out[t * NR + r] = sum_c panel[c * NR + r] * xs[t][c] for t < kMR, r < NR.
HWY_NOINLINE void PanelTile(const float* HWY_RESTRICT panel, int64_t k, const float* const* xs,
                            float* HWY_RESTRICT out) {
  const DF df;
  const size_t N = hn::Lanes(df), NR = kRV * N;
  const float* HWY_RESTRICT x[kMR];
  SIEVE_UNROLL
  for (int t = 0; t < kMR; ++t) x[t] = xs[t];
  VF acc[kMR][kRV];
  SIEVE_UNROLL
  for (int t = 0; t < kMR; ++t)
    SIEVE_UNROLL
    for (int j = 0; j < kRV; ++j) acc[t][j] = hn::Zero(df);
  for (int64_t c = 0; c < k; ++c) {
    const float* HWY_RESTRICT wc = panel + static_cast<size_t>(c) * NR;
    VF wv[kRV];
    SIEVE_UNROLL
    for (int j = 0; j < kRV; ++j) wv[j] = hn::LoadU(df, wc + j * N);
    SIEVE_UNROLL
    for (int t = 0; t < kMR; ++t) {
      const VF b = hn::Set(df, x[t][c]);
      SIEVE_UNROLL
      for (int j = 0; j < kRV; ++j) acc[t][j] = hn::MulAdd(wv[j], b, acc[t][j]);
    }
  }
  SIEVE_UNROLL
  for (int t = 0; t < kMR; ++t)
    SIEVE_UNROLL
    for (int j = 0; j < kRV; ++j) hn::StoreU(acc[t][j], df, out + t * NR + j * N);
}

// Panels [p0, p1) of the GEMM; pack(r0, nr, panel) fills one panel.
template <class PackFn>
void PanelLoop(const Tensor& w, const float* x, int64_t n_tokens, float* y, int64_t p0, int64_t p1,
               const PackFn& pack) {
  const DF df;
  const int64_t k = w.row_length(), rows = w.rows();
  const int64_t NR = kRV * static_cast<int64_t>(hn::Lanes(df));
  thread_local std::vector<float> panel, tile;
  panel.resize(static_cast<size_t>(k * NR));
  tile.resize(static_cast<size_t>(kMR * NR));
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t r0 = p * NR, nr = std::min(NR, rows - r0);
    pack(r0, nr, panel.data());
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kMR) {
      const int64_t nt = std::min<int64_t>(kMR, n_tokens - t0);
      const float* xs[kMR];  // a short last tile repeats its last token
      SIEVE_UNROLL
      for (int t = 0; t < kMR; ++t) xs[t] = x + (t0 + std::min<int64_t>(t, nt - 1)) * k;
      PanelTile(panel.data(), k, xs, tile.data());
      for (int64_t t = 0; t < nt; ++t)
        std::memcpy(y + (t0 + t) * rows + r0, tile.data() + t * NR, static_cast<size_t>(nr) * 4);
    }
  }
}

template <DType kT>
void PanelPath(const Tensor& w, const float* x, int64_t n_tokens, float* y, int64_t p0, int64_t p1) {
  const int64_t k = w.row_length(), NR = kRV * static_cast<int64_t>(hn::Lanes(DF()));
  PanelLoop(w, x, n_tokens, y, p0, p1, [&](int64_t r0, int64_t nr, float* panel) {
    PackPanel<kT>(w.row(r0), w.row_bytes(), nr, k, NR, panel);
  });
}

// Block-quantized weights in a large batch: each panel's rows are first
// dequantized exactly into float32, then packed and multiplied as F32
// weights. The integer kernels (matmul_quant-inl.h) spend about three
// instructions per block on each row and token (dot product, conversion,
// scale), so from a few hundred tokens on, dequantizing once per panel and
// running the float micro-kernel is faster, and exact in the activations.
void MatmulDequantPanels(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const int64_t k = w.row_length(), rows = w.rows();
  const int64_t NR = kRV * static_cast<int64_t>(hn::Lanes(DF()));
  pool.parallel_for((rows + NR - 1) / NR, 1, [&](int, int64_t p0, int64_t p1) {
    thread_local std::vector<float> dequantized;
    dequantized.resize(static_cast<size_t>(NR * k));
    PanelLoop(w, x, n_tokens, y, p0, p1, [&](int64_t r0, int64_t nr, float* panel) {
      for (int64_t r = 0; r < nr; ++r) dequantize_row_ref(w.type, w.row(r0 + r), dequantized.data() + r * k, k);
      PackPanel<DType::F32>(reinterpret_cast<const uint8_t*>(dequantized.data()), static_cast<size_t>(k) * 4, nr, k,
                            NR, panel);
    });
  });
}

template <DType kT>
void MatmulFloatT(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
                  int gemm_min_tokens) {
  const int64_t rows = w.rows();
  if (n_tokens < gemm_min_tokens) {
    // One contiguous half per thread: a single long stream each reads DRAM
    // faster than chunks handed out at run time (measured).
    pool.parallel_for((rows + 3) / 4, 1, [&](int, int64_t g0, int64_t g1) {
      DotPath<kT>(w, x, n_tokens, y, g0, g1);
    });
    return;
  }
  const int64_t NR = kRV * static_cast<int64_t>(hn::Lanes(DF()));
  pool.parallel_for((rows + NR - 1) / NR, 1, [&](int, int64_t p0, int64_t p1) {
    PanelPath<kT>(w, x, n_tokens, y, p0, p1);
  });
}

void MatmulFloat(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
                 int gemm_min_tokens) {
  switch (w.type) {
    case DType::F32: return MatmulFloatT<DType::F32>(w, x, n_tokens, y, pool, gemm_min_tokens);
    case DType::F16: return MatmulFloatT<DType::F16>(w, x, n_tokens, y, pool, gemm_min_tokens);
    default: return MatmulFloatT<DType::BF16>(w, x, n_tokens, y, pool, gemm_min_tokens);
  }
}

}  // namespace sieve::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
