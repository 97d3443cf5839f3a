#pragma once
// Rotary position embedding angles for a model: the angle of frequency pair i
// at position p is p * theta^(-2i/d) / divisor_i, where the divisors carry
// linear or llama3 scaling (all 1 for plain RoPE).
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace sieve {

class Rope {
 public:
  Rope(const ModelConfig& config, const std::vector<float>& freq_divisors);
  int64_t head_dim() const { return head_dim_; }
  bool interleaved() const { return interleaved_; }
  // Writes head_dim/2 cosines and sines for a position (may be negative:
  // policies rotate by position differences).
  void angles(double position, float* cos, float* sin) const;
  // The same from std::cos/std::sin directly (angles() takes whole positions
  // from tables; tests compare the two).
  void angles_direct(double position, float* cos, float* sin) const;
  // Rotates n_heads consecutive head vectors in place to a position.
  void rotate(float* heads, int64_t n_heads, double position) const;

 private:
  int64_t head_dim_;
  bool interleaved_;
  std::vector<double> inv_freq_;
  // Whole positions |p| < 2^(8 * kAngleLevels) compose their angle from one
  // table entry per byte of |p|: cos/sin of (byte << 8 * level) * inv_freq,
  // in double, multiplied as unit complex numbers. Policies that re-rotate
  // queries and keys per chunk call angles() millions of times per prompt,
  // and libm's sincos was most of their time.
  static constexpr int kAngleLevels = 3;
  std::vector<double> table_cos_, table_sin_;  // [level][byte][pair]
};

}  // namespace sieve
