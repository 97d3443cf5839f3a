// kth_largest against std::nth_element: random floats of every sign and
// scale, many ties, a single bucket, and every k of a small input.
#include "attention/selection/top_k.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

namespace sieve {
namespace {

float reference(std::vector<float> x, int64_t k) {
  std::nth_element(x.begin(), x.begin() + (k - 1), x.end(), std::greater<float>());
  return x[k - 1];
}

TEST(TopK, MatchesNthElement) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> small(0, 5);
  for (int round = 0; round < 40; ++round) {
    const int64_t n = 100 + round * 997;
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) {
      switch (round % 4) {
        case 0:
          x[i] = normal(rng);
          break;  // both signs
        case 1:
          x[i] = std::exp(8.0f * normal(rng));
          break;  // many octaves
        case 2:
          x[i] = static_cast<float>(small(rng));
          break;  // ties, zeros
        default:
          x[i] = 1.0f + 1e-6f * static_cast<float>(small(rng));
          break;  // one bucket
      }
    }
    if (round == 5) x[7] = -0.0f;
    std::vector<float> scratch;
    for (int64_t k : {int64_t{1}, int64_t{2}, n / 16 + 1, n / 2, n - 1, n}) {
      ASSERT_EQ(kth_largest(x.data(), n, k, scratch), reference(x, k)) << "round " << round << " k " << k;
    }
  }
  std::vector<float> x = {3, 1, 2, 2, 5};
  std::vector<float> scratch;
  for (int64_t k = 1; k <= 5; ++k) EXPECT_EQ(kth_largest(x.data(), 5, k, scratch), reference(x, k));
  EXPECT_THROW(kth_largest(x.data(), 5, 0, scratch), std::exception);
  EXPECT_THROW(kth_largest(x.data(), 5, 6, scratch), std::exception);
}

}  // namespace
}  // namespace sieve
