#pragma once
// Helpers shared by the matmul kernel tests (kernels_matmul_test.cc,
// kernels_amx_test.cc): random weights of every type and the error bounds of
// quantized activations.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "format/tensor.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace sieve::kernels::testing_support {

struct Weights {
  std::vector<uint8_t> bytes;
  Tensor t;
};

inline Weights make_weights(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  Weights w;
  const size_t rb = dtype_row_bytes(type, cols);
  w.bytes.resize(rb * rows);
  std::normal_distribution<float> nd(0.f, 0.05f);
  std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
  const int be = dtype_info(type).block_elems, bb = dtype_info(type).block_bytes;
  if (be == 1) {  // float types: random values, converted
    std::vector<float> row(cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : row) v = nd(rng);
      quantize_row(type, row.data(), w.bytes.data() + r * rb, cols);
    }
  } else {  // random bits, then sane half scales
    for (auto& b : w.bytes) b = static_cast<uint8_t>(rng());
    for (size_t off = 0; off < w.bytes.size(); off += bb) {
      uint8_t* b = w.bytes.data() + off;
      auto put = [&](int at) {
        const uint16_t h = f32_to_fp16(scale(rng));
        std::memcpy(b + at, &h, 2);
      };
      if (type == DType::Q6_K) put(208);
      else put(0);
      if (type == DType::Q4_1 || type == DType::Q5_1 || type == DType::Q4_K || type == DType::Q5_K) put(2);
    }
  }
  w.t.name = "w";
  w.t.type = type;
  w.t.shape = {cols, rows};
  w.t.data = w.bytes.data();
  w.t.nbytes = w.bytes.size();
  return w;
}

inline std::vector<uint8_t> quantize_ref(DType act, const float* x, int64_t n) {
  std::vector<uint8_t> q(dtype_row_bytes(act, n));
  quantize_row(act, x, q.data(), n);
  return q;
}

// Bound on |sum w*xq - sum w*x| from activation quantization, for one row.
inline double act_bound(DType wt, const float* w, const uint8_t* wrow, const std::vector<uint8_t>& q, int64_t n) {
  const DType a = activation_type(wt);
  if (a == DType::F32) return 0;
  const int64_t be = dtype_info(a).block_elems;
  double bound = 0;
  for (int64_t b = 0; b < n / be; ++b) {
    double d, extra = 0;
    if (a == DType::Q8_K) {
      d = std::fabs(reinterpret_cast<const BlockQ8_K*>(q.data())[b].d) * 0.5;
    } else {
      const uint16_t dh = a == DType::Q8_0 ? reinterpret_cast<const BlockQ8_0*>(q.data())[b].d
                                           : reinterpret_cast<const BlockQ8_1*>(q.data())[b].d;
      d = fp16_to_f32(dh) * (0.5 + 127.0 / 1024);  // half a step, d's half rounding
      if (a == DType::Q8_1) {
        const auto& xb = reinterpret_cast<const BlockQ8_1*>(q.data())[b];
        const uint16_t mh = wt == DType::Q4_1 ? reinterpret_cast<const BlockQ4_1*>(wrow)[b].m
                                              : reinterpret_cast<const BlockQ5_1*>(wrow)[b].m;
        extra = std::fabs(fp16_to_f32(mh) * fp16_to_f32(xb.s)) / 512;
      }
    }
    double wsum = 0;
    for (int64_t i = b * be; i < (b + 1) * be; ++i) wsum += std::fabs(w[i]);
    bound += d * wsum + extra;
  }
  return bound;
}

// bf16 rounding as vcvtne2ps2bf16 does it (nearest even; inputs here are
// normal numbers, so its flushing of denormals does not arise).
inline float round_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

// A kernel that rounds activations to bf16 (the AVX512_BF16 and AMX paths)
// on bf16, f16 or f32 weights (the tiles split the last two into two bf16
// halves, 16 significant bits): the same bits on 1 and 2 threads, each output within
// float32 summation error of the float64 product with bf16-rounded
// activations, and within bf16 rounding of the exact one.
template <class Kernel>
void expect_bf16_activation_product(const Weights& w, const std::vector<float>& x, int64_t rows, int64_t cols,
                                    int64_t tokens, Kernel kernel) {
  std::vector<float> y1(tokens * rows, NAN), y2(tokens * rows, NAN);
  ThreadPool one(1), two(2);
  kernel(w.t, x.data(), tokens, y1.data(), one);
  kernel(w.t, x.data(), tokens, y2.data(), two);
  ASSERT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4)) << "1 vs 2 threads differ";
  std::vector<float> wf(cols);
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row_ref(w.t.type, w.t.row(r), wf.data(), cols);
    for (int64_t t = 0; t < tokens; ++t) {
      const float* xt = x.data() + t * cols;
      double rounded = 0, exact = 0, mag = 0;
      for (int64_t c = 0; c < cols; ++c) {
        rounded += static_cast<double>(wf[c]) * round_to_bf16(xt[c]);
        exact += static_cast<double>(wf[c]) * xt[c];
        mag += std::fabs(static_cast<double>(wf[c]) * xt[c]);
      }
      const double got = y1[t * rows + r];
      const double fsum = 4e-7 * std::sqrt(static_cast<double>(cols)) * mag + 1e-6;
      ASSERT_NEAR(got, rounded, fsum) << "row " << r << " token " << t;
      ASSERT_NEAR(got, exact, mag / 256 + fsum) << "row " << r << " token " << t;
    }
  }
}

}  // namespace sieve::kernels::testing_support
