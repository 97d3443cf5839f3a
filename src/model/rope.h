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
  // Rotates n_heads consecutive head vectors in place to a position.
  void rotate(float* heads, int64_t n_heads, double position) const;

 private:
  int64_t head_dim_;
  bool interleaved_;
  std::vector<double> inv_freq_;
};

}  // namespace sieve
