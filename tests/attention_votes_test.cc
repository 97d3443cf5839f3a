// add_attention (attention/policies/eviction/attention_votes.h): the vector
// version against softmax computed in double, for lengths around the vector
// width, scores far apart, and only the first `count` of `seen` slots voted.
#include "attention/policies/eviction/attention_votes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace sieve {
namespace {

TEST(AttentionVotes, EqualTheSoftmaxInDouble) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 6.0f);
  for (int64_t seen : {1, 2, 7, 8, 9, 16, 17, 63, 1000}) {
    for (int64_t count : {seen, seen / 2, int64_t{0}}) {
      std::vector<float> scores(seen);
      for (float& s : scores) s = nd(rng);
      std::vector<double> votes(seen, 0.25), want(seen, 0.25);
      double m = -INFINITY, z = 0;
      for (float s : scores) m = std::max(m, static_cast<double>(s));
      for (float s : scores) z += std::exp(s - m);
      for (int64_t j = 0; j < count; ++j) want[j] += 0.5 * std::exp(scores[j] - m) / z;
      add_attention(scores.data(), seen, count, 0.5, votes.data());
      for (int64_t j = 0; j < seen; ++j)
        EXPECT_NEAR(votes[j], want[j], 1e-6 * want[j] + 1e-12) << "seen " << seen << " count " << count << " slot " << j;
    }
  }
}

}  // namespace
}  // namespace sieve
