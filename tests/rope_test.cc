// Rope::angles composes whole positions from per-byte tables; it must give
// the cosines and sines of the direct computation to float precision, for
// negative, large and fractional positions (fractions fall back to libm).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/config.h"
#include "model/rope.h"

namespace sieve {
namespace {

void expect_same_angles(const Rope& rope, double position) {
  const int64_t pairs = rope.head_dim() / 2;
  std::vector<float> c(pairs), s(pairs), cd(pairs), sd(pairs);
  rope.angles(position, c.data(), s.data());
  rope.angles_direct(position, cd.data(), sd.data());
  for (int64_t i = 0; i < pairs; ++i) {
    ASSERT_NEAR(c[i], cd[i], 2e-7) << "position " << position << " pair " << i;
    ASSERT_NEAR(s[i], sd[i], 2e-7) << "position " << position << " pair " << i;
  }
}

TEST(Rope, TableAnglesEqualDirectOnes) {
  for (const double theta : {10000.0, 500000.0}) {
    for (const int64_t head_dim : {64, 128}) {
      ModelConfig config;
      config.head_dim = head_dim;
      config.rope_theta = theta;
      const Rope rope(config, {});
      std::mt19937_64 rng(5);
      std::uniform_int_distribution<int64_t> whole(-(int64_t{1} << 24) + 1, (int64_t{1} << 24) - 1);
      for (double p : {0.0, 1.0, -1.0, 255.0, 256.0, 65535.0, 65536.0, 16777215.0, -16777215.0, 16777216.0, 0.5, -3.25})
        expect_same_angles(rope, p);
      for (int i = 0; i < 2000; ++i) expect_same_angles(rope, static_cast<double>(whole(rng) >> (i % 20)));
    }
  }
}

}  // namespace
}  // namespace sieve
