// The sampler chain and the generation loop.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "runtime/sampler.h"
#include "test_paths.h"
#include "util/error.h"

namespace sieve {
namespace {

std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

TEST(Sampler, GreedyPicksTheArgmax) {
  SamplerOptions o;
  o.temperature = 0;
  Sampler s(o);
  std::vector<float> l = {0.1f, 2.0f, -1.0f, 1.9f};
  EXPECT_EQ(s.sample(l.data(), 4), 1);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  std::vector<float> l = logits_of({0.2, 0.2, 0.2, 0.2, 0.2});
  auto draw = [&](uint64_t seed) {
    SamplerOptions o;
    o.temperature = 1.0f;
    o.top_k = 0, o.top_p = 1.0f, o.min_p = 0;
    o.seed = seed;
    Sampler s(o);
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.sample(l.data(), 5));
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

// Frequencies follow the probabilities left after each filter.
std::map<int32_t, double> frequencies(SamplerOptions o, const std::vector<float>& l, int n = 20000) {
  Sampler s(o);
  std::map<int32_t, double> f;
  for (int i = 0; i < n; ++i) f[s.sample(l.data(), static_cast<int64_t>(l.size()))] += 1.0 / n;
  return f;
}

TEST(Sampler, TopKTopPMinPFilterAsDocumented) {
  const std::vector<float> l = logits_of({0.5, 0.25, 0.15, 0.07, 0.03});
  SamplerOptions o;
  o.temperature = 1.0f;
  o.top_k = 2, o.top_p = 1.0f, o.min_p = 0;
  auto f = frequencies(o, l);
  EXPECT_EQ(f.size(), 2u);
  EXPECT_NEAR(f[0], 0.5 / 0.75, 0.02);
  o.top_k = 0, o.top_p = 0.8f;  // 0.5 + 0.25 < 0.8 <= 0.9: three tokens
  f = frequencies(o, l);
  EXPECT_EQ(f.size(), 3u);
  EXPECT_NEAR(f[2], 0.15 / 0.9, 0.02);
  o.top_p = 1.0f, o.min_p = 0.2f;  // keep p >= 0.1
  f = frequencies(o, l);
  EXPECT_EQ(f.size(), 3u);
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  const std::vector<float> l = logits_of({0.6, 0.4});
  SamplerOptions o;
  o.top_k = 0, o.top_p = 1.0f, o.min_p = 0;
  o.temperature = 0.5f;  // p ∝ p^2: 0.36 / 0.52
  EXPECT_NEAR(frequencies(o, l)[0], 0.36 / 0.52, 0.02);
  o.temperature = 2.0f;  // p ∝ sqrt(p)
  EXPECT_NEAR(frequencies(o, l)[0], std::sqrt(0.6) / (std::sqrt(0.6) + std::sqrt(0.4)), 0.02);
}

TEST(Sampler, RepetitionPenaltyDemotesSeenTokens) {
  SamplerOptions o;
  o.temperature = 0;
  o.repeat_penalty = 2.0f;
  Sampler s(o);
  std::vector<float> l = {3.0f, 2.0f, -1.0f};
  s.observe(0);  // 3.0 / 2 = 1.5 < 2.0
  EXPECT_EQ(s.sample(l.data(), 3), 1);
}

TEST(Sampler, RejectsBadOptions) {
  SamplerOptions o;
  o.top_p = 1.5f;
  EXPECT_THROW(Sampler{o}, Error);
  o = {};
  o.temperature = -1;
  EXPECT_THROW(Sampler{o}, Error);
}

}  // namespace
}  // namespace sieve
