// HiP's hierarchical top-k on synthetic scores: the reference's first
// groups and halving, k / block_k blocks out, a planted block found in
// O(log) stages, short contexts read whole.
#include "attention/prefill/hip/hierarchical_topk.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace sieve {
namespace {

HipShape shape(int64_t k = 512, int64_t block_k = 2) {
  HipShape s;
  s.mask_k = k;
  s.block_k = block_k;
  return s;
}

TEST(HierarchicalTopK, FewCandidatesAreAllRead) {
  int64_t calls = 0;
  auto score = [&](const std::vector<int64_t>&, float*) { ++calls; };
  // visible - window - sink = 512 candidates: no more than k.
  EXPECT_TRUE(hip_select(shape(), 512 + 256 + 16, score).all);
  EXPECT_TRUE(hip_select(shape(), 100, score).all);
  EXPECT_FALSE(hip_select(shape(), 512 + 256 + 16 + 1, [](const std::vector<int64_t>& r, float* o) {
                 std::fill(o, o + r.size(), 0.0f);
               }).all);
  EXPECT_EQ(calls, 0);
}

// The reference's initialisation for 2000 candidate keys (1000 blocks, 256
// groups): starts floor(1000 / 256 * i) floored to a multiple of
// 512 / 256 = 2; so group 0 is blocks [0, 2), group 1 [2, 6), group 2
// [6, 10), group 3 [10, 14); halving gives centre blocks 0, 1, 3, 5, 7, 9,
// 11, 13 (after the 8 sink blocks).
TEST(HierarchicalTopK, FirstStageFollowsTheReference) {
  const HipShape s = shape();
  const int64_t visible = 2000 + s.window + s.sink;
  std::vector<int64_t> first;
  auto score = [&](const std::vector<int64_t>& reps, float* out) {
    if (first.empty()) first = reps;
    for (size_t i = 0; i < reps.size(); ++i) out[i] = static_cast<float>(reps[i] % 7);
  };
  hip_select(s, visible, score);
  ASSERT_GE(first.size(), 8u);
  const std::vector<int64_t> want = {8, 9, 11, 13, 15, 17, 19, 21};
  EXPECT_EQ(std::vector<int64_t>(first.begin(), first.begin() + 8), want);
  EXPECT_EQ(first.back(), 8 + 999);  // the last group ends at the last candidate block
}

// Any scores: k / block_k distinct blocks, ascending, among the candidates;
// the stages halve groups of up to ceil(bsrc / groups) down to one.
TEST(HierarchicalTopK, SelectsKOverBlockKCandidateBlocks) {
  for (int64_t block_k : {1, 2, 4}) {
    const HipShape s = shape(256, block_k);
    const int64_t visible = 30000, first_block = (s.sink + block_k - 1) / block_k;
    const int64_t end_block = (visible - s.window + block_k - 1) / block_k;
    auto score = [&](const std::vector<int64_t>& reps, float* out) {
      for (size_t i = 0; i < reps.size(); ++i) out[i] = std::sin(0.37f * static_cast<float>(reps[i]));
    };
    const HipSelection sel = hip_select(s, visible, score);
    ASSERT_FALSE(sel.all);
    EXPECT_EQ(static_cast<int64_t>(sel.blocks.size()), s.mask_k / block_k) << block_k;
    EXPECT_TRUE(std::is_sorted(sel.blocks.begin(), sel.blocks.end()));
    EXPECT_EQ(std::set<int64_t>(sel.blocks.begin(), sel.blocks.end()).size(), sel.blocks.size());
    EXPECT_GE(sel.blocks.front(), first_block);
    EXPECT_LT(sel.blocks.back(), end_block);
    const int64_t groups = s.mask_k / block_k, bsrc = end_block - first_block;
    const int64_t widest = (bsrc + groups - 1) / groups * 2;  // the alignment can double a group
    EXPECT_LE(sel.stages, static_cast<int64_t>(std::ceil(std::log2(static_cast<double>(widest)))) + 1);
    EXPECT_EQ(sel.scored, [&] {
      int64_t n = 0;
      hip_select(s, visible, [&](const std::vector<int64_t>& reps, float* out) {
        n += static_cast<int64_t>(reps.size());
        score(reps, out);
      });
      return n;
    }());
  }
}

// A needle: one block scores high, its neighbours a little (attention is
// smooth around a needle in text; HiP's centre sampling relies on it). It
// is selected from 32K candidates, with about 2 x 256 scores per stage.
TEST(HierarchicalTopK, FindsAPlantedBlock) {
  const HipShape s = shape();
  const int64_t needle = 9001;
  auto score = [&](const std::vector<int64_t>& reps, float* out) {
    for (size_t i = 0; i < reps.size(); ++i)
      out[i] = 10.0f / (1.0f + static_cast<float>(std::abs(reps[i] - needle))) + 0.01f * std::sin(1.3f * reps[i]);
  };
  const HipSelection sel = hip_select(s, 65536, score);
  EXPECT_TRUE(std::binary_search(sel.blocks.begin(), sel.blocks.end(), needle));
  EXPECT_LE(sel.scored, sel.stages * 2 * 256);
  EXPECT_LE(sel.stages, 8);
}

// Unscorable halves (-inf: no query may read them) lose to any scored one.
TEST(HierarchicalTopK, UnreadableHalvesLoseToReadableOnes) {
  const HipShape s = shape(64, 2);
  const int64_t visible = 4000, cut = 1000;  // blocks from `cut` on: no row may read them
  auto score = [&](const std::vector<int64_t>& reps, float* out) {
    for (size_t i = 0; i < reps.size(); ++i) out[i] = reps[i] >= cut ? -INFINITY : 0.001f * static_cast<float>(reps[i]);
  };
  const HipSelection sel = hip_select(s, visible, score);
  EXPECT_LT(sel.blocks.back(), cut);
}

}  // namespace
}  // namespace sieve
