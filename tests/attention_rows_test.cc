// Exact attention one row at a time (attention_rows.h) against float64, and
// the slot copy that follows a growing or rolled-back cache.
#include <gtest/gtest.h>

#include <cmath>

#include "attention/attention_rows.h"
#include "attention/full_attention.h"
#include "attention_kernel_check.h"

namespace sieve {
namespace {

using testing_support::Case;
using testing_support::fill;

// softmax(q.k / sqrt(d)) over slots [0, n) and its weighted values, in double.
void reference_row(const KvCache& cache, int64_t kv_head, const float* q, int64_t n, std::vector<double>& probs,
                   std::vector<double>& out) {
  const int64_t hd = cache.shape().head_dim;
  std::vector<float> k(hd), v(hd);
  probs.assign(n, 0);
  double top = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    cache.read_key(0, kv_head, j, k.data());
    double s = 0;
    for (int64_t d = 0; d < hd; ++d) s += static_cast<double>(q[d]) * k[d];
    probs[j] = s / std::sqrt(static_cast<double>(hd));
    top = std::max(top, probs[j]);
  }
  double sum = 0;
  for (double& p : probs) sum += p = std::exp(p - top);
  out.assign(hd, 0);
  for (int64_t j = 0; j < n; ++j) {
    probs[j] /= sum;
    cache.read_value(0, kv_head, j, v.data());
    for (int64_t d = 0; d < hd; ++d) out[d] += probs[j] * v[d];
  }
}

TEST(AttentionRows, RowsMatchFloat64) {
  const Case c{64, 4, 2, 301, 5};  // not a multiple of the 8-slot key blocks
  auto f = fill(c, KvType::F32);
  HeadKv kv;
  std::vector<float> probs(c.context), out(c.head_dim);
  std::vector<double> want_p, want_o;
  for (int64_t h = 0; h < c.n_heads; ++h) {
    const int64_t kv_head = h / (c.n_heads / c.n_kv_heads);
    kv.read(f.cache, 0, kv_head, 0, c.context);
    for (int64_t i = 0; i < c.n_q; ++i) {
      const float* q = f.q.data() + (i * c.n_heads + h) * c.head_dim;
      const int64_t n = f.first_slot + i + 1;
      kv.probabilities(q, n, probs.data());
      kv.weighted_values(probs.data(), n, out.data());
      reference_row(f.cache, kv_head, q, n, want_p, want_o);
      for (int64_t j = 0; j < n; ++j) ASSERT_NEAR(probs[j], want_p[j], 1e-6 + 1e-5 * want_p[j]) << j;
      for (int64_t d = 0; d < c.head_dim; ++d) ASSERT_NEAR(out[d], want_o[d], 1e-5) << d;
    }
  }
}

TEST(AttentionRows, AgreesWithTheFullAttentionKernel) {
  const Case c{64, 4, 2, 200, 3};
  auto f = fill(c, KvType::F32);
  ThreadPool pool(2);
  std::vector<float> kernel(f.q.size());
  attend_full(f.cache, 0, f.q.data(), c.n_q, f.first_slot, c.n_heads, kernel.data(), pool);
  HeadKv kv;
  std::vector<float> probs(c.context), out(c.head_dim);
  for (int64_t h = 0; h < c.n_heads; ++h) {
    kv.read(f.cache, 0, h / 2, 0, c.context);
    for (int64_t i = 0; i < c.n_q; ++i) {
      kv.probabilities(f.q.data() + (i * c.n_heads + h) * c.head_dim, f.first_slot + i + 1, probs.data());
      kv.weighted_values(probs.data(), f.first_slot + i + 1, out.data());
      for (int64_t d = 0; d < c.head_dim; ++d) EXPECT_NEAR(out[d], kernel[(i * c.n_heads + h) * c.head_dim + d], 1e-3);
    }
  }
}

TEST(AttentionRows, RereadsSlotsFromFirstNew) {
  const Case c{64, 2, 1, 40, 1};
  auto f = fill(c, KvType::F32);
  HeadKv kv;
  kv.read(f.cache, 0, 0, 0, 40);
  // Roll back to 30 slots and write new keys there, as a rolled-back sequence does.
  f.cache.truncate(30);
  std::vector<int64_t> pos = {30, 31};
  f.cache.append_slots(pos.data(), 2);
  std::vector<float> k(64, 0.0f), v(64, 1.0f);
  k[0] = 200.0f;  // the new slots dominate any query with q[0] > 0
  f.cache.write(0, 30, k.data(), v.data());
  f.cache.write(0, 31, k.data(), v.data());
  kv.read(f.cache, 0, 0, 30, 32);
  EXPECT_EQ(kv.size(), 32);
  std::vector<float> q(64, 0.0f), probs(32), out(64);
  q[0] = 1.0f;
  kv.probabilities(q.data(), 32, probs.data());
  EXPECT_GT(probs[30] + probs[31], 0.99f);
  kv.weighted_values(probs.data(), 32, out.data());
  EXPECT_NEAR(out[5], 1.0f, 0.01f);  // the new values, not the old random ones
}

}  // namespace
}  // namespace sieve
