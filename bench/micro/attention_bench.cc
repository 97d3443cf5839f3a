// Decode attention (one query token, 8 query heads over 2 KV heads of 64
// dims, the test model's shape) over a cache of `ctx` slots in each of 8
// layers, as one decode step reads it. Counters: GB/s = K/V bytes read /
// time (8 layers of 2 MB per 1K slots at f16 are far past the L3 from 8K
// on, so this is DRAM traffic: compare with the read bandwidth of
// `bench/compare-llamacpp.sh --measure-bw`), GFLOP/s = 4 * heads * head_dim
// * ctx per layer (q.k and p.v).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "attention/full_attention.h"
#include "cache/kv_cache.h"

namespace sieve {
namespace {

constexpr int64_t kLayers = 8, kHeads = 8, kKvHeads = 2, kHeadDim = 64;
const KvType kTypes[] = {KvType::F32, KvType::F16, KvType::BF16, KvType::Q8_0};

int bench_threads() {
  const char* e = std::getenv("SIEVE_BENCH_THREADS");
  return e ? std::max(1, std::atoi(e)) : 2;
}

// Args: type index, ctx, threads.
void BM_DecodeAttention(benchmark::State& state) {
  const KvType type = kTypes[state.range(0)];
  const int64_t ctx = state.range(1);
  ThreadPool pool(static_cast<int>(state.range(2)));
  KvCache cache({kLayers, kKvHeads, kHeadDim, 64, type});
  std::vector<int64_t> positions(ctx);
  for (int64_t i = 0; i < ctx; ++i) positions[i] = i;
  cache.append_slots(positions.data(), ctx);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> k(kKvHeads * kHeadDim), v(k.size());
  for (int64_t layer = 0; layer < kLayers; ++layer)
    for (int64_t slot = 0; slot < ctx; ++slot) {
      for (float& x : k) x = nd(rng);
      for (float& x : v) x = nd(rng);
      cache.write(layer, slot, k.data(), v.data());
    }
  std::vector<float> q(kHeads * kHeadDim), out(q.size());
  for (float& x : q) x = nd(rng);
  for (auto _ : state) {
    for (int64_t layer = 0; layer < kLayers; ++layer)
      attend_full(cache, layer, q.data(), 1, ctx - 1, kHeads, out.data(), pool);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(kv_type_name(type));
  const double n = static_cast<double>(state.iterations()) * kLayers;
  const double kv_bytes = static_cast<double>(ctx) * 2.0 * static_cast<double>(kKvHeads * cache.row_bytes());
  state.counters["GB/s"] = benchmark::Counter(n * kv_bytes * 1e-9, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(n * 4.0 * kHeads * kHeadDim * static_cast<double>(ctx) * 1e-9, benchmark::Counter::kIsRate);
}

void Args(benchmark::internal::Benchmark* b) {
  for (int t = 0; t < static_cast<int>(std::size(kTypes)); ++t)
    for (int64_t ctx : {1024, 8192, 32768}) b->Args({t, ctx, bench_threads()});
  b->ArgNames({"type", "ctx", "thr"})->UseRealTime()->MeasureProcessCPUTime();
}

BENCHMARK(BM_DecodeAttention)->Name("decode_attention")->Apply(Args);

}  // namespace
}  // namespace sieve
