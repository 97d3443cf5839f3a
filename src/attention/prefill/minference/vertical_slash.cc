#include "attention/prefill/minference/vertical_slash.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "attention/exp_row.h"
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

std::vector<VerticalSlashVotes> vertical_slash_votes(const KvCache& cache, int64_t layer, int64_t kv_head,
                                                     const float* q, int64_t n_heads, int64_t n_last, int64_t n_keys) {
  constexpr int64_t kWindow = 1024;  // keys scored at a time
  const int64_t n_rows = n_heads * n_last;
  std::vector<VerticalSlashVotes> votes(static_cast<size_t>(n_heads));
  // Diagonals are summed reversed, so both sums run forward over a row: the
  // key at slot j of the query at `slot` adds to reversed[j + n_keys - 1 - slot].
  std::vector<std::vector<float>> reversed(static_cast<size_t>(n_heads));
  for (int64_t h = 0; h < n_heads; ++h) {
    votes[h].column.assign(static_cast<size_t>(n_keys), 0.0f);
    reversed[h].assign(static_cast<size_t>(n_keys), 0.0f);
  }
  std::vector<float> m(static_cast<size_t>(n_rows), -INFINITY), z(static_cast<size_t>(n_rows), 0.0f);
  std::vector<float> scores(static_cast<size_t>(n_rows * kWindow));
  std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(cache.shape(), n_rows)));
  auto slot_of = [&](int64_t r) { return n_keys - n_last + r % n_last; };
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t w0 = 0; w0 < n_keys; w0 += kWindow) {
      const int64_t w1 = std::min(n_keys, w0 + kWindow), width = w1 - w0;
      const SlotSpan span{w0, w1};
      score_spans_estimate(cache, layer, kv_head, &span, 1, q, n_rows, scores.data(), scratch.data());
      for (int64_t r = 0; r < n_rows; ++r) {
        const int64_t slot = slot_of(r), seen = std::min(w1, slot + 1) - w0;
        if (seen <= 0) continue;
        float* row = scores.data() + r * width;
        if (pass == 0) {  // online max and sum
          const float new_m = std::max(m[r], row_max(row, seen));
          z[r] = z[r] * std::exp(m[r] - new_m) + static_cast<float>(fast_exp_shifted(row, seen, new_m));
          m[r] = new_m;
        } else {
          fast_exp_shifted(row, seen, m[r]);
          const float inv = 1.0f / z[r];
          const int64_t h = r / n_last;
          add_scaled(row, seen, inv, votes[h].column.data() + w0);
          add_scaled(row, seen, inv, reversed[h].data() + w0 + n_keys - 1 - slot);
        }
      }
    }
  for (int64_t h = 0; h < n_heads; ++h) {
    votes[h].diagonal.assign(reversed[h].rbegin(), reversed[h].rend());
  }
  return votes;
}

VerticalSlashIndex select_vertical_slash(const VerticalSlashVotes& votes, int64_t vertical, int64_t slash) {
  constexpr double kForced = std::numeric_limits<double>::infinity();
  const int64_t n_keys = static_cast<int64_t>(votes.column.size());
  vertical = std::min(n_keys, std::max(vertical, kMinVertical));
  slash = std::min(n_keys, std::max(slash, kMinSlash));
  std::vector<double> column(votes.column.begin(), votes.column.end());
  std::vector<double> diagonal(votes.diagonal.begin(), votes.diagonal.end());
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
