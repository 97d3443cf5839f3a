#pragma once
// Memory layouts the quantized kernels share across Highway targets.
#include <cstddef>
#include <cstdint>

#include "format/dtype.h"

namespace sieve::kernels {

// One token's activations quantized for the integer kernels. Not llama.cpp's
// interleaved blocks but the same numbers split into arrays, so the kernels
// load 32 quants with one aligned-enough load and scales as plain floats:
//   int8  qs[k]       the quants
//   float d[k/B]      block scales (B = 32, or 256 for Q8_K); for Q8_0/Q8_1
//                     already rounded through half precision as in the blocks
//   float s[k/32]     Q8_1 only: the half-rounded d * sum(qs) of each block
//   int16 bsums[k/16] Q8_K: sums of 16 consecutive quants; Q8_0: k/32 sums of
//                     the blocks (for Q4_0/Q5_0: sum (q - z) x = sum q x - z sum x)
// Each array starts on a 64-byte boundary of the row; rows are `stride` apart.
struct ActLayout {
  DType type = DType::Q8_0;
  int64_t k = 0;
  size_t d_off = 0, s_off = 0, bs_off = 0, stride = 0;
};

inline ActLayout act_layout(DType type, int64_t k) {
  auto up = [](int64_t bytes) { return (static_cast<size_t>(bytes) + 63) & ~size_t{63}; };
  ActLayout l;
  l.type = type;
  l.k = k;
  const int64_t block = type == DType::Q8_K ? 256 : 32;
  l.d_off = up(k);
  l.s_off = l.d_off + up(k / block * 4);
  l.bs_off = l.s_off + (type == DType::Q8_1 ? up(k / 32 * 4) : 0);
  l.stride = l.bs_off + (type == DType::Q8_K ? up(k / 16 * 2) : type == DType::Q8_0 ? up(k / 32 * 2) : 0);
  return l;
}

// One token's quantized activations: views into an ActLayout row.
struct ActView {
  const int8_t* qs;
  const float* d;
  const float* s;
  const int16_t* bs;
};

inline ActView MakeActView(const ActLayout& l, const uint8_t* acts, int64_t t) {
  const uint8_t* row = acts + static_cast<size_t>(t) * l.stride;
  return {reinterpret_cast<const int8_t*>(row), reinterpret_cast<const float*>(row + l.d_off),
          reinterpret_cast<const float*>(row + l.s_off), reinterpret_cast<const int16_t*>(row + l.bs_off)};
}

// One weight row unpacked for the integer kernels, built once per row tile
// and reused for every token:
//   w  k bytes: the unsigned level (Q4_0/Q5_0 and Q4_1/Q5_1: 0..31, K
//      formats: 0..63, Q8_0 with VNNI: q + 128); Q8_0 without VNNI: |q|
//   s  k bytes: Q8_0 without VNNI only, the signed q (sign source for x)
//   sc k/2 int16: K formats, each 16-element group's scale repeated 8 times
//      so that 32 quants meet their two scales in one 16-lane vector
//   mn k/16 int16: K formats, each 16-group's min multiplier (Q6_K: 32*scale)
//   d  block scale (32-element blocks) or super-block d (K formats)
//   m  Q4_1/Q5_1 block min; K formats: super-block dmin (Q6_K: d)
struct UnpackedRow {
  uint8_t* w;
  int8_t* s;
  int16_t* sc;
  int16_t* mn;
  float* d;
  float* m;
};

inline size_t unpacked_row_bytes(int64_t k) {
  auto up = [](int64_t bytes) { return (static_cast<size_t>(bytes) + 63) & ~size_t{63}; };
  return 2 * up(k) + up(k) + up(k / 16 * 2) + 2 * up(k / 32 * 4);
}

inline UnpackedRow carve_unpacked_row(uint8_t* p, int64_t k) {
  auto up = [](int64_t bytes) { return (static_cast<size_t>(bytes) + 63) & ~size_t{63}; };
  UnpackedRow u;
  u.w = p;
  u.s = reinterpret_cast<int8_t*>(p + up(k));
  u.sc = reinterpret_cast<int16_t*>(p + 2 * up(k));
  u.mn = reinterpret_cast<int16_t*>(p + 3 * up(k));
  u.d = reinterpret_cast<float*>(p + 3 * up(k) + up(k / 16 * 2));
  u.m = reinterpret_cast<float*>(p + 3 * up(k) + up(k / 16 * 2) + up(k / 32 * 4));
  return u;
}

}  // namespace sieve::kernels
