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

#if SIEVE_Q256
// Lane i of the result: the sum of the 8 int32 lanes of a[i].
HWY_INLINE __m256i SumLanes8(const __m256i* a) {
  const __m256i t0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
  const __m256i t1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[4], a[5]), _mm256_hadd_epi32(a[6], a[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20), _mm256_permute2x128_si256(t0, t1, 0x31));
}
#endif

// Scores of n_q int8 queries (q8: n_q rows of `row` levels, zero-padded;
// q_scale: their scales; q_sum: each query's level sum, for VNNI's unsigned
// operand) against n consecutive key rows: out[g * stride + j].
void ScoreRows(const int8_t* rows, const float* scales, int64_t n, int64_t row, const int8_t* q8,
               const float* q_scale, const int32_t* q_sum, int64_t n_q, float* out, int64_t stride) {
  int64_t j = 0;
#if SIEVE_Q256
  for (; j + 8 <= n; j += 8) {
    const int8_t* keys = rows + j * row;
    const __m256 ks = _mm256_loadu_ps(scales + j);
    for (int64_t g = 0; g < n_q; ++g) {
      const int8_t* q = q8 + g * row;
      __m256i acc[8];
      for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_si256();
      for (int64_t c = 0; c < row; c += 32) {
        const __m256i qc = kernels::HWY_NAMESPACE::LoadU256(q + c);
        for (int i = 0; i < 8; ++i) {
          const __m256i k = kernels::HWY_NAMESPACE::LoadU256(keys + i * row + c);
#if SIEVE_VNNI
          // u8 = k + 128 against s8 queries; 128 * sum(q) is taken off below.
          acc[i] = kernels::HWY_NAMESPACE::Dpbusd(acc[i], _mm256_xor_si256(k, _mm256_set1_epi8(-128)), qc);
#else
          // |k| (<= 127) against q with k's sign: pmaddubsw's pair sums stay
          // within int16 (2 * 127 * 127), as in llama.cpp's q8 dot products.
          acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(k),
                                                                                   _mm256_sign_epi8(qc, k)),
                                                              _mm256_set1_epi16(1)));
#endif
        }
      }
      __m256i sums = SumLanes8(acc);
#if SIEVE_VNNI
      sums = _mm256_sub_epi32(sums, _mm256_set1_epi32(128 * q_sum[g]));
#endif
      _mm256_storeu_ps(out + g * stride + j,
                       _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sums), ks), _mm256_set1_ps(q_scale[g])));
    }
  }
#endif
  (void)q_sum;
  for (; j < n; ++j)
    for (int64_t g = 0; g < n_q; ++g) {
      int32_t acc = 0;
      for (int64_t d = 0; d < row; ++d) acc += int32_t{q8[g * row + d]} * rows[j * row + d];
      out[g * stride + j] = static_cast<float>(acc) * scales[j] * q_scale[g];
    }
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

HWY_EXPORT(ScoreRows);
HWY_EXPORT(DequantizeRow);

namespace {

// Scratch of the scoring call: the quantised queries.
struct ScoreScratch {
  std::vector<int8_t> q8;
  std::vector<float> q_scale;
  std::vector<int32_t> q_sum;
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
    : n_layers_(n_layers), n_kv_heads_(n_kv_heads), head_dim_(head_dim), row_((head_dim + 31) / 32 * 32),
      size_(n_layers, 0), chunks_(n_layers * n_kv_heads) {
  if (n_layers < 1 || n_kv_heads < 1 || head_dim < 1 || head_dim > kMaxHeadDim)
    throw Error("compact keys need a head_dim from 1 to " + std::to_string(kMaxHeadDim) + " (got " +
                std::to_string(head_dim) + ")");
}

CompactKeys::CompactKeys(const CompactKeys& other)
    : n_layers_(other.n_layers_), n_kv_heads_(other.n_kv_heads_), head_dim_(other.head_dim_), row_(other.row_),
      size_(other.size_), chunks_(other.chunks_.size()) {
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
      // Zeroed: the rows' padding stays zero.
      chunks.emplace_back(new int8_t[static_cast<size_t>(chunk_bytes())]());
    }
  }
}

void CompactKeys::write(int64_t layer, int64_t kv_head, int64_t slot, const float* key) {
  auto& chunks = chunks_[layer * n_kv_heads_ + kv_head];
  if (static_cast<int64_t>(chunks.size()) * kChunkSlots <= slot)
    throw Error("internal: compact keys written past their reservation");
  int8_t* c = chunks[slot / kChunkSlots].get();
  const float scale = quantize_int8(key, head_dim_, c + (slot % kChunkSlots) * row_);
  reinterpret_cast<float*>(c + kChunkSlots * row_)[slot % kChunkSlots] = scale;
}

void CompactKeys::dequantize(int64_t layer, int64_t kv_head, int64_t slot, float* key) const {
  HWY_DYNAMIC_DISPATCH(DequantizeRow)(levels(layer, kv_head, slot), scale(layer, kv_head, slot), head_dim_, key);
}

void CompactKeys::score(int64_t layer, int64_t kv_head, int64_t begin, int64_t end, const float* q, int64_t n_q,
                        float* scores) const {
  const int64_t n = end - begin, hd = head_dim_;
  if (n <= 0) return;
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
  // One call per chunk the span touches.
  for (int64_t j0 = begin; j0 < end;) {
    const int64_t j1 = std::min(end, (j0 / kChunkSlots + 1) * kChunkSlots);
    const int8_t* c = chunk(layer, kv_head, j0);
    const int64_t off = j0 % kChunkSlots;
    HWY_DYNAMIC_DISPATCH(ScoreRows)(c + off * row_, reinterpret_cast<const float*>(c + kChunkSlots * row_) + off,
                                    j1 - j0, row_, sc.q8.data(), sc.q_scale.data(), sc.q_sum.data(), n_q,
                                    scores + (j0 - begin), n);
    j0 = j1;
  }
}

size_t CompactKeys::bytes_allocated() const {
  size_t chunks = 0;
  for (const auto& c : chunks_) chunks += c.size();
  return chunks * static_cast<size_t>(chunk_bytes());
}

}  // namespace sieve
#endif  // HWY_ONCE
