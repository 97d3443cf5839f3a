// MInference's kernel-aware pattern search on a hand-built batch: every
// candidate sized to the budget as the kernel reads it, scores that mean
// what they say (recall in [0, 1], the best the lowest error), the planted
// structure found, and heads below the recall floor left dense.
#include <gtest/gtest.h>

#include "attention/prefill/minference/pattern_search.h"
#include "support/prefill_fixture.h"

namespace sieve {
namespace {

using testing_support::PrefillFixture;

TEST(PatternSearch, CandidatesCostTheBudgetAndTheBestIsClosestToDense) {
  PrefillFixture f(2048, 512);
  // Heads 0 and 1 (KV head 0) look for one block of keys in the middle.
  const std::vector<float> u = PrefillFixture::direction(12.0f);
  for (int64_t s = 10 * 64; s < 11 * 64; ++s) f.plant_key(s, u);
  f.point_queries(u);
  PatternSearchOptions o;
  o.budget = 512;
  const std::vector<HeadSearchResult> results = search_head_patterns(f.input(), o);
  ASSERT_EQ(results.size(), 4u);
  for (const HeadSearchResult& h : results) {
    ASSERT_EQ(h.candidates.size(), 7u);  // A-shape, 5 Vertical-Slash, Block-Sparse
    double best_error = 1e9;
    for (const PatternCandidate& c : h.candidates) {
      EXPECT_GE(c.choice.recall, 0.0);
      EXPECT_LE(c.choice.recall, 1.0 + 1e-6);
      EXPECT_GE(c.choice.error, 0.0);
      // Sized to the budget; Vertical-Slash's reads are what its diagonals' ranges hold.
      EXPECT_LE(c.keys_per_query, 1.05 * o.budget) << head_pattern_name(c.choice.pattern);
      EXPECT_GT(c.keys_per_query, 0.5 * o.budget) << head_pattern_name(c.choice.pattern);
      best_error = std::min(best_error, c.choice.error);
    }
    EXPECT_EQ(h.best.error, best_error);
  }
  // The planted block holds nearly all of heads 0 and 1's attention, and a
  // pattern that reads it recovers them.
  for (int64_t head = 0; head < 2; ++head) {
    EXPECT_GT(results[head].best.recall, 0.9) << head;
    EXPECT_LT(results[head].best.error, 0.1) << head;
  }
}

TEST(PatternSearch, HeadsBelowTheRecallFloorStayDense) {
  PrefillFixture f(2048, 512);
  PatternSearchOptions o;
  o.budget = 128;
  o.min_recall = 0.99;  // random keys and queries: attention spread wide
  for (const HeadSearchResult& h : search_head_patterns(f.input(), o)) {
    EXPECT_EQ(h.best.pattern, HeadPattern::kDense);
    EXPECT_FALSE(h.candidates.empty()) << "the candidates are still reported";
  }
}

}  // namespace
}  // namespace sieve
