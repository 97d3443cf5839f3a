// Placeholder scalar path (f32/f16/bf16 only); replaced by the dispatched kernels.
#include "kernels/matmul.h"

#include <cstring>
#include <vector>

#include "util/error.h"

namespace sieve::kernels {
namespace {
float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
float f16_to_f32(uint16_t h) {
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return static_cast<float>(v);
}
}  // namespace

void dequantize_row(DType t, const uint8_t* src, float* dst, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::BF16: {
      const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::F16: {
      const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    default: throw Error(std::string("dequantize: type not yet supported: ") + dtype_name(t));
  }
}

void matmul(const Tensor& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const int64_t cols = w.row_length(), rows = w.rows();
  pool.parallel_for(rows, 16, [&](int, int64_t r0, int64_t r1) {
    std::vector<float> row(cols);
    for (int64_t r = r0; r < r1; ++r) {
      dequantize_row(w.type, w.row(r), row.data(), cols);
      for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xt = x + t * cols;
        float s = 0;
        for (int64_t c = 0; c < cols; ++c) s += row[c] * xt[c];
        y[t * rows + r] = s;
      }
    }
  });
}

}  // namespace sieve::kernels
