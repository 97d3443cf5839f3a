#include "attention/prefill/minference/vertical_slash.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "attention/prefill/prefill_plan.h"

namespace sieve {
namespace {

// Indices of the k highest scores (ties: the lower index), sorted ascending.
std::vector<int64_t> top_indices(const std::vector<double>& score, int64_t k) {
  std::vector<int64_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  k = std::min<int64_t>(k, static_cast<int64_t>(order.size()));
  auto better = [&](int64_t a, int64_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); };
  std::nth_element(order.begin(), order.begin() + k, order.end(), better);
  order.resize(static_cast<size_t>(k));
  std::sort(order.begin(), order.end());
  return order;
}

void push_span(std::vector<SlotSpan>& spans, int64_t begin, int64_t end) {
  if (begin >= end) return;
  if (!spans.empty() && begin <= spans.back().end) {
    spans.back().end = std::max(spans.back().end, end);
    return;
  }
  spans.push_back({begin, end});
}

}  // namespace

VerticalSlashIndex estimate_vertical_slash(const float* probs, int64_t n_last, int64_t n_keys, int64_t vertical,
                                           int64_t slash) {
  constexpr double kForced = std::numeric_limits<double>::infinity();
  vertical = std::min(n_keys, std::max(vertical, kMinVertical));
  slash = std::min(n_keys, std::max(slash, kMinSlash));
  std::vector<double> column(static_cast<size_t>(n_keys), 0.0), diagonal(static_cast<size_t>(n_keys), 0.0);
  for (int64_t r = 0; r < n_last; ++r) {
    const int64_t slot = n_keys - n_last + r;
    const float* p = probs + r * n_keys;
    for (int64_t j = 0; j <= slot; ++j) {
      column[j] += p[j];
      diagonal[slot - j] += p[j];
    }
  }
  for (int64_t j = 0; j < std::min(kAlwaysVertical, n_keys); ++j) column[j] = kForced;
  for (int64_t d = 0; d < std::min(kAlwaysSlash, n_keys); ++d) diagonal[d] = kForced;
  return {top_indices(column, vertical), top_indices(diagonal, slash)};
}

void vertical_slash_block(const VerticalSlashIndex& idx, int64_t row_begin, int64_t row_end,
                          std::vector<SlotSpan>& spans, std::vector<SlotSpan>& column_runs) {
  spans.clear();
  column_runs.clear();
  // Ascending distances give descending key ranges: walk them from the
  // farthest so the spans come out ascending.
  for (auto it = idx.slashes.rbegin(); it != idx.slashes.rend(); ++it) {
    const int64_t d = *it;
    if (row_end - d <= 0) continue;
    push_span(spans, std::max<int64_t>(0, row_begin - d), row_end - d);
  }
  // Vertical lines outside the spans, before the block's last query.
  size_t s = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(idx.verticals.size()); ++i) {
    const int64_t v = idx.verticals[i];
    if (v >= row_end) break;
    while (s < spans.size() && spans[s].end <= v) ++s;
    if (s < spans.size() && spans[s].begin <= v) continue;
    if (!column_runs.empty() && column_runs.back().end == i) {
      column_runs.back().end = i + 1;
    } else {
      column_runs.push_back({i, i + 1});
    }
  }
}

void top_key_blocks(const float* scores, int64_t n_blocks, int64_t row_end, int64_t n_keys, int64_t topk,
                    std::vector<SlotSpan>& spans) {
  spans.clear();
  const int64_t visible = std::min(n_blocks, (row_end - 1) / kPrefillBlock + 1);
  std::vector<double> score(scores, scores + visible);
  for (int64_t j : top_indices(score, topk))
    push_span(spans, j * kPrefillBlock, std::min(n_keys, (j + 1) * kPrefillBlock));
}

}  // namespace sieve
