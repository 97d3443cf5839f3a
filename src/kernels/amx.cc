// Whether the AMX kernels may run: the CPU has the tile unit with its bf16
// and int8 products (CPUID), the OS saves the tile state (XCR0) and grants
// this process the right to use it (Linux: arch_prctl(ARCH_REQ_XCOMP_PERM,
// XFEATURE_XTILEDATA), asked once, on the first call, from whichever thread).
// Until all of that holds no AMX instruction is executed, so the same binary
// runs on CPUs without tiles, on kernels that refuse them, and in processes
// whose seccomp policy blocks the request.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "format/tensor.h"

#include "hwy/targets.h"
#include "kernels/amx_tiles.h"
#include "kernels/matmul_internal.h"

#if SIEVE_HAVE_AMX && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define SIEVE_AMX_POSSIBLE 1
#else
#define SIEVE_AMX_POSSIBLE 0
#endif

namespace sieve::kernels::detail {
namespace {

bool enabled_by_environment() {
  const char* v = std::getenv("SIEVE_AMX");
  return v == nullptr || std::strcmp(v, "0") != 0;
}
std::atomic<bool> g_amx_enabled{enabled_by_environment()};
std::atomic<int> g_amx_min_tokens{kDefaultAmxMinTokens};
std::atomic<bool> g_amx_quant_as_bf16{[] {
  const char* v = std::getenv("SIEVE_AMX_QUANT");
  return v != nullptr && std::strcmp(v, "bf16") == 0;
}()};

#if SIEVE_AMX_POSSIBLE
constexpr int kXfeatureXtilecfg = 17, kXfeatureXtiledata = 18;
constexpr long kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023;

bool cpu_has_amx() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool tile = d & (1u << 24), bf16 = d & (1u << 22), int8 = d & (1u << 25);
  if (!tile || !bf16 || !int8) return false;
  unsigned lo = 0, hi = 0;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const unsigned tile_state = (1u << kXfeatureXtilecfg) | (1u << kXfeatureXtiledata);
  // The kernels' packing and scaling use AVX-512 (F, BW, VL, DQ) and
  // AVX512_BF16 conversions; every CPU with AMX has them, but check.
  return (lo & tile_state) == tile_state && bf16_dot_supported() && (hwy::SupportedTargets() & HWY_AVX3) != 0;
}

bool os_grants_amx() {
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
  unsigned long features = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &features) != 0) return false;
  return (features & (1ul << kXfeatureXtiledata)) != 0;
}
#endif

}  // namespace

bool amx_supported() {
#if SIEVE_AMX_POSSIBLE
  static const bool supported = cpu_has_amx() && os_grants_amx();  // once, thread-safe
  return supported;
#else
  return false;
#endif
}

const char* amx_unsupported_reason() {
#if SIEVE_AMX_POSSIBLE
  if (amx_supported()) return "";
  return cpu_has_amx() ? "the OS refused the tile data permission (arch_prctl ARCH_REQ_XCOMP_PERM)"
                       : "this CPU (or its OS state) has no AMX tiles with bf16 and int8 products";
#else
  return "AMX kernels are not compiled for this platform";
#endif
}

bool amx_enabled() { return g_amx_enabled.load(std::memory_order_relaxed) && amx_supported(); }
void set_amx_enabled(bool on) { g_amx_enabled.store(on, std::memory_order_relaxed); }
int amx_min_tokens() { return g_amx_min_tokens.load(std::memory_order_relaxed); }
void set_amx_min_tokens(int n) { g_amx_min_tokens.store(n, std::memory_order_relaxed); }

bool amx_quant_as_bf16() { return g_amx_quant_as_bf16.load(std::memory_order_relaxed); }
void set_amx_quant_as_bf16(bool on) { g_amx_quant_as_bf16.store(on, std::memory_order_relaxed); }

bool amx_takes(DType type, int64_t n_tokens) {
  if (n_tokens < amx_min_tokens() || !amx_enabled()) return false;
  // bf16 weights round the activations to bf16, as the AVX512_BF16 path does
  // (f16 and f32 weights too, each split into two bf16 halves),
  // so the tiles take exactly the batches that path would: from
  // gemm_min_tokens on and while it is on (SIEVE_BF16_DOT=0 keeps float32
  // activations); smaller batches keep float32 activations as before.
  if (type == DType::BF16 || type == DType::F16 || type == DType::F32)
    return n_tokens >= gemm_min_tokens() && bf16_dot_enabled();
  return amx_int8_handles(type);
}

void matmul_amx(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  if (w.type == DType::BF16 || w.type == DType::F16 || w.type == DType::F32 || amx_quant_as_bf16())
    return matmul_amx_bf16(w, x, n_tokens, y, pool);
  return matmul_amx_int8(w, x, n_tokens, y, pool);
}

}  // namespace sieve::kernels::detail
