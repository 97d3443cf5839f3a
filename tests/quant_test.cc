// Block formats: dequantization against decoders written here from the
// format description (not from quant.cc), the activation quantizers (SIMD
// on every compiled target == llama.cpp's reference, bit for bit), and the
// weight quantizers' round-trip error.
#include "kernels/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "hwy/targets.h"
#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"

namespace sieve::kernels {
namespace {

uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Independent decoder: element i of a row, straight from the byte layout.
// Byte offsets within each block are spelled out rather than taken from the
// structs in quant.h.
float decode(DType t, const uint8_t* row, int64_t i) {
  auto h = [](const uint8_t* p) { return fp16_to_f32(rd16(p)); };
  const int64_t j = i % 32;  // index within a 32-element block
  switch (t) {
    case DType::Q4_0: {
      const uint8_t* b = row + (i / 32) * 18;
      const int nib = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4);
      return static_cast<float>(nib - 8) * h(b);
    }
    case DType::Q4_1: {
      const uint8_t* b = row + (i / 32) * 20;
      const int nib = j < 16 ? (b[4 + j] & 15) : (b[4 + j - 16] >> 4);
      return static_cast<float>(nib) * h(b) + h(b + 2);
    }
    case DType::Q5_0:
    case DType::Q5_1: {
      const bool one = t == DType::Q5_1;
      const uint8_t* b = row + (i / 32) * (one ? 24 : 22);
      const uint8_t* qh = b + (one ? 4 : 2);
      const uint8_t* qs = qh + 4;
      const int nib = j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4);
      const int v = nib + 16 * ((qh[j / 8] >> (j % 8)) & 1);
      return one ? static_cast<float>(v) * h(b) + h(b + 2) : static_cast<float>(v - 16) * h(b);
    }
    case DType::Q8_0: {
      const uint8_t* b = row + (i / 32) * 34;
      return static_cast<float>(static_cast<int8_t>(b[2 + j])) * h(b);
    }
    case DType::Q4_K:
    case DType::Q5_K: {
      const bool five = t == DType::Q5_K;
      const uint8_t* b = row + (i / 256) * (five ? 176 : 144);
      const uint8_t* sc = b + 4;  // 12 bytes of 6-bit fields
      const uint8_t* qh = b + 16;
      const uint8_t* qs = b + (five ? 48 : 16);
      const int sub = static_cast<int>(i % 256) / 32;
      // bytes 0-3: scale 0-3 (low 6 bits), top 2 bits = bits 4-5 of scale 4-7
      // bytes 4-7: min 0-3 (low 6 bits), top 2 bits = bits 4-5 of min 4-7
      // bytes 8-11: low nibble = bits 0-3 of scale 4-7, high = of min 4-7
      int s, m;
      if (sub < 4) {
        s = sc[sub] & 63;
        m = sc[4 + sub] & 63;
      } else {
        s = (sc[8 + sub - 4] & 15) + 16 * (sc[sub - 4] >> 6);
        m = (sc[8 + sub - 4] >> 4) + 16 * (sc[4 + sub - 4] >> 6);
      }
      const uint8_t byte = qs[32 * (sub / 2) + j];
      int q = sub % 2 ? byte >> 4 : byte & 15;
      if (five) q += 16 * ((qh[j] >> sub) & 1);
      return h(b) * static_cast<float>(s) * static_cast<float>(q) - h(b + 2) * static_cast<float>(m);
    }
    case DType::Q6_K: {
      const uint8_t* b = row + (i / 256) * 210;
      const int e = static_cast<int>(i % 256), half = e / 128, k = (e % 128) / 32, l = e % 32;
      const uint8_t lb = b[64 * half + 32 * (k % 2) + l];  // ql at offset 0
      const int lo = k < 2 ? (lb & 15) : (lb >> 4);
      const int hi = (b[128 + 32 * half + l] >> (2 * k)) & 3;  // qh at 128
      const int8_t scale = static_cast<int8_t>(b[192 + e / 16]);  // scales at 192
      return h(b + 208) * static_cast<float>(scale) * static_cast<float>(lo + 16 * hi - 32);
    }
    default: ADD_FAILURE() << "no decoder"; return 0;
  }
}

// Random blocks: random bytes everywhere, then sane half-precision scales.
std::vector<uint8_t> random_row(DType t, int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> row(dtype_row_bytes(t, n));
  for (auto& b : row) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  auto put = [&](uint8_t* p) {
    const uint16_t v = f32_to_fp16(scale(rng));
    std::memcpy(p, &v, 2);
  };
  const int64_t nb = n / dtype_info(t).block_elems;
  const int bb = dtype_info(t).block_bytes;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t* b = row.data() + i * bb;
    switch (t) {
      case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K: put(b); put(b + 2); break;
      case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: put(b); break;
      case DType::Q6_K: put(b + 208); break;
      default: break;
    }
  }
  return row;
}

const DType kWeightTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                              DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

TEST(Quant, DequantizeMatchesIndependentDecoder) {
  std::mt19937 rng(1);
  for (DType t : kWeightTypes) {
    SCOPED_TRACE(dtype_name(t));
    const int64_t n = 512;
    for (int rep = 0; rep < 20; ++rep) {
      const auto row = random_row(t, n, rng);
      std::vector<float> got(n);
      dequantize_row(t, row.data(), got.data(), n);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_NEAR(got[i], decode(t, row.data(), i), 1e-6f * (1 + std::fabs(got[i]))) << i;
    }
  }
}

TEST(Quant, DequantizeKnownBlocks) {
  BlockQ4_0 b4{};
  b4.d = f32_to_fp16(0.5f);
  b4.qs[0] = 0x2F;  // element 0 = 15, element 16 = 2
  float y[32];
  dequantize_row(DType::Q4_0, reinterpret_cast<uint8_t*>(&b4), y, 32);
  EXPECT_EQ(y[0], 3.5f);
  EXPECT_EQ(y[16], -3.0f);
  EXPECT_EQ(y[1], -4.0f);
  BlockQ5_0 b5{};
  b5.d = f32_to_fp16(1.0f);
  b5.qh[2] = 0x01;  // fifth bit of element 16
  dequantize_row(DType::Q5_0, reinterpret_cast<uint8_t*>(&b5), y, 32);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[0], -16.0f);
}

TEST(Quant, FloatTypesRoundTrip) {
  const float x[4] = {1.0f, -2.5f, 3.140625f, 65504.0f};
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    std::vector<uint8_t> q(dtype_row_bytes(t, 4));
    quantize_row(t, x, q.data(), 4);
    float y[4];
    dequantize_row(t, q.data(), y, 4);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(y[i], x[i]) << dtype_name(t);
  }
}

// Weight quantizers: every element within two level spacings of its block
// (the symmetric formats clamp one end a full level; the K formats also round
// their scales to 6 bits), and the overall rms error of a normal row small.
TEST(Quant, WeightQuantizersRoundTrip) {
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (DType t : kWeightTypes) {
    SCOPED_TRACE(dtype_name(t));
    const int64_t n = 1024;
    std::vector<float> x(n), y(n);
    for (auto& v : x) v = nd(rng) * 0.02f;
    std::vector<uint8_t> q(dtype_row_bytes(t, n));
    quantize_row(t, x.data(), q.data(), n);
    dequantize_row(t, q.data(), y.data(), n);
    const bool q8 = t == DType::Q8_0, q6 = t == DType::Q6_K;
    const bool q5 = t == DType::Q5_0 || t == DType::Q5_1 || t == DType::Q5_K;
    const float levels = q8 ? 255 : q6 ? 64 : q5 ? 32 : 16;
    double err2 = 0, sig2 = 0;
    for (int64_t b = 0; b < n; b += 32) {
      float amax = 0;
      for (int64_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
      const float step = 2 * amax / levels;
      for (int64_t i = b; i < b + 32; ++i) {
        EXPECT_LE(std::fabs(y[i] - x[i]), 2 * step) << i;
        err2 += (y[i] - x[i]) * (y[i] - x[i]);
        sig2 += x[i] * x[i];
      }
    }
    EXPECT_LT(std::sqrt(err2 / sig2), q8 ? 0.01 : q6 ? 0.04 : q5 ? 0.07 : 0.14);
  }
}

// Restores Highway's target choice when a test leaves.
struct TargetScope {
  ~TargetScope() { hwy::SetSupportedTargetsForTest(0); }
};

std::vector<float> activations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(n);
  for (auto& v : x) v = nd(rng);
  // Blocks of special cases: all zero, exact integers (ties after scaling by
  // 127/amax when amax = 127), a negative extreme first, repeated extremes.
  for (int i = 0; i < 32; ++i) x[i] = 0;
  for (int i = 32; i < 64; ++i) x[i] = static_cast<float>(i - 48) + 0.5f;
  x[70] = -127.f, x[71] = 127.f, x[72] = -127.f;
  for (int i = 256; i < 512; ++i) x[i] = (i % 3 == 0) ? 2.5f : -2.5f;
  for (int i = 512; i < 768; ++i) x[i] = 0;
  return x;
}

TEST(Quant, SimdActivationQuantizersMatchReferenceOnEveryTarget) {
  const auto targets = detail::kernel_targets();
  ASSERT_FALSE(targets.empty());
  TargetScope scope;
  std::mt19937 rng(3);
  const int64_t k = 1024, n_tokens = 3;
  const auto x = activations(k * n_tokens, rng);
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (DType w : {DType::Q4_0, DType::Q4_1, DType::Q4_K}) {
      const DType a = activation_type(w);
      SCOPED_TRACE(dtype_name(a));
      const auto got = detail::quantize_activations_for_test(w, x.data(), n_tokens, k);
      std::vector<uint8_t> want(dtype_row_bytes(a, k) * n_tokens);
      for (int64_t t = 0; t < n_tokens; ++t) {
        uint8_t* o = want.data() + t * dtype_row_bytes(a, k);
        if (a == DType::Q8_0) quantize_row_q8_0_ref(x.data() + t * k, reinterpret_cast<BlockQ8_0*>(o), k);
        if (a == DType::Q8_1) quantize_row_q8_1_ref(x.data() + t * k, reinterpret_cast<BlockQ8_1*>(o), k);
        if (a == DType::Q8_K) quantize_row_q8_K_ref(x.data() + t * k, reinterpret_cast<BlockQ8_K*>(o), k);
      }
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "byte " << i;
    }
  }
}

TEST(Quant, ActivationReferenceQuantizersFollowLlamaCpp) {
  float x[256];
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 32) - 12.7f;
  BlockQ8_0 q0[8];
  quantize_row_q8_0_ref(x, q0, 256);
  EXPECT_EQ(q0[0].d, f32_to_fp16(x[31] / 127));
  EXPECT_EQ(q0[0].qs[31], 127);
  BlockQ8_1 q1[8];
  quantize_row_q8_1_ref(x, q1, 256);
  int sum = 0;
  for (int i = 0; i < 32; ++i) sum += q1[0].qs[i];
  EXPECT_EQ(q1[0].s, f32_to_fp16(static_cast<float>(sum) * (x[31] / 127)));
  BlockQ8_K qk;
  x[5] = -40.f;  // the extreme maps to -127 with d = max / -127
  quantize_row_q8_K_ref(x, &qk, 256);
  EXPECT_EQ(qk.qs[5], -127);
  EXPECT_FLOAT_EQ(qk.d, 40.f / 127);
  int bsum = 0;
  for (int i = 0; i < 16; ++i) bsum += qk.qs[i];
  EXPECT_EQ(qk.bsums[0], bsum);
}

}  // namespace
}  // namespace sieve::kernels
