// The `minference` prefill method on hand-built caches: patterns that cover
// every key give full attention through the sparse path, a planted block of
// keys is found by Block-Sparse, a planted key column by Vertical-Slash's
// estimate, and A-shape reads exactly its sinks and window.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/full_attention.h"
#include "attention/prefill/minference/minference_method.h"
#include "support/prefill_fixture.h"
#include "util/spec.h"

namespace sieve {
namespace {

using testing_support::PrefillFixture;
using Fixture = PrefillFixture;
constexpr int64_t kHd = PrefillFixture::kHd, kHeads = PrefillFixture::kHeads;

std::unique_ptr<PrefillMethod> method(const std::string& spec, const ModelConfig& c) {
  Spec s(spec, "prefill method");
  return MInferenceMethod::from_spec(s, c);
}

std::vector<float> sparse_output(Fixture& f, PrefillMethod& m, PrefillPlan& plan, PrefillWork* work = nullptr) {
  std::vector<float> out(f.n_q * kHeads * kHd);
  m.plan(f.input(), plan);
  const PrefillWork w = attend_planned(f.input(), plan, out.data());
  if (work) *work = w;
  return out;
}

std::vector<float> full_output(Fixture& f) {
  std::vector<float> out(f.n_q * kHeads * kHd), rotated(f.q);
  for (int64_t i = 0; i < f.n_q; ++i) f.rope.rotate(rotated.data() + i * kHeads * kHd, kHeads, f.first_slot + i);
  attend_full(f.cache, 0, rotated.data(), f.n_q, f.first_slot, kHeads, out.data(), f.pool);
  return out;
}

// Covering, but through the sparse path (no head is marked dense): every
// diagonal but the farthest, whose one key (slot 0) is a forced column; and
// A-shape sinks holding every key before each row's window.
TEST(MInferenceMethod, PatternsThatCoverEveryKeyEqualFullAttention) {
  Fixture f(700, 300);
  const std::vector<float> full = full_output(f);
  for (const char* spec : {"minference:pattern=vertical_slash,vertical=30,slash=699",
                           "minference:pattern=a_shape,init=700,local=100"}) {
    const auto m = method(spec, f.config);
    PrefillPlan plan;
    PrefillWork work;
    const std::vector<float> out = sparse_output(f, *m, plan, &work);
    for (const HeadReads& h : plan.heads) EXPECT_FALSE(h.dense) << spec;
    EXPECT_EQ(work.pairs_read, work.pairs_dense) << spec;
    for (size_t x = 0; x < out.size(); ++x) ASSERT_NEAR(out[x], full[x], 2e-5) << spec << " at " << x;
  }
  // Block-Sparse covers every key only when top-k takes every block: dense.
  const auto m = method("minference:pattern=block_sparse,topk=11", f.config);
  PrefillPlan plan;
  const std::vector<float> out = sparse_output(f, *m, plan);
  for (const HeadReads& h : plan.heads) EXPECT_TRUE(h.dense);
  for (size_t x = 0; x < out.size(); ++x) ASSERT_NEAR(out[x], full[x], 2e-5);
}

TEST(MInferenceMethod, BlockSparseFindsAPlantedBlock) {
  Fixture f(2048, 512);
  const std::vector<float> u = Fixture::direction(3.0f);
  for (int64_t s = 5 * 64; s < 6 * 64; ++s) f.plant_key(s, u);
  f.point_queries(u);
  const auto m = method("minference:pattern=block_sparse,topk=3", f.config);
  PrefillPlan plan;
  PrefillWork work;
  sparse_output(f, *m, plan, &work);
  for (int64_t h = 0; h < 2; ++h)
    for (const BlockReads& b : plan.heads[h].blocks) {
      bool found = false;
      int64_t slots = 0;
      for (const SlotSpan& s : b.parts.at(0).spans) {
        found |= s.begin <= 5 * 64 && s.end >= 6 * 64;
        slots += s.end - s.begin;
      }
      EXPECT_TRUE(found) << "head " << h;
      EXPECT_EQ(slots, 3 * 64);
    }
  EXPECT_LT(work.pairs_read, 0.3 * work.pairs_dense);
}

TEST(MInferenceMethod, VerticalSlashEstimatesAPlantedColumn) {
  Fixture f(3000, 512);
  f.point_queries(Fixture::direction(1.0f));
  f.plant_key(1234, Fixture::direction(12.0f));
  const auto m = method("minference:pattern=vertical_slash,vertical=40,slash=200", f.config);
  PrefillPlan plan;
  sparse_output(f, *m, plan);
  for (int64_t h = 0; h < 2; ++h) {
    const HeadReads& head = plan.heads[h];
    ASSERT_TRUE(std::binary_search(head.columns.begin(), head.columns.end(), 1234)) << "head " << h;
    // Every block of queries reads it: as a column, or inside a diagonal's span.
    for (const BlockReads& b : head.blocks) {
      bool read = false;
      for (const SlotSpan& r : b.column_runs)
        for (int64_t i = r.begin; i < r.end; ++i) read |= head.columns[i] == 1234;
      for (const SlotSpan& s : b.parts.at(0).spans) read |= s.begin <= 1234 && 1234 < s.end;
      EXPECT_TRUE(read) << "head " << h;
    }
  }
}

TEST(MInferenceMethod, AShapeReadsItsSinksAndWindow) {
  Fixture f(1000, 256);
  const auto m = method("minference:pattern=a_shape,init=16,local=128", f.config);
  PrefillPlan plan;
  PrefillWork work;
  sparse_output(f, *m, plan, &work);
  double want = 0;
  for (int64_t t = f.first_slot; t < f.first_slot + f.n_q; ++t) want += 16 + 128;
  EXPECT_EQ(work.pairs_read, want * kHeads);
}

}  // namespace
}  // namespace sieve
