// matmul for every weight type, on every SIMD target compiled in and
// supported here, against float64 references:
//  * "exact": dequantized weights . original float activations. The kernels
//    quantize the activations (except for F32/F16/BF16), so the allowed error
//    is the bound that quantization implies: per 32 (or 256) block, each
//    activation moves by at most half a step (plus the half rounding of the
//    Q8_0/Q8_1 scale), times the sum of |w| of the block; Q4_1/Q5_1 add the
//    half rounding of Q8_1's sum term. Float weights get float32 summation
//    error only.
//  * "tight" (quantized types): dequantized weights . dequantized reference
//    activations (vec_dot_ref), which the integer kernels reproduce up to
//    float32 rounding of the per-block partial sums.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "hwy/targets.h"
#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"
#include "kernels/quant.h"
#include "kernels_matmul_check.h"
#include "util/error.h"

namespace sieve::kernels {
namespace {
using namespace testing_support;

// Float weights here are checked with float32 activations; the bf16-dot
// prefill path has its own test (Bf16DotAgainstRoundedReference), the AMX
// paths theirs (kernels_amx_test.cc).
struct TargetScope {
  // Quantized weights likewise keep the integer kernels here; the
  // dequantized-panel path has its own test (AllQuantTypesDequantPanelPath).
  TargetScope() {
    detail::set_bf16_dot_enabled(false);
    detail::set_amx_enabled(false);
    detail::set_dequant_panel_min_tokens(1 << 30);
  }
  ~TargetScope() {
    hwy::SetSupportedTargetsForTest(0);
    detail::set_gemm_min_tokens(detail::kDefaultGemmMinTokens);
    detail::set_bf16_dot_enabled(true);
    detail::set_amx_enabled(true);
    detail::set_dequant_panel_min_tokens(detail::kDequantPanelMinTokens);
  }
};

void check_matmul(DType type, int64_t rows, int64_t cols, int64_t n_tokens, std::mt19937& rng) {
  SCOPED_TRACE(testing::Message() << dtype_name(type) << " rows=" << rows << " cols=" << cols
                                  << " tokens=" << n_tokens);
  const Weights w = make_weights(type, rows, cols, rng);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(n_tokens * cols);
  for (auto& v : x) v = nd(rng);
  std::vector<float> y1(n_tokens * rows, NAN), y2(n_tokens * rows, NAN);
  ThreadPool one(1), two(2);
  matmul(w.t, x.data(), n_tokens, y1.data(), one);
  matmul(w.t, x.data(), n_tokens, y2.data(), two);
  ASSERT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4)) << "1 vs 2 threads differ";

  const DType a = activation_type(type);
  std::vector<float> wf(cols);
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row_ref(type, w.t.row(r), wf.data(), cols);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x.data() + t * cols;
      double exact = 0, mag = 0;
      for (int64_t c = 0; c < cols; ++c) {
        exact += static_cast<double>(wf[c]) * xt[c];
        mag += std::fabs(static_cast<double>(wf[c]) * xt[c]);
      }
      const double got = y1[t * rows + r];
      // float32 summation: well under cols * 2^-24 * sum |w x| in practice.
      const double fsum = 4e-7 * std::sqrt(static_cast<double>(cols)) * mag + 1e-6;
      if (a == DType::F32) {
        ASSERT_NEAR(got, exact, fsum) << "row " << r << " token " << t;
        continue;
      }
      const auto q = quantize_ref(a, xt, cols);
      const double tight = vec_dot_ref(type, w.t.row(r), q.data(), cols);
      ASSERT_NEAR(got, tight, 2 * fsum) << "row " << r << " token " << t;
      ASSERT_NEAR(got, exact, act_bound(type, wf.data(), w.t.row(r), q, cols) + 2 * fsum)
          << "row " << r << " token " << t;
    }
  }
}

const DType kAllTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                           DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

void run_all(int gemm_min_tokens, const std::vector<int64_t>& token_counts) {
  const auto targets = detail::kernel_targets();
  ASSERT_FALSE(targets.empty());
  TargetScope scope;
  detail::set_gemm_min_tokens(gemm_min_tokens);
  std::mt19937 rng(7);
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (DType type : kAllTypes) {
      const bool k_format = dtype_info(type).block_elems == 256;
      const bool float_type = dtype_info(type).block_elems == 1;
      for (int64_t n : token_counts) {
        check_matmul(type, 37, k_format ? 512 : 96, n, rng);
        check_matmul(type, 67, k_format ? 768 : (float_type ? 100 : 160), n, rng);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

TEST(KernelMatmul, AllTypesAllTargetsRowDotPath) { run_all(1 << 30, {1, 2, 3, 5, 17}); }

TEST(KernelMatmul, AllTypesAllTargetsPanelPath) { run_all(1, {1, 2, 3, 5, 17, 40}); }

// Quantized weights through dequantized float panels: exact float32
// activations, so against dequantized weights . original activations with
// float32 summation error only, on every target, with row and token tails.
TEST(KernelMatmul, AllQuantTypesDequantPanelPath) {
  TargetScope scope;
  detail::set_dequant_panel_min_tokens(1);
  std::mt19937 rng(13);
  for (int64_t target : detail::kernel_targets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (DType type : kAllTypes) {
      if (dtype_info(type).block_elems == 1 || type == DType::Q5_K || type == DType::Q6_K) continue;  // not routed there
      const int64_t cols = dtype_info(type).block_elems == 256 ? 512 : 96;
      for (int64_t n : {1, 7, 40}) {
        for (int64_t rows : {37, 67}) {
          SCOPED_TRACE(testing::Message() << dtype_name(type) << " rows=" << rows << " tokens=" << n);
          const Weights w = make_weights(type, rows, cols, rng);
          std::normal_distribution<float> nd(0.f, 1.f);
          std::vector<float> x(n * cols), y(n * rows, NAN), y2(n * rows, NAN), wf(cols);
          for (auto& v : x) v = nd(rng);
          ThreadPool one(1), two(2);
          matmul(w.t, x.data(), n, y.data(), one);
          matmul(w.t, x.data(), n, y2.data(), two);
          ASSERT_EQ(0, std::memcmp(y.data(), y2.data(), y.size() * 4)) << "1 vs 2 threads differ";
          for (int64_t r = 0; r < rows; ++r) {
            dequantize_row_ref(type, w.t.row(r), wf.data(), cols);
            for (int64_t t = 0; t < n; ++t) {
              double exact = 0, mag = 0;
              for (int64_t c = 0; c < cols; ++c) {
                exact += static_cast<double>(wf[c]) * x[t * cols + c];
                mag += std::fabs(static_cast<double>(wf[c]) * x[t * cols + c]);
              }
              const double fsum = 4e-7 * std::sqrt(static_cast<double>(cols)) * mag + 1e-6;
              ASSERT_NEAR(y[t * rows + r], exact, fsum) << "row " << r << " token " << t;
            }
          }
        }
      }
    }
  }
}

// The AVX512_BF16 prefill path: against float64 sums of the bf16 weights and
// the bf16-rounded activations (float32 summation error only), and against
// the unrounded activations within the rounding's bound (2^-8 relative per
// activation). Odd and short row lengths cover the zero-padded last pair.
TEST(KernelMatmul, Bf16DotAgainstRoundedReference) {
  if (!detail::bf16_dot_supported()) GTEST_SKIP() << "this CPU has no AVX512_BF16";
  std::mt19937 rng(11);
  struct Shape {
    int64_t rows, cols, tokens;
  };
  for (const Shape sh : {Shape{37, 100, 5}, Shape{67, 96, 17}, Shape{130, 33, 40}, Shape{64, 512, 7}, Shape{1, 1, 1},
                         Shape{65, 31, 6}}) {
    SCOPED_TRACE(testing::Message() << "rows=" << sh.rows << " cols=" << sh.cols << " tokens=" << sh.tokens);
    const Weights w = make_weights(DType::BF16, sh.rows, sh.cols, rng);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(sh.tokens * sh.cols);
    for (auto& v : x) v = nd(rng);
    expect_bf16_activation_product(w, x, sh.rows, sh.cols, sh.tokens, detail::matmul_bf16_dot);
  }
}

// matmul() takes the bf16-dot path for bf16 weights from gemm_min_tokens on,
// unless it is disabled; both give the float32 result within the rounding bound.
TEST(KernelMatmul, Bf16DotIsTakenFromGemmMinTokens) {
  if (!detail::bf16_dot_supported()) GTEST_SKIP() << "this CPU has no AVX512_BF16";
  std::mt19937 rng(12);
  const int64_t rows = 64, cols = 128, n = detail::gemm_min_tokens();
  const Weights w = make_weights(DType::BF16, rows, cols, rng);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(n * cols);
  for (auto& v : x) v = nd(rng);
  std::vector<float> dot(n * rows), plain(n * rows), direct(n * rows);
  ThreadPool pool(2);
  detail::set_amx_enabled(false);  // AMX would take this batch first (kernels_amx_test.cc)
  matmul(w.t, x.data(), n, dot.data(), pool);
  detail::matmul_bf16_dot(w.t, x.data(), n, direct.data(), pool);
  EXPECT_EQ(0, std::memcmp(dot.data(), direct.data(), dot.size() * 4));
  detail::set_bf16_dot_enabled(false);
  matmul(w.t, x.data(), n, plain.data(), pool);
  detail::set_bf16_dot_enabled(true);
  detail::set_amx_enabled(true);
  EXPECT_NE(0, std::memcmp(dot.data(), plain.data(), dot.size() * 4));
}

TEST(KernelMatmul, SingleRowAndLargeValues) {
  TargetScope scope;
  std::mt19937 rng(9);
  check_matmul(DType::BF16, 1, 64, 1, rng);
  check_matmul(DType::Q8_0, 1, 32, 3, rng);
  check_matmul(DType::Q6_K, 1, 256, 2, rng);
}

// matmul_batch_invariant: a row's result has the same bits whichever rows
// share its batch and however many there are (2 to kMaxInvariantTokens),
// with the tiles (int8 weights on an AMX machine) and without them.
TEST(KernelMatmul, BatchInvariantRowsKeepTheirBits) {
  std::mt19937 rng(31);
  const int64_t rows = 72, cols = 256, n = kMaxInvariantTokens;
  for (bool amx : {true, false}) {
    detail::set_amx_enabled(amx);
    for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0,
                       DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
      SCOPED_TRACE(testing::Message() << dtype_name(type) << (amx ? " with AMX allowed" : " without AMX"));
      const Weights w = make_weights(type, rows, cols, rng);
      std::vector<float> x(n * cols);
      std::normal_distribution<float> nd(0.f, 1.f);
      for (float& v : x) v = nd(rng);
      ThreadPool pool(2);
      std::vector<float> all(n * rows);
      matmul_batch_invariant(w.t, x.data(), n, all.data(), pool);
      for (int64_t m : {2, 3, 4, 7, 16, 17, 33}) {
        const int64_t first = (m * 5) % (n - m);  // the rows [first, first + m) alone
        std::vector<float> part(m * rows);
        matmul_batch_invariant(w.t, x.data() + first * cols, m, part.data(), pool);
        ASSERT_EQ(0, std::memcmp(part.data(), all.data() + first * rows, part.size() * 4)) << m << " rows";
      }
      EXPECT_THROW(matmul_batch_invariant(w.t, x.data(), 1, all.data(), pool), Error);
    }
  }
  detail::set_amx_enabled(true);
}

}  // namespace
}  // namespace sieve::kernels
