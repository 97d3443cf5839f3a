// The softmax-row helpers (attention/exp_row.h) against scalar double, for
// lengths around the vector width.
#include "attention/exp_row.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace sieve {
namespace {

TEST(ExpRow, ShiftedExponentialsAndTheirSum) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 5.0f);
  for (int64_t n : {1, 7, 8, 16, 17, 100, 1027}) {
    std::vector<float> x(n);
    for (float& v : x) v = nd(rng);
    const std::vector<float> in = x;
    const float m = 3.0f;
    const double sum = exp_shifted(x.data(), n, m);
    double want_sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double want = std::exp(static_cast<double>(in[i]) - m);
      want_sum += want;
      EXPECT_NEAR(x[i], want, 2e-6 * want) << "n " << n << " i " << i;
    }
    EXPECT_NEAR(sum, want_sum, 2e-6 * want_sum) << n;
  }
}

TEST(ExpRow, FastExponentialsBelowTheMax) {
  std::mt19937 rng(6);
  std::normal_distribution<float> nd(0.0f, 8.0f);
  for (int64_t n : {1, 15, 16, 33, 1000}) {
    std::vector<float> x(n);
    for (float& v : x) v = std::min(nd(rng), 10.0f);
    x[0] = -200.0f;  // far below: 0
    const std::vector<float> in = x;
    const float m = 10.0f;
    const double sum = fast_exp_shifted(x.data(), n, m);
    double want_sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double want = in[i] - m < -87 ? 0.0 : std::exp(static_cast<double>(in[i]) - m);
      want_sum += want;
      EXPECT_NEAR(x[i], want, 1e-5 * want + 1e-38) << "n " << n << " i " << i;
    }
    EXPECT_NEAR(sum, want_sum, 1e-5 * want_sum) << n;
  }
}

TEST(ExpRow, RowMaxAndAddScaled) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t n : {1, 5, 16, 17, 300}) {
    std::vector<float> x(n), a(n), want(n);
    for (int64_t i = 0; i < n; ++i) x[i] = nd(rng), a[i] = want[i] = nd(rng);
    x[n / 2] = 42.0f;
    EXPECT_EQ(row_max(x.data(), n), 42.0f);
    add_scaled(x.data(), n, 0.5f, a.data());
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(a[i], want[i] + 0.5f * x[i], 1e-5f);
  }
  EXPECT_EQ(row_max(nullptr, 0), -INFINITY);
}

}  // namespace
}  // namespace sieve
