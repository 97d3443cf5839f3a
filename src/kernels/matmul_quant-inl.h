// Matrix products of block-quantized weights with quantized activations,
// compiled per Highway target by matmul_quant.cc. As llama.cpp's vec_dot
// kernels: the activations of each token are quantized once (Q8_0, Q8_1 or
// Q8_K), every block contributes an exact integer dot product, and only the
// block scales are applied in float.
//
// Work is split into tiles of kQR weight rows: a tile's rows are unpacked once
// (quant_unpack-inl.h) into L1-resident arrays, then all tokens pass over
// them kQT at a time. Each unpacked weight vector thus feeds kQT tokens
// (prefill reads every weight byte once per call, not once per token).
// Decode (one token) skips the scratch on the 256-bit x86 targets
// (quant_gemv-inl.h) and is the same tile loop with T = 1 elsewhere.

#if defined(SIEVE_KERNELS_MATMUL_QUANT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SIEVE_KERNELS_MATMUL_QUANT_INL_H_
#undef SIEVE_KERNELS_MATMUL_QUANT_INL_H_
#else
#define SIEVE_KERNELS_MATMUL_QUANT_INL_H_
#endif

#include <algorithm>
#include <vector>

#include "format/tensor.h"
#include "hwy/highway.h"
#include "kernels/prefetch.h"
#include "kernels/quant.h"
#include "kernels/quant_act-inl.h"
#include "kernels/quant_dot-inl.h"
#include "kernels/quant_gemv-inl.h"
#include "kernels/quant_layout.h"
#include "kernels/quant_unpack-inl.h"
#include "kernels/thread_pool.h"
#include "kernels/unroll.h"

HWY_BEFORE_NAMESPACE();
namespace sieve::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows per tile and tokens per pass. kQR x kQT float accumulators plus the
// integer temporaries must fit the register file: 32 registers with AVX-512
// (AVX3 targets, which still use 256-bit vectors here), 16 otherwise.
constexpr int kQR = 4;
#if SIEVE_Q256 && HWY_TARGET != HWY_AVX2
constexpr int kQT = 4;
#else
constexpr int kQT = 2;
#endif

HWY_INLINE float ReduceSum(VQF v) { return hn::GetLane(hn::SumOfLanes(DQF(), v)); }

// How a 32-element format's levels become signed weights.
enum class Kind32 {
  kSigned,     // Q8_0 without VNNI: q itself (sign trick)
  kZeroPoint,  // Q4_0/Q5_0 (and Q8_0 with VNNI): l - z, z from the block sums of x
  kMin,        // Q4_1/Q5_1: d * l + m, m times Q8_1's s
};

// 32-element formats. out[t * kQR + r] = row r . token t.
template <Kind32 kKind, int T>
HWY_NOINLINE void Tile32(const UnpackedRow* rows, const ActView* xs, int64_t nb, int32_t zero, float* out) {
  constexpr bool kSigned = kKind == Kind32::kSigned;
  const DQF df;
  const DQI di;
  VQF acc[kQR][T];
  SIEVE_UNROLL
  for (int r = 0; r < kQR; ++r)
    SIEVE_UNROLL
    for (int t = 0; t < T; ++t) acc[r][t] = hn::Zero(df);
  for (int64_t b = 0; b < nb; ++b) {
    VQF dx[T];
    VQI corr[T];  // -z * sum of the block's x, in one lane
    SIEVE_UNROLL
    for (int t = 0; t < T; ++t) {
      dx[t] = hn::Set(df, xs[t].d[b]);
      corr[t] = kKind == Kind32::kZeroPoint ? Lane0(-zero * xs[t].bs[b]) : hn::Zero(di);
    }
    SIEVE_UNROLL
    for (int r = 0; r < kQR; ++r) {
      const W32 w = LoadW32<kSigned>(rows[r].w + b * kQK, rows[r].s + b * kQK);
      const VQF dw = hn::Set(df, rows[r].d[b]);
      SIEVE_UNROLL
      for (int t = 0; t < T; ++t) {
        const int8_t* x = xs[t].qs + b * kQK;
        const VQI i = kSigned ? DotSigned(w, x) : kKind == Kind32::kZeroPoint ? DotUnsignedAcc(corr[t], w, x)
                                                                              : DotUnsigned(w, x);
        acc[r][t] = hn::MulAdd(hn::Mul(hn::ConvertTo(df, i), dw), dx[t], acc[r][t]);
      }
    }
  }
  // Q4_1/Q5_1: + min * (d * sum of quants) of every block, folded into the
  // accumulator lanes (they are all summed in the end anyway).
  const size_t N = hn::Lanes(df);
  int64_t b0 = 0;
  if constexpr (kKind == Kind32::kMin) {
    for (; b0 + static_cast<int64_t>(N) <= nb; b0 += static_cast<int64_t>(N)) {
      SIEVE_UNROLL
      for (int r = 0; r < kQR; ++r)
        SIEVE_UNROLL
        for (int t = 0; t < T; ++t)
          acc[r][t] = hn::MulAdd(hn::LoadU(df, rows[r].m + b0), hn::LoadU(df, xs[t].s + b0), acc[r][t]);
    }
  }
  SIEVE_UNROLL
  for (int r = 0; r < kQR; ++r) {
    SIEVE_UNROLL
    for (int t = 0; t < T; ++t) {
      float sum = ReduceSum(acc[r][t]);
      if constexpr (kKind == Kind32::kMin) {
        for (int64_t b = b0; b < nb; ++b) sum += rows[r].m[b] * xs[t].s[b];
      }
      out[t * kQR + r] = sum;
    }
  }
}

// K formats: per super-block, sum over 16-groups of scale * (w . x) in int32,
// times d * dx; minus dmin * dx * sum of min multiplier * group sum of x.
template <int T>
HWY_NOINLINE void TileK(const UnpackedRow* rows, const ActView* xs, int64_t nsb, float* out) {
  const DQF df;
  const DQI di;
  VQF acc[kQR][T];
  SIEVE_UNROLL
  for (int r = 0; r < kQR; ++r)
    SIEVE_UNROLL
    for (int t = 0; t < T; ++t) acc[r][t] = hn::Zero(df);
  for (int64_t b = 0; b < nsb; ++b) {
    // kQR x T independent integer chains per 32-element step keep the
    // multiply pipes busy; the float accumulators are touched once per
    // super-block only (so spilling them, with T = 4, costs little).
    VQI isum[kQR][T];
    SIEVE_UNROLL
    for (int r = 0; r < kQR; ++r)
      SIEVE_UNROLL
      for (int t = 0; t < T; ++t) isum[r][t] = hn::Zero(di);
    SIEVE_UNROLL
    for (int g = 0; g < kQKK / 32; ++g) {
      const int64_t e = b * kQKK + 32 * g;
      SIEVE_UNROLL
      for (int r = 0; r < kQR; ++r) {
        const WK w = LoadWK(rows[r].w + e, rows[r].sc + e / 2);
        SIEVE_UNROLL
        for (int t = 0; t < T; ++t) isum[r][t] = DotScaledAcc(isum[r][t], w, xs[t].qs + e);
      }
    }
    SIEVE_UNROLL
    for (int r = 0; r < kQR; ++r) {
      const float d = rows[r].d[b], dmin = rows[r].m[b];
      SIEVE_UNROLL
      for (int t = 0; t < T; ++t) {
        const VQF mins = hn::ConvertTo(df, Dot16x16(rows[r].mn + 16 * b, xs[t].bs + 16 * b));
        acc[r][t] = hn::MulAdd(hn::ConvertTo(df, isum[r][t]), hn::Set(df, d * xs[t].d[b]), acc[r][t]);
        acc[r][t] = hn::NegMulAdd(mins, hn::Set(df, dmin * xs[t].d[b]), acc[r][t]);
      }
    }
  }
  SIEVE_UNROLL
  for (int r = 0; r < kQR; ++r)
    SIEVE_UNROLL
    for (int t = 0; t < T; ++t) out[t * kQR + r] = ReduceSum(acc[r][t]);
}

template <int T>
HWY_INLINE void RunTile(DType wt, const UnpackedRow* rows, const ActView* xs, int64_t k, float* out) {
  switch (wt) {
    case DType::Q4_0: return Tile32<Kind32::kZeroPoint, T>(rows, xs, k / kQK, 8, out);
    case DType::Q5_0: return Tile32<Kind32::kZeroPoint, T>(rows, xs, k / kQK, 16, out);
#if SIEVE_VNNI
    case DType::Q8_0: return Tile32<Kind32::kZeroPoint, T>(rows, xs, k / kQK, 128, out);
#else
    case DType::Q8_0: return Tile32<Kind32::kSigned, T>(rows, xs, k / kQK, 0, out);
#endif
    case DType::Q4_1:
    case DType::Q5_1: return Tile32<Kind32::kMin, T>(rows, xs, k / kQK, 0, out);
    default: return TileK<T>(rows, xs, k / kQKK, out);
  }
}

// Row tiles [g0, g1): unpack kQR rows (a short last tile repeats its last row),
// then every token passes over them.
inline void QuantRowTiles(const Tensor& w, const ActLayout& l, const uint8_t* acts, int64_t n_tokens, float* y,
                          int64_t g0, int64_t g1) {
  const int64_t k = w.row_length(), rows = w.rows();
  const size_t row_bytes = unpacked_row_bytes(k);
  thread_local std::vector<uint8_t> scratch;
  scratch.resize(kQR * row_bytes + 64);
  uint8_t* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) & ~uintptr_t{63});
  UnpackedRow u[kQR];
  for (int i = 0; i < kQR; ++i) u[i] = carve_unpacked_row(base + i * row_bytes, k);
  float out[kQT * kQR];
#if SIEVE_Q256
  if (n_tokens == 1) {
    // Decode: blocks straight into registers, one row after the other. A
    // single sequential stream per thread measured up to 3x faster (Q8_0)
    // than 4 rows read interleaved.
    const ActView x = MakeActView(l, acts, 0);
    const size_t ahead = prefetch_distance(w.row_bytes(), 1);
    for (int64_t r = g0 * kQR; r < std::min(rows, g1 * kQR); ++r) {
      const uint8_t* rp[1] = {w.row(r)};
      GemvRows<1>(w.type, rp, x, k, out, ahead);
      y[r] = out[0];
    }
    return;
  }
#endif
  for (int64_t g = g0; g < g1; ++g) {
    const int64_t r0 = g * kQR, nr = std::min<int64_t>(kQR, rows - r0);
    UnpackedRow tile[kQR];
    for (int i = 0; i < kQR; ++i) {
      if (i < nr) UnpackRow(w.type, w.row(r0 + i), k, u[i]);
      tile[i] = u[std::min<int64_t>(i, nr - 1)];
    }
    int64_t t0 = 0;
    for (; t0 + kQT <= n_tokens; t0 += kQT) {
      ActView xs[kQT];
      for (int t = 0; t < kQT; ++t) xs[t] = MakeActView(l, acts, t0 + t);
      RunTile<kQT>(w.type, tile, xs, k, out);
      for (int t = 0; t < kQT; ++t)
        for (int64_t r = 0; r < nr; ++r) y[(t0 + t) * rows + r0 + r] = out[t * kQR + r];
    }
    for (; t0 < n_tokens; ++t0) {
      const ActView xs[1] = {MakeActView(l, acts, t0)};
      RunTile<1>(w.type, tile, xs, k, out);
      for (int64_t r = 0; r < nr; ++r) y[t0 * rows + r0 + r] = out[r];
    }
  }
}

// Activation buffer shared by the pool's threads during one call.
inline std::vector<uint8_t>& ActBuffer() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}

void MatmulQuant(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const int64_t k = w.row_length(), rows = w.rows();
  const ActLayout l = act_layout(activation_type(w.type), k);
  std::vector<uint8_t>& buf = ActBuffer();
  buf.resize(static_cast<size_t>(n_tokens) * l.stride);
  uint8_t* acts = buf.data();
  if (n_tokens == 1) {
    QuantizeActs(l, x, 0, 1, acts);
  } else {
    pool.parallel_for(n_tokens, 1, [&](int, int64_t t0, int64_t t1) { QuantizeActs(l, x, t0, t1, acts); });
  }
  pool.parallel_for((rows + kQR - 1) / kQR, 1, [&](int, int64_t g0, int64_t g1) {
    QuantRowTiles(w, l, acts, n_tokens, y, g0, g1);
  });
}

// For tests: the SIMD quantizer's output.
void QuantizeActsForTest(const ActLayout& l, const float* x, int64_t n_tokens, uint8_t* out) {
  QuantizeActs(l, x, 0, n_tokens, out);
}

}  // namespace sieve::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
