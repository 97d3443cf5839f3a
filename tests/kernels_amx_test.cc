// The AMX tile kernels (matmul_amx_bf16.cc, matmul_amx_int8.cc) against
// float64 references, with the tolerances of the paths they stand in for:
//  * bf16, f16 and f32 weights: as the AVX512_BF16 path, float32 summation
//    error against the bf16-rounded activations (the f16/f32 weights split
//    into two bf16 halves add at most 2^-17 of each product), and 2^-8
//    relative per product against the unrounded ones;
//  * quantized weights: as the integer kernels, float32 rounding of the
//    per-block sums against vec_dot_ref of the reference-quantized
//    activations, and the activation quantization bound against the exact
//    product.
// On a CPU (or OS) without AMX every test says so and is skipped.
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

namespace sieve::kernels {
namespace {
using namespace testing_support;

#define SKIP_WITHOUT_AMX() \
  if (!detail::amx_supported()) GTEST_SKIP() << "AMX not usable here: " << detail::amx_unsupported_reason()

struct AmxScope {
  AmxScope() { detail::set_amx_min_tokens(1); }
  ~AmxScope() {
    hwy::SetSupportedTargetsForTest(0);
    detail::set_amx_min_tokens(detail::kDefaultAmxMinTokens);
    detail::set_amx_enabled(true);
  }
};

std::vector<float> random_acts(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(n);
  for (auto& v : x) v = nd(rng);
  return x;
}

TEST(KernelAmx, ReportsSupport) {
  std::printf("AMX %s%s\n", detail::amx_supported() ? "usable" : "not usable: ", detail::amx_unsupported_reason());
  AmxScope scope;
  detail::set_amx_enabled(false);
  EXPECT_FALSE(detail::amx_takes(DType::Q8_0, 512));
  detail::set_amx_enabled(true);
  EXPECT_EQ(detail::amx_takes(DType::Q8_0, 512), detail::amx_supported());
  EXPECT_FALSE(detail::amx_takes(DType::Q6_K, 512));
  EXPECT_EQ(detail::amx_takes(DType::F32, 512), detail::amx_supported());
  EXPECT_EQ(detail::amx_takes(DType::F16, 512), detail::amx_supported());
}

TEST(KernelAmx, Bf16AgainstRoundedReference) {
  SKIP_WITHOUT_AMX();
  std::mt19937 rng(21);
  struct Shape {
    int64_t rows, cols, tokens;
  };
  for (const Shape sh : {Shape{37, 100, 5}, Shape{67, 96, 17}, Shape{130, 33, 40}, Shape{64, 512, 64},
                         Shape{1, 1, 1}, Shape{65, 31, 6}, Shape{96, 1408, 33}, Shape{32, 64, 32}}) {
    SCOPED_TRACE(testing::Message() << "rows=" << sh.rows << " cols=" << sh.cols << " tokens=" << sh.tokens);
    for (DType type : {DType::BF16, DType::F16, DType::F32}) {
      SCOPED_TRACE(dtype_name(type));
      const Weights w = make_weights(type, sh.rows, sh.cols, rng);
      const std::vector<float> x = random_acts(sh.tokens * sh.cols, rng);
      expect_bf16_activation_product(w, x, sh.rows, sh.cols, sh.tokens, detail::matmul_amx_bf16);
    }
  }
}

// matmul() sends bf16 batches to the tiles where the AVX512_BF16 path would
// take them (from gemm_min_tokens on), and not when the bf16 activations are
// switched off (SIEVE_BF16_DOT=0).
TEST(KernelAmx, Bf16RoutedFromGemmMinTokens) {
  SKIP_WITHOUT_AMX();
  AmxScope scope;
  detail::set_amx_min_tokens(detail::kDefaultAmxMinTokens);
  std::mt19937 rng(22);
  const int64_t rows = 64, cols = 128, n = detail::gemm_min_tokens();
  const Weights w = make_weights(DType::BF16, rows, cols, rng);
  const std::vector<float> x = random_acts(n * cols, rng);
  std::vector<float> via(n * rows), direct(n * rows), plain(n * rows);
  ThreadPool pool(2);
  matmul(w.t, x.data(), n, via.data(), pool);
  detail::matmul_amx_bf16(w.t, x.data(), n, direct.data(), pool);
  EXPECT_EQ(0, std::memcmp(via.data(), direct.data(), via.size() * 4));
  EXPECT_FALSE(detail::amx_takes(DType::BF16, n - 1));
  detail::set_bf16_dot_enabled(false);
  EXPECT_FALSE(detail::amx_takes(DType::BF16, n));
  EXPECT_FALSE(detail::amx_takes(DType::F16, n));
  detail::set_bf16_dot_enabled(true);
  // f16 weights the same way, split into two bf16 halves.
  const Weights wh = make_weights(DType::F16, rows, cols, rng);
  matmul(wh.t, x.data(), n, via.data(), pool);
  detail::matmul_amx_bf16(wh.t, x.data(), n, direct.data(), pool);
  EXPECT_EQ(0, std::memcmp(via.data(), direct.data(), via.size() * 4));
}

void check_int8(DType type, int64_t rows, int64_t cols, int64_t n_tokens, std::mt19937& rng) {
  SCOPED_TRACE(testing::Message() << dtype_name(type) << " rows=" << rows << " cols=" << cols
                                  << " tokens=" << n_tokens);
  ASSERT_TRUE(detail::amx_takes(type, n_tokens));
  const Weights w = make_weights(type, rows, cols, rng);
  const std::vector<float> x = random_acts(n_tokens * cols, rng);
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
      const double fsum = 4e-7 * std::sqrt(static_cast<double>(cols)) * mag + 1e-6;
      const auto q = quantize_ref(a, xt, cols);
      const double tight = vec_dot_ref(type, w.t.row(r), q.data(), cols);
      ASSERT_NEAR(got, tight, 2 * fsum) << "row " << r << " token " << t;
      ASSERT_NEAR(got, exact, act_bound(type, wf.data(), w.t.row(r), q, cols) + 2 * fsum)
          << "row " << r << " token " << t;
    }
  }
}

// Every handled format, with row tails (37, 67 rows), token tails and odd
// block counts (160 = 5 blocks), under every Highway target (the activation
// quantizer is dispatched).
TEST(KernelAmx, Int8AllHandledTypesAllTargets) {
  SKIP_WITHOUT_AMX();
  AmxScope scope;
  std::mt19937 rng(23);
  const DType types[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K};
  for (int64_t target : detail::kernel_targets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (DType type : types) {
      const bool k_format = dtype_info(type).block_elems == 256;
      for (int64_t n : {1, 5, 32, 45}) {
        check_int8(type, 37, k_format ? 512 : 160, n, rng);
        check_int8(type, 67, k_format ? 768 : 96, n, rng);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

// The model's shapes at a prefill-sized batch: 1408 = 44 blocks, 64 tokens.
TEST(KernelAmx, Int8ModelShapes) {
  SKIP_WITHOUT_AMX();
  AmxScope scope;
  std::mt19937 rng(24);
  check_int8(DType::Q8_0, 128, 1408, 64, rng);
  check_int8(DType::Q5_0, 96, 1408, 40, rng);
  check_int8(DType::Q4_K, 160, 512, 70, rng);
}

// SIEVE_AMX_QUANT=bf16: the handled formats dequantized to bf16 tiles, with
// bf16-rounded activations. Each product moves by at most 2^-9 relative for
// the weight and 2^-9 for the activation: the bf16 path's bound (mag / 256),
// against the dequantized weights times the unrounded activations.
TEST(KernelAmx, QuantThroughBf16Tiles) {
  SKIP_WITHOUT_AMX();
  AmxScope scope;
  detail::set_amx_quant_as_bf16(true);
  std::mt19937 rng(25);
  const DType types[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K};
  for (DType type : types) {
    const int64_t cols = dtype_info(type).block_elems == 256 ? 512 : 160;
    for (int64_t n : {3, 40}) {
      SCOPED_TRACE(testing::Message() << dtype_name(type) << " tokens=" << n);
      const int64_t rows = 67;
      const Weights w = make_weights(type, rows, cols, rng);
      const std::vector<float> x = random_acts(n * cols, rng);
      std::vector<float> y1(n * rows, NAN), y2(n * rows, NAN), wf(cols);
      ThreadPool one(1), two(2);
      matmul(w.t, x.data(), n, y1.data(), one);
      matmul(w.t, x.data(), n, y2.data(), two);
      ASSERT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4)) << "1 vs 2 threads differ";
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_row_ref(type, w.t.row(r), wf.data(), cols);
        for (int64_t t = 0; t < n; ++t) {
          double exact = 0, mag = 0;
          for (int64_t c = 0; c < cols; ++c) {
            exact += static_cast<double>(wf[c]) * x[t * cols + c];
            mag += std::fabs(static_cast<double>(wf[c]) * x[t * cols + c]);
          }
          const double fsum = 4e-7 * std::sqrt(static_cast<double>(cols)) * mag + 1e-6;
          ASSERT_NEAR(y1[t * rows + r], exact, mag / 256 * 1.01 + fsum) << "row " << r << " token " << t;
        }
      }
    }
  }
  detail::set_amx_quant_as_bf16(false);
}

}  // namespace
}  // namespace sieve::kernels
