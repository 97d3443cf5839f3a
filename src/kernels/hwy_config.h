#pragma once
// Included first by every kernel translation unit that uses Highway's dynamic
// dispatch, so that they all compile the same set of targets: Highway's
// defaults plus AVX3_DL, whose AVX-512 VNNI we use for int8 dot products.
// (Highway's AVX3_DL target string enables "avxvnni", the VEX form Zen 4 does
// not have; our kernels therefore emit VNNI only as explicit EVEX asm and keep
// no scalar int8 dot-product loops that GCC could vectorize into VEX VNNI.)
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
