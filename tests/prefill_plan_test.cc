// attend_planned, the kernel every prefill method's plan runs on, against a
// float64 softmax over exactly the slots the plan says each row reads:
// dense heads, causal spans, windows and what lies before them, and gathered
// columns, on float32 caches and on f16 (the tile unit's path where usable).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "attention/full_attention.h"
#include "attention/prefill/prefill_plan.h"
#include "support/prefill_fixture.h"

namespace sieve {
namespace {

using Fixture = testing_support::PrefillFixture;
constexpr int64_t kHd = Fixture::kHd, kHeads = Fixture::kHeads, kGroup = kHeads / Fixture::kKv;

// The slots row t (cache slot) of head h, block b reads under the plan.
std::set<int64_t> row_slots(const PrefillPlan& plan, int64_t h, int64_t b, int64_t t) {
  std::set<int64_t> slots;
  const HeadReads& head = plan.heads[h];
  if (head.dense) {
    for (int64_t j = 0; j <= t; ++j) slots.insert(j);
    return slots;
  }
  for (const ReadPart& part : head.blocks[b].parts) {
    int64_t begin, limit;
    part_row_window(part, t, begin, limit);
    for (const SlotSpan& s : part.spans)
      for (int64_t j = std::max(s.begin, begin); j < std::min(s.end, limit); ++j) EXPECT_TRUE(slots.insert(j).second);
  }
  for (const SlotSpan& run : head.blocks[b].column_runs)
    for (int64_t i = run.begin; i < run.end; ++i)
      if (head.columns[i] <= t) {
        EXPECT_TRUE(slots.insert(head.columns[i]).second) << "column listed twice";
      }
  return slots;
}

// float64 softmax attention of one row over a set of slots.
std::vector<double> reference_row(Fixture& f, int64_t i, int64_t h, const std::set<int64_t>& slots) {
  std::vector<float> qr(f.q.begin() + (i * kHeads + h) * kHd, f.q.begin() + (i * kHeads + h + 1) * kHd);
  f.rope.rotate(qr.data(), 1, static_cast<double>(f.first_slot + i));
  std::vector<float> k(kHd), v(kHd);
  std::vector<double> score, out(kHd, 0.0);
  double m = -1e300;
  for (int64_t j : slots) {
    f.cache.read_key(0, h / kGroup, j, k.data());
    double d = 0;
    for (int64_t x = 0; x < kHd; ++x) d += static_cast<double>(qr[x]) * k[x];
    score.push_back(d / std::sqrt(static_cast<double>(kHd)));
    m = std::max(m, score.back());
  }
  double z = 0;
  for (double& s : score) z += (s = std::exp(s - m));
  size_t n = 0;
  for (int64_t j : slots) {
    f.cache.read_value(0, h / kGroup, j, v.data());
    for (int64_t x = 0; x < kHd; ++x) out[x] += score[n] / z * v[x];
    ++n;
  }
  return out;
}

// A plan with every kind of read: head 0 dense, head 1 causal spans and
// columns, head 2 a window, the sinks before it and gathered pairs before
// it (HiP's reads), head 3 nothing but columns, short spans and its own block.
PrefillPlan mixed_plan(const Fixture& f) {
  PrefillPlan plan;
  const int64_t n_blocks = prefill_blocks(f.n_q);
  plan.reset(kHeads, n_blocks);
  plan.heads[0].dense = true;
  plan.heads[1].columns = {3, 17, 40, 200, 333, 360};
  plan.heads[3].columns = {0, 1, 2, 100, 101, 150};
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t row_begin = f.first_slot + b * kPrefillBlock;
    const int64_t row_end = std::min(f.first_slot + f.n_q, row_begin + kPrefillBlock);
    plan.heads[1].blocks[b].parts.push_back({{{50, 120}, {row_begin - 70, row_end}}, ReadMask::kCausal, 0});
    plan.heads[1].blocks[b].column_runs = {{0, 2}, {3, 4}, {5, 6}};  // 3, 17, 200 and 360
    plan.heads[2].blocks[b].parts.push_back({{{0, 16}}, ReadMask::kBeforeWindow, 90});
    ReadPart pairs{{{20, 22}, {64, 66}, {130, 134}, {row_begin - 120, row_begin - 118}}, ReadMask::kBeforeWindow, 90,
                   true};
    plan.heads[2].blocks[b].parts.push_back(pairs);
    plan.heads[2].blocks[b].parts.push_back({{{std::max<int64_t>(0, row_begin - 89), row_end}}, ReadMask::kWindow, 90});
    // Many short spans sharing windows (the tile unit reads them a window at a time).
    plan.heads[3].blocks[b].parts.push_back(
        {{{10, 15}, {22, 40}, {41, 42}, {60, 90}, {200, 201}, {203, 260}, {row_begin, row_end}}, ReadMask::kCausal, 0});
    plan.heads[3].blocks[b].column_runs = {{0, 6}};
  }
  return plan;
}

void check_against_reference(KvType type, double tolerance) {
  Fixture f(600, 150, type, 10000.0);
  const PrefillPlan plan = mixed_plan(f);
  std::vector<float> out(f.n_q * kHeads * kHd);
  const PrefillWork work = attend_planned(f.input(), plan, out.data());
  double pairs = 0, dense = 0, worst = 0;
  for (int64_t i = 0; i < f.n_q; ++i)
    for (int64_t h = 0; h < kHeads; ++h) {
      const int64_t t = f.first_slot + i;
      const std::set<int64_t> slots = row_slots(plan, h, i / kPrefillBlock, t);
      pairs += static_cast<double>(slots.size());
      dense += static_cast<double>(t + 1);
      const std::vector<double> want = reference_row(f, i, h, slots);
      for (int64_t x = 0; x < kHd; ++x)
        worst = std::max(worst, std::abs(want[x] - out[(i * kHeads + h) * kHd + x]));
    }
  EXPECT_LT(worst, tolerance);
  EXPECT_EQ(work.pairs_read, pairs);
  EXPECT_EQ(work.pairs_dense, dense);
  EXPECT_LT(work.pairs_read, work.pairs_dense);
}

TEST(PrefillPlan, EveryKindOfReadMatchesFloat64OnF32) { check_against_reference(KvType::F32, 2e-5); }

// f16 keys go through the tile unit where it exists: bf16 queries, keys and
// probabilities (attention_tiles.h bounds the error by 2^-8 of sum p|v|).
TEST(PrefillPlan, EveryKindOfReadMatchesFloat64OnF16) { check_against_reference(KvType::F16, 3e-2); }

// A gathered part copies q8_0 keys and values as stored (no requantization).
TEST(PrefillPlan, EveryKindOfReadMatchesFloat64OnQ8) { check_against_reference(KvType::Q8_0, 3e-2); }

TEST(PrefillPlan, DenseHeadsEqualFullAttention) {
  Fixture f(300, 130, KvType::F32, 10000.0);
  PrefillPlan plan;
  plan.reset(kHeads, prefill_blocks(f.n_q));
  for (HeadReads& h : plan.heads) h.dense = true;
  std::vector<float> out(f.n_q * kHeads * kHd), full(out.size()), rotated(f.q);
  attend_planned(f.input(), plan, out.data());
  for (int64_t i = 0; i < f.n_q; ++i) f.rope.rotate(rotated.data() + i * kHeads * kHd, kHeads, f.first_slot + i);
  attend_full(f.cache, 0, rotated.data(), f.n_q, f.first_slot, kHeads, full.data(), f.pool);
  for (size_t x = 0; x < out.size(); ++x) ASSERT_NEAR(out[x], full[x], 1e-5) << x;
}

}  // namespace
}  // namespace sieve
