// The scoring kernel is compiled once per instruction set by Highway
// (foreach_target) and chosen at run time; the rest once (HWY_ONCE).
#include "kernels/hwy_config.h"

// GCC 12 reports the AVX-512 intrinsics' own _mm512_undefined_* idiom (a
// self-initialized variable) as uninitialized once they are inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/selection/compact_keys.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/quant_dot-inl.h"

#include "attention/selection/compact_keys.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "util/error.h"

HWY_BEFORE_NAMESPACE();
namespace sieve {
namespace HWY_NAMESPACE {

// Scores of n_q int8 queries (q8: n_q rows of `row` levels, zero-padded;
// q_scale: their scales; q_sum: each query's level sum, for the unsigned
// operand of vpdpbusd / pmaddubsw) against the 16-slot blocks [0, n_blocks)
// of a chunk's tiles (layout in compact_keys.h) with their scales:
// out[g * stride + j]. kInt4: 4-bit keys, two groups per 16 bytes.
template <bool kInt4>
void ScoreBlocksT(const int8_t* tiles, const float* scales, int64_t n_blocks, int64_t row, const int8_t* q8,
                  const float* q_scale, const int32_t* q_sum, int64_t n_q, float* out, int64_t stride) {
  const int64_t groups = row / 4, tile_bytes = kInt4 ? 2 * row : 4 * row;
  // Keys enter the products unsigned: int8 levels + 128, int4 levels as stored (+8).
  constexpr int32_t kOffset = kInt4 ? 8 : 128;
#if SIEVE_VNNI
  // A 512-bit vector holds 4 groups x 4 slots: lane (block b, slot s) of a
  // tile's accumulator sums one group of slot s; the query vector repeats
  // that group's 4 bytes across block b. int4 unpacks 32 bytes into blocks
  // of groups c, c+2 (low nibbles) and c+1, c+3 (high nibbles).
  constexpr int kHeads = 4;
  const __m512i bias = _mm512_set1_epi8(-128);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  for (int64_t g0 = 0; g0 < n_q; g0 += kHeads) {
    const int nh = static_cast<int>(std::min<int64_t>(kHeads, n_q - g0));
    for (int64_t blk = 0; blk < n_blocks; ++blk) {
      const int8_t* base = tiles + blk * 4 * tile_bytes;
      __m512i acc[kHeads][4];
      for (int h = 0; h < kHeads; ++h)
        for (int t = 0; t < 4; ++t) acc[h][t] = _mm512_setzero_si512();
      for (int64_t c = 0; c < groups; c += 4) {
        __m512i qv[kHeads];
        for (int h = 0; h < nh; ++h) {
          int32_t w[4];
          std::memcpy(w, q8 + (g0 + h) * row + 4 * c, 16);
          if (kInt4) std::swap(w[1], w[2]);
          qv[h] = _mm512_set_epi32(w[3], w[3], w[3], w[3], w[2], w[2], w[2], w[2], w[1], w[1], w[1], w[1], w[0], w[0],
                                   w[0], w[0]);
        }
        for (int t = 0; t < 4; ++t) {
          __m512i k;
          if constexpr (kInt4) {
            const __m256i v = kernels::HWY_NAMESPACE::LoadU256(base + t * tile_bytes + c * 8);
            const __m256i lo = _mm256_and_si256(v, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);
            k = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
          } else {
            k = _mm512_xor_si512(_mm512_loadu_si512(base + t * tile_bytes + c * 16), bias);
          }
          for (int h = 0; h < nh; ++h)
            asm("vpdpbusd %[b], %[a], %[acc]" : [acc] "+v"(acc[h][t]) : [a] "v"(k), [b] "v"(qv[h]));
        }
      }
      const __m512 ks = _mm512_loadu_ps(scales + blk * 16);
      for (int h = 0; h < nh; ++h) {
        // Sum the 4 blocks of each tile: lane 4t + s of r is slot 4t + s.
        const __m512i u01 = _mm512_add_epi32(_mm512_shuffle_i32x4(acc[h][0], acc[h][1], 0x88),
                                             _mm512_shuffle_i32x4(acc[h][0], acc[h][1], 0xDD));
        const __m512i u23 = _mm512_add_epi32(_mm512_shuffle_i32x4(acc[h][2], acc[h][3], 0x88),
                                             _mm512_shuffle_i32x4(acc[h][2], acc[h][3], 0xDD));
        __m512i r = _mm512_add_epi32(_mm512_shuffle_i32x4(u01, u23, 0x88), _mm512_shuffle_i32x4(u01, u23, 0xDD));
        r = _mm512_sub_epi32(r, _mm512_set1_epi32(kOffset * q_sum[g0 + h]));
        _mm512_storeu_ps(out + (g0 + h) * stride + blk * 16,
                         _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(r), ks), _mm512_set1_ps(q_scale[g0 + h])));
      }
    }
  }
#elif SIEVE_Q256
  // A 256-bit vector holds 2 groups x 4 slots. int8: |k| against q with k's
  // sign keeps pmaddubsw's pair sums within int16 (2 * 127 * 127), as in
  // llama.cpp's q8 dot products; int4: the stored levels (1..15) are already
  // unsigned.
  const __m256i ones = _mm256_set1_epi16(1);
  const __m128i nibble = _mm_set1_epi8(0x0F);
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const int8_t* base = tiles + blk * 4 * tile_bytes;
    for (int64_t g = 0; g < n_q; ++g) {
      __m256i acc[4];
      for (int t = 0; t < 4; ++t) acc[t] = _mm256_setzero_si256();
      for (int64_t c = 0; c < groups; c += 2) {
        int32_t w[2];
        std::memcpy(w, q8 + g * row + 4 * c, 8);
        const __m256i qv = _mm256_set_epi32(w[1], w[1], w[1], w[1], w[0], w[0], w[0], w[0]);
        for (int t = 0; t < 4; ++t) {
          __m256i prod;
          if constexpr (kInt4) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + t * tile_bytes + c * 8));
            const __m256i k = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), nibble), _mm_and_si128(v, nibble));
            prod = _mm256_maddubs_epi16(k, qv);
          } else {
            const __m256i k = kernels::HWY_NAMESPACE::LoadU256(base + t * tile_bytes + c * 16);
            prod = _mm256_maddubs_epi16(_mm256_abs_epi8(k), _mm256_sign_epi8(qv, k));
          }
          acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(prod, ones));
        }
      }
      // Lane 4b + s holds group-block b of slot s: add the two halves.
      __m256i r01 = _mm256_add_epi32(_mm256_permute2x128_si256(acc[0], acc[1], 0x20),
                                     _mm256_permute2x128_si256(acc[0], acc[1], 0x31));
      __m256i r23 = _mm256_add_epi32(_mm256_permute2x128_si256(acc[2], acc[3], 0x20),
                                     _mm256_permute2x128_si256(acc[2], acc[3], 0x31));
      if constexpr (kInt4) {
        const __m256i fix = _mm256_set1_epi32(kOffset * q_sum[g]);
        r01 = _mm256_sub_epi32(r01, fix);
        r23 = _mm256_sub_epi32(r23, fix);
      }
      const __m256 qs = _mm256_set1_ps(q_scale[g]);
      float* o = out + g * stride + blk * 16;
      _mm256_storeu_ps(o,
                       _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(r01), _mm256_loadu_ps(scales + blk * 16)), qs));
      _mm256_storeu_ps(
          o + 8, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(r23), _mm256_loadu_ps(scales + blk * 16 + 8)), qs));
    }
  }
#else
  for (int64_t blk = 0; blk < n_blocks; ++blk)
    for (int64_t g = 0; g < n_q; ++g)
      for (int64_t j = 0; j < 16; ++j) {
        const int8_t* tile = tiles + (blk * 4 + j / 4) * tile_bytes;
        int32_t acc = 0;
        for (int64_t c = 0; c < groups; ++c)
          for (int64_t i = 0; i < 4; ++i) {
            int32_t level;
            if (kInt4) {
              const uint8_t byte = static_cast<uint8_t>(tile[(c / 2) * 16 + (j % 4) * 4 + i]);
              level = (c % 2 ? byte >> 4 : byte & 0x0F);
            } else {
              level = tile[c * 16 + (j % 4) * 4 + i] + kOffset;
            }
            acc += int32_t{q8[g * row + 4 * c + i]} * level;
          }
        acc -= kOffset * q_sum[g];
        out[g * stride + blk * 16 + j] = static_cast<float>(acc) * scales[blk * 16 + j] * q_scale[g];
      }
#endif
}

void ScoreBlocks(bool int4, const int8_t* tiles, const float* scales, int64_t n_blocks, int64_t row, const int8_t* q8,
                 const float* q_scale, const int32_t* q_sum, int64_t n_q, float* out, int64_t stride) {
  if (int4)
    ScoreBlocksT<true>(tiles, scales, n_blocks, row, q8, q_scale, q_sum, n_q, out, stride);
  else
    ScoreBlocksT<false>(tiles, scales, n_blocks, row, q8, q_scale, q_sum, n_q, out, stride);
}

// out[d] = levels[d] * scale for d < n.
void DequantizeRow(const int8_t* levels, float scale, int64_t n, float* out) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto s = hn::Set(df, scale);
  int64_t d = 0;
  for (; d + N <= n; d += N)
    hn::StoreU(hn::Mul(hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, levels + d))), s), df, out + d);
  for (; d < n; ++d) out[d] = static_cast<float>(levels[d]) * scale;
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(ScoreBlocks);
HWY_EXPORT(DequantizeRow);

namespace {

// Scratch of the scoring call: the quantised queries.
struct ScoreScratch {
  std::vector<int8_t> q8;
  std::vector<float> q_scale, edge;
  std::vector<int32_t> q_sum;
};

ScoreScratch& score_scratch() {
  thread_local ScoreScratch s;
  return s;
}

}  // namespace

float quantize_symmetric(const float* x, int64_t n, int max_level, int8_t* levels) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  if (amax == 0.0f) {
    std::fill(levels, levels + n, int8_t{0});
    return 0.0f;
  }
  const float top = static_cast<float>(max_level), scale = amax / top, inv = top / amax;
  for (int64_t i = 0; i < n; ++i) levels[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * inv), -top, top));
  return scale;
}

float quantize_int8(const float* x, int64_t n, int8_t* levels) { return quantize_symmetric(x, n, 127, levels); }

CompactKeys::Form CompactKeys::form_from_name(const std::string& name) {
  if (name == "int8") return Form::Int8;
  if (name == "int4") return Form::Int4;
  throw Error("unknown compact key form '" + name + "' (valid: int8, int4)");
}

const char* CompactKeys::form_name(Form form) { return form == Form::Int8 ? "int8" : "int4"; }

CompactKeys::CompactKeys(int64_t n_layers, int64_t n_kv_heads, int64_t head_dim, Form form)
    : form_(form),
      n_layers_(n_layers),
      n_kv_heads_(n_kv_heads),
      head_dim_(head_dim),
      row_((head_dim + 15) / 16 * 16),
      key_bytes_(form == Form::Int8 ? row_ : row_ / 2),
      size_(n_layers, 0),
      chunks_(n_layers * n_kv_heads) {
  if (n_layers < 1 || n_kv_heads < 1 || head_dim < 1 || head_dim > kMaxHeadDim)
    throw Error("compact keys need a head_dim from 1 to " + std::to_string(kMaxHeadDim) + " (got " +
                std::to_string(head_dim) + ")");
}

CompactKeys::CompactKeys(const CompactKeys& other)
    : form_(other.form_),
      n_layers_(other.n_layers_),
      n_kv_heads_(other.n_kv_heads_),
      head_dim_(other.head_dim_),
      row_(other.row_),
      key_bytes_(other.key_bytes_),
      size_(other.size_),
      chunks_(other.chunks_.size()) {
  const size_t bytes = static_cast<size_t>(chunk_bytes());
  for (size_t i = 0; i < chunks_.size(); ++i)
    for (const auto& c : other.chunks_[i]) {
      chunks_[i].emplace_back(new int8_t[bytes]);
      std::memcpy(chunks_[i].back().get(), c.get(), bytes);
    }
}

CompactKeys& CompactKeys::operator=(const CompactKeys& other) {
  if (this != &other) *this = CompactKeys(other);
  return *this;
}

void CompactKeys::truncate(int64_t layer, int64_t n) { size_[layer] = std::min(size_[layer], n); }

void CompactKeys::set_size(int64_t layer, int64_t n) { size_[layer] = n; }

void CompactKeys::reserve(int64_t layer, int64_t n) {
  for (int64_t h = 0; h < n_kv_heads_; ++h) {
    auto& chunks = chunks_[layer * n_kv_heads_ + h];
    while (static_cast<int64_t>(chunks.size()) * kChunkSlots < n) {
      // Zeroed: the padding stays zero.
      chunks.emplace_back(new int8_t[static_cast<size_t>(chunk_bytes())]());
    }
  }
}

void CompactKeys::write(int64_t layer, int64_t kv_head, int64_t slot, const float* key) {
  auto& chunks = chunks_[layer * n_kv_heads_ + kv_head];
  if (static_cast<int64_t>(chunks.size()) * kChunkSlots <= slot)
    throw Error("internal: compact keys written past their reservation");
  int8_t* c = chunks[slot / kChunkSlots].get();
  int8_t levels[kMaxHeadDim];
  const float scale = quantize_symmetric(key, head_dim_, form_ == Form::Int8 ? 127 : 7, levels);
  int8_t* tile = c + (slot % kChunkSlots) / kTileSlots * tile_bytes();
  const int64_t s = slot % kTileSlots;
  if (form_ == Form::Int8) {
    for (int64_t d = 0; d < head_dim_; ++d) tile[(d / 4) * 16 + s * 4 + d % 4] = levels[d];
  } else {
    // Group g's level of dimension 4g + i: the low (even g) or high (odd g)
    // nibble of byte (g / 2) * 16 + 4s + i, stored + 8. Padding is level 0.
    for (int64_t d = 0; d < row_; ++d) {
      const int64_t g = d / 4;
      const int level = (d < head_dim_ ? levels[d] : 0) + 8;
      auto& byte = reinterpret_cast<uint8_t&>(tile[(g / 2) * 16 + s * 4 + d % 4]);
      byte = g % 2 ? static_cast<uint8_t>((byte & 0x0F) | (level << 4)) : static_cast<uint8_t>((byte & 0xF0) | level);
    }
  }
  reinterpret_cast<float*>(c + kChunkSlots * key_bytes_)[slot % kChunkSlots] = scale;
}

void CompactKeys::read_levels(int64_t layer, int64_t kv_head, int64_t slot, int8_t* levels) const {
  const int8_t* tile = tile_address(layer, kv_head, slot);
  const int64_t s = slot % kTileSlots;
  if (form_ == Form::Int8) {
    for (int64_t g = 0; g < row_ / 4; ++g) std::memcpy(levels + 4 * g, tile + g * 16 + s * 4, 4);
    return;
  }
  for (int64_t d = 0; d < head_dim_; ++d) {
    const int64_t g = d / 4;
    const auto byte = static_cast<uint8_t>(tile[(g / 2) * 16 + s * 4 + d % 4]);
    levels[d] = static_cast<int8_t>((g % 2 ? byte >> 4 : byte & 0x0F) - 8);
  }
}

void CompactKeys::dequantize(int64_t layer, int64_t kv_head, int64_t slot, float* key) const {
  int8_t levels[kMaxHeadDim];
  read_levels(layer, kv_head, slot, levels);
  HWY_DYNAMIC_DISPATCH(DequantizeRow)(levels, scale(layer, kv_head, slot), head_dim_, key);
}

void CompactKeys::score(int64_t layer, int64_t kv_head, int64_t begin, int64_t end, const float* q, int64_t n_q,
                        float* scores, int64_t stride) const {
  const int64_t n = end - begin, hd = head_dim_;
  if (n <= 0) return;
  if (stride == 0) stride = n;
  if (begin < 0 || end > size_[layer]) throw Error("internal: compact keys scored past their end");
  ScoreScratch& sc = score_scratch();
  sc.q8.assign(n_q * row_, 0);
  sc.q_scale.resize(n_q);
  sc.q_sum.resize(n_q);
  for (int64_t g = 0; g < n_q; ++g) {
    sc.q_scale[g] = quantize_int8(q + g * hd, hd, sc.q8.data() + g * row_);
    int32_t sum = 0;
    for (int64_t d = 0; d < hd; ++d) sum += sc.q8[g * row_ + d];
    sc.q_sum[g] = sum;
  }
  // Whole 16-slot blocks straight into scores, one call per chunk; a partial
  // block at either end through a scratch row.
  auto run = [&](int64_t b0, int64_t b1, float* out, int64_t stride) {  // blocks [b0, b1) of one chunk
    const int64_t first = b0 * 16;
    const int8_t* c = chunk(layer, kv_head, first);
    const int64_t off = first % kChunkSlots;
    HWY_DYNAMIC_DISPATCH(ScoreBlocks)
    (form_ == Form::Int4, c + off / kTileSlots * tile_bytes(),
     reinterpret_cast<const float*>(c + kChunkSlots * key_bytes_) + off, b1 - b0, row_, sc.q8.data(), sc.q_scale.data(),
     sc.q_sum.data(), n_q, out, stride);
  };
  auto edge = [&](int64_t blk) {
    sc.edge.resize(n_q * 16);
    run(blk, blk + 1, sc.edge.data(), 16);
    const int64_t s0 = std::max(begin, blk * 16), s1 = std::min(end, (blk + 1) * 16);
    for (int64_t g = 0; g < n_q; ++g)
      std::copy(sc.edge.data() + g * 16 + (s0 - blk * 16), sc.edge.data() + g * 16 + (s1 - blk * 16),
                scores + g * stride + (s0 - begin));
  };
  const int64_t first_full = (begin + 15) / 16, last_full = end / 16;  // whole blocks [first_full, last_full)
  if (first_full >= last_full) {
    for (int64_t blk = begin / 16; blk * 16 < end; ++blk) edge(blk);
    return;
  }
  if (begin % 16) edge(begin / 16);
  constexpr int64_t kChunkBlocks = kChunkSlots / 16;
  for (int64_t b0 = first_full; b0 < last_full;) {
    const int64_t b1 = std::min(last_full, (b0 / kChunkBlocks + 1) * kChunkBlocks);
    run(b0, b1, scores + (b0 * 16 - begin), stride);
    b0 = b1;
  }
  if (end % 16) edge(last_full);
}

size_t CompactKeys::bytes_allocated() const {
  size_t chunks = 0;
  for (const auto& c : chunks_) chunks += c.size();
  return chunks * static_cast<size_t>(chunk_bytes());
}

}  // namespace sieve
#endif  // HWY_ONCE
