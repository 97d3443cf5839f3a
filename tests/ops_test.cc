// The element-wise kernels against float64 / scalar references on every SIMD
// target, at sizes that are not multiples of any vector width.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/ops.h"
#include "support/simd_targets.h"
#include "util/half.h"

namespace sieve::kernels {
namespace {

std::vector<float> random_vector(int64_t n, unsigned seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

TEST(Ops, RmsNormSiluAddMatchFloat64OnEveryTarget) {
  testing::for_each_simd_target([&](int64_t) {
    for (int64_t n : {1, 7, 33, 515, 4099}) {
      const auto x = random_vector(n, 1, 3.0f), w = random_vector(n, 2, 1.0f), up = random_vector(n, 3, 1.0f);
      std::vector<float> out(n);
      rms_norm(x.data(), w.data(), n, 1e-5f, out.data());
      double ss = 0;
      for (float v : x) ss += static_cast<double>(v) * v;
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(out[i], x[i] * inv * w[i], 1e-5 * (1 + std::fabs(x[i] * inv * w[i])));

      std::vector<float> gate = x;
      silu_mul(gate.data(), up.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const double g = x[i], want = g / (1.0 + std::exp(-g)) * up[i];
        EXPECT_NEAR(gate[i], want, 2e-6 * (1 + std::fabs(want))) << "silu n " << n << " i " << i;
      }

      std::vector<float> sum = x;
      add_inplace(sum.data(), up.data(), n);
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(sum[i], x[i] + up[i]);
    }
  });
}

// The vector half conversions must agree bit for bit with the scalar IEEE
// ones, including rounding ties, subnormals, overflow to infinity and NaN.
TEST(Ops, HalfConversionsMatchScalarBitForBitOnEveryTarget) {
  std::vector<float> x = random_vector(1003, 4, 100.0f);
  for (float special : {0.0f, -0.0f, 65504.0f, 65520.0f, 1e6f, -1e6f, 6e-8f, 3e-5f, 1.0009765625f, 1.00048828125f,
                        INFINITY, -INFINITY})
    x.push_back(special);
  testing::for_each_simd_target([&](int64_t) {
    const int64_t n = static_cast<int64_t>(x.size());
    std::vector<uint16_t> h(n);
    f32_to_f16_row(x.data(), h.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(h[i], f32_to_f16(x[i])) << x[i];
    std::vector<float> back(n);
    f16_to_f32_row(h.data(), back.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(back[i], f16_to_f32(h[i]));
  });
}

TEST(Ops, CosineSimilarity) {
  const float a[3] = {1, 0, 0}, b[3] = {0, 2, 0}, c[3] = {-3, 0, 0}, d[3] = {1, 1, 0}, zero[3] = {0, 0, 0};
  EXPECT_DOUBLE_EQ(cosine_similarity(a, a, 3), 1.0);
  EXPECT_DOUBLE_EQ(cosine_similarity(a, b, 3), 0.0);
  EXPECT_DOUBLE_EQ(cosine_similarity(a, c, 3), -1.0);
  EXPECT_NEAR(cosine_similarity(a, d, 3), 1 / std::sqrt(2.0), 1e-12);
  EXPECT_DOUBLE_EQ(cosine_similarity(a, zero, 3), 0.0);
  const double e[2] = {3, 4}, f[2] = {6, 8};
  EXPECT_DOUBLE_EQ(cosine_similarity(e, f, 2), 1.0);
}

}  // namespace
}  // namespace sieve::kernels
