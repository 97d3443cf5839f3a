// The attention kernel against a float64 softmax over the same cache
// contents, for every KV element type, SIMD target, awkward sizes, causal
// prefill blocks and split decoding.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/attention_kernel.h"
#include "attention/full_attention.h"
#include "attention_kernel_check.h"
#include "kernels/matmul_internal.h"
#include "support/simd_targets.h"

namespace sieve {
namespace {
using namespace testing_support;

// Reference: softmax(q k^T / sqrt(d)) v in double, reading the cache back
// through read_key/read_value so the cache's own rounding is not counted.
std::vector<double> reference(const KvCache& cache, const std::vector<float>& q, int64_t n_q, int64_t first_slot,
                              int64_t n_heads) {
  const KvCacheShape& s = cache.shape();
  const int64_t hd = s.head_dim, group = n_heads / s.n_kv_heads;
  std::vector<double> out(n_q * n_heads * hd, 0.0);
  std::vector<float> k(hd), v(hd);
  for (int64_t t = 0; t < n_q; ++t)
    for (int64_t h = 0; h < n_heads; ++h) {
      const int64_t n = first_slot + t + 1;
      std::vector<double> sc(n);
      double m = -1e300;
      for (int64_t j = 0; j < n; ++j) {
        cache.read_key(0, h / group, j, k.data());
        double d = 0;
        for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(q[(t * n_heads + h) * hd + i]) * k[i];
        sc[j] = d / std::sqrt(static_cast<double>(hd));
        m = std::max(m, sc[j]);
      }
      double z = 0;
      for (double& x : sc) z += (x = std::exp(x - m));
      for (int64_t j = 0; j < n; ++j) {
        cache.read_value(0, h / group, j, v.data());
        for (int64_t i = 0; i < hd; ++i) out[(t * n_heads + h) * hd + i] += sc[j] / z * v[i];
      }
    }
  return out;
}

// The float32 kernels (the tile unit off, so prefill blocks take them too).
void check(const Case& c, KvType type, int threads) {
  kernels::detail::set_amx_enabled(false);
  Filled f = fill(c, type);
  const KvCache& cache = f.cache;
  const std::vector<float>& q = f.q;
  const int64_t first_slot = f.first_slot;
  std::vector<float> out(q.size());
  ThreadPool pool(threads);
  attend_full(cache, 0, q.data(), c.n_q, first_slot, c.n_heads, out.data(), pool);
  std::vector<double> want = reference(cache, q, c.n_q, first_slot, c.n_heads);
  double max_err = 0;
  for (size_t i = 0; i < out.size(); ++i) max_err = std::max(max_err, std::fabs(out[i] - want[i]));
  EXPECT_LT(max_err, 2e-5) << "type " << kv_type_name(type) << " hd " << c.head_dim << " ctx " << c.context
                           << " n_q " << c.n_q << " threads " << threads;
  kernels::detail::set_amx_enabled(true);
}

TEST(AttentionKernel, MatchesFloat64ReferenceOnEveryTargetAndType) {
  const Case cases[] = {
      {64, 8, 2, 1, 1},     {64, 8, 2, 65, 1},  {64, 8, 2, 300, 1},  {64, 8, 2, 130, 37},
      {32, 6, 2, 97, 5},    {128, 4, 4, 70, 3}, {64, 8, 1, 1000, 1}, {64, 8, 2, 200, 200},
      {40, 4, 2, 150, 1},   {40, 4, 2, 90, 2},  // head_dim not a multiple of the vector width
  };
  testing::for_each_simd_target([&](int64_t) {
    for (KvType type : {KvType::F32, KvType::F16, KvType::BF16, KvType::Q8_0})
      for (const Case& c : cases) {
        if (type == KvType::Q8_0 && c.head_dim % 32 != 0) continue;  // q8_0 rows are whole blocks of 32
        for (int threads : {1, 3}) check(c, type, threads);
      }
  });
}

// score_spans: raw q.k for every slot of odd spans (inside, across and at the
// ends of pages), in span order, against float64 dots of the read-back keys.
TEST(AttentionKernel, ScoreSpansMatchesFloat64OnEveryTargetAndType) {
  const int64_t hd = 96, context = 300, n_rows = 5;
  const std::vector<SlotSpan> spans = {{3, 17}, {60, 131}, {299, 300}, {128, 129}, {0, 1}};
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  testing::for_each_simd_target([&](int64_t) {
    for (KvType type : {KvType::F32, KvType::F16, KvType::BF16, KvType::Q8_0}) {
      KvCache cache({1, 2, hd, 64, type});
      std::vector<int64_t> pos(context);
      for (int64_t i = 0; i < context; ++i) pos[i] = i;
      cache.append_slots(pos.data(), context);
      std::vector<float> k(2 * hd), v(2 * hd);
      for (int64_t i = 0; i < context; ++i) {
        for (float& x : k) x = nd(rng);
        for (float& x : v) x = nd(rng);
        cache.write(0, i, k.data(), v.data());
      }
      std::vector<float> q(n_rows * hd);
      for (float& x : q) x = nd(rng);
      int64_t n_slots = 0;
      for (const SlotSpan& sp : spans) n_slots += sp.end - sp.begin;
      std::vector<float> scores(n_rows * n_slots), scratch(attention_scratch_floats(cache.shape(), n_rows));
      score_spans(cache, 0, 1, spans.data(), static_cast<int64_t>(spans.size()), q.data(), n_rows, scores.data(),
                  scratch.data());
      std::vector<float> key(hd);
      int64_t col = 0;
      for (const SlotSpan& sp : spans)
        for (int64_t j = sp.begin; j < sp.end; ++j, ++col) {
          cache.read_key(0, 1, j, key.data());
          for (int64_t r = 0; r < n_rows; ++r) {
            double want = 0;
            for (int64_t d = 0; d < hd; ++d) want += static_cast<double>(q[r * hd + d]) * key[d];
            EXPECT_NEAR(scores[r * n_slots + col], want, 1e-4) << kv_type_name(type) << " slot " << j;
          }
        }
    }
  });
}

}  // namespace
}  // namespace sieve
