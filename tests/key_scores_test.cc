// HiP's scoring kernels against float64 dot products of the same bf16 keys:
// the vector path (float32 queries) and, where the CPU has it, the tile
// path (bf16 queries: within 2^-8 of sum |q||k|), with each key's row mask.
#include "attention/prefill/hip/key_scores.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "kernels/matmul_internal.h"
#include "util/half.h"

namespace sieve {
namespace {

struct Case {
  int64_t n_rows, hd, n_keys;
  std::vector<float> q;
  std::vector<std::vector<uint16_t>> keys;
  std::vector<const uint16_t*> ptrs;
  std::vector<int64_t> first_row;

  Case(int64_t rows, int64_t dim, int64_t n) : n_rows(rows), hd(dim), n_keys(n) {
    std::mt19937 rng(static_cast<unsigned>(rows * 131 + dim * 7 + n));
    std::normal_distribution<float> nd(0.0f, 1.0f);
    q.resize(static_cast<size_t>(rows * dim));
    for (float& x : q) x = nd(rng);
    keys.assign(static_cast<size_t>(n), std::vector<uint16_t>(static_cast<size_t>(dim)));
    for (auto& k : keys)
      for (uint16_t& x : k) x = f32_to_bf16(nd(rng));
    for (auto& k : keys) ptrs.push_back(k.data());
    std::uniform_int_distribution<int64_t> row(0, rows);  // rows: none may read the key
    for (int64_t i = 0; i < n; ++i) first_row.push_back(row(rng));
  }
  // float64 max over rows r >= first_row[i]; its bound for bf16 queries.
  void want(int64_t i, double& score, double& bound) const {
    score = -INFINITY;
    bound = 0;
    for (int64_t r = first_row[i]; r < n_rows; ++r) {
      double d = 0, a = 0;
      for (int64_t x = 0; x < hd; ++x) {
        const double k = bf16_to_f32(keys[i][x]);
        d += q[r * hd + x] * k;
        a += std::abs(q[r * hd + x] * k);
      }
      score = std::max(score, d);
      bound = std::max(bound, a);
    }
  }
};

void check(bool tiles, int64_t rows, int64_t hd, int64_t n) {
  kernels::detail::set_amx_enabled(tiles);
  const Case c(rows, hd, n);
  const ScoreRows scorer(c.q.data(), rows, hd);
  std::vector<float> out(n);
  scorer.max_scores(c.ptrs.data(), c.first_row.data(), n, out.data());
  kernels::detail::set_amx_enabled(true);
  for (int64_t i = 0; i < n; ++i) {
    double want, bound;
    c.want(i, want, bound);
    if (std::isinf(want)) {
      EXPECT_TRUE(std::isinf(out[i]) && out[i] < 0) << i;
      continue;
    }
    const double tolerance = tiles ? bound * std::ldexp(1.0, -8) : 1e-5 * bound + 1e-6;
    EXPECT_NEAR(out[i], want, tolerance) << "key " << i << " first_row " << c.first_row[i];
  }
}

TEST(KeyScores, VectorPathMatchesFloat64) {
  for (int64_t rows : {1, 5, 16, 32, 33})
    for (int64_t hd : {64, 128, 40}) check(false, rows, hd, 37);
}

TEST(KeyScores, TilePathMatchesFloat64) {
  if (!key_score_tiles_usable(64)) GTEST_SKIP() << "no AMX tiles here";
  for (int64_t rows : {1, 5, 16, 32, 33})
    for (int64_t hd : {64, 128}) check(true, rows, hd, 37);
}

}  // namespace
}  // namespace sieve
