#pragma once
// The two products of prefill attention on the AMX tile unit: a query
// block's scores against a cache page (Q·Kᵀ) and the probabilities times the
// page's values (P·V), as bf16 tile products with float32 sums. The online
// softmax between them stays in float32 (attention_kernel.cc). Taken for
// blocks of many rows (prefill) over f16, bf16 and q8_0 caches, when the CPU
// and the OS allow the tiles and neither SIEVE_AMX nor SIEVE_AMX_ATTENTION is
// 0; decode and f32 caches keep the float32 kernel.
//
// Numbers: the pre-scaled queries, the keys, the probabilities and the
// values are each rounded to bf16 (8 significant bits) on their way into the
// tiles; products and sums are float32. So a score is exact for the rounded
// q and k, and the output is within 2^-8 of sum_j p_j |v_j| of the float64
// softmax of those scores (tests/attention_tiles_test.cc).
#include <cstdint>

namespace sieve::attention_tiles {

// Whether the tiles may run (AMX-BF16 usable here, SIEVE_AMX and
// SIEVE_AMX_ATTENTION not 0) for a head_dim and a page size (multiples of
// 32, pages of at most 2048 slots).
bool usable(int64_t head_dim, int64_t page_size);

// Rows the tile products work in: n_rows rounded up to 16. Score scratch
// must have this many rows.
inline int64_t padded_rows(int64_t n_rows) { return (n_rows + 15) / 16 * 16; }

// The queries (n_rows x hd float32, pre-scaled) rounded to bf16 into qb
// (padded_rows(n_rows) x hd, pad rows zero), once per block of rows.
void round_queries(const float* q, int64_t n_rows, int64_t hd, uint16_t* qb);

// scores[r][j] = q_r . k_j for every padded row r and the columns of
// [j0, j1) rounded out to multiples of 16 (within the page). kt: the page's
// keys, float32, transposed (hd x ps); scores: padded rows x ps.
void score_page(const uint16_t* qb, int64_t n_rows, int64_t hd, const float* kt, int64_t ps, int64_t j0, int64_t j1,
                float* scores);

// acc[r] += sum over j in [j0, j1) of p[r][j] * v_j for r < n_rows. p:
// n_rows x ps (columns outside [j0, j1) are not read), v: the page's values,
// float32, ps x hd (rows outside [j0, j1) are not read).
void accumulate_values(const float* p, int64_t n_rows, int64_t ps, int64_t j0, int64_t j1, const float* v,
                       int64_t hd, float* acc);

}  // namespace sieve::attention_tiles
