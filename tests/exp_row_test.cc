// exp_shifted (attention/exp_row.h): against std::exp in double, for lengths
// around the vector width.
#include "attention/exp_row.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sieve
