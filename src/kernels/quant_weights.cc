// Quantization from float into every weight format. These are simple
// reference quantizers: round to nearest under a min/max scale, with a small
// least-squares scale search for the K formats. They produce valid blocks in
// llama.cpp's layout; they are not tuned to llama.cpp's error levels.
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/quant.h"
#include "util/error.h"

namespace sieve::kernels {
namespace {

int round_clamp(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::lround(v)), lo, hi);
}

// The value of largest magnitude (the first one on ties), keeping its sign.
float signed_absmax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Symmetric 32-element blocks: the largest magnitude maps to -zero (the
// lowest level), as in llama.cpp, so the whole range [-zero, zero-1] is used.
void quant_sym32(const float* x, float* d_out, int* q, int zero) {
  const float d = signed_absmax(x, kQK) / static_cast<float>(-zero);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  *d_out = d;
  for (int j = 0; j < kQK; ++j) q[j] = round_clamp(x[j] * id, -zero, zero - 1) + zero;
}

// Asymmetric 32-element blocks: x ~ d*q + m with m the block minimum.
void quant_asym32(const float* x, float* d_out, float* m_out, int* q, int nmax) {
  float mn = x[0], mx = x[0];
  for (int j = 1; j < kQK; ++j) {
    mn = std::min(mn, x[j]);
    mx = std::max(mx, x[j]);
  }
  const float d = (mx - mn) / static_cast<float>(nmax);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  *d_out = d;
  *m_out = mn;
  for (int j = 0; j < kQK; ++j) q[j] = round_clamp((x[j] - mn) * id, 0, nmax);
}

void pack_nibbles(const int* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

void pack_q5_high(const int* q, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < kQK; ++j) h |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  std::memcpy(qh, &h, 4);
}

// Fits x ~ scale*l - min (l in [0, nmax], min >= 0) for one sub-block: tries a
// few level spacings around the min/max one and keeps the least-squares best.
void fit_scale_min(const float* x, int n, int nmax, float* scale, float* min) {
  float lo = 0, hi = 0;  // the zero level must stay representable: lo <= 0
  for (int j = 0; j < n; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  *scale = (hi - lo) / static_cast<float>(nmax);
  *min = -lo;
  if (hi == lo) return;
  double best = INFINITY;
  for (int k = -6; k <= 6; ++k) {
    const float iscale = (static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / (hi - lo);
    double sl = 0, sl2 = 0, sx = 0, sxl = 0;
    int l[kQK];
    for (int j = 0; j < n; ++j) {
      l[j] = round_clamp(iscale * (x[j] - lo), 0, nmax);
      sl += l[j];
      sl2 += static_cast<double>(l[j]) * l[j];
      sx += x[j];
      sxl += static_cast<double>(x[j]) * l[j];
    }
    // Least squares for x = s*l + b over the chosen levels; b <= 0 required.
    const double det = n * sl2 - sl * sl;
    if (det <= 0) continue;
    double s = (n * sxl - sx * sl) / det, b = (sl2 * sx - sl * sxl) / det;
    if (b > 0) {
      b = 0;
      s = sxl / sl2;
    }
    double err = 0;
    for (int j = 0; j < n; ++j) {
      const double e = s * l[j] + b - x[j];
      err += e * e;
    }
    if (err < best && s > 0) {
      best = err;
      *scale = static_cast<float>(s);
      *min = static_cast<float>(-b);
    }
  }
}

// Q4_K / Q5_K: eight sub-blocks of 32 with 6-bit scales and mins relative to
// the half-precision super-block d and dmin.
template <int kBits>
void quant_k45(const float* x, uint8_t* scales12, uint16_t* d16, uint16_t* dmin16, int* L) {
  constexpr int nmax = (1 << kBits) - 1;
  float sc[8], mn[8], max_sc = 0, max_mn = 0;
  for (int j = 0; j < 8; ++j) {
    fit_scale_min(x + 32 * j, 32, nmax, &sc[j], &mn[j]);
    max_sc = std::max(max_sc, sc[j]);
    max_mn = std::max(max_mn, mn[j]);
  }
  *d16 = f32_to_fp16(max_sc / 63);
  *dmin16 = f32_to_fp16(max_mn / 63);
  const float d = fp16_to_f32(*d16), dmin = fp16_to_f32(*dmin16);
  std::memset(scales12, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const int ls = d > 0 ? round_clamp(sc[j] / d, 0, 63) : 0;
    const int lm = dmin > 0 ? round_clamp(mn[j] / dmin, 0, 63) : 0;
    if (j < 4) {
      scales12[j] = static_cast<uint8_t>(ls);
      scales12[j + 4] = static_cast<uint8_t>(lm);
    } else {
      scales12[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      scales12[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      scales12[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  for (int j = 0; j < 8; ++j) {  // requantize against the rounded scales
    uint8_t ls, lm;
    scale_min_k4(j, scales12, &ls, &lm);
    const float dl = d * ls, ml = dmin * lm;
    for (int l = 0; l < 32; ++l)
      L[32 * j + l] = dl > 0 ? round_clamp((x[32 * j + l] + ml) / dl, 0, nmax) : 0;
  }
}

void quant_q4_K(const float* x, BlockQ4_K* y) {
  int L[kQKK];
  quant_k45<4>(x, y->scales, &y->d, &y->dmin, L);
  for (int p = 0; p < 4; ++p)
    for (int l = 0; l < 32; ++l)
      y->qs[32 * p + l] = static_cast<uint8_t>(L[64 * p + l] | (L[64 * p + 32 + l] << 4));
}

void quant_q5_K(const float* x, BlockQ5_K* y) {
  int L[kQKK];
  quant_k45<5>(x, y->scales, &y->d, &y->dmin, L);
  std::memset(y->qh, 0, sizeof(y->qh));
  for (int p = 0; p < 4; ++p)
    for (int l = 0; l < 32; ++l)
      y->qs[32 * p + l] = static_cast<uint8_t>((L[64 * p + l] & 0xF) | ((L[64 * p + 32 + l] & 0xF) << 4));
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l) y->qh[l] |= static_cast<uint8_t>(((L[32 * j + l] >> 4) & 1) << j);
}

// Q6_K: sixteen groups of 16 with signed 8-bit scales; levels -32..31.
void quant_q6_K(const float* x, BlockQ6_K* y) {
  float sc[16], max_sc = 0;
  for (int g = 0; g < 16; ++g) {
    const float* xg = x + 16 * g;
    const float max = signed_absmax(xg, 16);
    sc[g] = 0;
    if (max == 0) continue;
    double best = INFINITY;
    for (int k = -4; k <= 4; ++k) {  // least-squares scale for a few level grids
      const float iscale = -(32.f + 0.25f * static_cast<float>(k)) / max;
      double sxl = 0, sl2 = 0;
      int l[16];
      for (int j = 0; j < 16; ++j) {
        l[j] = round_clamp(iscale * xg[j], -32, 31);
        sxl += static_cast<double>(xg[j]) * l[j];
        sl2 += static_cast<double>(l[j]) * l[j];
      }
      if (sl2 == 0) continue;
      const double s = sxl / sl2;
      double err = 0;
      for (int j = 0; j < 16; ++j) err += (s * l[j] - xg[j]) * (s * l[j] - xg[j]);
      if (err < best) {
        best = err;
        sc[g] = static_cast<float>(s);
      }
    }
    if (std::fabs(sc[g]) > std::fabs(max_sc)) max_sc = sc[g];
  }
  std::memset(y, 0, sizeof(*y));
  if (max_sc == 0) return;
  y->d = f32_to_fp16(max_sc / -128);
  const float d = fp16_to_f32(y->d);
  int L[kQKK];
  for (int g = 0; g < 16; ++g) {
    y->scales[g] = static_cast<int8_t>(d != 0 ? round_clamp(sc[g] / d, -128, 127) : 0);
    const float dl = d * y->scales[g];
    for (int j = 0; j < 16; ++j) L[16 * g + j] = (dl != 0 ? round_clamp(x[16 * g + j] / dl, -32, 31) : 0) + 32;
  }
  for (int h = 0; h < 2; ++h) {
    const int* Lh = L + 128 * h;
    for (int l = 0; l < 32; ++l) {
      y->ql[64 * h + l] = static_cast<uint8_t>((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
      y->ql[64 * h + l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
      y->qh[32 * h + l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                               ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
    }
  }
}

template <class B>
B* out_blocks(uint8_t* p) {
  return reinterpret_cast<B*>(p);
}

}  // namespace

void quantize_row(DType t, const float* x, uint8_t* dst, int64_t n) {
  const int64_t nb = n / dtype_info(t).block_elems;
  int q[kQK];
  float d, m;
  switch (t) {
    case DType::F32: std::memcpy(dst, x, static_cast<size_t>(n) * 4); return;
    case DType::F16:
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = t == DType::F16 ? f32_to_fp16(x[i]) : f32_to_bf16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case DType::Q4_0:
      for (int64_t i = 0; i < nb; ++i) {
        auto& b = out_blocks<BlockQ4_0>(dst)[i];
        quant_sym32(x + i * kQK, &d, q, 8);
        b.d = f32_to_fp16(d);
        pack_nibbles(q, b.qs);
      }
      return;
    case DType::Q5_0:
      for (int64_t i = 0; i < nb; ++i) {
        auto& b = out_blocks<BlockQ5_0>(dst)[i];
        quant_sym32(x + i * kQK, &d, q, 16);
        b.d = f32_to_fp16(d);
        pack_nibbles(q, b.qs);
        pack_q5_high(q, b.qh);
      }
      return;
    case DType::Q4_1:
      for (int64_t i = 0; i < nb; ++i) {
        auto& b = out_blocks<BlockQ4_1>(dst)[i];
        quant_asym32(x + i * kQK, &d, &m, q, 15);
        b.d = f32_to_fp16(d);
        b.m = f32_to_fp16(m);
        pack_nibbles(q, b.qs);
      }
      return;
    case DType::Q5_1:
      for (int64_t i = 0; i < nb; ++i) {
        auto& b = out_blocks<BlockQ5_1>(dst)[i];
        quant_asym32(x + i * kQK, &d, &m, q, 31);
        b.d = f32_to_fp16(d);
        b.m = f32_to_fp16(m);
        pack_nibbles(q, b.qs);
        pack_q5_high(q, b.qh);
      }
      return;
    case DType::Q8_0: return quantize_row_q8_0_ref(x, out_blocks<BlockQ8_0>(dst), n);
    case DType::Q8_1: return quantize_row_q8_1_ref(x, out_blocks<BlockQ8_1>(dst), n);
    case DType::Q8_K: return quantize_row_q8_K_ref(x, out_blocks<BlockQ8_K>(dst), n);
    case DType::Q4_K:
      for (int64_t i = 0; i < nb; ++i) quant_q4_K(x + i * kQKK, out_blocks<BlockQ4_K>(dst) + i);
      return;
    case DType::Q5_K:
      for (int64_t i = 0; i < nb; ++i) quant_q5_K(x + i * kQKK, out_blocks<BlockQ5_K>(dst) + i);
      return;
    case DType::Q6_K:
      for (int64_t i = 0; i < nb; ++i) quant_q6_K(x + i * kQKK, out_blocks<BlockQ6_K>(dst) + i);
      return;
  }
  throw Error(std::string("quantize: unsupported type ") + dtype_name(t));
}

}  // namespace sieve::kernels
