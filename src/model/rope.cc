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
  const size_t pairs = inv_freq_.size();
  table_cos_.resize(kAngleLevels * 256 * pairs);
  table_sin_.resize(kAngleLevels * 256 * pairs);
  for (int level = 0; level < kAngleLevels; ++level)
    for (int64_t byte = 0; byte < 256; ++byte)
      for (size_t i = 0; i < pairs; ++i) {
        const double a = static_cast<double>(byte << (8 * level)) * inv_freq_[i];
        table_cos_[(level * 256 + byte) * pairs + i] = std::cos(a);
        table_sin_[(level * 256 + byte) * pairs + i] = std::sin(a);
      }
}

void Rope::angles_direct(double position, float* cos, float* sin) const {
  for (size_t i = 0; i < inv_freq_.size(); ++i) {
    const double a = position * inv_freq_[i];
    cos[i] = static_cast<float>(std::cos(a));
    sin[i] = static_cast<float>(std::sin(a));
  }
}

void Rope::angles(double position, float* cos, float* sin) const {
  const double magnitude = std::fabs(position);
  if (magnitude != std::floor(magnitude) || magnitude >= static_cast<double>(int64_t{1} << (8 * kAngleLevels)))
    return angles_direct(position, cos, sin);
  const auto p = static_cast<int64_t>(magnitude);
  const size_t pairs = inv_freq_.size();
  const double* c[kAngleLevels];
  const double* s[kAngleLevels];
  for (int level = 0; level < kAngleLevels; ++level) {
    const size_t row = (level * 256 + ((p >> (8 * level)) & 255)) * pairs;
    c[level] = table_cos_.data() + row;
    s[level] = table_sin_.data() + row;
  }
  const double sign = position < 0 ? -1.0 : 1.0;
  for (size_t i = 0; i < pairs; ++i) {
    double re = c[0][i], im = s[0][i];
    for (int level = 1; level < kAngleLevels; ++level) {
      const double r = re * c[level][i] - im * s[level][i];
      im = re * s[level][i] + im * c[level][i];
      re = r;
    }
    cos[i] = static_cast<float>(re);
    sin[i] = static_cast<float>(sign * im);
  }
}

void Rope::rotate(float* heads, int64_t n_heads, double position) const {
  float cos[512], sin[512];
  angles(position, cos, sin);
  for (int64_t h = 0; h < n_heads; ++h) kernels::rope_apply(heads + h * head_dim_, cos, sin, head_dim_, interleaved_);
}

}  // namespace sieve
