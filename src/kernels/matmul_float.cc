// Dispatch unit for the float-weight kernels (matmul_float-inl.h): compiled
// once per Highway target; the best one the CPU supports is picked at runtime.
#include "kernels/hwy_config.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_float.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/matmul_float-inl.h"

#if HWY_ONCE
#include <atomic>

#include "kernels/matmul_internal.h"

namespace sieve::kernels {
HWY_EXPORT(MatmulFloat);
HWY_EXPORT(MatmulDequantPanels);

namespace detail {
namespace {
std::atomic<int> g_gemm_min_tokens{kDefaultGemmMinTokens};
std::atomic<int> g_dequant_panel_min_tokens{kDequantPanelMinTokens};
}  // namespace

int dequant_panel_min_tokens() { return g_dequant_panel_min_tokens.load(std::memory_order_relaxed); }
void set_dequant_panel_min_tokens(int n) { g_dequant_panel_min_tokens.store(n, std::memory_order_relaxed); }

int gemm_min_tokens() { return g_gemm_min_tokens.load(std::memory_order_relaxed); }
void set_gemm_min_tokens(int n) { g_gemm_min_tokens.store(n, std::memory_order_relaxed); }

void matmul_float(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(MatmulFloat)(w, x, n_tokens, y, pool, gemm_min_tokens());
}

void matmul_dequant_panels(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(MatmulDequantPanels)(w, x, n_tokens, y, pool);
}

std::vector<int64_t> kernel_targets() {
  std::vector<int64_t> out;
  // HWY_TARGETS here is the set this unit (and every kernel unit, see
  // hwy_config.h) was compiled for; lowest bit = best target.
  for (int64_t t = hwy::SupportedTargets() & HWY_TARGETS; t != 0; t &= t - 1) out.push_back(t & -t);
  return out;
}

}  // namespace detail
}  // namespace sieve::kernels
#endif  // HWY_ONCE
