#pragma once
// Runs the attention kernel for policies that read the cache in segments:
// groups of slot spans, each read with its own query rotation. A policy
// supplies a planner that, for one KV head and a block of query tokens, lists
// the segments; this file does the rest (rotating and scaling the queries,
// calling the kernel per segment on one running softmax state per query row,
// normalising, counting what was read).
//
// A segment is read by every query head of the KV head's group, or by some
// of them (`heads`): per-head selection (Quest, LongHeads) reads different
// slots per query head, and a page several heads chose is read once for all
// of them when they share a segment.
//
// A segment normally reads keys where they are cached, rotated at their true
// positions; to move a span of them by a constant, rotate the query
// (`q_position`). A segment with `key_positions` instead gathers its slots'
// keys and values into scratch and re-rotates each key to its own new
// position (InfLLM's memory at one distance, TokenSelect's contiguous
// selection); its begin/limit then index the gathered slots in span order.
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
  // The query heads of the group that read the segment: bit g for head g
  // (query head kv_head * group + g); groups of up to 64 heads.
  static constexpr uint64_t kAllHeads = ~uint64_t{0};
  static uint64_t only(int64_t g) { return uint64_t{1} << g; }
  static uint64_t all(int64_t group) { return group >= 64 ? kAllHeads : (uint64_t{1} << group) - 1; }
  uint64_t heads = kAllHeads;
  // Empty: keys are read as cached. Otherwise one position per slot of the
  // spans, in span order: the slots are gathered and each key re-rotated to
  // its position here.
  std::vector<double> key_positions;
};

// Fills `out` with the segments that query tokens [t0, t1) read through KV
// head kv_head (t indexes the AttentionInput's tokens).
using SegmentPlanner =
    std::function<void(int64_t kv_head, int64_t t0, int64_t t1, std::vector<Segment>& out)>;

// Query tokens per planner call during prefill (decoding plans one token).
inline constexpr int64_t kSegmentQueryBlock = 16;

// Returns the number of slots read for decoded tokens, summed over KV heads
// and segments (for ReadStats; 0 for prefill batches).
double attend_segments(const AttentionInput& in, const SegmentPlanner& plan, float* out);

}  // namespace sieve
