// The prefill attention on AMX tiles (attention/attention_tiles.h), through
// attend_full, against a float64 softmax of the bf16-rounded operands.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/attention_tiles.h"
#include "attention/full_attention.h"
#include "attention_kernel_check.h"
#include "kernels/matmul_internal.h"
#include "support/simd_targets.h"
#include "util/half.h"

namespace sieve {
namespace {
using namespace testing_support;

float round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// The tile unit's prefill attention (attention_tiles.h) against a float64
// softmax of the bf16-rounded pre-scaled queries and keys, whose output may
// differ by the rounding of the probabilities and values: 2^-8 of
// sum_j p_j |v_j| per element, plus float32 sums.
void check_tiles(const Case& c, KvType type, int threads) {
  Filled f = fill(c, type);
  const KvCacheShape& s = f.cache.shape();
  const int64_t hd = s.head_dim, group = c.n_heads / s.n_kv_heads;
  std::vector<float> out(f.q.size());
  ThreadPool pool(threads);
  attend_full(f.cache, 0, f.q.data(), c.n_q, f.first_slot, c.n_heads, out.data(), pool);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> k(hd), v(hd);
  double worst = 0;  // error over its bound
  for (int64_t t = 0; t < c.n_q; ++t)
    for (int64_t h = 0; h < c.n_heads; ++h) {
      const int64_t n = f.first_slot + t + 1;
      std::vector<double> sc(n);
      double m = -1e300;
      for (int64_t j = 0; j < n; ++j) {
        f.cache.read_key(0, h / group, j, k.data());
        double d = 0;
        for (int64_t i = 0; i < hd; ++i)
          d += static_cast<double>(round_bf16(f.q[(t * c.n_heads + h) * hd + i] * scale)) * round_bf16(k[i]);
        m = std::max(m, sc[j] = d);
      }
      double z = 0;
      for (double& x : sc) z += (x = std::exp(x - m));
      std::vector<double> want(hd, 0.0), mag(hd, 0.0);
      for (int64_t j = 0; j < n; ++j) {
        f.cache.read_value(0, h / group, j, v.data());
        for (int64_t i = 0; i < hd; ++i) {
          want[i] += sc[j] / z * round_bf16(v[i]);
          mag[i] += sc[j] / z * std::fabs(round_bf16(v[i]));
        }
      }
      for (int64_t i = 0; i < hd; ++i) {
        const double err = std::fabs(out[(t * c.n_heads + h) * hd + i] - want[i]);
        worst = std::max(worst, err / (std::ldexp(mag[i], -8) + 2e-5));
      }
    }
  EXPECT_LE(worst, 1.0) << "type " << kv_type_name(type) << " hd " << c.head_dim << " ctx " << c.context << " n_q "
                        << c.n_q << " threads " << threads;
}

TEST(AttentionTiles, MatchRoundedFloat64Reference) {
  if (!attention_tiles::usable(64, 64)) GTEST_SKIP() << "the AMX tile unit is not usable here";
  // Blocks of more than 8 rows per KV head (the tiles' share), pages cut by
  // the causal limit and by the span's start, head_dim 32 to 128.
  const Case cases[] = {
      {64, 8, 2, 130, 37}, {64, 8, 2, 200, 200}, {32, 6, 2, 97, 5}, {128, 8, 2, 300, 70}, {64, 8, 1, 75, 11},
      {96, 4, 1, 129, 64},
  };
  testing::for_each_simd_target([&](int64_t) {
    for (KvType type : {KvType::F16, KvType::BF16, KvType::Q8_0})  // an f32 cache keeps float32 attention
      for (const Case& c : cases)
        for (int threads : {1, 3}) check_tiles(c, type, threads);
  });
}

// The tiles do change the numbers: with them, a prefill block is not the
// float32 kernel's to 2e-5 (so the test above is not passing on the float
// path by accident).
TEST(AttentionTiles, TakenForPrefillBlocks) {
  if (!attention_tiles::usable(64, 64)) GTEST_SKIP() << "the AMX tile unit is not usable here";
  const Case c{64, 8, 2, 130, 37};
  Filled f = fill(c, KvType::F16);
  std::vector<float> tiles(f.q.size()), plain(f.q.size());
  ThreadPool pool(2);
  attend_full(f.cache, 0, f.q.data(), c.n_q, f.first_slot, c.n_heads, tiles.data(), pool);
  kernels::detail::set_amx_enabled(false);
  attend_full(f.cache, 0, f.q.data(), c.n_q, f.first_slot, c.n_heads, plain.data(), pool);
  kernels::detail::set_amx_enabled(true);
  double max_diff = 0;
  for (size_t i = 0; i < tiles.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(tiles[i]) - plain[i]));
  EXPECT_GT(max_diff, 2e-5);
}

}  // namespace
}  // namespace sieve
