#include "attention/prefill/minference/pattern_search.h"

#include <algorithm>
#include <cmath>

#include "attention/exp_row.h"
#include "attention/prefill/minference/minference_method.h"
#include "util/error.h"

namespace sieve {
namespace {

// Dense attention probabilities of one head's queries in the batch: n_q rows
// of n_keys (zero past each query).
std::vector<float> dense_probabilities(const AttentionInput& in, int64_t head) {
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_keys = in.first_slot + in.n_q;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> q(static_cast<size_t>(in.n_q * hd));
  for (int64_t t = 0; t < in.n_q; ++t) {
    float* row = q.data() + t * hd;
    std::copy_n(in.q + (t * in.n_heads + head) * hd, hd, row);
    in.rope.rotate(row, 1, static_cast<double>(in.cache.positions()[in.first_slot + t]));
    for (int64_t d = 0; d < hd; ++d) row[d] *= scale;
  }
  std::vector<float> p(static_cast<size_t>(in.n_q * n_keys));
  std::vector<float> scratch(static_cast<size_t>(attention_scratch_floats(s, in.n_q)));
  const SlotSpan all{0, n_keys};
  score_spans(in.cache, in.layer, head / (in.n_heads / s.n_kv_heads), &all, 1, q.data(), in.n_q, p.data(),
              scratch.data());
  for (int64_t t = 0; t < in.n_q; ++t) {
    float* row = p.data() + t * n_keys;
    const int64_t seen = in.first_slot + t + 1;
    const double z = exp_shifted(row, seen, row_max(row, seen));
    for (int64_t j = 0; j < seen; ++j) row[j] = static_cast<float>(row[j] / z);
    std::fill(row + seen, row + n_keys, 0.0f);
  }
  return p;
}

// One head's output under `reads` (every other head skipped).
std::vector<float> head_output(const AttentionInput& in, int64_t head, const HeadReads& reads) {
  PrefillPlan plan;
  plan.reset(in.n_heads, 0);
  for (HeadReads& h : plan.heads) h.skip = true;
  plan.heads[head] = reads;
  const int64_t hd = in.cache.shape().head_dim;
  std::vector<float> out(static_cast<size_t>(in.n_q * in.n_heads * hd)), mine(static_cast<size_t>(in.n_q * hd));
  attend_planned(in, plan, out.data());
  for (int64_t t = 0; t < in.n_q; ++t) std::copy_n(out.data() + (t * in.n_heads + head) * hd, hd, mine.data() + t * hd);
  return mine;
}

struct Measured {
  double keys_per_query = 0, recall = 0;
};

Measured measure(const AttentionInput& in, const HeadReads& reads, const std::vector<float>& probs) {
  const int64_t n_keys = in.first_slot + in.n_q;
  double keys = 0, mass = 0;
  for (int64_t b = 0; b < prefill_blocks(in.n_q); ++b)
    for_each_row_read(reads, b, in.first_slot, in.n_q, [&](int64_t t, const std::vector<SlotSpan>& slots) {
      const float* p = probs.data() + t * n_keys;
      for (const SlotSpan& s : slots) {
        keys += static_cast<double>(s.end - s.begin);
        for (int64_t j = s.begin; j < s.end; ++j) mass += p[j];
      }
    });
  return {keys / static_cast<double>(in.n_q), mass / static_cast<double>(in.n_q)};
}

double relative_error(const std::vector<float>& out, const std::vector<float>& dense, int64_t hd) {
  double total = 0;
  const int64_t rows = static_cast<int64_t>(dense.size()) / hd;
  for (int64_t r = 0; r < rows; ++r) {
    double diff = 0, norm = 0;
    for (int64_t d = 0; d < hd; ++d) {
      const double a = out[r * hd + d], b = dense[r * hd + d];
      diff += (a - b) * (a - b);
      norm += b * b;
    }
    total += norm > 0 ? std::sqrt(diff / norm) : 0.0;
  }
  return total / static_cast<double>(rows);
}

}  // namespace

std::vector<HeadSearchResult> search_head_patterns(const AttentionInput& in, const PatternSearchOptions& o) {
  if (o.budget < kPrefillBlock) throw Error("pattern search: the budget must be at least 64 keys per query");
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_kv = s.n_kv_heads, group = in.n_heads / n_kv;
  // Every head may take any pattern: a Vertical-Slash method plans from
  // votes, a Block-Sparse one from pooled keys.
  HeadPatternChoice bs;
  bs.pattern = HeadPattern::kBlockSparse;
  bs.topk = std::max<int64_t>(1, o.budget / kPrefillBlock);
  MInferenceMethod planner(bs, nullptr, "");
  planner.pool_keys(in);
  std::vector<VerticalSlashVotes> votes(static_cast<size_t>(in.n_heads));
  for (int64_t kvh = 0; kvh < n_kv; ++kvh) {
    std::vector<int64_t> heads;
    for (int64_t g = 0; g < group; ++g) heads.push_back(kvh * group + g);
    std::vector<VerticalSlashVotes> v = MInferenceMethod::votes(in, heads);
    for (int64_t g = 0; g < group; ++g) votes[kvh * group + g] = std::move(v[g]);
  }

  std::vector<HeadSearchResult> results(static_cast<size_t>(in.n_heads));
  for (int64_t head = 0; head < in.n_heads; ++head) {
    const std::vector<float> probs = dense_probabilities(in, head);
    HeadReads dense_reads;
    dense_reads.dense = true;
    const std::vector<float> dense = head_output(in, head, dense_reads);
    HeadSearchResult& result = results[head];
    auto score = [&](HeadPatternChoice c) {
      HeadReads reads;
      planner.plan_head(in, head, c, &votes[head], reads);
      const Measured m = measure(in, reads, probs);
      c.recall = m.recall;
      c.error = relative_error(head_output(in, head, reads), dense, hd);
      result.candidates.push_back({c, m.keys_per_query});
    };
    HeadPatternChoice a;
    a.pattern = HeadPattern::kAShape;
    a.vertical = o.budget / 8;
    a.slash = o.budget - a.vertical;
    score(a);
    for (const double share : {0.05, 0.15, 0.3, 0.5, 0.9}) {
      // Kernel-aware: the most diagonals that keep the reads within budget
      // (none when the fewest the estimate reads would not).
      HeadPatternChoice vs;
      vs.pattern = HeadPattern::kVerticalSlash;
      vs.vertical = std::max<int64_t>(1, static_cast<int64_t>(share * static_cast<double>(o.budget)));
      if (std::max(vs.vertical, kMinVertical) + kMinSlash > o.budget) continue;
      int64_t lo = 1, hi = o.budget;
      while (lo < hi) {
        vs.slash = (lo + hi + 1) / 2;
        HeadReads reads;
        planner.plan_head(in, head, vs, &votes[head], reads);
        if (measure(in, reads, probs).keys_per_query <= static_cast<double>(o.budget)) lo = vs.slash;
        else hi = vs.slash - 1;
      }
      vs.slash = lo;
      score(vs);
    }
    score(bs);
    const auto best = std::min_element(result.candidates.begin(), result.candidates.end(),
                                       [](const PatternCandidate& x, const PatternCandidate& y) {
                                         return x.choice.error < y.choice.error;
                                       });
    result.best = best->choice;
    double best_recall = 0;
    for (const PatternCandidate& c : result.candidates) best_recall = std::max(best_recall, c.choice.recall);
    if (best_recall < o.min_recall) {
      result.best = HeadPatternChoice{};
      result.best.pattern = HeadPattern::kDense;
      result.best.recall = 1.0;
      result.best.error = 0.0;
    }
  }
  return results;
}

}  // namespace sieve
