#include "attention/prefill/hip/hierarchical_topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

namespace sieve {
namespace {

struct Group {
  int64_t first = 0, size = 0;  // key blocks [first, first + size)
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A float's bits as an unsigned integer in the float's order (-inf lowest).
uint32_t ordered_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

// The reference's first groups: n_groups ranges over the bsrc candidate
// blocks, their starts floored to a multiple of `step` (the number of
// blocks per group at the largest power of two <= bsrc), so that halving
// keeps group edges on aligned positions.
std::vector<Group> initial_groups(int64_t bsrc, int64_t n_groups, int64_t first_block) {
  const int64_t aligned = int64_t{1} << static_cast<int>(std::floor(std::log2(static_cast<double>(bsrc))));
  const int64_t step = ceil_div(aligned, n_groups);
  // float32, as the reference computes BSRC / mask_block_k * i.
  const float per_group = static_cast<float>(bsrc) / static_cast<float>(n_groups);
  auto start = [&](int64_t i) {
    const int64_t raw = static_cast<int64_t>(per_group * static_cast<float>(i));
    return std::min(raw / step * step, bsrc);
  };
  std::vector<Group> groups;
  for (int64_t i = 0; i < n_groups; ++i) {
    const int64_t a = start(i), b = start(i + 1);
    const int64_t size = std::max<int64_t>(0, std::min(bsrc, b - a));
    if (size > 0) groups.push_back({a + first_block, size});
  }
  return groups;
}

}  // namespace

HipSelection hip_select(const HipShape& s, int64_t visible, const BlockScorer& score) {
  HipSelection out;
  if (hip_reads_all(s, visible)) {
    out.all = true;
    return out;
  }
  const int64_t tsrc = hip_candidates_end(s, visible) - s.sink;
  const int64_t bsrc = ceil_div(tsrc, s.block_k), first_block = ceil_div(s.sink, s.block_k);
  const int64_t keep = ceil_div(s.mask_k, s.block_k);
  std::vector<Group> groups = initial_groups(bsrc, keep, first_block), children;
  std::vector<int64_t> reps;
  std::vector<uint64_t> ranked;
  std::vector<char> kept;
  std::vector<float> scores;
  auto largest = [&] {
    int64_t m = 0;
    for (const Group& g : groups) m = std::max(m, g.size);
    return m;
  };
  while (largest() > 1) {
    // Halves: [first, first + size/2) and the rest (the reference's "half"
    // branching); a half of size 0 is dropped.
    children.clear();
    for (const Group& g : groups) {
      const int64_t left = g.size / 2;
      if (left > 0) children.push_back({g.first, left});
      children.push_back({g.first + left, g.size - left});
    }
    // Each half is represented by its centre block ("center" sampling).
    reps.resize(children.size());
    for (size_t i = 0; i < children.size(); ++i) reps[i] = children[i].first + children[i].size / 2;
    scores.assign(children.size(), 0.0f);
    score(reps, scores.data());
    ++out.stages;
    out.scored += static_cast<int64_t>(children.size());
    // The best `keep` halves, ties to the earlier block; kept in key order
    // (the halves are in key order already). One integer per half (its
    // score's order-preserving bits, then its index inverted) makes the
    // selection a plain integer nth_element.
    const int64_t n = static_cast<int64_t>(children.size()), n_keep = std::min(keep, n);
    ranked.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      ranked[i] = uint64_t{ordered_bits(scores[i])} << 32 | (0xFFFFFFFFu - static_cast<uint32_t>(i));
    std::nth_element(ranked.begin(), ranked.begin() + n_keep - 1, ranked.end(), std::greater<uint64_t>());
    kept.assign(static_cast<size_t>(n), 0);
    for (int64_t i = 0; i < n_keep; ++i) kept[0xFFFFFFFFu - static_cast<uint32_t>(ranked[i])] = 1;
    // Without a branch: which halves stay is a coin flip to the predictor.
    groups.resize(static_cast<size_t>(n));
    int64_t out_n = 0;
    for (int64_t i = 0; i < n; ++i) {
      groups[out_n] = children[i];
      out_n += kept[i];
    }
    groups.resize(static_cast<size_t>(out_n));
  }
  out.blocks.reserve(groups.size());
  for (const Group& g : groups) out.blocks.push_back(g.first);
  return out;
}

}  // namespace sieve
