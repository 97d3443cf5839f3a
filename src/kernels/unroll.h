#pragma once
// Full unrolling of the small fixed-count loops over register tiles. GCC at
// -O2 does not unroll them by itself, and an un-unrolled loop over an array
// of vector accumulators keeps them in memory instead of registers.
#if defined(__clang__)
#define SIEVE_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define SIEVE_UNROLL _Pragma("GCC unroll 16")
#else
#define SIEVE_UNROLL
#endif
