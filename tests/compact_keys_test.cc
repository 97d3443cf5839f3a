// The compact (int8) key copy: its scores against a scalar reference on the
// same int8 levels on every SIMD target (and across chunks), against float32
// dot products within the quantisation error, and a planted key ranked first
// among random ones.
#include "attention/selection/compact_keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "support/simd_targets.h"

namespace sieve {
namespace {

std::vector<float> random_vectors(int64_t n, int64_t hd, uint32_t seed, float spread = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> x(n * hd);
  for (float& v : x) v = normal(rng);
  return x;
}

constexpr CompactKeys::Form kForms[] = {CompactKeys::Form::Int8, CompactKeys::Form::Int4};

// A copy filled with n keys per KV head (layer 1 of 2), keys[h] n x hd.
CompactKeys filled(int64_t n, int64_t n_kv, int64_t hd, const std::vector<std::vector<float>>& keys,
                   CompactKeys::Form form = CompactKeys::Form::Int8) {
  CompactKeys c(2, n_kv, hd, form);
  c.reserve(1, n);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t h = 0; h < n_kv; ++h) c.write(1, h, j, keys[h].data() + j * hd);
  c.set_size(1, n);
  return c;
}

// The score the int8 forms define, in double: sum of levels times both scales.
double reference_score(const CompactKeys& c, int64_t layer, int64_t h, int64_t j, const float* q) {
  const int64_t hd = c.head_dim();
  std::vector<int8_t> k(c.head_dim());
  c.read_levels(layer, h, j, k.data());
  const float ks = c.scale(layer, h, j);
  std::vector<int8_t> q8(hd);
  const float qs = quantize_int8(q, hd, q8.data());
  int64_t dot = 0;
  for (int64_t d = 0; d < hd; ++d) dot += int64_t{q8[d]} * k[d];
  return static_cast<double>(dot) * ks * qs;
}

TEST(CompactKeys, QuantizeKeepsEveryValueWithinHalfAStep) {
  const auto x = random_vectors(1, 128, 1, 3.0f);
  std::vector<int8_t> q(128);
  const float scale = quantize_int8(x.data(), 128, q.data());
  float amax = 0;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  EXPECT_FLOAT_EQ(scale, amax / 127.0f);
  for (int64_t i = 0; i < 128; ++i) {
    EXPECT_LE(std::abs(q[i]), 127);
    EXPECT_LE(std::fabs(q[i] * scale - x[i]), 0.5f * scale * 1.0001f);
  }
  std::vector<float> zero(8, 0.0f);
  std::vector<int8_t> z(8, 5);
  EXPECT_EQ(quantize_int8(zero.data(), 8, z.data()), 0.0f);
  for (int8_t v : z) EXPECT_EQ(v, 0);
}

TEST(CompactKeys, ScoresMatchTheScalarReferenceOnEveryTarget) {
  for (const CompactKeys::Form form : kForms)
    for (const int64_t hd : {64, 128, 4, 12, 80, 1}) {
      const int64_t n = 83, n_kv = 2;
      std::vector<std::vector<float>> keys = {random_vectors(n, hd, 2), random_vectors(n, hd, 3, 5.0f)};
      // Extreme keys: all-zero, one huge dimension, every level at +-127.
      std::fill(keys[0].begin() + 5 * hd, keys[0].begin() + 6 * hd, 0.0f);
      keys[0][7 * hd] = 1e4f;
      for (int64_t d = 0; d < hd; ++d) keys[1][9 * hd + d] = d % 2 ? -3.0f : 3.0f;
      const CompactKeys c = filled(n, n_kv, hd, keys, form);
      const CompactKeys copy = c;
      for (const int64_t n_q : {1, 4, 5, 9}) {
        auto q = random_vectors(n_q, hd, 7 + static_cast<uint32_t>(n_q));
        for (int64_t d = 0; d < hd; ++d) q[d] = d % 3 ? 2.0f : -2.0f;  // levels at +-127
        if (hd == 1) q[0] = 2.0f;
        for (const auto& [b, e] :
             std::vector<std::pair<int64_t, int64_t>>{{0, n}, {3, 80}, {16, 64}, {17, 30}, {20, 21}}) {
          SCOPED_TRACE(::testing::Message() << CompactKeys::form_name(form) << " hd " << hd << " n_q " << n_q << " ["
                                            << b << ", " << e << ")");
          testing::for_each_simd_target([&](int64_t) {
            for (int64_t h = 0; h < n_kv; ++h) {
              std::vector<float> s(n_q * (e - b), -1.0f);
              copy.score(1, h, b, e, q.data(), n_q, s.data());
              for (int64_t g = 0; g < n_q; ++g)
                for (int64_t j = b; j < e; ++j) {
                  const double want = reference_score(c, 1, h, j, q.data() + g * hd);
                  ASSERT_NEAR(s[g * (e - b) + (j - b)], want, 1e-5 * std::max(1.0, std::fabs(want)))
                      << "head " << h << " query " << g << " slot " << j;
                }
            }
          });
        }
      }
    }
}

TEST(CompactKeys, ScoresAreCloseToFloatDotProducts) {
  const int64_t n = 256, hd = 64;
  const auto keys = random_vectors(n, hd, 11);
  const auto q = random_vectors(1, hd, 12);
  for (const CompactKeys::Form form : kForms) {
    const CompactKeys c = filled(n, 1, hd, {keys}, form);
    // Each level is within half a step (absmax / 254, or / 14 for int4) of its value.
    const double steps = form == CompactKeys::Form::Int8 ? 254.0 : 14.0;
    std::vector<float> s(n);
    c.score(1, 0, 0, n, q.data(), 1, s.data());
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0, qmax = 0, kmax = 0, qsum = 0, ksum = 0;
      for (int64_t d = 0; d < hd; ++d) {
        exact += double{q[d]} * keys[j * hd + d];
        qmax = std::max(qmax, std::fabs(double{q[d]}));
        kmax = std::max(kmax, std::fabs(double{keys[j * hd + d]}));
        qsum += std::fabs(q[d]);
        ksum += std::fabs(keys[j * hd + d]);
      }
      // |q.k - q'.k'| <= sum |q||k - k'| + sum |k'||q - q'|.
      const double bound = qsum * kmax / steps + (ksum + hd * kmax / steps) * qmax / 254.0;
      EXPECT_NEAR(s[j], exact, bound * 1.001) << CompactKeys::form_name(form) << " " << j;
    }
  }
}

TEST(CompactKeys, APlantedKeyRanksFirst) {
  const int64_t n = 4096, hd = 64;
  auto keys = random_vectors(n, hd, 21);
  const auto q = random_vectors(1, hd, 22);
  // The planted key points along the query, no longer than a typical key.
  const int64_t planted = 2777;
  double qn = 0;
  for (float v : q) qn += double{v} * v;
  for (int64_t d = 0; d < hd; ++d) keys[planted * hd + d] = static_cast<float>(q[d] / std::sqrt(qn) * 8.0);
  for (const CompactKeys::Form form : kForms) {
    const CompactKeys c = filled(n, 1, hd, {keys}, form);
    testing::for_each_simd_target([&](int64_t) {
      std::vector<float> s(n - 100);
      c.score(1, 0, 100, n, q.data(), 1, s.data());
      EXPECT_EQ(std::max_element(s.begin(), s.end()) - s.begin() + 100, planted) << CompactKeys::form_name(form);
    });
  }
}

TEST(CompactKeys, TruncateAndRewrite) {
  for (const CompactKeys::Form form : kForms) {
    const int64_t n = 40, hd = 8;
    const auto a = random_vectors(n, hd, 31), b = random_vectors(n, hd, 32);
    CompactKeys c = filled(n, 1, hd, {a}, form);
    EXPECT_EQ(c.size(1), n);
    EXPECT_EQ(c.size(0), 0);
    c.truncate(1, 10);
    EXPECT_EQ(c.size(1), 10);
    c.reserve(1, n);
    for (int64_t j = 10; j < n; ++j) c.write(1, 0, j, b.data() + j * hd);
    c.set_size(1, n);
    const CompactKeys fresh = filled(n, 1, hd, {b}, form);
    std::vector<float> k1(hd), k2(hd);
    for (int64_t j = 10; j < n; ++j) {
      c.dequantize(1, 0, j, k1.data());
      fresh.dequantize(1, 0, j, k2.data());
      EXPECT_EQ(k1, k2);
      for (int64_t d = 0; d < hd; ++d) EXPECT_NEAR(k1[d], b[j * hd + d], c.scale(1, 0, j) * 0.5001f);
    }
    EXPECT_THROW(c.write(1, 0, CompactKeys::kChunkSlots, a.data()), std::exception);  // past the reservation
    EXPECT_GT(c.bytes_allocated(), static_cast<size_t>(n * c.bytes_per_slot()));
  }
  EXPECT_EQ(CompactKeys(1, 1, 64, CompactKeys::Form::Int8).bytes_per_slot(), 68);
  EXPECT_EQ(CompactKeys(1, 1, 64, CompactKeys::Form::Int4).bytes_per_slot(), 36);
  EXPECT_EQ(CompactKeys::form_from_name("int4"), CompactKeys::Form::Int4);
  EXPECT_THROW(CompactKeys::form_from_name("int2"), std::exception);
}

TEST(CompactKeys, ScoresSpanChunksWithAStride) {
  const int64_t n = CompactKeys::kChunkSlots * 2 + 40, hd = 64;
  const auto keys = random_vectors(n, hd, 41);
  const auto q = random_vectors(3, hd, 42);
  for (const CompactKeys::Form form : kForms) {
    const CompactKeys c = filled(n, 1, hd, {keys}, form);
    const int64_t b = CompactKeys::kChunkSlots - 5, e = 2 * CompactKeys::kChunkSlots + 7;
    // Each query's scores `stride` apart, the gaps left alone.
    const int64_t stride = e - b + 9;
    std::vector<float> s(3 * stride, -7.0f);
    c.score(1, 0, b, e, q.data(), 3, s.data(), stride);
    for (int64_t g = 0; g < 3; ++g) {
      for (int64_t j = b; j < e; ++j)
        ASSERT_NEAR(s[g * stride + j - b], reference_score(c, 1, 0, j, q.data() + g * hd), 1e-4) << j;
      for (int64_t j = e - b; j < stride; ++j) ASSERT_EQ(s[g * stride + j], -7.0f);
    }
  }
}

TEST(CompactKeys, RejectsHeadDimsOutOfRange) {
  EXPECT_THROW(CompactKeys(1, 1, 0), std::exception);
  EXPECT_THROW(CompactKeys(1, 1, 2048), std::exception);
}

}  // namespace
}  // namespace sieve
