// The `minference` prefill method on hand-built caches: patterns that cover
// every key give full attention through the sparse path, a planted block of
// keys is found by Block-Sparse, a planted key column by Vertical-Slash's
// estimate, and A-shape reads exactly its sinks and window.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/full_attention.h"
#include "attention/prefill/minference/minference_method.h"
#include "support/policy_testing.h"
#include "util/spec.h"

namespace sieve {
namespace {

constexpr int64_t kHd = 64, kKv = 2, kHeads = 4;

// A cache of random keys (as if rotated) and a batch of queries; with a
// large rope_theta every pair but the first barely rotates, so a planted
// direction stays one across positions.
struct Fixture {
  ModelConfig config = testing::small_policy_config(kHd, kHeads, kKv, 1e12);
  Rope rope{config, {}};
  KvCache cache{KvCacheShape{1, kKv, kHd, 64, KvType::F32}};
  std::vector<float> q;
  int64_t first_slot, n_q;
  ThreadPool pool{2};

  Fixture(int64_t context, int64_t queries) : first_slot(context - queries), n_q(queries) {
    std::mt19937 rng(9);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<int64_t> pos(context);
    for (int64_t i = 0; i < context; ++i) pos[i] = i;
    cache.append_slots(pos.data(), context);
    std::vector<float> k(kKv * kHd), v(k.size());
    for (int64_t i = 0; i < context; ++i) {
      for (float& x : k) x = nd(rng);
      for (float& x : v) x = nd(rng);
      cache.write(0, i, k.data(), v.data());
    }
    q.resize(n_q * kHeads * kHd);
    for (float& x : q) x = nd(rng);
  }
  AttentionInput input() { return {cache, 0, q.data(), n_q, first_slot, kHeads, rope, pool}; }
  // The planted direction: zero on the fast-rotating first pair.
  static std::vector<float> direction(float scale) {
    std::vector<float> u(kHd, scale / std::sqrt(static_cast<float>(kHd - 2)));
    u[0] = u[1] = 0;
    return u;
  }
  void plant_key(int64_t slot, const std::vector<float>& u) {
    std::vector<float> k(kKv * kHd), v(kKv * kHd);
    cache.read_key(0, 0, slot, k.data());
    cache.read_key(0, 1, slot, k.data() + kHd);
    cache.read_value(0, 0, slot, v.data());
    cache.read_value(0, 1, slot, v.data() + kHd);
    std::copy(u.begin(), u.end(), k.begin());  // KV head 0
    cache.write(0, slot, k.data(), v.data());
  }
  void point_queries(const std::vector<float>& u) {  // query heads 0 and 1 (KV head 0) along u
    for (int64_t t = 0; t < n_q; ++t)
      for (int64_t h = 0; h < 2; ++h) std::copy(u.begin(), u.end(), q.begin() + (t * kHeads + h) * kHd);
  }
};

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
