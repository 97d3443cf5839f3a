// matmul per weight type: GEMV (decode, 1 token) on the test model's shapes
// (512x512, 1408x512, 8192x512) and GEMM (prefill, 512 tokens). Counters:
// GB/s = weight bytes read / time (the figure that matters for decode),
// GFLOP/s = 2 * rows * cols * tokens / time (the one for prefill).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"
#include "kernels/quant.h"

namespace sieve::kernels {
namespace {

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                        DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Weights quantized from normal floats, so scales and levels are realistic.
std::vector<uint8_t> make_weights(DType t, int64_t rows, int64_t cols) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.02f);
  std::vector<float> row(cols);
  const size_t rb = dtype_row_bytes(t, cols);
  std::vector<uint8_t> w(rb * rows);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = nd(rng);
    quantize_row(t, row.data(), w.data() + r * rb, cols);
  }
  return w;
}

// Threads: SIEVE_BENCH_THREADS, default 2 (the test machine's cores).
int bench_threads() {
  const char* e = std::getenv("SIEVE_BENCH_THREADS");
  return e ? std::max(1, std::atoi(e)) : 2;
}

// SIEVE_DEQUANT_PANEL_MIN_TOKENS moves the batch size from which quantized
// weights take the dequantized-panel GEMM (to compare it with the integer
// kernels on the same shapes).
const bool kDequantThresholdSet = [] {
  if (const char* e = std::getenv("SIEVE_DEQUANT_PANEL_MIN_TOKENS")) detail::set_dequant_panel_min_tokens(std::atoi(e));
  return true;
}();

// Args: type index, rows, cols, tokens, threads, cold. Cold runs rotate over
// copies of the weights totalling 128 MB, so they come from DRAM as in real
// decode (the test model's 53 MB do not fit the 32 MB L3); warm runs reuse
// one copy, which then sits in L2/L3.
void BM_Matmul(benchmark::State& state) {
  const DType type = kTypes[state.range(0)];
  const int64_t rows = state.range(1), cols = state.range(2), tokens = state.range(3);
  ThreadPool pool(static_cast<int>(state.range(4)));
  const std::vector<uint8_t> one = make_weights(type, rows, cols);
  const size_t copies = state.range(5) ? (size_t{128} << 20) / one.size() + 1 : 1;
  std::vector<uint8_t> bytes(one.size() * copies);
  for (size_t i = 0; i < copies; ++i) std::memcpy(bytes.data() + i * one.size(), one.data(), one.size());
  Tensor w;
  w.type = type;
  w.shape = {cols, rows};
  w.nbytes = one.size();
  std::vector<float> x(tokens * cols), y(tokens * rows);
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (auto& v : x) v = nd(rng);
  size_t next = 0;
  for (auto _ : state) {
    w.data = bytes.data() + next * one.size();
    next = next + 1 == copies ? 0 : next + 1;
    matmul(w, x.data(), tokens, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(dtype_name(type));
  const double n = static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(n * static_cast<double>(one.size()) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(n * 2.0 * static_cast<double>(rows * cols * tokens) * 1e-9, benchmark::Counter::kIsRate);
}

template <int64_t kTokens, int kCold>
void Args(benchmark::internal::Benchmark* b) {
  for (int t = 0; t < static_cast<int>(std::size(kTypes)); ++t)
    for (int64_t rows : {512, 1408, 8192}) b->Args({t, rows, 512, kTokens, bench_threads(), kCold});
  b->ArgNames({"type", "rows", "cols", "tok", "thr", "cold"})->UseRealTime()->MeasureProcessCPUTime();
}

BENCHMARK(BM_Matmul)->Name("gemv")->Apply(Args<1, 0>);
BENCHMARK(BM_Matmul)->Name("gemv_cold")->Apply(Args<1, 1>);
BENCHMARK(BM_Matmul)->Name("gemm")->Apply(Args<512, 0>);

}  // namespace
}  // namespace sieve::kernels
