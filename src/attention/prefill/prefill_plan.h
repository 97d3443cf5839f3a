#pragma once
// Sparse prefill: which cache slots each block of prompt queries reads, per
// query head, and the kernel that reads only those. A prefill method
// (prefill_method.h) fills a PrefillPlan for a batch of queries;
// attend_planned() runs it. Cost is proportional to what the plan lists:
// blocks of keys it does not name are never loaded.
//
// A plan is per query head (MInference's patterns differ per head even
// within a GQA group) and per block of kPrefillBlock query tokens (the
// reference kernels' BLOCK_M). What a block reads is
//   - parts: sorted, disjoint spans of cache slots, each row masked by its
//     own position (causal, or a window ending at it, or what lies before
//     that window: A-shape's sinks); a part marked `gather` is copied out of
//     the cache into a small cache of its own first (HiP's selected key
//     pairs: many short spans scattered over the whole prompt, where the
//     tile kernel would load a 32-slot chunk for each), and
//   - column_runs: runs of the head's `columns`, single slots gathered once
//     per batch (Vertical-Slash's vertical lines), each row reading those at
//     or before it.
// The spans of a block's parts and its columns must not overlap: a slot
// listed twice is counted twice in the softmax.
#include <cstdint>
#include <functional>
#include <vector>

#include "attention/attention_kernel.h"
#include "attention/policy.h"

namespace sieve {

inline constexpr int64_t kPrefillBlock = 64;

// How the slots of a part are masked for the row of a query at slot t.
enum class ReadMask {
  kCausal,        // slots <= t
  kWindow,        // t - window < slot <= t
  kBeforeWindow,  // slots <= t - window (and <= t): what a window of `window` does not hold
};

struct ReadPart {
  std::vector<SlotSpan> spans;  // sorted, disjoint cache slots
  ReadMask mask = ReadMask::kCausal;
  int64_t window = 0;
  bool gather = false;  // read from a copy of just these slots (same bytes, same masks)
};

struct BlockReads {
  std::vector<ReadPart> parts;
  std::vector<SlotSpan> column_runs;  // index ranges into HeadReads::columns
};

struct HeadReads {
  bool skip = false;             // not computed: the head's rows of the output are left as they are
  bool dense = false;            // every slot up to each query; the fields below unused
  std::vector<int64_t> columns;  // sorted cache slots, gathered once for the blocks' column_runs
  std::vector<BlockReads> blocks;
};

struct PrefillPlan {
  std::vector<HeadReads> heads;  // one per query head

  // n_heads heads, each with n_blocks empty blocks, not dense.
  void reset(int64_t n_heads, int64_t n_blocks);
};

// Blocks of kPrefillBlock query tokens in a batch of n_q.
inline int64_t prefill_blocks(int64_t n_q) { return (n_q + kPrefillBlock - 1) / kPrefillBlock; }

// Query-key products a plan computed (each row's visible slots) and what
// dense causal attention of the same rows computes: their ratio is the
// attention FLOPs kept.
struct PrefillWork {
  double pairs_read = 0;
  double pairs_dense = 0;
};

// The attention of the batch's queries (in.q: not yet rotated; rotated here
// at their true positions) over the slots the plan lists. Writes n_q x
// n_heads x head_dim outputs (but skipped heads' rows).
PrefillWork attend_planned(const AttentionInput& in, const PrefillPlan& plan, float* out);

// Row r of a block (query at cache slot t) reads slots [begin, limit) of a part.
void part_row_window(const ReadPart& part, int64_t t, int64_t& begin, int64_t& limit);

// Calls visit(t, slots) for each query of block b of a head, with the cache
// slots it reads as sorted spans (columns as spans of one).
void for_each_row_read(const HeadReads& head, int64_t b, int64_t first_slot, int64_t n_q,
                       const std::function<void(int64_t t, const std::vector<SlotSpan>& slots)>& visit);

}  // namespace sieve
