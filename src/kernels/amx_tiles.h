#pragma once
// Shared pieces of the AMX kernels (matmul_amx_bf16.cc, matmul_amx_int8.cc):
// the target attribute their functions are compiled with, the tile
// configurations, and the 16x16 transposition of 32-bit elements that packs
// weights into the layout of the tile product's second operand.
//
// Everything here is compiled for AMX and AVX-512 through function target
// attributes only, never through flags for a whole file, so that the inline
// functions of the standard library instantiated in these units stay plain
// x86-64 code (the linker may keep any unit's copy of them). Nothing here may
// run before amx_supported() (amx.cc) has returned true.
#include <cstdint>

#include "format/dtype.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SIEVE_HAVE_AMX 1
// GCC 12 reports its own _mm512_undefined_* idiom (a self-initialized
// variable) as uninitialized once the intrinsics are inlined here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // GCC's own warning; clang rejects the unknown name under -Werror
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#define SIEVE_AMX_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-int8,amx-bf16")))
#else
#define SIEVE_HAVE_AMX 0
#endif

namespace sieve::kernels::detail {

// Formats whose weights have a min term (Q4_1, Q5_1, Q4_K, Q5_K).
bool amx_has_min(DType t);

#if SIEVE_HAVE_AMX

// One row of a format amx_int8_handles() lists (amx_unpack.cc): its k levels
// into lv (signed int8: Q8_0 q, Q4_0 q - 8, Q5_0 q - 16, the others 0..31),
// and per 32-element block b the weight scale ws[32 b] and min term wm[32 b]
// (0 for formats without one), so that weight = ws * level + wm.
SIEVE_AMX_TARGET void amx_unpack_row(DType t, const uint8_t* row, int64_t k, int8_t* lv, float* ws, float* wm);

// The two configurations, both with tiles 0-3 as 16x16 accumulators (float32
// or int32), 4-5 as the activations (16 tokens) and 6-7 as the weights (16
// rows each):
//  kBf16: A = 16 tokens x 32 bf16, B = 16 pairs x 16 rows (64 bytes a row).
//  kInt8: A = 16 tokens x 32 int8, B = 8 quads x 16 rows: one 32-element
//         quantization block per tile product, so each block's scales can be
//         applied to its own int32 sums.
enum class TileShape { kNone = 0, kBf16 = 1, kInt8 = 2 };

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

constexpr TileConfig tile_config(TileShape shape) {
  TileConfig c;
  for (int t = 0; t < 4; ++t) c.rows[t] = 16, c.colsb[t] = 64;
  c.rows[4] = c.rows[5] = 16;
  c.colsb[4] = c.colsb[5] = shape == TileShape::kBf16 ? 64 : 32;
  c.rows[6] = c.rows[7] = shape == TileShape::kBf16 ? 16 : 8;
  c.colsb[6] = c.colsb[7] = 64;
  return c;
}
inline constexpr TileConfig kBf16Config = tile_config(TileShape::kBf16), kInt8Config = tile_config(TileShape::kInt8);

// Loads the configuration into this thread's tile registers unless it is
// already there. Tile configuration is per thread: every pool thread that
// runs an AMX kernel calls this first. The configurations are constants in
// memory: GCC 12 does not count ldtilecfg as reading a local one, and where
// use_tiles was inlined it dropped the stores of the rows and columns,
// leaving an empty configuration (the next tile instruction faults).
SIEVE_AMX_TARGET inline void use_tiles(TileShape shape) {
  thread_local TileShape loaded = TileShape::kNone;
  if (loaded == shape) return;
  _tile_loadconfig(shape == TileShape::kBf16 ? &kBf16Config : &kInt8Config);
  loaded = shape;
}

// The tile loads are asm statements that do not tell the compiler which
// memory they read: after writing a buffer that tiles load, call this so the
// stores are not kept in registers or moved past the loads.
inline void tile_memory_barrier() { asm volatile("" ::: "memory"); }

// In place: r[j] lane i <- r[i] lane j, for 16 vectors of 16 dwords.
SIEVE_AMX_TARGET inline void transpose16x16_dwords(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // u[4i + c], 128-bit lane L: column 4L + c of rows 4i..4i+3.
  for (int i = 0; i < 4; ++i) {
    u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
    const __m512i w0 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44),
                  w1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
    r[c] = _mm512_shuffle_i32x4(v0, w0, 0x88);
    r[4 + c] = _mm512_shuffle_i32x4(v0, w0, 0xDD);
    r[8 + c] = _mm512_shuffle_i32x4(v1, w1, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(v1, w1, 0xDD);
  }
}

#endif  // SIEVE_HAVE_AMX

}  // namespace sieve::kernels::detail
