#pragma once
// The one kernel that reads the KV cache: online-softmax (flash-style)
// attention of a block of query rows that share a KV head, over spans of
// cache slots, in float32. Rows keep running softmax state (max m, sum l,
// unnormalised output acc) so callers can split the slots of one row across
// threads or policies and merge the parts with merge_softmax_state().
#include <cstdint>

#include "cache/kv_cache.h"

namespace sieve {

struct SlotSpan {
  int64_t begin = 0, end = 0;  // cache slots [begin, end)
};

struct AttentionRows {
  const float* q = nullptr;      // n_rows x head_dim, pre-scaled by 1/sqrt(head_dim)
  int64_t n_rows = 0;
  const int64_t* limit = nullptr;  // row r reads only slots < limit[r] (causality)
  const int64_t* begin = nullptr;  // and, when set, only slots >= begin[r] (sliding windows)
  // Softmax state, updated in place; start with m = -inf, l = 0, acc = 0.
  float* m = nullptr;
  float* l = nullptr;
  float* acc = nullptr;  // n_rows x head_dim
};

// Scratch floats the kernel needs for a cache shape and row count.
int64_t attention_scratch_floats(const KvCacheShape& shape, int64_t n_rows);

void attend_spans(const KvCache& cache, int64_t layer, int64_t kv_head, const SlotSpan* spans, int64_t n_spans,
                  AttentionRows& rows, float* scratch);

// Raw scores q_r . k_j of n_rows queries (as given: rotate and scale them
// first) against every slot of the spans, in span order: scores is n_rows x
// (total slots of the spans). For policies that select what to read. Needs
// attention_scratch_floats(shape, n_rows) floats of scratch.
void score_spans(const KvCache& cache, int64_t layer, int64_t kv_head, const SlotSpan* spans, int64_t n_spans,
                 const float* q, int64_t n_rows, float* scores, float* scratch);

// The same scores for an estimate: on the tile unit where attend_spans
// would use it (attention_tiles.h: bf16-rounded queries and keys, float32
// sums), else exactly as score_spans.
void score_spans_estimate(const KvCache& cache, int64_t layer, int64_t kv_head, const SlotSpan* spans,
                          int64_t n_spans, const float* q, int64_t n_rows, float* scores, float* scratch);

// Folds state b into state a (both for the same rows): the softmax over the
// union of the slots each has seen.
void merge_softmax_state(float& m_a, float& l_a, float* acc_a, float m_b, float l_b, const float* acc_b,
                         int64_t head_dim);

// Writes acc / l into out (head_dim floats); zeros when l is 0.
void finish_softmax_row(float l, const float* acc, int64_t head_dim, float* out);

}  // namespace sieve
