#pragma once
// Prefill attention of one cache page on the AMX tile unit: a block of query
// rows' scores against the page (Q·Kᵀ), the online softmax, and the
// probabilities times the page's values (P·V). Keys and values go from the
// cache's own format (f16, bf16 or q8_0) straight into the tiles' bf16
// layout, once per page for all the rows; the products are bf16 tile
// products with float32 sums, the softmax float32. Taken for blocks of many
// rows (prefill) when the CPU and the OS allow the tiles and neither
// SIEVE_AMX nor SIEVE_AMX_ATTENTION is 0; decode and f32 caches keep the
// float32 kernel (attention_kernel.cc).
//
// Numbers: the pre-scaled queries, the keys, the probabilities and the
// values are each rounded to bf16 (8 significant bits) on their way into the
// tiles; products and sums are float32; e^x is a polynomial to 2.6e-6
// relative, well inside the probabilities' rounding (2^-9). So a score is
// exact for the rounded q and k, and the output is within 2^-8 of
// sum_j p_j |v_j| of the float64 softmax of those scores
// (tests/attention_tiles_test.cc).
//
// Why bf16 tiles for q8_0 caches too, not int8 tiles: a q8_0 key has a scale
// per 32 dimensions, so each block's int8 product needs its own pass of
// float scaling over every score (two per score at head_dim 64), and the
// queries lose a bit to int8. Tried: q8_0 keys on int8 tiles made
// pp512 @ d8192 16% slower (docs/attention.md) and the error 7x the bound
// below; dequantizing the window once into bf16 for all its rows is cheaper.
#include <algorithm>
#include <cstdint>

#include "attention/attention_kernel.h"
#include "cache/kv_cache.h"

namespace sieve::attention_tiles {

// Whether the tiles may run (AMX-BF16 usable here, SIEVE_AMX and
// SIEVE_AMX_ATTENTION not 0) for a cache type, head_dim and page size (f16,
// bf16 or q8_0; head_dim and page size multiples of 32).
bool usable(KvType type, int64_t head_dim, int64_t page_size);

// Rows the tile products work in: n_rows rounded up to 16.
inline int64_t padded_rows(int64_t n_rows) { return (n_rows + 15) / 16 * 16; }

// The queries (n_rows x hd float32, pre-scaled) rounded to bf16 into qb
// (padded_rows(n_rows) x hd, pad rows zero), once per block of rows.
void round_queries(const float* q, int64_t n_rows, int64_t hd, uint16_t* qb);

// Consecutive pages of one KV head as the cache stores them (kv_cache.h
// layout), read as one window of slots: the rows' horizontal work (max,
// sum, rescaling) is paid per window, not per page.
constexpr int64_t kMaxWindowPages = 16;
struct Window {
  KvType type;
  const uint8_t* keys[kMaxWindowPages];    // each page's key block
  const uint8_t* values[kMaxWindowPages];  // and value block
  int64_t n_pages;
  int64_t base;  // the first page's first slot
};

// Pages in a window for a page size: a window spans about kWindowSlots.
constexpr int64_t kWindowSlots = 256;
inline int64_t window_pages(int64_t page_size) {
  return std::clamp<int64_t>(kWindowSlots / page_size, 1, kMaxWindowPages);
}

// The window of one KV head starting at page `first`: up to window_pages
// pages, none starting at or past slot `end`.
inline Window window_of(const KvCache& cache, int64_t layer, int64_t kv_head, int64_t first, int64_t end) {
  const int64_t ps = cache.shape().page_size, per_window = window_pages(ps);
  Window w{cache.shape().type, {}, {}, 0, first * ps};
  for (int64_t page = first; page < first + per_window && page * ps < end; ++page, ++w.n_pages) {
    w.keys[w.n_pages] = cache.key_block(layer, kv_head, page);
    w.values[w.n_pages] = cache.value_block(layer, kv_head, page);
  }
  return w;
}

// Slots [base + j0, base + j1) of the window for every row: scores, the
// rows' masks (limit, begin), the online softmax update of rows.m / l /
// acc, values. qb: the rows' queries from round_queries. include, when
// set: one bit per window slot (bit j of word j / 64); only those slots
// are read, and chunks of 32 slots without one are skipped whole.
void attend_window(const uint16_t* qb, AttentionRows& rows, int64_t hd, int64_t page_size, const Window& window,
                   int64_t j0, int64_t j1, const uint64_t* include = nullptr);

// The scores q_r . k_j of the rows (qb from round_queries) against slots
// [base + j0, base + j1) of the window: row r's in scores[r * ld + j - j0].
// For estimates (sparse prefill's index estimation): bf16 queries and keys,
// float32 sums.
void score_window(const uint16_t* qb, int64_t n_rows, int64_t hd, int64_t page_size, const Window& window, int64_t j0,
                  int64_t j1, float* scores, int64_t ld);

}  // namespace sieve::attention_tiles
