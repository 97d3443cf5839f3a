#pragma once
// Element-wise and row-wise operations of the transformer layer.
#include <cstdint>

namespace sieve::kernels {

// out = x / rms(x) * weight, over n elements.
void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out);
// gate[i] = silu(gate[i]) * up[i]
void silu_mul(float* gate, const float* up, int64_t n);
// x[i] += y[i]
void add_inplace(float* x, const float* y, int64_t n);
// IEEE half conversions of n values (round to nearest even), vectorised.
void f32_to_f16_row(const float* x, uint16_t* out, int64_t n);
void f16_to_f32_row(const uint16_t* x, float* out, int64_t n);
// In-place softmax over n values; returns nothing, handles -inf entries.
void softmax(float* x, int64_t n);

// Rotary embedding of one head vector (head_dim values) by precomputed
// cos/sin of each of its head_dim/2 frequency pairs. interleaved: pairs are
// (2i, 2i+1); otherwise (i, i + head_dim/2).
void rope_apply(float* head, const float* cos, const float* sin, int64_t head_dim, bool interleaved);

// Cosine similarity of two vectors of n values, accumulated in double; 0
// when either is all zeros.
double cosine_similarity(const float* a, const float* b, int64_t n);
double cosine_similarity(const double* a, const double* b, int64_t n);

}  // namespace sieve::kernels
