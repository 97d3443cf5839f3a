#pragma once
// Internals of matmul shared by its translation units and the kernel tests:
// the per-family entry points (each dispatched to the best SIMD target) and
// knobs that let tests reach every code path on every target.
#include <cstdint>
#include <vector>

#include "format/tensor.h"
#include "kernels/quant_layout.h"
#include "kernels/thread_pool.h"

namespace sieve::kernels::detail {

// F32/F16/BF16 weights with float32 activations and float32 accumulation.
void matmul_float(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
// Block-quantized weights: activations quantized to activation_type(w.type)
// once per call, then integer dot products per block.
void matmul_quant(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// Block-quantized weights from kDequantPanelMinTokens tokens on: each panel
// of rows dequantized to float32 and multiplied by the float panel GEMM with
// float32 activations (matmul_float-inl.h). Measured on Zen 4 (1408x512,
// one core, 512 tokens): ~100 GFLOP/s against ~60 for the integer kernels,
// the dequantization (1-3 ns per weight) included; with fewer tokens it
// does not amortize, so the integer kernels keep smaller batches.
// Tests move the threshold to cover both paths.
constexpr int kDequantPanelMinTokens = 256;
int dequant_panel_min_tokens();
void set_dequant_panel_min_tokens(int n);
void matmul_dequant_panels(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// Activations quantized by the dispatched SIMD code, unpacked into llama.cpp
// blocks of activation_type(weight) (n_tokens rows of k/block blocks). For
// tests: it must equal quantize_row_q8_*_ref bit for bit.
std::vector<uint8_t> quantize_activations_for_test(DType weight, const float* x, int64_t n_tokens, int64_t k);

// From this many tokens on, float weights take the packed-panel GEMM instead
// of the row-dot kernel. Measured on Zen 4 (bf16 1408x512, one core): the
// row-dot kernel runs at ~95 GFLOP/s from 4 tokens on; the panel GEMM reaches
// ~100-105 at 512 tokens but pays for packing its panels, which only
// amortizes from ~100 tokens on. Tests move it to cover both paths.
constexpr int kDefaultGemmMinTokens = 96;
int gemm_min_tokens();
void set_gemm_min_tokens(int n);

// Prefill of BF16 weights with bf16-rounded activations and AVX512_BF16 dot
// products (matmul_bf16_dot.cc), taken from gemm_min_tokens on when the CPU
// has them and it is enabled (the default; `set_bf16_dot_enabled(false)` or
// SIEVE_BF16_DOT=0 in the environment keep float32 activations).
bool bf16_dot_supported();
bool bf16_dot_enabled();
void set_bf16_dot_enabled(bool on);
void matmul_bf16_dot(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// AMX tiles (Sapphire Rapids and later; amx.cc, matmul_amx_*.cc): batches
// from amx_min_tokens tokens on, when the CPU has the tile unit, the OS grants
// it (asked once) and it is enabled (the default; `set_amx_enabled(false)` or
// SIEVE_AMX=0 in the environment turn it off):
//  * BF16 weights: the batches the AVX512_BF16 path would take (from
//    gemm_min_tokens on, while it is enabled), with the same bf16-rounded
//    activations; tile products of bf16 pairs into float32 sums;
//  * the block-quantized formats amx_int8_handles() lists: activations
//    quantized as for the integer kernels, one int8 tile product per
//    32-element block, its int32 sums scaled per block in float32.
// The int8 path keeps the weights packed for the tiles (Tensor::repacked,
// made on first use while a budget of a quarter of the machine's memory
// lasts; SIEVE_AMX_REPACK=0: never): then it beats the integer kernels from
// about 4 tokens on (bench/micro/gemm_paths_bench.cc). Weights it must pack
// in each call only pay from about 16 tokens.
constexpr int kDefaultAmxMinTokens = 4;
constexpr int kAmxPackPerCallMinTokens = 16;
bool amx_supported();
const char* amx_unsupported_reason();  // "" when supported
bool amx_enabled();
void set_amx_enabled(bool on);
int amx_min_tokens();
void set_amx_min_tokens(int n);
bool amx_int8_handles(DType type);
// Block-quantized weights through bf16 tiles instead of int8 ones: each panel
// dequantized and rounded to bf16, activations rounded to bf16 (SIEVE_AMX_QUANT=bf16).
bool amx_quant_as_bf16();
void set_amx_quant_as_bf16(bool on);
// Whether matmul() sends this weight type and batch to matmul_amx, given
// that amx_ready() (int8: the weights repacked, or a batch large enough to
// pack them in the call).
bool amx_takes(DType type, int64_t n_tokens);
bool amx_ready(const Tensor& w, int64_t n_tokens, ThreadPool& pool);
// Either AMX kernel by weight type; needs amx_supported().
void matmul_amx(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
void matmul_amx_bf16(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);
void matmul_amx_int8(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// Rows of x quantized to activation layout l (quant_layout.h) by the
// dispatched SIMD quantizer: row t of x into out + t * l.stride.
void quantize_activations(const ActLayout& l, const float* x, int64_t n_tokens, uint8_t* out, ThreadPool& pool);

// Highway targets (HWY_AVX2, ...) compiled into the kernels and supported by
// this CPU, best first. Tests pass each to hwy::SetSupportedTargetsForTest.
std::vector<int64_t> kernel_targets();

}  // namespace sieve::kernels::detail
