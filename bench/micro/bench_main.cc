// The one main() of sieve_microbench; every other bench/micro/*.cc only
// registers benchmarks.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
