// SIMD code of the attention kernel, compiled once per instruction set by
// Highway (foreach_target) and chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/attention_kernel.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "attention/attention_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "attention/attention_tiles.h"
#include "kernels/prefetch.h"
#include "util/half.h"

HWY_BEFORE_NAMESPACE();
namespace sieve {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;

// N keys or values at p as float32: from float32 (an f32 page or converted
// scratch) or straight from an f16 or bf16 cache page.
HWY_INLINE hn::Vec<DF> LoadFloat(DF df, const float* p) { return hn::LoadU(df, p); }
HWY_INLINE hn::Vec<DF> LoadFloat(DF df, const hwy::float16_t* p) {
  return hn::PromoteTo(df, hn::LoadU(hn::Rebind<hwy::float16_t, DF>(), p));
}
HWY_INLINE hn::Vec<DF> LoadFloat(DF df, const hwy::bfloat16_t* p) {
  return hn::PromoteTo(df, hn::LoadU(hn::Rebind<hwy::bfloat16_t, DF>(), p));
}
// N int8 of a q8_0 block as float32 (the block's scale not applied).
HWY_INLINE hn::Vec<DF> LoadInt8AsFloat(DF df, const uint8_t* p) {
  return hn::ConvertTo(df, hn::PromoteTo(hn::Rebind<int32_t, DF>(), hn::LoadU(hn::Rebind<int8_t, DF>(),
                                                                               reinterpret_cast<const int8_t*>(p))));
}
inline float ToFloat(float x) { return x; }
inline float ToFloat(hwy::float16_t x) {
  uint16_t bits;
  std::memcpy(&bits, &x, 2);
  return f16_to_f32(bits);
}
inline float ToFloat(hwy::bfloat16_t x) {
  uint16_t bits;
  std::memcpy(&bits, &x, 2);
  return bf16_to_f32(bits);
}

// Converts slots [j0, n) of a page's keys (transposed: d-major, page_size
// apart) and values (row-major) to float32 scratch in the same layouts, at
// their own columns/rows. Key columns are converted from j0 rounded down to
// the vector width (what score_page reads), so a short span costs what it
// holds, not the page before it. v may be null: keys only.
void convert_page(const KvCache& cache, int64_t layer, int64_t kv_head, int64_t page, int64_t j0, int64_t n,
                  float* kt, float* v) {
  const KvCacheShape& s = cache.shape();
  const int64_t hd = s.head_dim, ps = s.page_size;
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const uint8_t* kb = cache.key_block(layer, kv_head, page);
  const uint8_t* vb = cache.value_block(layer, kv_head, page);
  if (s.type == KvType::F16 || s.type == KvType::BF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    const hn::Rebind<hwy::bfloat16_t, DF> db;
    auto convert = [&](const uint8_t* src, float* dst, int64_t count) {
      int64_t i = 0;
      if (s.type == KvType::F16) {
        const auto* p = reinterpret_cast<const hwy::float16_t*>(src);
        for (; i + N <= count; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, p + i)), df, dst + i);
        for (; i < count; ++i) dst[i] = f16_to_f32(reinterpret_cast<const uint16_t*>(src)[i]);
      } else {
        const auto* p = reinterpret_cast<const hwy::bfloat16_t*>(src);
        for (; i + N <= count; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(db, p + i)), df, dst + i);
        for (; i < count; ++i) dst[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(src)[i]);
      }
    };
    // Key columns [c0, n rounded up to the vector width): stays inside the page.
    const int64_t c0 = j0 / N * N, cols = std::min(ps, (n + N - 1) / N * N);
    for (int64_t d = 0; d < hd; ++d) convert(kb + (d * ps + c0) * 2, kt + d * ps + c0, cols - c0);
    if (v) convert(vb + j0 * hd * 2, v + j0 * hd, (n - j0) * hd);
    return;
  }
  // q8_0 (layout in kv_cache.h). Keys: each dimension's column of int8 times
  // the slots' scales, a vector of slots at a time.
  const hn::Rebind<hwy::float16_t, DF> dh;
  const int64_t c0 = j0 / N * N, cols = std::min(ps, (n + N - 1) / N * N);
  for (int64_t b = 0; b < hd / 32; ++b) {
    const auto* scales = reinterpret_cast<const hwy::float16_t*>(kb + q8_key_scales(b, ps));
    for (int64_t c = c0; c < cols; c += N) {
      const auto scale = hn::PromoteTo(df, hn::LoadU(dh, scales + c));
      for (int64_t i = 0; i < 32; ++i)
        hn::StoreU(hn::Mul(LoadInt8AsFloat(df, kb + q8_key_column(b, i, ps) + c), scale), df, kt + (32 * b + i) * ps + c);
    }
  }
  if (!v) return;
  // Values: row by row, each block of 32 times its scale.
  for (int64_t j = j0; j < n; ++j) {
    const uint8_t* row = vb + j * cache.row_bytes();
    for (int64_t b = 0; b < hd / 32; ++b) {
      const uint8_t* block = row + b * kQ8BlockBytes;
      uint16_t bits;
      std::memcpy(&bits, block, 2);
      const float scale = f16_to_f32(bits);
      float* out = v + j * hd + 32 * b;
      int64_t i = 0;
      for (; i + N <= 32; i += N) hn::StoreU(hn::Mul(LoadInt8AsFloat(df, block + 2 + i), hn::Set(df, scale)), df, out + i);
      for (; i < 32; ++i) out[i] = scale * static_cast<int8_t>(block[2 + i]);
    }
  }
}

// Cache lines to ask for into L2, a few at a time between the FMAs of the
// page being read: the next page's, which are separate allocations that the
// hardware prefetchers do not reach ahead of time. The steps are spread over
// the whole page's work (its scores and its values): issued in one burst,
// the prefetches fill the core's miss buffers and stall the FMAs behind
// them (on Zen 4, 2 threads, 32K slots: 1.0-1.5x slower, median ~1.2x).
struct PrefetchStream {
  const uint8_t *key = nullptr, *key_end = nullptr;      // the next page's key block
  const uint8_t *value = nullptr, *value_end = nullptr;  // and its value block
  void step(int lines) {
    for (; lines > 0 && key < key_end; --lines, key += 64) kernels::prefetch_l2(key);
    for (; lines > 0 && value < value_end; --lines, value += 64) kernels::prefetch_l2(value);
  }
  void finish() { step(std::numeric_limits<int>::max()); }
};

// scores[r][j] = q_r . k_j for r < n_rows, c0 <= j < n_cols (both multiples
// of the vector width). Four rows at a time share each key vector load.
template <typename T>
void score_page(const float* q, int64_t n_rows, int64_t hd, const T* kt, int64_t ps, int64_t c0, int64_t n_cols,
                float* scores, PrefetchStream& ahead) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    const float* q0 = q + r * hd;
    for (int64_t c = c0; c < n_cols; c += N) {
      auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      for (int64_t d = 0; d < hd; ++d) {
        if (d & 1) ahead.step(1);  // half of the next page's lines here, half in accumulate_values
        const auto k = LoadFloat(df, kt + d * ps + c);
        a0 = hn::MulAdd(hn::Set(df, q0[d]), k, a0);
        a1 = hn::MulAdd(hn::Set(df, q0[hd + d]), k, a1);
        a2 = hn::MulAdd(hn::Set(df, q0[2 * hd + d]), k, a2);
        a3 = hn::MulAdd(hn::Set(df, q0[3 * hd + d]), k, a3);
      }
      hn::StoreU(a0, df, scores + (r + 0) * ps + c);
      hn::StoreU(a1, df, scores + (r + 1) * ps + c);
      hn::StoreU(a2, df, scores + (r + 2) * ps + c);
      hn::StoreU(a3, df, scores + (r + 3) * ps + c);
    }
  }
  for (; r < n_rows; ++r) {
    const float* qr = q + r * hd;
    for (int64_t c = c0; c < n_cols; c += N) {
      auto a = hn::Zero(df);
      for (int64_t d = 0; d < hd; ++d) a = hn::MulAdd(hn::Set(df, qr[d]), LoadFloat(df, kt + d * ps + c), a);
      hn::StoreU(a, df, scores + r * ps + c);
    }
  }
}

// Online-softmax update of one row with scores of columns [j0, j1) (columns
// at or past `limit` are masked); leaves the probabilities in p[j0, j1) and
// rescales acc. Returns false when no column was visible.
bool softmax_update(float* p, int64_t j0, int64_t j1, float& m, float& l, float* acc, int64_t hd) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
  auto vmax = hn::Set(df, kMinusInf);
  int64_t jm = j0;
  for (; jm + N <= j1; jm += N) vmax = hn::Max(vmax, hn::LoadU(df, p + jm));
  float page_max = hn::GetLane(hn::MaxOfLanes(df, vmax));
  for (; jm < j1; ++jm) page_max = std::max(page_max, p[jm]);
  if (page_max == kMinusInf) return false;
  const float new_m = std::max(m, page_max);
  const float correction = new_m == m ? 1.0f : std::exp(m - new_m);  // most pages do not raise the max
  const auto vm = hn::Set(df, new_m);
  auto vsum = hn::Zero(df);
  int64_t j = j0;
  for (; j + N <= j1; j += N) {
    const auto x = hn::Sub(hn::LoadU(df, p + j), vm);
    const auto e = hn::Exp(df, x);
    hn::StoreU(e, df, p + j);
    vsum = hn::Add(vsum, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, vsum));
  for (; j < j1; ++j) sum += (p[j] = std::exp(p[j] - new_m));
  l = l * correction + sum;
  m = new_m;
  if (correction != 1.0f) {
    const auto vc = hn::Set(df, correction);
    int64_t d = 0;
    for (; d + N <= hd; d += N) hn::StoreU(hn::Mul(hn::LoadU(df, acc + d), vc), df, acc + d);
    for (; d < hd; ++d) acc[d] *= correction;
  }
  return true;
}

// acc_r += sum_j p[r][j] * v_j over columns [j0, j1) for one row.
template <typename T>
void accumulate_row(const float* pr, int64_t j0, int64_t j1, const T* v, int64_t hd, float* ar) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t d = 0;
  for (; d + N <= hd; d += N) {
    auto o = hn::LoadU(df, ar + d);
    for (int64_t j = j0; j < j1; ++j) o = hn::MulAdd(hn::Set(df, pr[j]), LoadFloat(df, v + j * hd + d), o);
    hn::StoreU(o, df, ar + d);
  }
  for (; d < hd; ++d)
    for (int64_t j = j0; j < j1; ++j) ar[d] += pr[j] * ToFloat(v[j * hd + d]);
}

// acc_r += sum_j p[r][j] * v_j over columns [j0, j1): four rows by two
// vectors at a time, so each loaded value vector feeds four rows.
template <typename T>
void accumulate_values(const float* p, int64_t n_rows, int64_t ps, int64_t j0, int64_t j1, const T* v, int64_t hd,
                       float* acc, PrefetchStream& ahead) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t r = 0;
  if (hd % (2 * N) == 0) {
    for (; r + 4 <= n_rows; r += 4) {
      const float* p0 = p + r * ps;
      for (int64_t d = 0; d < hd; d += 2 * N) {
        float* a = acc + r * hd + d;
        auto o00 = hn::LoadU(df, a), o01 = hn::LoadU(df, a + N);
        auto o10 = hn::LoadU(df, a + hd), o11 = hn::LoadU(df, a + hd + N);
        auto o20 = hn::LoadU(df, a + 2 * hd), o21 = hn::LoadU(df, a + 2 * hd + N);
        auto o30 = hn::LoadU(df, a + 3 * hd), o31 = hn::LoadU(df, a + 3 * hd + N);
        for (int64_t j = j0; j < j1; ++j) {
          ahead.step(1);
          const auto v0 = LoadFloat(df, v + j * hd + d), v1 = LoadFloat(df, v + j * hd + d + N);
          const auto q0 = hn::Set(df, p0[j]), q1 = hn::Set(df, p0[ps + j]);
          const auto q2 = hn::Set(df, p0[2 * ps + j]), q3 = hn::Set(df, p0[3 * ps + j]);
          o00 = hn::MulAdd(q0, v0, o00), o01 = hn::MulAdd(q0, v1, o01);
          o10 = hn::MulAdd(q1, v0, o10), o11 = hn::MulAdd(q1, v1, o11);
          o20 = hn::MulAdd(q2, v0, o20), o21 = hn::MulAdd(q2, v1, o21);
          o30 = hn::MulAdd(q3, v0, o30), o31 = hn::MulAdd(q3, v1, o31);
        }
        hn::StoreU(o00, df, a), hn::StoreU(o01, df, a + N);
        hn::StoreU(o10, df, a + hd), hn::StoreU(o11, df, a + hd + N);
        hn::StoreU(o20, df, a + 2 * hd), hn::StoreU(o21, df, a + 2 * hd + N);
        hn::StoreU(o30, df, a + 3 * hd), hn::StoreU(o31, df, a + 3 * hd + N);
      }
    }
  }
  for (; r < n_rows; ++r) accumulate_row(p + r * ps, j0, j1, v, hd, acc + r * hd);
}

// A q8_0 key or value block read in place (layout in kv_cache.h): the
// overloads of score_page and accumulate_values below take it where the
// float types pass their elements.
struct Q8Block {};

// The in-place q8_0 overloads read whole vectors inside one block of 32.
inline bool Q8VectorsFitBlocks() { return 32 % hn::Lanes(DF()) == 0; }

// q8_0 keys: per block of 32 dimensions, the int8 columns' dot products with
// the rows, then times the slots' scales. Four rows at a time.
void score_page(const float* q, int64_t n_rows, int64_t hd, const Q8Block* kt, int64_t ps, int64_t c0,
                int64_t n_cols, float* scores, PrefetchStream& ahead) {
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const uint8_t* kb = reinterpret_cast<const uint8_t*>(kt);
  for (int64_t r = 0; r < n_rows; r += 4) {
    const int64_t rows = std::min<int64_t>(4, n_rows - r);
    const float* q0 = q + r * hd;
    for (int64_t c = c0; c < n_cols; c += N) {
      auto a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t b = 0; b < hd / 32; ++b) {
        auto s0 = hn::Zero(df), s1 = s0, s2 = s0, s3 = s0;
        for (int64_t i = 0; i < 32; ++i) {
          if (i & 1) ahead.step(1);
          const auto k = LoadInt8AsFloat(df, kb + q8_key_column(b, i, ps) + c);
          const int64_t d = 32 * b + i;
          s0 = hn::MulAdd(hn::Set(df, q0[d]), k, s0);
          if (rows > 1) s1 = hn::MulAdd(hn::Set(df, q0[hd + d]), k, s1);
          if (rows > 2) s2 = hn::MulAdd(hn::Set(df, q0[2 * hd + d]), k, s2);
          if (rows > 3) s3 = hn::MulAdd(hn::Set(df, q0[3 * hd + d]), k, s3);
        }
        const auto scale =
            hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(kb + q8_key_scales(b, ps)) + c));
        a0 = hn::MulAdd(s0, scale, a0), a1 = hn::MulAdd(s1, scale, a1);
        a2 = hn::MulAdd(s2, scale, a2), a3 = hn::MulAdd(s3, scale, a3);
      }
      hn::StoreU(a0, df, scores + r * ps + c);
      if (rows > 1) hn::StoreU(a1, df, scores + (r + 1) * ps + c);
      if (rows > 2) hn::StoreU(a2, df, scores + (r + 2) * ps + c);
      if (rows > 3) hn::StoreU(a3, df, scores + (r + 3) * ps + c);
    }
  }
}

// q8_0 values: each row's blocks times p[r][j] * scale, four rows at a time.
void accumulate_values(const float* p, int64_t n_rows, int64_t ps, int64_t j0, int64_t j1, const Q8Block* v,
                       int64_t hd, float* acc, PrefetchStream& ahead) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const uint8_t* vb = reinterpret_cast<const uint8_t*>(v);
  const int64_t row_bytes = hd / 32 * kQ8BlockBytes;
  for (int64_t r = 0; r < n_rows; r += 4) {
    const int64_t rows = std::min<int64_t>(4, n_rows - r);
    const float* p0 = p + r * ps;
    for (int64_t d = 0; d < hd; d += N) {  // N divides 32: a vector never straddles two blocks
      const int64_t b = d / 32;
      float* a = acc + r * hd + d;
      auto o0 = hn::LoadU(df, a);
      auto o1 = rows > 1 ? hn::LoadU(df, a + hd) : o0;
      auto o2 = rows > 2 ? hn::LoadU(df, a + 2 * hd) : o0;
      auto o3 = rows > 3 ? hn::LoadU(df, a + 3 * hd) : o0;
      for (int64_t j = j0; j < j1; ++j) {
        if (d % 32 == 0) ahead.step(1);
        const uint8_t* block = vb + j * row_bytes + b * kQ8BlockBytes;
        uint16_t bits;
        std::memcpy(&bits, block, 2);
        const float scale = f16_to_f32(bits);
        const auto x = LoadInt8AsFloat(df, block + 2 + d % 32);
        o0 = hn::MulAdd(hn::Set(df, p0[j] * scale), x, o0);
        if (rows > 1) o1 = hn::MulAdd(hn::Set(df, p0[ps + j] * scale), x, o1);
        if (rows > 2) o2 = hn::MulAdd(hn::Set(df, p0[2 * ps + j] * scale), x, o2);
        if (rows > 3) o3 = hn::MulAdd(hn::Set(df, p0[3 * ps + j] * scale), x, o3);
      }
      hn::StoreU(o0, df, a);
      if (rows > 1) hn::StoreU(o1, df, a + hd);
      if (rows > 2) hn::StoreU(o2, df, a + 2 * hd);
      if (rows > 3) hn::StoreU(o3, df, a + 3 * hd);
    }
  }
}

// Rows of a few queries (decoding: the query heads of one KV head) read
// f16, bf16 and q8_0 pages in place, widening each key and value vector in
// registers; more rows convert the page once into float32 scratch and share
// that.
constexpr int64_t kMaxRowsReadingInPlace = 8;

// One page's slots [j0, j1) (base = the page's first slot) for every row:
// scores, masks, online softmax, values. kt: the page's keys transposed
// (hd x ps), v: its values (ps x hd), p: n_rows x ps scratch.
template <typename T>
void attend_page(AttentionRows& rows, int64_t hd, int64_t ps, int64_t base, int64_t j0, int64_t j1, const T* kt,
                 const T* v, float* p, PrefetchStream& ahead) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  const int64_t n_rows = rows.n_rows;
  score_page(rows.q, n_rows, hd, kt, ps, j0 / N * N, std::min(ps, (j1 + N - 1) / N * N), p, ahead);
  for (int64_t r = 0; r < n_rows; ++r) {
    float* pr = p + r * ps;
    const int64_t visible_end = std::min(j1, rows.limit[r] - base);
    const int64_t visible_begin = rows.begin ? std::max(j0, rows.begin[r] - base) : j0;
    for (int64_t j = j0; j < std::min(visible_begin, j1); ++j) pr[j] = -std::numeric_limits<float>::infinity();
    for (int64_t j = std::max(j0, visible_end); j < j1; ++j) pr[j] = -std::numeric_limits<float>::infinity();
    // A row that sees nothing of this page adds nothing: zero probabilities.
    const bool any =
        visible_end > visible_begin && softmax_update(pr, j0, j1, rows.m[r], rows.l[r], rows.acc + r * hd, hd);
    if (!any) std::fill(pr + j0, pr + j1, 0.0f);
  }
  accumulate_values(p, n_rows, ps, j0, j1, v, hd, rows.acc, ahead);
  ahead.finish();
}

template <typename T>
void attend_page_in_place(const KvCache& cache, int64_t layer, int64_t kv_head, int64_t page, AttentionRows& rows,
                          int64_t j0, int64_t j1, float* p, PrefetchStream& ahead) {
  const KvCacheShape& s = cache.shape();
  attend_page(rows, s.head_dim, s.page_size, page * s.page_size, j0, j1,
              reinterpret_cast<const T*>(cache.key_block(layer, kv_head, page)),
              reinterpret_cast<const T*>(cache.value_block(layer, kv_head, page)), p, ahead);
}

// The stream of this KV head's blocks of `page`.
PrefetchStream page_stream(const KvCache& cache, int64_t layer, int64_t kv_head, int64_t page) {
  const size_t block_bytes = cache.row_bytes() * static_cast<size_t>(cache.shape().page_size);
  const uint8_t* k = cache.key_block(layer, kv_head, page);
  const uint8_t* v = cache.value_block(layer, kv_head, page);
  return {k, k + block_bytes, v, v + block_bytes};
}

// Slots [begin, end) on the tile unit, a window of pages at a time; the
// next window's pages load while the tiles work on this one.
void attend_span_tiles(const KvCache& cache, int64_t layer, int64_t kv_head, int64_t begin, int64_t end,
                       AttentionRows& rows, const uint16_t* qb) {
  const KvCacheShape& s = cache.shape();
  const int64_t ps = s.page_size, per_window = attention_tiles::window_pages(ps);
  for (int64_t first = begin / ps; first * ps < end; first += per_window) {
    const attention_tiles::Window w = attention_tiles::window_of(cache, layer, kv_head, first, end);
    for (int64_t page = first + per_window; page < first + 2 * per_window && page * ps < end; ++page)
      page_stream(cache, layer, kv_head, page).finish();
    attention_tiles::attend_window(qb, rows, s.head_dim, ps, w, std::max(begin, w.base) - w.base,
                                   std::min(end, w.base + w.n_pages * ps) - w.base);
  }
}

// Sorted, disjoint spans on the tile unit a window at a time: the spans
// that share a window are read in one pass over it (one bit per slot they
// hold), so many short spans (sparse prefill's diagonals) cost the chunks
// they touch, not a pass each.
void attend_spans_by_window(const KvCache& cache, int64_t layer, int64_t kv_head, const SlotSpan* spans,
                            int64_t n_spans, int64_t max_limit, AttentionRows& rows, const uint16_t* qb) {
  const KvCacheShape& s = cache.shape();
  const int64_t ps = s.page_size;
  const int64_t readable = std::min(cache.size(), max_limit);
  thread_local std::vector<uint64_t> include;
  auto set_bits = [](uint64_t* bits, int64_t a, int64_t b) {  // bits [a, b)
    for (; a < b && a % 64; ++a) bits[a / 64] |= uint64_t{1} << (a % 64);
    for (; a + 64 <= b; a += 64) bits[a / 64] = ~uint64_t{0};
    for (; a < b; ++a) bits[a / 64] |= uint64_t{1} << (a % 64);
  };
  int64_t si = 0, pos = 0;  // the next slot to read: in span si, at or after pos
  while (si < n_spans) {
    pos = std::max(pos, spans[si].begin);
    if (pos >= std::min(spans[si].end, readable)) {
      if (pos >= readable) break;
      ++si;
      continue;
    }
    const attention_tiles::Window w = attention_tiles::window_of(cache, layer, kv_head, pos / ps, readable);
    const int64_t w_end = w.base + w.n_pages * ps;
    include.assign(static_cast<size_t>((w.n_pages * ps + 63) / 64), 0);
    int64_t j0 = w_end, j1 = 0;
    // The spans (or their parts) inside this window; one running past it
    // continues in the next.
    for (; si < n_spans; ++si) {
      pos = std::max(pos, spans[si].begin);
      if (pos >= w_end) break;
      const int64_t end = std::min({spans[si].end, readable, w_end});
      if (pos < end) {
        set_bits(include.data(), pos - w.base, end - w.base);
        j0 = std::min(j0, pos - w.base);
        j1 = std::max(j1, end - w.base);
      }
      if (std::min(spans[si].end, readable) > w_end) {
        pos = w_end;
        break;
      }
    }
    if (j0 < j1) attention_tiles::attend_window(qb, rows, s.head_dim, ps, w, j0, j1, include.data());
  }
}

bool sorted_disjoint(const SlotSpan* spans, int64_t n_spans) {
  for (int64_t i = 1; i < n_spans; ++i)
    if (spans[i].begin < spans[i - 1].end) return false;
  return true;
}

void AttendSpans(const KvCache& cache, int64_t layer, int64_t kv_head, const SlotSpan* spans, int64_t n_spans,
                 AttentionRows& rows, float* scratch) {
  const KvCacheShape& s = cache.shape();
  const int64_t hd = s.head_dim, ps = s.page_size, n_rows = rows.n_rows;
  float* kt = scratch;                // hd x ps
  float* v = kt + hd * ps;            // ps x hd
  float* p = v + hd * ps;             // n_rows x ps
  int64_t max_limit = 0;
  for (int64_t r = 0; r < n_rows; ++r) max_limit = std::max(max_limit, rows.limit[r]);
  const bool in_place = n_rows <= kMaxRowsReadingInPlace;
  const bool q8_in_place = in_place && Q8VectorsFitBlocks();
  // Many rows (prefill) on the tile unit when it is there: queries rounded once.
  const uint16_t* qb = nullptr;
  if (!in_place && attention_tiles::usable(s.type, hd, ps)) {
    thread_local std::vector<uint16_t> rounded;
    std::vector<uint16_t>& r = rounded;
    r.resize(static_cast<size_t>(attention_tiles::padded_rows(n_rows) * hd));
    attention_tiles::round_queries(rows.q, n_rows, hd, r.data());
    qb = r.data();
    if (n_spans > 1 && sorted_disjoint(spans, n_spans))
      return attend_spans_by_window(cache, layer, kv_head, spans, n_spans, max_limit, rows, qb);
  }

  for (int64_t si = 0; si < n_spans; ++si) {
    const int64_t span_end = std::min(spans[si].end, max_limit);
    if (qb) {
      attend_span_tiles(cache, layer, kv_head, spans[si].begin, span_end, rows, qb);
      continue;
    }
    for (int64_t page = spans[si].begin / ps; page * ps < span_end; ++page) {
      const int64_t base = page * ps;
      const int64_t j0 = std::max(spans[si].begin, base) - base;
      const int64_t j1 = std::min(span_end, base + ps) - base;
      if (j1 <= j0) continue;
      PrefetchStream ahead;  // the page read after this one
      if ((page + 1) * ps < span_end) ahead = page_stream(cache, layer, kv_head, page + 1);
      else if (si + 1 < n_spans && spans[si + 1].begin < max_limit)
        ahead = page_stream(cache, layer, kv_head, spans[si + 1].begin / ps);
      if (s.type == KvType::F32) {
        attend_page_in_place<float>(cache, layer, kv_head, page, rows, j0, j1, p, ahead);
      } else if (s.type == KvType::F16 && in_place) {
        attend_page_in_place<hwy::float16_t>(cache, layer, kv_head, page, rows, j0, j1, p, ahead);
      } else if (s.type == KvType::BF16 && in_place) {
        attend_page_in_place<hwy::bfloat16_t>(cache, layer, kv_head, page, rows, j0, j1, p, ahead);
      } else if (s.type == KvType::Q8_0 && q8_in_place) {
        attend_page_in_place<Q8Block>(cache, layer, kv_head, page, rows, j0, j1, p, ahead);
      } else {
        convert_page(cache, layer, kv_head, page, j0, j1, kt, v);
        attend_page<float>(rows, hd, ps, base, j0, j1, kt, v, p, ahead);
      }
    }
  }
}

template <typename T>
void score_page_in_place(const KvCache& cache, int64_t layer, int64_t kv_head, int64_t page, const float* q,
                         int64_t n_rows, int64_t j0, int64_t j1, float* p, PrefetchStream& ahead) {
  const KvCacheShape& s = cache.shape();
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  score_page(q, n_rows, s.head_dim, reinterpret_cast<const T*>(cache.key_block(layer, kv_head, page)), s.page_size,
             j0 / N * N, std::min(s.page_size, (j1 + N - 1) / N * N), p, ahead);
}

void ScoreSpans(const KvCache& cache, int64_t layer, int64_t kv_head, const SlotSpan* spans, int64_t n_spans,
                const float* q, int64_t n_rows, float* scores, float* scratch) {
  const KvCacheShape& s = cache.shape();
  const int64_t hd = s.head_dim, ps = s.page_size;
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  int64_t n_slots = 0;
  for (int64_t si = 0; si < n_spans; ++si) n_slots += spans[si].end - spans[si].begin;
  float* kt = scratch;       // hd x ps
  float* p = kt + hd * ps;   // n_rows x ps
  const bool in_place = n_rows <= kMaxRowsReadingInPlace;
  const bool q8_in_place = in_place && Q8VectorsFitBlocks();
  int64_t col = 0;           // output column of the current page's first visible slot
  for (int64_t si = 0; si < n_spans; ++si) {
    for (int64_t page = spans[si].begin / ps; page * ps < spans[si].end; ++page) {
      const int64_t base = page * ps;
      const int64_t j0 = std::max(spans[si].begin, base) - base;
      const int64_t j1 = std::min(spans[si].end, base + ps) - base;
      if (j1 <= j0) continue;
      PrefetchStream ahead;  // the next page's keys (values are not read here)
      if ((page + 1) * ps < spans[si].end) ahead = page_stream(cache, layer, kv_head, page + 1);
      else if (si + 1 < n_spans && spans[si + 1].begin < spans[si + 1].end)
        ahead = page_stream(cache, layer, kv_head, spans[si + 1].begin / ps);
      ahead.value = ahead.value_end;
      if (s.type == KvType::F32) {
        score_page_in_place<float>(cache, layer, kv_head, page, q, n_rows, j0, j1, p, ahead);
      } else if (s.type == KvType::F16 && in_place) {
        score_page_in_place<hwy::float16_t>(cache, layer, kv_head, page, q, n_rows, j0, j1, p, ahead);
      } else if (s.type == KvType::BF16 && in_place) {
        score_page_in_place<hwy::bfloat16_t>(cache, layer, kv_head, page, q, n_rows, j0, j1, p, ahead);
      } else if (s.type == KvType::Q8_0 && q8_in_place) {
        score_page_in_place<Q8Block>(cache, layer, kv_head, page, q, n_rows, j0, j1, p, ahead);
      } else {
        convert_page(cache, layer, kv_head, page, j0, j1, kt, nullptr);
        score_page(q, n_rows, hd, kt, ps, j0 / N * N, std::min(ps, (j1 + N - 1) / N * N), p, ahead);
      }
      ahead.finish();
      for (int64_t r = 0; r < n_rows; ++r)
        std::copy(p + r * ps + j0, p + r * ps + j1, scores + r * n_slots + col);
      col += j1 - j0;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(AttendSpans);
HWY_EXPORT(ScoreSpans);

void score_spans(const KvCache& cache, int64_t layer, int64_t kv_head, const SlotSpan* spans, int64_t n_spans,
                 const float* q, int64_t n_rows, float* scores, float* scratch) {
  HWY_DYNAMIC_DISPATCH(ScoreSpans)(cache, layer, kv_head, spans, n_spans, q, n_rows, scores, scratch);
}

int64_t attention_scratch_floats(const KvCacheShape& shape, int64_t n_rows) {
  // Score rows padded for the tile unit (attention_tiles.h).
  return 2 * shape.head_dim * shape.page_size + attention_tiles::padded_rows(n_rows) * shape.page_size;
}

void attend_spans(const KvCache& cache, int64_t layer, int64_t kv_head, const SlotSpan* spans, int64_t n_spans,
                  AttentionRows& rows, float* scratch) {
  HWY_DYNAMIC_DISPATCH(AttendSpans)(cache, layer, kv_head, spans, n_spans, rows, scratch);
}

void score_spans_estimate(const KvCache& cache, int64_t layer, int64_t kv_head, const SlotSpan* spans,
                          int64_t n_spans, const float* q, int64_t n_rows, float* scores, float* scratch) {
  const KvCacheShape& s = cache.shape();
  if (n_rows < 16 || !attention_tiles::usable(s.type, s.head_dim, s.page_size))
    return score_spans(cache, layer, kv_head, spans, n_spans, q, n_rows, scores, scratch);
  const int64_t ps = s.page_size, per_window = attention_tiles::window_pages(ps);
  int64_t n_slots = 0;
  for (int64_t si = 0; si < n_spans; ++si) n_slots += spans[si].end - spans[si].begin;
  thread_local std::vector<uint16_t> rounded;
  rounded.resize(static_cast<size_t>(attention_tiles::padded_rows(n_rows) * s.head_dim));
  attention_tiles::round_queries(q, n_rows, s.head_dim, rounded.data());
  int64_t col = 0;
  for (int64_t si = 0; si < n_spans; ++si)
    for (int64_t first = spans[si].begin / ps; first * ps < spans[si].end; first += per_window) {
      const attention_tiles::Window w = attention_tiles::window_of(cache, layer, kv_head, first, spans[si].end);
      const int64_t j0 = std::max(spans[si].begin, w.base) - w.base;
      const int64_t j1 = std::min(spans[si].end, w.base + w.n_pages * ps) - w.base;
      attention_tiles::score_window(rounded.data(), n_rows, s.head_dim, ps, w, j0, j1, scores + col, n_slots);
      col += j1 - j0;
    }
}

void merge_softmax_state(float& m_a, float& l_a, float* acc_a, float m_b, float l_b, const float* acc_b,
                         int64_t hd) {
  if (l_b == 0) return;
  if (l_a == 0) {
    m_a = m_b;
    l_a = l_b;
    std::memcpy(acc_a, acc_b, hd * sizeof(float));
    return;
  }
  const float m = std::max(m_a, m_b);
  const float ca = std::exp(m_a - m), cb = std::exp(m_b - m);
  for (int64_t d = 0; d < hd; ++d) acc_a[d] = acc_a[d] * ca + acc_b[d] * cb;
  l_a = l_a * ca + l_b * cb;
  m_a = m;
}

void finish_softmax_row(float l, const float* acc, int64_t hd, float* out) {
  const float inv = l > 0 ? 1.0f / l : 0.0f;
  for (int64_t d = 0; d < hd; ++d) out[d] = acc[d] * inv;
}

}  // namespace sieve
#endif
