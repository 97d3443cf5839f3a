#include "model/rope.h"

#include <cmath>

#include "kernels/ops.h"

namespace sieve {

Rope::Rope(const ModelConfig& c, const std::vector<float>& divisors)
    : head_dim_(c.head_dim), interleaved_(c.rope_interleaved), inv_freq_(c.head_dim / 2) {
  for (int64_t i = 0; i < head_dim_ / 2; ++i) {
    // float32 like the reference implementations, so angles match at long positions.
    float f = static_cast<float>(1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(head_dim_)));
    inv_freq_[i] = f / (divisors.empty() ? 1.0 : static_cast<double>(divisors[i]));
  }
}

void Rope::angles(double position, float* cos, float* sin) const {
  for (size_t i = 0; i < inv_freq_.size(); ++i) {
    const double a = position * inv_freq_[i];
    cos[i] = static_cast<float>(std::cos(a));
    sin[i] = static_cast<float>(std::sin(a));
  }
}

void Rope::rotate(float* heads, int64_t n_heads, double position) const {
  float cos[512], sin[512];
  angles(position, cos, sin);
  for (int64_t h = 0; h < n_heads; ++h) kernels::rope_apply(heads + h * head_dim_, cos, sin, head_dim_, interleaved_);
}

}  // namespace sieve
