// Entry points of the matrix products: route each weight type to its kernel
// family. The families live in matmul_float.cc and matmul_quant.cc.
#include "kernels/matmul.h"

#include <string>

#include "kernels/matmul_internal.h"
#include "kernels/quant.h"
#include "util/error.h"

namespace sieve::kernels {

void dequantize_row(DType t, const uint8_t* src, float* dst, int64_t n) {
  dequantize_row_ref(t, src, dst, n);
}

namespace {

// Every path but the AMX tiles.
void matmul_without_amx(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  switch (w.type) {
    case DType::BF16:
      if (n_tokens >= detail::gemm_min_tokens() && detail::bf16_dot_enabled())
        return detail::matmul_bf16_dot(w, x, n_tokens, y, pool);
      return detail::matmul_float(w, x, n_tokens, y, pool);
    case DType::F32:
    case DType::F16: return detail::matmul_float(w, x, n_tokens, y, pool);
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
    case DType::Q4_K:
      if (n_tokens >= detail::dequant_panel_min_tokens()) return detail::matmul_dequant_panels(w, x, n_tokens, y, pool);
      return detail::matmul_quant(w, x, n_tokens, y, pool);
    // Their scalar dequantization costs 3-5 ns per weight: the dequantized
    // panels measured even (Q5_K) or slower (Q6_K) than the integer kernels.
    case DType::Q5_K:
    case DType::Q6_K: return detail::matmul_quant(w, x, n_tokens, y, pool);
    default: throw Error(std::string("matmul: unsupported weight type ") + dtype_name(w.type));
  }
}

}  // namespace

void matmul(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens <= 0) return;
  if (detail::amx_takes(w.type, n_tokens) && detail::amx_ready(w, n_tokens, pool))
    return detail::matmul_amx(w, x, n_tokens, y, pool);
  matmul_without_amx(w, x, n_tokens, y, pool);
}

void prepare_weights(const Tensor& w, ThreadPool& pool) {
  if (detail::amx_takes(w.type, detail::amx_min_tokens()) && detail::amx_supported())
    detail::amx_ready(w, detail::amx_min_tokens(), pool);
}

void matmul_batch_invariant(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (n_tokens < 2 || n_tokens > kMaxInvariantTokens)
    throw Error("internal: matmul_batch_invariant takes 2 to " + std::to_string(kMaxInvariantTokens) + " rows");
  // The int8 tiles give each row the same bits at any batch size; so do the
  // small-batch kernels below every large-batch threshold (all of them are
  // above kMaxInvariantTokens), but the two differ from each other.
  if (detail::amx_enabled() && detail::amx_int8_handles(w.type) && !detail::amx_quant_as_bf16() &&
      detail::amx_supported())
    return detail::matmul_amx_int8(w, x, n_tokens, y, pool);
  matmul_without_amx(w, x, n_tokens, y, pool);
}

}  // namespace sieve::kernels
