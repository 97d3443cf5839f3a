// The scoring kernel is compiled once per instruction set by Highway
// (foreach_target) and chosen at run time; the rest once (HWY_ONCE).
#include "kernels/hwy_config.h"

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

// Scores of n_q int8 queries (q8: n_q x hd levels, q_scale: their scales;
// q_sum: each query's level sum, for VNNI's unsigned operand) against n_tiles
// tiles (layout in compact_keys.h): out[g * stride + 16 t + s].
void ScoreTiles(const int8_t* const* tiles, int64_t n_tiles, int64_t hd, const int8_t* q8, const float* q_scale,
                const int32_t* q_sum, int64_t n_q, float* out, int64_t stride) {
  constexpr int64_t kTile = CompactKeys::kTile;
  const int64_t groups = hd / 4;
#if SIEVE_Q256
  constexpr int kHeads = 4;  // queries per pass: 8 accumulators stay in registers
  for (int64_t t = 0; t < n_tiles; ++t) {
    const int8_t* tile = tiles[t];
    const float* scales = reinterpret_cast<const float*>(tile + hd * kTile);
    const __m256 scale_lo = _mm256_loadu_ps(scales), scale_hi = _mm256_loadu_ps(scales + 8);
    for (int64_t g0 = 0; g0 < n_q; g0 += kHeads) {
      const int nh = static_cast<int>(std::min<int64_t>(kHeads, n_q - g0));
      __m256i acc[kHeads][2];
      for (int h = 0; h < kHeads; ++h) acc[h][0] = acc[h][1] = _mm256_setzero_si256();
      for (int64_t k = 0; k < groups; ++k) {
        const __m256i lo = kernels::HWY_NAMESPACE::LoadU256(tile + k * 64);
        const __m256i hi = kernels::HWY_NAMESPACE::LoadU256(tile + k * 64 + 32);
#if SIEVE_VNNI
        // u8 = k + 128 against s8 queries; the 128 * sum(q) is taken off below.
        const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
        const __m256i ulo = _mm256_xor_si256(lo, bias), uhi = _mm256_xor_si256(hi, bias);
        for (int h = 0; h < nh; ++h) {
          int32_t word;
          std::memcpy(&word, q8 + (g0 + h) * hd + 4 * k, 4);
          const __m256i qb = _mm256_set1_epi32(word);
          acc[h][0] = kernels::HWY_NAMESPACE::Dpbusd(acc[h][0], ulo, qb);
          acc[h][1] = kernels::HWY_NAMESPACE::Dpbusd(acc[h][1], uhi, qb);
        }
#else
        // |k| (<= 127) against q with k's sign: pmaddubsw's pair sums stay
        // within int16 (2 * 127 * 127), as llama.cpp's q8 dot products.
        const __m256i ones = _mm256_set1_epi16(1);
        const __m256i alo = _mm256_abs_epi8(lo), ahi = _mm256_abs_epi8(hi);
        for (int h = 0; h < nh; ++h) {
          int32_t word;
          std::memcpy(&word, q8 + (g0 + h) * hd + 4 * k, 4);
          const __m256i qb = _mm256_set1_epi32(word);
          acc[h][0] = _mm256_add_epi32(
              acc[h][0], _mm256_madd_epi16(_mm256_maddubs_epi16(alo, _mm256_sign_epi8(qb, lo)), ones));
          acc[h][1] = _mm256_add_epi32(
              acc[h][1], _mm256_madd_epi16(_mm256_maddubs_epi16(ahi, _mm256_sign_epi8(qb, hi)), ones));
        }
#endif
      }
      for (int h = 0; h < nh; ++h) {
        const int64_t g = g0 + h;
#if SIEVE_VNNI
        const __m256i fix = _mm256_set1_epi32(128 * q_sum[g]);
        acc[h][0] = _mm256_sub_epi32(acc[h][0], fix);
        acc[h][1] = _mm256_sub_epi32(acc[h][1], fix);
#else
        (void)q_sum;
#endif
        const __m256 qs = _mm256_set1_ps(q_scale[g]);
        float* o = out + g * stride + t * kTile;
        _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[h][0]), scale_lo), qs));
        _mm256_storeu_ps(o + 8, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[h][1]), scale_hi), qs));
      }
    }
  }
#else
  (void)q_sum;
  for (int64_t t = 0; t < n_tiles; ++t) {
    const int8_t* tile = tiles[t];
    const float* scales = reinterpret_cast<const float*>(tile + hd * kTile);
    for (int64_t g = 0; g < n_q; ++g) {
      int32_t acc[kTile] = {};
      for (int64_t k = 0; k < groups; ++k)
        for (int64_t s = 0; s < kTile; ++s)
          for (int64_t i = 0; i < 4; ++i) acc[s] += int32_t{q8[g * hd + 4 * k + i]} * tile[k * 64 + s * 4 + i];
      for (int64_t s = 0; s < kTile; ++s)
        out[g * stride + t * kTile + s] = static_cast<float>(acc[s]) * scales[s] * q_scale[g];
    }
  }
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(ScoreTiles);

namespace {

// Scratch of the scoring call: quantised queries and the edge tiles' scores.
struct ScoreScratch {
  std::vector<int8_t> q8;
  std::vector<float> q_scale, edge;
  std::vector<int32_t> q_sum;
  std::vector<const int8_t*> tiles;
};

ScoreScratch& score_scratch() {
  thread_local ScoreScratch s;
  return s;
}

}  // namespace

float quantize_int8(const float* x, int64_t n, int8_t* levels) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  if (amax == 0.0f) {
    std::fill(levels, levels + n, int8_t{0});
    return 0.0f;
  }
  const float scale = amax / 127.0f, inv = 127.0f / amax;
  for (int64_t i = 0; i < n; ++i)
    levels[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * inv), -127.0f, 127.0f));
  return scale;
}

CompactKeys::CompactKeys(int64_t n_layers, int64_t n_kv_heads, int64_t head_dim)
    : n_layers_(n_layers), n_kv_heads_(n_kv_heads), head_dim_(head_dim), size_(n_layers, 0),
      chunks_(n_layers * n_kv_heads) {
  if (n_layers < 1 || n_kv_heads < 1 || head_dim < 4 || head_dim % 4 != 0 || head_dim > kMaxHeadDim)
    throw Error("compact keys need a head_dim that is a multiple of 4 up to " + std::to_string(kMaxHeadDim) +
                " (got " + std::to_string(head_dim) + ")");
}

CompactKeys::CompactKeys(const CompactKeys& other)
    : n_layers_(other.n_layers_), n_kv_heads_(other.n_kv_heads_), head_dim_(other.head_dim_), size_(other.size_),
      chunks_(other.chunks_.size()) {
  const size_t bytes = static_cast<size_t>(kChunkTiles * tile_bytes());
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

int8_t* CompactKeys::tile(int64_t layer, int64_t kv_head, int64_t t) {
  return chunks_[layer * n_kv_heads_ + kv_head][t / kChunkTiles].get() + (t % kChunkTiles) * tile_bytes();
}

const int8_t* CompactKeys::tile(int64_t layer, int64_t kv_head, int64_t t) const {
  return chunks_[layer * n_kv_heads_ + kv_head][t / kChunkTiles].get() + (t % kChunkTiles) * tile_bytes();
}

void CompactKeys::truncate(int64_t layer, int64_t n) { size_[layer] = std::min(size_[layer], n); }

void CompactKeys::set_size(int64_t layer, int64_t n) { size_[layer] = n; }

void CompactKeys::reserve(int64_t layer, int64_t n) {
  for (int64_t h = 0; h < n_kv_heads_; ++h) {
    auto& chunks = chunks_[layer * n_kv_heads_ + h];
    while (static_cast<int64_t>(chunks.size()) * kChunkTiles * kTile < n)
      chunks.emplace_back(new int8_t[static_cast<size_t>(kChunkTiles * tile_bytes())]);
  }
}

void CompactKeys::write(int64_t layer, int64_t kv_head, int64_t slot, const float* key) {
  const int64_t t = slot / kTile, s = slot % kTile;
  if (static_cast<int64_t>(chunks_[layer * n_kv_heads_ + kv_head].size()) * kChunkTiles <= t)
    throw Error("internal: compact keys written past their reservation");
  int8_t* base = tile(layer, kv_head, t);
  int8_t levels[kMaxHeadDim];
  const float scale = quantize_int8(key, head_dim_, levels);
  for (int64_t d = 0; d < head_dim_; ++d) base[(d / 4) * 64 + s * 4 + d % 4] = levels[d];
  std::memcpy(base + head_dim_ * kTile + s * static_cast<int64_t>(sizeof(float)), &scale, sizeof(float));
}

void CompactKeys::read(int64_t layer, int64_t kv_head, int64_t slot, int8_t* key, float* scale) const {
  const int8_t* base = tile(layer, kv_head, slot / kTile);
  const int64_t s = slot % kTile;
  for (int64_t d = 0; d < head_dim_; ++d) key[d] = base[(d / 4) * 64 + s * 4 + d % 4];
  std::memcpy(scale, base + head_dim_ * kTile + s * static_cast<int64_t>(sizeof(float)), sizeof(float));
}

void CompactKeys::score(int64_t layer, int64_t kv_head, int64_t begin, int64_t end, const float* q, int64_t n_q,
                        float* scores) const {
  const int64_t n = end - begin, hd = head_dim_;
  if (n <= 0) return;
  if (begin < 0 || end > size_[layer]) throw Error("internal: compact keys scored past their end");
  ScoreScratch& sc = score_scratch();
  sc.q8.resize(n_q * hd);
  sc.q_scale.resize(n_q);
  sc.q_sum.resize(n_q);
  for (int64_t g = 0; g < n_q; ++g) {
    sc.q_scale[g] = quantize_int8(q + g * hd, hd, sc.q8.data() + g * hd);
    int32_t sum = 0;
    for (int64_t d = 0; d < hd; ++d) sum += sc.q8[g * hd + d];
    sc.q_sum[g] = sum;
  }
  // Whole tiles straight into scores; a partial tile at either end through
  // a scratch row.
  auto run = [&](int64_t t0, int64_t t1, float* out, int64_t stride) {
    sc.tiles.resize(t1 - t0);
    for (int64_t t = t0; t < t1; ++t) sc.tiles[t - t0] = tile(layer, kv_head, t);
    HWY_DYNAMIC_DISPATCH(ScoreTiles)(sc.tiles.data(), t1 - t0, hd, sc.q8.data(), sc.q_scale.data(),
                                     sc.q_sum.data(), n_q, out, stride);
  };
  auto edge = [&](int64_t t) {
    sc.edge.resize(n_q * kTile);
    run(t, t + 1, sc.edge.data(), kTile);
    const int64_t s0 = std::max(begin, t * kTile), s1 = std::min(end, (t + 1) * kTile);
    for (int64_t g = 0; g < n_q; ++g)
      std::copy(sc.edge.data() + g * kTile + (s0 - t * kTile), sc.edge.data() + g * kTile + (s1 - t * kTile),
                scores + g * n + (s0 - begin));
  };
  const int64_t first_full = (begin + kTile - 1) / kTile, last_full = end / kTile;  // tiles [first_full, last_full)
  if (first_full >= last_full) {
    for (int64_t t = begin / kTile; t * kTile < end; ++t) edge(t);
    return;
  }
  if (begin % kTile) edge(begin / kTile);
  run(first_full, last_full, scores + (first_full * kTile - begin), n);
  if (end % kTile) edge(last_full);
}

size_t CompactKeys::bytes_allocated() const {
  size_t chunks = 0;
  for (const auto& c : chunks_) chunks += c.size();
  return chunks * static_cast<size_t>(kChunkTiles * tile_bytes());
}

}  // namespace sieve
#endif  // HWY_ONCE
