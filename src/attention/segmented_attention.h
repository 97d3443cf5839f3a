#pragma once
// Runs the attention kernel for policies that read the cache in segments:
// groups of slot spans, each read with its own query rotation. A policy
// supplies a planner that, for one KV head and a block of query tokens, lists
// the segments; this file does the rest (rotating and scaling the queries of
// the head group, calling the kernel per segment on one running softmax
// state, normalising, counting what was read).
#include <cstdint>
#include <functional>
#include <vector>

#include "attention/attention_kernel.h"
#include "attention/policy.h"

namespace sieve {

struct Segment {
  std::vector<SlotSpan> spans;
  // Per query token of the block: the position its query is rotated to for
  // these slots, and the slot window [begin, limit) it may read within them.
  std::vector<double> q_position;
  std::vector<int64_t> begin, limit;
};

// Fills `out` with the segments that query tokens [t0, t1) read through KV
// head kv_head (t indexes the AttentionInput's tokens).
using SegmentPlanner =
    std::function<void(int64_t kv_head, int64_t t0, int64_t t1, std::vector<Segment>& out)>;

// Returns the number of slots read, summed over KV heads (for ReadStats).
double attend_segments(const AttentionInput& in, const SegmentPlanner& plan, float* out);

}  // namespace sieve
