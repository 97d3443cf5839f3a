#pragma once
// Matrix products against weights stored in their file format. Rows of the
// weight are dequantized block by block inside the dot product; the weight is
// never expanded into a float copy.
#include <cstdint>

#include "format/tensor.h"
#include "kernels/thread_pool.h"

namespace sieve::kernels {

// y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tokens, r < W.rows().
// x is n_tokens rows of W.row_length() floats; y is n_tokens rows of W.rows().
// n_tokens == 1 is decode (GEMV); larger is prefill (GEMM).
void matmul(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// The same product for 2 <= n_tokens <= kMaxInvariantTokens, where each
// row's result does not depend on n_tokens or on the other rows: one kernel
// for every such batch (batch-invariant serving multiplies decode rows
// through this; a lone row is paired with a copy of itself).
constexpr int64_t kMaxInvariantTokens = 64;
void matmul_batch_invariant(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// Arranges w now for the kernels that keep their own layout of it (the AMX
// int8 tiles: Tensor::repacked), rather than in the first product that
// needs it; nothing where no kernel does.
void prepare_weights(const Tensor& w, ThreadPool& pool);

// Dequantizes n elements (a whole number of blocks) of type t into floats.
void dequantize_row(DType t, const uint8_t* src, float* dst, int64_t n);

}  // namespace sieve::kernels
