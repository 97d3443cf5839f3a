// Dispatch unit for the quantized-weight kernels (matmul_quant-inl.h):
// compiled once per Highway target; the best one the CPU supports is picked
// at runtime.
#include "kernels/hwy_config.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_quant.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/matmul_quant-inl.h"

#if HWY_ONCE
#include <cstring>

#include "kernels/matmul_internal.h"

namespace sieve::kernels {
HWY_EXPORT(MatmulQuant);
HWY_EXPORT(QuantizeActsForTest);

namespace detail {

void matmul_quant(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(MatmulQuant)(w, x, n_tokens, y, pool);
}

void quantize_activations(const ActLayout& l, const float* x, int64_t n_tokens, uint8_t* out, ThreadPool& pool) {
  pool.parallel_for(n_tokens, 1, [&](int, int64_t t0, int64_t t1) {
    HWY_DYNAMIC_DISPATCH(QuantizeActsForTest)(l, x + t0 * l.k, t1 - t0, out + static_cast<size_t>(t0) * l.stride);
  });
}

std::vector<uint8_t> quantize_activations_for_test(DType weight, const float* x, int64_t n_tokens, int64_t k) {
  const ActLayout l = act_layout(activation_type(weight), k);
  std::vector<uint8_t> rows(static_cast<size_t>(n_tokens) * l.stride);
  HWY_DYNAMIC_DISPATCH(QuantizeActsForTest)(l, x, n_tokens, rows.data());
  // Re-interleave into llama.cpp blocks; d and s go back to half precision
  // exactly since they were rounded through it.
  const size_t out_row = dtype_row_bytes(l.type, k);
  std::vector<uint8_t> out(static_cast<size_t>(n_tokens) * out_row);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const uint8_t* row = rows.data() + static_cast<size_t>(t) * l.stride;
    const auto* qs = reinterpret_cast<const int8_t*>(row);
    const auto* d = reinterpret_cast<const float*>(row + l.d_off);
    const auto* s = reinterpret_cast<const float*>(row + l.s_off);
    const auto* bs = reinterpret_cast<const int16_t*>(row + l.bs_off);
    uint8_t* o = out.data() + static_cast<size_t>(t) * out_row;
    if (l.type == DType::Q8_K) {
      auto* b = reinterpret_cast<BlockQ8_K*>(o);
      for (int64_t i = 0; i < k / kQKK; ++i) {
        b[i].d = d[i];
        std::memcpy(b[i].qs, qs + i * kQKK, kQKK);
        std::memcpy(b[i].bsums, bs + i * 16, 32);
      }
    } else if (l.type == DType::Q8_1) {
      auto* b = reinterpret_cast<BlockQ8_1*>(o);
      for (int64_t i = 0; i < k / kQK; ++i) {
        b[i].d = f32_to_fp16(d[i]);
        b[i].s = f32_to_fp16(s[i]);
        std::memcpy(b[i].qs, qs + i * kQK, kQK);
      }
    } else {
      auto* b = reinterpret_cast<BlockQ8_0*>(o);
      for (int64_t i = 0; i < k / kQK; ++i) {
        b[i].d = f32_to_fp16(d[i]);
        std::memcpy(b[i].qs, qs + i * kQK, kQK);
      }
    }
  }
  return out;
}

}  // namespace detail
}  // namespace sieve::kernels
#endif  // HWY_ONCE
