// Prefill GEMM per kernel path on the test model's shapes (512 tokens times
// 1408x512 and 512x1408): the same call, matmul(), with the paths above the
// one measured switched off. Counters: GFLOP/s (2 * rows * cols * tokens per
// call) and, for the AMX paths, the share of the tile unit's peak on the
// threads used: 16x16x32 multiply-adds per tile product, one product per 16
// cycles per core (bf16 tiles, which f16 weights take twice: 1024 FLOP per
// cycle; int8: twice that), at the clock /proc/cpuinfo reports
// (SIEVE_BENCH_GHZ overrides it).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"
#include "kernels/quant.h"

namespace sieve::kernels {
namespace {

enum Path { kPortableFloat, kAvx512Bf16, kWithoutAmx, kAmx };
const char* const kPathNames[] = {"float32 panels", "AVX512_BF16", "best without AMX", "AMX"};
const DType kTypes[] = {DType::BF16, DType::Q8_0, DType::Q4_K, DType::Q5_0, DType::Q4_0, DType::F16};

double clock_ghz() {
  if (const char* e = std::getenv("SIEVE_BENCH_GHZ")) return std::atof(e);
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("cpu MHz", 0) == 0) return std::atof(line.substr(line.find(':') + 1).c_str()) / 1000;
  return 0;
}

int bench_threads() {
  const char* e = std::getenv("SIEVE_BENCH_THREADS");
  return e ? std::max(1, std::atoi(e)) : 2;
}

// Args: type index, path, rows, cols, tokens.
void BM_GemmPath(benchmark::State& state) {
  const DType type = kTypes[state.range(0)];
  const Path path = static_cast<Path>(state.range(1));
  const int64_t rows = state.range(2), cols = state.range(3), tokens = state.range(4);
  const bool amx = path == kAmx;
  if (amx && !detail::amx_supported()) return state.SkipWithError(detail::amx_unsupported_reason());
  if (path == kAvx512Bf16 && !detail::bf16_dot_supported()) return state.SkipWithError("no AVX512_BF16");
  detail::set_amx_enabled(amx);
  detail::set_bf16_dot_enabled(path != kPortableFloat);
  detail::set_amx_min_tokens(1);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.02f);
  std::vector<float> row(cols), x(tokens * cols), y(tokens * rows);
  const size_t rb = dtype_row_bytes(type, cols);
  std::vector<uint8_t> bytes(rb * rows);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = nd(rng);
    quantize_row(type, row.data(), bytes.data() + r * rb, cols);
  }
  for (auto& v : x) v = nd(rng) * 50;
  Tensor w;
  w.type = type;
  w.shape = {cols, rows};
  w.data = bytes.data();
  w.nbytes = bytes.size();
  const int threads = bench_threads();
  ThreadPool pool(threads);
  for (auto _ : state) {
    matmul(w, x.data(), tokens, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  detail::set_amx_enabled(true);
  detail::set_bf16_dot_enabled(true);
  detail::set_amx_min_tokens(detail::kDefaultAmxMinTokens);
  state.SetLabel(std::string(dtype_name(type)) + ", " + kPathNames[path]);
  const double flops = 2.0 * static_cast<double>(rows * cols * tokens) * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
  if (amx && clock_ghz() > 0) {
    const double peak = threads * clock_ghz() * 1e9 * (detail::amx_int8_handles(type) ? 2048 : 1024);
    state.counters["of_tile_peak"] = benchmark::Counter(flops / peak, benchmark::Counter::kIsRate);
  }
}

void Args(benchmark::internal::Benchmark* b) {
  for (int t = 0; t < static_cast<int>(std::size(kTypes)); ++t) {
    const bool bf16 = kTypes[t] == DType::BF16;
    for (int p : bf16 ? std::vector<int>{kPortableFloat, kAvx512Bf16, kAmx} : std::vector<int>{kWithoutAmx, kAmx})
      for (auto [rows, cols] : {std::pair{1408, 512}, std::pair{512, 1408}}) b->Args({t, p, rows, cols, 512});
  }
  // Batches of a few tokens (the decode steps of a serving batch), where the
  // AMX tiles start to pay against the integer dot-product kernels.
  for (int t = 1; t <= 4; ++t)  // the int8 formats
    for (int p : {kWithoutAmx, kAmx})
      for (auto [rows, cols] : {std::pair{1408, 512}, std::pair{512, 1408}})
        for (int64_t tokens : {4, 8, 12, 16, 24, 32}) b->Args({t, p, rows, cols, tokens});
  b->ArgNames({"type", "path", "rows", "cols", "tok"})->UseRealTime()->MeasureProcessCPUTime();
}

BENCHMARK(BM_GemmPath)->Name("gemm_path")->Apply(Args);

}  // namespace
}  // namespace sieve::kernels
