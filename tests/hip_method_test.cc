// The `hip` prefill method on hand-built caches: with k covering every
// candidate it is full attention; otherwise each block reads its sinks,
// window and k selected keys, exactly those, and a planted needle is among
// them; dense layers stay dense; the key copy follows a rolled-back cache.
#include "attention/prefill/hip/hip_method.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "attention/full_attention.h"
#include "support/prefill_fixture.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {
namespace {

using Fixture = testing_support::PrefillFixture;
constexpr int64_t kHd = Fixture::kHd, kHeads = Fixture::kHeads;

std::unique_ptr<PrefillMethod> method(const std::string& spec, const ModelConfig& c) {
  Spec s(spec, "prefill method");
  return HipMethod::from_spec(s, c);
}

std::vector<float> full_output(Fixture& f) {
  std::vector<float> out(f.n_q * kHeads * kHd), rotated(f.q);
  for (int64_t i = 0; i < f.n_q; ++i) f.rope.rotate(rotated.data() + i * kHeads * kHd, kHeads, f.first_slot + i);
  attend_full(f.cache, 0, rotated.data(), f.n_q, f.first_slot, kHeads, out.data(), f.pool);
  return out;
}

// Slots a row reads under a block's parts, each at most once.
std::vector<int64_t> row_reads(const BlockReads& block, int64_t t) {
  std::vector<int64_t> slots;
  for (const ReadPart& part : block.parts) {
    int64_t begin, limit;
    part_row_window(part, t, begin, limit);
    for (const SlotSpan& s : part.spans)
      for (int64_t j = std::max(s.begin, begin); j < std::min(s.end, limit); ++j) slots.push_back(j);
  }
  std::sort(slots.begin(), slots.end());
  return slots;
}

TEST(HipMethod, SpecDefaultsAreTheReferences) {
  Fixture f(300, 100);
  EXPECT_EQ(method("hip", f.config)->spec(), "hip:k=512,block_k=2,sink=16,window=256,dense_layers=0,stride_q=2");
  EXPECT_THROW(method("hip:k=511", f.config), Error);  // not a multiple of block_k
  EXPECT_THROW(method("hip:stride_q=65", f.config), Error);
  EXPECT_THROW(method("hip:budget=3", f.config), Error);
}

// k at least every candidate: each block reads every slot up to each row,
// which is full attention.
TEST(HipMethod, CoveringKEqualsFullAttention) {
  Fixture f(1500, 400, KvType::F32, 10000.0);
  const auto m = method("hip:k=2048", f.config);
  PrefillPlan plan;
  m->plan(f.input(), plan);
  std::vector<float> out(f.n_q * kHeads * kHd);
  attend_planned(f.input(), plan, out.data());
  const std::vector<float> full = full_output(f);
  for (size_t x = 0; x < out.size(); ++x) ASSERT_NEAR(out[x], full[x], 1e-5) << x;
}

// Past k: every row reads each slot at most once, all of its window and
// sinks and, before its window, exactly k selected keys of the block's.
TEST(HipMethod, BlocksReadSinksWindowAndKSelectedKeys) {
  Fixture f(4096, 512, KvType::F16, 10000.0);
  const auto m = method("hip:k=128,window=64,sink=8", f.config);
  PrefillPlan plan;
  m->plan(f.input(), plan);
  for (int64_t h = 0; h < kHeads; ++h)
    for (int64_t b = 0; b < prefill_blocks(f.n_q); ++b) {
      const BlockReads& block = plan.heads[h].blocks[b];
      ASSERT_EQ(block.parts.size(), 3u);
      EXPECT_TRUE(block.parts[1].gather);
      int64_t selected = 0;
      for (const SlotSpan& s : block.parts[1].spans) selected += s.end - s.begin;
      EXPECT_EQ(selected, 128);
      const int64_t t = f.first_slot + b * kPrefillBlock + kPrefillBlock - 1;  // the block's last row
      const std::vector<int64_t> slots = row_reads(block, t);
      EXPECT_TRUE(std::adjacent_find(slots.begin(), slots.end()) == slots.end()) << "a slot read twice";
      EXPECT_EQ(static_cast<int64_t>(slots.size()), 8 + 128 + 64);
      for (int64_t j = 0; j < 8; ++j) EXPECT_TRUE(std::binary_search(slots.begin(), slots.end(), j));
      for (int64_t j = t - 63; j <= t; ++j) EXPECT_TRUE(std::binary_search(slots.begin(), slots.end(), j));
    }
  // And the kernel reads what the plan lists: what attend_planned counts.
  std::vector<float> out(f.n_q * kHeads * kHd);
  const PrefillWork w = attend_planned(f.input(), plan, out.data());
  EXPECT_LT(w.pairs_read, 0.1 * w.pairs_dense);
  for (const auto& [name, value] : m->counters())
    if (name == "hip_score_products") {
      EXPECT_GT(value, 0);
    }
}

// A needle far back: keys along the queries' direction, strongest at the
// needle and fading over `reach` slots on each side (a needle in text draws
// attention to its neighbours too; HiP's centre sampling relies on that
// locality: a half is judged by its centre key alone).
void plant_needle(Fixture& f, int64_t needle, int64_t reach) {
  const std::vector<float> u = Fixture::direction(8.0f);
  for (int64_t j = needle - reach; j <= needle + reach; ++j) {
    const float w = 1.0f - static_cast<float>(std::abs(j - needle)) / static_cast<float>(reach + 1);
    std::vector<float> k(u);
    for (float& x : k) x *= w;
    f.plant_key(j, k);
  }
  f.point_queries(u);
}

bool selects(const BlockReads& block, int64_t slot) {
  for (const SlotSpan& s : block.parts.at(1).spans)
    if (s.begin <= slot && slot < s.end) return true;
  return false;
}

// Every block of the heads that share the needle's KV head selects it.
TEST(HipMethod, SelectsAPlantedNeedle) {
  for (int64_t needle : {1234, 3001, 5555}) {
    Fixture f(8192, 256);
    plant_needle(f, needle, 128);
    const auto m = method("hip", f.config);
    PrefillPlan plan;
    m->plan(f.input(), plan);
    for (int64_t h = 0; h < 2; ++h)
      for (const BlockReads& block : plan.heads[h].blocks) EXPECT_TRUE(selects(block, needle)) << needle << " head " << h;
  }
}

TEST(HipMethod, DenseLayersReadEverything) {
  Fixture f(4096, 128);
  const auto m = method("hip:dense_layers=1", f.config);
  PrefillPlan plan;
  m->plan(f.input(), plan);  // layer 0
  for (const HeadReads& h : plan.heads) EXPECT_TRUE(h.dense);
}

// A rolled-back sequence writes new keys over old slots: the next batch's
// search must see them, not the copy of the old ones.
TEST(HipMethod, KeyCopyFollowsRewrittenSlots) {
  Fixture f(8192, 256);
  const auto m = method("hip", f.config);
  PrefillPlan plan;
  m->plan(f.input(), plan);  // copies slots up to 8192
  // Roll back and refill: the needle now sits in slots the copy held.
  Fixture g(8192, 256);
  plant_needle(g, 3000, 128);
  AttentionInput first{g.cache, 0, g.q.data(), 1, 2999, kHeads, g.rope, g.pool};  // a batch from 2999 on
  m->plan(first, plan);
  m->plan(g.input(), plan);
  EXPECT_TRUE(selects(plan.heads[0].blocks.back(), 3000));
  // The same method without the refill's sync would have scored f's keys:
  // a fresh method on f does not select 3000.
  const auto fresh = method("hip", f.config);
  fresh->plan(f.input(), plan);
  EXPECT_FALSE(selects(plan.heads[0].blocks.back(), 3000));
}

}  // namespace
}  // namespace sieve
