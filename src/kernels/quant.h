#pragma once
// llama.cpp's block formats, byte for byte, and the scalar reference code for
// them: dequantization of every weight type, the activation quantizers (Q8_0,
// Q8_1, Q8_K) with llama.cpp's exact rounding, and simple quantizers from float
// for every weight type. The SIMD kernels are tested against this file.
#include <cstdint>
#include <cstring>

#include "format/dtype.h"
#include "util/half.h"

namespace sieve::kernels {

constexpr int kQK = 32;    // elements per block of the 32-element formats
constexpr int kQKK = 256;  // elements per super-block of the K formats

// Halves are stored as raw IEEE binary16 bits (uint16_t), as in GGUF files.
struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
struct BlockQ8_1 { uint16_t d, s; int8_t qs[32]; };  // s = d * sum(qs), rounded to half
// scales: eight 6-bit scales and eight 6-bit mins, packed (see scale_min_k4).
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[256]; int16_t bsums[16]; };  // bsums: sums of 16 qs

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// Half conversions (util/half.h), under the names the kernels use.
inline float fp16_to_f32(uint16_t h) { return f16_to_f32(h); }
inline uint16_t f32_to_fp16(float f) { return f32_to_f16(f); }

// The j-th (j < 8) 6-bit scale and min of a Q4_K/Q5_K super-block.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The activation format llama.cpp pairs with a weight type: Q8_0 for
// Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K formats, F32 (no
// quantization) for F32/F16/BF16.
DType activation_type(DType weight);

// Scalar reference dequantization of n elements (whole blocks), any type
// including the activation types Q8_1 and Q8_K.
void dequantize_row_ref(DType t, const uint8_t* src, float* dst, int64_t n);

// llama.cpp's reference activation quantizers (round half away from zero for
// Q8_0/Q8_1, round half to even with scale -127/max for Q8_K).
void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_1_ref(const float* x, BlockQ8_1* y, int64_t n);
void quantize_row_q8_K_ref(const float* x, BlockQ8_K* y, int64_t n);

// Quantizes n floats (whole blocks) into type t: every weight type and the
// activation types. Simple reference quantizers (round to nearest with a
// min/max scale, plus a small scale search for the K formats); good enough for
// test fixtures and a `quantize` command, not tuned like llama.cpp's.
void quantize_row(DType t, const float* src, uint8_t* dst, int64_t n);

// Scalar reference dot product of one weight row (type w) with one row of
// activations already quantized to activation_type(w) (or float for F32/F16/
// BF16), computed in double from the dequantized values. Tests use it as the
// exact value the integer kernels should reproduce up to float rounding.
double vec_dot_ref(DType w, const uint8_t* wrow, const void* act, int64_t n);

}  // namespace sieve::kernels
