// Rope::angles composes whole positions from per-byte tables; it must give
// the cosines and sines of the direct computation to float precision, for
// negative, large and fractional positions (fractions fall back to libm).
// The context extensions (RopeExtension) against the papers' formulas
// computed here in double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/rope.h"
#include "util/error.h"

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

ModelConfig extension_config() {
  ModelConfig c;
  c.head_dim = 64;
  c.rope_theta = 100000.0;
  c.max_context = 8192;
  return c;
}

// theta^(-2i/d), rounded to float32 as the reference implementations hold it.
double plain(double theta, int64_t i, int64_t d) {
  return static_cast<float>(std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(d)));
}

void expect_freqs(const Rope& rope, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(rope.inv_freq().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(rope.inv_freq()[i] / want[i], 1.0, 1e-6) << what << " pair " << i;
}

TEST(RopeExtension, FrequenciesFollowThePapers) {
  const ModelConfig c = extension_config();
  const int64_t d = c.head_dim, pairs = d / 2;
  const double theta = c.rope_theta, s = 4.0, L = 8192.0;
  std::vector<double> want(pairs);
  // Position interpolation (Chen et al.): every angle divided by s.
  for (int64_t i = 0; i < pairs; ++i) want[i] = plain(theta, i, d) / s;
  expect_freqs(Rope(c, {}, RopeExtension::parse("linear:factor=4", c)), want, "linear");
  // NTK-aware: base b' = b s^(d/(d-2)).
  const double b_ntk = theta * std::pow(s, static_cast<double>(d) / (d - 2));
  for (int64_t i = 0; i < pairs; ++i) want[i] = plain(b_ntk, i, d);
  expect_freqs(Rope(c, {}, RopeExtension::parse("ntk:factor=4", c)), want, "ntk");
  // Dynamic NTK at n = 20000 tokens: b' = b (s n / L - (s - 1))^(d/(d-2)).
  const double n = 20000, b_dyn = theta * std::pow(s * n / L - (s - 1), static_cast<double>(d) / (d - 2));
  for (int64_t i = 0; i < pairs; ++i) want[i] = plain(b_dyn, i, d);
  expect_freqs(Rope(c, {}, RopeExtension::parse("dynamic:factor=4,length=20000", c)), want, "dynamic");
  // Entropy-aware ABF: base 500000.
  for (int64_t i = 0; i < pairs; ++i) want[i] = plain(500000.0, i, d);
  expect_freqs(Rope(c, {}, RopeExtension::parse("abf", c)), want, "abf");
}

// YaRN (Peng et al.), as its reference code computes it: the pair whose
// wavelength lambda = 2 pi / f turns r = L / lambda times over the trained
// length; pairs up to the one where r falls to beta_fast (rounded down) keep
// their frequency, pairs from the one where r falls to beta_slow (rounded
// up) are interpolated by s, linearly in the pair index between.
TEST(RopeExtension, YarnInterpolatesByParts) {
  const ModelConfig c = extension_config();
  const int64_t d = c.head_dim, pairs = d / 2;
  const double theta = c.rope_theta, s = 4.0, L = 8192.0, pi = std::acos(-1.0);
  // The pair index i (possibly fractional) with r(i) = L / (2 pi theta^(2i/d)) = rotations.
  const auto pair_for = [&](double rotations) { return d * std::log(L / (rotations * 2 * pi)) / (2 * std::log(theta)); };
  const double low = std::floor(pair_for(32.0)), high = std::ceil(pair_for(1.0));
  ASSERT_GT(high, low);
  const Rope rope(c, {}, RopeExtension::parse("yarn:factor=4", c));
  int kept = 0, interpolated = 0;
  for (int64_t i = 0; i < pairs; ++i) {
    const double f = plain(theta, i, d), r = L * f / (2 * pi);
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    EXPECT_NEAR(rope.inv_freq()[i] / (f * (1 - ramp) + f / s * ramp), 1.0, 1e-9) << "pair " << i;
    // The paper's two ends: many turns keep the frequency, under one turn is interpolated.
    if (r > 32.0 * 2) {
      EXPECT_EQ(rope.inv_freq()[i], f) << "pair " << i;
      ++kept;
    }
    if (r < 1.0 / 2) {
      EXPECT_NEAR(rope.inv_freq()[i], f / s, 1e-12 * f) << "pair " << i;
      ++interpolated;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(interpolated, 0);
  // Attention temperature: sqrt(1/t) = 0.1 ln s + 1 on queries and keys, so the logits take its square.
  const double t = 0.1 * std::log(s) + 1;
  EXPECT_NEAR(rope.logit_scale(0, 100), t * t, 1e-6);
  EXPECT_NEAR(rope.logit_scale(7, 30000), t * t, 1e-6);
}

TEST(RopeExtension, AbfScalesLogitsByLogLengthPastTheFirstLayers) {
  const ModelConfig c = extension_config();
  const Rope rope(c, {}, RopeExtension::parse("abf", c));
  EXPECT_EQ(rope.logit_scale(0, 30000), 1.0f);  // the first two layers keep their logits
  EXPECT_EQ(rope.logit_scale(1, 30000), 1.0f);
  EXPECT_EQ(rope.logit_scale(2, 100), 1.0f);    // within the trained length: at least 1
  EXPECT_NEAR(rope.logit_scale(2, 30000), std::log(30001.0) / std::log(8192.0), 1e-6);
  EXPECT_NEAR(rope.logit_scale(5, 65535), std::log(65536.0) / std::log(8192.0), 1e-6);
}

// factor=1 is the model's own RoPE, and so is dynamic NTK within the
// trained length (past it, its base grows with the length even at factor 1,
// as its formula says).
TEST(RopeExtension, FactorOneIsTheModelsOwnRope) {
  const ModelConfig c = extension_config();
  const Rope own(c, {});
  for (const char* spec : {"linear:factor=1", "ntk:factor=1", "dynamic:factor=4,length=8000", "yarn:factor=1"}) {
    const Rope r(c, {}, RopeExtension::parse(spec, c));
    for (size_t i = 0; i < own.inv_freq().size(); ++i)
      EXPECT_NEAR(r.inv_freq()[i], own.inv_freq()[i], 1e-12 * own.inv_freq()[i]) << spec << " pair " << i;
    EXPECT_EQ(r.logit_scale(5, 20000), 1.0f) << spec;
  }
}

TEST(RopeExtension, CanonicalSpecsRoundTrip) {
  const ModelConfig c = extension_config();
  EXPECT_EQ(RopeExtension::parse("none", c).spec(), "none");
  EXPECT_EQ(RopeExtension::parse("yarn", c).spec(), "yarn:factor=4,original=8192,beta_fast=32,beta_slow=1");
  EXPECT_EQ(RopeExtension::parse("linear:factor=2.5", c).spec(), "linear:factor=2.5");
  EXPECT_EQ(RopeExtension::parse("abf:base=1000000", c).spec(), "abf:base=1000000,original=8192,unscaled_layers=2");
  for (const char* spec : {"yarn:factor=8,original=4096,beta_fast=16,beta_slow=2", "dynamic:factor=2,original=8192,length=100",
                           "ntk:factor=3"})
    EXPECT_EQ(RopeExtension::parse(RopeExtension::parse(spec, c).spec(), c).spec(), RopeExtension::parse(spec, c).spec());
  std::string canonical;
  EXPECT_EQ(make_rope("", c, {}, 100, &canonical), nullptr);
  EXPECT_EQ(canonical, "none");
  EXPECT_NE(make_rope("dynamic", c, {}, 20000, &canonical), nullptr);
  EXPECT_EQ(canonical, "dynamic:factor=4,original=8192,length=20000");
}

TEST(RopeExtension, BadSpecsSayWhatIsWrong) {
  ModelConfig c = extension_config();
  const auto error_of = [&](const std::string& spec) {
    try {
      RopeExtension::parse(spec, c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("yarm").find("unknown rope extension 'yarm' (none, linear, ntk, dynamic, yarn, abf)"), std::string::npos);
  EXPECT_NE(error_of("yarn:factor=0.5").find("factor must be a number in"), std::string::npos);
  EXPECT_NE(error_of("yarn:beta_fast=1,beta_slow=2").find("beta_fast must be greater than beta_slow"), std::string::npos);
  EXPECT_NE(error_of("ntk:original=4096").find("has no parameter 'original'"), std::string::npos);
  EXPECT_NE(error_of("linear:factor").find("expected key=value"), std::string::npos);
  c.rope_scaling = RopeScaling::Llama3;
  EXPECT_NE(error_of("yarn").find("this model scales its RoPE itself (llama3)"), std::string::npos);
  EXPECT_EQ(error_of("none"), "no error");
}

}  // namespace
}  // namespace sieve
