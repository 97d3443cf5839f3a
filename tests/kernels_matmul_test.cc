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

namespace sieve::kernels {
namespace {

// Float weights here are checked with float32 activations; the bf16-dot
// prefill path has its own test (Bf16DotAgainstRoundedReference).
struct TargetScope {
  // Quantized weights likewise keep the integer kernels here; the
  // dequantized-panel path has its own test (AllQuantTypesDequantPanelPath).
  TargetScope() {
    detail::set_bf16_dot_enabled(false);
    detail::set_dequant_panel_min_tokens(1 << 30);
  }
  ~TargetScope() {
    hwy::SetSupportedTargetsForTest(0);
    detail::set_gemm_min_tokens(detail::kDefaultGemmMinTokens);
    detail::set_bf16_dot_enabled(true);
    detail::set_dequant_panel_min_tokens(detail::kDequantPanelMinTokens);
  }
};

struct Weights {
  std::vector<uint8_t> bytes;
  Tensor t;
};

Weights make_weights(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  Weights w;
  const size_t rb = dtype_row_bytes(type, cols);
  w.bytes.resize(rb * rows);
  std::normal_distribution<float> nd(0.f, 0.05f);
  std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
  const int be = dtype_info(type).block_elems, bb = dtype_info(type).block_bytes;
  if (be == 1) {  // float types: random values, converted
    std::vector<float> row(cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : row) v = nd(rng);
      quantize_row(type, row.data(), w.bytes.data() + r * rb, cols);
    }
  } else {  // random bits, then sane half scales
    for (auto& b : w.bytes) b = static_cast<uint8_t>(rng());
    for (size_t off = 0; off < w.bytes.size(); off += bb) {
      uint8_t* b = w.bytes.data() + off;
      auto put = [&](int at) {
        const uint16_t h = f32_to_fp16(scale(rng));
        std::memcpy(b + at, &h, 2);
      };
      if (type == DType::Q6_K) put(208);
      else put(0);
      if (type == DType::Q4_1 || type == DType::Q5_1 || type == DType::Q4_K || type == DType::Q5_K) put(2);
    }
  }
  w.t.name = "w";
  w.t.type = type;
  w.t.shape = {cols, rows};
  w.t.data = w.bytes.data();
  w.t.nbytes = w.bytes.size();
  return w;
}

std::vector<uint8_t> quantize_ref(DType act, const float* x, int64_t n) {
  std::vector<uint8_t> q(dtype_row_bytes(act, n));
  quantize_row(act, x, q.data(), n);
  return q;
}

// Bound on |sum w*xq - sum w*x| from activation quantization, for one row.
double act_bound(DType wt, const float* w, const uint8_t* wrow, const std::vector<uint8_t>& q, int64_t n) {
  const DType a = activation_type(wt);
  if (a == DType::F32) return 0;
  const int64_t be = dtype_info(a).block_elems;
  double bound = 0;
  for (int64_t b = 0; b < n / be; ++b) {
    double d, extra = 0;
    if (a == DType::Q8_K) {
      d = std::fabs(reinterpret_cast<const BlockQ8_K*>(q.data())[b].d) * 0.5;
    } else {
      const uint16_t dh = a == DType::Q8_0 ? reinterpret_cast<const BlockQ8_0*>(q.data())[b].d
                                           : reinterpret_cast<const BlockQ8_1*>(q.data())[b].d;
      d = fp16_to_f32(dh) * (0.5 + 127.0 / 1024);  // half a step, d's half rounding
      if (a == DType::Q8_1) {
        const auto& xb = reinterpret_cast<const BlockQ8_1*>(q.data())[b];
        const uint16_t mh = wt == DType::Q4_1 ? reinterpret_cast<const BlockQ4_1*>(wrow)[b].m
                                              : reinterpret_cast<const BlockQ5_1*>(wrow)[b].m;
        extra = std::fabs(fp16_to_f32(mh) * fp16_to_f32(xb.s)) / 512;
      }
    }
    double wsum = 0;
    for (int64_t i = b * be; i < (b + 1) * be; ++i) wsum += std::fabs(w[i]);
    bound += d * wsum + extra;
  }
  return bound;
}

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

// bf16 rounding as vcvtne2ps2bf16 does it (nearest even; inputs here are
// normal numbers, so its flushing of denormals does not arise).
float round_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
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
    std::vector<float> y1(sh.tokens * sh.rows, NAN), y2(sh.tokens * sh.rows, NAN);
    ThreadPool one(1), two(2);
    detail::matmul_bf16_dot(w.t, x.data(), sh.tokens, y1.data(), one);
    detail::matmul_bf16_dot(w.t, x.data(), sh.tokens, y2.data(), two);
    ASSERT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4)) << "1 vs 2 threads differ";
    std::vector<float> wf(sh.cols);
    for (int64_t r = 0; r < sh.rows; ++r) {
      dequantize_row_ref(DType::BF16, w.t.row(r), wf.data(), sh.cols);
      for (int64_t t = 0; t < sh.tokens; ++t) {
        const float* xt = x.data() + t * sh.cols;
        double rounded = 0, exact = 0, mag = 0;
        for (int64_t c = 0; c < sh.cols; ++c) {
          rounded += static_cast<double>(wf[c]) * round_to_bf16(xt[c]);
          exact += static_cast<double>(wf[c]) * xt[c];
          mag += std::fabs(static_cast<double>(wf[c]) * xt[c]);
        }
        const double got = y1[t * sh.rows + r];
        const double fsum = 4e-7 * std::sqrt(static_cast<double>(sh.cols)) * mag + 1e-6;
        ASSERT_NEAR(got, rounded, fsum) << "row " << r << " token " << t;
        ASSERT_NEAR(got, exact, mag / 256 + fsum) << "row " << r << " token " << t;
      }
    }
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
  matmul(w.t, x.data(), n, dot.data(), pool);
  detail::matmul_bf16_dot(w.t, x.data(), n, direct.data(), pool);
  EXPECT_EQ(0, std::memcmp(dot.data(), direct.data(), dot.size() * 4));
  detail::set_bf16_dot_enabled(false);
  matmul(w.t, x.data(), n, plain.data(), pool);
  detail::set_bf16_dot_enabled(true);
  EXPECT_NE(0, std::memcmp(dot.data(), plain.data(), dot.size() * 4));
}

TEST(KernelMatmul, SingleRowAndLargeValues) {
  TargetScope scope;
  std::mt19937 rng(9);
  check_matmul(DType::BF16, 1, 64, 1, rng);
  check_matmul(DType::Q8_0, 1, 32, 3, rng);
  check_matmul(DType::Q6_K, 1, 256, 2, rng);
}

}  // namespace
}  // namespace sieve::kernels
