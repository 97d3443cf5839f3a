#pragma once
// MInference's offline, kernel-aware pattern search (the paper's Algorithm
// 1): on a calibration prompt, for every query head, candidates of each
// pattern sized to the same cost in the sparse kernel (keys each query
// reads, measured on the prompt's last batch through the very plans the
// kernel runs: Vertical-Slash's diagonals cost what their key ranges hold,
// not one key each), each scored against dense attention; the head takes the
// candidate whose output is closest to dense.
//
// Candidates at a budget of B keys per query (the reference's shapes,
// rescaled to B): A-shape with init B/8 and local the rest; Vertical-Slash
// with B/20, 3B/20, 3B/10, B/2 and 9B/10 vertical lines and the diagonals
// fitted so the kernel reads B keys per query; Block-Sparse with B/64
// blocks. Scores per candidate: recall, the dense attention mass on the keys
// it reads (averaged over the batch's queries), and error, the L2 distance
// of its output from dense relative to dense's norm (averaged). Heads whose
// best recall is below `min_recall` are marked dense.
#include <cstdint>
#include <vector>

#include "attention/prefill/minference/head_patterns.h"
#include "attention/prefill/prefill_plan.h"

namespace sieve {

struct PatternSearchOptions {
  int64_t budget = 2048;   // keys per query, the target cost of every candidate
  double min_recall = 0;   // below this best recall a head stays dense (0: never)
};

struct PatternCandidate {
  HeadPatternChoice choice;   // with recall and error filled in
  double keys_per_query = 0;  // what the kernel read, averaged over the batch's queries
};

struct HeadSearchResult {
  std::vector<PatternCandidate> candidates;
  HeadPatternChoice best;
};

// Searches every query head of a layer on one batch (in: the batch, its
// keys in the cache). The batch should be a long prompt's last.
std::vector<HeadSearchResult> search_head_patterns(const AttentionInput& in, const PatternSearchOptions& o);

}  // namespace sieve
