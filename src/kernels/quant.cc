// Scalar reference code for the block formats: dequantization and the
// activation quantizers. Written for clarity; the fast paths live in the
// dispatched kernels and are tested against these.
#include "kernels/quant.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "util/error.h"

namespace sieve::kernels {
namespace {

// llama.cpp's nearest_int: round half to even through the float adder. Valid
// for |f| < 2^22, which every caller guarantees.
int nearest_int(float f) {
  float v = f + 12582912.f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}

template <class B>
const B* blocks(const uint8_t* p) {
  return reinterpret_cast<const B*>(p);
}

void dequant_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = ((b[i].qs[j] & 0xF) - 8) * d;
      y[j + 16] = ((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequant_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = (b[i].qs[j] & 0xF) * d + m;
      y[j + 16] = (b[i].qs[j] >> 4) * d + m;
    }
  }
}

// The fifth bit of element j (j < 32) is bit j of the little-endian qh word.
template <class B>
int q5_value(const B& b, int j) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  const int lo = j < 16 ? (b.qs[j] & 0xF) : (b.qs[j - 16] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1u) << 4);
}

void dequant_q5_0(const BlockQ5_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = (q5_value(b[i], j) - 16) * d;
  }
}

void dequant_q5_1(const BlockQ5_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
    for (int j = 0; j < kQK; ++j) y[j] = q5_value(b[i], j) * d + m;
  }
}

template <class B>
void dequant_q8(const B* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = b[i].qs[j] * d;
  }
}

// Q4_K/Q5_K: 64 elements per 32 bytes of qs; the low nibbles are the first 32
// (sub-block 2k), the high nibbles the next 32 (sub-block 2k+1).
void dequant_q4_K(const BlockQ4_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    for (int j = 0; j < 8; ++j, y += 32) {
      uint8_t sc, m;
      scale_min_k4(j, b[i].scales, &sc, &m);
      const float dl = d * sc, ml = dmin * m;
      const uint8_t* q = b[i].qs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) y[l] = dl * ((j & 1) ? (q[l] >> 4) : (q[l] & 0xF)) - ml;
    }
  }
}

// Q5_K adds bit j of qh[l] as the fifth bit of element l of sub-block j.
void dequant_q5_K(const BlockQ5_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    for (int j = 0; j < 8; ++j, y += 32) {
      uint8_t sc, m;
      scale_min_k4(j, b[i].scales, &sc, &m);
      const float dl = d * sc, ml = dmin * m;
      const uint8_t* q = b[i].qs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        const int lo = (j & 1) ? (q[l] >> 4) : (q[l] & 0xF);
        y[l] = dl * (lo + (((b[i].qh[l] >> j) & 1) << 4)) - ml;
      }
    }
  }
}

// Q6_K: per 128 elements, 64 bytes of ql (low 4 bits) and 32 of qh (2 bits
// each); element 32*k + l takes ql nibble (k&1 ? ql[l+32] : ql[l], high
// nibble when k >= 2) and qh bits 2k..2k+1 of qh[l]. 16 scales, one per 16.
int q6_value(const BlockQ6_K& b, int e) {
  const int half = e / 128, k = (e % 128) / 32, l = e % 32;
  const uint8_t* ql = b.ql + 64 * half;
  const uint8_t* qh = b.qh + 32 * half;
  const uint8_t lb = ql[l + 32 * (k & 1)];
  const int lo = k >= 2 ? (lb >> 4) : (lb & 0xF);
  return (lo | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
}

void dequant_q6_K(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const float d = fp16_to_f32(b[i].d);
    for (int e = 0; e < kQKK; ++e) y[e] = d * b[i].scales[e / 16] * q6_value(b[i], e);
  }
}

void dequant_q8_K(const BlockQ8_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK)
    for (int e = 0; e < kQKK; ++e) y[e] = b[i].d * b[i].qs[e];
}

}  // namespace

DType activation_type(DType w) {
  switch (w) {
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: return DType::Q8_0;
    case DType::Q4_1: case DType::Q5_1: return DType::Q8_1;
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: return DType::Q8_K;
    case DType::F32: case DType::F16: case DType::BF16: return DType::F32;
    default: throw Error(std::string("matmul: no activation format for ") + dtype_name(w));
  }
}

void dequantize_row_ref(DType t, const uint8_t* src, float* dst, int64_t n) {
  const int64_t nb = n / dtype_info(t).block_elems;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16:
    case DType::BF16: {
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = t == DType::F16 ? fp16_to_f32(h) : bf16_to_f32(h);
      }
      return;
    }
    case DType::Q4_0: return dequant_q4_0(blocks<BlockQ4_0>(src), dst, nb);
    case DType::Q4_1: return dequant_q4_1(blocks<BlockQ4_1>(src), dst, nb);
    case DType::Q5_0: return dequant_q5_0(blocks<BlockQ5_0>(src), dst, nb);
    case DType::Q5_1: return dequant_q5_1(blocks<BlockQ5_1>(src), dst, nb);
    case DType::Q8_0: return dequant_q8(blocks<BlockQ8_0>(src), dst, nb);
    case DType::Q8_1: return dequant_q8(blocks<BlockQ8_1>(src), dst, nb);
    case DType::Q4_K: return dequant_q4_K(blocks<BlockQ4_K>(src), dst, nb);
    case DType::Q5_K: return dequant_q5_K(blocks<BlockQ5_K>(src), dst, nb);
    case DType::Q6_K: return dequant_q6_K(blocks<BlockQ6_K>(src), dst, nb);
    case DType::Q8_K: return dequant_q8_K(blocks<BlockQ8_K>(src), dst, nb);
  }
  throw Error(std::string("dequantize: unsupported type ") + dtype_name(t));
}

void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

void quantize_row_q8_1_ref(const float* x, BlockQ8_1* y, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].d = f32_to_fp16(d);
    y[i].s = f32_to_fp16(static_cast<float>(sum) * d);  // unrounded d, as llama.cpp
  }
}

void quantize_row_q8_K_ref(const float* x, BlockQ8_K* y, int64_t n) {
  for (int64_t i = 0; i < n / kQKK; ++i, x += kQKK) {
    float amax = 0, max = 0;  // max: the signed value of largest magnitude (first one)
    for (int j = 0; j < kQKK; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    std::memset(y[i].bsums, 0, sizeof(y[i].bsums));
    if (amax == 0) {
      y[i].d = 0;
      std::memset(y[i].qs, 0, sizeof(y[i].qs));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQKK; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
      y[i].bsums[j / 16] = static_cast<int16_t>(y[i].bsums[j / 16] + y[i].qs[j]);
    }
    y[i].d = 1 / iscale;
  }
}

double vec_dot_ref(DType w, const uint8_t* wrow, const void* act, int64_t n) {
  std::vector<float> wf(static_cast<size_t>(n)), xf(static_cast<size_t>(n));
  dequantize_row_ref(w, wrow, wf.data(), n);
  const DType a = activation_type(w);
  if (a == DType::F32) {
    std::memcpy(xf.data(), act, static_cast<size_t>(n) * 4);
  } else {
    dequantize_row_ref(a, static_cast<const uint8_t*>(act), xf.data(), n);
  }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(wf[i]) * xf[i];
  // Q4_1/Q5_1: llama.cpp takes the min term from the half-rounded s of Q8_1,
  // not from the quants; reproduce that so kernels can be checked tightly.
  if (a == DType::Q8_1) {
    const auto* xb = static_cast<const BlockQ8_1*>(act);
    const int64_t nb = n / kQK;
    for (int64_t i = 0; i < nb; ++i) {
      int qsum = 0;
      for (int j = 0; j < kQK; ++j) qsum += xb[i].qs[j];
      const double d = fp16_to_f32(xb[i].d), s = fp16_to_f32(xb[i].s);
      const double m = w == DType::Q4_1 ? fp16_to_f32(reinterpret_cast<const BlockQ4_1*>(wrow)[i].m)
                                        : fp16_to_f32(reinterpret_cast<const BlockQ5_1*>(wrow)[i].m);
      sum += m * (s - d * qsum);
    }
  }
  return sum;
}

}  // namespace sieve::kernels
