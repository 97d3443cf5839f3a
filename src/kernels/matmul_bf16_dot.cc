// Prefill GEMM for BF16 weights on CPUs with AVX512_BF16 (Zen 4, Sapphire
// Rapids and later): activations are rounded to bf16 once per call and each
// vdpbf16ps multiplies 32 bf16 pairs into 16 float32 sums, twice the
// multiply-adds per instruction of the float32 panel GEMM (matmul_float-inl.h),
// which widens the weights to float32. llama.cpp takes the same route for
// bf16 models on these CPUs. Sums stay float32; the only extra rounding is of
// the activations to bf16 (8 significant bits), so results differ from the
// float32 path by about 2^-9 relative per product.
//
// Highway 1.0.3 has no bf16 dot product, so this unit uses the intrinsics
// directly, in functions compiled for AVX512_BF16 only, and called only after
// a CPUID check.
#include "kernels/matmul_internal.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "hwy/targets.h"
#include "kernels/unroll.h"
#include "util/error.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SIEVE_HAVE_BF16_DOT 1
#include <cpuid.h>
#include <immintrin.h>
#define SIEVE_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#else
#define SIEVE_HAVE_BF16_DOT 0
#endif

namespace sieve::kernels::detail {
namespace {

// On unless the environment says SIEVE_BF16_DOT=0.
bool enabled_by_environment() {
  const char* v = std::getenv("SIEVE_BF16_DOT");
  return v == nullptr || std::strcmp(v, "0") != 0;
}
std::atomic<bool> g_bf16_dot_enabled{enabled_by_environment()};

#if SIEVE_HAVE_BF16_DOT

constexpr int kTokens = 6;            // tokens per micro-tile
constexpr int kVectors = 4;           // 16-row vectors per micro-tile
constexpr int64_t kPanelRows = 16 * kVectors;  // 6 x 4 accumulators + 4 weights: 28 of 32 zmm

bool cpu_has_avx512_bf16() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  // CPUID.(7,1):EAX bit 5 = AVX512_BF16; HWY_AVX3 in SupportedTargets means
  // AVX-512F is present and the OS saves the zmm state.
  return (a & (1u << 5)) != 0 && (hwy::SupportedTargets() & HWY_AVX3) != 0;
}

// Rounds x[0, k) to bf16 (nearest even, as vcvtne2ps2bf16 does) into pairs:
// out[p] holds elements 2p (low half) and 2p + 1; an odd k gets a zero pair.
SIEVE_BF16_TARGET void round_row_to_bf16_pairs(const float* x, int64_t k, uint32_t* out) {
  int64_t c = 0;
  for (; c + 32 <= k; c += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + c + 16), _mm512_loadu_ps(x + c));
    _mm512_storeu_si512(out + c / 2, reinterpret_cast<const __m512i&>(v));
  }
  if (c < k) {
    alignas(64) float tail[32] = {};
    std::memcpy(tail, x + c, static_cast<size_t>(k - c) * sizeof(float));
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_load_ps(tail + 16), _mm512_load_ps(tail));
    alignas(64) uint32_t pairs[16];
    _mm512_store_si512(pairs, reinterpret_cast<const __m512i&>(v));
    std::memcpy(out + c / 2, pairs, static_cast<size_t>((k - c + 1) / 2) * sizeof(uint32_t));
  }
}

// panel[p * kPanelRows + r] = the bf16 pair p of row r (rows past nrows and
// the pad of an odd k are zero): a transpose of 32-bit pairs, so that one
// load gives the same pair of 16 consecutive rows.
void pack_panel(const uint8_t* w0, size_t row_bytes, int64_t nrows, int64_t k, uint32_t* panel) {
  const int64_t kp = (k + 1) / 2, full = k / 2;
  std::fill(panel, panel + kp * kPanelRows, 0u);
  for (int64_t r = 0; r < nrows; ++r) {
    const uint8_t* row = w0 + static_cast<size_t>(r) * row_bytes;
    for (int64_t p = 0; p < full; ++p) std::memcpy(&panel[p * kPanelRows + r], row + 4 * p, 4);
    if (k % 2) {
      uint16_t last;
      std::memcpy(&last, row + 2 * (k - 1), 2);
      panel[full * kPanelRows + r] = last;
    }
  }
}

// out[t * kPanelRows + r] = sum_p dot(panel pair p of row r, xs[t] pair p).
SIEVE_BF16_TARGET void panel_tile(const uint32_t* panel, int64_t kp, const uint32_t* const* xs, float* out) {
  __m512 acc[kTokens][kVectors];
  SIEVE_UNROLL
  for (int t = 0; t < kTokens; ++t)
    SIEVE_UNROLL
    for (int j = 0; j < kVectors; ++j) acc[t][j] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; ++p) {
    const uint32_t* wp = panel + p * kPanelRows;
    __m512bh w[kVectors];
    SIEVE_UNROLL
    for (int j = 0; j < kVectors; ++j) {
      const __m512i v = _mm512_loadu_si512(wp + 16 * j);
      w[j] = reinterpret_cast<const __m512bh&>(v);
    }
    SIEVE_UNROLL
    for (int t = 0; t < kTokens; ++t) {
      const __m512i b = _mm512_set1_epi32(static_cast<int>(xs[t][p]));
      const __m512bh bh = reinterpret_cast<const __m512bh&>(b);
      SIEVE_UNROLL
      for (int j = 0; j < kVectors; ++j) acc[t][j] = _mm512_dpbf16_ps(acc[t][j], w[j], bh);
    }
  }
  SIEVE_UNROLL
  for (int t = 0; t < kTokens; ++t)
    SIEVE_UNROLL
    for (int j = 0; j < kVectors; ++j) _mm512_storeu_ps(out + t * kPanelRows + 16 * j, acc[t][j]);
}

void panels(const Tensor& w, const std::vector<uint32_t>& xb, int64_t n_tokens, float* y, int64_t p0, int64_t p1) {
  const int64_t k = w.row_length(), kp = (k + 1) / 2, rows = w.rows();
  thread_local std::vector<uint32_t> panel;
  thread_local std::vector<float> tile;
  panel.resize(static_cast<size_t>(kp * kPanelRows));
  tile.resize(static_cast<size_t>(kTokens * kPanelRows));
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t r0 = p * kPanelRows, nr = std::min(kPanelRows, rows - r0);
    pack_panel(w.row(r0), w.row_bytes(), nr, k, panel.data());
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokens) {
      const int64_t nt = std::min<int64_t>(kTokens, n_tokens - t0);
      const uint32_t* xs[kTokens];  // a short last tile repeats its last token
      for (int t = 0; t < kTokens; ++t) xs[t] = xb.data() + (t0 + std::min<int64_t>(t, nt - 1)) * kp;
      panel_tile(panel.data(), kp, xs, tile.data());
      for (int64_t t = 0; t < nt; ++t)
        std::memcpy(y + (t0 + t) * rows + r0, tile.data() + t * kPanelRows, static_cast<size_t>(nr) * sizeof(float));
    }
  }
}

#endif  // SIEVE_HAVE_BF16_DOT

}  // namespace

bool bf16_dot_supported() {
#if SIEVE_HAVE_BF16_DOT
  static const bool supported = cpu_has_avx512_bf16();
  return supported;
#else
  return false;
#endif
}

bool bf16_dot_enabled() { return g_bf16_dot_enabled.load(std::memory_order_relaxed) && bf16_dot_supported(); }
void set_bf16_dot_enabled(bool on) { g_bf16_dot_enabled.store(on, std::memory_order_relaxed); }

void matmul_bf16_dot(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.type != DType::BF16 || !bf16_dot_supported()) throw Error("internal: matmul_bf16_dot needs bf16 weights and AVX512_BF16");
#if SIEVE_HAVE_BF16_DOT
  const int64_t k = w.row_length(), kp = (k + 1) / 2;
  // The caller's buffer, named through a plain reference: inside the lambdas
  // (run on worker threads) a thread_local would name the worker's own copy.
  thread_local std::vector<uint32_t> rounded;
  std::vector<uint32_t>& xb = rounded;
  xb.resize(static_cast<size_t>(n_tokens * kp));
  pool.parallel_for(n_tokens, 16, [&](int, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) round_row_to_bf16_pairs(x + t * k, k, xb.data() + t * kp);
  });
  pool.parallel_for((w.rows() + kPanelRows - 1) / kPanelRows, 1, [&](int, int64_t p0, int64_t p1) {
    panels(w, xb, n_tokens, y, p0, p1);
  });
#else
  (void)x, (void)n_tokens, (void)y, (void)pool;
#endif
}

}  // namespace sieve::kernels::detail
