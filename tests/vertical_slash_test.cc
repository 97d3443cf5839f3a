// MInference's index estimation: the column and diagonal votes of the last
// queries (against float64), the forced first columns and nearest diagonals, the per-block
// conversion into key spans and leftover columns (checked against the
// definition, slot by slot), and Block-Sparse's top key blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "attention/prefill/minference/vertical_slash.h"
#include "attention/prefill/prefill_plan.h"

namespace sieve {
namespace {

// The votes against a float64 softmax of the same queries and keys: two
// heads of one KV head, 40 last queries, keys in windows (3000 > the 1024
// scored at a time). f16 keys are scored on the tile unit where usable
// (bf16 queries and keys), so their votes are estimates.
void check_votes(KvType type, double tolerance) {
  const int64_t hd = 64, n_keys = 3000, n_last = 40, n_heads = 2;
  KvCache cache({1, 1, hd, 64, type});
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<int64_t> pos(n_keys);
  for (int64_t i = 0; i < n_keys; ++i) pos[i] = i;
  cache.append_slots(pos.data(), n_keys);
  std::vector<float> k(hd), v(hd);
  for (int64_t i = 0; i < n_keys; ++i) {
    for (float& x : k) x = nd(rng);
    cache.write(0, i, k.data(), v.data());
  }
  std::vector<float> q(n_heads * n_last * hd);
  for (float& x : q) x = 0.4f * nd(rng);
  const std::vector<VerticalSlashVotes> votes = vertical_slash_votes(cache, 0, 0, q.data(), n_heads, n_last, n_keys);
  ASSERT_EQ(votes.size(), 2u);
  for (int64_t h = 0; h < n_heads; ++h) {
    std::vector<double> column(n_keys, 0.0), diagonal(n_keys, 0.0);
    for (int64_t r = 0; r < n_last; ++r) {
      const int64_t slot = n_keys - n_last + r;
      std::vector<double> p(slot + 1);
      double m = -1e300, z = 0;
      for (int64_t j = 0; j <= slot; ++j) {
        cache.read_key(0, 0, j, k.data());
        double d = 0;
        for (int64_t x = 0; x < hd; ++x) d += static_cast<double>(q[(h * n_last + r) * hd + x]) * k[x];
        m = std::max(m, p[j] = d);
      }
      for (double& x : p) z += (x = std::exp(x - m));
      for (int64_t j = 0; j <= slot; ++j) {
        column[j] += p[j] / z;
        diagonal[slot - j] += p[j] / z;
      }
    }
    double worst = 0, total = 0;
    for (int64_t j = 0; j < n_keys; ++j) {
      worst = std::max({worst, std::abs(votes[h].column[j] - column[j]), std::abs(votes[h].diagonal[j] - diagonal[j])});
      total += votes[h].column[j];
    }
    EXPECT_LT(worst, tolerance) << "head " << h;
    EXPECT_NEAR(total, static_cast<double>(n_last), 1e-3) << "each row's probabilities sum to one";
  }
}

TEST(VerticalSlash, VotesAreEachRowsSoftmaxSummedPerColumnAndDiagonal) { check_votes(KvType::F32, 1e-5); }
TEST(VerticalSlash, VotesFromTheTileUnitAreCloseEstimates) { check_votes(KvType::F16, 2e-2); }

TEST(VerticalSlash, SelectionKeepsThePlantedAndTheForcedOnes) {
  VerticalSlashVotes votes;
  votes.column.assign(3000, 0.01f);
  votes.diagonal.assign(3000, 0.01f);
  votes.column[1234] = 5.0f;
  votes.diagonal[777] = 5.0f;
  const VerticalSlashIndex idx = select_vertical_slash(votes, 40, 120);
  EXPECT_EQ(idx.verticals.size(), 40u);
  EXPECT_EQ(idx.slashes.size(), 120u);
  EXPECT_TRUE(std::is_sorted(idx.verticals.begin(), idx.verticals.end()));
  EXPECT_TRUE(std::binary_search(idx.verticals.begin(), idx.verticals.end(), 1234));
  EXPECT_TRUE(std::binary_search(idx.slashes.begin(), idx.slashes.end(), 777));
  for (int64_t j = 0; j < kAlwaysVertical; ++j) EXPECT_TRUE(std::binary_search(idx.verticals.begin(), idx.verticals.end(), j));
  for (int64_t d = 0; d < kAlwaysSlash; ++d) EXPECT_TRUE(std::binary_search(idx.slashes.begin(), idx.slashes.end(), d));
}

TEST(VerticalSlash, SizesAreClampedAsTheReferenceDoes) {
  VerticalSlashVotes votes;
  votes.column.assign(200, 0.01f);
  votes.diagonal.assign(200, 0.01f);
  const VerticalSlashIndex small = select_vertical_slash(votes, 1, 1);
  EXPECT_EQ(small.verticals.size(), static_cast<size_t>(kMinVertical));
  EXPECT_EQ(small.slashes.size(), static_cast<size_t>(kMinSlash));  // 50 of the 100 forced, the nearest
  EXPECT_EQ(small.slashes.back(), kMinSlash - 1);
  const VerticalSlashIndex big = select_vertical_slash(votes, 5000, 5000);
  EXPECT_EQ(big.verticals.size(), 200u);
  EXPECT_EQ(big.slashes.size(), 200u);
}

TEST(VerticalSlash, BlockReadsAreTheDiagonalsUnionAndTheColumnsOutsideIt) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    VerticalSlashIndex idx;
    std::set<int64_t> v, s;
    while (v.size() < 50) v.insert(rng() % 2000);
    while (s.size() < 40) s.insert(rng() % 1500);
    idx.verticals.assign(v.begin(), v.end());
    idx.slashes.assign(s.begin(), s.end());
    const int64_t row_begin = 1000 + 64 * (rng() % 10), row_end = row_begin + 1 + rng() % 64;
    std::vector<SlotSpan> spans, runs;
    vertical_slash_block(idx, row_begin, row_end, spans, runs);
    std::set<int64_t> want_span, got_span, got_columns, want_columns;
    // The ranges cover whole blocks of distance d, [row_begin - d, row_end - d).
    for (int64_t d : idx.slashes)
      for (int64_t k = std::max<int64_t>(0, row_begin - d); k < row_end - d; ++k) want_span.insert(k);
    for (size_t i = 0; i < spans.size(); ++i) {
      if (i > 0) {
        EXPECT_LT(spans[i - 1].end, spans[i].begin) << "spans sorted, disjoint, not touching";
      }
      for (int64_t k = spans[i].begin; k < spans[i].end; ++k) got_span.insert(k);
    }
    EXPECT_EQ(got_span, want_span);
    for (int64_t c : idx.verticals)
      if (c < row_end && !want_span.count(c)) want_columns.insert(c);
    for (const SlotSpan& r : runs)
      for (int64_t i = r.begin; i < r.end; ++i) got_columns.insert(idx.verticals[i]);
    EXPECT_EQ(got_columns, want_columns);
  }
}

TEST(VerticalSlash, TopKeyBlocksTakeTheBestVisibleBlocks) {
  const int64_t n_keys = 64 * 10 + 20, n_blocks = 11;
  std::vector<float> scores(n_blocks, 0.0f);
  scores[3] = 5.0f;
  scores[7] = 4.0f;
  scores[10] = 9.0f;  // the partial last block, visible only to rows reaching it
  scores[8] = 3.0f;
  std::vector<SlotSpan> spans;
  top_key_blocks(scores.data(), n_blocks, 64 * 8 + 10, n_keys, 2, spans);  // rows up to block 8
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].begin, 3 * 64);
  EXPECT_EQ(spans[1].begin, 7 * 64);
  top_key_blocks(scores.data(), n_blocks, n_keys, n_keys, 3, spans);
  ASSERT_EQ(spans.size(), 3u);  // 3, 7, and 10 clipped at n_keys
  EXPECT_EQ(spans[0].begin, 3 * 64);
  EXPECT_EQ(spans[0].end, 4 * 64);
  EXPECT_EQ(spans[1].begin, 7 * 64);
  EXPECT_EQ(spans[1].end, 8 * 64);
  EXPECT_EQ(spans[2].begin, 10 * 64);
  EXPECT_EQ(spans[2].end, n_keys);
  top_key_blocks(scores.data(), n_blocks, n_keys, n_keys, 4, spans);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[1].begin, 7 * 64);
  EXPECT_EQ(spans[1].end, 9 * 64);  // 7 and 8 merged
  EXPECT_EQ(spans[2].end, n_keys);
}

}  // namespace
}  // namespace sieve
