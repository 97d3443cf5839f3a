// The prefill attention on AMX tiles (attention/attention_tiles.h), through
// attend_full, against a float64 softmax of the bf16-rounded operands.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/attention_kernel.h"
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

// A float64 softmax of the bf16-rounded pre-scaled query q (head_dim
// floats) and keys over the given slots of one KV head, and per dimension
// the bound the tiles' output must keep to: the rounding of the
// probabilities and values, 2^-8 of sum_j p_j |v_j|, plus float32 sums.
struct Expected {
  std::vector<double> out, bound;
};
Expected rounded_reference(const KvCache& cache, int64_t kv_head, const float* q, const std::vector<int64_t>& slots) {
  const int64_t hd = cache.shape().head_dim;
  std::vector<float> k(hd), v(hd);
  std::vector<double> sc(slots.size());
  double m = -1e300;
  for (size_t j = 0; j < slots.size(); ++j) {
    cache.read_key(0, kv_head, slots[j], k.data());
    double d = 0;
    for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(round_bf16(q[i])) * round_bf16(k[i]);
    m = std::max(m, sc[j] = d);
  }
  double z = 0;
  for (double& x : sc) z += (x = std::exp(x - m));
  Expected e{std::vector<double>(hd, 0.0), std::vector<double>(hd, 2e-5)};
  for (size_t j = 0; j < slots.size(); ++j) {
    cache.read_value(0, kv_head, slots[j], v.data());
    for (int64_t i = 0; i < hd; ++i) {
      e.out[i] += sc[j] / z * round_bf16(v[i]);
      e.bound[i] += std::ldexp(sc[j] / z * std::fabs(round_bf16(v[i])), -8);
    }
  }
  return e;
}

// Worst error of `got` (head_dim floats) over its bound.
double error_over_bound(const float* got, const Expected& e) {
  double worst = 0;
  for (size_t i = 0; i < e.out.size(); ++i) worst = std::max(worst, std::fabs(got[i] - e.out[i]) / e.bound[i]);
  return worst;
}

// The tile unit's prefill attention through attend_full, causal.
void check_tiles(const Case& c, KvType type, int threads) {
  Filled f = fill(c, type);
  const KvCacheShape& s = f.cache.shape();
  const int64_t hd = s.head_dim, group = c.n_heads / s.n_kv_heads;
  std::vector<float> out(f.q.size());
  ThreadPool pool(threads);
  attend_full(f.cache, 0, f.q.data(), c.n_q, f.first_slot, c.n_heads, out.data(), pool);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> q(hd);
  double worst = 0;
  for (int64_t t = 0; t < c.n_q; ++t)
    for (int64_t h = 0; h < c.n_heads; ++h) {
      std::vector<int64_t> slots(f.first_slot + t + 1);
      for (size_t j = 0; j < slots.size(); ++j) slots[j] = static_cast<int64_t>(j);
      for (int64_t i = 0; i < hd; ++i) q[i] = f.q[(t * c.n_heads + h) * hd + i] * scale;
      const float* got = out.data() + (t * c.n_heads + h) * hd;
      worst = std::max(worst, error_over_bound(got, rounded_reference(f.cache, h / group, q.data(), slots)));
    }
  EXPECT_LE(worst, 1.0) << "type " << kv_type_name(type) << " hd " << c.head_dim << " ctx " << c.context << " n_q "
                        << c.n_q << " threads " << threads;
}

TEST(AttentionTiles, MatchRoundedFloat64Reference) {
  if (!attention_tiles::usable(KvType::F16, 64, 64)) GTEST_SKIP() << "the AMX tile unit is not usable here";
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

// Rows with their own windows (begin) and limits over two spans with a
// gap, as the selecting policies call the kernel: a row reads exactly the
// slots of the spans in [begin, limit), and a row that sees none of them
// stays empty.
TEST(AttentionTiles, WindowsAndSpansReadExactlyTheirSlots) {
  if (!attention_tiles::usable(KvType::F16, 64, 64)) GTEST_SKIP() << "the AMX tile unit is not usable here";
  const Case c{64, 1, 1, 260, 1};
  const SlotSpan spans[] = {{3, 40}, {70, 260}};
  for (KvType type : {KvType::F16, KvType::BF16, KvType::Q8_0}) {
    Filled f = fill(c, type);
    const int64_t hd = c.head_dim, n_rows = 21;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 0.3f);
    std::vector<float> q(n_rows * hd), m(n_rows, -INFINITY), l(n_rows, 0.0f), acc(n_rows * hd, 0.0f);
    for (float& x : q) x = nd(rng);
    std::vector<int64_t> limit(n_rows), begin(n_rows);
    for (int64_t r = 0; r < n_rows; ++r) limit[r] = 90 + 8 * r, begin[r] = limit[r] - 75 + 3 * r;
    begin[4] = limit[4] = 50;  // inside the gap: no slot to read
    AttentionRows rows{q.data(), n_rows, limit.data(), begin.data(), m.data(), l.data(), acc.data()};
    std::vector<float> scratch(attention_scratch_floats(f.cache.shape(), n_rows));
    attend_spans(f.cache, 0, 0, spans, 2, rows, scratch.data());
    for (int64_t r = 0; r < n_rows; ++r) {
      std::vector<int64_t> slots;
      for (const SlotSpan& sp : spans)
        for (int64_t j = std::max(sp.begin, begin[r]); j < std::min(sp.end, limit[r]); ++j) slots.push_back(j);
      std::vector<float> got(hd);
      finish_softmax_row(l[r], acc.data() + r * hd, hd, got.data());
      if (slots.empty()) {
        EXPECT_EQ(l[r], 0.0f) << "row " << r;
        continue;
      }
      EXPECT_LE(error_over_bound(got.data(), rounded_reference(f.cache, 0, q.data() + r * hd, slots)), 1.0)
          << "type " << kv_type_name(type) << " row " << r;
    }
  }
}

// The tiles do change the numbers: with them, a prefill block is not the
// float32 kernel's to 2e-5 (so the test above is not passing on the float
// path by accident).
TEST(AttentionTiles, TakenForPrefillBlocks) {
  if (!attention_tiles::usable(KvType::F16, 64, 64)) GTEST_SKIP() << "the AMX tile unit is not usable here";
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
